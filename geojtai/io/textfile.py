"""Reading delimited text (CSV, CSV.gz) fast and as strings, with spreadsheet row numbers.

pyarrow's multi-threaded CSV reader does the work (about a million rows a second per core).
Every column is read as text so that a bad value becomes a reject later, never a crash now.
What makes real exports awkward is handled here once:

- a UTF-8 byte-order mark, Windows line endings and gzip compression;
- Windows-1252 text (Excel's "CSV" on a UK machine) when the file is not valid UTF-8;
- ``;``, tab or ``|`` delimiters, recognised from the header line;
- blank lines, which keep their row number (a spreadsheet shows them too);
- lines with the wrong number of fields, which become rows flagged ``malformed row``
  instead of failing the whole file.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from geojtai.errors import InputFileError

__all__ = ["CsvHeader", "Malformed", "read_csv_strings", "read_header"]

_HEAD_LIMIT = 1 << 20  # a header line longer than 1 MiB is not a CSV header
_DELIMITERS = (",", ";", "\t", "|")
_FALLBACK_ENCODING = "cp1252"


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's header: column names (made unique), delimiter and text encoding."""

    names: tuple[str, ...]
    delimiter: str
    encoding: str


@dataclass(frozen=True)
class Malformed:
    """A line that does not have the header's number of fields."""

    row: int
    expected: int
    actual: int


def _open(path: Path) -> io.BufferedIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _first_line(path: Path) -> bytes:
    try:
        with _open(path) as fh:
            head = b""
            while b"\n" not in head and len(head) < _HEAD_LIMIT:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                head += chunk
    except FileNotFoundError as exc:
        msg = f"{path}: file not found"
        raise InputFileError(msg) from exc
    except IsADirectoryError as exc:
        msg = f"{path}: is a folder, not a file"
        raise InputFileError(msg) from exc
    except PermissionError as exc:
        msg = f"{path}: permission denied"
        raise InputFileError(msg) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        msg = f"{path}: not a valid gzip file ({exc})"
        raise InputFileError(msg) from exc
    except OSError as exc:
        msg = f"{path}: cannot be read ({exc})"
        raise InputFileError(msg) from exc
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        msg = f"{path}: UTF-16 text is not supported; save it as CSV UTF-8"
        raise InputFileError(msg)
    if b"\x00" in head:
        msg = f"{path}: not a text CSV file (it contains binary data)"
        raise InputFileError(msg)
    return head.split(b"\n", 1)[0].removesuffix(b"\r")


def read_header(path: Path) -> CsvHeader:
    """Read and parse the header line of a CSV or CSV.gz file.

    Raises
    ------
    InputFileError
        The file is missing, unreadable, corrupt, binary, or has no header line.
    """
    line = _first_line(path).removeprefix(b"\xef\xbb\xbf")
    try:
        text, encoding = line.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        text, encoding = line.decode(_FALLBACK_ENCODING, errors="replace"), _FALLBACK_ENCODING
    if not text.strip():
        msg = f"{path}: empty file (no header line)"
        raise InputFileError(msg)
    delimiter = max(_DELIMITERS, key=text.count)
    names = next(csv.reader([text], delimiter=delimiter))
    return CsvHeader(names=_unique(names), delimiter=delimiter, encoding=encoding)


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    """Blank names become ``column_N``; repeats get ``.1``, ``.2`` (as pandas does)."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, start=1):
        name = raw.strip() or f"column_{i}"
        candidate, k = name, 0
        while candidate in seen:
            k += 1
            candidate = f"{name}.{k}"
        seen.add(candidate)
        out.append(candidate)
    return tuple(out)


def _read(
    path: Path, header: CsvHeader, include: Sequence[str], encoding: str, *, threads: bool
) -> tuple[pa.Table, list[Malformed]]:
    bad: list[Malformed] = []

    def on_invalid(row: pv.InvalidRow) -> str:
        bad.append(Malformed(row.number or 0, row.expected_columns, row.actual_columns))
        return "skip"

    table = pv.read_csv(
        path,
        read_options=pv.ReadOptions(
            column_names=list(header.names),
            skip_rows=1,
            encoding=encoding,
            use_threads=threads,
            block_size=1 << 24,
        ),
        parse_options=pv.ParseOptions(
            delimiter=header.delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pv.ConvertOptions(
            column_types={name: pa.string() for name in include},
            include_columns=list(include),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )
    return table, bad


def read_csv_strings(
    path: Path, header: CsvHeader, include: Sequence[str]
) -> tuple[pa.Table, np.ndarray, list[Malformed]]:
    """Read the ``include`` columns of a CSV as strings.

    Returns
    -------
    (table, rows, malformed)
        The rows that split into the header's fields, their spreadsheet row numbers
        (header = 1, first data row = 2; blank lines are rows), and the lines that did not.

    Raises
    ------
    InputFileError
        The file cannot be decoded or parsed as CSV at all.
    """
    encoding = header.encoding
    try:
        try:
            table, bad = _read(path, header, include, encoding, threads=True)
        except pa.ArrowInvalid as exc:
            if "UTF8" not in str(exc) or encoding != "utf8":
                raise
            encoding = _FALLBACK_ENCODING
            table, bad = _read(path, header, include, encoding, threads=True)
        if bad:
            # Only the single-threaded reader knows the line numbers of malformed lines.
            table, bad = _read(path, header, include, encoding, threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"{path}: not a readable CSV file ({reason})"
        raise InputFileError(msg) from exc
    total = table.num_rows + len(bad)
    if bad:
        taken = np.array([b.row for b in bad], dtype=np.int64)
        rows = np.setdiff1d(np.arange(2, total + 2, dtype=np.int64), taken, assume_unique=True)
    else:
        rows = np.arange(2, total + 2, dtype=np.int64)
    return table, rows, bad
