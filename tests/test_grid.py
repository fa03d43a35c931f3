from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import grid
from geojtai.crs import BNG, bng_to_wgs84, transformer
from geojtai.errors import CRSError

LONDON = (51.5, -0.1)


def one_cell(resolution: int = 9) -> np.ndarray:
    return grid.cells_from_points(
        np.array([LONDON[0]]), np.array([LONDON[1]]), resolution=resolution
    )


def test_known_cell_and_hex_round_trip() -> None:
    cell = one_cell()
    assert grid.cells_to_hex(cell).tolist() == ["89194ad3353ffff"]
    assert grid.cells_from_hex(grid.cells_to_hex(cell)).tolist() == cell.tolist()
    assert grid.cell_resolution(cell).tolist() == [9]


def test_bad_hex_is_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        grid.cells_from_hex(["89194ad3353ffff", "nope"])


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(np.nan, 0.0), (51.0, np.inf), (91.0, 0.0), (51.0, 181.0), (-90.5, 0.0)],
)
def test_invalid_coordinates_raise(lat: float, lon: float) -> None:
    with pytest.raises(CRSError, match="NaN, infinite or out of range"):
        grid.cells_from_points(np.array([lat]), np.array([lon]), resolution=9)


@pytest.mark.parametrize("resolution", [-1, 16, 9.5])
def test_bad_resolution(resolution: object) -> None:
    with pytest.raises(ValueError, match="resolution"):
        grid.cells_from_points(np.array([51.0]), np.array([0.0]), resolution=resolution)  # type: ignore[arg-type]


def test_empty_inputs() -> None:
    empty = np.zeros(0)
    assert grid.cells_from_points(empty, empty, resolution=9).size == 0
    assert grid.cells_to_hex(np.zeros(0, np.uint64)).size == 0
    assert grid.cell_polygons(np.zeros(0, np.uint64)).size == 0
    assert len(grid.polygons_to_cells(np.array([], dtype=object), resolution=9)) == 0
    assert len(grid.lines_to_cells([None], resolution=9)) == 0


@pytest.mark.parametrize("resolution", [6, 9, 12])
def test_distinct_path_matches_plain(resolution: int) -> None:
    rng = np.random.default_rng(0)
    lat = np.repeat(rng.uniform(51, 52, 50), 7)
    lon = np.repeat(rng.uniform(-1, 0, 50), 7)
    plain = grid.cells_from_points(lat, lon, resolution=resolution)
    assert np.array_equal(
        plain, grid.cells_from_points(lat, lon, resolution=resolution, distinct=True)
    )


def test_chunked_threads_match_single_call(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(50, 55, 5000), rng.uniform(-3, 1, 5000)
    whole = grid.cells_from_points(lat, lon, resolution=10)
    monkeypatch.setattr(grid, "_CHUNK", 333)
    assert np.array_equal(whole, grid.cells_from_points(lat, lon, resolution=10))


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(49.9, 60.9),
    lon=st.floats(-8.0, 1.8),
    resolution=st.integers(6, 12),
)
def test_point_lies_in_its_cell_polygon(lat: float, lon: float, resolution: int) -> None:
    cell = grid.cells_from_points(np.array([lat]), np.array([lon]), resolution=resolution)
    polygon = grid.cell_polygons(cell)[0]
    # Boundary points may fall either side; allow a micro-degree of slack.
    assert polygon.buffer(1e-9).covers(shapely.Point(lon, lat))


def test_compact_round_trip_all_resolutions() -> None:
    rng = np.random.default_rng(2)
    lat, lon = rng.uniform(-80, 80, 2000), rng.uniform(-180, 180, 2000)
    for r in range(16):
        cells = grid.cells_from_points(lat, lon, resolution=r)
        packed = grid.compact_cells(cells, r)
        assert int(packed.max()) < (1 << grid.compact_bits(r))
        assert np.array_equal(grid.expand_cells(packed, r), cells)


def test_count_cells() -> None:
    cells = np.array([5, 3, 5, 5, 3, 9], dtype=np.uint64)
    uniq, counts = grid.count_cells(cells)
    assert uniq.tolist() == [3, 5, 9]
    assert counts.tolist() == [2, 3, 1]


def test_parents_and_children() -> None:
    cell = one_cell(9)
    parent = grid.cell_parents(cell, 7)
    assert grid.cell_resolution(parent).tolist() == [7]
    origin, children = grid.cell_children(parent, 9)
    assert children.size == 49 and set(origin.tolist()) == {0}
    assert cell[0] in set(children.tolist())
    with pytest.raises(ValueError, match="resolution"):
        grid.cell_parents(parent, 9)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_grid_disk_sizes(k: int) -> None:
    origin, ring = grid.grid_disk(one_cell(), k)
    assert ring.size == 1 + 3 * k * (k + 1)
    assert (origin == 0).all()


def test_neighbour_matrix() -> None:
    _, disk = grid.grid_disk(one_cell(), 2)
    w = grid.neighbour_matrix(disk, 1)
    assert (w != w.T).nnz == 0
    centre = int(np.flatnonzero(disk == one_cell()[0])[0])
    assert w[centre].sum() == 7  # itself and its six neighbours
    assert grid.neighbour_matrix(disk, 1, include_self=False)[centre].sum() == 6
    with pytest.raises(ValueError, match="distinct"):
        grid.neighbour_matrix(np.concatenate([disk, disk[:1]]), 1)


def test_polygon_equal_to_a_cell_covers_it_exactly() -> None:
    cell = one_cell(9)
    polygon = grid.cell_polygons(cell)[0]
    out = grid.polygons_to_cells(np.array([polygon]), resolution=9)
    row = out[out["cell"] == cell[0]]
    assert row["fraction"].iloc[0] == pytest.approx(1.0, abs=1e-9)
    assert np.max(out["fraction"].drop(row.index).to_numpy(), initial=0.0) < 1e-6


def test_half_cell_polygon_has_fraction_one_half() -> None:
    cell = one_cell(9)
    polygon = grid.cell_polygons(cell)[0]
    lat, lon = grid.cell_centres(cell)
    # Cut the hexagon through its centre along a meridian: two halves of equal area.
    west = shapely.intersection(polygon, shapely.box(lon[0] - 1, lat[0] - 1, lon[0], lat[0] + 1))
    out = grid.polygons_to_cells(np.array([west]), resolution=9)
    assert out.loc[out["cell"] == cell[0], "fraction"].iloc[0] == pytest.approx(0.5, abs=0.01)


def test_tiny_park_keeps_its_cell() -> None:
    # A 20 m square park, far smaller than a res-10 cell, still gets the cell it sits in.
    e, n = 530000.0, 180000.0
    ring = np.array([[e, n], [e + 20, n], [e + 20, n + 20], [e, n + 20]])
    lat, lon = bng_to_wgs84(ring[:, 0], ring[:, 1])
    park = shapely.Polygon(np.column_stack([lon, lat]))
    out = grid.polygons_to_cells(np.array([park]), resolution=10)
    assert len(out) >= 1
    assert out["overlap_m2"].sum() == pytest.approx(400.0, rel=0.01)


def test_line_lengths_sum_to_line_length() -> None:
    e0, n0 = 530000.0, 180000.0
    lat, lon = bng_to_wgs84(np.array([e0, e0 + 1000.0]), np.array([n0, n0 + 10.0]))
    line = shapely.LineString(np.column_stack([lon, lat]))
    out = grid.lines_to_cells(np.array([line]), resolution=9)
    tr = transformer("EPSG:4326", BNG)
    x, y = tr.transform(lon, lat)
    assert out["length_m"].sum() == pytest.approx(
        float(np.hypot(np.diff(x), np.diff(y))[0]), rel=1e-6
    )
    assert len(out) >= 3  # ~1 km crosses several ~350 m-wide cells
    assert out["cell"].is_unique


def test_line_between_two_cell_centres_splits_in_two() -> None:
    cell = one_cell(9)
    _, ring = grid.grid_disk(cell, 1)
    neighbour = next(c for c in ring if c != cell[0])
    lat, lon = grid.cell_centres(np.array([cell[0], neighbour], dtype=np.uint64))
    line = shapely.LineString(np.column_stack([lon, lat]))
    out = grid.lines_to_cells(np.array([line]), resolution=9)
    assert set(out["cell"].tolist()) == {int(cell[0]), int(neighbour)}
    a, b = out["length_m"].to_numpy()
    assert a == pytest.approx(b, rel=0.01)


def test_wrong_geometry_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="polygon"):
        grid.polygons_to_cells(np.array([shapely.Point(0, 51)]), resolution=9)
