"""Writers: every file geojtai writes goes through here, atomically and reproducibly.

Atomic: each writer writes a hidden temporary file in the target's folder and moves it over
the target with :func:`os.replace`, so a reader never sees half a file and a failed write
leaves the previous file untouched.

Reproducible: the same frame always gives the same bytes. Parquet files carry no pandas
metadata (index, library versions) and no timestamps; GeoParquet gets a minimal ``geo``
metadata block (GeoParquet 1.1, WKB) built here, so rebuilding a study gives byte-identical
tables (compare with :func:`sha256_file`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geojtai.errors import CRSError
from geojtai.schema import GEOMETRY_TYPE_NAMES

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "sha256_file",
    "write_csv",
    "write_geoparquet",
    "write_json",
    "write_parquet",
]

_FILE_MODE = 0o644
_GEOPARQUET_VERSION = "1.1.0"


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file keeps the suffix: GDAL and others pick the format by it.
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600 files; outputs are for sharing
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: Public name: ``with atomic_path(target) as tmp:`` write ``tmp``; it becomes ``target`` only
#: if the block succeeds (the temporary file is removed otherwise).
atomic_path = _atomic_target


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_bytes(target, b"hello")
    >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    (b'hello', ['a.txt'])
    """
    with _atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a frame as UTF-8 CSV with ``\\n`` line endings and no index, atomically."""
    with _atomic_target(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, (pd.Timestamp, dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pd.Series):
        return obj.tolist()
    if obj is pd.NaT or obj is pd.NA:
        return None
    msg = f"Object of type {type(obj).__name__} is not JSON serialisable"
    raise TypeError(msg)


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented UTF-8 JSON (numpy values, paths and dates allowed), atomically.

    NaN and infinity become ``null``, as JSON has no such numbers.
    """
    option = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    atomic_write_bytes(path, orjson.dumps(obj, default=_json_default, option=option))


def _plain_table(df: pd.DataFrame) -> pa.Table:
    """An Arrow table of ``df`` without pandas metadata (index, versions)."""
    table = pa.Table.from_pandas(pd.DataFrame(df), preserve_index=False)
    return table.replace_schema_metadata(None)


def _write_table(table: pa.Table, path: Path) -> None:
    with _atomic_target(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a plain (non-spatial) frame to Parquet, atomically and byte-reproducibly."""
    _write_table(_plain_table(df), path)


def write_geoparquet(
    gdf: gpd.GeoDataFrame, path: Path, *, metadata: Mapping[str, str] | None = None
) -> None:
    """Write a GeoDataFrame to GeoParquet (WKB geometry), atomically and byte-reproducibly.

    ``metadata`` adds key-value pairs to the file's schema metadata (beside ``geo``).

    Raises
    ------
    CRSError
        The frame has no CRS.
    """
    if gdf.crs is None:
        msg = f"{Path(path).name}: cannot write a GeoDataFrame without a CRS"
        raise CRSError(msg)
    name = gdf.geometry.name
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    frame = pd.DataFrame(gdf.drop(columns=name))
    frame[name] = pd.Series(shapely.to_wkb(geoms), index=frame.index, dtype=object)
    table = _plain_table(frame)
    extra = {k.encode("utf-8"): v.encode("utf-8") for k, v in (metadata or {}).items()}
    table = table.replace_schema_metadata({b"geo": _geo_metadata(geoms, name, gdf.crs), **extra})
    _write_table(table, path)


def _geo_metadata(geoms: np.ndarray, column: str, crs: Any) -> bytes:
    present = geoms[~shapely.is_missing(geoms)] if geoms.size else geoms
    types = sorted(
        {
            GEOMETRY_TYPE_NAMES[t] + (" Z" if z else "")
            for t, z in zip(
                np.asarray(shapely.get_type_id(present)).tolist(),
                np.asarray(shapely.has_z(present)).tolist(),
                strict=True,
            )
        }
    )
    spec: dict[str, Any] = {"encoding": "WKB", "geometry_types": types, "crs": crs.to_json_dict()}
    if present.size and not shapely.is_empty(present).all():
        spec["bbox"] = [float(v) for v in shapely.total_bounds(present)]
    meta = {"version": _GEOPARQUET_VERSION, "primary_column": column, "columns": {column: spec}}
    return json.dumps(meta, separators=(",", ":")).encode("utf-8")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
