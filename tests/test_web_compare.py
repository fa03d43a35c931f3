"""The compare page: risk beside deployment, the coverage and bivariate GeoJSON, known answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from geojtai.bivariate import BIVARIATE_COLOURS
from web import AREAS_KEY, create_app
from web.compare import NO_RISK
from web.state import LiveDeployment

from .test_web import EXTERNAL_URL, write_tiny_study

SIGNED_OUT = {"LOGIN_REQUIRED": False, "DATABASE_URL": "sqlite://"}  # visitors: published
EDITOR = {"ANONYMOUS_ROLE": "editor"}  # with SIGNED_OUT: visitors see internal figures
# The hand-made cells: risk and agencies now of the tiny study's six cells, in file order.
RISK = [0.5, 3.0, 1.0, 2.0, 0.0, 0.2]
AGENCIES = [0, 0, 2, 1, 3, 0]
# Six cells: the riskiest (3.0) is high, the next (2.0) medium; zero risk is low.
CLASSES = ["low-none", "high-none", "low-multi", "medium-single", "low-multi", "low-none"]


@pytest.fixture(autouse=True)
def no_geojtai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_TILES", "GEOJTAI_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def add_columns(folder: Path, **columns: list[Any]) -> gpd.GeoDataFrame:
    """Give the study's cells more columns (risk, coverage), as a newer build would."""
    cells = gpd.read_parquet(folder / "cells.parquet").assign(**columns)
    cells.to_parquet(folder / "cells.parquet")
    return cells


def serve(folder: Path, **config: Any) -> FlaskClient:
    settings = {"TESTING": True, "STUDY_DIR": str(folder), **SIGNED_OUT, **config}
    return create_app(settings).test_client()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """The tiny study as an old build left it: counts only, no risk, no interventions."""
    write_tiny_study(tmp_path / "tiny")
    return tmp_path / "tiny"


@pytest.fixture
def rated(tiny: Path) -> Path:
    """The tiny study with the hand-made risk and agencies per cell."""
    add_columns(
        tiny,
        risk=RISK,
        agencies_now=AGENCIES,
        interventions_now=[min(a, 1) for a in AGENCIES],
        intervention_ids=["", "", "A;B", "A", "C", ""],
    )
    return tiny


@pytest.fixture(scope="module")
def sample(sample_study: Path) -> FlaskClient:
    return serve(sample_study)


def geojson(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/geo+json"
    data: dict[str, Any] = json.loads(response.data)
    assert data["type"] == "FeatureCollection"
    return data


def by_cell(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["h3"]: f["properties"] for f in data["features"]}


def page_settings(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="compare-page">(.*?)</script>', html)
    assert found is not None
    settings: dict[str, Any] = json.loads(found.group(1))
    return settings


# -- the page ---------------------------------------------------------------------------------


def test_compare_page(sample: FlaskClient) -> None:
    response = sample.get("/compare")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for element in ('id="compare-risk"', 'id="compare-coverage"', 'id="compare-bivariate"'):
        assert element in html
    assert '<script src="/static/vendor/leaflet/leaflet.js">' in html
    assert "/static/compare.js" in html and "/static/compare.css" in html
    assert '<a href="/compare" aria-current="page">Compare</a>' in html
    assert EXTERNAL_URL.findall(html) == []
    settings = page_settings(html)
    assert settings["risk_url"] == "/api/cells.geojson?layer=risk"
    assert settings["coverage_url"] == "/api/coverage.geojson"
    assert settings["interventions_url"] == "/api/interventions.geojson"
    assert settings["bivariate_url"] == "/api/bivariate.geojson"
    assert settings["has_risk"] is True and settings["tiles"] is None


def test_compare_page_legend_works_without_script(rated: Path) -> None:
    html = serve(rated).get("/compare").get_data(as_text=True)
    found = dict(re.findall(r'data-class="([a-z-]+)" style="[^"]*">([\d,]+)</td>', html))
    expected = {c: str(CLASSES.count(c)) for c in BIVARIATE_COLOURS}
    assert found == expected
    assert "The one high-risk cell has no coverage." in html


def test_compare_page_without_risk_says_why(tiny: Path) -> None:
    response = serve(tiny).get("/compare")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "built without the risk model" in html
    assert page_settings(html)["has_risk"] is False


def test_compare_page_keeps_the_area(tiny: Path, rated: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_tiny_study(other)
    client = serve(tiny, STUDY_DIR=None, STUDIES={"one": str(rated), "two": str(other)})
    settings = page_settings(client.get("/compare?study=two").get_data(as_text=True))
    assert settings["coverage_url"] == "/api/coverage.geojson?study=two"
    assert settings["risk_url"] == "/api/cells.geojson?layer=risk&study=two"
    assert settings["has_risk"] is False  # "two" is the old build
    assert geojson(client, "/api/bivariate.geojson?study=one")["legend"]["high_none"] == 1
    assert client.get("/api/bivariate.geojson?study=two").status_code == 404


@pytest.mark.parametrize("url", ["/compare", "/api/coverage.geojson", "/api/bivariate.geojson"])
def test_unknown_study_is_404(rated: Path, url: str) -> None:
    response = serve(rated).get(url, query_string={"study": "atlantis"})
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert "No study 'atlantis'" in response.get_json()["error"]


def test_own_script_and_styles_are_local(sample: FlaskClient) -> None:
    for path in ("/static/compare.js", "/static/compare.css"):
        response = sample.get(path)
        assert response.status_code == 200
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", response.get_data(as_text=True))
        response.close()


# -- coverage now -----------------------------------------------------------------------------


def test_coverage_without_interventions_is_all_none(tiny: Path) -> None:
    data = geojson(serve(tiny), "/api/coverage.geojson")
    cells = gpd.read_parquet(tiny / "cells.parquet")
    assert len(data["features"]) == len(cells)
    assert {p["coverage_class"] for p in by_cell(data).values()} == {"none"}
    assert {p["value"] for p in by_cell(data).values()} == {0}
    items = {item["label"]: item["cells"] for item in data["legend"]["items"]}
    assert items == {"no agency": 6, "single agency": 0, "multi-agency (2 or more)": 0}
    assert data["legend"]["note"] == "No interventions registered."


def test_coverage_depth_per_cell(rated: Path) -> None:
    data = geojson(serve(rated), "/api/coverage.geojson")
    h3 = gpd.read_parquet(rated / "cells.parquet")["h3"].tolist()
    found = by_cell(data)
    assert [found[h]["value"] for h in h3] == AGENCIES
    assert [found[h]["coverage_class"] for h in h3] == [c.split("-")[1] for c in CLASSES]
    assert found[h3[2]]["label"] == "2 agencies now (1 intervention)"
    assert found[h3[0]]["label"] == "no agency working here now"
    frame = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    assert frame.geom_type.eq("Polygon").all() and frame.is_valid.all()


def test_coverage_follows_the_live_register(rated: Path) -> None:
    """A new deployment (the register changed) shows at once, without reloading the study."""
    client = serve(rated)
    area = next(iter(client.application.extensions[AREAS_KEY].values()))
    live = area.deployment
    area.replace(
        LiveDeployment(
            interventions=live.interventions,
            geojson=live.geojson,
            gaps=live.gaps,
            cells=live.cells.assign(agencies_now=[1, 2, 0, 0, 0, 0], interventions_now=1),
            coverage=live.coverage,
        )
    )
    h3 = gpd.read_parquet(rated / "cells.parquet")["h3"].tolist()
    assert [by_cell(geojson(client, "/api/coverage.geojson"))[h]["value"] for h in h3] == [
        1, 2, 0, 0, 0, 0,
    ]  # fmt: skip
    bivariate = by_cell(geojson(client, "/api/bivariate.geojson"))
    assert bivariate[h3[1]]["class"] == "high-multi"


def test_sample_coverage_matches_the_build(sample: FlaskClient, sample_study: Path) -> None:
    data = geojson(sample, "/api/coverage.geojson")
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    found = by_cell(data)
    assert [found[h]["value"] for h in cells["h3"]] == cells["agencies_now"].tolist()
    items = [item["cells"] for item in data["legend"]["items"]]
    depth = cells["agencies_now"].to_numpy()
    assert items == [(depth == 0).sum(), (depth == 1).sum(), (depth >= 2).sum()]


# -- risk × coverage --------------------------------------------------------------------------


def test_bivariate_known_answer(rated: Path) -> None:
    data = geojson(serve(rated, **EDITOR), "/api/bivariate.geojson")
    h3 = gpd.read_parquet(rated / "cells.parquet")["h3"].tolist()
    found = by_cell(data)
    assert [found[h]["class"] for h in h3] == CLASSES
    first = found[h3[1]]
    assert set(first) >= {"h3", "risk_class", "coverage_class", "class", "fill", "label", "risk"}
    assert (first["risk_class"], first["coverage_class"]) == ("high", "none")
    assert first["fill"] == BIVARIATE_COLOURS["high-none"] == "#d7191c"
    assert first["label"] == (
        "High risk (top 10%), no coverage: risk 3.00 expected incidents next month, 0 agencies now"
    )
    assert first["risk"] == 3.0
    legend = data["legend"]
    assert legend["counts"] == {c: CLASSES.count(c) for c in BIVARIATE_COLOURS}
    assert [[cell["cells"] for cell in row] for row in legend["rows"]] == [
        [1, 0, 0],  # high: none, single, multi
        [0, 1, 0],
        [2, 0, 2],
    ]
    assert [c["name"] for c in legend["risk_classes"]] == ["high", "medium", "low"]
    assert [c["name"] for c in legend["coverage_classes"]] == ["none", "single", "multi"]
    assert legend["sentence"] == "The one high-risk cell has no coverage."


def test_published_bivariate_has_classes_not_risk_values(rated: Path) -> None:
    """As the map's risk layer: viewers see each cell's class, never its expected incidents."""
    data = geojson(serve(rated), "/api/bivariate.geojson")
    h3 = gpd.read_parquet(rated / "cells.parquet")["h3"].tolist()
    found = by_cell(data)
    assert [found[h]["class"] for h in h3] == CLASSES
    assert {p["risk"] for p in found.values()} == {None}
    assert found[h3[1]]["label"] == "High risk (top 10%), no coverage: 0 agencies now"
    assert "expected incidents" not in data["features"][0]["properties"]["label"]


def test_bivariate_without_risk_is_a_clear_404(tiny: Path) -> None:
    response = serve(tiny).get("/api/bivariate.geojson")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": NO_RISK}


def test_bivariate_without_interventions(tiny: Path) -> None:
    """Risk but no register: every cell is in a "none" class."""
    add_columns(tiny, risk=RISK)
    data = geojson(serve(tiny), "/api/bivariate.geojson")
    assert {p["coverage_class"] for p in by_cell(data).values()} == {"none"}
    assert data["legend"]["counts"]["high-none"] == 1
    assert data["legend"]["counts"]["medium-none"] == 1
    assert data["legend"]["counts"]["low-none"] == 4


def test_bivariate_with_all_zero_risk(tiny: Path) -> None:
    add_columns(tiny, risk=[0.0] * 6, agencies_now=AGENCIES)
    legend = geojson(serve(tiny), "/api/bivariate.geojson")["legend"]
    assert legend["counts"]["low-none"] == 3 and legend["counts"]["low-multi"] == 2
    assert legend["high_none"] == 0
    assert legend["sentence"] == "No cell has a high risk: the study's risk is zero everywhere."


def test_sample_bivariate_agrees_with_coverage_json(
    sample: FlaskClient, sample_study: Path
) -> None:
    """High risk is coverage.json's top 10 %, and its red cells are the uncovered gaps."""
    data = geojson(sample, "/api/bivariate.geojson")
    top = json.loads((sample_study / "coverage.json").read_text())["overall"]["top"]["10%"]
    counts = data["legend"]["counts"]
    high = counts["high-none"] + counts["high-single"] + counts["high-multi"]
    assert high == top["cells"]
    assert round(counts["high-multi"] / high, 4) == top["two_or_more"]
    assert round(counts["high-none"] / high, 4) == top["no_agency"]
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    red = {h for h, p in by_cell(data).items() if p["class"] == "high-none"}
    assert red == set(gaps.loc[gaps["gap"] == "no coverage", "h3"])
    n = len(gpd.read_parquet(sample_study / "cells.parquet"))
    assert sum(counts.values()) == n == len(data["features"])
    medium = counts["medium-none"] + counts["medium-single"] + counts["medium-multi"]
    assert high + medium == int(np.ceil(0.3 * n))
    assert data["legend"]["sentence"].startswith(f"{counts['high-none']} of the {high} high-risk")


def test_sample_interventions_for_the_right_map(sample: FlaskClient) -> None:
    data = geojson(sample, "/api/interventions.geojson")
    assert data["features"], "the sample town has interventions"
    props = data["features"][0]["properties"]
    assert {"name", "type", "lead_agency", "partner_agencies", "colour"} <= set(props)


def test_page_counts_match_the_api(sample: FlaskClient) -> None:
    html = sample.get("/compare").get_data(as_text=True)
    counts = geojson(sample, "/api/bivariate.geojson")["legend"]["counts"]
    found = dict(re.findall(r'data-class="([a-z-]+)" style="[^"]*">([\d,]+)</td>', html))
    assert {k: int(v.replace(",", "")) for k, v in found.items()} == counts


def test_app_without_a_study_explains(tmp_path: Path) -> None:
    app: Flask = create_app({"TESTING": True, **SIGNED_OUT})
    client = app.test_client()
    assert client.get("/compare").status_code == 503
    response = client.get("/api/coverage.geojson")
    assert response.status_code == 503 and "STUDY_DIR" in response.get_json()["error"]
