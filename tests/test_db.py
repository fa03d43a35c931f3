"""The app's database: connecting, the tables' rules, accounts, the audit log, ``geojtai users``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.security import check_password_hash

from geojtai.cli import main
from geojtai.errors import AccountError, DatabaseError
from web import db
from web.db import Actor, AuditEntry, Database, Intervention, User

PASSWORD = "correct horse battery"
ADMIN = Actor("ada", "admin")
FAST_SCRYPT = "scrypt:1024:8:1"  # the real parameters take ~0.1 s a hash; tests make hundreds


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PASSWORD_METHOD", FAST_SCRYPT)
    for name in ("GEOJTAI_DATABASE_URL", "GEOJTAI_LOGIN_REQUIRED", "GEOJTAI_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    opened = db.connect(tmp_path / "test.sqlite")
    yield opened
    opened.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.sessions() as s:
        yield s


def audit_rows(session: Session) -> list[tuple[str, str | None, str, str | None, dict[str, Any]]]:
    entries = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
    return [(e.who, e.role, e.action, e.object_id, e.details) for e in entries]


def intervention(**changes: Any) -> Intervention:
    values: dict[str, Any] = {
        "study": "sampletown",
        "id": "INT-01",
        "name": "Victoria Park detached youth work",
        "type": "detached youth work",
        "lead_agency": "voluntary sector",
        "partner_agencies": "council;youth justice",
        "start": dt.date(2024, 1, 1),
        "geometry_geojson": '{"type": "Point", "coordinates": [-1.41, 52.51]}',
        "created_by": "ed",
    }
    return Intervention(**{**values, **changes})


# -- connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://geojtai@db.example/geojtai", "postgresql://geojtai@db.example/geojtai"),
        ("sqlite://", "sqlite://"),
        ("/srv/geojtai/app.sqlite", "sqlite:////srv/geojtai/app.sqlite"),
    ],
)
def test_database_url(given: str, expected: str) -> None:
    assert db.database_url(given) == expected


def test_relative_path_becomes_an_absolute_sqlite_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert db.database_url("app.sqlite") == f"sqlite:///{tmp_path.resolve() / 'app.sqlite'}"


def test_safe_url_hides_the_password() -> None:
    shown = db.safe_url("postgresql://geojtai:hunter22@db.example/geojtai")
    assert "hunter22" not in shown and "db.example/geojtai" in shown


def test_connect_makes_the_tables_with_sqlite_pragmas(database: Database) -> None:
    assert set(sa.inspect(database.engine).get_table_names()) == {"users", "interventions", "audit"}
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_connect_twice_keeps_the_data(tmp_path: Path) -> None:
    first = db.connect(tmp_path / "again.sqlite")
    with first.sessions.begin() as s:
        db.add_user(s, "ada", PASSWORD, role="admin", by=db.CLI)
    first.dispose()
    second = db.connect(str(tmp_path / "again.sqlite"))
    with second.sessions() as s:
        assert [u.name for u in db.list_users(s)] == ["ada"]
    second.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/no/such/folder/app.sqlite", "the folder /no/such/folder does not exist"),
        ("nonsense://host/db", "cannot open the database nonsense://host/db"),
    ],
)
def test_unusable_database_says_why(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        db.connect(url)


def test_init_app_defaults_to_the_instance_folder(tmp_path: Path) -> None:
    app = Flask("probe", instance_path=str(tmp_path / "instance"))
    db.init_app(app)
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'geojtai.sqlite'}"
    assert (tmp_path / "instance" / "geojtai.sqlite").is_file()
    app.extensions[db.DB_KEY].dispose()


def test_request_session_is_one_per_request_and_closed_after(tmp_path: Path) -> None:
    app = Flask("probe")
    app.config["DATABASE_URL"] = str(tmp_path / "app.sqlite")
    db.init_app(app)
    with app.test_request_context():
        first = db.request_session()
        assert db.request_session() is first
        db.add_user(first, "ada", PASSWORD, role="admin", by=ADMIN)  # never committed
    with app.test_request_context():
        assert db.request_session() is not first
        assert db.list_users(db.request_session()) == []  # rolled back when the request ended
    app.extensions[db.DB_KEY].dispose()


def test_instance_database_url_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOJTAI_DATABASE_URL", str(tmp_path / "env.sqlite"))
    assert db.instance_database_url() == f"sqlite:///{tmp_path / 'env.sqlite'}"


# -- accounts --------------------------------------------------------------------------------


def test_add_user_stores_a_hash(session: Session) -> None:
    user = db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    session.commit()
    assert user.password_hash != PASSWORD and PASSWORD not in user.password_hash
    assert user.password_hash.startswith("scrypt:")
    assert check_password_hash(user.password_hash, PASSWORD)
    assert user.active and user.last_login_at is None
    assert user.created_at.tzinfo is not None
    assert abs(user.created_at - db.utcnow()) < dt.timedelta(minutes=1)


def test_passwords_are_hashed_with_scrypt_at_full_strength(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real parameters, not the fast ones of these tests
    assert db._hash(PASSWORD).startswith("scrypt:32768:8:1$")


def test_add_user_names_every_problem_at_once(session: Session) -> None:
    with pytest.raises(AccountError) as caught:
        db.add_user(session, "", "short", role="boss", by=db.CLI)
    problems = caught.value.problems
    assert len(problems) == 3
    assert "the name is empty" in problems
    assert any("'boss'" in p and "viewer, editor, admin" in p for p in problems)
    assert any("at least 10" in p for p in problems)
    assert db.list_users(session) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 65, "at most 64"),
        (" ada", "must start with a letter or digit"),
        ("ada lovelace", "only letters, digits"),
        ("-ada", "must start with a letter or digit"),
        ("ada<script>", "only letters, digits"),
    ],
)
def test_bad_names_are_refused(session: Session, name: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        db.add_user(session, name, PASSWORD, role="viewer", by=db.CLI)


@pytest.mark.parametrize("name", ["a", "ada.lovelace@council.example", "A_9-x", "z" * 64])
def test_good_names_are_accepted(session: Session, name: str) -> None:
    assert db.add_user(session, name, PASSWORD, role="viewer", by=db.CLI).name == name


def test_duplicate_name_is_refused(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    with pytest.raises(AccountError, match="a user named 'ada' already exists"):
        db.add_user(session, "ada", PASSWORD + "!", role="viewer", by=db.CLI)


def test_password_length_limits(session: Session) -> None:
    db.add_user(session, "ten", "x" * 10, role="viewer", by=db.CLI)
    with pytest.raises(AccountError, match="has 9 characters; use at least 10"):
        db.add_user(session, "nine", "x" * 9, role="viewer", by=db.CLI)
    with pytest.raises(AccountError, match="longer than 1024"):
        db.add_user(session, "huge", "x" * 1025, role="viewer", by=db.CLI)


def test_check_password(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    user = db.check_password(session, "ada", PASSWORD)
    assert user is not None and user.name == "ada"
    assert db.check_password(session, "ada", PASSWORD.upper()) is None
    assert db.check_password(session, "Ada", PASSWORD) is None  # names are exact
    assert db.check_password(session, "nobody", PASSWORD) is None


def test_unknown_name_still_checks_a_hash(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So the time taken does not tell which names are accounts."""
    checked: list[str] = []
    real = db.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(db, "check_password_hash", counting)
    assert db.check_password(session, "nobody", PASSWORD) is None
    assert len(checked) == 1 and checked[0].startswith(FAST_SCRYPT)


def test_inactive_user_cannot_sign_in(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    db.add_user(session, "vera", PASSWORD, role="viewer", by=db.CLI)
    db.set_active(session, "vera", False, by=ADMIN)
    assert db.check_password(session, "vera", PASSWORD) is None
    db.set_active(session, "vera", True, by=ADMIN)
    assert db.check_password(session, "vera", PASSWORD) is not None


def test_changes_are_audited(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    db.add_user(session, "ed", PASSWORD, role="viewer", by=ADMIN)
    db.set_role(session, "ed", "editor", by=ADMIN)
    db.set_password(session, "ed", "another long password", by=ADMIN)
    db.set_active(session, "ed", False, by=ADMIN)
    db.set_active(session, "ed", True, by=ADMIN)
    db.remove_user(session, "ed", by=ADMIN)
    session.commit()
    assert audit_rows(session) == [
        ("cli", None, "user.add", "ada", {"role": "admin"}),
        ("ada", "admin", "user.add", "ed", {"role": "viewer"}),
        ("ada", "admin", "user.set_role", "ed", {"from": "viewer", "to": "editor"}),
        ("ada", "admin", "user.set_password", "ed", {}),
        ("ada", "admin", "user.deactivate", "ed", {}),
        ("ada", "admin", "user.activate", "ed", {}),
        ("ada", "admin", "user.remove", "ed", {"role": "editor"}),
    ]
    assert db.get_user(session, "ed") is None
    details = session.scalars(sa.select(AuditEntry.detail)).all()
    assert not any(PASSWORD in d or "another long" in d for d in details)


def test_set_password_replaces_the_hash(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    db.set_password(session, "ada", "another long password", by=db.CLI)
    assert db.check_password(session, "ada", PASSWORD) is None
    assert db.check_password(session, "ada", "another long password") is not None
    with pytest.raises(AccountError, match="at least 10"):
        db.set_password(session, "ada", "short", by=db.CLI)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: db.set_role(s, "nobody", "viewer", by=ADMIN),
        lambda s: db.set_password(s, "nobody", PASSWORD, by=ADMIN),
        lambda s: db.set_active(s, "nobody", False, by=ADMIN),
        lambda s: db.remove_user(s, "nobody", by=ADMIN),
    ],
)
def test_unknown_user_is_named(session: Session, change: Any) -> None:
    with pytest.raises(AccountError, match="no user named 'nobody'"):
        change(session)


def test_unknown_role_is_refused(session: Session) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    with pytest.raises(AccountError, match="'superuser' but is expected to be one of"):
        db.set_role(session, "ada", "superuser", by=ADMIN)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: db.set_role(s, "ada", "editor", by=ADMIN),
        lambda s: db.set_active(s, "ada", False, by=ADMIN),
        lambda s: db.remove_user(s, "ada", by=ADMIN),
    ],
)
def test_the_last_active_admin_stays(session: Session, change: Any) -> None:
    db.add_user(session, "ada", PASSWORD, role="admin", by=db.CLI)
    db.add_user(session, "alan", PASSWORD, role="admin", by=db.CLI)
    db.set_active(session, "alan", False, by=ADMIN)  # an inactive admin does not count
    with pytest.raises(AccountError, match="'ada' is the only active admin"):
        change(session)
    db.set_active(session, "alan", True, by=ADMIN)
    change(session)  # with another active admin, it is allowed


def test_roles_are_checked_by_the_database_too(session: Session) -> None:
    session.add(User(name="eve", password_hash="x", role="root"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_timestamps_come_back_in_utc(database: Database) -> None:
    moment = dt.datetime(2024, 3, 5, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with database.sessions.begin() as s:
        user = db.add_user(s, "ada", PASSWORD, role="admin", by=db.CLI)
        user.last_login_at = moment
    with database.sessions() as s:
        stored = db.get_user(s, "ada")
        assert stored is not None and stored.last_login_at is not None
        assert stored.last_login_at == moment
        assert stored.last_login_at.utcoffset() == dt.timedelta(0)
    with database.sessions() as s, pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        s.add(User(name="naive", password_hash="x", role="viewer", created_at=dt.datetime.now()))
        s.flush()


# -- the audit log ---------------------------------------------------------------------------


def test_record_audit(session: Session) -> None:
    entry = db.record_audit(
        session,
        "intervention.close",
        by=Actor("ed", "editor"),
        study="sampletown",
        object_id="INT-03",
        detail={"end": dt.date(2025, 3, 31), "reason": "funding ended"},
    )
    session.commit()
    assert entry.details == {"end": "2025-03-31", "reason": "funding ended"}
    assert json.loads(entry.detail) == entry.details
    assert entry.at.tzinfo is not None
    assert audit_rows(session)[0][:4] == ("ed", "editor", "intervention.close", "INT-03")


def test_audit_is_append_only(session: Session) -> None:
    entry = db.record_audit(session, "user.add", by=ADMIN, object_id="ed")
    session.commit()
    entry.detail = '{"forged": true}'
    with pytest.raises(DatabaseError, match="append-only"):
        session.flush()
    session.rollback()
    session.delete(entry)
    with pytest.raises(DatabaseError, match="append-only"):
        session.flush()


# -- the interventions register --------------------------------------------------------------


def test_intervention_round_trip(session: Session) -> None:
    session.add(intervention(end=None, radius_m=None, cost=44500.0))
    session.commit()
    stored = session.get(Intervention, ("sampletown", "INT-01"))
    assert stored is not None
    assert stored.status == "active" and stored.end is None and stored.version == 1
    assert stored.created_at.tzinfo is not None
    assert json.loads(stored.geometry_geojson)["type"] == "Point"


def test_intervention_ids_are_per_study(session: Session) -> None:
    session.add_all([intervention(), intervention(study="othertown")])
    session.commit()
    session.add(intervention(name="again"))
    with pytest.raises(IntegrityError):
        session.flush()


@pytest.mark.parametrize(
    "changes",
    [
        {"end": dt.date(2023, 12, 31)},  # before the start
        {"status": "deleted"},
        {"status": "closed"},  # closed without saying when
        {"closed_at": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)},  # when, but still active
        {"radius_m": -5.0},
        {"geometry_geojson": ""},
        {"id": ""},
    ],
)
def test_intervention_rules(session: Session, changes: dict[str, Any]) -> None:
    session.add(intervention(**changes))
    with pytest.raises(IntegrityError):
        session.flush()


def test_closing_an_intervention(session: Session) -> None:
    session.add(intervention())
    session.commit()
    row = session.get(Intervention, ("sampletown", "INT-01"))
    assert row is not None
    row.status, row.closed_at, row.closed_by = "closed", db.utcnow(), "ed"
    session.commit()
    assert row.version == 2


def test_stale_intervention_edit_is_refused(database: Database) -> None:
    with database.sessions.begin() as s:
        s.add(intervention())
    with database.sessions() as mine, database.sessions() as theirs:
        first = mine.get(Intervention, ("sampletown", "INT-01"))
        second = theirs.get(Intervention, ("sampletown", "INT-01"))
        assert first is not None and second is not None
        first.notes = "moved to Saturdays"
        mine.commit()
        second.notes = "moved to Sundays"
        with pytest.raises(StaleDataError):
            theirs.commit()


# -- the command line: geojtai users ---------------------------------------------------------


def users(db_path: Path, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, ["users", "--db", str(db_path), *args], input=input)


def stored_users(db_path: Path) -> dict[str, tuple[str, bool]]:
    opened = db.connect(db_path)
    with opened.sessions() as s:
        found = {u.name: (u.role, u.active) for u in db.list_users(s)}
    opened.dispose()
    return found


def test_cli_add_with_password_stdin(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    result = users(path, "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "added ada (admin)\n"
    opened = db.connect(path)
    with opened.sessions() as s:
        assert db.check_password(s, "ada", PASSWORD) is not None
        assert db.check_password(s, "ada", PASSWORD + "\n") is None  # the newline is not in it
        (who, role, action, object_id, detail) = audit_rows(s)[0]
    opened.dispose()
    assert who.startswith("cli") and role is None
    assert (action, object_id, detail) == ("user.add", "ada", {"role": "admin"})


def test_cli_add_asks_for_the_password_twice(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    result = users(path, "add", "ed", "--role", "editor", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden input
    assert stored_users(path) == {"ed": ("editor", True)}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "ada", "--role", "admin"], "x" * 12 + "\n", "a user named 'ada' already exists"),
        (["add", "ed", "--role", "editor"], "short\n", "use at least 10"),
        (["add", "ed", "--role", "boss"], PASSWORD + "\n", "one of: viewer, editor, admin"),
        (["add", "e d", "--role", "editor"], PASSWORD + "\n", "only letters, digits"),
        (["set-role", "ada", "viewer"], None, "'ada' is the only active admin"),
        (["set-role", "nobody", "viewer"], None, "no user named 'nobody'"),
        (["remove", "nobody"], None, "no user named 'nobody'"),
        (["set-password", "nobody"], None, "no user named 'nobody'"),
        (["set-password", "ada", "--password-stdin"], "short\n", "use at least 10"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], stdin: str | None, message: str
) -> None:
    path = tmp_path / "app.sqlite"
    users(path, "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    if "add" in args:
        args = [*args, "--password-stdin"]
    result = users(path, *args, input=stdin)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geojtai: error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert stored_users(path) == {"ada": ("admin", True)}


def test_cli_refuses_a_bad_name_before_asking_for_a_password(tmp_path: Path) -> None:
    result = users(tmp_path / "app.sqlite", "add", "ed", "--role", "boss")  # no input to read
    assert result.exit_code == 2
    assert "Password" not in result.output


def test_cli_list_set_role_set_password_remove(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    assert "no users yet" in users(path, "list").stdout
    for name, role in [("ada", "admin"), ("ed", "editor"), ("vera", "viewer")]:
        users(path, "add", name, "--role", role, "--password-stdin", input=PASSWORD + "\n")
    listed = users(path, "list").stdout.splitlines()
    assert listed[0].split() == ["name", "role", "status", "last", "sign-in"]
    assert [line.split()[:3] for line in listed[1:]] == [
        ["ada", "admin", "active"],
        ["ed", "editor", "active"],
        ["vera", "viewer", "active"],
    ]
    assert users(path, "set-role", "vera", "editor").stdout == "vera is now editor\n"
    changed = users(path, "set-password", "vera", "--password-stdin", input="a new long one\n")
    assert changed.exit_code == 0, changed.output
    assert users(path, "remove", "ed").stdout == "removed ed\n"
    assert stored_users(path) == {"ada": ("admin", True), "vera": ("editor", True)}
    opened = db.connect(path)
    with opened.sessions() as s:
        assert db.check_password(s, "vera", "a new long one") is not None
        actions = [row[2] for row in audit_rows(s)]
    opened.dispose()
    assert actions == ["user.add"] * 3 + ["user.set_role", "user.set_password", "user.remove"]


def test_cli_database_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.sqlite"
    monkeypatch.setenv("GEOJTAI_DATABASE_URL", f"sqlite:///{path}")
    result = CliRunner().invoke(
        main, ["users", "add", "ada", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert stored_users(path) == {"ada": ("admin", True)}


def test_cli_unusable_database_is_one_line(tmp_path: Path) -> None:
    result = users(tmp_path / "missing" / "app.sqlite", "list")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
