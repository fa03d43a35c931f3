"""The H3 grid engine: points, lines and polygons to cells, and cells back to geometry.

This is the only module that imports H3 libraries. Cells are ``uint64`` numpy arrays here and
everywhere in the core; :func:`cells_to_hex` and :func:`cells_from_hex` convert at the
boundaries a person or another tool sees.

The vectorised path is h3ronpy (Rust, releases the GIL) over numpy chunks on a small thread
pool: ``benchmarks/bench_grid.py`` measures it against h3-py's scalar API.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import h3
import h3ronpy
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from scipy import sparse

from geojtai.crs import BNG, WGS84, transformer
from geojtai.errors import CRSError

__all__ = [
    "MAX_RESOLUTION",
    "MIN_RESOLUTION",
    "cell_areas_m2",
    "cell_centres",
    "cell_children",
    "cell_edge_length_m",
    "cell_parents",
    "cell_polygons",
    "cell_resolution",
    "cells_from_hex",
    "cells_from_points",
    "cells_to_hex",
    "compact_bits",
    "compact_cells",
    "count_cells",
    "expand_cells",
    "grid_disk",
    "lines_to_cells",
    "neighbour_matrix",
    "polygons_to_cells",
    "validate_latlon",
]

MIN_RESOLUTION, MAX_RESOLUTION = 0, 15
_CHUNK = 1 << 16  # points per h3ronpy call: ~30 ms of work, so the call costs nothing, the
#                   temporaries stay small and the threads finish within ~10 ms of each other
_THREADS = max(1, min(4, os.cpu_count() or 1))
_MIN_SPLIT = 1 << 14  # below this many points per thread, one call beats a thread pool


def _check_resolution(resolution: int) -> int:
    if not isinstance(resolution, (int, np.integer)) or not (
        MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
    ):
        msg = f"H3 resolution must be an integer 0..15; {resolution!r} was given."
        raise ValueError(msg)
    return int(resolution)


def _u64(arrow_array: object, *, copy: bool = True) -> np.ndarray:
    """An h3ronpy (arro3) uint64 array as a numpy array, nulls as 0.

    ``copy=False`` returns a read-only view of the arrow buffer where there are no nulls
    (5 µs for 256k cells against 100 µs for numpy's copy): for a block that is copied
    straight into a larger output, it also saves allocating, and on this kind of virtual
    machine page-faulting, a temporary as large as the block.
    """
    if getattr(arrow_array, "null_count", 1) == 0:
        if not copy:
            return pa.array(arrow_array).to_numpy(zero_copy_only=True)
        # numpy copies arro3's buffer directly; pyarrow's copying conversion is 4x slower.
        return np.asarray(arrow_array, dtype=np.uint64)
    arr = pa.array(arrow_array)
    if arr.null_count:
        arr = arr.fill_null(0)
    return arr.to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)


def validate_latlon(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Return a boolean mask of usable WGS84 coordinates (finite, |lat| ≤ 90, |lon| ≤ 180).

    H3 itself accepts latitude 91 and wraps longitude 181, so this check comes first.
    """
    lat = np.asarray(lat, dtype="float64")
    lon = np.asarray(lon, dtype="float64")
    with np.errstate(invalid="ignore"):
        return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)


def cells_from_points(
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    resolution: int,
    distinct: bool = False,
    check: bool = True,
) -> np.ndarray:
    """Index WGS84 points to H3 cells.

    Parameters
    ----------
    lat, lon
        Degrees, same length.
    resolution
        H3 resolution.
    distinct
        Look each point up among the coordinates already indexed and index only the new
        ones. Police.uk snaps crimes to shared map points: for 10M points on 50,000 map
        points this is ~6× faster, on 500,000 ~2.4×; where points do not repeat, the
        lookups stop after a probe, which costs 3–13 %. Same cells either way.
    check
        Validate the coordinates first; pass ``False`` only for blocks of an array that was
        already checked with :func:`validate_latlon`.

    Returns
    -------
    numpy.ndarray
        ``uint64`` cells, one per point (a new, writable array).

    Raises
    ------
    CRSError
        Some coordinates are NaN, infinite or out of range (validate first).

    Examples
    --------
    >>> cells_to_hex(cells_from_points(np.array([51.5]), np.array([-0.1]), resolution=9)).tolist()
    ['89194ad3353ffff']
    """
    resolution = _check_resolution(resolution)
    lat = np.ascontiguousarray(lat, dtype="float64")
    lon = np.ascontiguousarray(lon, dtype="float64")
    if lat.shape != lon.shape:
        msg = f"lat and lon differ in length ({lat.size} and {lon.size})."
        raise ValueError(msg)
    # Four reductions, no temporaries; NaN fails every comparison. The mask only on failure.
    if (
        check
        and lat.size
        and not (lat.min() >= -90 and lat.max() <= 90 and lon.min() >= -180 and lon.max() <= 180)
    ):
        bad = ~validate_latlon(lat, lon)
        msg = (
            f"{int(bad.sum())} coordinates are NaN, infinite or out of range "
            f"(first at position {int(np.argmax(bad))}); validate before indexing."
        )
        raise CRSError(msg)
    return _index_chunked(lat, lon, resolution, distinct=distinct)


def _index_chunked(
    lat: np.ndarray, lon: np.ndarray, resolution: int, *, distinct: bool = False
) -> np.ndarray:
    """Index blocks of up to ``_CHUNK`` points on a thread pool, each into its slice of one output.

    Blocks are handed out one at a time, so a thread slowed by another process does not hold
    the others up. With ``distinct``, each thread keeps its own :class:`_CellCache`.
    """
    n = lat.size
    chunk = min(_CHUNK, max(-(-n // _THREADS), _MIN_SPLIT))  # mid-sized inputs use every thread
    if n <= chunk and not distinct:
        return _u64(h3v.coordinates_to_cells(lat, lon, resolution))
    out = np.empty(n, dtype=np.uint64)
    local = threading.local()

    def work(a: int) -> None:
        b = min(a + chunk, n)
        if not distinct:
            out[a:b] = _u64(h3v.coordinates_to_cells(lat[a:b], lon[a:b], resolution), copy=False)
            return
        if not hasattr(local, "cache"):
            local.cache = _CellCache(resolution, size_hint=n)
        local.cache.index(lat[a:b], lon[a:b], out[a:b])

    if n <= chunk:
        work(0)
        return out
    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(work, range(0, n, chunk)))
    return out


class _CellCache:
    """The cells of coordinates seen before, in a direct-mapped table keyed by a hash.

    A lookup hits only where the stored coordinates equal the point's, so the cells are
    exact; misses go to h3ronpy and are stored. With 50,000 map points among 10M crimes,
    about 96 % of lookups hit, and a lookup costs ~15–40 ns (the table is bigger than the
    CPU cache) against ~450 ns for indexing.
    Where points hardly repeat, the cache notices and indexes the rest directly.
    One per thread: writes from two threads could tear a slot.
    """

    _MULTIPLIERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
    _STEP = 1 << 15  # points per lookup: temporaries stay in the CPU cache, the table fills early
    _PROBE = 1 << 18  # lookups before judging the hit rate

    def __init__(self, resolution: int, *, size_hint: int) -> None:
        bits = min(20, max(10, size_hint.bit_length() - 1))  # ~n/2 slots, ≤ 2**20 (24 MB)
        self.resolution = resolution
        self.shift = np.uint64(64 - bits)
        # Zeros cost nothing until touched; cell 0 marks an empty slot.
        self.coords = np.zeros(1 << bits, dtype=np.complex128)  # lat + i·lon
        self.cells = np.zeros(1 << bits, dtype=np.uint64)
        self.lookups = self.hits = 0

    def index(self, lat: np.ndarray, lon: np.ndarray, out: np.ndarray) -> None:
        """Write the cells of ``lat``/``lon`` (contiguous float64) into ``out``."""
        for a in range(0, lat.size, self._STEP):
            if self.lookups >= self._PROBE and self.hits * 16 < self.lookups:
                # Fewer than 1 in 16 points repeat: the lookups cost more than they save.
                cells = h3v.coordinates_to_cells(lat[a:], lon[a:], self.resolution)
                out[a:] = _u64(cells, copy=False)
                return
            b = a + self._STEP
            self._index_step(lat[a:b], lon[a:b], out[a:b])

    def _index_step(self, lat: np.ndarray, lon: np.ndarray, out: np.ndarray) -> None:
        coords = np.empty(lat.size, dtype=np.complex128)
        coords.real, coords.imag = lat, lon
        k1, k2 = self._MULTIPLIERS
        slot = lat.view(np.uint64) * k1
        slot += lon.view(np.uint64) * k2
        slot >>= self.shift
        slot = slot.view(np.intp)
        np.take(self.cells, slot, out=out)
        miss = np.flatnonzero((np.take(self.coords, slot) != coords) | (out == 0))
        self.lookups += lat.size
        self.hits += lat.size - miss.size
        if miss.size == 0:
            return
        new = _u64(h3v.coordinates_to_cells(lat[miss], lon[miss], self.resolution), copy=False)
        out[miss] = new
        # Where misses share a slot one write wins; only points whose coordinates landed
        # store their cell (equal coordinates, equal cells), so every slot stays consistent.
        slot, coords = slot[miss], coords[miss]
        self.coords[slot] = coords
        won = self.coords[slot] == coords
        self.cells[slot[won]] = new[won]


def count_cells(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count each distinct cell: a numpy sort and run lengths (7× faster than ``value_counts``).

    Returns
    -------
    (cells, counts)
        Sorted distinct cells and how often each occurs.
    """
    cells = np.sort(np.asarray(cells, dtype=np.uint64), kind="stable")
    if cells.size == 0:
        return cells, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
    counts = np.diff(np.append(starts, cells.size))
    return cells[starts], counts.astype(np.int64)


def compact_bits(resolution: int) -> int:
    """How many bits :func:`compact_cells` needs at ``resolution`` (7 + 3 × resolution)."""
    return 7 + 3 * _check_resolution(resolution)


def compact_cells(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Squeeze cells of one resolution into their ``7 + 3 × resolution`` significant bits.

    An H3 cell index spends 19 bits on mode and resolution and pads unused digits with ones;
    dropping them leaves room to pack a month and a category beside the cell in one
    ``uint64`` sort key. :func:`expand_cells` is the inverse.
    """
    shift = np.uint64(3 * (15 - _check_resolution(resolution)))
    mask = np.uint64((1 << compact_bits(resolution)) - 1)
    return (np.asarray(cells, dtype=np.uint64) >> shift) & mask


def expand_cells(compact: np.ndarray, resolution: int) -> np.ndarray:
    """Rebuild full H3 cell indexes from :func:`compact_cells` output."""
    resolution = _check_resolution(resolution)
    pad_bits = 3 * (15 - resolution)
    header = np.uint64((1 << 59) | (resolution << 52))  # mode 1 (cell), resolution
    pad = np.uint64((1 << pad_bits) - 1)
    return header | (np.asarray(compact, dtype=np.uint64) << np.uint64(pad_bits)) | pad


def cells_to_hex(cells: np.ndarray) -> np.ndarray:
    """``uint64`` cells to H3 hex strings (object array); 0 becomes ``None``."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=object)
    masked = pa.array(cells, mask=cells == 0)
    return pa.array(h3ronpy.cells_to_string(masked)).to_numpy(zero_copy_only=False)


def cells_from_hex(strings: np.ndarray | list[str] | pd.Series) -> np.ndarray:
    """H3 hex strings to ``uint64`` cells.

    Raises
    ------
    ValueError
        Some strings are not valid H3 cells; the message names the first few.
    """
    values = pa.array(np.asarray(strings, dtype=object), type=pa.string())
    if len(values) == 0:
        return np.empty(0, dtype=np.uint64)
    parsed = pa.array(h3ronpy.cells_parse(values, set_failing_to_invalid=True))
    if parsed.null_count:
        bad = np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False))
        examples = ", ".join(repr(values[int(i)].as_py()) for i in bad[:3])
        msg = f"{bad.size} values are not H3 cells (e.g. {examples})."
        raise ValueError(msg)
    return _u64(parsed)


def cell_resolution(cells: np.ndarray) -> np.ndarray:
    """The resolution of each cell (bits 52..55 of the index)."""
    return ((np.asarray(cells, dtype=np.uint64) >> np.uint64(52)) & np.uint64(0xF)).astype(np.int8)


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Cell boundaries as shapely polygons in WGS84 (lon, lat), in input order."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(h3v.cells_to_wkb_polygons(cells)).to_numpy(zero_copy_only=False)
    return shapely.from_wkb(wkb)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres as ``(lat, lon)`` degree arrays."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.zeros(0), np.zeros(0)
    batch = pa.record_batch(h3v.cells_to_coordinates(cells))
    return (
        batch.column("lat").to_numpy(zero_copy_only=False),
        batch.column("lng").to_numpy(zero_copy_only=False),
    )


def cell_areas_m2(cells: np.ndarray) -> np.ndarray:
    """Exact (spherical) area of each cell in square metres."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.zeros(0)
    return pa.array(h3ronpy.cells_area_m2(cells)).to_numpy(zero_copy_only=False)


def cell_edge_length_m(resolution: int) -> float:
    """Average hexagon edge length at ``resolution`` in metres."""
    return float(h3.average_hexagon_edge_length(_check_resolution(resolution), unit="m"))


def cell_parents(cells: np.ndarray, resolution: int) -> np.ndarray:
    """The parent of each cell at a coarser (or equal) ``resolution``, in input order."""
    resolution = _check_resolution(resolution)
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size and int(cell_resolution(cells).min()) < resolution:
        msg = f"cell_parents needs resolution ≤ the cells' own; {resolution} was given."
        raise ValueError(msg)
    if cells.size == 0:
        return cells.copy()
    return _u64(h3ronpy.change_resolution(cells, resolution))


def cell_children(cells: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The children of each cell at a finer ``resolution``.

    Returns
    -------
    (parent_index, children)
        Flat arrays: ``children[i]`` is a child of ``cells[parent_index[i]]``.
    """
    resolution = _check_resolution(resolution)
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.zeros(0, dtype=np.int64), cells.copy()
    lists = pa.array(h3ronpy.change_resolution_list(cells, resolution))
    lengths = lists.value_lengths().to_numpy(zero_copy_only=False)
    return np.repeat(np.arange(cells.size), lengths), _u64(lists.flatten())


def grid_disk(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All cells within ``k`` steps of each cell (the cell itself included).

    Returns
    -------
    (origin_index, neighbours)
        Flat arrays: ``neighbours[i]`` lies within ``k`` of ``cells[origin_index[i]]``.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if k < 0:
        msg = f"k must be ≥ 0; {k} was given."
        raise ValueError(msg)
    if cells.size == 0:
        return np.zeros(0, dtype=np.int64), cells.copy()
    lists = pa.array(h3ronpy.grid_disk(cells, int(k)))
    lengths = lists.value_lengths().to_numpy(zero_copy_only=False)
    return np.repeat(np.arange(cells.size), lengths), _u64(lists.flatten())


def neighbour_matrix(
    cells: np.ndarray, k: int = 1, *, include_self: bool = True
) -> sparse.csr_matrix:
    """A sparse 0/1 matrix ``W`` with ``W[i, j] = 1`` when ``cells[j]`` is within ``k`` of ``cells[i]``.

    Only cells in ``cells`` appear; build it once and use one product (``W @ X``) for k-ring
    sums of every column at once.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    n = cells.size
    if np.unique(cells).size != n:
        msg = "neighbour_matrix needs distinct cells."
        raise ValueError(msg)
    origin, neighbours = grid_disk(cells, k)
    order = np.argsort(cells, kind="stable")
    pos = np.searchsorted(cells, neighbours, sorter=order)
    pos = np.clip(pos, 0, max(n - 1, 0))
    found = order[pos] if n else pos
    keep = (cells[found] == neighbours) if n else np.zeros(0, dtype=bool)
    if not include_self:
        keep &= found != origin
    data = np.ones(int(keep.sum()), dtype=np.float64)
    return sparse.csr_matrix((data, (origin[keep], found[keep])), shape=(n, n))


def _to_metric(geoms: np.ndarray, metric_crs: str) -> np.ndarray:
    """WGS84 (lon, lat) shapely geometries into ``metric_crs`` (vectorised coordinates)."""
    tr = transformer(WGS84, metric_crs)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def _check_geoms(geoms: object, kinds: tuple[str, ...], what: str) -> np.ndarray:
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return arr
    types = shapely.get_type_id(arr)
    allowed = {"point": (0, 4), "line": (1, 2, 5), "polygon": (3, 6)}
    ok = np.isin(types, [t for k in kinds for t in allowed[k]]) | shapely.is_missing(arr)
    if not ok.all():
        msg = f"{what} accepts {'/'.join(kinds)} geometries; position {int(np.argmin(ok))} is not one."
        raise ValueError(msg)
    return arr


def polygons_to_cells(
    polygons: np.ndarray, *, resolution: int, metric_crs: str = BNG
) -> pd.DataFrame:
    """Cells overlapped by each polygon, with the fraction of each cell it covers.

    Overlap, not H3's centre rule, decides membership, so a park smaller than a cell still
    gets the cells it touches (with a small fraction) instead of vanishing.

    Parameters
    ----------
    polygons
        Shapely (Multi)Polygons in WGS84 (lon, lat). Missing or empty ones give no rows.
    resolution
        H3 resolution.
    metric_crs
        Projected CRS in metres for areas (British National Grid by default).

    Returns
    -------
    pandas.DataFrame
        ``geom`` (position in ``polygons``), ``cell`` (uint64), ``overlap_m2`` and
        ``fraction`` (share of the cell's area inside the polygon, 0..1), sorted by
        ``geom`` then ``cell``.
    """
    resolution = _check_resolution(resolution)
    geoms = _check_geoms(polygons, ("polygon",), "polygons_to_cells")
    # Candidates: every cell that touches a polygon, plus the ones wholly inside it.
    present = (
        np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
        if geoms.size
        else np.zeros(0, int)
    )
    empty = pd.DataFrame(
        {
            "geom": np.zeros(0, np.int64),
            "cell": np.zeros(0, np.uint64),
            "overlap_m2": [],
            "fraction": [],
        }
    )
    if present.size == 0:
        return empty
    wkb = shapely.to_wkb(geoms[present])
    touching = pa.array(
        h3v.wkb_to_cells(wkb, resolution, h3ronpy.ContainmentMode.IntersectsBoundary)
    )
    inside = pa.array(h3v.wkb_to_cells(wkb, resolution, h3ronpy.ContainmentMode.ContainsBoundary))
    t_geom = present[
        np.repeat(np.arange(present.size), touching.value_lengths().to_numpy(zero_copy_only=False))
    ]
    t_cell = _u64(touching.flatten())
    i_geom = present[
        np.repeat(np.arange(present.size), inside.value_lengths().to_numpy(zero_copy_only=False))
    ]
    i_cell = _u64(inside.flatten())
    # Cells wholly inside cover fraction 1; only boundary cells need an intersection.
    key_t = pd.MultiIndex.from_arrays([t_geom, t_cell])
    key_i = pd.MultiIndex.from_arrays([i_geom, i_cell])
    edge = ~key_t.isin(key_i)
    cells_u, inv = np.unique(np.concatenate([t_cell, i_cell]), return_inverse=True)
    cell_metric = _to_metric(cell_polygons(cells_u), metric_crs)
    cell_area = shapely.area(cell_metric)
    geom_metric = np.empty(geoms.size, dtype=object)
    geom_metric[present] = _to_metric(geoms[present], metric_crs)
    t_idx = inv[: t_cell.size]
    overlap = np.zeros(t_cell.size)
    overlap[edge] = shapely.area(
        shapely.intersection(geom_metric[t_geom[edge]], cell_metric[t_idx[edge]])
    )
    overlap[~edge] = cell_area[t_idx[~edge]]
    out = pd.DataFrame(
        {
            "geom": t_geom.astype(np.int64),
            "cell": t_cell,
            "overlap_m2": overlap,
            "fraction": np.clip(overlap / cell_area[t_idx], 0.0, 1.0),
        }
    )
    out = out[out["overlap_m2"] > 0].drop_duplicates(["geom", "cell"])
    return out.sort_values(["geom", "cell"], kind="stable").reset_index(drop=True)


def lines_to_cells(lines: np.ndarray, *, resolution: int, metric_crs: str = BNG) -> pd.DataFrame:
    """Cells crossed by each line, with the length of line inside each cell.

    Parameters
    ----------
    lines
        Shapely (Multi)LineStrings (or polygon rings) in WGS84 (lon, lat).
    resolution
        H3 resolution.
    metric_crs
        Projected CRS in metres for lengths.

    Returns
    -------
    pandas.DataFrame
        ``geom``, ``cell`` (uint64) and ``length_m``, sorted by ``geom`` then ``cell``; the
        lengths of one line sum to its length in ``metric_crs``.
    """
    resolution = _check_resolution(resolution)
    geoms = _check_geoms(lines, ("line",), "lines_to_cells")
    present = (
        np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
        if geoms.size
        else np.zeros(0, int)
    )
    if present.size == 0:
        return pd.DataFrame(
            {"geom": np.zeros(0, np.int64), "cell": np.zeros(0, np.uint64), "length_m": []}
        )
    metric = np.empty(geoms.size, dtype=object)
    metric[present] = _to_metric(geoms[present], metric_crs)
    # Densify to a third of an edge so every crossed cell holds a vertex or neighbours one.
    step = cell_edge_length_m(resolution) / 3.0
    dense = shapely.segmentize(metric[present], step)
    coords, owner = shapely.get_coordinates(dense, return_index=True)
    lon, lat = transformer(metric_crs, WGS84).transform(coords[:, 0], coords[:, 1])
    vertex_cells = cells_from_points(np.asarray(lat), np.asarray(lon), resolution=resolution)
    pairs = pd.DataFrame({"geom": present[owner], "cell": vertex_cells}).drop_duplicates()
    origin, ring = grid_disk(pairs["cell"].to_numpy(), 1)
    cand = pd.DataFrame({"geom": pairs["geom"].to_numpy()[origin], "cell": ring}).drop_duplicates()
    cells_u, inv = np.unique(cand["cell"].to_numpy(), return_inverse=True)
    cell_metric = _to_metric(cell_polygons(cells_u), metric_crs)
    length = shapely.length(
        shapely.intersection(metric[cand["geom"].to_numpy()], cell_metric[inv.ravel()])
    )
    out = pd.DataFrame(
        {
            "geom": cand["geom"].to_numpy().astype(np.int64),
            "cell": cand["cell"].to_numpy(),
            "length_m": length,
        }
    )
    out = out[out["length_m"] > 0]
    return out.sort_values(["geom", "cell"], kind="stable").reset_index(drop=True)
