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
from flask import Flask
from flask.testing import FlaskClient

import web
from geojtai import grid
from geojtai.errors import StudyError
from web import STUDY_KEY, create_app

EXTERNAL_URL = re.compile(r"https?://(?!(?:localhost|127\.0\.0\.1)[:/])[^\s\"'<>)]+")
MONTHS = ["2024-01", "2024-02", "2024-03"]
COUNTS = [1, 2, 3, 5, 8, 11]  # incidents in each of six cells: 30 in all
HARM = {"robbery": 2.0, "violence with injury": 1.0}


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
    return create_app({"TESTING": True, "STUDY_DIR": str(study[0])})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def expected_counts(incidents: pd.DataFrame, month: str | None = None) -> dict[str, int]:
    rows = incidents if month is None else incidents[incidents["month"] == month]
    return {str(k): int(v) for k, v in rows["h3"].value_counts().items()}


# -- configuration ---------------------------------------------------------------------------


def test_defaults() -> None:
    app = create_app({"TESTING": True})
    assert app.config["TILES"] is None
    assert app.config["STUDY_DIR"] is None
    assert app.config["SECRET_KEY"]


def test_study_dir_from_the_environment(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOJTAI_STUDY_DIR", str(study[0]))
    monkeypatch.setenv("GEOJTAI_TILES", "http://127.0.0.1:8080/{z}/{x}/{y}.png")
    app = create_app()
    assert app.extensions[STUDY_KEY].name == "Tinytown"
    assert app.config["TILES"] == "http://127.0.0.1:8080/{z}/{x}/{y}.png"


def test_test_config_wins_over_the_environment(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEOJTAI_STUDY_DIR", str(tmp_path / "elsewhere"))
    app = create_app({"STUDY_DIR": str(study[0])})
    assert app.extensions[STUDY_KEY].path == study[0]


def test_study_is_loaded_once(
    study: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = web.load_study

    def counting_load_study(path: Any) -> Any:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(web, "load_study", counting_load_study)
    client = create_app({"TESTING": True, "STUDY_DIR": str(study[0])}).test_client()
    for url in ("/", "/api/summary", "/api/cells.geojson", "/?month=2024-02"):
        assert client.get(url).status_code == 200
    assert calls == [str(study[0])]


def test_missing_study_dir_explains_what_to_set() -> None:
    client = create_app({"TESTING": True}).test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert "GEOJTAI_STUDY_DIR" in page.get_data(as_text=True)
    api = client.get("/api/summary")
    assert api.status_code == 503
    assert "STUDY_DIR" in api.get_json()["error"]
    assert client.get("/healthz").status_code == 503


def test_missing_study_folder_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "not-built"
    with pytest.raises(StudyError, match=re.escape(str(folder))):
        create_app({"TESTING": True, "STUDY_DIR": str(folder)})


def test_incomplete_study_folder_names_what_is_missing(
    study: tuple[Path, pd.DataFrame],
) -> None:
    (study[0] / "cell_months.parquet").unlink()
    with pytest.raises(StudyError, match=r"study.*missing cell_months\.parquet"):
        create_app({"TESTING": True, "STUDY_DIR": str(study[0])})


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
    assert '<option value="2024-02" selected>' in html
    assert all(h in html for h in february)


def test_map_page_with_local_tiles(study: tuple[Path, pd.DataFrame]) -> None:
    tiles = "http://127.0.0.1:8080/{z}/{x}/{y}.png"
    config = {"TESTING": True, "STUDY_DIR": str(study[0]), "TILES": tiles}
    app = create_app({**config, "TILES_ATTRIBUTION": "Local tile server"})
    html = app.test_client().get("/").get_data(as_text=True)
    assert "L.tileLayer" in html and "Local tile server" in html


def test_empty_study_shows_no_cells_message(tmp_path: Path) -> None:
    write_tiny_study(tmp_path / "empty", empty=True)
    client = create_app({"TESTING": True, "STUDY_DIR": str(tmp_path / "empty")}).test_client()
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
    assert {f["properties"]["h3"]: f["properties"]["count"] for f in data["features"]} == expected
    frame = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert frame.geom_type.eq("Polygon").all() and frame.is_valid.all()


def test_summary(client: FlaskClient) -> None:
    summary = client.get("/api/summary").get_json()
    assert summary == {
        "name": "Tinytown",
        "months": MONTHS,
        "month": None,
        "n_cells": len(COUNTS),
        "total_count": sum(COUNTS),
    }


def test_summary_for_one_month(client: FlaskClient, study: tuple[Path, pd.DataFrame]) -> None:
    summary = client.get("/api/summary?month=2024-01").get_json()
    assert summary["month"] == "2024-01"
    assert summary["total_count"] == int((study[1]["month"] == "2024-01").sum())


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "study": "Tinytown", "n_cells": 6}


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
