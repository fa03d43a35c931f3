"""The app's database: user accounts, the interventions register and the audit log.

SQLAlchemy 2.0 (declarative, typed) over any database it speaks; SQLite by default, a file
``geojtai.sqlite`` in the app's instance folder. ``DATABASE_URL`` (environment variable
``GEOJTAI_DATABASE_URL``) takes a URL (``postgresql://user@host/geojtai``) or a plain file
path, which means a SQLite file. No SQL here is SQLite-only.

Each app gets one engine and one session factory, in ``app.extensions[DB_KEY]``
(:func:`init_app`). A view uses the request's session, :func:`request_session`, and commits
itself; the session is closed (and anything uncommitted rolled back) when the request ends.

The functions below are the repository layer: each takes a :class:`~sqlalchemy.orm.Session`,
flushes but never commits (the caller owns the transaction), and every change to an account
writes an :class:`AuditEntry` in the same transaction. Bad input raises
:class:`~geojtai.errors.AccountError` naming every problem at once.

Examples
--------
>>> database = connect("sqlite://")  # in memory
>>> with database.sessions.begin() as session:
...     user = add_user(session, "alice", "correct horse battery", role="editor", by=CLI)
>>> with database.sessions() as session:
...     check_password(session, "alice", "correct horse battery").role
'editor'
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import CheckConstraint, Index, String, Text, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from werkzeug.security import check_password_hash, generate_password_hash

from geojtai.errors import AccountError, DatabaseError

__all__ = [
    "CLI",
    "DB_KEY",
    "MAX_NAME_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "Actor",
    "AuditEntry",
    "Base",
    "Database",
    "Intervention",
    "User",
    "add_user",
    "check_new_user",
    "check_password",
    "connect",
    "current_database",
    "database_url",
    "get_user",
    "init_app",
    "instance_database_url",
    "list_users",
    "record_audit",
    "remove_user",
    "request_session",
    "safe_url",
    "set_active",
    "set_password",
    "set_role",
    "utcnow",
]

DB_KEY = "geojtai.db"
ROLES: tuple[str, ...] = ("viewer", "editor", "admin")
"""The roles, least to most trusted; each has the rights of those before it."""
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing is deliberately slow: cap what a form can make it hash
MAX_NAME_LENGTH = 64
PASSWORD_METHOD = "scrypt"  # werkzeug's default parameters (N=2**15, r=8, p=1)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_SESSION_G = "geojtai_db_session"


def utcnow() -> dt.datetime:
    """Now, timezone-aware in UTC (what every timestamp column stores)."""
    return dt.datetime.now(dt.UTC)


class _UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"timestamps must be timezone-aware; {value!r} was given"
            raise ValueError(msg)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# -- the tables ---------------------------------------------------------------------------


class Base(DeclarativeBase):
    """The declarative base of geojtai's tables (``Base.metadata`` holds them all)."""

    type_annotation_map = {dt.datetime: _UTCDateTime()}


class User(Base):
    """A person who signs in: a ``viewer`` (inspector), ``editor`` (partnership) or ``admin``."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="ck_users_role"),
        CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_NAME_LENGTH}", name="ck_users_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"User(name={self.name!r}, role={self.role!r}, active={self.active!r})"


class Intervention(Base):
    """One entry of a study's interventions register, in :data:`INTERVENTION_COLUMNS` terms.

    The key is ``(study, id)``: ``id`` is the register's own, user-visible id
    (``INT-01``), unique within a study (a slug such as ``sampletown``), so several study
    areas share one database. Lists (``partner_agencies``, ``days``, ``place_types``) are
    ``";"``-joined as in the interventions file; ``geometry_geojson`` is a GeoJSON geometry in
    EPSG:4326. ``end`` is ``None`` while the work is ongoing. ``status`` is ``"active"`` or
    ``"closed"``, and ``closed_at`` is set exactly when it is closed. ``version`` counts
    updates: an update made from a stale copy raises
    :class:`sqlalchemy.orm.exc.StaleDataError` instead of overwriting a colleague's edit.
    """

    __tablename__ = "interventions"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'closed')", name="ck_interventions_status"),
        CheckConstraint(
            "(status = 'active' AND closed_at IS NULL) "
            "OR (status = 'closed' AND closed_at IS NOT NULL)",
            name="ck_interventions_closed",
        ),
        CheckConstraint('"end" IS NULL OR "end" >= start', name="ck_interventions_dates"),
        CheckConstraint("radius_m IS NULL OR radius_m >= 0", name="ck_interventions_radius"),
        CheckConstraint("length(id) BETWEEN 1 AND 64", name="ck_interventions_id"),
        CheckConstraint("length(study) BETWEEN 1 AND 64", name="ck_interventions_study"),
        CheckConstraint("length(geometry_geojson) > 0", name="ck_interventions_geometry"),
        Index("ix_interventions_study_status", "study", "status"),
    )

    study: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(200))
    lead_agency: Mapped[str | None] = mapped_column(String(200))
    partner_agencies: Mapped[str | None] = mapped_column(Text)
    radius_m: Mapped[float | None]
    start: Mapped[dt.date]
    end: Mapped[dt.date | None]
    days: Mapped[str | None] = mapped_column(String(200))
    hours: Mapped[str | None] = mapped_column(String(200))
    place_types: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[float | None]
    hours_per_week: Mapped[float | None]
    notes: Mapped[str | None] = mapped_column(Text)
    geometry_geojson: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    updated_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    closed_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"Intervention(study={self.study!r}, id={self.id!r}, status={self.status!r})"


class AuditEntry(Base):
    """One change to the register or to an account: append-only (updates and deletes raise).

    ``who`` and ``role`` are the actor's at the time (names, not keys: the log outlives
    accounts); ``detail`` is a JSON object and never holds a password.
    """

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_object", "study", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    who: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH + 16))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    study: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH))
    detail: Mapped[str] = mapped_column(Text, default="{}")

    @property
    def details(self) -> dict[str, Any]:
        """``detail`` parsed."""
        parsed: dict[str, Any] = json.loads(self.detail)
        return parsed


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _audit_is_append_only(mapper: Any, connection: Any, target: AuditEntry) -> None:
    msg = "The audit log is append-only: its entries cannot be changed or deleted."
    raise DatabaseError(msg)


# -- connecting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """An engine and its session factory (``sessions()`` opens a session)."""

    engine: Engine
    sessions: sessionmaker[Session]

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()


def database_url(value: str | PathLike[str]) -> str:
    """A database URL as given, or a plain file path as a SQLite URL.

    Examples
    --------
    >>> database_url("postgresql://geojtai@db/geojtai")
    'postgresql://geojtai@db/geojtai'
    >>> database_url("/srv/geojtai/app.sqlite")
    'sqlite:////srv/geojtai/app.sqlite'
    """
    text = str(value)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def safe_url(url: str) -> str:
    """The URL with any password hidden, to print or log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def connect(url: str | PathLike[str], *, create: bool = True) -> Database:
    """Open a database (a URL or a SQLite file path) and, with ``create``, make its tables.

    SQLite connections get ``foreign_keys=ON`` and the WAL journal (readers never wait for
    the writer). ``sqlite://`` (in memory) keeps one shared connection: for tests.

    Raises
    ------
    DatabaseError
        The URL cannot be parsed, the SQLite file's folder does not exist, its driver is not
        installed or the database cannot be reached (the message names it, without password).
    """
    url = database_url(url)
    try:
        parsed = make_url(url)
        engine = sa.create_engine(parsed, **_engine_options(parsed))
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if create:
            Base.metadata.create_all(engine)
    except ImportError as exc:  # the URL's driver (psycopg for postgresql://) is missing
        msg = f"cannot open the database {safe_url(url)}: its driver is not installed ({exc})"
        raise DatabaseError(msg) from exc
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise DatabaseError(f"cannot open the database {safe_url(url)}: {_reason(exc)}") from exc
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _engine_options(url: sa.URL) -> dict[str, Any]:
    if url.get_backend_name() != "sqlite":
        return {"pool_pre_ping": True}  # a server may drop idle connections
    if url.database in (None, "", ":memory:"):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    folder = Path(url.database).parent
    if not folder.is_dir():
        msg = f"the folder {folder} does not exist; create it or choose another database"
        raise FileNotFoundError(msg)
    return {}


def _reason(exc: BaseException) -> str:
    """The driver's own words when there are some (no SQL, no background link)."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


# -- the app's database -------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Connect the app to ``DATABASE_URL`` (default: ``geojtai.sqlite`` in its instance
    folder), make the tables, and close each request's session when the request ends.

    Raises
    ------
    DatabaseError
        The database cannot be opened.
    """
    url = app.config.get("DATABASE_URL") or _instance_url(app.instance_path)
    app.config["DATABASE_URL"] = database_url(url)
    app.extensions[DB_KEY] = connect(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_request_session)


def instance_database_url() -> str:
    """The database the web app would use, configured as the app configures it
    (``GEOJTAI_DATABASE_URL``, else ``DATABASE_URL`` in the instance ``config.py``, else the
    instance folder's ``geojtai.sqlite``): for the command line."""
    app = Flask("web", instance_relative_config=True)
    app.config["DATABASE_URL"] = None
    app.config.from_prefixed_env("GEOJTAI")
    app.config.from_pyfile("config.py", silent=True)
    return database_url(app.config["DATABASE_URL"] or _instance_url(app.instance_path))


def _instance_url(instance_path: str) -> str:
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return database_url(Path(instance_path) / "geojtai.sqlite")


def current_database() -> Database:
    """The current app's :class:`Database`."""
    database: Database = current_app.extensions[DB_KEY]
    return database


def request_session() -> Session:
    """The session of this request (made on first use, closed when the request ends).

    Commit what you change; anything uncommitted is rolled back at the end of the request.
    """
    if _SESSION_G not in g:
        setattr(g, _SESSION_G, current_database().sessions())
    session: Session = getattr(g, _SESSION_G)
    return session


def _close_request_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop(_SESSION_G, None)
    if session is not None:
        session.close()


# -- accounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log records it: a user's name and role, or the
    command line (``cli:<login>``, no role)."""

    name: str
    role: str | None = None


CLI = Actor("cli")
"""The command line, when the login name is not wanted or not known."""


def record_audit(
    session: Session,
    action: str,
    *,
    by: Actor,
    study: str | None = None,
    object_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to the audit log (``action`` such as ``"user.add"`` or
    ``"intervention.close"``); ``detail`` must be JSON-able and hold no secret."""
    entry = AuditEntry(
        who=by.name,
        role=by.role,
        action=action,
        study=study,
        object_id=object_id,
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
    )
    session.add(entry)
    session.flush()
    return entry


def get_user(session: Session, name: str) -> User | None:
    """The user called exactly ``name``, or ``None``."""
    return session.scalar(sa.select(User).where(User.name == name))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(sa.select(User).order_by(User.name)))


def add_user(session: Session, name: str, password: str, *, role: str, by: Actor) -> User:
    """Create an account with a hashed password.

    Raises
    ------
    AccountError
        Every problem at once: a name that is empty, too long, has unusual characters or
        is taken; an unknown role; a password shorter than :data:`MIN_PASSWORD_LENGTH`.
    """
    _raise([*_new_user_problems(session, name, role), *_password_problems(password)])
    user = User(name=name, password_hash=_hash(password), role=role)
    session.add(user)
    session.flush()
    record_audit(session, "user.add", by=by, object_id=name, detail={"role": role})
    return user


def check_new_user(session: Session, name: str, *, role: str) -> None:
    """Check a name and role for a new account before asking for its password.

    Raises
    ------
    AccountError
        The name is unusable or taken, or the role unknown (every problem at once).
    """
    _raise(_new_user_problems(session, name, role))


def _new_user_problems(session: Session, name: str, role: str) -> list[str]:
    problems = [*_name_problems(name), *_role_problems(role)]
    if not problems and get_user(session, name) is not None:
        problems.append(f"a user named {name!r} already exists")
    return problems


def set_role(session: Session, name: str, role: str, *, by: Actor) -> User:
    """Give a user another role (the last active admin keeps theirs).

    Raises
    ------
    AccountError
        No such user, unknown role, or the change would leave no active admin.
    """
    _raise(_role_problems(role))
    user = _existing(session, name)
    if role != "admin":
        _keep_an_admin(session, user)
    old, user.role = user.role, role
    record_audit(session, "user.set_role", by=by, object_id=name, detail={"from": old, "to": role})
    return user


def set_password(session: Session, name: str, password: str, *, by: Actor) -> User:
    """Replace a user's password (which also signs them out everywhere).

    Raises
    ------
    AccountError
        No such user, or the password is too short.
    """
    _raise(_password_problems(password))
    user = _existing(session, name)
    user.password_hash = _hash(password)
    record_audit(session, "user.set_password", by=by, object_id=name)
    return user


def set_active(session: Session, name: str, active: bool, *, by: Actor) -> User:
    """Deactivate (no sign-in, signed out at once) or reactivate an account.

    Raises
    ------
    AccountError
        No such user, or it would leave no active admin.
    """
    user = _existing(session, name)
    if not active:
        _keep_an_admin(session, user)
    user.active = active
    action = "user.activate" if active else "user.deactivate"
    record_audit(session, action, by=by, object_id=name)
    return user


def remove_user(session: Session, name: str, *, by: Actor) -> None:
    """Delete an account (the audit log keeps its name).

    Raises
    ------
    AccountError
        No such user, or it is the last active admin.
    """
    user = _existing(session, name)
    _keep_an_admin(session, user)
    session.delete(user)
    record_audit(session, "user.remove", by=by, object_id=name, detail={"role": user.role})


def check_password(session: Session, name: str, password: str) -> User | None:
    """The active user ``name`` if ``password`` is theirs, else ``None``.

    Takes as long whether or not the name exists (a dummy hash is checked for unknown
    names), so the answer's timing does not say which names are accounts.
    """
    user = get_user(session, name)
    if user is None:
        check_password_hash(_dummy_hash(PASSWORD_METHOD), password)
        return None
    matches = check_password_hash(user.password_hash, password)
    return user if matches and user.active else None


def _hash(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def _existing(session: Session, name: str) -> User:
    user = get_user(session, name)
    if user is None:
        raise AccountError(f"no user named {name!r}")
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to demote, deactivate or remove the last active admin."""
    if user.role != "admin" or not user.active:
        return
    admins = session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.role == "admin", User.active)
    )
    if (admins or 0) <= 1:
        msg = f"{user.name!r} is the only active admin; make another admin first"
        raise AccountError(msg)


def _name_problems(name: str) -> list[str]:
    if not name:
        return ["the name is empty"]
    if len(name) > MAX_NAME_LENGTH:
        return [f"the name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"]
    if not _NAME.fullmatch(name):
        return [
            f"the name {name!r} must start with a letter or digit and have only letters, "
            "digits and . _ @ -"
        ]
    return []


def _role_problems(role: str) -> list[str]:
    if role in ROLES:
        return []
    return [f"the role was {role!r} but is expected to be one of: {', '.join(ROLES)}"]


def _password_problems(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words make a good one)"
        ]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"the password is longer than {MAX_PASSWORD_LENGTH} characters"]
    return []


def _raise(problems: list[str]) -> None:
    if problems:
        raise AccountError("; ".join(problems), problems)
