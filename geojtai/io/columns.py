"""Column detection: which of a file's columns feed which standardised column.

Headers are matched case-insensitively after folding spaces, underscores, hyphens, dots
and brackets to single spaces (``"Crime_ID"``, ``"crime id"`` and ``"CRIME-ID"`` are the
same name). Each standard column has aliases in priority order; an explicit ``columns``
mapping (our name → their column) wins over detection.

Only the columns named here are ever read: everything else in a file (names, dates of
birth, addresses, phone numbers, free-text notes) is never loaded, so it cannot leak into a
study.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "INCIDENT_ALIASES",
    "INTERVENTION_ALIASES",
    "ColumnMatch",
    "match_columns",
    "normalise_name",
]

_FOLD = re.compile(r"[\s_\-.()\[\]/]+")

_LOCATION_ALIASES = {
    "lat": ("lat", "latitude", "lat wgs84", "latitude wgs84", "y"),
    "lon": ("lon", "lng", "long", "longitude", "lon wgs84", "longitude wgs84", "x"),
    "easting": (
        "easting",
        "eastings",
        "x bng",
        "bng x",
        "bng easting",
        "os easting",
        "grid easting",
        "easting m",
        "x coordinate",
    ),
    "northing": (
        "northing",
        "northings",
        "y bng",
        "bng y",
        "bng northing",
        "os northing",
        "grid northing",
        "northing m",
        "y coordinate",
    ),
}

INCIDENT_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "id": (
            "id",
            "incident id",
            "crime id",
            "ref",
            "reference",
            "incident ref",
            "incident reference",
            "crime ref",
            "crime reference",
            "record id",
            "urn",
        ),
        "occurred": (
            "occurred",
            "occurred at",
            "occurred on",
            "datetime",
            "date time",
            "incident datetime",
            "incident date",
            "date of incident",
            "offence date",
            "date",
            "month",
            "incident month",
        ),
        "time": ("time", "incident time", "time of incident", "time of day", "occurred time"),
        **_LOCATION_ALIASES,
        "category": (
            "category",
            "crime type",
            "offence",
            "offence type",
            "offence category",
            "crime category",
            "incident type",
            "incident category",
            "injury type",
            "injury",
            "assault type",
            "type",
        ),
        "source": ("source", "agency", "source agency", "reporting agency", "data source"),
        "harm": ("harm", "harm weight", "harm score", "crime harm", "chi"),
        "age_band": (
            "age band",
            "ageband",
            "age group",
            "age range",
            "victim age band",
            "victim age group",
        ),
        "age": ("age", "victim age", "age years", "age at incident"),
        "weapon": ("weapon", "weapon type", "weapon used", "weapons"),
    }
)
"""Our incident column → accepted header names (folded), most specific first."""

INTERVENTION_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "id": ("id", "intervention id", "ref", "reference", "project id"),
        "name": ("name", "title", "intervention name", "intervention", "project", "project name"),
        "type": ("type", "intervention type", "kind", "category"),
        "lead_agency": (
            "lead agency",
            "lead",
            "lead organisation",
            "lead organization",
            "agency",
            "owner",
        ),
        "partner_agencies": (
            "partner agencies",
            "partners",
            "partner",
            "partner agency",
            "partner organisations",
            "partner organizations",
        ),
        "start": ("start", "start date", "starts", "from", "date from", "begin", "start month"),
        "end": ("end", "end date", "ends", "to", "date to", "until", "finish", "end month"),
        "days": ("days", "schedule days", "days of week", "weekdays"),
        "hours": ("hours", "schedule hours", "times", "time", "opening hours"),
        "place_types": (
            "place types",
            "place type",
            "target places",
            "targets",
            "place targets",
            "places",
        ),
        "cost": ("cost", "cost gbp", "cost £", "budget"),
        "hours_per_week": ("hours per week", "weekly hours", "staff hours per week", "hours week"),
        "radius_m": ("radius m", "radius", "radius metres", "radius meters", "buffer m", "buffer"),
        **_LOCATION_ALIASES,
        "wkt": ("wkt", "geometry wkt", "geometry", "geom", "the geom", "shape"),
    }
)
"""Our intervention column → accepted header names (folded), most specific first."""


def normalise_name(name: str) -> str:
    """Fold a header name for matching.

    Examples
    --------
    >>> normalise_name("\\ufeffCrime_ID ")
    'crime id'
    """
    return _FOLD.sub(" ", str(name).replace("\ufeff", "").strip().lower()).strip()


@dataclass(frozen=True)
class ColumnMatch:
    """Which header column feeds each standard column.

    Attributes
    ----------
    sources
        Our name → the file's column name (as spelled in the file).
    problems
        Explicit ``columns`` entries that could not be honoured.
    guessed_xy
        Standard names matched only through the ambiguous ``x``/``y`` aliases.
    """

    sources: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    guessed_xy: frozenset[str] = frozenset()


def match_columns(
    header: Sequence[str],
    aliases: Mapping[str, tuple[str, ...]],
    columns: Mapping[str, str] | None = None,
    *,
    fixed: Mapping[str, str] | None = None,
) -> ColumnMatch:
    """Match ``header`` to standard names.

    Parameters
    ----------
    header
        The file's column names.
    aliases
        Standard name → accepted folded names, most specific first.
    columns
        Explicit our name → their column; wins over detection. Unknown names or columns
        absent from ``header`` are reported in ``problems``.
    fixed
        Standard name → folded header name of a recognised layout (police.uk); applied
        after ``columns`` and before detection.
    """
    folded: dict[str, str] = {}
    for name in header:
        folded.setdefault(normalise_name(name), name)
    sources: dict[str, str] = {}
    problems: list[str] = []
    valid_names = set(aliases) | set(fixed or {})
    for ours, theirs in (columns or {}).items():
        if ours not in valid_names:
            problems.append(
                f"unknown column name {ours!r} in `columns`; valid names are {sorted(valid_names)}"
            )
        elif theirs in header:
            sources[ours] = theirs
        elif normalise_name(theirs) in folded:
            sources[ours] = folded[normalise_name(theirs)]
        else:
            problems.append(f"column {theirs!r} (given for {ours!r}) is not in the file")
    for ours, theirs in (fixed or {}).items():
        if ours not in sources and theirs in folded:
            sources[ours] = folded[theirs]
    guessed: set[str] = set()
    taken = set(sources.values())
    for ours, names in aliases.items():
        if ours in sources:
            continue
        for alias in names:
            if alias in folded and folded[alias] not in taken:
                sources[ours] = folded[alias]
                taken.add(folded[alias])
                if alias in {"x", "y"}:
                    guessed.add(ours)
                break
    return ColumnMatch(sources=sources, problems=problems, guessed_xy=frozenset(guessed))
