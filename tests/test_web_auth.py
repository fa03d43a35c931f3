"""Sign-in and roles: the sign-in gate, every auth route for every role, CSRF, the users page,
the rate limit, cookies and security headers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from werkzeug.security import check_password_hash

from geojtai.errors import SettingsError
from web import auth, create_app, db
from web.auth import LoginThrottle, csrf_token_for, login_as
from web.db import AuditEntry

from .test_web import write_tiny_study

PASSWORDS = {
    "vera": "viewer password",
    "ed": "editor password",
    "ada": "admin password",
    "gone": "gone password",
}
ROLE_OF = {"vera": "viewer", "ed": "editor", "ada": "admin", "gone": "viewer"}
SIGNED_IN = ["vera", "ed", "ada"]  # one user per role
EVERYONE = [None, *SIGNED_IN]  # None: nobody signed in


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings from the developer's shell; fast password hashing."""
    monkeypatch.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
    for name in (
        "GEOJTAI_STUDY_DIR",
        "GEOJTAI_STUDIES",
        "GEOJTAI_TILES",
        "GEOJTAI_DATABASE_URL",
        "GEOJTAI_LOGIN_REQUIRED",
        "GEOJTAI_ANONYMOUS_ROLE",
        "GEOJTAI_SECRET_KEY",
        "GEOJTAI_SESSION_COOKIE_SECURE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path / "study"
    return folder, write_tiny_study(folder)


@pytest.fixture
def make_app(tmp_path: Path, study: tuple[Path, pd.DataFrame]) -> Callable[..., Flask]:
    """An app on the tiny study with CSRF on and one user per role (and a deactivated one)."""

    def make(**config: Any) -> Flask:
        settings = {
            "TESTING": True,
            "STUDY_DIR": str(study[0]),
            "DATABASE_URL": str(tmp_path / "app.sqlite"),
            **config,
        }
        app = create_app(settings)
        with app.extensions[db.DB_KEY].sessions.begin() as s:
            if not db.list_users(s):
                for name, password in PASSWORDS.items():
                    db.add_user(s, name, password, role=ROLE_OF[name], by=db.CLI)
                db.set_active(s, "gone", False, by=db.CLI)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def client_as(app: Flask, name: str | None) -> FlaskClient:
    """A test client signed in as ``name`` (``None``: nobody)."""
    client = app.test_client()
    if name is not None:
        assert login_as(client, name, PASSWORDS[name]).status_code == 302
    return client


def audit_actions(app: Flask) -> list[tuple[str, str | None, str, str | None]]:
    with app.extensions[db.DB_KEY].sessions() as s:
        entries = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        return [(e.who, e.role, e.action, e.object_id) for e in entries]


def stored_user(app: Flask, name: str) -> db.User | None:
    with app.extensions[db.DB_KEY].sessions() as s:
        return db.get_user(s, name)


def post(client: FlaskClient, url: str, **data: str) -> Any:
    """A form POST with the client's CSRF token, as the page's form sends it."""
    return client.post(url, data={"csrf_token": csrf_token_for(client), **data})


# -- signing in and out ----------------------------------------------------------------------


def test_login_page_works_without_javascript(client: FlaskClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form class="auth-form" method="post" action="/login">' in html
    assert '<label for="login-name">Name</label>' in html and 'id="login-name"' in html
    assert '<label for="login-password">Password</label>' in html
    assert re.search(r'id="login-password" name="password" type="password"', html)
    assert 'autocomplete="current-password"' in html
    assert re.search(r'name="csrf_token" value="[^"]+"', html)
    assert '<meta name="csrf-token" content="' in html
    assert "Signed in as" not in html and ">Sign in</a>" not in html  # no account strip here
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", SIGNED_IN)
def test_sign_in_then_see_the_map(app: Flask, name: str) -> None:
    client = app.test_client()
    response = login_as(client, name, PASSWORDS[name])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Signed in as <strong>{name}</strong> ({ROLE_OF[name]})" in html
    assert "<h1>Tinytown</h1>" in html
    assert ('href="/users"' in html) is (name == "ada")
    user = stored_user(app, name)
    assert user is not None and user.last_login_at is not None


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("ada", "wrong password"),
        ("nobody", "admin password"),
        ("ADA", "admin password"),
        ("gone", "gone password"),  # deactivated
        ("", ""),
    ],
)
def test_failed_sign_in_is_401_without_saying_why(
    client: FlaskClient, name: str, password: str
) -> None:
    response = login_as(client, name, password)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert (
        '<p class="auth-error" role="alert" id="login-error">Name or password is wrong.</p>' in html
    )
    assert password not in html or not password  # the password is never echoed
    assert client.get("/").status_code == 302  # still signed out


def test_failed_sign_in_keeps_the_name_typed(client: FlaskClient) -> None:
    html = login_as(client, "ada", "wrong password").get_data(as_text=True)
    assert 'value="ada"' in html and 'aria-invalid="true"' in html


def test_logout(app: Flask) -> None:
    client = client_as(app, "ed")
    response = post(client, "/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert client.get("/api/summary").status_code == 401


def test_logout_is_post_only(app: Flask) -> None:
    client = client_as(app, "ed")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # still signed in


def test_logout_takes_the_csrf_header(app: Flask) -> None:
    """A fetch POST sends the page's token in X-CSRFToken instead of a form field."""
    client = client_as(app, "ed")
    response = client.post("/logout", headers={"X-CSRFToken": csrf_token_for(client)})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/login", {"name": "ada", "password": "admin password"}),
        ("/logout", {}),
        ("/users", {"name": "eve", "role": "viewer", "password": "x" * 12, "confirm": "x" * 12}),
        ("/users/vera/role", {"role": "admin"}),
        ("/users/vera/active", {"active": "0"}),
    ],
)
@pytest.mark.parametrize("who", EVERYONE)
def test_posts_without_a_csrf_token_are_400(
    app: Flask, who: str | None, url: str, data: dict[str, str]
) -> None:
    client = client_as(app, who)
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)
    forged = client.post(url, data={**data, "csrf_token": "forged"})
    assert forged.status_code == 400
    vera = stored_user(app, "vera")
    assert vera is not None and vera.role == "viewer" and vera.active
    assert stored_user(app, "eve") is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/\r\nSet-Cookie: x=1",
    ],
)
def test_next_only_goes_to_local_paths(client: FlaskClient, target: str) -> None:
    response = login_as(client, "ada", PASSWORDS["ada"], next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/" or (location == target and target.startswith("/%0d"))
    assert "evil.example" not in location and "\n" not in location


def test_next_keeps_a_local_path_and_query(client: FlaskClient) -> None:
    response = login_as(client, "ed", PASSWORDS["ed"], next="/?month=2024-02")
    assert response.headers["Location"] == "/?month=2024-02"
    again = client.get("/login?next=https://evil.example")  # already signed in
    assert again.status_code == 302 and again.headers["Location"] == "/"


def test_sign_in_is_sent_back_where_it_started(client: FlaskClient) -> None:
    response = client.get("/?month=2024-02")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?month%3D2024-02"
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/?month=2024-02"' in form
    signed_in = login_as(client, "vera", PASSWORDS["vera"], next="/?month=2024-02")
    assert signed_in.headers["Location"] == "/?month=2024-02"


# -- the rate limit --------------------------------------------------------------------------


def test_five_failures_then_429(app: Flask) -> None:
    now = [1000.0]
    app.extensions[auth.THROTTLE_KEY] = LoginThrottle(clock=lambda: now[0])
    client = app.test_client()
    for _ in range(auth.MAX_FAILURES):
        assert login_as(client, "ada", "wrong password").status_code == 401
        now[0] += 60
    blocked = login_as(client, "ada", PASSWORDS["ada"])  # even the right password
    assert blocked.status_code == 429
    assert "Too many failed sign-ins for this name. Try again in 10 min." in blocked.get_data(
        as_text=True
    )
    assert blocked.headers["Retry-After"] == str(15 * 60 - 5 * 60)
    assert login_as(client, "ed", PASSWORDS["ed"]).status_code == 302  # other names are not
    now[0] += 15 * 60 - 5 * 60 + 1  # the first failure is now over 15 min old
    assert login_as(app.test_client(), "ada", PASSWORDS["ada"]).status_code == 302


def test_success_clears_the_failures(app: Flask) -> None:
    client = app.test_client()
    for _ in range(auth.MAX_FAILURES - 1):
        login_as(client, "vera", "wrong password")
    assert login_as(client, "vera", PASSWORDS["vera"]).status_code == 302
    other = app.test_client()
    for _ in range(auth.MAX_FAILURES - 1):
        assert login_as(other, "vera", "wrong password").status_code == 401


def test_throttle_window_slides() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=2, window=100, clock=lambda: now[0])
    throttle.fail("a")
    now[0] = 50
    throttle.fail("a")
    assert throttle.retry_after("a") == 50
    now[0] = 100  # the first failure has expired; one remains
    assert throttle.retry_after("a") == 0
    throttle.fail("a")
    assert throttle.retry_after("a") == 50
    throttle.clear("a")
    assert throttle.retry_after("a") == 0


def test_throttle_forgets_the_oldest_names_when_full() -> None:
    throttle = LoginThrottle(limit=1, window=100, clock=lambda: 0.0, max_names=3)
    for name in ("a", "b", "c", "d"):
        throttle.fail(name)
    assert [throttle.retry_after(n) > 0 for n in ("a", "b", "c", "d")] == [
        False,
        True,
        True,
        True,
    ]


# -- the users page --------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [(None, 302), ("vera", 403), ("ed", 403), ("ada", 200)])
def test_users_page_is_for_admins(app: Flask, who: str | None, status: int) -> None:
    response = client_as(app, who).get("/users")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    if who is None:
        assert response.headers["Location"] == "/login?next=/users"
    elif status == 403:
        assert f"This needs the admin role; you are signed in as {who}" in html
    else:
        assert all(f'<th scope="row">{name}</th>' in html for name in PASSWORDS)
        assert "deactivated" in html and "Reactivate" in html
        assert '<label class="visually-hidden" for="role-1">Role of ada</label>' in html


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/users", {"name": "eve", "role": "admin", "password": "x" * 12, "confirm": "x" * 12}),
        ("/users/vera/role", {"role": "admin"}),
        ("/users/vera/active", {"active": "0"}),
    ],
)
@pytest.mark.parametrize(("who", "status"), [(None, 302), ("vera", 403), ("ed", 403)])
def test_only_admins_change_accounts(
    app: Flask, who: str | None, status: int, url: str, data: dict[str, str]
) -> None:
    client = client_as(app, who)
    before = audit_actions(app)
    assert post(client, url, **data).status_code == status
    vera = stored_user(app, "vera")
    assert vera is not None and vera.role == "viewer" and vera.active
    assert stored_user(app, "eve") is None
    assert audit_actions(app) == before


def test_admin_adds_a_user(app: Flask) -> None:
    admin = client_as(app, "ada")
    password = "a first password"
    response = post(admin, "/users", name="eve", role="editor", password=password, confirm=password)
    assert response.status_code == 302 and response.headers["Location"] == "/users"
    assert "Added eve (editor)." in admin.get("/users").get_data(as_text=True)
    eve = stored_user(app, "eve")
    assert eve is not None and eve.role == "editor"
    assert eve.password_hash != password and check_password_hash(eve.password_hash, password)
    assert audit_actions(app)[-1] == ("ada", "admin", "user.add", "eve")
    assert login_as(app.test_client(), "eve", password).status_code == 302


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "eve", "password": "a first password", "confirm": "another"}, "differ"),
        ({"name": "ed", "password": "x" * 12, "confirm": "x" * 12}, "already exists"),
        ({"name": "eve", "password": "short", "confirm": "short"}, "use at least 10"),
        ({"name": "eve", "role": "boss", "password": "x" * 12, "confirm": "x" * 12}, "boss"),
        ({"name": "e ve", "password": "x" * 12, "confirm": "x" * 12}, "only letters, digits"),
    ],
)
def test_admin_add_user_errors_are_400_on_the_page(
    app: Flask, data: dict[str, str], message: str
) -> None:
    response = post(client_as(app, "ada"), "/users", **{"role": "viewer", **data})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<p class="auth-error" role="alert">' in html and message in html
    assert f'id="new-name" name="name" value="{data["name"]}"' in html  # kept, to correct
    assert stored_user(app, "eve") is None
    assert data["password"] not in html


def test_admin_changes_a_role(app: Flask) -> None:
    admin = client_as(app, "ada")
    vera = client_as(app, "vera")
    assert vera.get("/users").status_code == 403
    assert post(admin, "/users/vera/role", role="editor").status_code == 302
    assert "vera is now editor." in admin.get("/users").get_data(as_text=True)
    assert "(editor)" in vera.get("/").get_data(as_text=True)  # at once, same session
    assert audit_actions(app)[-1] == ("ada", "admin", "user.set_role", "vera")
    bad = post(admin, "/users/vera/role", role="root")
    assert bad.status_code == 400 and "was &#39;root&#39; but is expected" in bad.get_data(
        as_text=True
    )
    assert post(admin, "/users/nobody/role", role="viewer").status_code == 400


def test_admin_cannot_remove_the_last_admin(app: Flask) -> None:
    admin = client_as(app, "ada")
    for url, data in [
        ("/users/ada/role", {"role": "viewer"}),
        ("/users/ada/active", {"active": "0"}),
    ]:
        response = post(admin, url, **data)
        assert response.status_code == 400
        assert "the only active admin" in response.get_data(as_text=True)
    assert client_as(app, "ada").get("/users").status_code == 200


def test_deactivation_signs_out_at_once(app: Flask) -> None:
    admin, ed = client_as(app, "ada"), client_as(app, "ed")
    assert post(admin, "/users/ed/active", active="0").status_code == 302
    assert ed.get("/").status_code == 302
    assert ed.get("/api/summary").status_code == 401
    assert login_as(app.test_client(), "ed", PASSWORDS["ed"]).status_code == 401
    assert post(admin, "/users/ed/active", active="1").status_code == 302
    assert login_as(app.test_client(), "ed", PASSWORDS["ed"]).status_code == 302
    actions = [a[2] for a in audit_actions(app)[-2:]]
    assert actions == ["user.deactivate", "user.activate"]


def test_password_change_signs_out_everywhere(app: Flask) -> None:
    ed = client_as(app, "ed")
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        db.set_password(s, "ed", "a brand new password", by=db.CLI)
    assert ed.get("/").status_code == 302
    assert login_as(ed, "ed", "a brand new password").status_code == 302


def test_a_forged_session_id_is_nobody(app: Flask) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "3:0000000000000000"  # ada's id, a guessed fingerprint
        session["_fresh"] = True
    assert client.get("/").status_code == 302


# -- the sign-in gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/healthz",
        "/login",
        "/static/vendor/leaflet/leaflet.js",
        "/static/geojtai.css",
        "/static/auth.css",
    ],
)
def test_open_to_visitors(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    response.close()


@pytest.mark.parametrize(
    "url",
    [
        "/api/summary",
        "/api/cells.geojson",
        "/api/layers",
        "/api/cell/89195ca198fffff",
        "/api/nothing",
    ],
)
def test_api_needs_sign_in(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert response.get_json() == {"error": "Sign in to use the API (POST /login), then try again."}


@pytest.mark.parametrize("url", ["/", "/?month=2024-01", "/no-such-page", "/users"])
def test_pages_need_sign_in(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/")


@pytest.mark.parametrize("name", SIGNED_IN)
def test_signed_in_users_use_the_api(app: Flask, name: str) -> None:
    client = client_as(app, name)
    assert client.get("/api/summary").get_json()["total_count"] == 30
    assert client.get("/api/nothing").status_code == 404


def test_anonymous_role_viewer_sees_the_map(make_app: Callable[..., Flask]) -> None:
    client = make_app(ANONYMOUS_ROLE="viewer").test_client()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Tinytown</h1>" in html and '<a href="/login?next=/">Sign in</a>' in html
    assert client.get("/api/summary").status_code == 200
    assert client.get("/users").status_code == 302  # admins still sign in


def test_login_not_required(make_app: Callable[..., Flask]) -> None:
    client = make_app(LOGIN_REQUIRED=False).test_client()
    assert client.get("/").status_code == 200
    assert client.get("/api/summary").status_code == 200
    assert client.get("/users").status_code == 302


@pytest.mark.parametrize("role", ["admin", "boss", ""])
def test_anonymous_role_must_be_viewer_or_editor(make_app: Callable[..., Flask], role: str) -> None:
    with pytest.raises(SettingsError, match="ANONYMOUS_ROLE was"):
        make_app(ANONYMOUS_ROLE=role)


# -- roles for the other blueprints ----------------------------------------------------------

probe = Blueprint("probe", __name__)


@probe.get("/probe/role")
def role_probe() -> Any:
    return jsonify(
        role=auth.current_role(),
        editor=auth.role_at_least("editor"),
        internal=auth.is_internal(),
        actor=list(vars(auth.current_actor()).values()),
    )


@probe.get("/probe/editors")
@auth.require_role("editor")
def editors_page() -> str:
    return "register"


@probe.get("/api/probe/editors")
@auth.require_role("editor")
def editors_api() -> Any:
    return jsonify(ok=True)


@probe.post("/api/probe/echo")
@auth.require_role("editor")
def echo_api() -> Any:
    return jsonify(ok=True)


@pytest.fixture
def probe_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def make(**config: Any) -> Flask:
        app = make_app(**config)
        app.register_blueprint(probe)
        return app

    return make


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (
            "vera",
            {"role": "viewer", "editor": False, "internal": False, "actor": ["vera", "viewer"]},
        ),
        ("ed", {"role": "editor", "editor": True, "internal": True, "actor": ["ed", "editor"]}),
        ("ada", {"role": "admin", "editor": True, "internal": True, "actor": ["ada", "admin"]}),
    ],
)
def test_role_helpers(probe_app: Callable[..., Flask], who: str, expected: dict[str, Any]) -> None:
    assert client_as(probe_app(), who).get("/probe/role").get_json() == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"LOGIN_REQUIRED": False}, None),
        ({"ANONYMOUS_ROLE": "viewer"}, "viewer"),
        ({"ANONYMOUS_ROLE": "editor"}, "editor"),
    ],
)
def test_role_helpers_for_visitors(
    probe_app: Callable[..., Flask], config: dict[str, Any], expected: str | None
) -> None:
    answer = probe_app(**config).test_client().get("/probe/role").get_json()
    assert answer["role"] == expected and answer["actor"] == ["anonymous", expected]
    assert answer["internal"] is (expected == "editor")


@pytest.mark.parametrize(
    ("who", "page", "api"),
    [(None, 302, 401), ("vera", 403, 403), ("ed", 200, 200), ("ada", 200, 200)],
)
def test_require_role(
    probe_app: Callable[..., Flask], who: str | None, page: int, api: int
) -> None:
    client = client_as(probe_app(), who)
    response = client.get("/probe/editors")
    assert response.status_code == page
    if page == 302:
        assert response.headers["Location"] == "/login?next=/probe/editors"
    if page == 403:
        assert "This needs the editor role" in response.get_data(as_text=True)
    response = client.get("/api/probe/editors")
    assert response.status_code == api
    if api in (401, 403):
        assert set(response.get_json()) == {"error"}


def test_require_role_with_anonymous_viewers(probe_app: Callable[..., Flask]) -> None:
    """A visitor browsing as viewer is asked to sign in for editors' pages, not refused."""
    client = probe_app(ANONYMOUS_ROLE="viewer").test_client()
    assert client.get("/probe/editors").status_code == 302
    assert client.get("/api/probe/editors").status_code == 401


def test_api_posts_need_the_csrf_header(probe_app: Callable[..., Flask]) -> None:
    client = client_as(probe_app(), "ed")
    refused = client.post("/api/probe/echo", json={"note": "x"})
    assert refused.status_code == 400
    assert "CSRF token is missing" in refused.get_json()["error"]
    token = csrf_token_for(client)
    accepted = client.post("/api/probe/echo", json={"note": "x"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.get_json() == {"ok": True}


def test_require_role_checks_the_role_name() -> None:
    with pytest.raises(ValueError, match="'editors' but is expected to be one of"):
        auth.require_role("editors")


# -- cookies, settings and headers -----------------------------------------------------------


def test_session_cookie_flags(client: FlaskClient) -> None:
    response = login_as(client, "ada", PASSWORDS["ada"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # local http by default
    assert "Expires" not in cookie  # ends with the browser session (and within 8 h)


def test_secure_cookie_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    response = login_as(client, "ada", PASSWORDS["ada"])
    assert "; Secure" in response.headers["Set-Cookie"]
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_session_and_cookie_defaults(app: Flask) -> None:
    config = app.config
    assert config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600
    assert config["REMEMBER_COOKIE_DURATION"].total_seconds() == 8 * 3600
    assert config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert config["LOGIN_REQUIRED"] is True and config["ANONYMOUS_ROLE"] is None


def test_sessions_expire(app: Flask) -> None:
    client = client_as(app, "ed")
    assert client.get("/").status_code == 200
    app.permanent_session_lifetime = dt.timedelta(seconds=-1)  # every cookie is now too old
    assert client.get("/").status_code == 302


def test_development_secret_key_is_replaced_outside_tests(
    make_app: Callable[..., Flask],
) -> None:
    keys = {make_app(TESTING=False).config["SECRET_KEY"] for _ in range(2)}
    assert "dev" not in keys and len(keys) == 2
    assert make_app(TESTING=False, SECRET_KEY="configured").config["SECRET_KEY"] == "configured"


@pytest.mark.parametrize("url", ["/", "/login", "/api/summary", "/healthz", "/static/geojtai.css"])
@pytest.mark.parametrize("who", [None, "ed"])
def test_security_headers(app: Flask, who: str | None, url: str) -> None:
    response = client_as(app, who).get(url)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = dict(part.split(" ", 1) for part in headers["Content-Security-Policy"].split("; "))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self' 'unsafe-inline'"
    assert csp["style-src"] == "'self' 'unsafe-inline'"
    assert csp["img-src"] == "'self' data:"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    response.close()


def test_tile_server_is_allowed_for_images(make_app: Callable[..., Flask]) -> None:
    app = make_app(TILES="http://127.0.0.1:8080/{z}/{x}/{y}.png", TILES_ATTRIBUTION="Local")
    response = client_as(app, "vera").get("/")
    assert response.status_code == 200 and "L.tileLayer" in response.get_data(as_text=True)
    assert (
        "img-src 'self' data: http://127.0.0.1:8080;" in response.headers["Content-Security-Policy"]
    )


@pytest.mark.parametrize(
    ("tiles", "img_src"),
    [
        (None, "'self' data:"),
        ("/tiles/{z}/{x}/{y}.png", "'self' data:"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "'self' data: https://*.tile.example.org"),
        (
            "https://tiles.example.org:8443/{z}/{x}/{y}.png",
            "'self' data: https://tiles.example.org:8443",
        ),
        ("https://evil.example; script-src *", "'self' data:"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "'self' data:"),
    ],
)
def test_content_security_policy(tiles: str | None, img_src: str) -> None:
    policy = auth.content_security_policy(tiles)
    assert f"img-src {img_src};" in policy
    assert policy.count("script-src") == 1


def test_signed_in_map_page_carries_the_csrf_token(app: Flask) -> None:
    client = client_as(app, "ed")
    html = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token is not None
    assert client.post("/logout", headers={"X-CSRFToken": token.group(1)}).status_code == 302
