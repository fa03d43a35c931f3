"""Disk input and output: the only part of geojtai that reads or writes files.

Readers return raw rows (text under standard column names, with ``file`` and ``row``) for
:mod:`geojtai.schema` to validate; writers write atomically and reproducibly.
"""

from __future__ import annotations

from geojtai.io.places import read_places
from geojtai.io.policeuk import POLICE_UK_COLUMNS, is_police_uk_header
from geojtai.io.readers import read_area, read_incidents, read_interventions
from geojtai.io.writers import (
    atomic_write_bytes,
    sha256_file,
    write_csv,
    write_geoparquet,
    write_json,
    write_parquet,
)

__all__ = [
    "POLICE_UK_COLUMNS",
    "atomic_write_bytes",
    "is_police_uk_header",
    "read_area",
    "read_incidents",
    "read_interventions",
    "read_places",
    "sha256_file",
    "write_csv",
    "write_geoparquet",
    "write_json",
    "write_parquet",
]
