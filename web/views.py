"""Views: the map page and Leaflet's files (``maps``), and the JSON API (``api``).

Each view parses the request, calls one function here and renders. Every cell count the app
shows comes from :func:`displayed_cells` and every place count from :func:`place_question`,
the places where the disclosure control of a later issue (suppressing small counts in
published views) will go.

The study's place layers (``places.parquet`` and ``layers.json``) are read once, when the
blueprints are registered on an app, and each layer is turned into GeoJSON bytes then, so a
request for a layer only sends bytes. Studies built before places existed have no layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import xstatic.pkg.leaflet
from branca.element import Figure
from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from geojtai.errors import StudyError
from geojtai.io.studyfolder import Study
from geojtai.maps import (
    CELL_LAYERS,
    DEFAULT_ASSET_URL,
    cell_layer_geojson,
    cell_map,
)
from web.state import AREAS_KEY, Area, LiveDeployment, ServedPlaces, current_area

__all__ = [
    "ELSEWHERE",
    "LEAFLET_DIR",
    "NAV_PAGES",
    "SHOWN_MAX_FEATURES",
    "api_bp",
    "cell_details",
    "cell_layer",
    "cell_layer_names",
    "current_places",
    "current_study",
    "displayed_cells",
    "layer_list",
    "maps_bp",
    "navigation",
    "place_layer",
    "place_question",
    "requested_layer",
    "requested_month",
    "study_summary",
]

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SHOWN = ("count", "harm")  # the values a cell shows, in this order
ELSEWHERE = "Elsewhere"  # the title of place type ``other``: no place layer
#: Layers with more features than this start hidden on the map, as do line layers (streets):
#: both are dense enough to hide the cells under them.
SHOWN_MAX_FEATURES = 5000

maps_bp = Blueprint("maps", __name__)
api_bp = Blueprint("api", __name__, url_prefix="/api")
#: The pages in the navigation bar, in order: title, endpoint, least role that sees it. A page
#: whose blueprint is not registered on the app is left out.
NAV_PAGES = (
    ("Map", "maps.index", None),
    ("Compare", "compare.page", None),
    ("Dashboard", "dashboard.page", None),
    ("Interventions", "register.index", None),
    ("Plan", "plan.page", "editor"),
    ("Users", "auth.users", "admin"),
)


# -- helpers: one job each ----------------------------------------------------------------


def current_study() -> Study:
    """The study of the request's area (``?study=``), loaded once at start-up.

    Raises
    ------
    StudyError
        The app was started without a study.
    """
    return current_area().study


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
        ``h3``, ``geometry``, ``count`` and ``harm`` (when the study has it); only the cells
        with incidents in the period (the study's cell table also covers the empty cells of
        the study region, for the risk model).
    """
    cells = study.cells
    shown = [c for c in _SHOWN if c in cells.columns]
    if month is None:
        return cells.loc[cells["count"].to_numpy() > 0, ["h3", "geometry", *shown]].copy()
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


def current_places() -> ServedPlaces:
    """The place layers of the request's area, read when the app was created."""
    return current_area().places


def layer_list(places: ServedPlaces) -> list[dict[str, Any]]:
    """The place layers for the API and the page: what each is, how to draw it, its URL.

    ``shown`` says whether the map starts with the layer on: line layers (streets) and
    layers of more than :data:`SHOWN_MAX_FEATURES` features start off.
    """
    return [
        {
            "name": layer.name,
            "title": layer.spec.get("title", layer.name),
            "kind": layer.spec["kind"],
            "description": layer.spec.get("description", ""),
            "style": layer.spec["style"],
            "count": layer.count,
            "shown": layer.spec["kind"] != "line" and layer.count <= SHOWN_MAX_FEATURES,
            "url": url_for("api.place_geojson", name=layer.name),
        }
        for layer in places.layers.values()
    ]


def place_layer(places: ServedPlaces, name: str) -> PlaceLayer:
    """The place layer called ``name``.

    Raises
    ------
    werkzeug.exceptions.NotFound
        No such layer; the message lists the study's layers.
    """
    if name in places.layers:
        return places.layers[name]
    names = ", ".join(places.layers) or "none (the study was built without places)"
    raise NotFound(f"No place layer {name!r} in this study; its place layers are: {names}.")


def place_question(places: ServedPlaces, month: str | None) -> dict[str, Any]:
    """Where incidents happened: share of incidents and harm per place type, top places.

    Parameters
    ----------
    places
        The study's places.
    month
        ``YYYY-MM`` (already checked against the study) or ``None`` for the whole study.

    Returns
    -------
    dict
        ``month``; ``total_incidents`` and ``total_harm`` of the period; ``shares``, one
        row per place type in priority order then ``other`` (titled "Elsewhere"), whose
        ``share_incidents`` sum to 1 when there are incidents; ``top_places``, the named
        places with most incidents per place type over the whole study.
    """
    titles = {name: layer.spec.get("title", name) for name, layer in places.layers.items()}
    period = month or "all"
    shares = [
        {
            "place_type": str(r["place_type"]),
            "title": titles.get(str(r["place_type"]), ELSEWHERE),
            "incidents": int(r["incidents"]),
            "harm": round(float(r["harm"]), 3),
            "share_incidents": round(float(r["share_incidents"]), 6),
            "share_harm": round(float(r["share_harm"]), 6),
        }
        for r in places.share.to_dict("records")
        if str(r["period"]) == period
    ]
    top = [
        {
            "place_type": str(r["place_type"]),
            "title": titles.get(str(r["place_type"]), ELSEWHERE),
            "rank": int(r["rank"]),
            "place_name": str(r["place_name"]),
            "incidents": int(r["incidents"]),
            "harm": round(float(r["harm"]), 3),
        }
        for r in places.top.to_dict("records")
    ]
    return {
        "month": month,
        "total_incidents": sum(row["incidents"] for row in shares),
        "total_harm": round(sum(row["harm"] for row in shares), 3),
        "shares": shares,
        "top_places": top,
    }


# -- the study's analysis layers: risk, hot spots, gaps, interventions --------------------


def cell_layer_names(study: Study, extras: LiveDeployment) -> list[str]:
    """The cell layers this study can show, in menu order (``count`` always)."""
    columns = study.cells.columns
    have = {
        "count": True,
        "risk": "risk" in columns,
        "hotspots": "gi_bin" in columns,
        "emerging": "emerging" in columns,
        "gaps": extras.gaps is not None,
    }
    return [name for name in CELL_LAYERS if have[name]]


def requested_layer() -> str:
    """The ``?layer=`` of the request (``count`` when absent).

    Raises
    ------
    werkzeug.exceptions.BadRequest
        Not a cell layer name; the message lists them.
    """
    layer = request.args.get("layer", "").strip() or "count"
    if layer not in CELL_LAYERS:
        valid = ", ".join(CELL_LAYERS)
        raise BadRequest(f"`layer` was {layer!r} but is expected to be one of: {valid}.")
    return layer


def cell_layer(study: Study, extras: LiveDeployment, layer: str, month: str | None) -> bytes:
    """One cell layer as GeoJSON with colours and legend (:func:`cell_layer_geojson`).

    Counts come from :func:`displayed_cells`; the other layers are over the whole study.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        A month was given for a layer other than ``count``.
    werkzeug.exceptions.NotFound
        The study was built without what the layer shows.
    """
    if month is not None and layer != "count":
        raise BadRequest(f"`month` applies only to layer=count, not layer={layer}.")
    if layer not in cell_layer_names(study, extras):
        raise NotFound(f"This study was built without the {CELL_LAYERS[layer]!r} layer.")
    if layer == "count":
        shown = displayed_cells(study, month)
        extra = [c for c in _SHOWN if c in shown.columns]
        return cell_layer_geojson(shown, "count", properties=extra)
    if layer == "gaps":
        return cell_layer_geojson(extras.gaps, "gaps")
    return cell_layer_geojson(study.cells, layer)


def cell_details(area: Area, h3: str) -> dict[str, Any]:
    """Everything the study knows about one cell, for the cell panel.

    Returns
    -------
    dict
        ``h3``, ``place_type``, ``place_name``, ``count`` and ``harm`` (whole study), the
        ``months`` and ``series`` (incidents per month), ``gi_class``, ``emerging``,
        ``risk``, ``relative_risk``, ``risk_factors`` (a list), ``gap``, and the
        ``interventions`` present now (``id``, ``name``, ``type``) with their ``agencies``.

    Raises
    ------
    werkzeug.exceptions.NotFound
        ``h3`` is not a cell of this study.
    """
    study, extras, cells = area.study, area.deployment, area.cells
    found = cells.loc[cells["h3"] == h3]
    if found.empty:
        msg = f"No cell {h3!r} in this study (a cell id is 15 hex digits, such as 89195ca198fffff)."
        raise NotFound(msg)
    row = {k: _plain(v) for k, v in found.drop(columns="geometry").iloc[0].items()}
    months = study_months(study)
    series = []
    for month in months:  # every count shown goes through displayed_cells
        shown = displayed_cells(study, month)
        series.append(int(shown.loc[shown["h3"] == h3, "count"].sum()))
    total = displayed_cells(study, None)
    total = total.loc[total["h3"] == h3]
    ids = [i for i in str(row.get("intervention_ids") or "").split(";") if i]
    present = extras.interventions.loc[extras.interventions["id"].isin(ids)]
    agencies = sorted({a for s in present["agencies"].dropna() for a in str(s).split(";") if a})
    gaps = extras.gaps
    gap = gaps.loc[gaps["h3"] == h3, "gap"] if gaps is not None else pd.Series([], dtype=object)
    factors = [f.strip() for f in str(row.get("risk_factors") or "").split(";") if f.strip()]
    return {
        "h3": h3,
        "place_type": row.get("place_type"),
        "place_name": row.get("place_name"),
        "count": int(total["count"].sum()),
        "harm": round(float(total["harm"].sum()), 3) if "harm" in total else None,
        "months": months,
        "series": series,
        "gi_class": row.get("gi_class"),
        "emerging": row.get("emerging"),
        "risk": row.get("risk"),
        "relative_risk": row.get("relative_risk"),
        "risk_factors": factors,
        "gap": str(gap.iloc[0]) if len(gap) else None,
        "interventions": [
            {"id": str(r["id"]), "name": str(r["name"]), "type": str(r.get("type", ""))}
            for r in present.to_dict("records")
        ],
        "intervention_ids": ids,
        "agencies": agencies,
    }


def _plain(value: Any) -> Any:
    """A frame value as JSON: numpy scalars to Python, missing to ``None``, floats rounded."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def map_page(study: Study, cells: gpd.GeoDataFrame, month: str | None) -> dict[str, Any]:
    """The map page's context: summary, folium map parts and the page script's settings.

    The page script (``static/geojtai.js``) gets the place layers and the URL of the place
    question for the month shown.
    """
    summary = study_summary(study, cells, month)
    extras = current_area().deployment
    page = {
        "layers": layer_list(current_places()),
        "summary_url": url_for("api.places_summary", month=month),
        "month": month,
        "cell_layers": [
            {"name": name, "title": CELL_LAYERS[name], "url": url_for("api.cells", layer=name)}
            for name in cell_layer_names(study, extras)
        ],
        "interventions": {
            "url": url_for("api.interventions"),
            "count": len(extras.interventions),
        },
        "cell_url": url_for("api.cell", h3="H3").removesuffix("H3"),
    }
    period = _period(summary["months"], month)
    m = cell_map(
        cells,
        value="count",
        title=f"Incidents per cell, {period}",
        tiles=current_app.config["TILES"],
        attribution=current_app.config["TILES_ATTRIBUTION"],
        asset_url=request.script_root + DEFAULT_ASSET_URL,
    )
    return {"summary": summary, "period": period, "page": page, **_map_parts(m)}


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


# -- every page: the navigation bar ----------------------------------------------------------


@maps_bp.app_context_processor
def navigation() -> dict[str, Any]:
    """The navigation bar's links (kept on the request's area) and the areas to switch to."""
    areas = current_app.extensions.get(AREAS_KEY, {})
    chosen = request.args.get("study") or None
    keep = {"study": chosen} if chosen else {}
    items = [
        {"title": title, "url": url_for(endpoint, **keep), "current": request.endpoint == endpoint}
        for title, endpoint, role in NAV_PAGES
        if endpoint in current_app.view_functions and _role_allows(role)
    ]
    first = next(iter(areas), None)
    choices = [
        {"name": name, "title": area.title, "current": name == (chosen or first)}
        for name, area in areas.items()
    ]
    return {"nav_items": items, "nav_areas": choices}


def _role_allows(role: str | None) -> bool:
    """Whether the signed-in user (if sign-in is set up) has at least ``role``."""
    if role is None:
        return True
    try:
        from web.auth import role_at_least
    except ImportError:  # sign-in not set up yet: show everything
        return True
    return bool(role_at_least(role))


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
    areas = current_app.extensions.get(AREAS_KEY, {})
    if not areas:
        return _json({"status": "unavailable", "error": "no study loaded (STUDY_DIR)"}, 503)
    studies = [{"name": n, "title": a.title, "n_cells": len(a.study.cells)} for n, a in areas.items()]
    return _json({"status": "ok", "studies": studies})


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
    """One cell layer (``?layer=count|risk|hotspots|emerging|gaps``, ``?month=`` for count)
    as GeoJSON: ``h3``, ``value``, ``label``, ``fill`` per cell, and a ``legend``."""
    study = current_study()
    layer, month = requested_layer(), requested_month(study)
    data = cell_layer(study, current_area().deployment, layer, month)
    return Response(data, mimetype="application/geo+json")


@api_bp.get("/interventions.geojson")
def interventions() -> Response:
    """The study's interventions as GeoJSON, coloured by type; empty when it has none."""
    return Response(current_area().deployment.geojson, mimetype="application/geo+json")


@api_bp.get("/cell/<h3>")
def cell(h3: str) -> Response:
    """One cell's details: place, counts, monthly series, hot spots, risk, interventions."""
    return _json(cell_details(current_area(), h3))


@api_bp.get("/summary")
def summary() -> Response:
    """Study name, months, the month shown, number of cells and total count."""
    study = current_study()
    month = requested_month(study)
    return _json(study_summary(study, displayed_cells(study, month), month))


@api_bp.get("/layers")
def layers() -> Response:
    """The study's place layers: name, title, kind, style, feature count and GeoJSON URL."""
    return _json(layer_list(current_places()))


@api_bp.get("/places/<name>.geojson")
def place_geojson(name: str) -> Response:
    """One place layer as a GeoJSON FeatureCollection; 404 names the valid layers."""
    layer = place_layer(current_places(), name)
    response = Response(layer.geojson, mimetype="application/geo+json")
    response.add_etag()
    response.make_conditional(request)
    return response


@api_bp.get("/places/summary")
def places_summary() -> Response:
    """Share of incidents and harm per place type (``?month=YYYY-MM``) and top places."""
    study = current_study()
    return _json(place_question(current_places(), requested_month(study)))
