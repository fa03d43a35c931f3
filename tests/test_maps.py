"""geojtai.maps: offline folium maps of H3 cells, fast GeoJSON, class breaks."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    box,
)

from geojtai import grid, maps
from geojtai.errors import CRSError
from geojtai.maps import (
    CLASS_WEIGHT,
    cell_map,
    cells_geojson,
    class_breaks,
    colour_ramp,
    places_geojson,
)

# Any http(s) URL that is not this machine.
EXTERNAL_URL = re.compile(r"https?://(?!(?:localhost|127\.0\.0\.1)[:/])[^\s\"'<>)]+")
ASSET_URL = "/static/vendor/leaflet"
LOCAL_TILES = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"
COUNTS = [1, 2, 3, 5, 8, 11]


def tiny_cells() -> gpd.GeoDataFrame:
    """Six res-9 cells about 700 m apart in a made-up town, with counts 1, 2, 3, 5, 8, 11."""
    lat = 52.0 + 0.006 * np.arange(len(COUNTS))
    lon = -1.0 + 0.004 * np.arange(len(COUNTS))
    cells = grid.cells_from_points(lat, lon, resolution=9)
    return gpd.GeoDataFrame(
        {
            "h3": grid.cells_to_hex(cells),
            "count": np.array(COUNTS, dtype=np.int64),
            "harm": np.array(COUNTS, dtype=float) * 1.5,
        },
        geometry=grid.cell_polygons(cells),
        crs="EPSG:4326",
    )


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    return tiny_cells()


def render(m: folium.Map) -> str:
    return m.get_root().render()


def embedded_data(html: str) -> dict:
    """The FeatureCollection the page parses and hands to ``L.geoJSON``."""
    found = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html)
    assert len(found) == 1
    data_id, text = found[0]
    assert f"document.getElementById({json.dumps(data_id)})" in html
    return json.loads(text)


# -- the map page ---------------------------------------------------------------------------


def test_map_shows_every_cell(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="Tinytown"))
    assert all(h in html for h in cells["h3"])
    features = embedded_data(html)["features"]
    assert [f["properties"]["h3"] for f in features] == cells["h3"].tolist()
    assert [f["properties"]["value"] for f in features] == COUNTS


def test_map_loads_only_local_leaflet(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="Tinytown", asset_url=ASSET_URL))
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html)
    links = re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", html)
    assert scripts == [f"{ASSET_URL}/leaflet.js"]
    assert links == [f"{ASSET_URL}/leaflet.css"]
    assert EXTERNAL_URL.findall(html) == []
    for absent in ("jquery", "bootstrap", "awesome", "fontawesome", "cdn"):
        assert absent not in html.lower()


def test_map_does_not_touch_folium_defaults(cells: gpd.GeoDataFrame) -> None:
    before_js, before_css = list(folium.Map.default_js), list(folium.Map.default_css)
    cell_map(cells, title="x", asset_url="/assets/leaflet")
    assert folium.Map.default_js == before_js
    assert folium.Map.default_css == before_css


def test_no_tiles_means_no_tile_layer(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x", tiles=None))
    assert "L.tileLayer" not in html
    assert "L.geoJSON" in html


def test_tiles_are_added_with_attribution(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x", tiles=LOCAL_TILES, attribution="Local tiles"))
    assert html.count("L.tileLayer") == 1
    assert "127.0.0.1:8080/tiles/{z}/{x}/{y}.png" in html
    assert "Local tiles" in html
    assert EXTERNAL_URL.findall(html) == []


def test_osm_tiles_get_their_attribution_by_default(cells: gpd.GeoDataFrame) -> None:
    osm = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    html = render(cell_map(cells, title="x", tiles=osm))
    assert "OpenStreetMap contributors" in html
    # Opting in to OSM is the one way a map may reach off the machine.
    assert EXTERNAL_URL.findall(html) == [osm]


def test_custom_tiles_need_an_attribution(cells: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="need an attribution"):
        cell_map(cells, title="x", tiles=LOCAL_TILES)


def test_map_shares_its_canvas_with_page_scripts(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x"))
    assert "window.geojtaiMap = map" in html
    assert "map.options.renderer = L.canvas(" in html
    assert "renderer: renderer" in html


def test_map_uses_canvas_and_properties_not_style_function(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x"))
    assert "L.canvas(" in html
    assert "p.fill" in html and "var p = f.properties" in html
    fills = [f["properties"]["fill"] for f in embedded_data(html)["features"]]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in fills)


def test_colours_follow_the_values(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x", k=3))
    features = embedded_data(html)["features"]
    palette = colour_ramp(3)
    order = [palette.index(f["properties"]["fill"]) for f in features]  # counts ascend
    assert order == sorted(order)
    assert order[0] == 0 and order[-1] == 2


def test_map_fits_the_cells(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x"))
    minx, miny, maxx, maxy = cells.total_bounds
    fit = re.search(r"fitBounds\(\s*\[\[([-\d.]+), ([-\d.]+)\], \[([-\d.]+), ([-\d.]+)\]\]", html)
    assert fit is not None
    assert [float(v) for v in fit.groups()] == pytest.approx([miny, minx, maxy, maxx])


def test_legend_and_title(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="Robbery & violence", value="harm"))
    assert "Robbery \\u0026amp; violence" in html  # escaped HTML inside a JS string
    assert "geojtai-legend" in html
    for colour in colour_ramp(len(class_breaks(cells["harm"]))):
        assert colour in html


def test_legend_labels_read_as_count_ranges(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x"))
    start = html.index('box("bottomright", ') + len('box("bottomright", ')
    legend, _ = json.JSONDecoder().raw_decode(html, start)
    labels = re.findall(r"</i>([^<]*)</div>", legend)
    assert labels == ["1–2", "3", "4–5", "6–8", "9–11"]


def test_title_is_neither_html_nor_a_template(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="<script>alert(1)</script> {{ 7 * 7 }}"))
    assert "<script>alert(1)" not in html
    assert "{{ 7 * 7 }}" in html


def test_empty_cells_give_a_clear_map(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells.iloc[:0], title="Nothing here"))
    assert "No cells to show" in html
    assert "L.geoJSON" not in html
    assert "application/json" not in html
    assert "L.map(" in html
    assert EXTERNAL_URL.findall(html) == []


def test_map_does_not_change_its_input(cells: gpd.GeoDataFrame) -> None:
    before = cells.copy()
    cell_map(cells, title="x")
    assert cells.equals(before)


def test_other_crs_is_converted(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells.to_crs(27700), title="x"))
    first = embedded_data(html)["features"][0]["geometry"]["coordinates"][0][0]
    assert first[1] == pytest.approx(52.0, abs=0.01)


def test_missing_crs_is_an_error(cells: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="no CRS"):
        cell_map(cells.set_crs(None, allow_override=True), title="x")


@pytest.mark.parametrize("value", ["risk", "h3"])
def test_value_must_be_a_numeric_column(cells: gpd.GeoDataFrame, value: str) -> None:
    with pytest.raises(ValueError, match=r"\['count', 'harm'\]"):
        cell_map(cells, title="x", value=value)


def test_missing_values_are_grey(cells: gpd.GeoDataFrame) -> None:
    cells["harm"] = cells["harm"].astype(float)
    cells.loc[0, "harm"] = np.nan
    html = render(cell_map(cells, title="x", value="harm"))
    features = embedded_data(html)["features"]
    assert features[0]["properties"]["value"] is None
    assert features[0]["properties"]["fill"] == "#bdbdbd"
    assert "no value" in html


# -- class breaks and colours --------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "k", "expected"),
    [
        ([1, 1, 1, 2, 3, 5, 8, 13], 4, [1, 2, 5, 13]),
        ([4, 4, 4], 5, [4]),
        ([0, 10], 2, [0, 10]),
        ([], 5, []),
        ([np.nan, 2.0, np.nan], 3, [2.0]),
    ],
)
def test_class_breaks_known(values: list[float], k: int, expected: list[float]) -> None:
    assert class_breaks(values, k).tolist() == expected


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200),
    st.integers(min_value=1, max_value=9),
)
def test_class_breaks_are_monotone(values: list[float], k: int) -> None:
    breaks = class_breaks(values, k)
    assert np.all(np.diff(breaks) > 0)
    assert breaks.size <= k
    if values:
        assert breaks[-1] == max(values)
        assert set(breaks.tolist()) <= set(values)


def test_class_breaks_need_a_class() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        class_breaks([1, 2], 0)


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_colour_ramp_darkens(n: int) -> None:
    ramp = colour_ramp(n)
    assert len(ramp) == n
    lightness = [sum(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in ramp]
    assert lightness == sorted(lightness, reverse=True)


# -- GeoJSON -------------------------------------------------------------------------------


def test_cells_geojson_round_trips(cells: gpd.GeoDataFrame) -> None:
    data = json.loads(cells_geojson(cells, properties=["h3", "count", "harm"]))
    assert data["type"] == "FeatureCollection"
    back = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert back["h3"].tolist() == cells["h3"].tolist()
    assert back["count"].tolist() == COUNTS
    assert shapely.equals_exact(back.geometry.values, cells.geometry.values, tolerance=1e-6).all()


def test_cells_geojson_rounds_to_6_dp(cells: gpd.GeoDataFrame) -> None:
    text = cells_geojson(cells).decode()
    decimals = [len(d) for d in re.findall(r"-?\d+\.(\d+)", text)]
    assert decimals and max(decimals) <= 6


def test_cells_geojson_other_geometries() -> None:
    holed = box(0, 50, 1, 51).difference(box(0.4, 50.4, 0.6, 50.6))
    multi = MultiPolygon([box(0, 50, 0.1, 50.1), box(0.2, 50, 0.3, 50.1)])
    frame = gpd.GeoDataFrame(
        {"h3": ["a", "b", "c", "d"], "count": [1.0, 2.0, 3.0, np.nan]},
        geometry=[holed, multi, None, Polygon()],
        crs="EPSG:4326",
    )
    features = json.loads(cells_geojson(frame))["features"]
    assert features[0]["geometry"]["type"] == "Polygon"
    assert len(features[0]["geometry"]["coordinates"]) == 2  # exterior and the hole
    assert features[1]["geometry"]["type"] == "MultiPolygon"
    assert len(features[1]["geometry"]["coordinates"]) == 2
    assert features[2]["geometry"] is None and features[3]["geometry"] is None
    assert features[3]["properties"] == {"h3": "d", "count": None}


def test_cells_geojson_names_missing_columns(cells: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="'risk'"):
        cells_geojson(cells, properties=["h3", "risk"])


def test_cells_geojson_empty(cells: gpd.GeoDataFrame) -> None:
    assert json.loads(cells_geojson(cells.iloc[:0])) == {
        "type": "FeatureCollection",
        "features": [],
    }


def test_cells_geojson_refuses_other_geometries(cells: gpd.GeoDataFrame) -> None:
    lines = cells.set_geometry(cells.geometry.boundary)
    with pytest.raises(ValueError, match="Cells must be polygons; position 0"):
        cells_geojson(lines)


# -- place layers --------------------------------------------------------------------------

PARK_STYLE = {"colour": "#2e7d32", "fill_colour": "#66bb6a", "fill_opacity": 0.35, "weight": 1}
STREET_STYLE = {"colour": "#616161", "fill_opacity": 0, "weight": 1.5}
PUB_STYLE = {"colour": "#c62828", "fill_opacity": 0.8, "weight": 1, "radius": 4}


def tiny_places(geometries: Sequence[Any], **columns: Sequence[Any]) -> gpd.GeoDataFrame:
    n = len(geometries)
    data = {"name": [f"place {i}" for i in range(n)], "value": ["x"] * n, "class": [None] * n}
    return gpd.GeoDataFrame({**data, **columns}, geometry=geometries, crs="EPSG:4326")


def test_places_geojson_polygons() -> None:
    park = box(-1.0, 52.0, -0.99, 52.01)
    frame = tiny_places([park], name=["Victoria Park"], value=["park"])
    feature = json.loads(places_geojson(frame, kind="polygon", style=PARK_STYLE))["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert shapely.equals_exact(shapely.geometry.shape(feature["geometry"]), park, tolerance=1e-9)
    assert feature["properties"] == {
        "name": "Victoria Park",
        "value": "park",
        "class": None,
        "colour": "#2e7d32",
        "fill": "#66bb6a",
        "fill_opacity": 0.35,
        "weight": 1.0,
    }


def test_places_geojson_lines_weigh_by_class() -> None:
    line = LineString([(-1.0, 52.0), (-0.99, 52.005), (-0.98, 52.0)])
    frame = tiny_places(
        [line, line, line], **{"class": ["major", "pedestrian", "other"], "value": ["primary"] * 3}
    )
    features = json.loads(places_geojson(frame, kind="line", style=STREET_STYLE))["features"]
    assert [f["geometry"]["type"] for f in features] == ["LineString"] * 3
    assert features[0]["geometry"]["coordinates"] == [list(c) for c in line.coords]
    weights = [f["properties"]["weight"] for f in features]
    expected = [1.5 * CLASS_WEIGHT["major"], 1.5 * CLASS_WEIGHT["pedestrian"], 1.5]
    assert weights == pytest.approx(expected)
    assert weights[0] > weights[2] > weights[1]
    assert {f["properties"]["fill_opacity"] for f in features} == {0.0}
    assert {f["properties"]["fill"] for f in features} == {"#616161"}  # no fill_colour: colour


def test_places_geojson_points_have_a_radius() -> None:
    frame = tiny_places([Point(-1.5, 52.4), Point(-1.6, 52.5)], name=["The Bell", None])
    features = json.loads(places_geojson(frame, kind="point", style=PUB_STYLE))["features"]
    assert [f["geometry"] for f in features] == [
        {"type": "Point", "coordinates": [-1.5, 52.4]},
        {"type": "Point", "coordinates": [-1.6, 52.5]},
    ]
    assert [f["properties"]["name"] for f in features] == ["The Bell", None]
    assert {f["properties"]["radius"] for f in features} == {4.0}


def test_places_geojson_multipart_and_holed_geometries() -> None:
    holed = box(0, 50, 1, 51).difference(box(0.4, 50.4, 0.6, 50.6))
    assert isinstance(holed, Polygon)
    geometries = [
        MultiLineString([[(0, 50), (0.1, 50.1)], [(0.2, 50), (0.3, 50.1)]]),
        MultiPolygon([holed, box(2, 50, 2.1, 50.1)]),
        holed,
        MultiPoint([(0, 50), (0.1, 50.1)]),
        GeometryCollection([Point(0, 50), LineString([(0, 50), (0.1, 50)])]),
        None,
        LineString(),
    ]
    frame = tiny_places(geometries)
    features = json.loads(places_geojson(frame, kind="line", style=STREET_STYLE))["features"]
    back = [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in features]
    for got, want in zip(back[:5], geometries[:5], strict=True):
        assert shapely.equals_exact(got, want, tolerance=1e-9), (got, want)
    assert back[5:] == [None, None]
    assert len(features[2]["geometry"]["coordinates"]) == 2  # exterior and the hole


def test_places_geojson_rounds_and_converts_crs() -> None:
    frame = tiny_places([Point(-1.123456789, 52.987654321)]).to_crs(27700)
    text = places_geojson(frame, kind="point", style=PUB_STYLE).decode()
    decimals = [len(d) for d in re.findall(r"-?\d+\.(\d+)", text)]
    assert max(decimals) <= 6
    x, y = json.loads(text)["features"][0]["geometry"]["coordinates"]
    assert (x, y) == pytest.approx((-1.123457, 52.987654), abs=2e-6)


def test_places_geojson_missing_columns_are_null() -> None:
    frame = gpd.GeoDataFrame({"name": [np.nan]}, geometry=[Point(-1.5, 52.4)], crs="EPSG:4326")
    properties = json.loads(places_geojson(frame, kind="point", style=PUB_STYLE))["features"][0][
        "properties"
    ]
    assert properties["name"] is None and properties["value"] is None
    assert properties["class"] is None


def test_places_geojson_empty() -> None:
    data = json.loads(places_geojson(tiny_places([]), kind="polygon", style=PARK_STYLE))
    assert data == {"type": "FeatureCollection", "features": []}


def test_places_geojson_checks_its_arguments() -> None:
    frame = tiny_places([Point(-1.5, 52.4)])
    with pytest.raises(ValueError, match=r"\['polygon', 'line', 'point'\]"):
        places_geojson(frame, kind="area", style=PARK_STYLE)
    with pytest.raises(ValueError, match="colour"):
        places_geojson(frame, kind="point", style={"weight": 1})
    with pytest.raises(CRSError, match="no CRS"):
        places_geojson(frame.set_crs(None, allow_override=True), kind="point", style=PUB_STYLE)


def test_places_geojson_does_not_change_its_input() -> None:
    frame = tiny_places([Point(-1.5, 52.4)]).to_crs(27700)
    before = frame.copy()
    places_geojson(frame, kind="point", style=PUB_STYLE)
    assert frame.equals(before) and frame.crs.to_epsg() == 27700


def test_cell_layer_from_cached_geometries_matches_the_geometry_column() -> None:
    """The web's fast path (serialised geometries by id) gives the same GeoJSON."""
    ids = ["89195ca198fffff", "89195ca19c3ffff", "89195ca1983ffff"]
    polygons = grid.cell_polygons(grid.cells_from_hex(ids))
    cells = gpd.GeoDataFrame({"h3": ids, "count": [0, 3, 12]}, geometry=polygons, crs=4326)
    slow = json.loads(maps.cell_layer_geojson(cells, "count"))
    fast = json.loads(
        maps.cell_layer_geojson(
            pd.DataFrame(cells.drop(columns="geometry")), "count", geometries=maps.cell_geometries
        )
    )
    assert fast == slow
    assert [f["properties"]["label"] for f in fast["features"]] == [
        "incidents: 0",
        "incidents: 3",
        "incidents: 12",
    ]


def test_classes_only_withholds_values() -> None:
    ids = ["89195ca198fffff", "89195ca19c3ffff", "89195ca1983ffff"]
    cells = pd.DataFrame({"h3": ids, "risk": [0.1, 0.5, 2.0]})
    data = json.loads(
        maps.cell_layer_geojson(cells, "risk", geometries=maps.cell_geometries, classes_only=True)
    )
    assert all(f["properties"]["value"] is None for f in data["features"])
    assert data["features"][2]["properties"]["label"].endswith("(highest)")
    assert {f["properties"]["fill"] for f in data["features"]} == {
        item["colour"] for item in data["legend"]["items"]
    }
