from __future__ import annotations

import time
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geojtai.crs import BNG, WGS84, bng_to_wgs84
from geojtai.errors import CRSError, InputFileError, SettingsError
from geojtai.io import read_places
from geojtai.io.places import RAW_PLACE_COLUMNS
from geojtai.layers import LayerSpec, load_layer_specs
from geojtai.settings import PlaceInput

COLUMNS = [*RAW_PLACE_COLUMNS, "geometry"]
SQUARE = shapely.box(-0.5, 52.0, -0.49, 52.01)


@pytest.fixture(scope="module")
def specs() -> tuple[LayerSpec, ...]:
    return load_layer_specs()


def _write(frame: gpd.GeoDataFrame, path: Path, **kwargs: object) -> Path:
    frame.to_file(path, **kwargs)
    return path


def _points(xy: list[tuple[float, float]]) -> list[shapely.Point]:
    return [shapely.Point(x, y) for x, y in xy]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of place files: named, aliased, mixed, BNG, zipped Shapefile, and noise."""
    places = tmp_path / "places"
    places.mkdir()
    parks = {"name": ["Cutts Close", "Lost Park"], "leisure": ["park", None]}
    _write(gpd.GeoDataFrame(parks, geometry=[SQUARE, None], crs=WGS84), places / "parks.geojson")
    roads = {"highway": ["primary", "residential"], "name": ["High St", None], "ref": ["A1", "C9"]}
    lines = [shapely.LineString([(-0.5, 52), (-0.4, 52)]), shapely.LineString([(0, 0), (0, 1)])]
    _write(gpd.GeoDataFrame(roads, geometry=lines, crs=WGS84), places / "roads.geojson")
    pois = {"fclass": ["pub", "school", "bench"], "name": ["The Crown", "Catmose", "Seat"]}
    pois["id"] = [11, 12, 13]
    xy = [(-0.1, 51.5), (-0.2, 51.6), (-0.3, 51.7)]
    _write(gpd.GeoDataFrame(pois, geometry=_points(xy), crs=WGS84), places / "pois.geojson")
    # A GeoPackage in British National Grid: a layer named by an alias, and a mixed one.
    mall = gpd.GeoDataFrame({"name": ["Mall"]}, geometry=_points([(530000, 180000)]), crs=BNG)
    _write(mall, places / "extra.gpkg", layer="shopping")
    school = {"amenity": ["school"], "name": ["St Mary"]}
    misc = gpd.GeoDataFrame(school, geometry=_points([(531000, 181000)]), crs=BNG)
    _write(misc, places / "extra.gpkg", layer="misc")
    # OS Open Greenspace style, zipped: the inner layer's name says nothing, the zip's does.
    shp = tmp_path / "shp"
    shp.mkdir()
    green = {"function": ["Public Park Or Garden", "Golf Course"], "distName1": ["Rec", "Golf"]}
    _write(gpd.GeoDataFrame(green, geometry=[SQUARE, SQUARE], crs=WGS84), shp / "sites.shp")
    with zipfile.ZipFile(places / "greenspace_test.zip", "w") as archive:
        for part in sorted(shp.iterdir()):
            archive.write(part, part.name)
    (places / "README.md").write_text("not a place file")
    (places / "counts.csv").write_text("a,b\n1,2\n")
    (places / ".hidden.geojson").write_text("{not json")
    return places


# --------------------------------------------------------------------------- files
def test_folder_of_files(folder: Path, specs: tuple[LayerSpec, ...]) -> None:
    got = read_places([PlaceInput(folder)], specs)
    assert list(got.columns) == COLUMNS
    assert got.crs == WGS84
    table = got[["source", "row", "layer", "value", "name", "feature_id"]].to_numpy().tolist()
    assert table == [
        ["extra.gpkg:shopping", 1, "shopping_centres", None, "Mall", None],  # layers as stored
        ["extra.gpkg:misc", 1, "schools", "school", "St Mary", None],
        ["greenspace_test.zip:sites", 1, "parks", "Public Park Or Garden", "Rec", None],
        ["greenspace_test.zip:sites", 2, "parks", None, "Golf", None],
        ["parks.geojson", 1, "parks", "park", "Cutts Close", None],
        ["parks.geojson", 2, "parks", None, "Lost Park", None],
        ["pois.geojson", 1, "licensed_premises", "pub", "The Crown", "11"],
        ["pois.geojson", 2, "schools", "school", "Catmose", "12"],
        ["roads.geojson", 1, "streets", "primary", "High St", None],
        ["roads.geojson", 2, "streets", "residential", "C9", None],
    ]
    assert got["row"].dtype == "int64"
    assert got["name"].dtype == object


def test_null_geometry_is_kept_and_bng_is_reprojected(
    folder: Path, specs: tuple[LayerSpec, ...]
) -> None:
    got = read_places([PlaceInput(folder)], specs).set_index("source")
    assert got.loc["parks.geojson", "geometry"].isna().tolist() == [False, True]
    lat, lon = bng_to_wgs84([530000.0], [180000.0])
    mall = got.loc["extra.gpkg:shopping", "geometry"]
    assert (mall.x, mall.y) == pytest.approx((lon[0], lat[0]), abs=1e-6)
    assert (mall.x, mall.y) == pytest.approx((-0.128, 51.504), abs=1e-3)


def test_feature_in_several_layers_appears_once_per_layer(
    tmp_path: Path, specs: tuple[LayerSpec, ...]
) -> None:
    frame = {"amenity": ["pub", "pub"], "shop": [None, "mall"]}
    path = _write(
        gpd.GeoDataFrame(frame, geometry=_points([(0, 0), (1, 1)]), crs=WGS84),
        tmp_path / "mixed.geojson",
    )
    got = read_places([PlaceInput(path)], specs)
    rows = got[["row", "layer", "value"]].to_numpy().tolist()
    # Row order first; a row's layers in spec (priority) order.
    assert rows == [
        [1, "licensed_premises", "pub"],
        [2, "shopping_centres", "mall"],
        [2, "licensed_premises", "pub"],
    ]


def test_mixed_file_takes_only_the_geometries_a_layer_takes(
    tmp_path: Path, specs: tuple[LayerSpec, ...]
) -> None:
    # Geofabrik landuse areas share fclass values with roads ("residential").
    frame = {"fclass": ["residential", "residential", "park"]}
    geoms = [SQUARE, shapely.LineString([(0, 0), (1, 1)]), SQUARE]
    path = _write(gpd.GeoDataFrame(frame, geometry=geoms, crs=WGS84), tmp_path / "land.geojson")
    got = read_places([PlaceInput(path)], specs)
    assert got[["row", "layer"]].to_numpy().tolist() == [[2, "streets"], [3, "parks"]]


def test_explicit_layer_takes_the_whole_file(folder: Path, specs: tuple[LayerSpec, ...]) -> None:
    got = read_places([PlaceInput(folder / "pois.geojson", layer="parks")], specs)
    assert got["layer"].tolist() == ["parks"] * 3
    assert got["value"].tolist() == [None, None, None]
    assert got["name"].tolist() == ["The Crown", "Catmose", "Seat"]
    zipped = read_places([PlaceInput(folder / "greenspace_test.zip", layer="parks")], specs)
    assert zipped["value"].tolist() == ["Public Park Or Garden", None]


def test_unknown_layer_lists_the_valid_ones(folder: Path, specs: tuple[LayerSpec, ...]) -> None:
    with pytest.raises(SettingsError, match="'playgrounds'") as info:
        read_places([PlaceInput(folder, layer="playgrounds")], specs)
    assert all(s.name in str(info.value) for s in specs)


def test_bbox_keeps_features_that_intersect_it(folder: Path, specs: tuple[LayerSpec, ...]) -> None:
    # Around the first road and the park square only.
    got = read_places([PlaceInput(folder)], specs, bbox=(-0.55, 51.95, -0.45, 52.05))
    assert got[["source", "row"]].to_numpy().tolist() == [
        ["greenspace_test.zip:sites", 1],
        ["greenspace_test.zip:sites", 2],
        ["parks.geojson", 1],
        ["parks.geojson", 2],  # no geometry: kept for the caller to reject, never dropped
        ["roads.geojson", 1],
    ]
    # Rows stay positions in the file, also when GDAL filters (the GeoPackage in BNG).
    lat, lon = bng_to_wgs84([531000.0], [181000.0])
    box = (lon[0] - 0.001, lat[0] - 0.001, lon[0] + 0.001, lat[0] + 0.001)
    pois = read_places(
        [PlaceInput(folder / "pois.geojson")], specs, bbox=(-0.25, 51.55, -0.15, 51.65)
    )
    school = read_places([PlaceInput(folder / "extra.gpkg")], specs, bbox=box)
    assert pois[["row", "name"]].to_numpy().tolist() == [[2, "Catmose"]]
    assert school[["source", "row", "name"]].to_numpy().tolist() == [
        ["extra.gpkg:misc", 1, "St Mary"]
    ]


def test_empty_inputs_give_an_empty_frame(specs: tuple[LayerSpec, ...]) -> None:
    got = read_places([], specs)
    assert list(got.columns) == COLUMNS
    assert len(got) == 0
    assert got.crs == WGS84


# --------------------------------------------------------------------------- problems
def test_problems_are_collected_and_raised_once(
    tmp_path: Path, specs: tuple[LayerSpec, ...]
) -> None:
    (tmp_path / "table.csv").write_text("a\n1\n")
    inputs = [PlaceInput(tmp_path / "missing.geojson"), PlaceInput(tmp_path / "table.csv")]
    with pytest.raises(InputFileError) as info:
        read_places(inputs, specs)
    assert info.value.problems == [
        f"{tmp_path / 'missing.geojson'}: file not found",
        f"{tmp_path / 'table.csv'}: unsupported place file type; use one of "
        ".osm.pbf, .osm, .geojson.gz, .json.gz, .geojson, .json, .shp.zip, .zip, "
        ".gpkg, .shp, .fgb",
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.geojson", b"hello", "not a readable GeoJSON file"),
        ("extract.osm.pbf", b"not osm", "not a readable OpenStreetMap file"),
        ("broken.gpkg", b"SQLite format 3\x00junk", "not a readable GeoPackage file"),
        ("broken.zip", b"PK\x03\x04junk", "not a readable zipped Shapefile file"),
    ],
)
def test_unreadable_files_name_the_file(
    tmp_path: Path, specs: tuple[LayerSpec, ...], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as info:
        read_places([PlaceInput(path)], specs)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_empty_folder_is_an_error(tmp_path: Path, specs: tuple[LayerSpec, ...]) -> None:
    (tmp_path / "README.md").write_text("x")
    with pytest.raises(InputFileError, match="folder holds no place files"):
        read_places([PlaceInput(tmp_path)], specs)


def test_file_without_crs_is_a_crs_error(tmp_path: Path, specs: tuple[LayerSpec, ...]) -> None:
    frame = gpd.GeoDataFrame({"leisure": ["park"]}, geometry=[SQUARE])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio warns that no CRS is written
        frame.to_file(tmp_path / "parks.shp")
    with pytest.raises(CRSError, match="parks.shp: the file has no coordinate reference"):
        read_places([PlaceInput(tmp_path / "parks.shp")], specs)


# --------------------------------------------------------------------------- OSM
OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="geojtai tests">
  <node id="1" lat="52.00" lon="-0.50"/><node id="2" lat="52.00" lon="-0.49"/>
  <node id="3" lat="52.01" lon="-0.49"/><node id="4" lat="52.01" lon="-0.50"/>
  <node id="5" lat="52.02" lon="-0.50"><tag k="amenity" v="pub"/><tag k="name" v="The Crown"/></node>
  <node id="6" lat="52.03" lon="-0.50"><tag k="railway" v="station"/><tag k="name" v="Oakham"/></node>
  <node id="7" lat="52.04" lon="-0.50"><tag k="amenity" v="bench"/></node>
  <node id="8" lat="52.05" lon="-0.40"/><node id="9" lat="52.05" lon="-0.39"/>
  <node id="10" lat="52.06" lon="-0.39"/>
  <way id="20"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="leisure" v="park"/><tag k="name" v="Cutts Close"/></way>
  <way id="21"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="residential"/><tag k="name" v="Loop Road"/></way>
  <way id="22"><nd ref="4"/><nd ref="5"/><tag k="highway" v="residential"/><tag k="ref" v="C1"/></way>
  <way id="23"><nd ref="8"/><nd ref="9"/><nd ref="10"/><nd ref="8"/>
    <tag k="shop" v="mall"/><tag k="name" v="Oakham Centre"/></way>
  <way id="24"><nd ref="8"/><nd ref="9"/></way><way id="25"><nd ref="9"/><nd ref="10"/></way>
  <way id="26"><nd ref="10"/><nd ref="8"/></way>
  <relation id="30"><member type="way" ref="24" role="outer"/><member type="way" ref="25" role="outer"/>
    <member type="way" ref="26" role="outer"/><tag k="type" v="multipolygon"/>
    <tag k="leisure" v="playground"/><tag k="name" v="Play Area"/></relation>
</osm>
"""


@pytest.fixture
def osm_file(tmp_path: Path) -> Path:
    path = tmp_path / "town.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    return path


def test_osm_extract(osm_file: Path, specs: tuple[LayerSpec, ...]) -> None:
    got = read_places([PlaceInput(osm_file)], specs)
    table = got[["source", "layer", "value", "name", "feature_id"]].to_numpy().tolist()
    by_id = {row[4]: row[:4] for row in table}
    assert by_id == {
        "node/5": ["town.osm:points", "licensed_premises", "pub", "The Crown"],
        "node/6": ["town.osm:points", "transport_hubs", "station", "Oakham"],
        "way/21": ["town.osm:lines", "streets", "residential", "Loop Road"],
        "way/22": ["town.osm:lines", "streets", "residential", "C1"],
        "way/20": ["town.osm:multipolygons", "parks", "park", "Cutts Close"],
        "way/23": ["town.osm:multipolygons", "shopping_centres", "mall", "Oakham Centre"],
        "relation/30": ["town.osm:multipolygons", "parks", "playground", "Play Area"],
    }
    assert len(table) == len(by_id)
    kinds = dict(zip(got["feature_id"], got.geometry.geom_type, strict=True))
    # A closed highway loop stays a street line; a closed leisure/shop way is an area.
    assert kinds["way/21"] == "LineString"
    assert kinds["way/20"] == kinds["way/23"] == kinds["relation/30"] == "MultiPolygon"
    layers = ["town.osm:points", "town.osm:lines", "town.osm:multipolygons"]
    assert got["source"].tolist() == sorted(got["source"], key=layers.index)
    assert (got.groupby("source")["row"].diff().dropna() > 0).all()


def test_osm_extract_with_a_layer_and_a_bbox(osm_file: Path, specs: tuple[LayerSpec, ...]) -> None:
    parks = read_places([PlaceInput(osm_file, layer="parks")], specs)
    assert sorted(parks["feature_id"]) == ["relation/30", "way/20"]
    assert parks["row"].is_monotonic_increasing
    near = read_places([PlaceInput(osm_file)], specs, bbox=(-0.51, 52.015, -0.48, 52.035))
    assert near["feature_id"].tolist() == ["node/5", "node/6", "way/22"]
    assert near["row"].tolist() == [1, 2, 2]


# --------------------------------------------------------------------------- real data
def test_real_rutland_osm_extract(real_data: Path, specs: tuple[LayerSpec, ...]) -> None:
    path = real_data / "rutland" / "osm" / "rutland-latest.osm.pbf"
    if not path.exists():
        pytest.skip(f"{path} not present")
    start = time.perf_counter()
    got = read_places([PlaceInput(path)], specs)
    seconds = time.perf_counter() - start
    counts = got["layer"].value_counts().to_dict()
    print(f"\nRutland .osm.pbf, all {len(specs)} layers: {seconds:.2f} s, {counts}")
    assert set(counts) == {s.name for s in specs}
    streets = next(s for s in specs if s.name == "streets")
    assert set(got.loc[got["layer"] == "streets", "value"]) <= set(streets.osm.select[0].values)
    hubs = got[got["layer"] == "transport_hubs"]
    assert "Oakham" in set(hubs["name"])
    assert got["feature_id"].str.match(r"^(node|way|relation)/\d+$").all()


def test_real_rutland_geofabrik_shapefiles(real_data: Path, specs: tuple[LayerSpec, ...]) -> None:
    path = real_data / "rutland" / "osm" / "rutland-latest-free.shp.zip"
    if not path.exists():
        pytest.skip(f"{path} not present")
    got = read_places([PlaceInput(path)], specs)
    counts = got["layer"].value_counts()
    assert counts["parks"] > 0
    assert counts["streets"] > 0
    roads = got[got["layer"] == "streets"]
    assert set(roads["source"]) == {f"{path.name}:gis_osm_roads_free_1"}


def test_real_city_of_london(real_data: Path, specs: tuple[LayerSpec, ...]) -> None:
    pois = (
        real_data
        / "city-of-london"
        / "osm"
        / "geofabrik_osm_pois_london_2019_city_plus_1km.geojson.gz"
    )
    green = (
        real_data
        / "city-of-london"
        / "greenspace_non_osm"
        / "os_open_greenspace_london_city_plus_1km.geojson"
    )
    if not (pois.exists() and green.exists()):
        pytest.skip("City of London place files not present")
    city = (-0.1138, 51.5078, -0.0727, 51.5233)
    got = read_places([PlaceInput(pois), PlaceInput(green, layer="parks")], specs, bbox=city)
    licensed = got[got["layer"] == "licensed_premises"]
    assert len(licensed) >= 300
    assert set(licensed["value"]) <= {"pub", "bar", "nightclub", "biergarten", "fast_food"}
    parks = got[got["source"] == green.name]
    assert len(parks) > 0
    assert set(parks["layer"]) == {"parks"}
    assert set(parks["value"]) == {"Public Park Or Garden"}
    assert parks["name"].notna().mean() > 0.5  # from distName1
