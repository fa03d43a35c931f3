"""The planning page (blueprint ``plan``): suggested sites for teams, and what-if proposals.

Editors and admins only. Both tools run in memory on the area's live cells and deployment
(the register as it is now), never writing into the study folder:

``/plan`` (``?teams=&radius_m=&place_types=``)
    Where ``teams`` teams, each covering ``radius_m`` metres, would cover the most expected
    harm not covered now (:func:`geojtai.studyops.suggest_sites`, greedy maximum coverage);
    sites drawn as circles with their rank, gain and share.
``/plan/what-if`` (POST: drawn proposals or a file)
    What proposed interventions would add: coverage of the top-risk cells before → after,
    and the expected harm each newly covers (:func:`geojtai.studyops.what_if`).

JSON twins: ``POST /api/plan/suggest`` (``teams``, ``radius_m``, ``place_types``, as JSON
or form fields) and ``POST /api/plan/what-if`` (a GeoJSON FeatureCollection of proposals as
the JSON body, or a multipart ``file``). A suggestion takes about 0.05 s on the sample town
and on 20,000 cells; a what-if about as long as computing its footprints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import orjson
import shapely
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from geojtai import deployment, grid, places, studyops
from geojtai.errors import GeojtaiError, SettingsError
from geojtai.maps import interventions_geojson
from web.auth import require_role
from web.register_input import (
    RegisterError,
    raw_from_features,
    read_upload,
    size_text,
    validated,
)
from web.register_store import today
from web.state import Area, current_area, requested_area_name

__all__ = [
    "DEFAULT_RADIUS_M",
    "DEFAULT_TEAMS",
    "PlanError",
    "PlanRequest",
    "parse_plan_request",
    "plan_bp",
    "plan_page",
    "proposals_from_request",
    "suggestion",
    "what_if_result",
]

DEFAULT_TEAMS = 3
DEFAULT_RADIUS_M = 300.0
#: What a drawn proposal lacks is filled from here (``{n}``: its number).
PROPOSAL_DEFAULTS = {"id": "P-{n}", "name": "Proposal {n}", "type": "proposal"}
_PLAN_NEEDS = ("h3", "risk", "count", "lat", "lon", "area_fraction", "place_type")

plan_bp = Blueprint("plan", __name__)


class PlanError(GeojtaiError, ValueError):
    """A planning request that cannot be answered; ``status`` is the HTTP status (400:
    bad input, 404: the study lacks what planning needs)."""

    def __init__(self, message: str, problems: list[str] | None = None, *, status: int = 400):
        super().__init__(message, problems)
        self.status = status


@dataclass(frozen=True)
class PlanRequest:
    """A request for suggested sites: how many teams, the radius each covers (metres), and
    the place types their bases may be in (any when empty)."""

    teams: int = DEFAULT_TEAMS
    radius_m: float = DEFAULT_RADIUS_M
    place_types: tuple[str, ...] = field(default_factory=tuple)


def parse_plan_request(values: Mapping[str, Any], layers: list[str]) -> PlanRequest:
    """A :class:`PlanRequest` from form fields, a query string or a JSON object.

    ``place_types`` may be a list, repeated fields or one comma-separated string.

    Raises
    ------
    PlanError
        Listing every problem (400): teams not a whole number ≥ 1, a radius not > 0, an
        unknown place type (the message lists the valid ones).
    """
    teams: Any = _number(values.get("teams", DEFAULT_TEAMS), int)
    radius: Any = _number(values.get("radius_m", DEFAULT_RADIUS_M), float)
    kinds = _place_types(values)
    problems = studyops.plan_problems(teams, radius, kinds, layers)
    if problems:
        raise PlanError("; ".join(problems), problems)
    return PlanRequest(teams=int(teams), radius_m=float(radius), place_types=tuple(kinds))


def _number(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` when it is one (``"3"`` → 3), else as given (for the message)."""
    if isinstance(value, bool):
        return value
    try:
        number = kind(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        return value
    if kind is int and isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def _place_types(values: Mapping[str, Any]) -> list[str]:
    getlist = getattr(values, "getlist", None)
    raw = getlist("place_types") if getlist is not None else values.get("place_types") or []
    if isinstance(raw, str):
        raw = [raw]
    return [p.strip() for item in raw for p in str(item).split(",") if p.strip()]


def _check_study(area: Area) -> None:
    missing = [c for c in _PLAN_NEEDS if c not in area.study.cells.columns]
    if missing:
        msg = (
            f"Planning needs a study built with its risk model and places; this one has no "
            f"{', '.join(missing)} column."
        )
        raise PlanError(msg, status=404)


def suggestion(area: Area, plan: PlanRequest) -> dict[str, Any]:
    """Suggested sites for ``plan`` on the area's live cells (coverage now excluded).

    Returns
    -------
    dict
        What ``plan.json`` holds (``suggestions`` with ``rank``, ``h3``, ``lat``, ``lon``,
        ``place_type``, ``place_name``, ``gain``, ``share_of_total``...), plus ``version``
        (of the deployment planned against) and ``seconds``.
    """
    _check_study(area)
    started = time.perf_counter()
    try:
        found = studyops.suggest_sites(
            area.cells,
            layers=list(area.places.layers),
            teams=plan.teams,
            radius_m=plan.radius_m,
            place_types=plan.place_types,
        )
    except SettingsError as exc:
        raise PlanError(str(exc), exc.problems) from exc
    seconds = time.perf_counter() - started
    return found.report | {"version": area.deployment.version, "seconds": round(seconds, 3)}


def proposals_from_request() -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """The proposals of a what-if request as raw rows, and rows already rejected.

    An uploaded ``file`` (GeoJSON or CSV), else a FeatureCollection: the JSON body (or its
    ``proposals``), or the form field ``proposals``. Drawn proposals get an id, a name and
    today as their start when they have none.

    Raises
    ------
    RegisterError
        No proposals, or an unusable file (400).
    """
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return read_upload(upload), []
    body = request.get_json(silent=True)
    if body is None and request.form.get("proposals"):
        try:
            body = json.loads(request.form["proposals"])
        except ValueError as exc:
            raise RegisterError(f"proposals: not JSON ({exc})", status=400) from exc
    if isinstance(body, dict) and "proposals" in body:
        body = body["proposals"]
    if not body or not (body.get("features") if isinstance(body, dict) else None):
        msg = "Draw at least one proposal on the map, or upload a file of proposals."
        raise RegisterError(msg, status=400)
    defaults = PROPOSAL_DEFAULTS | {"start": today().isoformat()}
    return raw_from_features(body, file="proposals", defaults=defaults)


def what_if_result(
    area: Area, raw: gpd.GeoDataFrame, rejected: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the proposals in ``raw`` would add to the area's coverage now.

    Returns
    -------
    dict
        :func:`geojtai.studyops.what_if`'s report; ``changes`` (sentences before → after);
        ``proposals_geojson`` and ``newly_covered`` (the cells no work covers now that a
        proposal would) as GeoJSON; ``version`` and ``seconds``.

    Raises
    ------
    RegisterError
        Any proposal rejected (422, every problem listed with its row).
    """
    _check_study(area)
    valid = validated(raw, extra=rejected, ids=False)
    started = time.perf_counter()
    existing = area.deployment.interventions
    running = existing["running"].to_numpy(dtype=bool) if "running" in existing else None
    found = studyops.what_if(
        area.cells,
        existing if len(existing) and "radius_m" in existing else None,
        valid,
        months=area.study.months,
        resolution=int(area.study.manifest["settings"]["resolution"]),
        active=running if len(existing) and "radius_m" in existing else None,
    )
    seconds = time.perf_counter() - started
    report = found.report
    changes = deployment.coverage_change(
        {"overall": report["before"]}, {"overall": report["after"]}
    )
    return report | {
        "changes": [c["text"] for c in changes],
        "proposals_geojson": orjson.loads(interventions_geojson(valid)),
        "newly_covered": _cells_geojson(found.newly_covered),
        "version": area.deployment.version,
        "seconds": round(seconds, 3),
    }


def _cells_geojson(h3: list[str]) -> dict[str, Any]:
    polygons: list[Any] = list(grid.cell_polygons(grid.cells_from_hex(h3))) if h3 else []
    features = [
        {"type": "Feature", "properties": {"h3": h}, "geometry": json.loads(shapely.to_geojson(p))}
        for h, p in zip(h3, polygons, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


# -- the page ---------------------------------------------------------------------------------


def plan_page(
    area: Area,
    *,
    values: Mapping[str, Any] | None = None,
    suggested: dict[str, Any] | None = None,
    what_if: dict[str, Any] | None = None,
    error: GeojtaiError | None = None,
) -> dict[str, Any]:
    """The planning page's context: the form (as given), results, and the map's settings."""
    keep: dict[str, Any] = {"study": requested_area_name()} if requested_area_name() else {}
    titles = {name: layer.spec.get("title", name) for name, layer in area.places.layers.items()}
    values = values or {}
    return {
        "title": area.title,
        "keep": keep,
        "place_types": [*titles.items(), (places.OTHER, "Elsewhere")],
        "chosen": {
            "teams": values.get("teams", DEFAULT_TEAMS),
            "radius_m": values.get("radius_m", DEFAULT_RADIUS_M),
            "place_types": _place_types(values),
        },
        "suggested": suggested,
        "what_if": what_if,
        "error": error,
        "page": {
            "suggested": suggested,
            "what_if": what_if,
            "bounds": _bounds(area),
            "tiles": current_app.config.get("TILES"),
            "attribution": current_app.config.get("TILES_ATTRIBUTION"),
            "interventions_url": url_for("api.interventions", **keep),
            "gaps_url": url_for("api.cells", layer="gaps", **keep),
            "has_gaps": area.deployment.gaps is not None,
            "suggest_url": url_for("plan.api_suggest", **keep),
            "what_if_url": url_for("plan.api_what_if", **keep),
        },
    }


def _bounds(area: Area) -> list[list[float]] | None:
    if len(area.study.cells) == 0:
        return None
    x0, y0, x1, y1 = (float(v) for v in area.study.cells.total_bounds)
    return [[y0, x0], [y1, x1]]


def _json(obj: object, status: int = 200) -> Response:
    data = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(data, status=status, mimetype="application/json")


@plan_bp.get("/plan")
@require_role("editor")
def page() -> ResponseReturnValue:
    """The planning page; with ``?teams=`` it shows suggested sites on the map."""
    area = current_area()
    if "teams" not in request.args:
        return render_template("plan.html", **plan_page(area))
    plan = parse_plan_request(request.args, list(area.places.layers))
    found = suggestion(area, plan)
    return render_template("plan.html", **plan_page(area, values=request.args, suggested=found))


@plan_bp.post("/plan/what-if")
@require_role("editor")
def what_if_page() -> ResponseReturnValue:
    """What drawn or uploaded proposals would add, on the planning page."""
    area = current_area()
    found = what_if_result(area, *proposals_from_request())
    return render_template("plan.html", **plan_page(area, what_if=found))


@plan_bp.post("/api/plan/suggest")
@require_role("editor")
def api_suggest() -> ResponseReturnValue:
    """Suggested sites as JSON (``teams``, ``radius_m``, ``place_types``: JSON or form)."""
    area = current_area()
    values = request.get_json(silent=True) or request.form
    return _json(suggestion(area, parse_plan_request(values, list(area.places.layers))))


@plan_bp.post("/api/plan/what-if")
@require_role("editor")
def api_what_if() -> ResponseReturnValue:
    """What proposals would add, as JSON (a FeatureCollection body or a ``file``)."""
    return _json(what_if_result(current_area(), *proposals_from_request()))


@plan_bp.errorhandler(PlanError)
@plan_bp.errorhandler(RegisterError)
def plan_error(error: PlanError | RegisterError) -> ResponseReturnValue:
    """Bad input: JSON with every problem for the API, else the page saying what is wrong."""
    rejects = getattr(error, "rejects", [])
    if request.path.startswith("/api/"):
        body = {"error": str(error), "problems": error.problems, "rejects": rejects}
        return _json(body, error.status)
    # The query string, never the form: after a 413 the form cannot be read.
    page = plan_page(current_area(), values=request.args, error=error)
    return render_template("plan.html", **page), error.status


@plan_bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A proposals file over ``MAX_CONTENT_LENGTH``: 413 saying the limit."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    msg = (
        f"The upload is larger than {size_text(limit)}, the most this app accepts "
        "(MAX_CONTENT_LENGTH)."
    )
    return plan_error(PlanError(msg, status=413))
