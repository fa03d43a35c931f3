"""Rows in: forms, GeoJSON features and uploaded files as raw intervention rows, validated.

The interventions register (:mod:`web.register`) takes entries from a form, from a GeoJSON
FeatureCollection or from an uploaded GeoJSON or CSV file. This module turns each into raw
rows, as :func:`geojtai.io.read_interventions` gives them, and validates them as a file would
be (:func:`geojtai.schema.validate_interventions`), plus what a register entry needs (an id,
text that fits). Validation collects every problem and raises one :class:`RegisterError`
listing each rejected row with its file, row, field and reason. Nothing here touches the
database or the live deployment (:mod:`web.register_store`).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from werkzeug.datastructures import FileStorage

from geojtai import io as gio
from geojtai import schema
from geojtai.errors import GeojtaiError

__all__ = [
    "ENTRY_FIELDS",
    "MAX_UPLOAD_BYTES",
    "UPLOAD_SUFFIXES",
    "RegisterError",
    "parse_geometry",
    "raw_from_features",
    "raw_from_records",
    "read_upload",
    "reject_row",
    "size_text",
    "validated",
]

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""The default ``MAX_CONTENT_LENGTH``: the largest request (upload) the app accepts."""
UPLOAD_SUFFIXES = (".geojson", ".json", ".csv")
ENTRY_FIELDS = (
    *schema.RAW_INTERVENTION_COLUMNS[: schema.RAW_INTERVENTION_COLUMNS.index("lat")],
    "notes",
)
"""The fields of a register entry a person gives (besides its geometry)."""
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED_IDS = frozenset({"new", "upload"})  # page paths under /interventions/
_MAX_LENGTH = {"name": 500, "type": 200, "lead_agency": 200, "days": 200, "hours": 200}
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
            bad.append(reject_row(file, n, props.get("id"), "invalid geometry", str(exc)))
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
            reject_row(r.file, r.row, r.id, str(r.reason), r.detail)
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
        found.append(reject_row(r["file"], r["row"], r["id"], str(r["reason"]), r["detail"]))
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
            out.append(reject_row(row.file, row.row, None, "missing id", "every entry needs an id"))
        elif ids and (not _ID.fullmatch(str(ident)) or str(ident).lower() in _RESERVED_IDS):
            detail = (
                f"{ident!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit (not 'new' or 'upload')"
            )
            out.append(reject_row(row.file, row.row, ident, "invalid id", detail))
        for column, most in _MAX_LENGTH.items():
            value = _text(getattr(row, column, None))
            if value is not None and len(value) > most:
                detail = f"{len(value)} characters; at most {most}"
                out.append(
                    reject_row(row.file, row.row, ident, f"{column} too long", detail, column)
                )
    return out


def _text(value: Any) -> str | None:
    """A cell as text, ``None`` when missing (``None``, NaN, ``pd.NA``)."""
    return None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else str(value)


def reject_row(
    file: Any, row: Any, ident: Any, reason: str, detail: Any = None, field: str | None = None
) -> dict[str, Any]:
    """A rejected row as the register reports it (an item of :attr:`RegisterError.rejects`).

    Parameters
    ----------
    file, row, ident
        Where: the file (``"form"`` for a form), its row (from 1) and the entry's id, if any.
    reason, detail
        What is wrong, and the particulars.
    field
        The field at fault; by default the one the reason names (``"missing start"``: start).

    Returns
    -------
    dict
        ``file``, ``row``, ``id``, ``field``, ``reason``, ``detail`` and ``message``, a line
        for people naming all of them.

    Examples
    --------
    >>> reject_row("form", 1, "A-1", "missing start")["message"]
    'form, row 1 (A-1), start: missing start'
    """
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
