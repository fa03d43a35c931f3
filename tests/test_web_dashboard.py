"""The area dashboard: headline figures, charts, the gap list, and disclosure control."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from geojtai.disclosure import DisclosureRule, publish_count
from web import AREAS_KEY, create_app, db
from web.auth import login_as
from web.state import LiveDeployment

from .test_web import EXTERNAL_URL, write_tiny_places, write_tiny_study

SIGNED_OUT = {"LOGIN_REQUIRED": False, "DATABASE_URL": "sqlite://"}  # visitors: published
EDITOR = {"LOGIN_REQUIRED": False, "ANONYMOUS_ROLE": "editor", "DATABASE_URL": "sqlite://"}
SVG = "{http://www.w3.org/2000/svg}"
#: Keys whose numbers are about people: shown as 0, suppressed (None) or at least 10.
PEOPLE = {"incidents", "harm", "last_3_months", "previous_3_months"}
#: Keys whose whole numbers are of cells, months, agencies or interventions, not people.
NOT_PEOPLE = {
    "months", "threshold", "top_cells", "covered_cells", "multi_agency_cells",
    "interventions_active", "gap_cells", "version", "rank", "agencies", "cluster",
    "cluster_cells", "active", "cells_covered",
}  # fmt: skip
# Small monthly counts for the suppression tests: months of 3, 12 and 27 incidents.
SMALL_MONTHS = [3, 12, 27]


@pytest.fixture(autouse=True)
def no_geojtai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")  # fast hashing in tests
    for name in (
        "GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_TILES", "GEOJTAI_DATABASE_URL",
        "GEOJTAI_LOGIN_REQUIRED", "GEOJTAI_ANONYMOUS_ROLE", "GEOJTAI_DISCLOSURE_THRESHOLD",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def serve(folder: Path, **config: Any) -> FlaskClient:
    settings = {"TESTING": True, "STUDY_DIR": str(folder), **SIGNED_OUT, **config}
    return create_app(settings).test_client()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """The tiny study: counts only (no risk, interventions or places)."""
    write_tiny_study(tmp_path / "tiny")
    return tmp_path / "tiny"


@pytest.fixture
def placed(tmp_path: Path) -> Path:
    """The tiny study with places: 1 incident in a park, 5 on streets, 11 at the station,
    13 elsewhere."""
    folder = tmp_path / "placed"
    write_tiny_places(folder, write_tiny_study(folder))
    return folder


@pytest.fixture
def small(tiny: Path) -> Path:
    """The tiny study with months of 3, 12 and 27 incidents (harm 2 each), in one cell."""
    cell = gpd.read_parquet(tiny / "cells.parquet")["h3"].iloc[0]
    months = ["2024-01", "2024-02", "2024-03"]
    pd.DataFrame(
        {
            "h3": cell,
            "month": months,
            "count": SMALL_MONTHS,
            "harm": [2.0 * n for n in SMALL_MONTHS],
        }
    ).to_parquet(tiny / "cell_months.parquet")
    return tiny


@pytest.fixture(scope="module")
def viewer(sample_study: Path) -> FlaskClient:
    return serve(sample_study)


@pytest.fixture(scope="module")
def editor(sample_study: Path) -> FlaskClient:
    return serve(sample_study, **EDITOR)


def figures(client: FlaskClient, url: str = "/api/dashboard") -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/json"
    data: dict[str, Any] = response.get_json()
    return data


def numbers(node: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every number in a JSON document with the key it sits under (lists keep their key)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numbers(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from numbers(v, key)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield key, node


def assert_published(data: dict[str, Any], threshold: int = 10) -> None:
    """No figure about people in 1..threshold-1; every whole number that small is a count of
    something else (cells, agencies, months)."""
    for key, value in numbers(data):
        if key in PEOPLE:
            assert value == 0 or value >= threshold, (key, value)
        elif isinstance(value, int) and 0 < value < threshold:
            assert key in NOT_PEOPLE, (key, value)


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


# -- the JSON ---------------------------------------------------------------------------------


def test_json_shape(viewer: FlaskClient) -> None:
    data = figures(viewer)
    assert set(data) == {
        "study", "disclosure", "incidents", "monthly", "places", "coverage",
        "coverage_by_month", "gaps",
    }  # fmt: skip
    assert data["study"]["name"] == "Kingsmere (synthetic)"
    assert set(data["incidents"]) == {"total", "last_12_months"}
    assert set(data["incidents"]["last_12_months"]) == {"from", "to", "incidents", "harm"}
    assert {"month", "incidents", "harm"} == set(data["monthly"][0])
    assert len(data["monthly"]) == data["study"]["months"] == 36
    assert data["places"]["available"] and data["coverage"]["available"]
    assert {
        "top_cells", "covered_share", "multi_agency_share", "mean_agencies_covered",
        "interventions_active", "gap_cells",
    } <= set(data["coverage"])  # fmt: skip
    row = data["gaps"]["rows"][0]
    assert {"rank", "h3", "gap", "risk", "place_type", "place_name", "cluster", "map_url"} <= set(
        row
    )


def test_top_risk_coverage_is_recomputed_from_the_cells(
    viewer: FlaskClient, sample_study: Path
) -> None:
    """Independently: rank the cells by risk, take ceil(10 %), count those with agencies."""
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    risk, depth = cells["risk"].to_numpy(), cells["agencies_now"].to_numpy()
    k = int(np.ceil(0.1 * len(cells)))
    top = depth[np.argsort(-risk, kind="stable")[:k]]
    found = figures(viewer)["coverage"]
    assert found["top_cells"] == k
    assert found["covered_cells"] == int((top > 0).sum())
    assert found["covered_share"] == round(float((top > 0).mean()), 4)
    assert found["multi_agency_share"] == round(float((top >= 2).mean()), 4)
    assert found["mean_agencies_covered"] == round(float(top[top > 0].mean()), 2)
    # ... and, as built, the same as the study's coverage figures.
    built = json.loads((sample_study / "coverage.json").read_text())
    assert found["covered_share"] == built["overall"]["top"]["10%"]["covered"]
    assert found["multi_agency_share"] == built["overall"]["top"]["10%"]["two_or_more"]
    assert found["interventions_active"] == built["active_now"]
    assert found["gap_cells"] == len(gpd.read_parquet(sample_study / "gaps.parquet"))
    assert found["period"] == built["period"]


def test_editor_sees_exact_figures(editor: FlaskClient, sample_study: Path) -> None:
    data = figures(editor)
    assert data["disclosure"]["internal"] is True
    table = pd.read_parquet(sample_study / "cell_months.parquet")
    monthly = table.groupby("month")[["count", "harm"]].sum()
    assert data["incidents"]["total"]["incidents"] == int(monthly["count"].sum())
    assert data["incidents"]["last_12_months"]["incidents"] == int(
        monthly["count"].iloc[-12:].sum()
    )
    assert data["incidents"]["total"]["harm"] == pytest.approx(monthly["harm"].sum())
    assert [m["incidents"] for m in data["monthly"]] == monthly["count"].astype(int).tolist()
    share = pd.read_parquet(sample_study / "place_share.parquet")
    share = share[share["period"] == "all"]
    assert [r["incidents"] for r in data["places"]["shares"]] == share["incidents"].tolist()
    assert [r["share_incidents"] for r in data["places"]["shares"]] == [
        round(v, 4) for v in share["share_incidents"]
    ]
    gaps = gpd.read_parquet(sample_study / "gaps.parquet").sort_values("risk", ascending=False)
    rows = data["gaps"]["rows"]
    assert [r["incidents"] for r in rows] == gaps["count"].tolist()
    assert [r["last_3_months"] for r in rows] == gaps["last_3_months"].tolist()


def test_viewer_sees_published_figures(
    viewer: FlaskClient, editor: FlaskClient, sample_study: Path
) -> None:
    data, exact = figures(viewer), figures(editor)
    assert data["disclosure"] == {
        "internal": False,
        "threshold": 10,
        "rule": DisclosureRule().describe(),
    }
    assert_published(data)
    total = exact["incidents"]["total"]["incidents"]
    assert data["incidents"]["total"]["incidents"] == int(publish_count(total, DisclosureRule())[0])
    assert data["incidents"]["total"]["incidents"] % 5 == 0
    shown = [r["last_3_months"] for r in data["gaps"]["rows"]]
    hidden = [r["last_3_months"] for r in exact["gaps"]["rows"]]
    assert [s is None for s in shown] == [0 < h < 10 for h in hidden]
    assert any(s is None for s in shown), "the sample has small recent counts to hide"
    # Cells, agencies and interventions are not about people: the same for everyone.
    assert data["coverage"] == exact["coverage"]
    assert "harm_covered" in exact["coverage_by_month"][0]
    assert all("harm_covered" not in row for row in data["coverage_by_month"])
    # Risk values are internal (as on the map); the published list keeps the same order.
    assert {r["risk"] for r in data["gaps"]["rows"]} == {None}
    assert [r["h3"] for r in data["gaps"]["rows"]] == [r["h3"] for r in exact["gaps"]["rows"]]


def test_gap_list_is_by_risk_and_links_to_the_map(editor: FlaskClient) -> None:
    rows = figures(editor)["gaps"]["rows"]
    assert [r["risk"] for r in rows] == sorted((r["risk"] for r in rows), reverse=True)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["gap"] for r in rows} <= {"no coverage", "single agency"}
    for row in rows:
        assert row["map_url"] == f"/?cell={row['h3']}"


def test_links_keep_the_area(placed: Path, sample_study: Path) -> None:
    client = serve(placed, STUDY_DIR=None, STUDIES={"town": str(sample_study), "tiny": str(placed)})
    rows = figures(client, "/api/dashboard?study=town")["gaps"]["rows"]
    link = urlsplit(rows[0]["map_url"])
    assert link.path == "/"
    assert parse_qs(link.query) == {"study": ["town"], "cell": [rows[0]["h3"]]}
    assert figures(client, "/api/dashboard?study=tiny")["study"]["name"] == "Tinytown"


def test_coverage_follows_the_live_register(sample_study: Path) -> None:
    """Take every agency out of the top-risk cells: the figures follow at once."""
    client = serve(sample_study)
    area = next(iter(client.application.extensions[AREAS_KEY].values()))
    live = area.deployment
    area.replace(
        LiveDeployment(
            interventions=live.interventions,
            geojson=live.geojson,
            gaps=live.gaps,
            cells=live.cells.assign(agencies_now=0, interventions_now=0, intervention_ids=""),
            coverage=live.coverage,
        )
    )
    found = figures(client)["coverage"]
    assert found["covered_share"] == 0.0 and found["multi_agency_share"] == 0.0
    assert found["mean_agencies_covered"] is None
    assert found["version"] == live.version + 1


# -- small numbers ----------------------------------------------------------------------------


def test_small_months_are_suppressed_for_viewers(small: Path) -> None:
    data = figures(serve(small))
    assert [m["incidents"] for m in data["monthly"]] == [None, 10, 25]
    assert [m["harm"] for m in data["monthly"]] == [None, 24, 54]  # 2 significant figures
    assert data["incidents"]["total"]["incidents"] == 40  # 42, rounded to 5
    assert_published(data)


def test_small_months_are_exact_for_editors(small: Path) -> None:
    data = figures(serve(small, **EDITOR))
    assert [m["incidents"] for m in data["monthly"]] == SMALL_MONTHS
    assert data["incidents"]["total"]["incidents"] == sum(SMALL_MONTHS)
    assert data["disclosure"]["internal"] is True


def test_place_shares_are_recomputed_from_shown_counts(placed: Path) -> None:
    """Viewers: the park (1) and streets (5) are suppressed; 11 → 10 and 13 → 15, so the
    station has 10/25 of the shown incidents."""
    shares = {r["place_type"]: r for r in figures(serve(placed))["places"]["shares"]}
    assert {k: r["incidents"] for k, r in shares.items()} == {
        "transport_hubs": 10, "schools": 0, "parks": None, "streets": None, "other": 15,
    }  # fmt: skip
    assert shares["transport_hubs"]["share_incidents"] == 0.4
    assert shares["other"]["share_incidents"] == 0.6
    assert shares["parks"]["share_incidents"] is None
    exact = {r["place_type"]: r for r in figures(serve(placed, **EDITOR))["places"]["shares"]}
    assert exact["parks"]["incidents"] == 1
    assert exact["transport_hubs"]["share_incidents"] == round(11 / 30, 4)


def test_threshold_comes_from_the_app(small: Path) -> None:
    client = serve(small, DISCLOSURE_THRESHOLD=13)
    data = figures(client)
    assert data["disclosure"]["threshold"] == 13
    assert [m["incidents"] for m in data["monthly"]] == [None, None, 25]
    assert_published(data, threshold=13)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "fewer than 13" in html and "Counts of 1 to 12" in html


@pytest.fixture
def accounts(tmp_path: Path, sample_study: Path) -> Callable[[str | None], FlaskClient]:
    """The sample town behind sign-in, with a viewer (vera) and an editor (ed)."""
    app: Flask = create_app(
        {"TESTING": True, "STUDY_DIR": str(sample_study), "DATABASE_URL": str(tmp_path / "a.db")}
    )
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        db.add_user(s, "vera", "viewer password", role="viewer", by=db.CLI)
        db.add_user(s, "ed", "editor password", role="editor", by=db.CLI)

    def client_as(name: str | None) -> FlaskClient:
        client = app.test_client()
        if name is not None:
            assert login_as(client, name, f"{'viewer' if name == 'vera' else 'editor'} password")
        return client

    return client_as


def test_signed_in_roles(accounts: Callable[[str | None], FlaskClient]) -> None:
    """A signed-in viewer gets published figures, an editor exact ones, a visitor nothing."""
    assert accounts(None).get("/api/dashboard").status_code == 401
    published, exact = figures(accounts("vera")), figures(accounts("ed"))
    assert published["disclosure"]["internal"] is False
    assert exact["disclosure"]["internal"] is True
    assert_published(published)
    small = [v for k, v in numbers(exact) if k in PEOPLE and isinstance(v, int) and 0 < v < 10]
    assert small, "the editor sees the small counts the viewer does not"


# -- the page ---------------------------------------------------------------------------------


def test_dashboard_page(viewer: FlaskClient) -> None:
    response = viewer.get("/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<a href="/dashboard" aria-current="page">Dashboard</a>' in html
    assert "/static/dashboard.css" in html
    assert "<script" not in html.split("</header>", 1)[1]  # charts need no script
    assert EXTERNAL_URL.findall(html.replace("http://www.w3.org/2000/svg", "")) == []
    charts = svgs(html)
    assert len(charts) == 3  # incidents per month, place types, coverage over time
    for chart in charts:
        assert chart.get("role") == "img" and chart.get("aria-label")
        title = chart.find(f"{SVG}title")
        assert title is not None and title.text
    assert "Published figures" in html
    assert DisclosureRule().describe() in html
    assert "fewer than 10" in html
    assert re.search(r'<a href="/\?cell=89[0-9a-f]{13}" class="cell-link">', html)
    assert '<th scope="col" class="num">Risk</th>' not in html


def test_dashboard_page_for_editors(editor: FlaskClient) -> None:
    html = editor.get("/dashboard").get_data(as_text=True)
    assert "Internal figures: not for publication" in html
    assert DisclosureRule(profile="internal").describe() in html
    assert "fewer than 10" not in html
    assert '<th scope="col" class="num">Risk</th>' in html


def test_suppressed_months_are_gaps_with_a_note(small: Path) -> None:
    html = serve(small).get("/dashboard").get_data(as_text=True)
    monthly = svgs(html)[0]
    gaps = ["".join(r.itertext()) for r in monthly.iter(f"{SVG}rect")]
    assert gaps == ["2024-01: fewer than 10"]
    assert "1 month with fewer than 10 incidents is not shown" in html


def test_study_without_risk_interventions_or_places(tiny: Path) -> None:
    """Each section says what is missing instead of failing."""
    client = serve(tiny)
    data = figures(client)
    assert data["coverage"]["available"] is False
    assert "without the risk model" in data["coverage"]["message"]
    assert data["places"] == {
        "available": False,
        "message": "This study was built without place layers, so incidents have no place type.",
        "shares": [],
        "headline": [],
    }
    assert data["gaps"]["available"] is False and data["gaps"]["rows"] == []
    assert data["coverage_by_month"] == []
    assert [m["incidents"] for m in data["monthly"]] == [10, 10, 10]
    assert data["incidents"]["total"] == {"incidents": 30, "harm": 45}
    html = client.get("/dashboard").get_data(as_text=True)
    assert "without place layers" in html and "without the risk model" in html
    assert "No gap list" in html
    assert len(svgs(html)) == 1


def test_study_with_risk_but_no_interventions(tiny: Path) -> None:
    cells = gpd.read_parquet(tiny / "cells.parquet").assign(risk=[0.5, 3.0, 1.0, 2.0, 0.0, 0.2])
    cells.to_parquet(tiny / "cells.parquet")
    data = figures(serve(tiny))
    assert data["coverage"]["available"] is False
    assert "No interventions are registered" in data["coverage"]["message"]


@pytest.mark.parametrize("url", ["/dashboard", "/api/dashboard"])
def test_unknown_study_is_404(tiny: Path, url: str) -> None:
    response = serve(tiny).get(url, query_string={"study": "atlantis"})
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert "No study 'atlantis'" in response.get_json()["error"]


def test_app_without_a_study_explains() -> None:
    client = create_app({"TESTING": True, **SIGNED_OUT}).test_client()
    assert client.get("/dashboard").status_code == 503
    response = client.get("/api/dashboard")
    assert response.status_code == 503 and "STUDY_DIR" in response.get_json()["error"]
