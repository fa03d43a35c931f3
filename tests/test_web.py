"""The web app: configuration, the map page, Leaflet served locally, the JSON API, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import LineString, Point, box

import web
from geojtai import grid, places
from geojtai.errors import StudyError
from geojtai.layers import load_layer_specs
from web import AREAS_KEY, create_app, state

EXTERNAL_URL = re.compile(r"https?://(?!(?:localhost|127\.0\.0\.1)[:/])[^\s\"'<>)]+")
# Sign-in is tested in test_web_auth.py: these apps serve everyone, on a throwaway database.
# Visitors browse as editors here, so counts are exact (internal); the published profile
# viewers get is tested in test_web_published.py.
SIGNED_OUT = {"LOGIN_REQUIRED": False, "ANONYMOUS_ROLE": "editor", "DATABASE_URL": "sqlite://"}
MONTHS = ["2024-01", "2024-02", "2024-03"]
COUNTS = [1, 2, 3, 5, 8, 11]  # incidents in each of six cells: 30 in all
HARM = {"robbery": 2.0, "violence with injury": 1.0}
SPECS = {spec.name: spec.to_dict() for spec in load_layer_specs()}
# The tiny study's place layers in priority order; it has no school in its area.
TINY_LAYERS = ["transport_hubs", "schools", "parks", "streets"]
# Where the tiny study's incidents happened, by cell (index into COUNTS): 1 incident in a
# park, 2 + 3 on streets, 11 at the station, the other 13 elsewhere.
TINY_PLACE_OF_CELL = ["parks", "streets", "streets", "other", "other", "transport_hubs"]


def tiny_incidents() -> pd.DataFrame:
    """30 incidents in six res-9 cells about 700 m apart, spread over three months."""
    where = np.repeat(np.arange(len(COUNTS)), COUNTS)
    n = where.size
    category = np.where(np.arange(n) % 2 == 0, "robbery", "violence with injury")
    return pd.DataFrame(
        {
            "lat": 52.0 + 0.006 * where,
            "lon": -1.0 + 0.004 * where,
            "month": np.array(MONTHS)[np.arange(n) % len(MONTHS)],
            "category": category,
            "harm": pd.Series(category).map(HARM).to_numpy(),
        }
    )


def write_tiny_study(folder: Path, *, empty: bool = False) -> pd.DataFrame:
    """Write a study folder as the build would; return its incidents (the known answers)."""
    incidents = tiny_incidents().iloc[:0] if empty else tiny_incidents()
    cells = grid.cells_from_points(
        incidents["lat"].to_numpy(), incidents["lon"].to_numpy(), resolution=9
    )
    incidents = incidents.assign(h3=grid.cells_to_hex(cells))
    incidents["category"] = incidents["category"].str.replace(" ", "_")
    by_cell = incidents.groupby("h3", sort=True)
    table = pd.DataFrame(
        {
            "count": by_cell.size(),
            "harm": by_cell["harm"].sum(),
            "first_month": by_cell["month"].min(),
            "last_month": by_cell["month"].max(),
            "months_active": by_cell["month"].nunique(),
        }
    )
    per_category = pd.crosstab(incidents["h3"], incidents["category"]).add_prefix("count_")
    table = table.join(per_category).fillna(0).reset_index()
    geometry = grid.cell_polygons(grid.cells_from_hex(table["h3"].to_numpy()))
    folder.mkdir(parents=True)
    gpd.GeoDataFrame(table, geometry=geometry, crs="EPSG:4326").to_parquet(folder / "cells.parquet")
    cell_months = (
        incidents.groupby(["h3", "month"], sort=True)
        .agg(count=("harm", "size"), harm=("harm", "sum"))
        .reset_index()
    )
    cell_months.to_parquet(folder / "cell_months.parquet")
    manifest = {"settings": {"name": "Tinytown", "resolution": 9}, "months": MONTHS}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return incidents


def write_tiny_places(folder: Path, incidents: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add the place files of a study built with places; return the place features."""
    lat0, lon0 = 52.0, -1.0  # the first cell's incidents: inside the park
    features = gpd.GeoDataFrame(
        {
            "layer": ["parks", "parks", "streets", "streets", "transport_hubs"],
            "name": ["Victoria Park", None, "High Street", None, "Tinytown Station"],
            "value": ["park", "playground", "primary", "footway", "station"],
            "class": [None, None, "major", "pedestrian", None],
            "source": "tiny.geojson",
            "row": [1, 2, 3, 4, 5],
            "feature_id": ["p1", "p2", "s1", "s2", "t1"],
        },
        geometry=[
            box(lon0 - 0.001, lat0 - 0.001, lon0 + 0.001, lat0 + 0.001),
            Point(lon0 + 0.02, lat0 + 0.002).buffer(0.0005),
            LineString([(lon0 + 0.004, lat0 + 0.006), (lon0 + 0.008, lat0 + 0.012)]),
            LineString([(lon0 + 0.004, lat0 + 0.004), (lon0 + 0.004, lat0 + 0.006)]),
            Point(lon0 + 0.02, lat0 + 0.03),
        ],
        crs="EPSG:4326",
    )
    features.to_parquet(folder / "places.parquet")
    specs = [SPECS[name] for name in TINY_LAYERS]
    (folder / "layers.json").write_text(json.dumps(specs), encoding="utf-8")
    cell = np.rint((incidents["lat"].to_numpy() - lat0) / 0.006).astype(int)  # tiny_incidents
    where = np.array(TINY_PLACE_OF_CELL, dtype=object)[cell]
    harm = incidents["harm"].to_numpy()
    places.place_share(where, incidents["month"].to_numpy(), harm, TINY_LAYERS).to_parquet(
        folder / "place_share.parquet"
    )
    names = pd.Series(where).map({"parks": "Victoria Park", "streets": "High Street"})
    places.top_places(where, names.to_numpy(dtype=object), harm).to_parquet(
        folder / "top_places.parquet"
    )
    return features


@pytest.fixture(autouse=True)
def no_geojtai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in the developer's shell must not leak into these tests."""
    for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_TILES", "GEOJTAI_TILES_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path / "study"
    return folder, write_tiny_study(folder)


@pytest.fixture
def app(study: tuple[Path, pd.DataFrame]) -> Flask:
    return create_app({"TESTING": True, "STUDY_DIR": str(study[0]), **SIGNED_OUT})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def place_study(study: tuple[Path, pd.DataFrame]) -> tuple[Path, gpd.GeoDataFrame]:
    """The tiny study, built with place layers."""
    return study[0], write_tiny_places(*study)


@pytest.fixture
def place_client(place_study: tuple[Path, gpd.GeoDataFrame]) -> FlaskClient:
    return create_app(
        {"TESTING": True, "STUDY_DIR": str(place_study[0]), **SIGNED_OUT}
    ).test_client()


@pytest.fixture(scope="module")
def sample_client(sample_study: Path) -> FlaskClient:
    """The sample town's study, served (one app for the module: it is only read)."""
    config = {"TESTING": True, "STUDY_DIR": str(sample_study), "TILES": None}
    return create_app({**config, **SIGNED_OUT}).test_client()


def expected_counts(incidents: pd.DataFrame, month: str | None = None) -> dict[str, int]:
    rows = incidents if month is None else incidents[incidents["month"] == month]
    return {str(k): int(v) for k, v in rows["h3"].value_counts().items()}


# -- configuration ---------------------------------------------------------------------------


def test_defaults() -> None:
    app = create_app({"TESTING": True, **SIGNED_OUT})
    assert app.config["TILES"] is None
    assert app.config["STUDY_DIR"] is None
    assert app.config["SECRET_KEY"]


def test_study_dir_from_the_environment(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOJTAI_STUDY_DIR", str(study[0]))
    monkeypatch.setenv("GEOJTAI_TILES", "http://127.0.0.1:8080/{z}/{x}/{y}.png")
    app = create_app(SIGNED_OUT)
    assert next(iter(app.extensions[AREAS_KEY].values())).title == "Tinytown"
    assert app.config["TILES"] == "http://127.0.0.1:8080/{z}/{x}/{y}.png"


def test_test_config_wins_over_the_environment(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEOJTAI_STUDY_DIR", str(tmp_path / "elsewhere"))
    app = create_app({"STUDY_DIR": str(study[0]), **SIGNED_OUT})
    assert next(iter(app.extensions[AREAS_KEY].values())).study.path == study[0]


def test_study_is_loaded_once(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = web.load_study

    def counting_load_study(path: Any) -> Any:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(web, "load_study", counting_load_study)
    client = create_app({"TESTING": True, "STUDY_DIR": str(study[0]), **SIGNED_OUT}).test_client()
    for url in ("/", "/api/summary", "/api/cells.geojson", "/?month=2024-02"):
        assert client.get(url).status_code == 200
    assert calls == [str(study[0])]


def test_places_are_read_once_per_app(
    place_study: tuple[Path, gpd.GeoDataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = state.load_places

    def counting_load_places(study: Any) -> Any:
        calls.append(study.path)
        return real(study)

    monkeypatch.setattr(state, "load_places", counting_load_places)
    client = create_app(
        {"TESTING": True, "STUDY_DIR": str(place_study[0]), **SIGNED_OUT}
    ).test_client()
    for url in ("/", "/api/layers", "/api/places/parks.geojson", "/api/places/parks.geojson"):
        assert client.get(url).status_code == 200
    assert calls == [place_study[0]]
    create_app({"TESTING": True, "STUDY_DIR": str(place_study[0]), **SIGNED_OUT})
    assert calls == [place_study[0]] * 2  # a second app reads them again


def test_unreadable_places_name_the_study(place_study: tuple[Path, gpd.GeoDataFrame]) -> None:
    (place_study[0] / "places.parquet").write_bytes(b"not parquet")
    with pytest.raises(StudyError, match=r"cannot read the study's places"):
        create_app({"TESTING": True, "STUDY_DIR": str(place_study[0]), **SIGNED_OUT})


def test_missing_study_dir_explains_what_to_set() -> None:
    client = create_app({"TESTING": True, **SIGNED_OUT}).test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert "GEOJTAI_STUDY_DIR" in page.get_data(as_text=True)
    api = client.get("/api/summary")
    assert api.status_code == 503
    assert "STUDY_DIR" in api.get_json()["error"]
    assert client.get("/healthz").status_code == 503
    for url in ("/api/layers", "/api/places/parks.geojson", "/api/places/summary"):
        assert client.get(url).status_code == 503


def test_missing_study_folder_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "not-built"
    with pytest.raises(StudyError, match=re.escape(str(folder))):
        create_app({"TESTING": True, "STUDY_DIR": str(folder), **SIGNED_OUT})


def test_incomplete_study_folder_names_what_is_missing(
    study: tuple[Path, pd.DataFrame],
) -> None:
    (study[0] / "cell_months.parquet").unlink()
    with pytest.raises(StudyError, match=r"study.*missing cell_months\.parquet"):
        create_app({"TESTING": True, "STUDY_DIR": str(study[0]), **SIGNED_OUT})


# -- the map page ----------------------------------------------------------------------------


def test_map_page(client: FlaskClient, study: tuple[Path, pd.DataFrame]) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert all(h in html for h in expected_counts(study[1]))
    assert "<h1>Tinytown</h1>" in html
    assert "2024-01 to 2024-03" in html
    assert "30 incidents" in html and "6 cells" in html
    assert '<script src="/static/vendor/leaflet/leaflet.js">' in html
    assert "/static/geojtai.css" in html
    assert EXTERNAL_URL.findall(html) == []
    assert "L.tileLayer" not in html


def test_map_page_for_one_month(client: FlaskClient, study: tuple[Path, pd.DataFrame]) -> None:
    html = client.get("/?month=2024-02").get_data(as_text=True)
    february = expected_counts(study[1], "2024-02")
    assert f"{sum(february.values())} incidents" in html
    assert '<span id="geojtai-fact-period">2024-02</span>' in html
    assert all(h in html for h in february)


def test_map_page_with_local_tiles(study: tuple[Path, pd.DataFrame]) -> None:
    tiles = "http://127.0.0.1:8080/{z}/{x}/{y}.png"
    config = {"TESTING": True, "STUDY_DIR": str(study[0]), "TILES": tiles}
    app = create_app({**config, "TILES_ATTRIBUTION": "Local tile server", **SIGNED_OUT})
    html = app.test_client().get("/").get_data(as_text=True)
    assert "L.tileLayer" in html and "Local tile server" in html


def page_settings(html: str) -> dict[str, Any]:
    """The settings the page hands to geojtai.js."""
    found = re.search(r'<script type="application/json" id="geojtai-page">(.*?)</script>', html)
    assert found is not None
    settings: dict[str, Any] = json.loads(found.group(1))
    return settings


def test_map_page_with_place_layers(place_client: FlaskClient) -> None:
    html = place_client.get("/?month=2024-02").get_data(as_text=True)
    settings = page_settings(html)
    assert [layer["name"] for layer in settings["layers"]] == TINY_LAYERS
    assert settings["summary_url"] == "/api/places/summary?month=2024-02"
    assert settings["month"] == "2024-02"
    assert 'id="geojtai-places-panel"' in html and "Where incidents happened" in html
    # The page script runs after the folium map's script, which it needs.
    assert html.index("window.geojtaiMap = map") < html.index('src="/static/geojtai.js"')
    assert EXTERNAL_URL.findall(html) == []


def test_map_page_without_places(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert page_settings(html)["layers"] == []
    assert "geojtai-places-panel" not in html


def test_only_cells_with_incidents_are_drawn(study: tuple[Path, pd.DataFrame]) -> None:
    """The cell table covers the whole study region; cells with no incident stay off the map."""
    folder = study[0]
    cells = gpd.read_parquet(folder / "cells.parquet")
    empty_ids = grid.cells_from_points(
        np.array([51.9, 51.95]), np.array([-1.1, -1.1]), resolution=9
    )
    empty = gpd.GeoDataFrame(
        {"h3": grid.cells_to_hex(empty_ids), "count": 0, "harm": 0.0},
        geometry=grid.cell_polygons(empty_ids),
        crs="EPSG:4326",
    )
    pd.concat([cells, empty], ignore_index=True).to_parquet(folder / "cells.parquet")
    client = create_app({"TESTING": True, "STUDY_DIR": str(folder), **SIGNED_OUT}).test_client()
    features = json.loads(client.get("/api/cells.geojson").data)["features"]
    assert {f["properties"]["h3"] for f in features} == set(expected_counts(study[1]))
    assert client.get("/api/summary").get_json()["n_cells"] == len(COUNTS)
    html = client.get("/").get_data(as_text=True)
    assert "6 cells" in html and not any(h in html for h in empty["h3"])


def test_empty_study_shows_no_cells_message(tmp_path: Path) -> None:
    write_tiny_study(tmp_path / "empty", empty=True)
    client = create_app(
        {"TESTING": True, "STUDY_DIR": str(tmp_path / "empty"), **SIGNED_OUT}
    ).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert "No cells to show" in page.get_data(as_text=True)
    assert client.get("/api/summary").get_json()["n_cells"] == 0


# -- assets ----------------------------------------------------------------------------------


def test_leaflet_is_served_from_the_package(client: FlaskClient) -> None:
    js = client.get("/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200
    assert js.mimetype in {"text/javascript", "application/javascript"}
    assert b"Leaflet" in js.data[:500]
    css = client.get("/static/vendor/leaflet/leaflet.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    png = client.get("/static/vendor/leaflet/images/layers.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    for response in (js, css, png):
        response.close()


@pytest.mark.parametrize("path", ["nope.js", "../__init__.py", "..%2F__init__.py"])
def test_leaflet_route_serves_nothing_else(client: FlaskClient, path: str) -> None:
    assert client.get(f"/static/vendor/leaflet/{path}").status_code == 404


def test_own_css_is_local(client: FlaskClient) -> None:
    css = client.get("/static/geojtai.css")
    assert css.status_code == 200
    assert not re.search(r"https?:|@import|url\(", css.get_data(as_text=True))
    css.close()


def test_own_js_is_local(client: FlaskClient) -> None:
    js = client.get("/static/geojtai.js")
    assert js.status_code == 200
    assert js.mimetype in {"text/javascript", "application/javascript"}
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", js.get_data(as_text=True))
    js.close()


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("month", [None, "2024-01", "2024-03"])
def test_cells_geojson(
    client: FlaskClient, study: tuple[Path, pd.DataFrame], month: str | None
) -> None:
    response = client.get("/api/cells.geojson", query_string={"month": month} if month else {})
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    data = json.loads(response.data)
    assert data["type"] == "FeatureCollection"
    expected = expected_counts(study[1], month)
    assert len(data["features"]) == len(expected)
    assert {f["properties"]["h3"]: f["properties"]["value"] for f in data["features"]} == expected
    frame = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert frame.geom_type.eq("Polygon").all() and frame.is_valid.all()


def test_summary(client: FlaskClient) -> None:
    summary = client.get("/api/summary").get_json()
    assert summary | {"rule": None} == {
        "name": "Tinytown",
        "months": MONTHS,
        "month": None,
        "n_cells": len(COUNTS),
        "resolution": 9,
        "total_count": sum(COUNTS),
        "total_text": f"{sum(COUNTS)} incidents",
        "description": "all months",
        "unknown_time_excluded": 0,
        "profile": "internal",
        "rule": None,
    }
    assert summary["rule"].startswith("Internal profile")


def test_summary_for_one_month(client: FlaskClient, study: tuple[Path, pd.DataFrame]) -> None:
    summary = client.get("/api/summary?month=2024-01").get_json()
    assert summary["month"] == "2024-01"
    assert summary["total_count"] == int((study[1]["month"] == "2024-01").sum())


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "studies": [{"name": "study", "title": "Tinytown", "n_cells": 6}],
    }


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2024-13", "YYYY-MM"),
        ("24-01", "YYYY-MM"),
        ("March", "YYYY-MM"),
        ("2024-01; DROP", "YYYY-MM"),
        ("2023-12", "not in this study (2024-01 to 2024-03)"),
    ],
)
def test_bad_month_is_400(client: FlaskClient, month: str, message: str) -> None:
    api = client.get("/api/cells.geojson", query_string={"month": month})
    assert api.status_code == 400
    assert message in api.get_json()["error"]
    page = client.get("/", query_string={"month": month})
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)


def test_blank_month_means_all_months(client: FlaskClient) -> None:
    assert client.get("/api/summary?month=").get_json()["total_count"] == sum(COUNTS)


def test_unknown_api_path_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404
    assert "error" in response.get_json()


# -- the API: place layers -------------------------------------------------------------------


def test_layers(place_client: FlaskClient) -> None:
    layers = place_client.get("/api/layers").get_json()
    assert [layer["name"] for layer in layers] == TINY_LAYERS
    by_name = {layer["name"]: layer for layer in layers}
    assert {name: layer["count"] for name, layer in by_name.items()} == {
        "transport_hubs": 1,
        "schools": 0,
        "parks": 2,
        "streets": 2,
    }
    parks = by_name["parks"]
    assert parks["title"] == SPECS["parks"]["title"]
    assert parks["kind"] == "polygon"
    assert parks["style"] == SPECS["parks"]["style"]
    assert parks["url"] == "/api/places/parks.geojson"
    # Streets are dense: the map starts with them off.
    assert {name: layer["shown"] for name, layer in by_name.items()} == {
        "transport_hubs": True,
        "schools": True,
        "parks": True,
        "streets": False,
    }


@pytest.mark.parametrize(
    ("name", "kind", "values"),
    [
        ("parks", "Polygon", ["park", "playground"]),
        ("streets", "LineString", ["primary", "footway"]),
        ("transport_hubs", "Point", ["station"]),
        ("schools", None, []),
    ],
)
def test_place_layer_geojson(
    place_client: FlaskClient,
    place_study: tuple[Path, gpd.GeoDataFrame],
    name: str,
    kind: str | None,
    values: list[str],
) -> None:
    response = place_client.get(f"/api/places/{name}.geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    data = json.loads(response.data)
    assert data["type"] == "FeatureCollection"
    assert [f["properties"]["value"] for f in data["features"]] == values
    expected = place_study[1][place_study[1]["layer"] == name]
    names = expected["name"].astype(object).where(expected["name"].notna(), None).tolist()
    assert [f["properties"]["name"] for f in data["features"]] == names
    if not values:
        return
    frame = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert frame.geom_type.eq(kind).all() and frame.is_valid.all()
    assert shapely.equals_exact(
        frame.geometry.values, expected.geometry.values, tolerance=1e-6
    ).all()
    style = SPECS[name]["style"]
    assert {f["properties"]["colour"] for f in data["features"]} == {style["colour"]}


def test_place_layer_geojson_carries_road_classes(place_client: FlaskClient) -> None:
    features = json.loads(place_client.get("/api/places/streets.geojson").data)["features"]
    assert [f["properties"]["class"] for f in features] == ["major", "pedestrian"]
    major, footway = (f["properties"]["weight"] for f in features)
    assert major > SPECS["streets"]["style"]["weight"] > footway


def test_place_layer_can_be_cached(place_client: FlaskClient) -> None:
    first = place_client.get("/api/places/parks.geojson")
    assert first.headers["ETag"]
    again = place_client.get(
        "/api/places/parks.geojson", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("name", ["playgrounds", "Parks", "parks.json", "parks.geojson"])
def test_unknown_place_layer_is_404_naming_the_layers(place_client: FlaskClient, name: str) -> None:
    response = place_client.get(f"/api/places/{name}.geojson")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert "transport_hubs, schools, parks, streets" in error


@pytest.mark.parametrize("path", ["..%2Fmanifest.geojson", "../manifest.json", "parks"])
def test_place_layer_paths_outside_the_layers_are_404(place_client: FlaskClient, path: str) -> None:
    response = place_client.get(f"/api/places/{path}")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_places_summary(place_client: FlaskClient, study: tuple[Path, pd.DataFrame]) -> None:
    answer = place_client.get("/api/places/summary").get_json()
    assert answer["month"] is None
    assert answer["total_incidents"] == sum(COUNTS)
    assert answer["total_harm"] == pytest.approx(study[1]["harm"].sum())
    shares = {row["place_type"]: row for row in answer["shares"]}
    assert list(shares) == [*TINY_LAYERS, "other"]
    assert {k: row["incidents"] for k, row in shares.items()} == {
        "transport_hubs": 11,
        "schools": 0,
        "parks": 1,
        "streets": 5,
        "other": 13,
    }
    assert shares["parks"]["share_incidents"] == pytest.approx(1 / 30, abs=1e-6)
    assert shares["other"]["title"] == "Elsewhere"
    assert shares["parks"]["title"] == SPECS["parks"]["title"]
    assert sum(row["share_incidents"] for row in answer["shares"]) == pytest.approx(1)
    assert sum(row["share_harm"] for row in answer["shares"]) == pytest.approx(1)
    top = [(row["place_type"], row["rank"], row["place_name"]) for row in answer["top_places"]]
    assert top == [("parks", 1, "Victoria Park"), ("streets", 1, "High Street")]


@pytest.mark.parametrize("month", MONTHS)
def test_places_summary_for_one_month(
    place_client: FlaskClient, study: tuple[Path, pd.DataFrame], month: str
) -> None:
    answer = place_client.get("/api/places/summary", query_string={"month": month}).get_json()
    assert answer["month"] == month
    in_month = study[1][study[1]["month"] == month]
    assert answer["total_incidents"] == len(in_month)
    assert sum(row["share_incidents"] for row in answer["shares"]) == pytest.approx(1)


@pytest.mark.parametrize(
    ("month", "message"),
    [("2024-13", "YYYY-MM"), ("2024-1", "YYYY-MM"), ("2023-12", "not in this study")],
)
def test_places_summary_bad_month_is_400(
    place_client: FlaskClient, month: str, message: str
) -> None:
    response = place_client.get("/api/places/summary", query_string={"month": month})
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_study_without_places_has_no_place_layers(client: FlaskClient) -> None:
    """A study built before place layers existed still serves, with none."""
    assert client.get("/").status_code == 200
    assert client.get("/api/layers").get_json() == []
    response = client.get("/api/places/parks.geojson")
    assert response.status_code == 404
    assert "built without places" in response.get_json()["error"]
    answer = client.get("/api/places/summary").get_json()
    assert answer | {"rule": None} == {
        "description": None,
        "rule": None,
        "month": None,
        "total_incidents": 0,
        "total_harm": 0,
        "shares": [],
        "top_places": [],
    }


# -- the sample town -------------------------------------------------------------------------


def test_sample_study_serves_every_place_layer(
    sample_client: FlaskClient, sample_study: Path
) -> None:
    features = gpd.read_parquet(sample_study / "places.parquet")
    specs = json.loads((sample_study / "layers.json").read_text(encoding="utf-8"))
    layers = sample_client.get("/api/layers").get_json()
    assert [layer["name"] for layer in layers] == [spec["name"] for spec in specs]
    assert {"parks", "streets", "shopping_centres"} <= {layer["name"] for layer in layers}
    geometry_types = {
        "polygon": {"Polygon", "MultiPolygon"},
        "line": {"LineString", "MultiLineString"},
        "point": {"Point"},
    }
    for layer in layers:
        response = sample_client.get(layer["url"])
        assert response.status_code == 200, layer["name"]
        frame = gpd.GeoDataFrame.from_features(json.loads(response.data), crs="EPSG:4326")
        expected = int((features["layer"] == layer["name"]).sum())
        assert len(frame) == layer["count"] == expected > 0, layer["name"]
        assert set(frame.geom_type) <= geometry_types[layer["kind"]], layer["name"]
        assert frame.is_valid.all(), layer["name"]


def test_sample_study_place_question(sample_client: FlaskClient) -> None:
    summary = sample_client.get("/api/summary").get_json()
    answer = sample_client.get("/api/places/summary").get_json()
    assert answer["total_incidents"] == summary["total_count"]
    assert sum(row["share_incidents"] for row in answer["shares"]) == pytest.approx(1)
    assert sum(row["share_harm"] for row in answer["shares"]) == pytest.approx(1)
    assert {"parks", "streets", "shopping_centres", "other"} <= {
        row["place_type"] for row in answer["shares"]
    }
    month = summary["months"][-1]
    cells = sample_client.get("/api/summary", query_string={"month": month}).get_json()
    one = sample_client.get("/api/places/summary", query_string={"month": month}).get_json()
    assert one["total_incidents"] == cells["total_count"]
    assert sum(row["share_incidents"] for row in one["shares"]) == pytest.approx(1)


# -- the sample town: cell layers, interventions, the cell panel ------------------------------

HOT_CELL = "89195ca198fffff"  # the Arndale: a persistent 99% hot spot with two interventions


@pytest.mark.parametrize(
    ("layer", "title"),
    [
        ("count", "Incidents per cell"),
        ("risk", "Contextual risk"),
        ("hotspots", "Hot spots"),
        ("emerging", "Emerging hot spots"),
        ("gaps", "Gaps"),
    ],
)
def test_sample_study_cell_layers(
    sample_client: FlaskClient, sample_study: Path, layer: str, title: str
) -> None:
    response = sample_client.get("/api/cells.geojson", query_string={"layer": layer})
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    data = json.loads(response.data)
    assert data["features"], layer
    assert data["legend"]["title"].startswith(title)
    legend_colours = {item["colour"] for item in data["legend"]["items"]}
    fills = {f["properties"]["fill"] for f in data["features"]}
    assert all(re.fullmatch(r"#[0-9a-f]{6}", fill) for fill in fills)
    assert fills <= legend_colours
    frame = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert frame.geom_type.eq("Polygon").all()
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    if layer == "emerging":
        expected = int((cells["emerging"] != "no pattern detected").sum())
        assert len(frame) == expected
        assert "no pattern detected" not in set(frame["label"])
    if layer == "gaps":
        gaps = gpd.read_parquet(sample_study / "gaps.parquet")
        assert sorted(frame["h3"]) == sorted(gaps["h3"])
    if layer == "hotspots":
        by_h3 = dict(zip(frame["h3"], frame["fill"], strict=True))
        assert by_h3[HOT_CELL] == "#d62f27"  # 99% hot spot: ArcGIS's deepest red


def test_count_layer_matches_the_incident_map(sample_client: FlaskClient) -> None:
    summary = sample_client.get("/api/summary").get_json()
    month = summary["months"][-1]
    for query, total in [({}, summary["total_count"]), ({"month": month}, None)]:
        data = json.loads(sample_client.get("/api/cells.geojson", query_string=query).data)
        counts = [f["properties"]["value"] for f in data["features"]]
        assert "count" not in data["features"][0]["properties"]  # the value says it once
        expected = sample_client.get("/api/summary", query_string=query).get_json()
        assert sum(counts) == expected["total_count"] == (total or expected["total_count"])


def test_risk_colours_rise_with_risk(sample_client: FlaskClient) -> None:
    data = json.loads(sample_client.get("/api/cells.geojson?layer=risk").data)
    order = [item["colour"] for item in data["legend"]["items"]]
    ranked = sorted(data["features"], key=lambda f: f["properties"]["value"])
    classes = [order.index(f["properties"]["fill"]) for f in ranked]
    assert classes == sorted(classes) and classes[0] < classes[-1]


@pytest.mark.parametrize("layer", ["Risk", "heat", "count;", "places"])
def test_unknown_cell_layer_is_400_naming_the_layers(
    sample_client: FlaskClient, layer: str
) -> None:
    response = sample_client.get("/api/cells.geojson", query_string={"layer": layer})
    assert response.status_code == 400
    assert "count, risk, hotspots, emerging, gaps" in response.get_json()["error"]


def test_month_is_only_for_counts(sample_client: FlaskClient) -> None:
    month = sample_client.get("/api/summary").get_json()["months"][0]
    response = sample_client.get(
        "/api/cells.geojson", query_string={"layer": "risk", "month": month}
    )
    assert response.status_code == 400
    assert "layer=count" in response.get_json()["error"]


def test_study_without_analysis_has_only_counts(client: FlaskClient) -> None:
    assert client.get("/api/cells.geojson?layer=count").status_code == 200
    for layer in ("risk", "hotspots", "emerging", "gaps"):
        response = client.get("/api/cells.geojson", query_string={"layer": layer})
        assert response.status_code == 404
        assert "built without" in response.get_json()["error"]
    settings = page_settings(client.get("/").get_data(as_text=True))
    assert [layer["name"] for layer in settings["cell_layers"]] == ["count"]
    assert settings["interventions"]["count"] == 0


def test_no_interventions_is_an_empty_collection(client: FlaskClient) -> None:
    response = client.get("/api/interventions.geojson")
    assert response.status_code == 200
    assert json.loads(response.data) == {"type": "FeatureCollection", "features": []}


def test_sample_study_interventions(sample_client: FlaskClient, sample_study: Path) -> None:
    expected = gpd.read_parquet(sample_study / "interventions.parquet")
    response = sample_client.get("/api/interventions.geojson")
    assert response.mimetype == "application/geo+json"
    features = json.loads(response.data)["features"]
    assert [f["properties"]["id"] for f in features] == expected["id"].tolist()
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    assert (frame.geom_type.to_numpy() == expected.geom_type.to_numpy()).all()
    props = {f["properties"]["id"]: f["properties"] for f in features}
    cctv = props["INT-03"]
    assert cctv["type"] == "cctv" and cctv["radius_m"] == 150.0
    assert cctv["lead_agency"] == "council" and cctv["partner_agencies"] == ["police"]
    assert cctv["start_month"] == "2024-04" and cctv["hours"] == "00:00-24:00"
    assert all(re.fullmatch(r"#[0-9a-f]{6}", p["colour"]) for p in props.values())
    # One colour per type: the same type always looks the same.
    by_type = {(p["type"], p["colour"]) for p in props.values()}
    assert len(by_type) == len({p["type"] for p in props.values()})


def test_cell_details_of_a_hot_cell(sample_client: FlaskClient, sample_study: Path) -> None:
    cells = gpd.read_parquet(sample_study / "cells.parquet").set_index("h3")
    row = cells.loc[HOT_CELL]
    details = sample_client.get(f"/api/cell/{HOT_CELL}").get_json()
    assert details["h3"] == HOT_CELL
    assert details["place_type"] == row["place_type"] and details["place_name"] == row["place_name"]
    assert details["count"] == row["count"] == sum(details["series"])
    assert len(details["series"]) == len(details["months"])
    assert details["gi_class"] == "hot spot 99%"
    assert details["emerging"] == row["emerging"]
    assert details["risk"] == pytest.approx(row["risk"], abs=1e-3)
    assert details["relative_risk"] == pytest.approx(row["relative_risk"], abs=1e-3)
    assert "; ".join(details["risk_factors"]) == row["risk_factors"]
    assert "in or touching shopping centres and retail areas ×2.84" in details["risk_factors"]
    assert details["intervention_ids"] == row["intervention_ids"].split(";")
    assert [i["id"] for i in details["interventions"]] == details["intervention_ids"]
    assert "police" in details["agencies"]


@pytest.mark.parametrize("h3", ["zzz", "89195ca198ffff", "8928308280fffff", "89195CA198FFFFF"])
def test_unknown_cell_is_404(sample_client: FlaskClient, h3: str) -> None:
    response = sample_client.get(f"/api/cell/{h3}")
    assert response.status_code == 404
    assert f"No cell {h3!r} in this study" in response.get_json()["error"]


def test_sample_page_offers_the_layers(sample_client: FlaskClient) -> None:
    html = sample_client.get("/").get_data(as_text=True)
    settings = page_settings(html)
    assert [layer["name"] for layer in settings["cell_layers"]] == [
        "count",
        "risk",
        "hotspots",
        "emerging",
        "gaps",
    ]
    assert settings["interventions"] == {"url": "/api/interventions.geojson", "count": 12}
    assert settings["cell_url"] == "/api/cell/"
    assert 'id="geojtai-cell-panel"' in html
    assert EXTERNAL_URL.findall(html) == []
