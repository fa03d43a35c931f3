"""QGIS styles written into a GeoPackage: the layer_styles rows and a still-valid file."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import LineString, Point

from geojtai.errors import InputFileError
from geojtai.io.gpkgstyles import add_layer_styles, read_layer_styles
from geojtai.symbology import LayerStyle, StyleClass

POINTS = LayerStyle(
    title="Incidents",
    kind="point",
    renderer="categorized",
    attribute="kind",
    classes=(StyleClass("a", "Kind A", "#d7191c"), StyleClass("b", "Kind B & co", "#2c7bb6")),
)
ROADS = LayerStyle(title="Roads", kind="line", colour="#444444")


@pytest.fixture
def gpkg(tmp_path: Path) -> Path:
    """A GeoPackage with two feature layers, written the way the exports write them."""
    path = tmp_path / "study.gpkg"
    points = gpd.GeoDataFrame(
        {"kind": ["a", "b", None]}, geometry=[Point(0, 0), Point(1, 1), Point(2, 2)], crs=27700
    )
    roads = gpd.GeoDataFrame(
        {"name": ["High St"]}, geometry=[LineString([(0, 0), (5, 5)])], crs=27700
    )
    points.to_file(path, layer="incidents", driver="GPKG")
    roads.to_file(path, layer="roads", driver="GPKG")
    return path


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_rows_written_with_qgis_columns(gpkg: Path) -> None:
    add_layer_styles(gpkg, {"incidents": POINTS, "roads": ROADS}, description="geojtai")
    rows = query(
        gpkg,
        "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
        "useAsDefault, description, update_time FROM layer_styles ORDER BY f_table_name",
    )
    assert [row[:7] for row in rows] == [
        ("", "", "incidents", "geom", "incidents", 1, "geojtai"),
        ("", "", "roads", "geom", "roads", 1, "geojtai"),
    ]
    assert all(isinstance(row[7], str) and row[7].endswith("Z") for row in rows)
    columns = [row[1] for row in query(gpkg, "PRAGMA table_info(layer_styles)")]
    assert columns == [
        "id",
        "f_table_catalog",
        "f_table_schema",
        "f_table_name",
        "f_geometry_column",
        "styleName",
        "styleQML",
        "styleSLD",
        "useAsDefault",
        "description",
        "owner",
        "ui",
        "update_time",
    ]


def test_styles_hold_parseable_qml_and_sld(gpkg: Path) -> None:
    add_layer_styles(gpkg, {"incidents": POINTS, "roads": ROADS})
    styles = read_layer_styles(gpkg)
    assert sorted(styles) == ["incidents", "roads"]
    root = ET.fromstring(styles["incidents"].split("\n", 1)[1])
    labels = [c.get("label") for c in root.findall("renderer-v2/categories/category")]
    assert labels == ["Kind A", "Kind B & co"]
    assert ET.fromstring(styles["roads"].split("\n", 1)[1]).findtext("layerGeometryType") == "1"
    (sld_text,) = query(gpkg, "SELECT styleSLD FROM layer_styles WHERE f_table_name = 'roads'")[0]
    assert isinstance(sld_text, str)
    assert "LineSymbolizer" in sld_text


def test_file_stays_a_valid_geopackage(gpkg: Path) -> None:
    add_layer_styles(gpkg, {"incidents": POINTS, "roads": ROADS})
    assert query(gpkg, "PRAGMA integrity_check") == [("ok",)]
    assert query(gpkg, "PRAGMA foreign_key_check") == []
    contents = query(
        gpkg, "SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
    )
    assert contents == [("attributes", "layer_styles")]
    layers = {name: geometry for name, geometry in pyogrio.list_layers(gpkg)}
    assert layers["incidents"] == "Point"
    assert layers["roads"] == "LineString"
    frame = pyogrio.read_dataframe(gpkg, layer="incidents")
    assert frame["kind"].iloc[:2].tolist() == ["a", "b"]
    assert frame["kind"].isna().iloc[2]
    assert len(pyogrio.read_dataframe(gpkg, layer="layer_styles", read_geometry=False)) == 2


def test_second_call_replaces_the_default_style(gpkg: Path) -> None:
    add_layer_styles(gpkg, {"incidents": POINTS, "roads": ROADS})
    red_roads = LayerStyle(title="Roads", kind="line", colour="#ff0000")
    add_layer_styles(gpkg, {"roads": red_roads})
    add_layer_styles(gpkg, {"roads": red_roads})
    counts = query(
        gpkg,
        "SELECT f_table_name, count(*), sum(useAsDefault) FROM layer_styles "
        "GROUP BY f_table_name ORDER BY f_table_name",
    )
    assert counts == [("incidents", 1, 1), ("roads", 1, 1)]
    assert "255,0,0,255" in read_layer_styles(gpkg)["roads"]
    assert query(gpkg, "SELECT count(*) FROM gpkg_contents WHERE table_name = 'layer_styles'") == [
        (1,)
    ]


def test_explicit_geometry_column(gpkg: Path) -> None:
    add_layer_styles(gpkg, {"roads": ROADS}, geometry_column="the_geom")
    assert query(gpkg, "SELECT f_geometry_column FROM layer_styles") == [("the_geom",)]


def test_unknown_layer_raises_and_writes_nothing(gpkg: Path) -> None:
    with pytest.raises(ValueError, match=r"study\.gpkg.*'nowhere'") as info:
        add_layer_styles(gpkg, {"roads": ROADS, "nowhere": POINTS})
    assert "'roads'" not in str(info.value).split(";")[0]
    assert read_layer_styles(gpkg) == {}


def test_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.gpkg"
    with pytest.raises(InputFileError, match="absent.gpkg"):
        add_layer_styles(path, {"roads": ROADS})
    assert not path.exists()


def test_not_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InputFileError, match="not a GeoPackage"):
        add_layer_styles(path, {"t": ROADS})


def test_read_without_styles_is_empty(gpkg: Path) -> None:
    assert read_layer_styles(gpkg) == {}
