"""Views: the map page and Leaflet's files (``maps``), and the JSON API (``api``).

Each view parses the request, calls one function here and renders. Every count the app
shows comes from :func:`displayed_cells`, the one place where the disclosure control of a
later issue (suppressing small counts in published views) will go.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import orjson
import xstatic.pkg.leaflet
from branca.element import Figure
from flask import Blueprint, Response, current_app, render_template, request, send_from_directory
from werkzeug.exceptions import BadRequest, HTTPException

from geojtai.errors import StudyError
from geojtai.io.studyfolder import Study
from geojtai.maps import DEFAULT_ASSET_URL, cell_map, cells_geojson
from web import STUDY_KEY

__all__ = [
    "LEAFLET_DIR",
    "api_bp",
    "displayed_cells",
    "maps_bp",
    "requested_month",
    "study_summary",
]

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SHOWN = ("count", "harm")  # the values a cell shows, in this order

maps_bp = Blueprint("maps", __name__)
api_bp = Blueprint("api", __name__, url_prefix="/api")


# -- helpers: one job each ----------------------------------------------------------------


def current_study() -> Study:
    """The app's study, loaded once at start-up.

    Raises
    ------
    StudyError
        The app was started without ``STUDY_DIR``.
    """
    study: Study | None = current_app.extensions.get(STUDY_KEY)
    if study is None:
        msg = (
            "No study to show: set STUDY_DIR (environment variable GEOJTAI_STUDY_DIR) "
            "to a built study folder and restart."
        )
        raise StudyError(msg)
    return study


def study_months(study: Study) -> list[str]:
    """The study's months from its manifest, or else those in its cell × month table."""
    return study.months or sorted(study.cell_months["month"].astype(str).unique())


def requested_month(study: Study) -> str | None:
    """The ``?month=YYYY-MM`` of the request, checked against the study; ``None`` for all.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        The month is malformed or outside the study.
    """
    month = request.args.get("month", "").strip()
    if not month:
        return None
    if not _MONTH.fullmatch(month):
        raise BadRequest(f"`month` must look like 2024-03 (YYYY-MM); {month!r} was given.")
    months = study_months(study)
    if month not in months:
        span = f"{months[0]} to {months[-1]}" if months else "no months"
        raise BadRequest(f"The month {month} is not in this study ({span}).")
    return month


def displayed_cells(study: Study, month: str | None) -> gpd.GeoDataFrame:
    """The cells and counts to show: totals over the study, or one month's cells.

    This is the single source of the counts the app displays, so small-count suppression
    can later be applied here, after every filter.

    Returns
    -------
    geopandas.GeoDataFrame
        ``h3``, ``geometry``, ``count`` and ``harm`` (when the study has it); for one month,
        only the cells with incidents in it.
    """
    cells = study.cells
    shown = [c for c in _SHOWN if c in cells.columns]
    if month is None:
        return cells[["h3", "geometry", *shown]].copy()
    table = study.cell_months
    rows = table.loc[table["month"].astype(str) == month, ["h3", *shown]]
    return cells[["h3", "geometry"]].merge(rows, on="h3", how="inner")


def study_summary(study: Study, cells: gpd.GeoDataFrame, month: str | None) -> dict[str, Any]:
    """Name, months, the month shown, number of cells and total count, for pages and API."""
    return {
        "name": study.name,
        "months": study_months(study),
        "month": month,
        "n_cells": len(cells),
        "total_count": int(cells["count"].sum()),
    }


def map_page(study: Study, cells: gpd.GeoDataFrame, month: str | None) -> dict[str, Any]:
    """The template context of the map page: the summary and the folium map's parts."""
    summary = study_summary(study, cells, month)
    period = _period(summary["months"], month)
    m = cell_map(
        cells,
        value="count",
        title=f"Incidents per cell, {period}",
        tiles=current_app.config["TILES"],
        attribution=current_app.config["TILES_ATTRIBUTION"],
        asset_url=request.script_root + DEFAULT_ASSET_URL,
    )
    return {"summary": summary, "period": period, **_map_parts(m)}


def _period(months: list[str], month: str | None) -> str:
    """The span shown: ``2024-03``, ``2024-01 to 2024-12`` or ``all months``."""
    if month or not months:
        return month or "all months"
    return months[0] if len(months) == 1 else f"{months[0]} to {months[-1]}"


def _map_parts(m: folium.Map) -> dict[str, str]:
    """A folium map split into header, body and script, to embed in our own page."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always sits in a Figure
    figure.render()  # renders every element once, filling the figure's header and script
    return {
        "map_header": figure.header.render(),
        "map_html": figure.html.render(),
        "map_script": figure.script.render(),
    }


def _json(obj: object, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(orjson.dumps(obj), status=status, mimetype=mimetype)


# -- maps: the page and its assets --------------------------------------------------------


@maps_bp.get("/")
def index() -> str:
    """The map page: counts per cell, for the whole study or ``?month=YYYY-MM``."""
    study = current_study()
    month = requested_month(study)
    return render_template("index.html", **map_page(study, displayed_cells(study, month), month))


@maps_bp.get(f"{DEFAULT_ASSET_URL}/<path:filename>")
def leaflet_asset(filename: str) -> Response:
    """Leaflet's own files, straight from the xstatic-leaflet package (never copied)."""
    return send_from_directory(LEAFLET_DIR, filename, max_age=24 * 3600)


@maps_bp.get("/healthz")
def healthz() -> Response:
    """200 with the study's name when a study is loaded, else 503."""
    study: Study | None = current_app.extensions.get(STUDY_KEY)
    if study is None:
        return _json({"status": "unavailable", "error": "no study loaded (STUDY_DIR)"}, 503)
    return _json({"status": "ok", "study": study.name, "n_cells": len(study.cells)})


@maps_bp.app_errorhandler(StudyError)
def study_error(error: StudyError) -> tuple[Response | str, int]:
    """No study to serve: 503 with the message that says what to set."""
    return _error(503, "No study", str(error))


@maps_bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response | str, int]:
    """Bad requests and missing pages, as JSON for the API and a page for people."""
    return _error(error.code or 500, error.name, error.description or "")


def _error(status: int, title: str, message: str) -> tuple[Response | str, int]:
    """JSON for the API and health check, an HTML page for people."""
    if request.path.startswith(("/api/", "/healthz")):
        return _json({"error": message}, status), status
    return render_template("error.html", status=status, title=title, message=message), status


# -- api: the same data as JSON -----------------------------------------------------------


@api_bp.get("/cells.geojson")
def cells() -> Response:
    """The cells shown on the map as a GeoJSON FeatureCollection (``h3`` in properties)."""
    study = current_study()
    shown = displayed_cells(study, requested_month(study))
    names = [c for c in shown.columns if c != "geometry"]
    return Response(cells_geojson(shown, properties=names), mimetype="application/geo+json")


@api_bp.get("/summary")
def summary() -> Response:
    """Study name, months, the month shown, number of cells and total count."""
    study = current_study()
    month = requested_month(study)
    return _json(study_summary(study, displayed_cells(study, month), month))
