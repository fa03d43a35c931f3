"""The planning page: suggested sites and what-if proposals, in memory, on the live register."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from flask import Flask
from shapely.geometry import Point

from geojtai.io.studyfolder import load_study
from geojtai.studyops import suggest_sites, what_if_study
from web import db

from .test_web_register import (
    GOOD,
    SELF_CROSSING,
    api_post,
    area,
    client_as,
    feature,
    geojson_file,
    make_register_app,
    top_gap_point,
)


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
    for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_DATABASE_URL", "GEOJTAI_TILES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def shared_app(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for the tests that change nothing (planning never changes the register)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
        yield make_register_app(sample_study, tmp_path_factory.mktemp("plan") / "p.sqlite")


def proposals(sample_study: Path) -> list[dict[str, Any]]:
    """Outreach at the top gap (three agencies), and a point far from any risk."""
    lon, lat = top_gap_point(sample_study)
    return [
        feature(Point(lon, lat), id="P-1", name="Top gap outreach", **{
            k: v for k, v in GOOD.items() if k != "name"
        }),
        feature(Point(-1.40, 52.50), id="P-2", name="Already covered", type="patrol",
                lead_agency="police", start="2026-01-01", radius_m=50),
    ]  # fmt: skip


# -- who may plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "page", "api"),
    [(None, 302, 401), ("vera", 403, 403), ("ed", 200, 200), ("ada", 200, 200)],
)
def test_planning_is_for_editors_and_admins(
    shared_app: Flask, who: str | None, page: int, api: int
) -> None:
    client = client_as(shared_app, who)
    assert client.get("/plan").status_code == page
    assert client.get("/plan?teams=2&radius_m=300").status_code == page
    assert api_post(client, "/api/plan/suggest", json={"teams": 2}).status_code == api
    fc = {"type": "FeatureCollection", "features": [feature(Point(-1.41, 52.51))]}
    assert api_post(client, "/api/plan/what-if", json=fc).status_code == api
    assert api_post(client, "/plan/what-if", data={"proposals": json.dumps(fc)}).status_code == page


def test_the_plan_link_is_in_the_bar_for_editors_only(shared_app: Flask) -> None:
    assert 'href="/plan"' in client_as(shared_app, "ed").get("/interventions").get_data(
        as_text=True
    )
    assert 'href="/plan"' not in client_as(shared_app, "vera").get("/interventions").get_data(
        as_text=True
    )


# -- suggested sites --------------------------------------------------------------------------------


def test_suggestions_match_the_planner(shared_app: Flask, sample_study: Path) -> None:
    client = client_as(shared_app, "ed")
    request = {"teams": 3, "radius_m": 300, "place_types": ["parks", "shopping_centres"]}
    body = api_post(client, "/api/plan/suggest", json=request).get_json()
    study = load_study(sample_study)
    layers = [d["name"] for d in study.places().layers]
    expected = suggest_sites(study.cells, layers=layers, teams=3, radius_m=300,
                             place_types=["parks", "shopping_centres"]).report  # fmt: skip
    assert body["suggestions"] == expected["suggestions"]
    assert [s["rank"] for s in body["suggestions"]] == [1, 2, 3]
    assert body["version"] == 1 and body["seconds"] < 5
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    assert body["suggestions"][0]["h3"] == gaps.iloc[0]["h3"]
    # The same as form fields, and as the page's query string.
    form = api_post(
        client, "/api/plan/suggest", data={**request, "place_types": "parks,shopping_centres"}
    )
    assert form.get_json()["suggestions"] == body["suggestions"]
    page = client.get(
        "/plan", query_string={**request, "place_types": ["parks", "shopping_centres"]}
    )
    text = page.get_data(as_text=True)
    settings = json.loads(text.split('id="plan-page">')[1].split("</script>")[0])
    assert settings["suggested"]["suggestions"] == body["suggestions"]
    assert settings["suggested"]["radius_m"] == 300
    assert "<caption>Suggested sites</caption>" in text and "plan.js" in text


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"teams": 0}, ["teams must be a whole number ≥ 1; 0 was given"]),
        ({"teams": "three"}, ["teams must be a whole number ≥ 1; 'three' was given"]),
        ({"teams": 2, "radius_m": -5}, ["radius_m must be a finite number of metres > 0; -5"]),
        ({"teams": 2, "place_types": ["pubs"]}, ["unknown place types ['pubs']; valid ones are"]),
        (
            {"teams": 0, "radius_m": "wide", "place_types": ["pubs"]},
            ["teams must be", "radius_m must be", "unknown place types"],
        ),
    ],
)
def test_bad_plan_requests_are_400(
    shared_app: Flask, request_: dict[str, Any], words: list[str]
) -> None:
    client = client_as(shared_app, "ed")
    response = api_post(client, "/api/plan/suggest", json=request_)
    assert response.status_code == 400
    problems = response.get_json()["problems"]
    assert len(problems) == len(words)  # every problem, in one answer
    for problem, word in zip(problems, words, strict=True):
        assert problem.startswith(word)
    page = client.get("/plan", query_string=request_)
    assert page.status_code == 400
    assert words[0] in html.unescape(page.get_data(as_text=True))


def test_planning_counts_only_what_is_uncovered_now(sample_study: Path, tmp_path: Path) -> None:
    """After a register change, the planner plans against the live coverage."""
    app = make_register_app(sample_study, tmp_path / "live.sqlite")
    client = client_as(app, "ed")
    lon, lat = top_gap_point(sample_study)
    first = api_post(client, "/api/plan/suggest", json={"teams": 1, "radius_m": 300}).get_json()
    content = geojson_file([feature(Point(lon, lat), id="NEW-1", **GOOD)])
    data = {"file": (io.BytesIO(content), "new.geojson")}
    assert api_post(client, "/api/register/upload", data=data).status_code == 200
    again = api_post(client, "/api/plan/suggest", json={"teams": 1, "radius_m": 300}).get_json()
    assert again["version"] == 2
    assert again["suggestions"][0]["h3"] != first["suggestions"][0]["h3"]


# -- what-if -------------------------------------------------------------------------------------


def test_what_if_matches_the_command_line(
    shared_app: Flask, sample_study: Path, tmp_path: Path
) -> None:
    features = proposals(sample_study)
    file = tmp_path / "proposals.geojson"
    file.write_bytes(geojson_file(features))
    expected = what_if_study(sample_study, file)["report"]
    client = client_as(shared_app, "ed")
    body = api_post(
        client, "/api/plan/what-if", json={"type": "FeatureCollection", "features": features}
    )
    assert body.status_code == 200, body.get_json()
    report = body.get_json()
    for key in ("proposals", "harm_newly_covered", "share_of_uncovered_harm", "before", "after"):
        assert report[key] == expected[key], key
    assert report["after"]["top"]["10%"]["covered"] > report["before"]["top"]["10%"]["covered"]
    assert report["changes"][0].startswith("Top-10% risk cells covered: 11% → ")
    assert report["newly_covered"]["features"]
    assert [f["properties"]["id"] for f in report["proposals_geojson"]["features"]] == [
        "P-1",
        "P-2",
    ]
    # ... and uploaded as a file, on the page.
    data = {"file": (io.BytesIO(file.read_bytes()), "proposals.geojson")}
    page = api_post(client, "/plan/what-if", data=data)
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "Top gap outreach" in text and report["changes"][0] in text


def test_drawn_proposals_need_only_a_geometry(shared_app: Flask, sample_study: Path) -> None:
    lon, lat = top_gap_point(sample_study)
    fc = {"type": "FeatureCollection", "features": [feature(Point(lon, lat), radius_m=200)]}
    client = client_as(shared_app, "ed")
    page = api_post(client, "/plan/what-if", data={"proposals": json.dumps(fc)})
    assert page.status_code == 200
    settings = json.loads(
        page.get_data(as_text=True).split('id="plan-page">')[1].split("</script>")[0]
    )
    first = settings["what_if"]["proposals"][0]
    assert first["id"] == "P-1" and first["name"] == "Proposal 1" and first["cells"] >= 1


def test_what_if_does_not_change_the_register(shared_app: Flask, sample_study: Path) -> None:
    version = area(shared_app).deployment.version
    fc = {"type": "FeatureCollection", "features": proposals(sample_study)}
    api_post(client_as(shared_app, "ed"), "/api/plan/what-if", json=fc)
    assert area(shared_app).deployment.version == version


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"type": "FeatureCollection", "features": []}, 400, "Draw at least one proposal"),
        ({"type": "Point", "coordinates": [0, 0]}, 400, "Draw at least one proposal"),
        (
            {"type": "FeatureCollection", "features": [feature(SELF_CROSSING)]},
            422,
            "proposals, row 1 (P-1), geometry: invalid geometry — Self-intersection",
        ),
        (
            {"type": "FeatureCollection", "features": [feature(Point(-1.4, 95))]},
            422,
            "-90..90",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": {"type": "Blob"}}],
            },
            422,
            "not a GeoJSON geometry",
        ),
    ],
)
def test_bad_proposals(shared_app: Flask, body: dict[str, Any], status: int, words: str) -> None:
    client = client_as(shared_app, "ed")
    response = api_post(client, "/api/plan/what-if", json=body)
    assert response.status_code == status
    assert words in response.get_json()["error"]
    page = api_post(client, "/plan/what-if", data={"proposals": json.dumps(body)})
    assert page.status_code == status and words in html.unescape(page.get_data(as_text=True))


def test_oversized_proposals_file_is_413(sample_study: Path, tmp_path: Path) -> None:
    app = make_register_app(sample_study, tmp_path / "big.sqlite", MAX_CONTENT_LENGTH=10_000)
    client = client_as(app, "ed")
    big = geojson_file([feature(Point(-1.41, 52.51), id=f"B-{i}", **GOOD) for i in range(100)])
    for url in ("/api/plan/what-if", "/plan/what-if"):
        data = {"file": (io.BytesIO(big), "big.geojson")}
        response = api_post(client, url, data=data)
        assert response.status_code == 413
        assert "larger than 9.8 KB" in response.get_data(as_text=True)
