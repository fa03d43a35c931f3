from __future__ import annotations

import gzip
import hashlib
import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geojtai import io as gio
from geojtai.errors import CRSError, InputFileError, SchemaError
from geojtai.io.policeuk import POLICE_UK_COLUMNS, is_police_uk_header
from geojtai.schema import RAW_INCIDENT_COLUMNS, RAW_INTERVENTION_COLUMNS, validate_incidents

POLICE_HEADER = ",".join(POLICE_UK_COLUMNS)


def police_row(crime_id: str, month: str, lon: str = "-0.0922", lat: str = "51.5155") -> str:
    return (
        f"{crime_id},{month},City of London Police,City of London Police,{lon},{lat},"
        f"On or near Cheapside,E01000001,City of London 001A,Robbery,Under investigation,"
    )


@pytest.fixture
def simple_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ed.csv"
    path.write_text(
        "Incident_ID,Date,Latitude,Longitude,Offence,Patient Name,DOB,Notes\n"
        "e1,05/03/2024 18:30,51.5,-0.1,Assault,Jo Bloggs,2008-01-01,hit with bottle\n"
        "e2,2024-03-06,,,GBH,Al Smith,2009-02-02,\n",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- CSV
def test_read_csv_standardises_and_keeps_only_whitelisted_columns(simple_csv: Path) -> None:
    raw = gio.read_incidents(simple_csv)
    assert list(raw.columns) == list(RAW_INCIDENT_COLUMNS)
    assert list(raw.loc[0, ["id", "occurred", "lat", "lon", "category"]]) == [
        "e1",
        "05/03/2024 18:30",
        "51.5",
        "-0.1",
        "Assault",
    ]
    assert raw["lat"].isna().tolist() == [False, True]
    assert raw["file"].tolist() == ["ed.csv", "ed.csv"]
    assert raw["row"].tolist() == [2, 3]
    flat = raw.astype(str).to_numpy().ravel().tolist()
    assert not any(v in flat for v in ("Jo Bloggs", "2008-01-01", "hit with bottle"))


def test_values_stay_text(simple_csv: Path) -> None:
    raw = gio.read_incidents(simple_csv)
    assert raw.loc[0, "lat"] == "51.5"
    assert raw["row"].dtype == "int64"


def test_gzip_crlf_and_bom_read_like_plain(simple_csv: Path, tmp_path: Path) -> None:
    text = simple_csv.read_text(encoding="utf-8").replace("\n", "\r\n")
    gz = tmp_path / "ed.csv.gz"
    gz.write_bytes(gzip.compress(("\ufeff" + text).encode("utf-8")))
    plain, packed = gio.read_incidents(simple_csv), gio.read_incidents(gz)
    pd.testing.assert_frame_equal(plain.drop(columns="file"), packed.drop(columns="file"))
    assert packed["file"].iloc[0] == "ed.csv.gz"


def test_semicolon_delimiter_and_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "id;date;lat;lon;type\r\nx;05/03/2024;51.5;-0.1;Café brawl £5\r\n".encode("cp1252")
    )
    raw = gio.read_incidents(path)
    assert raw.loc[0, "category"] == "Café brawl £5"
    assert raw.loc[0, "occurred"] == "05/03/2024"


def test_malformed_lines_become_flagged_rows_with_true_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,date,lat,lon\n"
        "a,2024-01-01,51.5,-0.1\n"
        "b,2024-01-01,51.5\n"
        "\n"
        "c,2024-01-01,51.5,-0.1,extra\n"
        'd,2024-01-01,"51.5",-0.1\n'
    )
    raw = gio.read_incidents(path)
    assert raw["row"].tolist() == [2, 3, 4, 5, 6]
    assert raw["id"].tolist()[-1] == "d"
    valid, rejects = validate_incidents(raw)
    assert valid["id"].tolist() == ["a", "d"]
    assert rejects[["row", "reason", "detail"]].values.tolist() == [
        [3, "malformed row", "expected 4 fields, found 3"],
        [4, "no location", None],
        [5, "malformed row", "expected 4 fields, found 5"],
    ]


def test_unbalanced_quote_is_a_malformed_row(tmp_path: Path) -> None:
    path = tmp_path / "unbalanced.csv"
    path.write_text('id,date,lat,lon\na,2024-01-01,51.5,-0.1\nb,"2024-01-01,51.5,-0.1\n')
    _, rejects = validate_incidents(gio.read_incidents(path))
    assert rejects[["row", "reason"]].values.tolist() == [[3, "malformed row"]]


def test_quoted_newlines_in_a_field(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(
        'id,date,lat,lon,category\na,2024-01-01,51.5,-0.1,"two\nlines"\nb,2024-01,51.5,-0.1,x\n'
    )
    raw = gio.read_incidents(path)
    assert raw["id"].tolist() == ["a", "b"]
    assert raw.loc[0, "category"] == "two\nlines"


def test_header_only_file_gives_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty_rows.csv"
    path.write_text("id,date,lat,lon\n")
    raw = gio.read_incidents(path)
    assert raw.empty and list(raw.columns) == list(RAW_INCIDENT_COLUMNS)


def test_explicit_columns_win_over_detection(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Ref,Date,Reported,N,E,HO class\nr1,2024-01-01,2024-02-01,51.5,-0.1,Robbery\n")
    raw = gio.read_incidents(
        path, columns={"occurred": "reported", "lat": "N", "lon": "E", "category": "HO class"}
    )
    assert list(raw.loc[0, ["id", "occurred", "lat", "lon", "category"]]) == [
        "r1",
        "2024-02-01",
        "51.5",
        "-0.1",
        "Robbery",
    ]


def test_bad_explicit_columns_are_schema_errors(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("date,lat,lon\n2024-01-01,51.5,-0.1\n")
    with pytest.raises(SchemaError) as info:
        gio.read_incidents(path, columns={"when": "date", "category": "Offence"})
    assert len(info.value.problems) == 2
    assert "unknown column name 'when'" in str(info.value)
    assert "'Offence'" in str(info.value)


def test_source_argument_overrides_and_fills(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("id,date,lat,lon,agency\na,2024-01,51.5,-0.1,School\nb,2024-01,51.5,-0.1,\n")
    assert gio.read_incidents(path)["source"].tolist()[0] == "School"
    assert gio.read_incidents(path, source="ED")["source"].tolist() == ["ED", "ED"]


def test_xy_columns_in_metres_are_bng(tmp_path: Path) -> None:
    path = tmp_path / "bng.csv"
    path.write_text("id,date,x,y\na,2024-01-01,530000,180000\n")
    raw = gio.read_incidents(path)
    assert list(raw.loc[0, ["easting", "northing"]]) == ["530000", "180000"]
    assert raw[["lat", "lon"]].isna().all().all()
    valid, _ = validate_incidents(raw)
    assert valid["lat"].iloc[0] == pytest.approx(51.504, abs=0.001)


def test_xy_columns_in_degrees_are_lon_lat(tmp_path: Path) -> None:
    path = tmp_path / "deg.csv"
    path.write_text("id,date,x,y\na,2024-01-01,-0.1,51.5\n")
    raw = gio.read_incidents(path)
    assert list(raw.loc[0, ["lat", "lon"]]) == ["51.5", "-0.1"]


# --------------------------------------------------------------------------- police.uk
def test_police_uk_file_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "2024-01-city-of-london-street.csv"
    path.write_text(
        "\r\n".join([POLICE_HEADER, police_row("abc", "2024-01"), police_row("", "2024-01")])
        + "\r\n"
    )
    assert is_police_uk_header(POLICE_UK_COLUMNS)
    raw = gio.read_incidents(path)
    first = raw.iloc[0]
    assert first["id"] == first["crime_id"] == "abc"
    assert first["category"] == first["crime_type"] == "Robbery"
    assert first["occurred"] == "2024-01"
    assert first["source"] == "police"
    assert first["reported_by"] == first["falls_within"] == "City of London Police"
    assert first["lsoa_code"] == "E01000001"
    assert first["last_outcome"] == "Under investigation"
    assert first["location"] == "On or near Cheapside"
    valid, _ = validate_incidents(raw)
    assert valid["id"].tolist() == ["abc", "2024-01-city-of-london-street.csv:3"]
    assert valid["source"].tolist() == ["police", "police"]


def test_location_is_not_read_from_other_files(tmp_path: Path) -> None:
    path = tmp_path / "ed.csv"
    path.write_text("id,date,lat,lon,location\na,2024-01,51.5,-0.1,12 Home Street\n")
    assert gio.read_incidents(path)["location"].isna().all()


def test_folder_of_police_months(tmp_path: Path) -> None:
    crime = tmp_path / "crime"
    for month, ids in (("2024-02", ["c", "d", "e"]), ("2024-01", ["a", "b"])):
        folder = crime / month
        folder.mkdir(parents=True)
        lines = [POLICE_HEADER, *(police_row(i, month) for i in ids)]
        data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        name = f"{month}-city-of-london-street.csv"
        if month == "2024-02":
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    (crime / ".DS_Store").write_bytes(b"\x00\x01")
    (crime / "README.txt").write_text("not data")
    raw = gio.read_incidents(crime)
    assert raw["id"].tolist() == ["a", "b", "c", "d", "e"]
    assert raw["file"].tolist() == [
        "crime/2024-01/2024-01-city-of-london-street.csv",
        "crime/2024-01/2024-01-city-of-london-street.csv",
        "crime/2024-02/2024-02-city-of-london-street.csv.gz",
        "crime/2024-02/2024-02-city-of-london-street.csv.gz",
        "crime/2024-02/2024-02-city-of-london-street.csv.gz",
    ]
    assert raw["row"].tolist() == [2, 3, 2, 3, 4]
    assert not any(os.sep + "tmp" in f or f.startswith("/") for f in raw["file"])


def test_folder_problems_are_collected_into_one_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("foo\n1\n")
    (tmp_path / "b.csv").write_text("date,bar\n2024-01,1\n")
    with pytest.raises(SchemaError) as info:
        gio.read_incidents(tmp_path)
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "a.csv: no usable location" in text and "a.csv: no date column" in text
    assert f"{tmp_path.name}/b.csv: no usable location" in text


# --------------------------------------------------------------------------- geo formats
@pytest.fixture
def incident_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "category": ["Robbery", "x", "y"],
            "name": ["Jo", "Al", "Bo"],
        },
        geometry=[shapely.Point(-0.1, 51.5), shapely.box(0, 51, 0.1, 51.1), None],
        crs="EPSG:4326",
    )


def test_read_geojson_incidents(incident_points: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "incidents.geojson"
    incident_points.to_file(path, driver="GeoJSON")
    raw = gio.read_incidents(path, source="ambulance")
    assert raw[["id", "occurred", "lat", "lon", "row"]].values.tolist()[0] == [
        "a",
        "2024-01-01",
        "51.5",
        "-0.1",
        1,
    ]
    assert "Jo" not in raw.astype(str).to_numpy().ravel().tolist()
    valid, rejects = validate_incidents(raw)
    assert valid["id"].tolist() == ["a"]
    assert rejects[["row", "reason", "detail"]].values.tolist() == [
        [2, "not a point", "Polygon"],
        [3, "no location", None],
    ]


def test_read_geopackage_in_bng(incident_points: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "incidents.gpkg"
    incident_points.to_crs("EPSG:27700").to_file(path)
    valid, _ = validate_incidents(gio.read_incidents(path))
    assert valid["lat"].iloc[0] == pytest.approx(51.5, abs=1e-6)
    assert valid["lon"].iloc[0] == pytest.approx(-0.1, abs=1e-6)


def test_geopackage_without_crs_is_a_crs_error(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    frame = gpd.GeoDataFrame({"date": ["2024-01-01"]}, geometry=[shapely.Point(1, 2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio warns that no CRS is written
        frame.to_file(path)
    with pytest.raises(CRSError, match="nocrs.gpkg"):
        gio.read_incidents(path)


# --------------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", b"", "empty file"),
        ("blank.csv", b"\r\n\r\n", "empty file"),
        ("corrupt.csv.gz", b"\x1f\x8b\x08\x00garbage", "gzip"),
        ("plain.csv.gz", b"id,date,lat,lon\n", "gzip"),
        ("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("utf16.csv", "id,date\n".encode("utf-16"), "UTF-16"),
        ("table.xlsx", b"PK\x03\x04", "unsupported file type"),
        ("broken.geojson", b"{not json", "not a readable"),
    ],
)
def test_unreadable_files_are_input_file_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as info:
        gio.read_incidents(path)
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_folder_without_csv_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputFileError, match="no .csv"):
        gio.read_incidents(tmp_path)


def test_no_location_columns_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "noloc.csv"
    path.write_text("id,date,street\n1,2024-01-01,High St\n")
    with pytest.raises(SchemaError) as info:
        gio.read_incidents(path)
    message = str(info.value)
    assert message.startswith("noloc.csv: no usable location columns")
    assert "columns found: 'id', 'date', 'street'" in message


def test_no_date_column(tmp_path: Path) -> None:
    path = tmp_path / "nodate.csv"
    path.write_text("id,lat,lon\n1,51.5,-0.1\n")
    with pytest.raises(SchemaError, match="nodate.csv: no date column"):
        gio.read_incidents(path)


# --------------------------------------------------------------------------- interventions
def test_read_interventions_csv(tmp_path: Path) -> None:
    path = tmp_path / "interventions.csv"
    path.write_text(
        "ID,Name,Type,Lead agency,Partners,Start date,End date,Latitude,Longitude,Radius,"
        "Contact phone\n"
        'i1,Patrol,patrol,Police,"council;youth service",2024-01,,51.5,-0.1,150,07700900000\n'
    )
    raw = gio.read_interventions(path)
    assert list(raw.columns) == [*RAW_INTERVENTION_COLUMNS, "geometry"]
    assert raw.crs.to_epsg() == 4326
    assert list(raw.loc[0, ["id", "lead_agency", "partner_agencies", "start", "radius_m"]]) == [
        "i1",
        "Police",
        "council;youth service",
        "2024-01",
        "150",
    ]
    assert "07700900000" not in raw.astype(str).to_numpy().ravel().tolist()


def test_read_interventions_wkt_csv(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text('id,start,geometry\nr1,2024-01-01,"LINESTRING (-0.1 51.5, -0.09 51.51)"\n')
    raw = gio.read_interventions(path)
    assert raw.loc[0, "wkt"].startswith("LINESTRING")


def test_read_interventions_geo(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["p"], "name": ["Park"], "start": ["2024-01-01"], "partners": ["a;b"]},
        geometry=[shapely.box(530000, 180000, 530100, 180100)],
        crs="EPSG:27700",
    )
    path = tmp_path / "interventions.gpkg"
    frame.to_file(path)
    raw = gio.read_interventions(path)
    assert raw.crs.to_epsg() == 4326
    assert raw.loc[0, "partner_agencies"] == "a;b" and raw.loc[0, "row"] == 1
    assert raw.geometry.iloc[0].bounds[1] == pytest.approx(51.504, abs=0.001)


def test_interventions_without_start_or_geometry(tmp_path: Path) -> None:
    path = tmp_path / "iv.csv"
    path.write_text("id,name\n1,x\n")
    with pytest.raises(SchemaError) as info:
        gio.read_interventions(path)
    assert len(info.value.problems) == 2


# --------------------------------------------------------------------------- study area
def test_read_area_unions_and_reprojects(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        geometry=[
            shapely.box(530000, 180000, 531000, 181000),
            shapely.box(531000, 180000, 532000, 181000),
        ],
        crs="EPSG:27700",
    )
    path = tmp_path / "area.gpkg"
    frame.to_file(path)
    area = gio.read_area(path)
    assert area.geom_type == "Polygon"
    minx, miny, maxx, maxy = area.bounds
    assert -0.13 < minx < maxx < -0.09 and 51.50 < miny < maxy < 51.52


def test_read_area_needs_a_crs_and_polygons(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio warns that no CRS is written
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(path)
    with pytest.raises(CRSError, match="nocrs.gpkg"):
        gio.read_area(path)
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4326).to_file(points)
    with pytest.raises(SchemaError, match="must be polygons"):
        gio.read_area(points)


# --------------------------------------------------------------------------- writers
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": ["89194ad3353ffff", "89194ad3357ffff"],
            "count": np.array([3, 1], dtype=np.int64),
            "when": pd.to_datetime(["2024-01-01", "2024-02-01"]).astype("datetime64[ns]"),
            "note": ["x", None],
        },
        index=[10, 20],
    )


def test_parquet_is_byte_identical_on_rewrite(table: pd.DataFrame, tmp_path: Path) -> None:
    gio.write_parquet(table, tmp_path / "a.parquet")
    gio.write_parquet(table.copy(), tmp_path / "b.parquet")
    assert sha(tmp_path / "a.parquet") == sha(tmp_path / "b.parquet")
    back = pd.read_parquet(tmp_path / "a.parquet")
    assert back["count"].tolist() == [3, 1] and back.index.tolist() == [0, 1]
    assert back["when"].dtype == "datetime64[ns]"


def test_geoparquet_is_byte_identical_and_keeps_crs(table: pd.DataFrame, tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(table, geometry=[shapely.Point(-0.1, 51.5), None], crs="EPSG:4326")
    gio.write_geoparquet(gdf, tmp_path / "a.parquet")
    gio.write_geoparquet(gdf.copy(), tmp_path / "b.parquet")
    assert sha(tmp_path / "a.parquet") == sha(tmp_path / "b.parquet")
    back = gpd.read_parquet(tmp_path / "a.parquet")
    assert back.crs.to_epsg() == 4326
    assert back.geometry.iloc[0].equals(shapely.Point(-0.1, 51.5))
    assert back.geometry.iloc[1] is None


def test_geoparquet_needs_a_crs(table: pd.DataFrame, tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(table, geometry=[shapely.Point(0, 0)] * 2)
    with pytest.raises(CRSError):
        gio.write_geoparquet(gdf, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_writes_leave_no_temporary_files(table: pd.DataFrame, tmp_path: Path) -> None:
    gio.write_csv(table, tmp_path / "t.csv")
    gio.write_json(
        {"rows": np.int64(2), "path": Path("a/b"), "nan": float("nan")}, tmp_path / "m.json"
    )
    gio.write_parquet(table, tmp_path / "t.parquet")
    gio.atomic_write_bytes(tmp_path / "deep" / "x.bin", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "m.json", "t.csv", "t.parquet"]
    assert (tmp_path / "t.csv").read_bytes().startswith(b"h3,count,when,note\n89194ad3353ffff,3,")
    assert b"\r" not in (tmp_path / "t.csv").read_bytes()
    assert (
        (tmp_path / "m.json")
        .read_text()
        .startswith('{\n  "rows": 2,\n  "path": "a/b",\n  "nan": null')
    )


def test_failed_write_does_not_clobber_the_target(table: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    gio.write_parquet(table, target)
    before = sha(target)
    broken = table.assign(
        note=pd.Series([object(), object()], index=table.index)
    )  # Arrow cannot store arbitrary objects
    with pytest.raises(Exception, match="object"):
        gio.write_parquet(broken, target)
    assert sha(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_atomic_write_cleans_up_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        gio.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    assert gio.sha256_file(path) == hashlib.sha256(data).hexdigest()
