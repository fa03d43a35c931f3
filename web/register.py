"""The interventions register (blueprint ``register``): list, add, edit, close and upload.

Pages live under ``/interventions`` and their JSON twins under ``/api/register``. Everyone
signed in may read the register; editors and admins change it.

This module holds the changes a person makes, what the pages show, and the views. Forms and
files become validated rows in :mod:`web.register_input`; the entries live in the app's
database and make the area's live deployment in :mod:`web.register_store`, which says where
the register's source of truth is and how the deployment follows it. At start-up
(:func:`init_app`) empty registers are seeded and every area's deployment is recomputed.

**Changes are all or nothing.** A form or a file is validated in full first; if any row is
rejected nothing is stored and the answer lists every rejected row with its file, row, field
and reason (422). The change, its audit rows and the recompute share one transaction and a
per-area lock: a recompute that fails stores nothing either. Each answer gives the coverage
before and after ("Top-10% risk cells covered: 41% → 47%") and the deployment's version.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import orjson
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from geojtai import deployment
from web import db
from web.auth import current_actor, is_internal, require_role
from web.db import Actor, Intervention, record_audit, request_session
from web.register_input import (
    ENTRY_FIELDS,
    MAX_UPLOAD_BYTES,
    UPLOAD_SUFFIXES,
    RegisterError,
    parse_geometry,
    raw_from_records,
    read_upload,
    reject_row,
    size_text,
    validated,
)
from web.register_store import (
    IMPACT_NOTE,
    Change,
    apply_change,
    get_entry,
    list_entries,
    refresh_area,
    seed_register,
    store_entries,
    today,
)
from web.state import AREAS_KEY, Area, current_area, requested_area_name

__all__ = [
    "add_entry",
    "close_entry",
    "entry_page",
    "init_app",
    "register_bp",
    "register_listing",
    "update_entry",
    "upload_entries",
]

_STATUSES = ("active", "closed")

register_bp = Blueprint("register", __name__)


# -- the changes a person makes ----------------------------------------------------------------


def _form_raw(
    form: Mapping[str, Any], *, ident: str | None = None
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    record = {f: (form.get(f) or "").strip() or None for f in ENTRY_FIELDS}
    if ident is not None:
        record["id"] = ident
    bad = []
    try:
        geometry = parse_geometry(form.get("geometry"))
    except ValueError as exc:
        geometry = None
        bad.append(reject_row("form", 1, record["id"], "invalid geometry", str(exc)))
    return raw_from_records([record], [geometry], file="form"), bad


def add_entry(area: Area, form: Mapping[str, Any], by: Actor) -> Change:
    """Add one entry from a form (fields :data:`ENTRY_FIELDS`, ``geometry`` as GeoJSON).

    Raises
    ------
    RegisterError
        Every problem with the form (422), or the id is taken (409).
    """
    raw, bad = _form_raw(form)
    valid = validated(raw, extra=bad)

    def edit(session: Session, on: dt.date) -> list[str]:
        return store_entries(session, area.name, valid, by=by, on=on, replace=False, via="form")

    return apply_change(area, "add", edit)


def update_entry(area: Area, ident: str, form: Mapping[str, Any], by: Actor) -> Change:
    """Overwrite an entry from its edit form; a blank ``geometry`` keeps the one it has.

    ``version`` (the entry's version when the form was opened) guards against overwriting
    a colleague's edit made meanwhile.

    Raises
    ------
    werkzeug.exceptions.NotFound
        No such entry.
    RegisterError
        Every problem with the form (422), or the entry changed meanwhile (409).
    """
    entry = get_entry(request_session(), area.name, ident)
    if str(form.get("version", entry.version)) != str(entry.version):
        msg = f"{ident} was changed by {entry.updated_by or entry.created_by} since you opened it; reload the page to see their change"
        raise RegisterError(msg, status=409)
    if not (form.get("geometry") or "").strip():
        form = {**form, "geometry": entry.geometry_geojson}
    raw, bad = _form_raw(form, ident=ident)
    valid = validated(raw, extra=bad)

    def edit(session: Session, on: dt.date) -> list[str]:
        return store_entries(
            session, area.name, valid, by=by, on=on, replace=True, via="form",
            action="intervention.update",
        )  # fmt: skip

    return apply_change(area, "update", edit)


def upload_entries(area: Area, upload: FileStorage | None, *, replace: bool, by: Actor) -> Change:
    """Add every row of an uploaded GeoJSON or CSV file, or none.

    Raises
    ------
    RegisterError
        The file is unusable (400), or rows were rejected (422): invalid rows, and ids
        already in the register unless ``replace``.
    """
    raw = read_upload(upload)
    name = str(raw["file"].iloc[0])
    valid = validated(raw)

    def edit(session: Session, on: dt.date) -> list[str]:
        via = f"upload:{name}"
        return store_entries(session, area.name, valid, by=by, on=on, replace=replace, via=via)

    return apply_change(area, "upload", edit)


def close_entry(area: Area, ident: str, when: str | None, by: Actor) -> Change:
    """Close an entry: its end date becomes ``when`` (``YYYY-MM-DD``; default today).

    Raises
    ------
    werkzeug.exceptions.NotFound
        No such entry.
    RegisterError
        ``when`` is not a date, is before the start or after today (422), or the entry is
        already closed (409).
    """

    def edit(session: Session, on: dt.date) -> list[str]:
        entry = get_entry(session, area.name, ident)
        if entry.status == "closed":
            msg = f"{ident} is already closed (end {entry.end}, by {entry.closed_by})"
            raise RegisterError(msg, status=409)
        end = _closing_date(ident, when, entry.start, on)
        entry.end, entry.status = end, "closed"
        entry.closed_by, entry.closed_at = by.name, db.utcnow()
        entry.updated_by, entry.updated_at = by.name, db.utcnow()
        detail = {"end": end.isoformat()}
        record_audit(
            session, "intervention.close", by=by, study=area.name, object_id=ident, detail=detail
        )
        return [ident]

    return apply_change(area, "close", edit)


def _closing_date(ident: str, when: str | None, start: dt.date, on: dt.date) -> dt.date:
    text = (when or "").strip()
    try:
        end = dt.date.fromisoformat(text) if text else on
    except ValueError:
        end = None
    problems = []
    if end is None:
        problems.append(f"end: {text!r} is not a date (use YYYY-MM-DD)")
    elif end < start:
        problems.append(f"end: the closing date {end} is before {ident}'s start {start}")
    elif end > on:
        problems.append(f"end: the closing date {end} is after today ({on}); close it on the day")
    if problems:
        rejects = [
            reject_row("form", 1, ident, "invalid end", p.partition(": ")[2], "end")
            for p in problems
        ]
        raise RegisterError(
            f"{ident} was not closed: " + "; ".join(problems), problems, rejects=rejects
        )
    assert end is not None
    return end


# -- what the pages and the API show -----------------------------------------------------------


def _entry_json(entry: Intervention) -> dict[str, Any]:
    out: dict[str, Any] = {f: getattr(entry, f) for f in ENTRY_FIELDS}
    for key in ("start", "end"):
        out[key] = out[key].isoformat() if out[key] is not None else None
    out["status"] = entry.status
    out["version"] = entry.version
    for key in ("created", "updated", "closed"):
        when = getattr(entry, f"{key}_at")
        out[f"{key}_by"] = getattr(entry, f"{key}_by")
        out[f"{key}_at"] = when.isoformat(timespec="seconds") if when is not None else None
    out["geometry"] = json.loads(entry.geometry_geojson)
    return out


def _agencies(entry: Intervention) -> set[str]:
    both = f"{entry.lead_agency or ''};{entry.partner_agencies or ''}"
    return {a for a in both.split(";") if a}


def _filters(args: Mapping[str, str]) -> dict[str, str]:
    chosen = {k: (args.get(k) or "").strip() for k in ("status", "type", "agency")}
    if chosen["status"] not in ("", *_STATUSES):
        msg = f"`status` was {chosen['status']!r} but is expected to be one of: active, closed"
        raise RegisterError(msg, status=400)
    return chosen


def register_listing(area: Area, args: Mapping[str, str]) -> dict[str, Any]:
    """The register of an area, filtered by ``status``, ``type`` and ``agency``.

    Returns
    -------
    dict
        ``study``, ``filters`` (as given), ``options`` (the types and agencies there are),
        ``entries`` (JSON-able), ``total``, ``version``, and for editors and admins
        ``coverage`` (:func:`geojtai.deployment.headline`) and ``note``.

    Raises
    ------
    RegisterError
        An unknown ``status`` (400).
    """
    chosen = _filters(args)
    entries = list_entries(request_session(), area.name)
    shown = [
        e
        for e in entries
        if (not chosen["status"] or e.status == chosen["status"])
        and (not chosen["type"] or e.type == chosen["type"])
        and (not chosen["agency"] or chosen["agency"] in _agencies(e))
    ]
    live = area.deployment
    return {
        "study": area.name,
        "title": area.title,
        "filters": chosen,
        "options": {
            "status": list(_STATUSES),
            "type": sorted({e.type for e in entries}),
            "agency": sorted(set().union(*(_agencies(e) for e in entries))),
        },
        "entries": [_entry_json(e) for e in shown],
        "total": len(entries),
        "version": live.version,
        "coverage": deployment.headline(live.coverage) if is_internal() else None,
        "note": IMPACT_NOTE,
    }


def entry_page(area: Area, ident: str | None) -> dict[str, Any]:
    """An entry (``None``: a new one) and the map settings of its page."""
    entry = _entry_json(get_entry(request_session(), area.name, ident)) if ident else None
    return {
        "entry": entry,
        "study": area.name,
        "title": area.title,
        "map": _map_settings(
            entry["geometry"] if entry else None, entry["radius_m"] if entry else None
        ),
    }


def _map_settings(geometry: Any, radius_m: float | None) -> dict[str, Any]:
    keep = _keep()
    return {
        "geometry": geometry,
        "radius_m": radius_m,
        "interventions_url": url_for("api.interventions", **keep),
        "gaps_url": url_for("api.cells", layer="gaps", **keep),
        "has_gaps": current_area().deployment.gaps is not None,
        "bounds": _bounds(current_area()),
        "tiles": current_app.config.get("TILES"),
        "attribution": current_app.config.get("TILES_ATTRIBUTION"),
    }


def _bounds(area: Area) -> list[list[float]] | None:
    cells = area.study.cells
    if len(cells) == 0:
        return None
    x0, y0, x1, y1 = (float(v) for v in cells.total_bounds)
    return [[y0, x0], [y1, x1]]


def _keep() -> dict[str, Any]:
    """The request's ``?study=``, to keep on links, form actions and redirects."""
    name = requested_area_name()
    return {"study": name} if name else {}


# -- views -------------------------------------------------------------------------------------


def _json(obj: object, status: int = 200) -> Response:
    return Response(
        orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        mimetype="application/json",
    )


def _done(change: Change, target: str) -> ResponseReturnValue:
    """After a page's change: say what changed and the coverage before → after, then go on."""
    flash(f"{change.action.capitalize()}: {', '.join(change.ids)} (version {change.version}).")
    for line in change.changes:
        flash(line["text"])
    return redirect(target)


@register_bp.get("/interventions")
@require_role("viewer")
def index() -> ResponseReturnValue:
    """The register: every intervention, filtered by ``?status=``, ``?type=``, ``?agency=``."""
    listing = register_listing(current_area(), request.args)
    return render_template("register.html", **listing, keep=_keep())


@register_bp.get("/interventions/new")
@require_role("editor")
def new() -> ResponseReturnValue:
    """The form to add an intervention, drawing its place on the map."""
    return render_template(
        "register_form.html", **entry_page(current_area(), None), draft={}, keep=_keep()
    )


@register_bp.post("/interventions/new")
@require_role("editor")
def create() -> ResponseReturnValue:
    """Add an intervention from the form (422 with every problem; nothing stored)."""
    change = add_entry(current_area(), request.form, current_actor())
    return _done(change, url_for("register.entry", ident=change.ids[0], **_keep()))


@register_bp.get("/interventions/upload")
@require_role("editor")
def upload_form() -> ResponseReturnValue:
    """The form to upload a GeoJSON or CSV file of interventions."""
    return render_template("register_upload.html", **_upload_context())


@register_bp.post("/interventions/upload")
@require_role("editor")
def upload() -> ResponseReturnValue:
    """Add every row of an uploaded file, or none (422 lists each rejected row)."""
    replace = request.form.get("replace") in ("1", "on", "true")
    change = upload_entries(
        current_area(), request.files.get("file"), replace=replace, by=current_actor()
    )
    return _done(change, url_for("register.index", **_keep()))


@register_bp.get("/interventions/<ident>")
@require_role("viewer")
def entry(ident: str) -> ResponseReturnValue:
    """One intervention on a map; editors can edit it (redraw its place) or close it."""
    page = entry_page(current_area(), ident)
    return render_template(
        "register_entry.html", **page, draft=page["entry"], keep=_keep(), today=today()
    )


@register_bp.post("/interventions/<ident>")
@require_role("editor")
def update(ident: str) -> ResponseReturnValue:
    """Save the edit form of an intervention (422 with every problem; nothing stored)."""
    change = update_entry(current_area(), ident, request.form, current_actor())
    return _done(change, url_for("register.entry", ident=ident, **_keep()))


@register_bp.post("/interventions/<ident>/close")
@require_role("editor")
def close(ident: str) -> ResponseReturnValue:
    """Close an intervention: its end becomes ``end`` (default today), its status closed."""
    change = close_entry(current_area(), ident, request.form.get("end"), current_actor())
    return _done(change, url_for("register.entry", ident=ident, **_keep()))


@register_bp.get("/api/register")
@require_role("viewer")
def api_list() -> ResponseReturnValue:
    """The register as JSON (filters as the page's), with the coverage and version."""
    return _json(register_listing(current_area(), request.args))


@register_bp.post("/api/register/upload")
@require_role("editor")
def api_upload() -> ResponseReturnValue:
    """Upload a file (multipart ``file``, ``replace=1`` to overwrite ids); the change as JSON."""
    replace = request.form.get("replace") in ("1", "on", "true")
    change = upload_entries(
        current_area(), request.files.get("file"), replace=replace, by=current_actor()
    )
    return _json(change.summary())


@register_bp.post("/api/register/<ident>/close")
@require_role("editor")
def api_close(ident: str) -> ResponseReturnValue:
    """Close an intervention (``end`` in a form or JSON body; default today)."""
    body = request.get_json(silent=True) or request.form
    change = close_entry(current_area(), ident, body.get("end"), current_actor())
    return _json(change.summary())


def _upload_context(error: RegisterError | None = None) -> dict[str, Any]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return {
        "study": current_area().name,
        "title": current_area().title,
        "keep": _keep(),
        "limit": size_text(limit) if limit else None,
        "error": error,
        "suffixes": UPLOAD_SUFFIXES,
    }


@register_bp.errorhandler(RegisterError)
def register_error(error: RegisterError) -> ResponseReturnValue:
    """A refused change: JSON with every problem for the API, else the form again, saying
    what is wrong where. Nothing was stored."""
    request_session().rollback()
    if request.path.startswith("/api/"):
        body = {"error": str(error), "problems": error.problems, "rejects": error.rejects}
        return _json(body, error.status)
    return _refused_page(error), error.status


def _refused_page(error: RegisterError) -> str:
    """The page the refused request came from, with the error and what was typed."""
    endpoint = request.endpoint or ""
    if endpoint in ("register.upload", "register.upload_form"):
        return render_template("register_upload.html", **_upload_context(error))
    if endpoint not in ("register.create", "register.update", "register.close"):
        listing = register_listing(current_area(), {})
        return render_template("register.html", **listing, error=error, keep=_keep())
    ident = (request.view_args or {}).get("ident")
    page = entry_page(current_area(), ident)
    typed = request.form.to_dict() if endpoint != "register.close" else {}
    if typed.get("geometry"):
        page["map"]["geometry"] = None  # the redrawn geometry is in the form
    template = "register_entry.html" if ident else "register_form.html"
    draft = {**(page["entry"] or {}), **typed}
    return render_template(template, **page, draft=draft, error=error, keep=_keep(), today=today())


@register_bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """An upload over ``MAX_CONTENT_LENGTH``: 413 saying the limit."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    msg = (
        f"The upload is larger than {size_text(limit)}, the most this app accepts "
        "(MAX_CONTENT_LENGTH); split the file into smaller ones. Nothing was stored."
    )
    if request.path.startswith("/api/"):
        return _json({"error": msg}, 413)
    page = render_template(
        "register_upload.html", **_upload_context(RegisterError(msg, status=413))
    )
    return page, 413


# -- set-up ------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Register the blueprint, cap uploads, seed empty registers and recompute every area.

    Call after the areas are loaded and the database is set up (:func:`web.db.init_app`).
    ``MAX_CONTENT_LENGTH`` defaults to :data:`MAX_UPLOAD_BYTES`.
    """
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    app.register_blueprint(register_bp)
    if db.DB_KEY not in app.extensions:
        return
    areas: dict[str, Area] = app.extensions.get(AREAS_KEY, {})
    with app.app_context():
        on = today()
        for area in areas.values():
            with db.current_database().sessions() as session:
                seed_register(session, area.name, area.study.interventions(), on=on)
                refresh_area(area, session, on=on)
                session.commit()
