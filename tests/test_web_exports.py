"""Exports from the web app: the form, the file, who may export what, and the audit log."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from geojtai.io.auditlog import read_audit
from geojtai.io.exporters import FORMATS
from web import create_app, db
from web.auth import login_as
from web.exports import NO_LAYER, requested_filters

PASSWORDS = {"vera": "viewer password 1", "ed": "editor password 1"}
ROLE_OF = {"vera": "viewer", "ed": "editor"}


@pytest.fixture(scope="module")
def study_copy(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample town's study, copied: exports append to its audit log."""
    return Path(shutil.copytree(sample_study, tmp_path_factory.mktemp("exports") / "sample"))


@pytest.fixture(scope="module")
def app(study_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")  # fast hashing in tests
        for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_DISCLOSURE_THRESHOLD"):
            mp.delenv(name, raising=False)
        database = tmp_path_factory.mktemp("exports-db") / "exports.sqlite"
        app = create_app(
            {"TESTING": True, "STUDY_DIR": str(study_copy), "DATABASE_URL": str(database),
             "SECRET_KEY": "exports test"}
        )  # fmt: skip
        with app.extensions[db.DB_KEY].sessions.begin() as s:
            for name, password in PASSWORDS.items():
                db.add_user(s, name, password, role=ROLE_OF[name], by=db.CLI)
        yield app


@pytest.fixture(scope="module")
def viewer(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login_as(client, "vera", PASSWORDS["vera"]).status_code == 302
    return client


@pytest.fixture(scope="module")
def editor(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login_as(client, "ed", PASSWORDS["ed"]).status_code == 302
    return client


def audit_lines(study: Path) -> list[dict[str, Any]]:
    return read_audit(study)


def counts_of(body: bytes) -> list[float | None]:
    data = json.loads(body)
    assert data["type"] == "FeatureCollection"
    return [f["properties"]["count"] for f in data["features"]]


def message_of(text: str) -> str:
    """The error page's message, unescaped enough to compare."""
    found = re.search(r"<main class=\"message\">.*?<p>(.*?)</p>", text, re.S)
    assert found is not None, text[:500]
    return found.group(1).replace("&#39;", "'")


# -- reading the request -----------------------------------------------------------------------


def test_requested_filters_keeps_filters_and_turns_month_into_a_period() -> None:
    args = {"month": "2024-03", "category": "robbery", "cell": "89abc", "agency": "police"}
    assert requested_filters(args, strict=False) == {
        "category": "robbery",
        "from": "2024-03",
        "to": "2024-03",
    }
    # Strict (the file): anything but layer/format/profile/study is passed on, to be refused.
    strict = requested_filters(
        {**args, "layer": "counts", "study": "x", "format": "csv"}, strict=True
    )
    assert strict == {"category": "robbery", "cell": "89abc", "agency": "police",
                      "from": "2024-03", "to": "2024-03"}  # fmt: skip
    assert requested_filters({"from": " ", "to": ""}, strict=True) == {}


# -- the form ----------------------------------------------------------------------------------


def test_viewer_page_offers_publishable_exports_only(viewer: FlaskClient) -> None:
    response = viewer.get("/export")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="layer" value="counts" checked' in html
    assert 'value="incidents"' not in html and "internal only" not in html
    assert 'value="internal"' not in html
    assert '<input type="hidden" name="profile" value="publishable">' in html
    assert 'id="export-publishable"' in html and "Your exports are publishable" in html
    assert "rounded to the nearest 5" in html  # the rule, stated
    assert 'id="export-audit"' not in html  # the audit log is for editors and admins
    for fmt in FORMATS:
        assert f'<option value="{fmt}"' in html


def test_editor_page_offers_internal_profile_and_incidents(editor: FlaskClient) -> None:
    html = editor.get("/export").get_data(as_text=True)
    assert '<option value="internal">' in html
    assert '<option value="publishable" selected>' in html
    found = re.search(r'value="incidents">.*?</label>', html, re.S)
    assert found is not None and "internal only" in found.group(0)
    assert 'id="export-publishable"' not in html


def test_page_carries_the_maps_filters(viewer: FlaskClient) -> None:
    url = "/export?category=robbery&month=2023-03&agency=police&cell=89195ca198fffff"
    html = viewer.get(url).get_data(as_text=True)
    form = re.search(r'<form class="export-form".*?</form>', html, re.S)
    assert form is not None
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[0]))
    assert hidden == {"category": "robbery", "from": "2023-03", "to": "2023-03",
                      "profile": "publishable"}  # fmt: skip
    words = re.search(r'<span id="export-filters">(.*?)</span>', html)
    assert words is not None and words.group(1) == "2023-03 · robbery"


def test_page_refuses_a_bad_filter(viewer: FlaskClient) -> None:
    response = viewer.get("/export?category=nonsense")
    assert response.status_code == 400
    assert "robbery" in message_of(response.get_data(as_text=True))  # names the valid ones


def test_map_page_links_to_export_with_its_filters(viewer: FlaskClient) -> None:
    html = viewer.get("/?category=robbery").get_data(as_text=True)
    link = re.search(r'<a id="geojtai-export-link" href="([^"]+)">Export this view</a>', html)
    assert link is not None
    assert link.group(1).startswith("/export?") and "category=robbery" in link.group(1)


def test_editor_sees_the_latest_exports_newest_first(editor: FlaskClient, study_copy: Path) -> None:
    for fmt in ("geojson", "parquet"):
        assert editor.get(f"/export/file?layer=risk&format={fmt}").status_code == 200
    html = editor.get("/export").get_data(as_text=True)
    table = re.search(r'<table class="gap-table" id="export-audit">.*?</table>', html, re.S)
    assert table is not None
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>.*?</tr>", table.group(0), re.S)
    assert 2 <= len(rows) <= 10
    assert rows[0][1] == "ed (web)"
    newest = audit_lines(study_copy)[-1]
    assert newest["format"] == "parquet"
    assert "<td>parquet</td>" in table.group(0).split("</tr>")[1]  # the first row is newest


def test_no_layer_ticked_shows_the_form_again(viewer: FlaskClient, study_copy: Path) -> None:
    before = len(audit_lines(study_copy))
    response = viewer.get("/export/file?format=gpkg&category=robbery")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert NO_LAYER in html
    assert '<option value="gpkg" selected>' in html
    assert '<input type="hidden" name="category" value="robbery">' in html
    assert len(audit_lines(study_copy)) == before


# -- the file: what viewers may have -------------------------------------------------------


def test_viewer_counts_geojson_are_disclosure_controlled(viewer: FlaskClient) -> None:
    response = viewer.get("/export/file?layer=counts&format=geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"] == "attachment; filename=sample-counts.geojson"
    assert response.headers["Cache-Control"] == "no-store"
    counts = counts_of(response.data)
    assert counts and any(c is not None for c in counts)
    for count in counts:
        assert count is None or (count >= 10 and count % 5 == 0), count


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("layer=counts&format=geojson&profile=internal", "Internal exports"),
        ("layer=incidents&format=geojson", "incident locations"),
        ("layer=counts,incidents&format=gpkg", "incident locations"),
    ],
)
def test_viewer_cannot_export_internal_figures(
    viewer: FlaskClient, study_copy: Path, query: str, words: str
) -> None:
    before = len(audit_lines(study_copy))
    response = viewer.get(f"/export/file?{query}")
    assert response.status_code == 403
    assert "Content-Disposition" not in response.headers
    message = message_of(response.get_data(as_text=True))
    assert words in message and "vera (viewer)" in message
    assert len(audit_lines(study_copy)) == before


# -- the file: editors --------------------------------------------------------------------


def test_editor_gets_a_geopackage(editor: FlaskClient, tmp_path: Path) -> None:
    response = editor.get("/export/file?layer=counts&layer=parks&format=gpkg&profile=internal")
    assert response.status_code == 200
    assert response.mimetype == "application/geopackage+sqlite3"
    assert response.headers["Content-Disposition"] == "attachment; filename=sample-layers.gpkg"
    path = tmp_path / "export.gpkg"
    path.write_bytes(response.data)
    assert {str(name) for name, _ in pyogrio.list_layers(path)} >= {"counts", "parks"}


def test_editor_gets_an_internal_csv_zipped_with_its_metadata(
    editor: FlaskClient, study_copy: Path
) -> None:
    response = editor.get("/export/file?layer=counts&format=csv&profile=internal")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment; filename=sample-counts.csv.zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert sorted(archive.namelist()) == [
            "sample-counts.csv",
            "sample-counts.csv-metadata.json",
        ]
        csv = archive.read("sample-counts.csv")
        metadata = json.loads(archive.read("sample-counts.csv-metadata.json"))
    assert csv.startswith(b"h3,")
    assert metadata["geojtai"]["profile"] == "internal"
    assert metadata["geojtai"]["marking"] == "OFFICIAL-SENSITIVE"
    sha = hashlib.sha256(csv).hexdigest()
    assert response.headers["X-Geojtai-Sha256"] == sha
    assert audit_lines(study_copy)[-1]["sha256"] == sha


def test_editors_publishable_export_is_controlled(editor: FlaskClient) -> None:
    response = editor.get("/export/file?layer=counts&format=geojson&profile=publishable")
    assert response.status_code == 200
    assert all(c is None or (c >= 10 and c % 5 == 0) for c in counts_of(response.data))


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("layer=counts&format=xls", ["'xls'", *FORMATS]),
        ("layer=nowhere&format=geojson", ["no layer 'nowhere'", "counts"]),
        ("layer=counts&format=geojson&colour=red", ["Unknown filter colour", "category"]),
        ("layer=counts&format=geojson&category=nonsense", ["'nonsense'", "robbery"]),
        ("layer=counts&layer=risk&format=geojson", ["holds one layer"]),
        ("layer=counts&format=geojson&profile=secret", ["'secret'", "publishable, internal"]),
        ("layer=incidents&format=geojson&profile=publishable", ["never published"]),
    ],
)
def test_bad_requests_are_refused_with_the_valid_choices(
    editor: FlaskClient, study_copy: Path, query: str, words: list[str]
) -> None:
    before = len(audit_lines(study_copy))
    response = editor.get(f"/export/file?{query}")
    assert response.status_code == 400
    message = message_of(response.get_data(as_text=True))
    for word in words:
        assert word in message, (word, message)
    assert len(audit_lines(study_copy)) == before


def test_filters_apply_and_are_audited(editor: FlaskClient, study_copy: Path) -> None:
    base = "/export/file?layer=counts&format=geojson&profile=internal"
    everything = sum(c or 0 for c in counts_of(editor.get(base).data))
    robbery = sum(c or 0 for c in counts_of(editor.get(f"{base}&category=robbery").data))
    assert 0 < robbery < everything
    entry = audit_lines(study_copy)[-1]
    assert entry["filters"] == {"category": "robbery"}
    one_month = editor.get(f"{base}&month=2023-03")
    assert one_month.status_code == 200
    assert audit_lines(study_copy)[-1]["filters"] == {"from": "2023-03", "to": "2023-03"}


# -- the audit log ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "query", "packed"),
    [
        ("viewer", "layer=counts&format=geojson&category=robbery", False),
        ("editor", "layer=counts,risk&format=gpkg&profile=internal", False),
        ("editor", "layer=cells&format=csv", True),
    ],
)
def test_each_download_appends_one_audit_line(
    request: pytest.FixtureRequest, study_copy: Path, who: str, query: str, packed: bool
) -> None:
    client: FlaskClient = request.getfixturevalue(who)
    before = audit_lines(study_copy)
    response = client.get(f"/export/file?{query}")
    assert response.status_code == 200
    after = audit_lines(study_copy)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    entry = after[-1]
    name = "vera" if who == "viewer" else "ed"
    assert (entry["via"], entry["who"], entry["role"]) == ("web", name, who)
    body = response.data
    if packed:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            body = archive.read(entry["file"])
    assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert response.headers["X-Geojtai-Sha256"] == entry["sha256"]


def test_no_file_when_the_audit_log_cannot_be_written(
    editor: FlaskClient, study_copy: Path
) -> None:
    log = study_copy / "audit.jsonl"
    kept = log.rename(study_copy / "audit.kept") if log.exists() else None
    log.mkdir()  # the log cannot be appended to
    try:
        response = editor.get("/export/file?layer=counts&format=geojson")
        pack = editor.get("/export/report.html")
    finally:
        log.rmdir()
        if kept is not None:
            kept.rename(log)
    for answer in (response, pack):
        assert answer.status_code == 500
        assert "Content-Disposition" not in answer.headers
        assert "cannot append to the study's audit log" in message_of(answer.get_data(as_text=True))


def test_evidence_pack_for_viewers_is_publishable_and_audited(
    viewer: FlaskClient, study_copy: Path
) -> None:
    page = viewer.get("/export").get_data(as_text=True)
    assert "/export/report.pdf" in page and "profile=internal" not in page
    response = viewer.get("/export/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) >= 8 and "OFFICIAL" in reader.pages[0].extract_text()
    entry = audit_lines(study_copy)[-1]
    assert (entry["action"], entry["via"], entry["who"], entry["profile"]) == (
        "report", "web", "vera", "publishable",
    )  # fmt: skip
    assert entry["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert viewer.get("/export/report.pdf?profile=internal").status_code == 403
    assert viewer.get("/export/report.docx").status_code == 404


def test_editor_may_have_the_internal_pack(editor: FlaskClient) -> None:
    assert "/export/report.html?profile=internal" in editor.get("/export").get_data(as_text=True)
    response = editor.get("/export/report.html?profile=internal")
    assert response.status_code == 200 and "OFFICIAL-SENSITIVE" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/export", "/export/file?layer=counts&format=geojson"])
def test_post_is_not_allowed(editor: FlaskClient, url: str) -> None:
    assert editor.post(url).status_code == 405


def test_signed_out_visitors_are_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get("/export/file?layer=counts&format=geojson")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_overview_across_two_areas(
    study_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
    other = Path(shutil.copytree(study_copy, tmp_path / "other"))
    studies = {"town": str(study_copy), "other": str(other)}
    app = create_app(
        {"TESTING": True, "STUDIES": studies, "DATABASE_URL": str(tmp_path / "two.sqlite"),
         "SECRET_KEY": "overview test"}
    )  # fmt: skip
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        db.add_user(s, "vera", PASSWORDS["vera"], role="viewer", by=db.CLI)
    client = app.test_client()
    assert login_as(client, "vera", PASSWORDS["vera"]).status_code == 302
    assert "/export/overview.pdf" in client.get("/export?study=town").get_data(as_text=True)
    response = client.get("/export/overview.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "Overview across areas" in text
    for folder in (study_copy, other):
        entry = audit_lines(folder)[-1]
        assert (entry["action"], entry["via"], entry["who"]) == ("overview", "web", "vera")
        assert entry["sha256"] == hashlib.sha256(response.data).hexdigest()
    assert client.get("/export/overview.pdf?profile=internal").status_code == 403
    app.extensions[db.DB_KEY].dispose()
