"""Tests of geojtai.io.exporters: each format is written from the sample town, then read back
with the library made for it (GDAL, sqlite3, pandas, pyarrow, Pillow, pypdf, html.parser)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
import xstatic.pkg.leaflet
from PIL import Image
from PIL.PngImagePlugin import PngImageFile
from pypdf import PdfReader

from geojtai.disclosure import DisclosureRule
from geojtai.errors import ExportError
from geojtai.exports import ExportLayer, available_layers, build_layers
from geojtai.io import exporters
from geojtai.io.exporters import FORMATS, SUFFIXES, write_layers
from geojtai.io.gpkgstyles import read_layer_styles
from geojtai.io.studyfolder import Study, load_study
from geojtai.studyexport import ATTRIBUTION, Actor, ExportResult, export_study
from geojtai.symbology import LayerStyle

ACTOR = Actor("tester", "publisher", "test")
PUBLISHABLE = DisclosureRule()
INTERNAL = DisclosureRule(profile="internal")

Export = Callable[..., ExportResult]
Built = Callable[..., ExportLayer]


@pytest.fixture(scope="module")
def study(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Study:
    """A copy of the sample study: exports append to its audit log."""
    folder = tmp_path_factory.mktemp("exporters") / "study"
    shutil.copytree(sample_study, folder)
    return load_study(folder)


@pytest.fixture(scope="module")
def exported(study: Study, tmp_path_factory: pytest.TempPathFactory) -> Export:
    """``exported(fmt, layer, profile)``: the export of ``layer`` as ``fmt``, made once."""
    out = tmp_path_factory.mktemp("exports")
    made: dict[tuple[str, str, str], ExportResult] = {}

    def export(fmt: str, layer: str = "counts", profile: str = "publishable") -> ExportResult:
        key = (fmt, layer, profile)
        if key not in made:
            made[key] = export_study(
                study,
                layers=[layer],
                fmt=fmt,
                out=out / f"{layer}-{profile}{SUFFIXES[fmt][0]}",
                rule=DisclosureRule(profile=profile),
                actor=ACTOR,
            )
        return made[key]

    return export


@pytest.fixture(scope="module")
def built(study: Study) -> Built:
    """``built(layer, profile)``: the layer as :func:`build_layers` makes it."""

    def build(layer: str, profile: str = "publishable") -> ExportLayer:
        return build_layers(study, [layer], DisclosureRule(profile=profile))[0]

    return build


def columns_of(frame: gpd.GeoDataFrame | pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry"]


def metadata(title: str = "t") -> dict[str, str]:
    return {
        "title": title,
        "disclosure": PUBLISHABLE.describe(),
        "marking": "OFFICIAL",
        "attribution": ATTRIBUTION,
        "profile": "publishable",
    }


# -- GeoPackage --------------------------------------------------------------------------


def test_gpkg_holds_every_layer_and_a_styles_table(study: Study, exported: Export) -> None:
    result = exported("gpkg", "all")
    listed = pyogrio.list_layers(result.path)
    assert listed[:, 0].tolist() == [*available_layers(study, internal=False), "layer_styles"]
    assert listed[-1, 1] is None  # an attributes table, no geometry


def test_gpkg_layers_are_bng_with_the_exported_rows(exported: Export) -> None:
    result = exported("gpkg", "all")
    for name, rows in result.rows.items():
        info = pyogrio.read_info(result.path, layer=name)
        assert (info["crs"], info["features"]) == ("EPSG:27700", rows), name


def test_gpkg_has_one_default_qml_style_per_layer(exported: Export) -> None:
    result = exported("gpkg", "all")
    with closing(sqlite3.connect(result.path)) as conn:
        rows = conn.execute("SELECT f_table_name, styleQML, useAsDefault FROM layer_styles")
        styles = rows.fetchall()
    assert sorted(name for name, _, _ in styles) == sorted(result.rows)
    for name, qml, default in styles:
        assert default == 1, name
        assert ElementTree.fromstring(qml).tag == "qgis", name
    assert set(read_layer_styles(result.path)) == set(result.rows)


def test_gpkg_contents_describe_the_rule(exported: Export) -> None:
    result = exported("gpkg", "all")
    with closing(sqlite3.connect(result.path)) as conn:
        found = dict(conn.execute("SELECT table_name, description FROM gpkg_contents").fetchall())
    for name in result.rows:
        assert PUBLISHABLE.describe() in found[name], name


def test_gpkg_metadata_names_the_profile_of_each_layer(exported: Export) -> None:
    result = exported("gpkg", "all")
    query = (
        "SELECT r.table_name, m.metadata FROM gpkg_metadata_reference AS r "
        "JOIN gpkg_metadata AS m ON m.id = r.md_file_id WHERE r.reference_scope = 'table'"
    )
    with closing(sqlite3.connect(result.path)) as conn:
        found = dict(conn.execute(query).fetchall())
    assert set(found) == set(result.rows)
    for name, xml in found.items():
        assert '<MDI key="profile">publishable</MDI>' in xml, name
    assert pyogrio.read_info(result.path, layer="counts")["layer_metadata"]["marking"] == "OFFICIAL"


@pytest.mark.parametrize(("profile", "has_incidents"), [("publishable", False), ("internal", True)])
def test_gpkg_incidents_only_in_the_internal_profile(
    exported: Export, profile: str, has_incidents: bool
) -> None:
    names = pyogrio.list_layers(exported("gpkg", "all", profile).path)[:, 0].tolist()
    assert ("incidents" in names) is has_incidents


# -- GeoJSON -----------------------------------------------------------------------------


def test_geojson_is_a_feature_collection_carrying_its_metadata(exported: Export) -> None:
    doc = json.loads(exported("geojson").path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert doc["geojtai"]["profile"] == "publishable"
    assert doc["geojtai"]["disclosure"] == PUBLISHABLE.describe()
    assert doc["geojtai"]["layer"] == "counts"


def test_geojson_reads_back_in_wgs84(exported: Export, built: Built) -> None:
    result = exported("geojson")
    frame = pyogrio.read_dataframe(result.path)
    assert frame.crs == "EPSG:4326"
    assert len(frame) == result.rows["counts"]
    assert columns_of(frame) == columns_of(built("counts").frame)


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    else:
        yield float(value)


@pytest.mark.parametrize("layer", ["counts", "interventions", "parks"])
def test_geojson_follows_rfc7946(exported: Export, layer: str) -> None:
    doc = json.loads(exported("geojson", layer).path.read_text(encoding="utf-8"))
    numbers = np.fromiter(
        (x for f in doc["features"] for x in _numbers(f["geometry"]["coordinates"])), float
    )
    assert numbers.size and np.array_equal(np.round(numbers, 7), numbers)
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in doc["features"]])
    polygons = shapely.get_parts(geoms[np.isin(shapely.get_type_id(geoms), [3, 6])])
    assert polygons.size  # every layer tested has polygons
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
    holes = [
        shapely.get_interior_ring(p, i)
        for p in polygons
        for i in range(shapely.get_num_interior_rings(p))
    ]
    assert not np.asarray(shapely.is_ccw(holes), dtype=bool).any()


# -- CSV ---------------------------------------------------------------------------------


def csvw(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + "-metadata.json").read_text(encoding="utf-8"))


def test_csv_has_cells_centres_and_wkt(exported: Export, built: Built) -> None:
    result = exported("csv")
    table = pd.read_csv(result.path)
    assert len(table) == result.rows["counts"]
    assert list(table.columns) == [*columns_of(built("counts").frame), "wkt"]
    assert {"h3", "lat", "lon", "wkt"} <= set(table.columns)
    assert not shapely.is_missing(shapely.from_wkt(table["wkt"].to_numpy())).any()


@pytest.mark.parametrize("layer", ["counts", "parks", "streets"])
def test_csv_lat_lon_lie_on_the_feature(exported: Export, layer: str) -> None:
    table = pd.read_csv(exported("csv", layer).path)
    geoms = shapely.from_wkt(table["wkt"].to_numpy())
    points = shapely.points(table["lon"].to_numpy(), table["lat"].to_numpy())
    # Both are written to 6 decimals (about 0.1 m), hence the tolerance.
    assert shapely.dwithin(geoms, points, 2e-6).all()


def test_csv_sidecar_is_csvw_with_the_rule_and_every_column(exported: Export) -> None:
    result = exported("csv")
    doc = csvw(result.path)
    assert doc["@context"] == "http://www.w3.org/ns/csvw"
    assert doc["url"] == result.path.name
    assert PUBLISHABLE.describe() in doc["dc:description"]
    assert doc["geojtai"]["profile"] == "publishable"
    names = [c["name"] for c in doc["tableSchema"]["columns"]]
    assert names == list(pd.read_csv(result.path, nrows=0).columns)


# -- Shapefiles --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapefiles(exported: Export, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``--layer all`` Shapefile zip, extracted."""
    folder = tmp_path_factory.mktemp("shp")
    with zipfile.ZipFile(exported("shp", "all").path) as zf:
        zf.extractall(folder)
    return folder


def parts_of(folder: Path, layer: str) -> list[str]:
    """The Shapefiles a layer was written to (one per geometry family)."""
    names = {p.stem for p in folder.glob("*.shp")}
    split = [f"{layer}_{k}" for k in ("polygon", "line", "point") if f"{layer}_{k}" in names]
    return [layer] if layer in names else split


def test_shp_zip_lists_every_part_readme_and_fields(exported: Export) -> None:
    result = exported("shp", "all")
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
    assert {"README.txt", "fields.csv"} <= names
    stems = {n.rsplit(".", 1)[0] for n in names} - {"README", "fields"}
    for stem in stems:
        assert {f"{stem}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= names, stem
    assert all(any(s == n or s.startswith(f"{n}_") for n in result.rows) for s in stems)


def test_shp_layers_are_bng_with_the_exported_rows(exported: Export, shapefiles: Path) -> None:
    for name, rows in exported("shp", "all").rows.items():
        parts = parts_of(shapefiles, name)
        infos = [pyogrio.read_info(shapefiles / f"{part}.shp") for part in parts]
        assert parts and all(info["crs"] == "EPSG:27700" for info in infos), name
        assert sum(info["features"] for info in infos) == rows, name


def test_shp_splits_a_layer_of_mixed_geometry(built: Built, shapefiles: Path) -> None:
    kinds = set(built("interventions").frame.geom_type.str.removeprefix("Multi"))
    assert kinds == {"Polygon", "LineString"}  # circles round points, and routes
    assert parts_of(shapefiles, "interventions") == ["interventions_polygon", "interventions_line"]
    lines = pyogrio.read_dataframe(shapefiles / "interventions_line.shp")
    assert set(lines.geom_type) <= {"LineString", "MultiLineString"}


def test_shp_field_names_are_short_and_mapped_back(built: Built, shapefiles: Path) -> None:
    fields = pd.read_csv(shapefiles / "fields.csv")
    for name in ("counts", "cells", "gaps", "interventions"):
        mine = fields.loc[fields["layer"] == name]
        assert mine["column"].tolist() == columns_of(built(name).frame), name
        for part in parts_of(shapefiles, name):
            dbf = pyogrio.read_info(shapefiles / f"{part}.shp")["fields"].tolist()
            assert dbf == mine["field"].tolist(), part
            assert max(map(len, dbf)) <= 10, part


def test_shp_readme_carries_the_rule(exported: Export) -> None:
    with zipfile.ZipFile(exported("shp", "all").path) as zf:
        readme = zf.read("README.txt").decode("utf-8")
    assert PUBLISHABLE.describe() in readme
    assert "profile: publishable" in readme


# -- GeoParquet --------------------------------------------------------------------------


def test_parquet_reads_back_in_wgs84(exported: Export, built: Built) -> None:
    result = exported("parquet")
    frame = gpd.read_parquet(result.path)
    assert frame.crs == "EPSG:4326"
    assert len(frame) == result.rows["counts"]
    assert columns_of(frame) == columns_of(built("counts").frame)


def test_parquet_schema_metadata_has_geo_and_the_rule(exported: Export) -> None:
    meta = pq.read_schema(exported("parquet").path).metadata
    assert json.loads(meta[b"geo"])["primary_column"] == "geometry"
    info = json.loads(meta[b"geojtai"])
    assert (info["profile"], info["disclosure"]) == ("publishable", PUBLISHABLE.describe())


# -- static maps -------------------------------------------------------------------------


def test_png_is_a_large_map_carrying_the_rule(exported: Export) -> None:
    with Image.open(exported("png").path) as image:
        assert isinstance(image, PngImageFile)
        assert image.size[0] >= 1500 and image.size[1] >= 1000
        assert image.text["disclosure"] == PUBLISHABLE.describe()
        assert image.text["marking"] == "OFFICIAL"


def test_png_draws_the_count_classes(exported: Export, built: Built) -> None:
    style = built("counts").style
    with Image.open(exported("png").path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    for cls in style.classes:
        colour = np.array([int(cls.colour[i : i + 2], 16) for i in (1, 3, 5)])
        # Drawn at the style's opacity over white (the legend swatches at least).
        seen = colour * style.fill_opacity + 255 * (1 - style.fill_opacity)
        near = np.abs(pixels - seen).max(axis=1) <= 3
        assert near.sum() >= 50, cls.label


def test_pdf_is_one_page_with_title_marking_and_attribution(exported: Export) -> None:
    reader = PdfReader(exported("pdf").path)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for words in ("Incidents per cell", "OFFICIAL", "Open Government Licence", "OpenStreetMap"):
        assert words in text
    assert reader.metadata is not None
    assert reader.metadata.subject == PUBLISHABLE.describe()


def test_pdf_north_arrow_is_text(exported: Export) -> None:
    text = PdfReader(exported("pdf").path).pages[0].extract_text()
    assert "N" in text.split()


def test_pdf_renders_with_ink(exported: Export, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("poppler's pdftoppm is not installed")
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "40",
            "-singlefile",
            str(exported("pdf").path),
            str(tmp_path / "p"),
        ],
        check=True,
        timeout=120,
    )
    with Image.open(tmp_path / "p.png") as image:
        grey = np.asarray(image.convert("L"))
    assert (grey < 200).mean() > 0.01  # more than a blank page with a few words


# -- HTML --------------------------------------------------------------------------------


class _Attributes(HTMLParser):
    """Every (tag, attribute, value) of a page; script bodies are not parsed as tags."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [(tag, name, value or "") for name, value in attrs]


def test_html_loads_nothing_from_the_network(exported: Export) -> None:
    page = exported("html", "all").path.read_text(encoding="utf-8")
    parser = _Attributes()
    parser.feed(page)
    links = [(t, a, v) for t, a, v in parser.found if a in ("src", "href")]
    assert not [x for x in links if re.match(r"\s*(https?:)?//", x[2])]
    assert "L.map(" in page and f"Leaflet {xstatic.pkg.leaflet.VERSION}" in page


def test_html_carries_the_rule_and_the_marking_twice(exported: Export) -> None:
    page = exported("html", "all").path.read_text(encoding="utf-8")
    assert f'<meta name="geojtai:disclosure" content="{PUBLISHABLE.describe()}">' in page
    assert '<meta name="geojtai:profile" content="publishable">' in page
    assert len(re.findall(r'<div class="marking"[^>]*>OFFICIAL</div>', page)) == 2


def test_html_embeds_each_layer_as_geojson(exported: Export) -> None:
    result = exported("html", "all")
    page = result.path.read_text(encoding="utf-8")
    found = re.findall(
        r'<script type="application/json" id="layer-(\d+)">(.*?)</script>', page, re.S
    )
    assert [int(i) for i, _ in found] == list(range(len(result.rows)))
    counts = [len(json.loads(body)["features"]) for _, body in found]
    # The first layer asked for is drawn on top: the page holds them in reverse order.
    assert counts == list(result.rows.values())[::-1]


# -- write_layers: its own checks and atomic writes --------------------------------------


@pytest.mark.parametrize(
    ("fmt", "names", "file", "message"),
    [
        ("kml", ["counts"], "x.kml", "`format` was 'kml'"),
        ("geojson", [], "x.geojson", "no layer was given"),
        ("geojson", ["counts", "parks"], "x.geojson", "holds one layer"),
        ("shp", ["counts"], "x.shp", ".zip"),
        ("gpkg", ["counts"], "x.sqlite", ".gpkg"),
    ],
)
def test_write_layers_refuses_bad_requests(
    built: Built, tmp_path: Path, fmt: str, names: list[str], file: str, message: str
) -> None:
    with pytest.raises(ExportError, match=re.escape(message)):
        write_layers([built(n) for n in names], fmt, tmp_path / file, metadata())
    assert list(tmp_path.iterdir()) == []


def test_write_layers_covers_every_format() -> None:
    assert set(SUFFIXES) == set(FORMATS) == set(exporters._WRITERS)


def test_gpkg_failing_mid_write_leaves_nothing(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(exporters, "add_layer_styles", broken)
    with pytest.raises(OSError, match="disk full"):
        write_layers([built("counts")], "gpkg", tmp_path / "x.gpkg", metadata())
    assert list(tmp_path.iterdir()) == []


def test_csv_failing_mid_write_leaves_nothing(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_layers([built("counts")], "csv", tmp_path / "x.csv", metadata())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_interventions_draw_as_a_static_map(exported: Export, fmt: str) -> None:
    assert exported(fmt, "interventions").rows["interventions"] == 12


def tiny_layer(geoms: list[shapely.Geometry | None]) -> ExportLayer:
    frame = gpd.GeoDataFrame({"name": [f"f{i}" for i in range(len(geoms))]}, geometry=geoms)
    frame = frame.set_crs("EPSG:4326")
    return ExportLayer("tiny", "Tiny", frame, LayerStyle("Tiny", "polygon"))


SQUARE = shapely.box(-1.41, 52.50, -1.40, 52.51)
ROUTE = shapely.LineString([(-1.40, 52.50), (-1.39, 52.51)])


@pytest.mark.parametrize(
    "geoms",
    [
        pytest.param([SQUARE, None], id="one-family"),
        pytest.param(
            [SQUARE, ROUTE, None],
            id="mixed",
        ),
    ],
)
def test_shp_keeps_rows_without_geometry(
    tmp_path: Path, geoms: list[shapely.Geometry | None]
) -> None:
    write_layers([tiny_layer(geoms)], "shp", tmp_path / "x.zip", metadata())
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        zf.extractall(tmp_path / "x")
    rows = sum(pyogrio.read_info(p)["features"] for p in (tmp_path / "x").glob("*.shp"))
    assert rows == len(geoms)
