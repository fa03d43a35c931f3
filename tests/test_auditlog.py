"""Tests for geojtai.io.auditlog: the append-only export audit log."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from geojtai.errors import StudyError
from geojtai.io.auditlog import AUDIT_LOG, append_audit, read_audit


def test_entries_read_back_equal_and_in_order(tmp_path: Path) -> None:
    first = {"user": "ana", "role": "analyst", "layers": ["cells"], "rows": 12}
    second = {"user": "Zoë Ł", "note": "≥ 10 ✓ 日本", "filters": {"crime": "burglary"}}
    append_audit(tmp_path, first)
    append_audit(str(tmp_path), second)  # a str path works too
    assert read_audit(tmp_path) == [first, second]
    text = (tmp_path / AUDIT_LOG).read_text(encoding="utf-8")
    assert "Zoë Ł" in text and "日本" in text  # kept as text, not \u escapes
    lines = text.split("\n")
    assert lines[-1] == ""  # the file ends with a newline
    assert len(lines[:-1]) == 2
    assert [json.loads(line) for line in lines[:-1]] == [first, second]


def test_values_json_cannot_encode_are_written_as_text(tmp_path: Path) -> None:
    append_audit(tmp_path, {"path": Path("a") / "b.gpkg"})
    assert read_audit(tmp_path) == [{"path": str(Path("a") / "b.gpkg")}]


def test_no_log_reads_as_empty(tmp_path: Path) -> None:
    assert read_audit(tmp_path) == []


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / AUDIT_LOG).write_text('{"a":1}\n\n   \n{"a":2}\n', encoding="utf-8")
    assert read_audit(tmp_path) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ('{"a":1}\n{"a":\n', 2),
        ("not json\n", 1),
        ('{"a":1}\n\n{"a":2}\n{"a":3', 4),  # blank lines still count
    ],
)
def test_corrupt_line_is_named(tmp_path: Path, text: str, number: int) -> None:
    (tmp_path / AUDIT_LOG).write_text(text, encoding="utf-8")
    with pytest.raises(StudyError, match=rf"line {number} is not a JSON object"):
        read_audit(tmp_path)


def test_a_line_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / AUDIT_LOG).write_text('{"a":1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(StudyError, match="line 2"):
        read_audit(tmp_path)


@pytest.mark.parametrize(
    "separator",
    [
        pytest.param(ch, id=name)
        for ch, name in [("\u2028", "U+2028"), ("\u2029", "U+2029"), ("\x85", "U+0085")]
    ],
)
def test_unicode_line_separators_survive_a_round_trip(tmp_path: Path, separator: str) -> None:
    entry = {"filter": f"street{separator}name"}
    append_audit(tmp_path, entry)
    assert read_audit(tmp_path) == [entry]


def test_log_that_cannot_be_written_raises(tmp_path: Path) -> None:
    (tmp_path / AUDIT_LOG).mkdir()
    with pytest.raises(StudyError, match="audit log"):
        append_audit(tmp_path, {"a": 1})


def test_missing_study_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="audit log"):
        append_audit(tmp_path / "absent", {"a": 1})


def test_concurrent_appends_land_as_whole_lines(tmp_path: Path) -> None:
    threads, per_thread = 8, 50
    payload = "x" * 2048

    def work(t: int) -> None:
        for i in range(per_thread):
            append_audit(tmp_path, {"thread": t, "i": i, "payload": payload})

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lines = (tmp_path / AUDIT_LOG).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    entries = [json.loads(line) for line in lines[:-1]]
    assert len(entries) == threads * per_thread
    assert all(e["payload"] == payload for e in entries)
    assert sorted((e["thread"], e["i"]) for e in entries) == [
        (t, i) for t in range(threads) for i in range(per_thread)
    ]
    # each thread's own entries stay in the order it wrote them
    for t in range(threads):
        assert [e["i"] for e in entries if e["thread"] == t] == list(range(per_thread))
    assert read_audit(tmp_path) == entries
