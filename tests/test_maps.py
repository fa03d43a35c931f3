"""geojtai.maps: offline folium maps of H3 cells, fast GeoJSON, class breaks."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from geojtai import grid
from geojtai.errors import CRSError
from geojtai.maps import cell_map, cells_geojson, class_breaks, colour_ramp

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


def test_map_uses_canvas_and_properties_not_style_function(cells: gpd.GeoDataFrame) -> None:
    html = render(cell_map(cells, title="x"))
    assert "L.canvas(" in html
    assert "f.properties.fill" in html
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
