"""The interventions register on the web: roles, forms, uploads, closing, the live deployment."""

from __future__ import annotations

import html
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import Point, Polygon, mapping

from geojtai import grid
from web import create_app, db
from web.auth import csrf_token_for, login_as
from web.db import AuditEntry, Intervention
from web.state import AREAS_KEY

PASSWORDS = {"vera": "viewer password", "ed": "editor password", "ada": "admin password"}
ROLE_OF = {"vera": "viewer", "ed": "editor", "ada": "admin"}
TODAY = "2026-01-15"  # after the sample town's last month (2025-12)
CLOSED = {"INT-02", "INT-05", "INT-08", "INT-11"}  # ended in 2024-2025


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings from the developer's shell; fast password hashing."""
    monkeypatch.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
    for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_DATABASE_URL", "GEOJTAI_TILES"):
        monkeypatch.delenv(name, raising=False)


def make_register_app(study: Path, database: Path, **config: Any) -> Flask:
    """An app on ``study`` with a SQLite register at ``database``, one user per role."""
    settings = {
        "TESTING": True,
        "STUDY_DIR": str(study),
        "DATABASE_URL": str(database),
        "REGISTER_TODAY": TODAY,
        **config,
    }
    app = create_app(settings)
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        if not db.list_users(s):
            for name, password in PASSWORDS.items():
                db.add_user(s, name, password, role=ROLE_OF[name], by=db.CLI)
    return app


@pytest.fixture
def app(sample_study: Path, tmp_path: Path) -> Flask:
    return make_register_app(sample_study, tmp_path / "register.sqlite")


@pytest.fixture(scope="module")
def shared_app(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for the tests that change nothing (reads, and refusals)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
        yield make_register_app(sample_study, tmp_path_factory.mktemp("reg") / "r.sqlite")


def client_as(app: Flask, name: str | None) -> FlaskClient:
    client = app.test_client()
    if name is not None:
        assert login_as(client, name, PASSWORDS[name]).status_code == 302
    return client


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A form POST with the client's CSRF token, as the page's form sends it."""
    return client.post(url, data={"csrf_token": csrf_token_for(client), **(data or {})}, **kw)


def api_post(client: FlaskClient, url: str, **kw: Any) -> Any:
    """A ``fetch``-style POST: the CSRF token in the ``X-CSRFToken`` header."""
    return client.post(url, headers={"X-CSRFToken": csrf_token_for(client)}, **kw)


def stored(app: Flask) -> dict[str, Intervention]:
    with app.extensions[db.DB_KEY].sessions() as s:
        return {e.id: e for e in s.scalars(sa.select(Intervention))}


def audit(app: Flask) -> list[tuple[str, str | None, str, str | None]]:
    with app.extensions[db.DB_KEY].sessions() as s:
        rows = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        return [(e.who, e.role, e.action, e.object_id) for e in rows]


def area(app: Flask) -> Any:
    return next(iter(app.extensions[AREAS_KEY].values()))


def top_gap_point(sample_study: Path) -> tuple[float, float]:
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    lat, lon = grid.cell_centres(grid.cells_from_hex(np.array([gaps.iloc[0]["h3"]], dtype=object)))
    return float(lon[0]), float(lat[0])


def geojson_file(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def feature(geometry: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": mapping(geometry)}


def upload(client: FlaskClient, url: str, content: bytes, name: str, **fields: str) -> Any:
    data = {"file": (io.BytesIO(content), name), **fields}
    return api_post(client, url, data=data, content_type="multipart/form-data")


GOOD = {
    "name": "Top gap outreach",
    "type": "detached youth work",
    "lead_agency": "voluntary sector",
    "partner_agencies": "police;council",
    "start": "2025-11-01",
    "radius_m": 250,
}
SELF_CROSSING = Polygon([(-1.40, 52.50), (-1.39, 52.51), (-1.39, 52.50), (-1.40, 52.51)])


# -- seeding and the live deployment -------------------------------------------------------


def test_register_is_seeded_from_the_study_and_matches_the_build(
    app: Flask, sample_study: Path
) -> None:
    entries = stored(app)
    built = gpd.read_parquet(sample_study / "interventions.parquet")
    assert sorted(entries) == sorted(built["id"])
    assert {i for i, e in entries.items() if e.status == "closed"} == CLOSED
    assert all(e.created_by == "seed" for e in entries.values())
    assert [a[2] for a in audit(app)].count("intervention.seed") == 1
    # The deployment recomputed from the database has the build's numbers.
    live = area(app).deployment
    assert live.version == 1
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    for column in ("agencies_now", "interventions_now", "intervention_ids"):
        assert live.cells[column].tolist() == cells[column].tolist()
    written = json.loads((sample_study / "coverage.json").read_text(encoding="utf-8"))
    for key in ("overall", "by_agency", "by_type", "by_place_type", "by_month", "active_now"):
        assert json.loads(json.dumps(live.coverage[key], default=float)) == written[key], key
    assert live.coverage["impact"] == written["impact"]  # the build's, kept
    assert (
        live.gaps["h3"].tolist() == gpd.read_parquet(sample_study / "gaps.parquet")["h3"].tolist()
    )


def test_seeding_happens_once(sample_study: Path, tmp_path: Path) -> None:
    database = tmp_path / "once.sqlite"
    first = make_register_app(sample_study, database)
    client = client_as(first, "ed")
    assert api_post(client, "/api/register/INT-07/close", json={}).status_code == 200
    again = make_register_app(sample_study, database)
    assert stored(again)["INT-07"].status == "closed"  # the database wins over the study
    assert [a[2] for a in audit(again)].count("intervention.seed") == 1
    assert area(again).deployment.coverage["active_now"] == 7


def test_study_without_interventions_or_risk_starts_empty(tmp_path: Path) -> None:
    from .test_web import write_tiny_study

    write_tiny_study(tmp_path / "tiny")
    app = make_register_app(tmp_path / "tiny", tmp_path / "tiny.sqlite")
    assert stored(app) == {}
    body = client_as(app, "vera").get("/api/register").get_json()
    assert body["entries"] == [] and body["total"] == 0
    assert area(app).deployment.gaps is None  # no risk model: no gaps to recompute


# -- who may do what ----------------------------------------------------------------------------

PAGES = [
    # method, url, least role, anonymous gets
    ("GET", "/interventions", "viewer", 302),
    ("GET", "/interventions/INT-03", "viewer", 302),
    ("GET", "/api/register", "viewer", 401),
    ("GET", "/interventions/new", "editor", 302),
    ("GET", "/interventions/upload", "editor", 302),
    ("POST", "/interventions/new", "editor", 302),
    ("POST", "/interventions/upload", "editor", 302),
    ("POST", "/interventions/INT-03", "editor", 302),
    ("POST", "/interventions/INT-03/close", "editor", 302),
    ("POST", "/api/register/upload", "editor", 401),
    ("POST", "/api/register/INT-03/close", "editor", 401),
]
RANK = {"viewer": 0, "editor": 1, "admin": 2}


@pytest.mark.parametrize(("method", "url", "least", "anonymous"), PAGES)
@pytest.mark.parametrize("who", [None, "vera", "ed", "ada"])
def test_every_route_for_every_role(
    shared_app: Flask, method: str, url: str, least: str, anonymous: int, who: str | None
) -> None:
    client = client_as(shared_app, who)
    before = {i: (e.version, e.status) for i, e in stored(shared_app).items()}
    # A form that cannot be used: allowed users get 4xx for it, and nothing ever changes.
    bad = {"end": "soon"} if url.endswith("/close") else {}
    response = client.get(url) if method == "GET" else post(client, url, bad)
    if who is None:
        assert response.status_code == anonymous
        if anonymous == 302:
            assert "/login" in response.headers["Location"]
    elif RANK[ROLE_OF[who]] < RANK[least]:
        assert response.status_code == 403
        text = response.get_data(as_text=True)
        assert f"needs the {least} role" in text
    elif method == "GET":
        assert response.status_code == 200
    else:
        assert 400 <= response.status_code < 500 and response.status_code not in (401, 403)
    assert {i: (e.version, e.status) for i, e in stored(shared_app).items()} == before


def test_closing_without_a_body_closes_today(app: Flask) -> None:
    response = post(client_as(app, "ada"), "/interventions/INT-03/close")
    assert response.status_code == 302
    entry = stored(app)["INT-03"]
    assert entry.status == "closed" and str(entry.end) == TODAY and entry.closed_by == "ada"


def test_viewers_see_no_internal_figures(shared_app: Flask) -> None:
    viewer = client_as(shared_app, "vera").get("/api/register").get_json()
    editor = client_as(shared_app, "ed").get("/api/register").get_json()
    assert viewer["coverage"] is None
    assert editor["coverage"]["top_10pct_covered"] == pytest.approx(0.1143)
    assert viewer["entries"] == editor["entries"]
    page = client_as(shared_app, "vera").get("/interventions").get_data(as_text=True)
    assert "Top-10% risk cells covered" not in page and "Add an intervention" not in page


def test_missing_csrf_token_is_refused(sample_study: Path, tmp_path: Path) -> None:
    app = make_register_app(sample_study, tmp_path / "csrf.sqlite", WTF_CSRF_ENABLED=True)
    client = client_as(app, "ed")
    before = stored(app)
    response = client.post("/api/register/INT-03/close", json={})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]
    form = client.post("/interventions/new", data={"id": "X-1", **GOOD})
    assert form.status_code == 400
    assert stored(app).keys() == before.keys() and stored(app)["INT-03"].status == "active"


# -- the list -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "closed"}, sorted(CLOSED)),
        ({"type": "cctv"}, ["INT-03", "INT-09"]),
        ({"agency": "health"}, ["INT-07", "INT-12"]),
        ({"status": "active", "type": "police patrol"}, []),
    ],
)
def test_filters(shared_app: Flask, query: dict[str, str], expected: list[str]) -> None:
    body = client_as(shared_app, "vera").get("/api/register", query_string=query).get_json()
    assert [e["id"] for e in body["entries"]] == expected
    assert body["total"] == 12 and body["filters"]["status"] == query.get("status", "")
    page = client_as(shared_app, "vera").get("/interventions", query_string=query)
    assert page.status_code == 200
    assert f"{len(expected)} of 12 interventions" in page.get_data(as_text=True)


def test_unknown_status_filter_is_400(shared_app: Flask) -> None:
    response = client_as(shared_app, "vera").get("/api/register?status=open")
    assert response.status_code == 400
    assert "active, closed" in response.get_json()["error"]


def test_entry_page_shows_its_geometry(shared_app: Flask) -> None:
    page = client_as(shared_app, "vera").get("/interventions/INT-03").get_data(as_text=True)
    settings = json.loads(page.split('id="register-page">')[1].split("</script>")[0])
    assert settings["geometry"]["type"] == "Point" and settings["radius_m"] == 150.0
    assert settings["interventions_url"] == "/api/interventions.geojson"
    assert "leaflet.js" in page and "draw.js" in page
    assert 'name="geometry"' not in page  # a viewer gets no edit form
    editor = client_as(shared_app, "ed").get("/interventions/INT-03").get_data(as_text=True)
    assert 'name="geometry"' in editor and 'name="version" value="1"' in editor


@pytest.mark.parametrize("url", ["/interventions/NOPE", "/api/register/NOPE/close"])
def test_unknown_id_is_404(shared_app: Flask, url: str) -> None:
    client = client_as(shared_app, "ed")
    response = client.get(url) if not url.endswith("close") else api_post(client, url, json={})
    assert response.status_code == 404
    assert "No intervention 'NOPE'" in html.unescape(response.get_data(as_text=True))


# -- adding from the form -----------------------------------------------------------------------


def test_add_from_the_form_changes_coverage(app: Flask, sample_study: Path) -> None:
    client = client_as(app, "ed")
    lon, lat = top_gap_point(sample_study)
    before = client.get("/api/register").get_json()["coverage"]
    form = {**GOOD, "id": "INT-13", "geometry": json.dumps(mapping(Point(lon, lat)))}
    response = post(client, "/interventions/new", form)
    assert response.status_code == 302 and response.headers["Location"] == "/interventions/INT-13"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    after = client.get("/api/register").get_json()["coverage"]
    assert after["top_10pct_covered"] > before["top_10pct_covered"]
    expected = (
        f"Top-10% risk cells covered: {before['top_10pct_covered']:.0%} → "
        f"{after['top_10pct_covered']:.0%}"
    )
    assert expected in page
    entry = stored(app)["INT-13"]
    assert entry.created_by == "ed" and entry.radius_m == 250 and entry.status == "active"
    assert entry.partner_agencies == "council;police"
    assert ("ed", "editor", "intervention.add", "INT-13") in audit(app)
    features = json.loads(client.get("/api/interventions.geojson").data)["features"]
    assert "INT-13" in [f["properties"]["id"] for f in features]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"geometry": json.dumps(mapping(SELF_CROSSING))}, "geometry", "Self-intersection"),
        ({"geometry": json.dumps(mapping(Point(-1.4, 95)))}, "geometry", "-90..90"),
        ({"geometry": "{not json"}, "geometry", "not JSON"),
        ({"geometry": ""}, "geometry", "missing geometry"),
        ({"start": ""}, "start", "missing start"),
        ({"start": "03/13/2025"}, "start", "unparseable start"),
        ({"end": "2025-01-01"}, "end", "end before start"),
        ({"radius_m": "-5"}, "radius_m", "invalid radius"),
        ({"id": ""}, "id", "missing id"),
        ({"id": "a b"}, "id", "invalid id"),
        ({"id": "INT-01"}, "id", "already in the register"),
    ],
)
def test_a_bad_form_stores_nothing_and_says_where(
    app: Flask, changes: dict[str, str], field: str, words: str
) -> None:
    client = client_as(app, "ed")
    form = {**GOOD, "id": "INT-13", "geometry": json.dumps(mapping(Point(-1.41, 52.51))), **changes}
    count, version = len(stored(app)), area(app).deployment.version
    response = post(client, "/interventions/new", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was stored" in page and words in page
    assert f'id="f-{field}"' in page and 'aria-invalid="true"' in page
    assert "form, row 1" in page
    assert len(stored(app)) == count and area(app).deployment.version == version
    assert stored(app)["INT-01"].name != GOOD["name"]


def test_a_form_with_several_problems_lists_them_all(app: Flask) -> None:
    form = {**GOOD, "id": "a b", "start": "", "radius_m": "x", "geometry": ""}
    response = post(client_as(app, "ed"), "/interventions/new", form)
    page = response.get_data(as_text=True)
    for words in ("invalid id", "missing geometry", "invalid radius", "missing start"):
        assert words in page
    assert page.count("<li>form, row 1 (a b)") == 4


# -- editing --------------------------------------------------------------------------------------


def test_edit_keeps_the_geometry_unless_redrawn(app: Flask) -> None:
    client = client_as(app, "ed")
    old = stored(app)["INT-03"]
    form = {**GOOD, "start": "2024-04-01", "name": "Bus station CCTV (new cameras)", "version": "1"}
    response = post(client, "/interventions/INT-03", form)
    assert response.status_code == 302
    new = stored(app)["INT-03"]
    assert (
        new.name == "Bus station CCTV (new cameras)"
        and new.geometry_geojson == old.geometry_geojson
    )
    assert new.updated_by == "ed" and new.version == 2
    assert ("ed", "editor", "intervention.update", "INT-03") in audit(app)
    # Redrawn: the new geometry replaces the old.
    moved = {**form, "version": "2", "geometry": json.dumps(mapping(Point(-1.41, 52.51)))}
    assert post(client, "/interventions/INT-03", moved).status_code == 302
    assert json.loads(stored(app)["INT-03"].geometry_geojson)["coordinates"] == [-1.41, 52.51]
    # A form opened before that change is refused.
    stale = post(client, "/interventions/INT-03", {**form, "version": "1"})
    assert stale.status_code == 409
    assert "changed by ed since you opened it" in stale.get_data(as_text=True)


# -- uploads ---------------------------------------------------------------------------------------


def test_upload_changes_coverage_and_the_map(app: Flask, sample_study: Path) -> None:
    client = client_as(app, "ed")
    lon, lat = top_gap_point(sample_study)
    before = client.get("/api/register").get_json()
    old_geojson = client.get("/api/interventions.geojson").data
    content = geojson_file([feature(Point(lon, lat), id="NEW-1", **GOOD)])
    response = upload(client, "/api/register/upload", content, "new.geojson")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ids"] == ["NEW-1"] and body["version"] == before["version"] + 1
    assert body["coverage"]["before"] == before["coverage"]
    assert body["coverage"]["after"]["top_10pct_covered"] > before["coverage"]["top_10pct_covered"]
    assert body["coverage"]["changes"][0].startswith("Top-10% risk cells covered: 11% → ")
    assert body["recompute_s"] < 10
    new_geojson = client.get("/api/interventions.geojson").data
    assert new_geojson != old_geojson
    assert "NEW-1" in [f["properties"]["id"] for f in json.loads(new_geojson)["features"]]
    assert len(stored(app)) == 13
    assert ("ed", "editor", "intervention.add", "NEW-1") in audit(app)
    # The map's cell panel and gaps follow the register.
    gaps = json.loads(client.get("/api/cells.geojson?layer=gaps").data)["features"]
    top = gpd.read_parquet(sample_study / "gaps.parquet").iloc[0]["h3"]
    assert top not in [g["properties"]["h3"] for g in gaps]


def test_exports_follow_the_register(app: Flask, sample_study: Path) -> None:
    client = client_as(app, "ed")
    lon, lat = top_gap_point(sample_study)
    top = gpd.read_parquet(sample_study / "gaps.parquet").iloc[0]["h3"]
    content = geojson_file([feature(Point(lon, lat), id="NEW-1", **GOOD)])
    assert upload(client, "/api/register/upload", content, "new.geojson").status_code == 200
    work = client.get("/export/file?layer=interventions&format=geojson")
    assert work.status_code == 200
    assert "NEW-1" in [f["properties"]["id"] for f in json.loads(work.data)["features"]]
    gaps = json.loads(client.get("/export/file?layer=gaps&format=geojson").data)["features"]
    assert top not in [g["properties"]["h3"] for g in gaps]
    cells = json.loads(client.get("/export/file?layer=cells&format=geojson").data)["features"]
    (cell,) = [c["properties"] for c in cells if c["properties"]["h3"] == top]
    assert cell["agencies_now"] >= 3 and cell["gap"] is None


def test_upload_csv_from_the_page(app: Flask) -> None:
    client = client_as(app, "ada")
    csv = (
        b"id,name,type,lead_agency,partner_agencies,start,lat,lon,radius_m\n"
        b"CSV-1,Youth bus,detached youth work,voluntary sector,police,2025-06-01,52.51,-1.41,150\n"
    )
    response = upload(client, "/interventions/upload", csv, "bus.csv")
    assert response.status_code == 302 and response.headers["Location"] == "/interventions"
    page = client.get("/interventions").get_data(as_text=True)
    assert "Upload: CSV-1" in page and "Top-10% risk cells covered:" in page
    assert stored(app)["CSV-1"].created_by == "ada"


def test_an_upload_with_bad_rows_stores_nothing(app: Flask) -> None:
    client = client_as(app, "ed")
    rows = [
        feature(Point(-1.41, 52.51), id="OK-1", **GOOD),
        feature(SELF_CROSSING, id="BAD-1", **GOOD),
        feature(Point(-1.41, 95.0), id="BAD-2", **GOOD),
        feature(Point(-1.41, 52.51), id="INT-01", **GOOD),
    ]
    count, geojson = len(stored(app)), client.get("/api/interventions.geojson").data
    response = upload(client, "/api/register/upload", geojson_file(rows), "mixed.geojson")
    assert response.status_code == 422
    rejects = response.get_json()["rejects"]
    assert [(r["file"], r["row"], r["field"]) for r in rejects] == [
        ("mixed.geojson", 2, "geometry"),
        ("mixed.geojson", 3, "geometry"),
    ]
    assert "Self-intersection" in rejects[0]["detail"]
    assert "-90..90" in rejects[1]["message"] and "row 3 (BAD-2)" in rejects[1]["message"]
    assert "2 of 4 rows rejected; nothing was stored" in response.get_json()["error"]
    assert len(stored(app)) == count
    assert client.get("/api/interventions.geojson").data == geojson
    # Valid rows whose ids are taken are rejected too, unless replacing.
    ok = [rows[0], rows[3]]
    clash = upload(client, "/api/register/upload", geojson_file(ok), "again.geojson")
    assert clash.status_code == 422
    assert [(r["row"], r["reason"]) for r in clash.get_json()["rejects"]] == [(2, "duplicate id")]
    assert len(stored(app)) == count
    replaced = upload(
        client, "/api/register/upload", geojson_file(ok), "again.geojson", replace="1"
    )
    assert replaced.status_code == 200
    assert stored(app)["INT-01"].name == GOOD["name"] and len(stored(app)) == count + 1
    assert ("ed", "editor", "intervention.replace", "INT-01") in audit(app)


def test_an_upload_page_with_bad_rows_lists_them(app: Flask) -> None:
    csv = b"id,start,lat,lon\nA-1,2025-01-01,95,-1.4\nA-2,,52.5,-1.4\n"
    response = upload(client_as(app, "ed"), "/interventions/upload", csv, "bad.csv")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # Rows are the file's lines (the header is line 1).
    assert "<li>bad.csv, row 2 (A-1), lat/lon: coordinates look swapped" in page
    assert "<li>bad.csv, row 3 (A-2), start: missing start</li>" in page
    assert "A-1" not in stored(app)


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"id,start\n", "list.txt", "only .geojson, .json, .csv files"),
        (b"hello", "list.geojson", "not GeoJSON"),
        (b'{"type": "Point", "coordinates": [0, 0]}', "list.json", "expected a FeatureCollection"),
        (b"\x00\x01\x02binary", "list.csv", "not a text CSV file"),
        (b"\xff\xfe\x00", "list.csv", "not UTF-8"),
        (b"", "list.csv", "the file is empty"),
        (b"name,colour\nx,red\n", "my list.csv", "my list.csv: no start date column"),
        (b"id,start,lat,lon\n", "none.csv", "none.csv: the file holds no interventions"),
        (geojson_file([]), "none.geojson", "no start date column"),
    ],
)
def test_unusable_files_are_400(app: Flask, content: bytes, name: str, words: str) -> None:
    client = client_as(app, "ed")
    count = len(stored(app))
    response = upload(client, "/api/register/upload", content, name)
    assert response.status_code == 400
    assert words in response.get_json()["error"]
    assert len(stored(app)) == count


def test_no_file_is_400(app: Flask) -> None:
    response = post(client_as(app, "ed"), "/interventions/upload")
    assert response.status_code == 400
    assert "Choose a GeoJSON or CSV file" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/api/register/upload", "/interventions/upload"])
def test_oversized_upload_is_413(sample_study: Path, tmp_path: Path, url: str) -> None:
    app = make_register_app(sample_study, tmp_path / "big.sqlite", MAX_CONTENT_LENGTH=20_000)
    client = client_as(app, "ed")
    count = len(stored(app))
    big = geojson_file([feature(Point(-1.41, 52.51), id=f"B-{i}", **GOOD) for i in range(200)])
    assert len(big) > 20_000
    response = upload(client, url, big, "big.geojson")
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "larger than 19.5 KB" in text and "MAX_CONTENT_LENGTH" in text
    if url.startswith("/api/"):
        assert "larger than" in response.get_json()["error"]
    assert len(stored(app)) == count


def test_default_upload_limit_is_5_mb(shared_app: Flask) -> None:
    assert shared_app.config["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024


# -- closing ---------------------------------------------------------------------------------------


def _busiest_top_intervention(sample_study: Path) -> str:
    """The intervention present in most of the top-10 % risk cells."""
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    top = cells.sort_values("risk", ascending=False, kind="stable").head(
        int(np.ceil(0.1 * len(cells)))
    )
    ids = Counter(i for s in top["intervention_ids"] for i in str(s).split(";") if i)
    return ids.most_common(1)[0][0]


def test_closing_lowers_coverage(app: Flask, sample_study: Path) -> None:
    client = client_as(app, "ed")
    ident = _busiest_top_intervention(sample_study)
    old_geojson = client.get("/api/interventions.geojson").data
    response = api_post(client, f"/api/register/{ident}/close", json={"end": "2026-01-10"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ids"] == [ident] and body["action"] == "close"
    assert (
        body["coverage"]["after"]["top_10pct_covered"]
        < body["coverage"]["before"]["top_10pct_covered"]
    )
    assert body["coverage"]["after"]["active_now"] == 7
    entry = stored(app)[ident]
    assert entry.status == "closed" and str(entry.end) == "2026-01-10" and entry.closed_by == "ed"
    assert ("ed", "editor", "intervention.close", ident) in audit(app)
    features = json.loads(client.get("/api/interventions.geojson").data)["features"]
    closed = next(f for f in features if f["properties"]["id"] == ident)
    assert closed["properties"]["end_month"] == "2026-01"
    assert client.get("/api/interventions.geojson").data != old_geojson
    # Closing it again, or before it started, or after today, is refused.
    again = api_post(client, f"/api/register/{ident}/close", json={})
    assert again.status_code == 409 and "already closed" in again.get_json()["error"]


@pytest.mark.parametrize(
    ("end", "words"),
    [
        ("2020-01-01", "before INT-03's start 2024-04-01"),
        ("2026-02-01", "after today"),
        ("soon", "not a date"),
    ],
)
def test_bad_closing_dates_are_422(app: Flask, end: str, words: str) -> None:
    client = client_as(app, "ed")
    response = api_post(client, "/api/register/INT-03/close", json={"end": end})
    assert response.status_code == 422
    assert words in response.get_json()["error"]
    assert stored(app)["INT-03"].status == "active"
    page = post(client, "/interventions/INT-03/close", {"end": end})
    assert page.status_code == 422 and words in html.unescape(page.get_data(as_text=True))


def test_each_change_is_audited_with_who_and_role(app: Flask) -> None:
    ed, ada = client_as(app, "ed"), client_as(app, "ada")
    api_post(ed, "/api/register/INT-03/close", json={})
    post(ada, "/interventions/INT-09/close")
    rows = [a for a in audit(app) if a[2].startswith("intervention.")]
    assert rows[0] == ("seed", None, "intervention.seed", None)
    assert rows[1:] == [
        ("ed", "editor", "intervention.close", "INT-03"),
        ("ada", "admin", "intervention.close", "INT-09"),
    ]


def test_concurrent_versions_follow_each_change(app: Flask) -> None:
    client = client_as(app, "ed")
    versions = [client.get("/api/register").get_json()["version"]]
    for ident in ("INT-03", "INT-09"):
        versions.append(
            api_post(client, f"/api/register/{ident}/close", json={}).get_json()["version"]
        )
    assert versions == [1, 2, 3]


def test_study_query_keeps_the_area(sample_study: Path, tmp_path: Path) -> None:
    studies = {"north": str(sample_study), "south": str(sample_study)}
    app = make_register_app(
        sample_study, tmp_path / "areas.sqlite", STUDIES=studies, STUDY_DIR=None
    )
    client = client_as(app, "ed")
    response = api_post(client, "/api/register/INT-03/close?study=south", json={})
    assert response.status_code == 200
    with app.extensions[db.DB_KEY].sessions() as s:
        rows = {(e.study, e.id): e.status for e in s.scalars(sa.select(Intervention))}
    assert rows[("south", "INT-03")] == "closed" and rows[("north", "INT-03")] == "active"
    areas = app.extensions[AREAS_KEY]
    assert areas["south"].deployment.version == 2 and areas["north"].deployment.version == 1
    page = client.get("/interventions?study=south").get_data(as_text=True)
    assert 'href="/interventions/INT-03?study=south"' in page


# -- the drawing tool, in a real browser -----------------------------------------------------------


def test_drawing_an_area_in_the_browser(sample_study: Path, tmp_path: Path) -> None:
    """draw.js: click three corners (one undone), double-click to close, submit the form."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"{chromium} is not installed")
    import threading

    from werkzeug.serving import make_server

    config = {"LOGIN_REQUIRED": False, "ANONYMOUS_ROLE": "editor", "SECRET_KEY": "test"}
    app = make_register_app(sample_study, tmp_path / "browser.sqlite", TESTING=False, **config)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{httpd.server_port}/interventions/new")
            page.wait_for_load_state("networkidle")
            page.get_by_role("button", name="Area").click()
            box = page.locator("#register-map").bounding_box()
            assert box is not None
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            for dx, dy in [(-60, -40), (60, -40), (90, 90)]:
                page.mouse.click(x + dx, y + dy)
                page.wait_for_timeout(350)  # not a double-click
            page.get_by_role("button", name="Undo").click()
            page.mouse.click(x + 60, y + 40)
            page.wait_for_timeout(350)
            page.mouse.dblclick(x - 60, y + 40)
            geometry = json.loads(page.locator("#f-geometry").input_value())
            assert geometry["type"] == "Polygon" and len(geometry["coordinates"][0]) == 5
            assert geometry["coordinates"][0][0] == geometry["coordinates"][0][-1]
            assert "Area drawn (4 points)" in page.locator("#draw-status").inner_text()
            for field, value in {
                "id": "INT-20",
                "start": "2025-12-01",
                "lead_agency": "council",
            }.items():
                page.fill(f"#f-{field}", value)
            page.get_by_role("button", name="Add", exact=True).click()
            page.wait_for_load_state("networkidle")
            assert page.url.endswith("/interventions/INT-20")
            assert "Top-10% risk cells covered: 11% → " in page.locator("main").inner_text()
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
    assert errors == []
    assert stored(app)["INT-20"].created_by == "anonymous"
