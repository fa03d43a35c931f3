"""Sign-in and roles: who may see and change what (blueprint ``auth``).

Three roles, each with the rights of those before it (:data:`~web.db.ROLES`):

``viewer``
    An inspector: read-only, sees only published figures.
``editor``
    A local partnership: edits the interventions register and sees internal figures.
``admin``
    Manages the accounts (``/users``); also an editor.

:func:`init_app` sets up Flask-Login, CSRF protection on every form and ``fetch`` POST
(Flask-WTF: a ``csrf_token`` form field, or the ``X-CSRFToken`` header with the token of the
page's ``<meta name="csrf-token">``), the sign-in gate and the security headers. With
``LOGIN_REQUIRED`` (the default) every route but ``/login``, ``/healthz`` and the static
files needs a signed-in user, or an ``ANONYMOUS_ROLE`` for visitors (the offline demo's
``"viewer"``). Other blueprints ask :func:`current_role`, :func:`role_at_least` or
:func:`is_internal`, or guard a view with :func:`require_role`; templates get the same three
functions.

A sign-in lasts until the browser closes and at most ``PERMANENT_SESSION_LIFETIME`` (8 h),
and ends as soon as the account's password changes or it is deactivated. After
:data:`MAX_FAILURES` wrong passwords for a name within :data:`FAILURE_WINDOW_S` seconds,
that name is refused (429) until the oldest failure is that old (counted in memory, per
process).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import (
    AnonymousUserMixin,
    LoginManager,
    UserMixin,
    current_user,
    login_user,
    logout_user,
)
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from geojtai.errors import AccountError, SettingsError
from web import db
from web.db import ROLES, Actor, User, current_database, request_session

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

__all__ = [
    "ANONYMOUS_ROLES",
    "FAILURE_WINDOW_S",
    "MAX_FAILURES",
    "OPEN_ENDPOINTS",
    "ROLE_RANK",
    "THROTTLE_KEY",
    "WRONG_NAME_OR_PASSWORD",
    "Account",
    "LoginThrottle",
    "auth_bp",
    "content_security_policy",
    "csrf_token_for",
    "current_actor",
    "current_role",
    "init_app",
    "is_internal",
    "login_as",
    "require_role",
    "role_at_least",
    "safe_next",
]

ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
ANONYMOUS_ROLES = (None, "viewer", "editor")  # an anonymous admin could not be held to account
OPEN_ENDPOINTS = frozenset({"auth.login", "maps.healthz", "maps.leaflet_asset", "static"})
"""What a visitor may reach without signing in, whatever ``LOGIN_REQUIRED`` says."""
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
WRONG_NAME_OR_PASSWORD = "Name or password is wrong."
THROTTLE_KEY = "geojtai.login_throttle"
_F = TypeVar("_F", bound=Callable[..., Any])

auth_bp = Blueprint("auth", __name__)


# -- who is signed in ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Account(UserMixin):
    """The signed-in user as Flask-Login's ``current_user`` (a copy, not a database row).

    Its id carries a fingerprint of the password hash, so a session ends when the
    password changes.
    """

    id: int
    name: str
    role: str
    fingerprint: str

    @classmethod
    def of(cls, user: User) -> Account:
        """The account of a database user."""
        return cls(id=user.id, name=user.name, role=user.role, fingerprint=_fingerprint(user))

    def get_id(self) -> str:
        """What the session stores: ``"<id>:<fingerprint>"``."""
        return f"{self.id}:{self.fingerprint}"


class _Anonymous(AnonymousUserMixin):
    name = None
    role = None


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _load_account(user_id: str) -> Account | None:
    """Flask-Login's user loader: the active user with that id and password, or nobody."""
    key, _, fingerprint = user_id.partition(":")
    if not key.isdigit():
        return None
    with current_database().sessions() as s:
        user = s.get(User, int(key))
    if user is None or not user.active:
        return None
    return Account.of(user) if hmac.compare_digest(_fingerprint(user), fingerprint) else None


def current_role() -> str | None:
    """The role of this request: the user's, else ``ANONYMOUS_ROLE`` (``None`` by default)."""
    if current_user.is_authenticated:
        return str(current_user.role)
    role: str | None = current_app.config["ANONYMOUS_ROLE"]
    return role


def role_at_least(role: str) -> bool:
    """Whether this request has ``role`` or a higher one (viewer < editor < admin).

    Raises
    ------
    ValueError
        ``role`` is not a role.
    """
    minimum = ROLE_RANK[_checked_role(role)]
    mine = current_role()
    return mine is not None and ROLE_RANK[mine] >= minimum


def is_internal() -> bool:
    """Whether this request may see internal figures (editors and admins)."""
    return role_at_least("editor")


def current_actor() -> Actor:
    """Who is acting, for the audit log (``"anonymous"`` with the ``ANONYMOUS_ROLE``)."""
    name = str(current_user.name) if current_user.is_authenticated else "anonymous"
    return Actor(name=name, role=current_role())


def require_role(role: str) -> Callable[[_F], _F]:
    """Guard a view: visitors are sent to sign in (401 JSON on ``/api/``), users without
    ``role`` or a higher one get 403 with a message saying what is needed.

    Raises
    ------
    ValueError
        ``role`` is not a role (when the view is decorated).

    Examples
    --------
    >>> @bp.post("/register")  # doctest: +SKIP
    ... @require_role("editor")
    ... def add_intervention(): ...
    """
    _checked_role(role)

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if role_at_least(role):
                return view(*args, **kwargs)
            if not current_user.is_authenticated:
                return _unauthorised()
            msg = (
                f"This needs the {role} role; you are signed in as {current_user.name} "
                f"({current_user.role})."
            )
            raise Forbidden(msg)

        return cast(_F, guarded)

    return decorate


def _checked_role(role: str) -> str:
    if role not in ROLE_RANK:
        msg = f"`role` was {role!r} but is expected to be one of: {', '.join(ROLES)}"
        raise ValueError(msg)
    return role


def _unauthorised() -> ResponseReturnValue:
    """Not signed in: 401 JSON for the API, else the sign-in page, then back here."""
    if request.path.startswith("/api/"):
        return jsonify(error="Sign in to use the API (POST /login), then try again."), 401
    here = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=here))


def _require_sign_in() -> ResponseReturnValue | None:
    """The app-wide gate: with ``LOGIN_REQUIRED``, only open endpoints for visitors."""
    if not current_app.config["LOGIN_REQUIRED"] or request.endpoint in OPEN_ENDPOINTS:
        return None
    return None if current_role() is not None else _unauthorised()


# -- failed sign-ins ----------------------------------------------------------------------


class LoginThrottle:
    """Failed sign-ins per name over a sliding window, in memory (one per app and process).

    Parameters
    ----------
    limit
        Failures within ``window`` seconds after which the name is refused.
    window
        Seconds a failure counts for.
    clock
        Seconds, monotonic (a fake clock in tests).
    max_names
        Names remembered at most; the oldest are forgotten first, so a flood of made-up
        names cannot exhaust memory.
    """

    def __init__(
        self,
        *,
        limit: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_names: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_names = max_names
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, name: str) -> int:
        """Whole seconds until ``name`` may try again; 0 when it may now."""
        with self._lock:
            times = self._recent(name)
            if len(times) < self.limit:
                return 0
            return max(1, int(times[-self.limit] + self.window - self.clock() + 0.999))

    def fail(self, name: str) -> None:
        """Count a failed sign-in for ``name``."""
        with self._lock:
            self._recent(name).append(self.clock())
            while len(self._failures) > self.max_names:
                del self._failures[next(iter(self._failures))]

    def clear(self, name: str) -> None:
        """Forget ``name``'s failures (after a successful sign-in)."""
        with self._lock:
            self._failures.pop(name, None)

    def _recent(self, name: str) -> deque[float]:
        times = self._failures.setdefault(name, deque(maxlen=self.limit))
        while times and times[0] <= self.clock() - self.window:
            times.popleft()
        return times


# -- views --------------------------------------------------------------------------------


@auth_bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in form (GET) and sign-in (POST), then on to ``next`` if it is local."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return redirect(target) if current_user.is_authenticated else _login_page(target)
    name = request.form.get("name", "").strip()
    throttle: LoginThrottle = current_app.extensions[THROTTLE_KEY]
    if wait := throttle.retry_after(name):
        minutes = -(-wait // 60)
        error = f"Too many failed sign-ins for this name. Try again in {minutes} min."
        return _login_page(target, name=name, error=error, status=429, wait=wait)
    if not _sign_in(name, request.form.get("password", "")):
        throttle.fail(name)
        return _login_page(target, name=name, error=WRONG_NAME_OR_PASSWORD, status=401)
    throttle.clear(name)
    return redirect(target)


@auth_bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (a POST, so another site cannot sign you out), back to the sign-in page."""
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@auth_bp.get("/users")
@require_role("admin")
def users() -> ResponseReturnValue:
    """The accounts, with forms to add one, change a role, deactivate or reactivate."""
    return _users_page()


@auth_bp.post("/users")
@require_role("admin")
def add_account() -> ResponseReturnValue:
    """Add an account; the admin types its first password twice."""
    form = request.form
    name, role, password = form.get("name", "").strip(), form.get("role", ""), form["password"]
    if password != form.get("confirm"):
        raise AccountError("the two passwords differ")
    db.add_user(request_session(), name, password, role=role, by=current_actor())
    return _saved(f"Added {name} ({role}).")


@auth_bp.post("/users/<name>/role")
@require_role("admin")
def change_role(name: str) -> ResponseReturnValue:
    """Give an account another role."""
    role = request.form.get("role", "")
    db.set_role(request_session(), name, role, by=current_actor())
    return _saved(f"{name} is now {role}.")


@auth_bp.post("/users/<name>/active")
@require_role("admin")
def change_active(name: str) -> ResponseReturnValue:
    """Deactivate (``active=0``: signed out, no sign-in) or reactivate (``active=1``)."""
    active = request.form.get("active") == "1"
    db.set_active(request_session(), name, active, by=current_actor())
    return _saved(f"{name} is {'active again' if active else 'deactivated'}.")


@auth_bp.errorhandler(AccountError)
def account_error(error: AccountError) -> ResponseReturnValue:
    """A change the accounts refuse: the users page again, saying why (400)."""
    request_session().rollback()
    return _users_page(error=str(error), status=400)


def _sign_in(name: str, password: str) -> bool:
    s = request_session()
    user = db.check_password(s, name, password)
    if user is None:
        return False
    user.last_login_at = db.utcnow()
    s.commit()
    session.clear()  # nothing from before the sign-in carries over, not even its CSRF token
    login_user(Account.of(user))
    return True


def _login_page(
    target: str, *, name: str = "", error: str | None = None, status: int = 200, wait: int = 0
) -> ResponseReturnValue:
    headers = {"Retry-After": str(wait)} if wait else {}
    page = render_template("login.html", next=target, name=name, error=error)
    return page, status, headers


def _users_page(*, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    draft = request.form if request.endpoint == "auth.add_account" else {}
    everyone = db.list_users(request_session())
    page = render_template("users.html", users=everyone, roles=ROLES, error=error, draft=draft)
    return page, status


def _saved(message: str) -> ResponseReturnValue:
    request_session().commit()
    flash(message)
    return redirect(url_for("auth.users"))


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the map page (no open redirects).

    Examples
    --------
    >>> safe_next("/?month=2024-03")  # doctest: +SKIP
    '/?month=2024-03'
    >>> safe_next("https://evil.example/")  # doctest: +SKIP
    '/'
    """
    if target and _is_local_path(target):
        return target
    return url_for("maps.index")


def _is_local_path(target: str) -> bool:
    # "//host" and "/\host" are other sites to a browser; control characters split headers.
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


# -- set-up -------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Set up sign-in, CSRF protection, the sign-in gate and the security headers.

    Register :data:`auth_bp` too. Cookie settings not given follow the session cookie's:
    ``REMEMBER_COOKIE_SECURE``/``_HTTPONLY``/``_SAMESITE`` and ``REMEMBER_COOKIE_DURATION``
    (``PERMANENT_SESSION_LIFETIME``). CSRF tokens last as long as the sign-in. Without a
    ``SECRET_KEY`` (or with the development ``"dev"``) outside tests, a random key is made,
    so nobody can forge a session; sign-ins then end when the app restarts.

    Raises
    ------
    SettingsError
        ``ANONYMOUS_ROLE`` is not ``None``, ``"viewer"`` or ``"editor"``.
    """
    _check_settings(app)
    CSRFProtect(app)
    manager = LoginManager(app)
    manager.anonymous_user = _Anonymous
    manager.login_view = "auth.login"
    manager.user_loader(_load_account)
    manager.unauthorized_handler(_unauthorised)
    app.extensions[THROTTLE_KEY] = LoginThrottle()
    app.before_request(_require_sign_in)
    app.after_request(_security_headers)
    app.context_processor(_template_helpers)


def _check_settings(app: Flask) -> None:
    config = app.config
    if config.get("ANONYMOUS_ROLE") not in ANONYMOUS_ROLES:
        msg = (
            f"ANONYMOUS_ROLE was {config['ANONYMOUS_ROLE']!r} but is expected to be one of: "
            "None, 'viewer', 'editor' (an admin must sign in)."
        )
        raise SettingsError(msg)
    for part in ("SECURE", "HTTPONLY", "SAMESITE"):
        config.setdefault(f"REMEMBER_COOKIE_{part}", config[f"SESSION_COOKIE_{part}"])
    config.setdefault("REMEMBER_COOKIE_DURATION", config["PERMANENT_SESSION_LIFETIME"])
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # a token lives as long as the session
    if config.get("SECRET_KEY") in (None, "", "dev") and not app.testing:
        config["SECRET_KEY"] = secrets.token_hex(32)
        app.logger.warning(
            "No SECRET_KEY set (GEOJTAI_SECRET_KEY): using a random one, so sign-ins end "
            "when the app restarts and cannot be shared between worker processes."
        )


def content_security_policy(tiles: str | None) -> str:
    """The Content-Security-Policy: this site only, inline scripts and styles (the folium
    map's), ``data:`` images and, with ``TILES``, images from the tile server.

    Examples
    --------
    >>> "img-src 'self' data: https://*.tile.example.org;" in content_security_policy(
    ...     "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    True
    """
    tile_host = _tile_source(tiles)
    directives = {
        "default-src": "'self'",
        "script-src": "'self' 'unsafe-inline'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:" + (f" {tile_host}" if tile_host else ""),
        "connect-src": "'self'",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{key} {value}" for key, value in directives.items())


def _tile_source(tiles: str | None) -> str | None:
    """The tile URL template's origin as a CSP source (``{s}`` subdomains as ``*``)."""
    parts = urlsplit(tiles or "")
    host = re.sub(r"\{[^}]*\}", "*", parts.netloc)
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.*:\[\]-]+", host):
        return None  # no tiles, tiles served by this site, or not a host CSP can name
    return f"{parts.scheme}://{host}"


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", content_security_policy(_tiles()))
    if request.blueprint == "auth":
        headers.setdefault("Cache-Control", "no-store")  # names and roles stay off the disk
    return response


def _tiles() -> str | None:
    tiles: str | None = current_app.config.get("TILES")
    return tiles


def _template_helpers() -> dict[str, Any]:
    return {
        "current_role": current_role,
        "role_at_least": role_at_least,
        "is_internal": is_internal,
    }


# -- for tests ----------------------------------------------------------------------------

_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token_for(client: FlaskClient) -> str:
    """A CSRF token valid for the test client's session (read from a page's meta tag), for
    forms (``csrf_token``) and ``fetch``-style POSTs (header ``X-CSRFToken``)."""
    page = client.get(_url_for(client, "auth.login"), follow_redirects=True)
    found = _TOKEN.search(page.get_data(as_text=True))
    if found is None:
        msg = f"no CSRF token on {page.request.path} (status {page.status_code})"
        raise AssertionError(msg)
    return found.group(1)


def login_as(
    client: FlaskClient, name: str, password: str, *, next: str | None = None
) -> TestResponse:
    """Sign a test client in through the real form, CSRF token and all.

    Returns the response to the POST: a redirect (302) when it worked.

    Examples
    --------
    >>> assert login_as(client, "eve", "long enough password").status_code == 302  # doctest: +SKIP
    """
    data = {"name": name, "password": password, "csrf_token": csrf_token_for(client)}
    if next is not None:
        data["next"] = next
    return client.post(_url_for(client, "auth.login"), data=data)


def _url_for(client: FlaskClient, endpoint: str, **values: Any) -> str:
    """``url_for`` for a test client's app, outside any request."""
    with client.application.test_request_context():
        return url_for(endpoint, **values)
