"""Places into cells and onto incidents: tiny hand-made geometries with known answers."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from geojtai import grid, places
from geojtai.crs import BNG, WGS84, wgs84_to_bng
from geojtai.layers import load_layer_specs

SPECS = load_layer_specs()
BY = {s.name: s for s in SPECS}
# A spot in the Midlands, in BNG metres.
X0, Y0 = 441_000.0, 288_000.0


def features(rows: list[tuple[str, object, str | None, str | None]]) -> gpd.GeoDataFrame:
    """Raw place features as the readers give them (BNG here)."""
    return gpd.GeoDataFrame(
        {
            "layer": [r[0] for r in rows],
            "name": [r[2] for r in rows],
            "value": [r[3] for r in rows],
            "source": "test.geojson",
            "row": np.arange(1, len(rows) + 1),
            "feature_id": [f"f{i}" for i in range(len(rows))],
        },
        geometry=[r[1] for r in rows],
        crs=BNG,
    )


def cell_in_bng(resolution: int) -> tuple[int, Polygon]:
    lat, lon = np.array([52.48]), np.array([-1.39])
    cell = grid.cells_from_points(lat, lon, resolution=resolution)[0]
    poly = gpd.GeoSeries(grid.cell_polygons(np.array([cell])), crs=WGS84).to_crs(BNG).iloc[0]
    return int(cell), poly


# --------------------------------------------------------------------------- prepare


def test_prepare_shapes_each_feature_for_its_layer_and_keeps_rejects() -> None:
    bowtie = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    raw = features(
        [
            ("parks", box(X0, Y0, X0 + 100, Y0 + 100), "Square Park", "park"),
            ("parks", Point(X0, Y0), "Pocket Park", "park"),  # node -> 30 m circle
            ("parks", LineString([(X0, Y0), (X0 + 10, Y0)]), "Path", "park"),  # unusable
            ("parks", None, "Ghost Park", "park"),  # unusable
            ("parks", bowtie, "Bowtie", "park"),  # invalid ring, repaired
            ("streets", box(X0, Y0, X0 + 50, Y0 + 50), "Market Square", "pedestrian"),
            ("licensed_premises", box(X0, Y0, X0 + 20, Y0 + 20), "The Crown", "pub"),
            ("unknown_layer", Point(X0, Y0), "x", None),
        ]
    )
    kept, rejects = places.prepare_places(raw, SPECS)
    assert kept.crs.to_epsg() == 27700
    assert kept["name"].tolist() == [
        "Square Park",
        "Pocket Park",
        "Bowtie",
        "Market Square",
        "The Crown",
    ]
    area = dict(zip(kept["name"], kept.geometry.area, strict=True))
    assert area["Square Park"] == pytest.approx(10_000)
    assert area["Pocket Park"] == pytest.approx(math.pi * 30**2, rel=0.01)
    assert area["Bowtie"] == pytest.approx(5_000)  # two triangles of 2,500 m²
    assert kept.geometry.is_valid.all()
    square = kept[kept["name"] == "Market Square"].geometry.iloc[0]
    assert square.geom_type in ("LineString", "MultiLineString") and square.length == 200
    crown = kept[kept["name"] == "The Crown"].geometry.iloc[0]
    assert crown.geom_type == "Point" and box(X0, Y0, X0 + 20, Y0 + 20).contains(crown)
    assert kept.loc[kept["name"] == "Market Square", "class"].item() == "pedestrian"
    assert rejects[["row", "reason"]].values.tolist() == [
        [3, "wrong geometry for the layer"],
        [4, "no geometry"],
    ]
    assert "a line in the polygon layer parks" in rejects["detail"].iloc[0]


def test_prepare_clips_to_the_region() -> None:
    raw = features(
        [
            ("parks", box(X0 - 50, Y0, X0 + 50, Y0 + 100), "Half In", "park"),
            ("parks", box(X0 - 500, Y0, X0 - 400, Y0 + 100), "Outside", "park"),
            ("streets", LineString([(X0 - 100, Y0 + 10), (X0 + 100, Y0 + 10)]), "Long Rd", None),
        ]
    )
    region = box(X0, Y0 - 1000, X0 + 1000, Y0 + 1000)
    kept, rejects = places.prepare_places(raw, SPECS, region=region)
    assert kept["name"].tolist() == ["Half In", "Long Rd"]
    assert kept.geometry.iloc[0].area == pytest.approx(5_000)
    assert kept.geometry.iloc[1].length == pytest.approx(100)
    assert rejects.empty


# --------------------------------------------------------------------------- cells


def test_a_square_park_covering_exactly_half_a_cell() -> None:
    cell, hexagon = cell_in_bng(9)
    half = math.sqrt(hexagon.area / 2)
    c = hexagon.centroid
    park = box(c.x - half / 2, c.y - half / 2, c.x + half / 2, c.y + half / 2)
    assert hexagon.contains(park)
    kept, _ = places.prepare_places(features([("parks", park, "Half Park", "park")]), SPECS)
    table = places.place_cells(kept, SPECS, resolution=9).set_index("cell")
    assert table.index.tolist() == [cell]
    assert table.loc[cell, "frac_parks"] == pytest.approx(0.5, abs=1e-6)
    assert table.loc[cell, "n_parks"] == 1
    assert table.loc[cell, "place_type"] == "parks"
    assert table.loc[cell, "place_name"] == "Half Park"


def test_a_street_of_known_length_across_two_cells() -> None:
    cell, hexagon = cell_in_bng(9)
    ring_origin, ring = grid.grid_disk(np.array([np.uint64(cell)]), 1)
    other = int(ring[ring != np.uint64(cell)][0])
    centres = gpd.GeoSeries(
        grid.cell_polygons(np.array([cell, other], dtype=np.uint64)), crs=WGS84
    ).to_crs(BNG)
    a, b = centres.centroid.iloc[0], centres.centroid.iloc[1]
    street = LineString([(a.x, a.y), (b.x, b.y)])
    kept, _ = places.prepare_places(
        features([("streets", street, "Bridge Street", "primary")]), SPECS
    )
    table = places.place_cells(kept, SPECS, resolution=9).set_index("cell")
    assert sorted(table.index.tolist()) == sorted([cell, other])
    assert table["len_streets_m"].sum() == pytest.approx(street.length, rel=1e-9)
    assert table["len_streets_major_m"].sum() == pytest.approx(street.length, rel=1e-9)
    assert table["len_streets_local_m"].sum() == 0
    # The shared edge bisects the segment between the two centres.
    assert table["len_streets_m"].to_numpy() == pytest.approx([street.length / 2] * 2, rel=0.01)
    assert set(table["place_type"]) == {"streets"}
    assert set(table["place_name"]) == {"Bridge Street"}


def test_a_small_park_never_vanishes_and_overlaps_count_once() -> None:
    # A 12 m square at res 10, off the cell centre: the centre rule would give it no cell.
    cell, hexagon = cell_in_bng(10)
    corner = hexagon.exterior.coords[0]
    c = hexagon.centroid
    px, py = c.x + 0.8 * (corner[0] - c.x), c.y + 0.8 * (corner[1] - c.y)
    tiny = box(px - 6, py - 6, px + 6, py + 6)
    big = box(c.x - 20, c.y - 20, c.x + 20, c.y + 20)
    raw = features(
        [
            ("parks", tiny, "Tiny Garden", "garden"),
            ("parks", big, "Big Park", "park"),
            ("parks", big, "Big Park (duplicate)", "park"),
        ]
    )
    kept, _ = places.prepare_places(raw, SPECS)
    table = places.place_cells(kept, SPECS, resolution=10)
    assert len(table) >= 1
    total_park_m2 = (table["frac_parks"] * hexagon.area).sum()
    # 40 m square counted once (not twice) plus the tiny one, all inside this and nearby cells.
    assert total_park_m2 == pytest.approx(1600 + 144, rel=0.02)
    assert table["n_parks"].max() == 3


def test_point_layers_count_features_per_cell() -> None:
    cell, hexagon = cell_in_bng(9)
    c = hexagon.centroid
    pubs = [Point(c.x + dx, c.y) for dx in (-30, 0, 30)]
    raw = features([("licensed_premises", p, f"Pub {i}", "pub") for i, p in enumerate(pubs)])
    kept, _ = places.prepare_places(raw, SPECS)
    table = places.place_cells(kept, SPECS, resolution=9).set_index("cell")
    assert table.loc[cell, "n_licensed_premises"] == 3
    assert table["n_licensed_premises"].sum() == 3
    # Three overlapping 25 m circles: their union, as a share of the cell.
    union = shapely.union_all([p.buffer(25, quad_segs=8) for p in pubs]).area
    assert table.loc[cell, "frac_licensed_premises"] == pytest.approx(
        union / hexagon.area, rel=0.01
    )


def test_dominant_place_type_needs_a_tenth_of_the_cell() -> None:
    cell, hexagon = cell_in_bng(9)
    c = hexagon.centroid
    side = math.sqrt(0.05 * hexagon.area)  # 5 % park: streets dominate
    raw = features(
        [
            ("parks", box(c.x, c.y, c.x + side, c.y + side), "Small Green", "park"),
            ("streets", LineString([(c.x - 50, c.y - 5), (c.x + 50, c.y - 5)]), "A Rd", None),
        ]
    )
    kept, _ = places.prepare_places(raw, SPECS)
    table = places.place_cells(kept, SPECS, resolution=9).set_index("cell")
    assert table.loc[cell, "place_type"] == "streets"
    assert table.loc[cell, "place_name"] == "A Rd"
    assert places.place_cells(kept.iloc[:0], SPECS, resolution=9).empty


# --------------------------------------------------------------------------- context


@pytest.fixture(scope="module")
def town() -> gpd.GeoDataFrame:
    """A park (100 m square), a shopping centre overlapping its east edge, a street."""
    raw = features(
        [
            ("parks", box(X0, Y0, X0 + 100, Y0 + 100), "Victoria Park", "park"),
            ("shopping_centres", box(X0 + 90, Y0, X0 + 200, Y0 + 100), "The Mall", "mall"),
            ("streets", LineString([(X0 - 500, Y0 - 8), (X0 + 500, Y0 - 8)]), "Mill Lane", None),
            ("licensed_premises", Point(X0 + 600, Y0 + 300), "The Crown", "pub"),
        ]
    )
    return places.prepare_places(raw, SPECS)[0]


CASES = [
    # (x, y, police.uk Location, place_type, place_name, method)
    (X0 + 5, Y0 + 50, None, "parks", "Victoria Park", "geometry"),  # 5 m inside the edge
    (X0 - 5, Y0 + 50, None, "parks", "Victoria Park", "geometry"),  # 5 m outside: tolerance
    (X0 - 15, Y0 + 50, None, "other", None, "none"),  # beyond the 10 m tolerance
    (X0 + 95, Y0 + 50, None, "shopping_centres", "The Mall", "geometry"),  # priority
    (X0 + 95, Y0 + 50, "On or near Park/Open Space", "parks", "Victoria Park", "geometry+text"),
    (X0 + 50, Y0 + 2, None, "parks", "Victoria Park", "geometry"),  # park beats street
    (X0 + 50, Y0 + 2, "On or near Mill Lane", "streets", "Mill Lane", "geometry+text"),
    (X0 - 300, Y0 - 8, None, "streets", "Mill Lane", "geometry"),
    (X0 - 300, Y0 - 8, "On or near Supermarket", "shopping_centres", None, "text"),
    (X0 - 300, Y0 - 8, "On or near Parking Area", "other", None, "text"),
    (X0 - 300, Y0 + 400, "On or near High Street", "streets", "High Street", "text"),
    (X0 - 300, Y0 + 400, "On or near Shopping Area", "shopping_centres", None, "text"),
    (X0 - 300, Y0 + 400, "No Location", "other", None, "none"),
    (X0 + 50, Y0 + 50, "On or near Shopping Area", "parks", "Victoria Park", "geometry"),
    # Near a pub (a point place): police.uk's label of the snap point decides.
    (X0 + 605, Y0 + 300, None, "licensed_premises", "The Crown", "geometry"),
    (X0 + 605, Y0 + 300, "On or near Nightclub", "licensed_premises", "The Crown", "geometry+text"),
    (X0 + 605, Y0 + 300, "On or near High Street", "streets", "High Street", "text"),
    (X0 + 605, Y0 + 300, "On or near Petrol Station", "other", None, "text"),
]


@pytest.mark.parametrize(("x", "y", "text", "kind", "name", "method"), CASES)
def test_place_context_rule(
    town: gpd.GeoDataFrame,
    x: float,
    y: float,
    text: str | None,
    kind: str,
    name: str | None,
    method: str,
) -> None:
    got = places.incident_context(
        np.array([x]), np.array([y]), town, SPECS, location=np.array([text], dtype=object)
    )
    assert got.iloc[0].tolist() == [kind, name, method]


def test_context_is_vectorised_over_repeated_points(town: gpd.GeoDataFrame) -> None:
    xs = np.array([c[0] for c in CASES] * 50)
    ys = np.array([c[1] for c in CASES] * 50)
    texts = np.array([c[2] for c in CASES] * 50, dtype=object)
    got = places.incident_context(xs, ys, town, SPECS, location=texts)
    assert got["place_type"].tolist() == [c[3] for c in CASES] * 50
    assert len(got) == len(CASES) * 50


def test_context_without_places_or_text_is_other(town: gpd.GeoDataFrame) -> None:
    got = places.incident_context(np.array([X0]), np.array([Y0]), town.iloc[:0], SPECS)
    assert got.iloc[0].tolist() == ["other", None, "none"]
    empty = places.incident_context(np.zeros(0), np.zeros(0), town, SPECS)
    assert empty.empty and list(empty.columns) == ["place_type", "place_name", "place_method"]


def test_location_evidence_reads_policeuk_labels() -> None:
    kind, street = places.location_evidence(
        [
            "On or near Park/Open Space",
            "On or near Sports/Recreation Area",
            "On or near Further/Higher Educational Building",
            "On or near Nightclub",
            "On or near Bus/Coach Station",
            "On or near Petrol Station",
            "On or near A6003",
            "No Location",
            None,
        ],
        SPECS,
    )
    assert kind.tolist() == [
        "parks",
        "parks",
        "schools",
        "licensed_premises",
        "transport_hubs",
        "other",
        "streets",
        None,
        None,
    ]
    assert street.tolist()[6] == "A6003"


# --------------------------------------------------------------------------- the question


def test_place_share_overall_and_per_month() -> None:
    share = places.place_share(
        np.array(["parks", "streets", "streets", "other"], dtype=object),
        np.array(["2024-01", "2024-01", "2024-02", "2024-02"], dtype=object),
        np.array([10.0, 30.0, 20.0, 40.0]),
        ["parks", "streets", "schools"],
    )
    overall = share[share["period"] == "all"].set_index("place_type")
    assert overall.index.tolist() == ["parks", "streets", "schools", "other"]
    assert overall["incidents"].tolist() == [1, 2, 0, 1]
    assert overall["share_incidents"].tolist() == [0.25, 0.5, 0.0, 0.25]
    assert overall["share_harm"].tolist() == [0.1, 0.5, 0.0, 0.4]
    jan = share[share["period"] == "2024-01"].set_index("place_type")
    assert jan["share_harm"].tolist() == [0.25, 0.75, 0.0, 0.0]
    assert share.groupby("period")["share_incidents"].sum().tolist() == pytest.approx([1, 1, 1])


def test_top_places_ranks_by_incidents_then_harm() -> None:
    top = places.top_places(
        np.array(["parks", "parks", "parks", "streets", "streets", "parks"], dtype=object),
        np.array(["A Park", "B Park", "B Park", "High St", None, "A Park"], dtype=object),
        np.array([1.0, 1.0, 1.0, 5.0, 5.0, 9.0]),
        n=1,
    )
    assert top.values.tolist() == [
        ["parks", 1, "A Park", 2, 10.0],
        ["streets", 1, "High St", 1, 5.0],
    ]


def test_bng_helper_agrees_with_crs_module() -> None:
    x, y = wgs84_to_bng(np.array([52.48]), np.array([-1.39]))
    assert 400_000 < float(x[0]) < 500_000 and 250_000 < float(y[0]) < 300_000
