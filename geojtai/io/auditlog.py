"""The study's export audit log: one JSON line per file made from the study.

``audit.jsonl`` in the study folder records every export and evidence pack, from the command
line or the web app: who, their role, when, which layers, filters and disclosure profile,
how many rows and the SHA-256 of the file, so a published file can be traced back to the
request that made it. Lines are only ever appended: each is written with one ``write`` on a
file opened for appending and flushed to disk, so concurrent writers never interleave
within a line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geojtai.errors import StudyError

__all__ = ["AUDIT_LOG", "append_audit", "audit_time", "read_audit"]

AUDIT_LOG = "audit.jsonl"
# Characters some readers take for line breaks, written as JSON escapes.
_LINE_BREAKS = {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"}


def audit_time() -> str:
    """Now, as the audit log writes it: UTC to the second, ``2026-11-26T05:57:14Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def append_audit(study_path: Path | str, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` as one JSON line to the study's audit log.

    Raises
    ------
    StudyError
        The log cannot be written (the export must then not be handed out).
    """
    path = Path(study_path) / AUDIT_LOG
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
    line = text.translate(_LINE_BREAKS) + "\n"  # one entry, one line, whatever it holds
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        msg = f"{path}: cannot append to the study's audit log: {exc.strerror or exc}"
        raise StudyError(msg) from exc


def read_audit(study_path: Path | str) -> list[dict[str, Any]]:
    """Every entry of the study's audit log, oldest first (empty when there is none).

    Raises
    ------
    StudyError
        A line is not JSON (names the line).
    """
    path = Path(study_path) / AUDIT_LOG
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            msg = f"{path}: line {number} is not a JSON object: {exc}"
            raise StudyError(msg) from exc
        if not isinstance(entry, dict):
            msg = f"{path}: line {number} is not a JSON object but a {type(entry).__name__}."
            raise StudyError(msg)
        entries.append(entry)
    return entries
