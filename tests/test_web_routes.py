"""Every route of the app, for every role: who may see what, and every POST needs its
CSRF token. The table below is the contract; a new route without a row fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from web import create_app, db
from web.auth import login_as

PASSWORDS = {"vera": "viewer password 1", "ed": "editor password 1", "ada": "admin password 1"}
ROLE_OF = {"vera": "viewer", "ed": "editor", "ada": "admin"}
WHO = {"anonymous": None, "viewer": "vera", "editor": "ed", "admin": "ada"}

# GET endpoints → the least role that may open them (None: anyone, even signed out).
OPEN, SIGNED_IN, EDITOR, ADMIN = None, "viewer", "editor", "admin"
GET_ACCESS = {
    "auth.login": OPEN,
    "maps.healthz": OPEN,
    "maps.leaflet_asset": OPEN,
    "static": OPEN,
    "maps.index": SIGNED_IN,
    "api.cells": SIGNED_IN,
    "api.interventions": SIGNED_IN,
    "api.cell": SIGNED_IN,
    "api.summary": SIGNED_IN,
    "api.filters": SIGNED_IN,
    "api.layers": SIGNED_IN,
    "api.place_geojson": SIGNED_IN,
    "api.places_summary": SIGNED_IN,
    "compare.page": SIGNED_IN,
    "compare.coverage_geojson": SIGNED_IN,
    "compare.bivariate_geojson": SIGNED_IN,
    "dashboard.page": SIGNED_IN,
    "dashboard.api": SIGNED_IN,
    "register.index": SIGNED_IN,
    "register.entry": SIGNED_IN,
    "register.api_list": SIGNED_IN,
    "register.new": EDITOR,
    "register.upload_form": EDITOR,
    "plan.page": EDITOR,
    "exports.page": SIGNED_IN,
    "exports.file": SIGNED_IN,  # with no layer asked: the form again (200), no file written
    "exports.report": SIGNED_IN,  # the HTML evidence pack (an audit line each)
    "exports.overview": SIGNED_IN,  # 404 here: it compares areas and this app serves one
    "auth.users": ADMIN,
}
RANK = {None: 0, "viewer": 1, "editor": 2, "admin": 3}
#: Routes that answer 404 to those allowed in, with one area served (tests/test_web_exports.py
#: serves two).
ONE_AREA_404 = {"exports.overview"}


@pytest.fixture(scope="module")
def app(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")  # fast hashing in tests
        database = tmp_path_factory.mktemp("routes") / "routes.sqlite"
        app = create_app(
            {"TESTING": True, "STUDY_DIR": str(sample_study), "DATABASE_URL": str(database),
             "SECRET_KEY": "routes test", "REGISTER_TODAY": "2025-12-15"}
        )  # fmt: skip
        with app.extensions[db.DB_KEY].sessions.begin() as s:
            for name, password in PASSWORDS.items():
                db.add_user(s, name, password, role=ROLE_OF[name], by=db.CLI)
        yield app


@pytest.fixture(scope="module")
def clients(app: Flask) -> dict[str, FlaskClient]:
    out = {}
    for who, name in WHO.items():
        client = app.test_client()
        if name is not None:
            assert login_as(client, name, PASSWORDS[name]).status_code == 302
        out[who] = client
    return out


def example_args(app: Flask, sample_study: Path) -> dict[str, str]:
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    return {
        "h3": str(cells.loc[cells["count"].idxmax(), "h3"]),
        "name": "parks",
        "filename": "leaflet.js",
        "ident": "INT-01",
        "fmt": "html",
    }


def get_rules(app: Flask) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if "GET" in (r.methods or set())]


def test_every_get_route_has_an_access_rule(app: Flask) -> None:
    endpoints = {r.endpoint for r in get_rules(app)}
    assert endpoints - set(GET_ACCESS) == set(), "add the new routes to GET_ACCESS"
    assert set(GET_ACCESS) - endpoints == set(), "GET_ACCESS lists routes that are gone"


@pytest.mark.parametrize("who", list(WHO))
def test_every_get_route_for_every_role(
    app: Flask, clients: dict[str, FlaskClient], sample_study: Path, who: str
) -> None:
    args = example_args(app, sample_study)
    client = clients[who]
    role = None if who == "anonymous" else who
    for rule in get_rules(app):
        values = {
            a: (f"vendor/leaflet/{args[a]}" if rule.endpoint == "static" else args[a])
            for a in rule.arguments
        }
        if rule.endpoint == "static":
            values = {"filename": "geojtai.js"}
        url = rule.build(values)[1]
        response = client.get(url)
        response.close()  # file responses (static, Leaflet) hold their file open until closed
        needed = GET_ACCESS[rule.endpoint]
        if rule.endpoint == "auth.login" and role is not None:
            assert response.status_code == 302, (who, url)  # signed in already: on to the map
        elif RANK[role] >= RANK[needed]:
            expected = 404 if rule.endpoint in ONE_AREA_404 else 200
            assert response.status_code == expected, (who, url, response.status_code)
        elif role is None and url.startswith("/api/"):
            assert response.status_code == 401, (who, url)
            assert "sign in" in response.get_json()["error"].lower()
        elif role is None:
            assert response.status_code == 302 and "/login" in response.headers["Location"], (
                who,
                url,
            )
        else:
            assert response.status_code == 403, (who, url, response.status_code)


def test_every_post_route_needs_its_csrf_token(
    app: Flask, clients: dict[str, FlaskClient], sample_study: Path
) -> None:
    args = example_args(app, sample_study)
    client = clients["admin"]
    posts = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or set())]
    assert len(posts) >= 10
    for rule in posts:
        values = {a: ("vera" if a == "name" else args[a]) for a in rule.arguments}
        url = rule.build(values)[1]
        response = client.post(url, data={})
        assert response.status_code == 400, (url, response.status_code)
        assert "csrf" in response.get_data(as_text=True).lower(), url


def test_viewers_cannot_change_anything(
    app: Flask, clients: dict[str, FlaskClient], sample_study: Path
) -> None:
    from web.auth import csrf_token_for

    args = example_args(app, sample_study)
    client = clients["viewer"]
    token = csrf_token_for(client)
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or set()) or rule.endpoint in {"auth.login", "auth.logout"}:
            continue
        values = {a: ("vera" if a == "name" else args[a]) for a in rule.arguments}
        url = rule.build(values)[1]
        response = client.post(url, data={"csrf_token": token}, headers={"X-CSRFToken": token})
        assert response.status_code == 403, (url, response.status_code)


def test_security_headers_on_every_page(clients: dict[str, FlaskClient]) -> None:
    for url in ("/", "/compare", "/dashboard", "/interventions", "/login", "/api/summary"):
        response = clients["editor"].get(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
