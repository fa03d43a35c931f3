"""Cell × month tables of incident counts: all, harm-weighted, by category, source and age band.

Counting sorts packed ``uint64`` keys (cell bits | month | group) once and takes run
lengths, which is about 12× faster than a pandas groupby on this machine (DESIGN §8).
:func:`cell_month_counts_from_points` fuses indexing and counting: cells become sort keys
in place, partitioned into one value range per thread, so both cores work and no
intermediate table is built (``benchmarks/bench_grid.py`` measures it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from geojtai import grid

__all__ = [
    "count_matrix",
    "month_range",
    "cell_month_counts_from_points",
    "cell_month_table",
    "cell_totals",
    "column_slug",
    "month_index",
    "month_labels",
]

_SLUG = re.compile(r"[^0-9a-z]+")


def month_index(months: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """``YYYY-MM`` labels to integer months (``year × 12 + month − 1``).

    Examples
    --------
    >>> month_index(["2024-01", "2023-12"]).tolist()
    [24288, 24287]
    """
    s = pd.Series(np.asarray(months, dtype=object)).astype(str)
    year = pd.to_numeric(s.str.slice(0, 4), errors="raise").to_numpy()
    month = pd.to_numeric(s.str.slice(5, 7), errors="raise").to_numpy()
    return (year * 12 + month - 1).astype(np.int64)


def month_labels(index: np.ndarray) -> np.ndarray:
    """Integer months back to ``YYYY-MM`` labels (object array)."""
    index = np.asarray(index, dtype=np.int64)
    years, months = np.divmod(index, 12)
    return np.array(
        [f"{y:04d}-{m + 1:02d}" for y, m in zip(years, months, strict=True)], dtype=object
    )


def column_slug(label: object) -> str:
    """A label as a column-name fragment: ``"Violence with injury"`` → ``violence_with_injury``."""
    return _SLUG.sub("_", str(label).lower()).strip("_") or "unknown"


def _bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def _pack(compact: np.ndarray, month_rel: np.ndarray, month_bits: int) -> np.ndarray:
    return (compact << np.uint64(month_bits)) | month_rel.astype(np.uint64)


def cell_month_counts_from_points(
    lat: np.ndarray,
    lon: np.ndarray,
    months: np.ndarray,
    *,
    resolution: int,
    threads: int = 2,
    block: int = 1 << 18,
    distinct: bool = False,
) -> pd.DataFrame:
    """Index points to cells and count them per cell × month in one pass.

    The cells are written into one new array, which becomes the sort keys in place (cell bits
    | month). One partition by value splits the keys into a range per thread; each thread
    sorts its range, after which the whole array is sorted, so the runs of equal keys are
    the counts, with no merge. Apart from the keys, only arrays the size of the result are
    allocated, and work on whole arrays goes in blocks: on this kind of virtual machine,
    touching fresh memory costs about as much as the arithmetic (DESIGN §8).
    ``benchmarks/bench_grid.py`` measures it.

    Parameters
    ----------
    lat, lon
        WGS84 degrees.
    months
        Integer months (:func:`month_index`), one per point.
    resolution
        H3 resolution.
    threads
        Worker threads for packing, sorting and counting (one per core); indexing uses
        :func:`geojtai.grid.cells_from_points`' own.
    block
        Points per block when packing and unpacking keys.
    distinct
        Index each distinct coordinate once (:func:`geojtai.grid.cells_from_points`); several
        times faster where points repeat, as police.uk's map points do.

    Returns
    -------
    pandas.DataFrame
        ``cell`` (uint64), ``month`` (int) and ``count``, sorted by cell then month.

    Raises
    ------
    ValueError
        The inputs differ in length, some coordinates are NaN, infinite or out of range, or
        the months span too many bits to pack beside the cells.
    """
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    months = np.ascontiguousarray(months, dtype=np.int64)
    columns = (("cell", np.uint64), ("month", np.int64), ("count", np.int64))
    threads = max(1, threads)
    with ThreadPoolExecutor(threads) as pool:
        # 1. Check lengths, coordinates and months before any work.
        n, m0, mbits = _check_points(lat, lon, months, resolution, pool)
        if n == 0:
            return pd.DataFrame({name: np.zeros(0, dtype) for name, dtype in columns})
        # 2. Index: one cell per point, in a new array that becomes the sort keys.
        keys = grid.cells_from_points(
            lat, lon, resolution=resolution, distinct=distinct, check=False
        )
        layout = {"m0": m0, "mbits": mbits, "resolution": resolution, "block": block}
        edges = np.linspace(0, n, threads + 1).astype(np.int64)
        parts = list(itertools.pairwise(edges.tolist()))
        # 3. Pack each cell and its month offset into a key, in place, a part per thread.
        list(pool.map(lambda p: _pack_keys(keys, months, *p, **layout), parts))
        # 4. Sort: split the keys into value ranges at the part edges, then sort each range;
        #    the whole array is then sorted, and equal keys form runs.
        if threads > 1:
            keys.partition(edges[1:-1])
        runs = list(pool.map(lambda p: _sorted_run_starts(keys, *p), parts))
        starts, ends = _join_runs(keys, runs)
        # 5. Count the runs and unpack each run's key into new columns, a part per thread.
        offsets = np.cumsum([0] + [s.size for s in starts]).tolist()
        out = {name: np.empty(offsets[-1], dtype) for name, dtype in columns}
        list(
            pool.map(
                lambda t: _unpack_runs(keys, starts[t], ends[t], out, offsets[t], **layout),
                range(threads),
            )
        )
    return pd.DataFrame(out, copy=False)  # new arrays: no need to copy them


def _check_points(
    lat: np.ndarray,
    lon: np.ndarray,
    months: np.ndarray,
    resolution: int,
    pool: ThreadPoolExecutor,
) -> tuple[int, int, int]:
    """Raise on unusable points; return their number, the first month and the month bits."""
    if not lat.shape == lon.shape == months.shape:
        msg = f"lat, lon and months differ in length ({lat.size}, {lon.size} and {months.size})."
        raise ValueError(msg)
    if lat.size == 0:
        return 0, 0, 1
    # Six reductions shared by the threads, no temporaries; NaN fails every comparison below.
    reductions = (lat.min, lat.max, lon.min, lon.max, months.min, months.max)
    lat_lo, lat_hi, lon_lo, lon_hi, m_lo, m_hi = pool.map(lambda f: f(), reductions)
    if not (lat_lo >= -90 and lat_hi <= 90 and lon_lo >= -180 and lon_hi <= 180):
        bad = ~grid.validate_latlon(lat, lon)
        msg = f"{int(bad.sum())} coordinates are NaN, infinite or out of range; validate first."
        raise ValueError(msg)
    mbits = _bits(int(m_hi) - int(m_lo) + 1)
    if grid.compact_bits(resolution) + mbits > 64:
        msg = "Too many months to pack beside the cell bits; split the period."
        raise ValueError(msg)
    return lat.size, int(m_lo), mbits


def _pack_keys(
    keys: np.ndarray,
    months: np.ndarray,
    a: int,
    b: int,
    *,
    m0: int,
    mbits: int,
    resolution: int,
    block: int,
) -> None:
    """Turn the cells ``keys[a:b]`` into sort keys in place: cell bits, then month − ``m0``."""
    for i in range(a, b, block):
        j = min(i + block, b)
        out = keys[i:j]
        np.left_shift(grid.compact_cells(out, resolution), np.uint64(mbits), out=out)
        out |= (months[i:j] - m0).view(np.uint64)


def _sorted_run_starts(keys: np.ndarray, a: int, b: int) -> np.ndarray:
    """Sort ``keys[a:b]`` in place; return where its runs of equal keys start (from ``a``)."""
    mine = keys[a:b]
    mine.sort()
    change = np.empty(mine.size, dtype=bool)
    change[:1] = True
    np.not_equal(mine[1:], mine[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    starts += a
    return starts


def _join_runs(keys: np.ndarray, starts: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """Each part's run starts over the sorted ``keys``, and where its last run ends.

    :func:`_sorted_run_starts` starts a run at each part's first key; where that key equals
    the previous part's last one, the run started earlier and is dropped here.
    """
    starts = [s[1:] if s.size and s[0] and keys[s[0]] == keys[s[0] - 1] else s for s in starts]
    ends, end = [], keys.size
    for s in reversed(starts):
        ends.append(end)
        end = int(s[0]) if s.size else end
    return starts, ends[::-1]


def _unpack_runs(
    keys: np.ndarray,
    starts: np.ndarray,
    end: int,
    out: dict[str, np.ndarray],
    offset: int,
    *,
    m0: int,
    mbits: int,
    resolution: int,
    block: int,
) -> None:
    """Write the cell, month and length of each run into ``out`` from row ``offset`` on."""
    for i in range(0, starts.size, block):
        j = min(i + block, starts.size)
        rows = slice(offset + i, offset + j)
        run_keys = keys[starts[i:j]]
        out["cell"][rows] = grid.expand_cells(run_keys >> np.uint64(mbits), resolution)
        run_keys &= np.uint64((1 << mbits) - 1)
        np.add(run_keys.view(np.int64), m0, out=out["month"][rows])
        run_ends = starts[i + 1 : j + 1] if j < starts.size else np.append(starts[i + 1 : j], end)
        np.subtract(run_ends, starts[i:j], out=out["count"][rows])


def cell_month_table(
    cells: np.ndarray,
    months: np.ndarray,
    *,
    resolution: int,
    harm: np.ndarray | None = None,
    groups: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """A wide cell × month table of counts, harm and counts per group label.

    Parameters
    ----------
    cells
        ``uint64`` cells of one resolution, one per incident.
    months
        Integer months (:func:`month_index`), one per incident.
    resolution
        The cells' resolution.
    harm
        Harm weight per incident; adds a ``harm`` column (sum of weights).
    groups
        ``{"category": labels, "source": labels, ...}``: adds ``count_<label>`` columns for
        the first group given the name ``category`` and ``count_<group>_<label>`` for the
        others. Missing labels count as ``unknown``.

    Returns
    -------
    pandas.DataFrame
        ``cell``, ``month``, ``count`` [, ``harm``] and the group columns; one row per
        cell × month with at least one incident, sorted by cell then month. Counts sum to the
        number of incidents; the result does not depend on row order.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    months = np.asarray(months, dtype=np.int64)
    if cells.shape != months.shape:
        msg = f"cells and months differ in length ({cells.size} and {months.size})."
        raise ValueError(msg)
    n = cells.size
    m0 = int(months.min()) if n else 0
    mbits = _bits(int(months.max()) - m0 + 1) if n else 1
    keys = _pack(grid.compact_cells(cells, resolution), months - m0, mbits)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    out = {
        "cell": grid.expand_cells(uniq >> np.uint64(mbits), resolution),
        "month": (uniq & np.uint64((1 << mbits) - 1)).astype(np.int64) + m0,
        "count": counts.astype(np.int64),
    }
    if harm is not None:
        out["harm"] = np.bincount(
            inverse, weights=np.asarray(harm, dtype=float), minlength=uniq.size
        )
    for name, labels in (groups or {}).items():
        values = pd.Series(np.asarray(labels, dtype=object)).fillna("unknown").astype(str)
        codes, names = pd.factorize(values, sort=True)
        k = max(len(names), 1)
        table = np.bincount(inverse * k + codes, minlength=uniq.size * k).reshape(uniq.size, k)
        prefix = "count_" if name == "category" else f"count_{column_slug(name)}_"
        for j, label in enumerate(names):
            out[prefix + column_slug(label)] = table[:, j]
    return pd.DataFrame(out)


def cell_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Collapse a :func:`cell_month_table` over months: one row per cell.

    Adds ``first_month`` and ``last_month`` (integer months) and ``months_active``.
    """
    numeric = [c for c in table.columns if c not in ("cell", "month")]
    grouped = table.groupby("cell", sort=True)
    out = grouped[numeric].sum()
    out["first_month"] = grouped["month"].min()
    out["last_month"] = grouped["month"].max()
    out["months_active"] = grouped["month"].size()
    return out.reset_index()


def month_range(months: Sequence[str]) -> list[str]:
    """Every month from the first to the last of ``months`` (gaps filled), in order."""
    if len(months) == 0:
        return []
    index = month_index(np.asarray(sorted(months), dtype=object))
    return list(month_labels(np.arange(index.min(), index.max() + 1)))


def count_matrix(
    table: pd.DataFrame, h3: np.ndarray, months: list[str], value: str = "count"
) -> np.ndarray:
    """``value`` per cell (rows, in the order of ``h3``) × month (columns, ``months``) from a
    cell × month table; 0 where a cell has no row for a month."""
    wide = table.pivot_table(index="h3", columns="month", values=value, aggfunc="sum")
    return wide.reindex(index=h3, columns=months).fillna(0.0).to_numpy(dtype=float)
