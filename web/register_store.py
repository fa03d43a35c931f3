"""The register's store: its entries in the database, and the live deployment they make.

**Source of truth.** The register of each area (study) is the ``interventions`` table of the
app's database (:mod:`web.db`), keyed by ``(study, id)`` with the area's short name as
``study``. When an area's register is empty at start-up it is seeded, once, from the study's
``interventions.parquet`` (:func:`seed_register`; an entry whose end date has passed is
seeded ``closed``). From then on the database wins over the study folder.

**The live deployment.** An area's interventions are read back from the database, validated
as a file would be (:func:`register_frame`) and handed to
:func:`geojtai.deployment.recompute`; the result replaces the area's deployment
(:meth:`web.state.Area.replace`), so the map, the compare view and the dashboard follow.
"Now" is the register's :func:`today`: an entry counts while it is active, started and not
ended. The per-intervention impact estimates are not recomputed here (they take seconds on a
large study); the last build's stay, with :data:`IMPACT_NOTE`, until the next build.

**Changes.** :func:`apply_change` runs a change, its audit rows and the recompute in one
transaction under a per-area lock: a recompute that fails stores nothing either. Several
worker processes each hold their own copy of the deployment; only the process that made a
change recomputes at once, the others at their next start.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import NotFound

from geojtai import deployment, schema
from geojtai.errors import DatabaseError
from geojtai.maps import interventions_geojson
from web import db
from web.db import Actor, Intervention, record_audit, request_session
from web.register_input import ENTRY_FIELDS, RegisterError, raw_from_records, reject_row
from web.state import Area, LiveDeployment

__all__ = [
    "IMPACT_NOTE",
    "Change",
    "apply_change",
    "get_entry",
    "list_entries",
    "live_deployment",
    "refresh_area",
    "register_frame",
    "seed_register",
    "store_entries",
    "today",
]

IMPACT_NOTE = (
    "Impact estimates are those of the last build of the study; they are updated by the next build."
)
"""Said wherever the live coverage is shown: its impact estimates are the last build's."""
_SEED = Actor("seed")
_LOCKS_KEY = "geojtai.register.locks"


def today() -> dt.date:
    """The register's today (UTC), or ``REGISTER_TODAY`` (``YYYY-MM-DD``) when configured."""
    fixed = current_app.config.get("REGISTER_TODAY")
    return dt.date.fromisoformat(str(fixed)) if fixed else db.utcnow().date()


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


def store_entries(
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

    Parameters
    ----------
    session
        The session of the change (flushed, not committed).
    study
        The area's short name.
    valid
        Rows validated by :func:`web.register_input.validated`.
    by, on
        Who makes the change, and the register's today (an entry ended before it is closed).
    replace
        Overwrite entries whose id is already in the register (else they are rejected).
    via
        How the rows came (``"form"``, ``"upload:<file>"``), for the audit rows.
    action
        The audit action of an overwritten entry (a new one is ``intervention.add``).

    Returns
    -------
    list of str
        The ids stored, in row order.

    Raises
    ------
    RegisterError
        Without ``replace``, ids already in the register (422, listing each such row).
    """
    existing = {e.id: e for e in list_entries(session, study)}
    clash = [
        reject_row(r.file, r.row, r.id, "duplicate id", "already in the register; choose another "
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
