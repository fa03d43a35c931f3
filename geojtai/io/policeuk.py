"""police.uk street-level crime files: recognising them and listing a folder of months.

A police.uk archive unpacks to one folder per month (``2024-01/2024-01-city-of-london-
street.csv``). The files are read as they are: month precision, coordinates snapped to
anonymous map points, anti-social behaviour rows without a Crime ID, some rows with no
location at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

from geojtai.io.columns import normalise_name

__all__ = [
    "POLICE_UK_COLUMNS",
    "POLICE_UK_SOURCE",
    "POLICE_UK_STANDARD",
    "is_police_uk_header",
    "list_incident_files",
]

POLICE_UK_COLUMNS: tuple[str, ...] = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
"""The header of a police.uk street-level CSV, in file order."""

POLICE_UK_SOURCE = "police"

# Standard column → folded police.uk header name. Crime ID and Crime type feed two columns
# each: the generic ``id``/``category`` and the verbatim police.uk ``crime_id``/``crime_type``.
POLICE_UK_STANDARD = MappingProxyType(
    {
        "id": "crime id",
        "crime_id": "crime id",
        "occurred": "month",
        "reported_by": "reported by",
        "falls_within": "falls within",
        "lon": "longitude",
        "lat": "latitude",
        "location": "location",
        "lsoa_code": "lsoa code",
        "lsoa_name": "lsoa name",
        "category": "crime type",
        "crime_type": "crime type",
        "last_outcome": "last outcome category",
        "context": "context",
    }
)

_REQUIRED = frozenset({"month", "longitude", "latitude", "crime type"})
_MIN_MATCHING = 9  # of the 12 columns; tolerates a dropped Context or outcome column


def is_police_uk_header(header: Sequence[str]) -> bool:
    """Whether a CSV header is police.uk's street-level layout.

    Examples
    --------
    >>> is_police_uk_header(list(POLICE_UK_COLUMNS))
    True
    >>> is_police_uk_header(["id", "date", "lat", "lon"])
    False
    """
    names = {normalise_name(h) for h in header}
    expected = {normalise_name(c) for c in POLICE_UK_COLUMNS}
    return names >= _REQUIRED and len(names & expected) >= _MIN_MATCHING


def list_incident_files(folder: Path) -> list[Path]:
    """The ``*.csv`` and ``*.csv.gz`` files under ``folder`` (recursively), sorted by path.

    Hidden files (``.DS_Store``, ``._x.csv``) and files in hidden folders are skipped.
    """
    folder = Path(folder)
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name.lower().endswith((".csv", ".csv.gz"))
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())
