"""The interventions register (blueprint ``register``): list, add, edit, close and upload.

Pages live under ``/interventions`` and their JSON twins under ``/api/register``. Everyone
signed in may read the register; editors and admins change it.

**Source of truth.** The register of each area (study) is the ``interventions`` table of the
app's database (:mod:`web.db`), keyed by ``(study, id)`` with the area's short name as
``study``. When an area's register is empty at start-up it is seeded, once, from the study's
``interventions.parquet`` (an entry whose end date has passed is seeded ``closed``). From then
on the database wins over the study folder.

**The live deployment.** At start-up (:func:`init_app`) and after every change, the area's
interventions are read back from the database, validated as a file would be
(:func:`geojtai.schema.validate_interventions`) and handed to
:func:`geojtai.deployment.recompute`; the result replaces the area's deployment
(:meth:`web.state.Area.replace`), so the map, the compare view and the dashboard follow.
"Now" is the register's today: an entry counts while it is active, started and not ended.
The per-intervention impact estimates are not recomputed here (they take seconds on a large
study); the last build's stay, with a note, until the next build.

**Changes are all or nothing.** A form or a file is validated in full first; if any row is
rejected nothing is stored and the answer lists every rejected row with its file, row, field
and reason (422). The change, its audit rows and the recompute share one transaction and a
per-area lock: a recompute that fails stores nothing either. Each answer gives the coverage
before and after ("Top-10% risk cells covered: 41% → 47%") and the deployment's version.

Several worker processes each hold their own copy of the deployment; only the process that
made a change recomputes at once, the others at their next start.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
import sqlalchemy as sa
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
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from geojtai import deployment, schema
from geojtai import io as gio
from geojtai.errors import DatabaseError, GeojtaiError
from geojtai.maps import interventions_geojson
from web import db
from web.auth import current_actor, is_internal, require_role
from web.db import Actor, Intervention, record_audit, request_session
from web.state import AREAS_KEY, Area, LiveDeployment, current_area, requested_area_name

__all__ = [
    "ENTRY_FIELDS",
    "IMPACT_NOTE",
    "MAX_UPLOAD_BYTES",
    "UPLOAD_SUFFIXES",
    "Change",
    "RegisterError",
    "add_entry",
    "apply_change",
    "close_entry",
    "entry_page",
    "get_entry",
    "init_app",
    "list_entries",
    "live_deployment",
    "parse_geometry",
    "raw_from_features",
    "raw_from_records",
    "read_upload",
    "refresh_area",
    "register_bp",
    "register_frame",
    "register_listing",
    "seed_register",
    "size_text",
    "today",
    "update_entry",
    "upload_entries",
    "validated",
]

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""The default ``MAX_CONTENT_LENGTH``: the largest request (upload) the app accepts."""
UPLOAD_SUFFIXES = (".geojson", ".json", ".csv")
ENTRY_FIELDS = (
    "id",
    "name",
    "type",
    "lead_agency",
    "partner_agencies",
    "start",
    "end",
    "days",
    "hours",
    "place_types",
    "cost",
    "hours_per_week",
    "radius_m",
    "notes",
)
"""The fields of a register entry a person gives (besides its geometry)."""
IMPACT_NOTE = (
    "Impact estimates are those of the last build of the study; they are updated by the next build."
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED_IDS = frozenset({"new", "upload"})  # page paths under /interventions/
_MAX_LENGTH = {"name": 500, "type": 200, "lead_agency": 200, "days": 200, "hours": 200}
_STATUSES = ("active", "closed")
_SEED = Actor("seed")
_LOCKS_KEY = "geojtai.register.locks"
_REASON_FIELD = {
    "not a point": "geometry",
    "no location": "geometry",
    "unparseable coordinate": "lat/lon",
    "non-finite coordinate": "lat/lon",
    "coordinates look swapped": "lat/lon",
    "latitude out of range": "lat",
    "longitude out of range": "lon",
    "easting/northing out of range": "easting/northing",
    "missing geometry": "geometry",
    "invalid geometry": "geometry",
    "invalid radius": "radius_m",
    "missing start": "start",
    "unparseable start": "start",
    "unparseable end": "end",
    "end before start": "end",
    "duplicate id": "id",
    "missing id": "id",
    "invalid id": "id",
}

register_bp = Blueprint("register", __name__)


class RegisterError(GeojtaiError, ValueError):
    """A change the register refuses; nothing was stored.

    Parameters
    ----------
    message
        The whole message.
    problems
        One line per problem.
    status
        The HTTP status to answer with: 400 (the request is unusable: wrong file type,
        unreadable file), 409 (the entry changed meanwhile, or is already closed) or 422
        (rows were rejected).
    rejects
        The rejected rows: ``file``, ``row``, ``id``, ``field``, ``reason``, ``detail`` and
        ``message`` each.
    """

    def __init__(
        self,
        message: str,
        problems: list[str] | None = None,
        *,
        status: int = 422,
        rejects: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message, problems)
        self.status = status
        self.rejects = [dict(r) for r in rejects]


def size_text(size: int) -> str:
    """A size in bytes for people: ``"5 MB"``, ``"19.5 KB"``.

    Examples
    --------
    >>> size_text(5 * 1024 * 1024), size_text(20_000)
    ('5 MB', '19.5 KB')
    """
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def today() -> dt.date:
    """The register's today (UTC), or ``REGISTER_TODAY`` (``YYYY-MM-DD``) when configured."""
    fixed = current_app.config.get("REGISTER_TODAY")
    return dt.date.fromisoformat(str(fixed)) if fixed else db.utcnow().date()


# -- rows in: forms, JSON features and files as raw intervention rows -----------------------


def parse_geometry(text: str | None) -> BaseGeometry | None:
    """A GeoJSON geometry (or a Feature holding one) in EPSG:4326; ``None`` when blank.

    Raises
    ------
    ValueError
        The text is not a GeoJSON geometry (the message says why).
    """
    if text is None or not str(text).strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or "coordinates" not in data:
        raise ValueError("not a GeoJSON geometry (an object with `type` and `coordinates`)")
    try:
        geom: BaseGeometry = shapely.from_geojson(json.dumps(data))
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"not a GeoJSON geometry ({exc})") from exc
    return geom


def raw_from_records(
    records: Sequence[Mapping[str, Any]],
    geometries: Sequence[BaseGeometry | None],
    *,
    file: str,
) -> gpd.GeoDataFrame:
    """Rows as :func:`geojtai.io.read_interventions` gives them, from field mappings.

    ``records[i]`` holds row ``i + 1``'s fields (:data:`ENTRY_FIELDS`, text or numbers;
    others are ignored), ``geometries[i]`` its geometry in EPSG:4326.
    """
    columns = [c for c in schema.RAW_INTERVENTION_COLUMNS if c not in ("file", "row")]
    data: dict[str, Any] = {
        c: [schema.text_or_none(r.get(c)) for r in records] for c in [*columns, "notes"]
    }
    data["file"] = [file] * len(records)
    data["row"] = np.arange(1, len(records) + 1, dtype=np.int64)
    return gpd.GeoDataFrame(data, geometry=list(geometries), crs=4326)


def raw_from_features(
    collection: Any, *, file: str, defaults: Mapping[str, Any] | None = None
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Raw rows from a GeoJSON FeatureCollection (a parsed JSON object) and the rows whose
    geometry could not be read (as rejects).

    ``defaults`` fill properties a feature lacks; a ``{n}`` in a default is replaced by the
    feature's row number (``"P-{n}"``).

    Raises
    ------
    RegisterError
        ``collection`` is not a FeatureCollection (400).
    """
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        msg = f"{file}: expected a GeoJSON FeatureCollection (an object with `features`)"
        raise RegisterError(msg, status=400)
    features = collection.get("features") or []
    records, geometries, bad = [], [], []
    for n, feature in enumerate(features, start=1):
        props = dict((feature or {}).get("properties") or {})
        for key, value in (defaults or {}).items():
            if props.get(key) in (None, ""):
                props[key] = value.format(n=n) if isinstance(value, str) else value
        try:
            geometries.append(parse_geometry(json.dumps((feature or {}).get("geometry"))))
        except ValueError as exc:
            geometries.append(None)
            bad.append(_reject(file, n, props.get("id"), "invalid geometry", str(exc)))
        records.append(props)
    return raw_from_records(records, geometries, file=file), bad


def read_upload(upload: FileStorage | None) -> gpd.GeoDataFrame:
    """An uploaded GeoJSON or CSV interventions file as raw rows.

    Raises
    ------
    RegisterError
        No file, a name not ending in :data:`UPLOAD_SUFFIXES`, content that is not what its
        name says, or a file the reader cannot use (400; the message names the file).
    """
    if upload is None or not upload.filename:
        raise RegisterError("Choose a GeoJSON or CSV file to upload.", status=400)
    name = Path(upload.filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        msg = f"{name}: only {', '.join(UPLOAD_SUFFIXES)} files can be uploaded"
        raise RegisterError(msg, status=400)
    content = upload.read()
    _check_content(name, suffix, content)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) or f"upload{suffix}")
        path.write_bytes(content)
        try:
            raw = gio.read_interventions(path)
        except (GeojtaiError, ValueError, OSError) as exc:
            text = str(exc).replace(path.name, name)  # the reader names the file it read
            msg = text if text.startswith(name) else f"{name}: {text}"
            raise RegisterError(msg, status=400) from exc
    if len(raw) == 0:
        raise RegisterError(f"{name}: the file holds no interventions", status=400)
    return raw.assign(file=name)


def _check_content(name: str, suffix: str, content: bytes) -> None:
    if not content.strip():
        raise RegisterError(f"{name}: the file is empty", status=400)
    if suffix == ".csv":
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            msg = f"{name}: not a text CSV file (not UTF-8 at byte {exc.start})"
            raise RegisterError(msg, status=400) from exc
        if "\x00" in text:
            raise RegisterError(f"{name}: not a text CSV file (binary content)", status=400)
        return
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise RegisterError(f"{name}: not GeoJSON (not valid JSON: {exc})", status=400) from exc
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        msg = f"{name}: not GeoJSON (expected a FeatureCollection)"
        raise RegisterError(msg, status=400)


# -- validation --------------------------------------------------------------------------


def validated(
    raw: gpd.GeoDataFrame,
    *,
    extra: Sequence[Mapping[str, Any]] = (),
    ids: bool = True,
) -> gpd.GeoDataFrame:
    """The valid interventions of ``raw``, or an error listing every rejected row.

    Beside :func:`geojtai.schema.validate_interventions`'s checks, a register entry needs an
    id (letters, digits, ``.``, ``_``, ``-``; at most 64; checked only with ``ids``) and text
    fields that fit. The user's own ``notes`` are kept before the notes validation adds.

    Raises
    ------
    RegisterError
        Any row rejected (422): ``rejects`` has one item per problem, naming the file, the
        row, the field and the reason.
    """
    valid, rejects = schema.validate_interventions(raw)
    if len(raw) == 1 and len(rejects):  # a form: every field's problem, not just the first
        problems = _every_problem(raw)
    else:
        problems = [
            _reject(r.file, r.row, r.id, str(r.reason), r.detail)
            for r in rejects.itertuples(index=False)
        ]
    unreadable = {(str(p["file"]), p["row"]) for p in extra if p["field"] == "geometry"}
    problems = [
        p
        for p in problems
        if not (p["reason"] == "missing geometry" and (str(p["file"]), p["row"]) in unreadable)
    ]
    problems += [dict(p) for p in extra] + _entry_problems(raw, ids=ids)
    if problems:
        problems.sort(key=lambda p: (str(p["file"]), int(p["row"] or 0)))
        rows = sorted({(str(p["file"]), int(p["row"] or 0)) for p in problems})
        head = f"{len(rows)} of {len(raw)} rows rejected; nothing was stored"
        lines = [p["message"] for p in problems]
        raise RegisterError(head + ":\n" + "\n".join(lines), lines, rejects=problems)
    if "notes" not in raw.columns:  # files: only the notes validation adds
        return valid
    given = pd.Series(raw["notes"].to_numpy(), index=raw["row"].to_numpy())
    user = given.reindex(valid["row"].to_numpy()).to_numpy()
    notes = [_join_notes(u, n) for u, n in zip(user, valid["notes"], strict=True)]
    return valid.assign(notes=notes)


_STAND_INS: dict[str, dict[str, Any]] = {
    # What replaces a field found wrong, so that the next check can look at the others.
    "geometry": {"geometry": Point(0, 0), "lat": None, "lon": None, "wkt": None},
    "radius_m": {"radius_m": None},
    "start": {"start": "1901-01-01"},
    "end": {"end": None},
}
_STAND_INS |= {f: _STAND_INS["geometry"] for f in ("lat", "lon", "lat/lon", "easting/northing")}


def _every_problem(raw: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Every problem of a one-row form. Validation gives a row's first problem only, so each
    field found wrong is replaced by a stand-in and the row checked again."""
    row, found = raw.copy(), []
    for _ in range(len(_STAND_INS)):
        _, rejects = schema.validate_interventions(row)
        if not len(rejects):
            break
        r = rejects.iloc[0]
        found.append(_reject(r["file"], r["row"], r["id"], str(r["reason"]), r["detail"]))
        stand_in = _STAND_INS.get(_REASON_FIELD.get(str(r["reason"]), ""))
        if stand_in is None:
            break
        for column, value in stand_in.items():
            if column == "geometry":
                row = row.set_geometry([value], crs=4326)
            else:
                row[column] = value
    return found


def _entry_problems(raw: gpd.GeoDataFrame, *, ids: bool) -> list[dict[str, Any]]:
    out = []
    for row in raw.itertuples(index=False):
        ident = _text(getattr(row, "id", None))
        if ids and ident is None:
            out.append(_reject(row.file, row.row, None, "missing id", "every entry needs an id"))
        elif ids and (not _ID.fullmatch(str(ident)) or str(ident).lower() in _RESERVED_IDS):
            detail = (
                f"{ident!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit (not 'new' or 'upload')"
            )
            out.append(_reject(row.file, row.row, ident, "invalid id", detail))
        for column, most in _MAX_LENGTH.items():
            value = _text(getattr(row, column, None))
            if value is not None and len(value) > most:
                detail = f"{len(value)} characters; at most {most}"
                out.append(_reject(row.file, row.row, ident, f"{column} too long", detail, column))
    return out


def _text(value: Any) -> str | None:
    """A cell as text, ``None`` when missing (``None``, NaN, ``pd.NA``)."""
    return None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else str(value)


def _reject(
    file: Any, row: Any, ident: Any, reason: str, detail: Any = None, field: str | None = None
) -> dict[str, Any]:
    field = field or _REASON_FIELD.get(reason)
    detail, ident = _text(detail), _text(ident)
    where = f"{file}, row {row}" + (f" ({ident})" if ident else "")
    what = f"{field}: {reason}" if field else reason
    message = f"{where}, {what}" + (f" — {detail}" if detail else "")
    return {
        "file": str(file),
        "row": int(row) if row is not None else None,
        "id": ident,
        "field": field,
        "reason": reason,
        "detail": detail,
        "message": message,
    }


def _join_notes(*notes: Any) -> str | None:
    """Notes joined with ``"; "``, each part once (an edit keeps the notes it was given)."""
    parts: list[str] = []
    for note in notes:
        if note is None or pd.isna(note):
            continue
        parts += [p.strip() for p in str(note).split(";") if p.strip() and p.strip() not in parts]
    return "; ".join(parts) or None


# -- the repository: register entries in the database ---------------------------------------


def list_entries(session: Session, study: str) -> list[Intervention]:
    """Every entry of a study's register, by id."""
    query = sa.select(Intervention).where(Intervention.study == study).order_by(Intervention.id)
    return list(session.scalars(query))


def get_entry(session: Session, study: str, ident: str) -> Intervention:
    """One entry of a study's register.

    Raises
    ------
    werkzeug.exceptions.NotFound
        No entry ``ident`` in that register.
    """
    entry = session.get(Intervention, (study, ident))
    if entry is None:
        raise NotFound(f"No intervention {ident!r} in the register of {study!r}.")
    return entry


def _values(row: Any) -> dict[str, Any]:
    """A validated intervention row as the database columns of an entry."""

    def text(value: Any) -> str | None:
        return None if value is None or pd.isna(value) else str(value)

    def number(value: Any) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    def day(value: Any) -> dt.date | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    return {
        "name": text(row.name),
        "type": text(row.type) or "unknown",
        "lead_agency": text(row.lead_agency),
        "partner_agencies": text(row.partner_agencies),
        "radius_m": number(row.radius_m),
        "start": day(row.start),
        "end": day(row.end),
        "days": text(row.days),
        "hours": text(row.hours),
        "place_types": text(row.place_types),
        "cost": number(row.cost),
        "hours_per_week": number(row.hours_per_week),
        "notes": text(row.notes),
        "geometry_geojson": shapely.to_geojson(row.geometry),
    }


def _set_status(entry: Intervention, *, on: dt.date, by: Actor) -> None:
    """Closed when its end date has passed, else active (re-opened if it was closed)."""
    ended = entry.end is not None and entry.end < on
    if ended and entry.status != "closed":
        entry.status, entry.closed_by, entry.closed_at = "closed", by.name, db.utcnow()
    elif not ended:
        entry.status, entry.closed_by, entry.closed_at = "active", None, None


def _store(
    session: Session,
    study: str,
    valid: gpd.GeoDataFrame,
    *,
    by: Actor,
    on: dt.date,
    replace: bool,
    via: str,
    action: str = "intervention.replace",
) -> list[str]:
    """Add (or, with ``replace``, overwrite) every valid row, each with its audit entry.

    Raises
    ------
    RegisterError
        Without ``replace``, ids already in the register (422, listing each such row).
    """
    existing = {e.id: e for e in list_entries(session, study)}
    clash = [
        _reject(r.file, r.row, r.id, "duplicate id", "already in the register; choose another "
                "id, or upload with 'replace existing ids' to overwrite it")
        for r in valid.itertuples(index=False)
        if not replace and r.id in existing
    ]  # fmt: skip
    if clash:
        lines = [c["message"] for c in clash]
        head = f"{len(clash)} of {len(valid)} rows rejected; nothing was stored"
        raise RegisterError(head + ":\n" + "\n".join(lines), lines, rejects=clash)
    ids = []
    for row in valid.itertuples(index=False):
        values = _values(row)
        entry = existing.get(str(row.id))
        detail: dict[str, Any] = {"via": via}
        if entry is None:
            entry = Intervention(study=study, id=str(row.id), created_by=by.name, **values)
            session.add(entry)
            done = "intervention.add"
        else:
            detail["changed"] = sorted(k for k, v in values.items() if getattr(entry, k) != v)
            for key, value in values.items():
                setattr(entry, key, value)
            entry.updated_by, entry.updated_at = by.name, db.utcnow()
            done = action
        _set_status(entry, on=on, by=by)
        record_audit(session, done, by=by, study=study, object_id=entry.id, detail=detail)
        ids.append(entry.id)
    session.flush()
    return ids


def seed_register(
    session: Session, study: str, frame: gpd.GeoDataFrame | None, *, on: dt.date
) -> int:
    """Fill an empty register from a study's interventions, once; the number of entries added.

    Does nothing when the register already has entries (the database is then the source of
    truth) or the study has no interventions. Entries whose end date is before ``on`` are
    added closed. One audit row records the seeding.
    """
    count = session.scalar(
        sa.select(sa.func.count()).select_from(Intervention).where(Intervention.study == study)
    )
    if count or frame is None or len(frame) == 0:
        return 0
    ids = []
    for row in frame.itertuples(index=False):
        entry = Intervention(study=study, id=str(row.id), created_by=_SEED.name, **_values(row))
        _set_status(entry, on=on, by=_SEED)
        session.add(entry)
        ids.append(entry.id)
    session.flush()
    detail = {"source": "interventions.parquet", "entries": len(ids)}
    record_audit(session, "intervention.seed", by=_SEED, study=study, detail=detail)
    return len(ids)


# -- the live deployment ---------------------------------------------------------------------


def register_frame(entries: Sequence[Intervention], *, on: dt.date) -> gpd.GeoDataFrame:
    """A register's entries as validated interventions (the columns of
    ``interventions.parquet``), plus ``status`` and ``running`` (whether it counts on ``on``).

    Raises
    ------
    DatabaseError
        A stored entry no longer validates (the database was changed by hand).
    """
    records = [{f: getattr(e, f) for f in ENTRY_FIELDS} for e in entries]
    for record in records:
        for key in ("start", "end"):
            record[key] = record[key].isoformat() if record[key] is not None else None
    geometries = [shapely.from_geojson(e.geometry_geojson) for e in entries]
    raw = raw_from_records(records, geometries, file="register")
    valid, rejects = schema.validate_interventions(raw)
    if len(rejects):
        lines = [f"{r.id}: {r.reason} ({r.detail})" for r in rejects.itertuples(index=False)]
        raise DatabaseError("register entries no longer validate: " + "; ".join(lines), lines)
    status = pd.Series([e.status for e in entries], dtype=object)
    running = deployment.running_on(valid["start"], valid["end"], status, today=on)
    notes = pd.Series([e.notes for e in entries], dtype=object)
    return valid.assign(notes=notes, status=status, running=running)


def _can_recompute(area: Area) -> bool:
    cells = area.study.cells
    needs = all(c in cells.columns for c in deployment.CELL_NEEDS)
    return needs and len(area.study.cell_months) > 0


def live_deployment(area: Area, frame: gpd.GeoDataFrame) -> LiveDeployment:
    """The area's deployment for the interventions ``frame`` (:func:`register_frame`).

    A study built without its risk model keeps its coverage as built (none): only the
    interventions change.
    """
    previous = area.deployment
    geojson = interventions_geojson(frame)
    if not _can_recompute(area):
        return LiveDeployment(frame, geojson, previous.gaps, previous.cells, previous.coverage)
    resolution = int(area.study.manifest["settings"]["resolution"])
    result = deployment.recompute(
        area.study.cells,
        area.study.cell_months,
        frame,
        resolution=resolution,
        now=frame["running"].to_numpy(dtype=bool),
        impact=False,
    )
    kept = {k: previous.coverage[k] for k in deployment.IMPACT_KEYS if k in previous.coverage}
    figures = result.coverage | kept | {"impact_note": IMPACT_NOTE}
    return LiveDeployment(frame, geojson, result.gaps, result.cells, figures)


def refresh_area(area: Area, session: Session, *, on: dt.date) -> LiveDeployment:
    """Recompute an area's deployment from its register and swap it in."""
    frame = register_frame(list_entries(session, area.name), on=on)
    return area.replace(live_deployment(area, frame))


@dataclass(frozen=True)
class Change:
    """A change made to a register, and what it did to the coverage of risk.

    Attributes
    ----------
    action
        ``add``, ``update``, ``upload`` or ``close``.
    ids
        The entries changed.
    before, after
        The coverage figures before and after (``coverage.json``'s shape).
    version
        The deployment's version after the change.
    seconds
        How long the recompute took.
    """

    action: str
    ids: list[str]
    before: dict[str, Any]
    after: dict[str, Any]
    version: int
    seconds: float

    @property
    def changes(self) -> list[dict[str, Any]]:
        """The headline figures before → after (:func:`geojtai.deployment.coverage_change`)."""
        return deployment.coverage_change(self.before, self.after)

    def summary(self) -> dict[str, Any]:
        """The change as JSON: action, ids, coverage before/after, version, recompute time."""
        return {
            "action": self.action,
            "ids": self.ids,
            "coverage": {
                "before": deployment.headline(self.before),
                "after": deployment.headline(self.after),
                "changes": [c["text"] for c in self.changes],
                "note": IMPACT_NOTE,
            },
            "version": self.version,
            "recompute_s": round(self.seconds, 3),
        }


def _area_lock(area: Area) -> threading.Lock:
    locks: dict[str, threading.Lock] = current_app.extensions.setdefault(_LOCKS_KEY, {})
    return locks.setdefault(area.name, threading.Lock())


def apply_change(area: Area, action: str, edit: Callable[[Session, dt.date], list[str]]) -> Change:
    """Make a change to an area's register, recompute its deployment and swap it in.

    ``edit(session, today)`` changes the register (validating first, raising
    :class:`RegisterError` to refuse) and returns the ids it changed. The change and the
    recompute run under the area's lock; the change is committed only when the recompute
    succeeds, so the database and the served deployment never disagree.
    """
    session = request_session()
    on = today()
    with _area_lock(area):
        before = area.deployment.coverage
        try:
            ids = edit(session, on)
            started = time.perf_counter()
            live = live_deployment(area, register_frame(list_entries(session, area.name), on=on))
            seconds = time.perf_counter() - started
            session.commit()
        except StaleDataError as exc:
            session.rollback()
            msg = "the entry was changed by someone else meanwhile; reload the page and try again"
            raise RegisterError(msg, status=409) from exc
        except BaseException:
            session.rollback()
            raise
        new = area.replace(live)
    return Change(action, ids, before, new.coverage, new.version, seconds)


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
        bad.append(_reject("form", 1, record["id"], "invalid geometry", str(exc)))
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
        return _store(session, area.name, valid, by=by, on=on, replace=False, via="form")

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
        return _store(
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
        return _store(session, area.name, valid, by=by, on=on, replace=replace, via=via)

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
            _reject("form", 1, ident, "invalid end", p.partition(": ")[2], "end") for p in problems
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
