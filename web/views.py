"""Views: the map page and Leaflet's files (``maps``), and the JSON API (``api``).

Each view parses the request, calls one function here and renders. Every incident count
comes from :mod:`web.incidents`, which applies the request's filters and then the
disclosure rule of its role; the study's other layers (risk, hot spots, gaps) are read
once per process with its areas (:mod:`web.state`).
"""

from __future__ import annotations

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
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from geojtai import grid
from geojtai.bivariate import risk_classes
from geojtai.errors import StudyError
from geojtai.io.studyfolder import Study
from geojtai.maps import (
    CELL_LAYERS,
    DEFAULT_ASSET_URL,
    cell_layer_geojson,
    cell_map,
    interventions_geojson,
)
from web.auth import role_at_least
from web.incidents import (
    ELSEWHERE,
    CellQuery,
    cell_counts,
    displayed_cells,
    displayed_counts,
    filter_options,
    incident_summary,
    place_question,
    requested_query,
)
from web.published import suppressed_text
from web.state import AREAS_KEY, Area, LiveDeployment, PlaceLayer, ServedPlaces, current_area

__all__ = [
    "ELSEWHERE",
    "study_months",
    "LEAFLET_DIR",
    "NAV_PAGES",
    "SHOWN_MAX_FEATURES",
    "api_bp",
    "cell_details",
    "cell_layer",
    "cell_layer_names",
    "current_places",
    "current_study",
    "layer_list",
    "maps_bp",
    "navigation",
    "place_layer",
    "requested_interventions",
    "requested_layer",
]

LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
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
    ("Export", "exports.page", "viewer"),
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


def cell_layer(area: Area, layer: str, query: CellQuery) -> bytes:
    """One cell layer as GeoJSON with colours and legend (:func:`cell_layer_geojson`).

    Counts come from :func:`web.incidents.displayed_counts` (filtered, then
    disclosure-controlled); the other layers are over the whole study and take no filter.
    For the published profile the risk layer shows classes, not values. Answers are kept
    in the area's layer cache, keyed by everything they depend on.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        A filter was given for a layer other than ``count``.
    werkzeug.exceptions.NotFound
        The study was built without what the layer shows.
    """
    if query.filtered and layer != "count":
        raise BadRequest(f"Filters apply only to layer=count, not layer={layer}.")
    if layer not in cell_layer_names(area.study, area.deployment):
        raise NotFound(f"This study was built without the {CELL_LAYERS[layer]!r} layer.")
    deployment = area.deployment
    key = (layer, query if layer == "count" else query.rule, deployment.version)
    return area.layers.get(key, lambda: _make_cell_layer(area, deployment, layer, query))


def _make_cell_layer(area: Area, deployment: LiveDeployment, layer: str, query: CellQuery) -> bytes:
    if layer == "count":
        shown = displayed_counts(area, query)
        summary = incident_summary(area, query, shown)
        return cell_layer_geojson(
            shown,
            "count",
            properties=[c for c in ("harm", "rolled_up") if c in shown.columns],
            no_value=suppressed_text(query.rule),
            members={"filter": summary | {"incidents_text": summary["total_text"]}},
            geometries=area.geometries,
        )
    published = query.rule.applies  # viewers: classes, not the numbers behind them
    if layer == "gaps":
        return cell_layer_geojson(
            deployment.gaps, "gaps", geometries=area.geometries, classes_only=published
        )
    return cell_layer_geojson(area.cells, layer, geometries=area.geometries, classes_only=published)


def cell_details(area: Area, h3: str, query: CellQuery) -> dict[str, Any]:
    """Everything the study knows about one cell (or a coarser cell over several), for the
    cell panel; counts filtered and disclosure-controlled as on the map.

    Returns
    -------
    dict
        ``h3``, ``resolution``, ``bounds`` (``[[south, west], [north, east]]``),
        ``place_type``, ``place_name``, ``count`` (``None`` where suppressed) with
        ``count_text``, ``harm`` (internal only), ``months`` and ``series``, ``gi_class``,
        ``emerging``, ``risk`` and ``relative_risk`` (internal only; ``risk_class`` for
        everyone), ``risk_factors`` (a list), ``gap``, and the ``interventions`` present now
        (``id``, ``name``, ``type``) with their ``agencies``.

    Raises
    ------
    werkzeug.exceptions.NotFound
        ``h3`` is not a cell of this study nor a coarser cell over some.
    """
    extras, rows = area.deployment, _cells_under(area, h3)
    row = _summary_row(rows)
    ids = sorted({i for s in rows.get("intervention_ids", pd.Series(dtype=object)).dropna()
                  for i in str(s).split(";") if i})  # fmt: skip
    present = extras.interventions.loc[extras.interventions["id"].isin(ids)]
    agencies = sorted({a for s in present["agencies"].dropna() for a in str(s).split(";") if a})
    gaps = extras.gaps
    gap = gaps.loc[gaps["h3"].isin(rows["h3"]), "gap"] if gaps is not None else pd.Series([])
    factors = [f.strip() for f in str(row.get("risk_factors") or "").split(";") if f.strip()]
    internal = not query.rule.applies
    minx, miny, maxx, maxy = (float(v) for v in rows.total_bounds)
    return {
        "h3": h3,
        "resolution": int(grid.cell_resolution(grid.cells_from_hex([h3]))[0]),
        "cells": len(rows),
        "bounds": [[miny, minx], [maxy, maxx]],
        "place_type": row.get("place_type"),
        "place_title": _place_title(area, row.get("place_type")),
        "place_name": row.get("place_name"),
        **cell_counts(area, query, h3),
        "gi_class": row.get("gi_class"),
        "emerging": row.get("emerging"),
        "risk": row.get("risk") if internal else None,
        "relative_risk": row.get("relative_risk") if internal else None,
        "risk_class": _risk_class(area, rows),
        "risk_factors": factors,
        "gap": str(gap.iloc[0]) if len(gap) else None,
        "interventions": [
            {"id": str(r["id"]), "name": str(r["name"]), "type": str(r.get("type", ""))}
            for r in present.to_dict("records")
        ],
        "intervention_ids": ids,
        "agencies": agencies,
        "profile": query.rule.profile,
    }


def _place_title(area: Area, place_type: Any) -> str | None:
    """A place type's title (``Parks and open spaces``); "Elsewhere" for ``other``."""
    if place_type is None:
        return None
    layer = area.places.layers.get(str(place_type))
    return str(layer.spec.get("title", place_type)) if layer else ELSEWHERE


def _cells_under(area: Area, h3: str) -> gpd.GeoDataFrame:
    """The study's cells that are ``h3`` or lie in it (a coarser cell)."""
    cells = area.cells
    bad = f"No cell {h3!r} in this study (a cell id is 15 hex digits, such as 89195ca198fffff)."
    try:
        wanted = grid.cells_from_hex([h3])
    except (ValueError, TypeError) as exc:
        raise NotFound(bad) from exc
    resolution = int(grid.cell_resolution(wanted)[0])
    if resolution == area.resolution:
        rows = cells.loc[cells["h3"] == h3]
    elif resolution < area.resolution:
        ids = grid.cells_from_hex(cells["h3"].to_numpy(dtype=object))
        rows = cells.loc[grid.cell_parents(ids, resolution) == wanted[0]]
    else:
        rows = cells.iloc[:0]
    if rows.empty:
        raise NotFound(bad)
    return rows


def _summary_row(rows: gpd.GeoDataFrame) -> dict[str, Any]:
    """One cell's values; for several cells the riskiest cell's, with risk summed."""
    if len(rows) == 1 or "risk" not in rows.columns:
        return {k: _plain(v) for k, v in rows.drop(columns="geometry").iloc[0].items()}
    top = rows.iloc[int(np.nanargmax(rows["risk"].to_numpy(dtype=float)))]
    row = {k: _plain(v) for k, v in top.drop(labels="geometry").items()}
    row["risk"] = _plain(float(np.nansum(rows["risk"].to_numpy(dtype=float))))
    return row


def _risk_class(area: Area, rows: gpd.GeoDataFrame) -> str | None:
    """The cell's risk class, as on the bivariate map: ``top 10%``, ``next 20%`` or
    ``lower 70%`` (:func:`geojtai.bivariate.risk_classes`; the riskiest cell of several)."""
    if "risk" not in rows.columns:
        return None
    classes = risk_classes(area.cells["risk"].to_numpy(dtype=float))
    found = set(classes[area.cells.index.get_indexer(rows.index)])
    for name, words in (("high", "top 10%"), ("medium", "next 20%")):
        if name in found:
            return words
    return "lower 70%"


def requested_interventions(deployment: LiveDeployment) -> gpd.GeoDataFrame | None:
    """The interventions the request's ``?agency=`` and ``?type=`` keep; ``None`` for all.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        An agency or type that no intervention has; the message lists the valid ones.
    """
    frame = deployment.interventions
    asked = {k: _split(request.args.get(k, "")) for k in ("agency", "type")}
    if not any(asked.values()):
        return None
    agencies = frame["agencies"].fillna("").astype(str).str.split(";")
    types = frame.get("type", pd.Series("", index=frame.index)).fillna("").astype(str)
    valid = {
        "agency": sorted({a for s in agencies for a in s if a}),
        "type": sorted(set(types) - {""}),
    }
    problems = [
        f"`{key}` {value!r} is not one of: {', '.join(valid[key]) or 'none'}."
        for key, values in asked.items()
        for value in values
        if value not in valid[key]
    ]
    if problems:
        raise BadRequest(" ".join(problems))
    keep = np.ones(len(frame), dtype=bool)
    if asked["agency"]:
        wanted = set(asked["agency"])
        keep &= np.array([bool(wanted.intersection(s)) for s in agencies], dtype=bool)
    if asked["type"]:
        keep &= types.isin(asked["type"]).to_numpy()
    return frame.loc[keep]


def _split(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def _plain(value: Any) -> Any:
    """A frame value as JSON: numpy scalars to Python, missing to ``None``, floats rounded."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def map_page(area: Area, query: CellQuery) -> dict[str, Any]:
    """The map page's context: summary, filter choices, folium map parts and the page
    script's settings (layers and their URLs, the filter in force, a cell to open)."""
    cells = displayed_counts(area, query)
    summary = incident_summary(area, query, cells)
    keep: dict[str, Any] = {"study": area.name} if request.args.get("study") else {}
    page = {
        "study": keep.get("study"),
        "layers": layer_list(area.places),
        "summary_url": url_for("api.places_summary", month=query.month, **keep),
        "count_url": url_for("api.cells", layer="count", **keep),
        "month": query.month,
        "filtered": query.filtered,
        "cell": request.args.get("cell") or None,
        "suppressed": suppressed_text(query.rule),
        "cell_layers": [
            {
                "name": name,
                "title": CELL_LAYERS[name],
                "url": url_for("api.cells", layer=name, **keep),
            }
            for name in cell_layer_names(area.study, area.deployment)
        ],
        "interventions": {
            "url": url_for("api.interventions", **keep),
            "count": len(area.deployment.interventions),
        },
        "cell_url": url_for("api.cell", h3="H3", **keep).split("?")[0].removesuffix("H3"),
    }
    period = _period(summary["months"], query.month)
    parts = area.layers.get(
        ("page", query, request.script_root, area.deployment.version),
        lambda: orjson.dumps(_count_map(area, cells, query, period)),
    )
    return {
        "summary": summary,
        "period": period,
        "page": page,
        "filters": filter_options(area),
        "chosen": {**request.args, **_resolution_shown(query)},
        **orjson.loads(parts),
    }


def _resolution_shown(query: CellQuery) -> dict[str, str]:
    """The cell size the map shows, for the filter panel's select (it may be coarser than
    the study's when the study has more cells than a browser draws quickly)."""
    if query.filter is None or query.filter.resolution is None:
        return {}
    return {"resolution": str(query.filter.resolution)}


def _count_map(area: Area, cells: pd.DataFrame, query: CellQuery, period: str) -> dict[str, str]:
    """The folium map of the displayed counts, split into the parts the page embeds."""
    m = cell_map(
        cells,
        value="count",
        title=f"Incidents per cell, {period}",
        tiles=current_app.config["TILES"],
        attribution=current_app.config["TILES_ATTRIBUTION"],
        asset_url=request.script_root + DEFAULT_ASSET_URL,
        no_value=suppressed_text(query.rule),
        geometries=area.geometries,
        bounds=area.study.cells.total_bounds if len(area.study.cells) else None,
    )
    return _map_parts(m)


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
    keep: dict[str, Any] = {"study": chosen} if chosen else {}
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
    """Whether the request's user has at least ``role`` (any visitor for ``None``)."""
    if role is None:
        return True
    return bool(role_at_least(role))


# -- maps: the page and its assets --------------------------------------------------------


@maps_bp.get("/")
def index() -> str:
    """The map page: incidents per cell with the filter panel (filters also in the URL)."""
    area = current_area()
    return render_template("index.html", **map_page(area, requested_query(area)))


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
    studies = [
        {"name": n, "title": a.title, "n_cells": len(a.study.cells)} for n, a in areas.items()
    ]
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
    """One cell layer (``?layer=count|risk|hotspots|emerging|gaps``; filters for count) as
    GeoJSON: ``h3``, ``value``, ``label``, ``fill`` per cell, a ``legend`` and, for
    counts, the ``filter`` applied with the total shown and the disclosure rule."""
    area = current_area()
    data = cell_layer(area, requested_layer(), requested_query(area))
    return Response(data, mimetype="application/geo+json")


@api_bp.get("/interventions.geojson")
def interventions() -> Response:
    """The area's interventions as GeoJSON, coloured by type; ``?agency=`` and ``?type=``
    (comma-separated) keep those with any of the agencies and of the types."""
    deployment = current_area().deployment
    wanted = requested_interventions(deployment)
    if wanted is None:
        return Response(deployment.geojson, mimetype="application/geo+json")
    return Response(interventions_geojson(wanted), mimetype="application/geo+json")


@api_bp.get("/cell/<h3>")
def cell(h3: str) -> Response:
    """One cell's details: place, filtered counts and series, hot spots, risk, interventions."""
    area = current_area()
    return _json(cell_details(area, h3, requested_query(area)))


@api_bp.get("/summary")
def summary() -> Response:
    """Study name, months, the filter in words, number of cells and total count shown."""
    area = current_area()
    query = requested_query(area)
    return _json(incident_summary(area, query, displayed_cells(area, query)))


@api_bp.get("/filters")
def filters() -> Response:
    """The filter panel's choices (months, categories, sources, ...); 404 when the study
    cannot be filtered."""
    options = filter_options(current_area())
    if options is None:
        raise NotFound("This study was built without its incidents file, so it has no filters.")
    return _json(options)


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
    """Share of the filtered incidents and harm per place type, and the top places."""
    area = current_area()
    return _json(place_question(area, requested_query(area)))
