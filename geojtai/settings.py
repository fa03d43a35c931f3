"""Study settings: a frozen dataclass, read from ``study.toml`` or built from CLI options.

A ``study.toml`` looks like::

    [study]
    name = "Sampletown"
    resolution = 9                     # H3 resolution, 6..12
    categories = ["robbery", "violence with injury"]   # omit for the serious-violence default
    forecast_from = "2025-07"          # optional

    [[incidents]]
    path = "incidents_police.csv"      # relative to this file
    source = "police"

    [[incidents]]
    path = "incidents_ed.csv"
    source = "emergency department"

    [interventions]
    path = "interventions.geojson"

    [places]
    path = "places"                    # a folder of layer files, or an OSM .osm.pbf extract

    [[places]]                         # or several sources; `layer` says which place type a
    path = "greenspace.geojson"        # file is wholly made of (otherwise each layer's
    layer = "parks"                    # [file] filters pick its features)

    [layers]
    path = "my_layers"                 # extra or overriding layers/*.toml place specs

    [area]
    path = "area.geojson"

    [harm_weights]
    robbery = 400
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from geojtai.categories import SERIOUS_VIOLENCE, canonical_category
from geojtai.errors import SettingsError

__all__ = [
    "IncidentInput",
    "PlaceInput",
    "StudyInputs",
    "StudySettings",
    "load_study_toml",
]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MIN_RESOLUTION, MAX_RESOLUTION = 6, 12
MIN_DISCLOSURE_THRESHOLD = 8


@dataclass(frozen=True)
class StudySettings:
    """How a study is built. Every field has a documented default.

    Parameters
    ----------
    name
        A short title shown on maps and reports.
    resolution
        H3 resolution of the analysis grid (6..12; 9 ≈ 0.1 km² cells, 10 ≈ 0.015 km²).
    categories
        Canonical incident categories in scope; ``None`` means every category. Rows outside
        the scope stay in the incidents table (``in_scope`` false) and are not counted.
    harm_weights
        Overrides of :data:`geojtai.categories.DEFAULT_HARM_WEIGHTS`.
    outlier_km
        Without a study area, points farther than this from the median location are
        rejected as "far outside the study area".
    area_margin_m
        With a study area, points farther than this outside its boundary are rejected.
    forecast_from
        ``YYYY-MM``: months from this one on are forecast, fitted only on earlier months.
    disclosure_threshold
        Smallest count a published output may show (never below 8).
    """

    name: str = "study"
    resolution: int = 9
    categories: tuple[str, ...] | None = SERIOUS_VIOLENCE
    harm_weights: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    outlier_km: float = 50.0
    area_margin_m: float = 1000.0
    forecast_from: str | None = None
    disclosure_threshold: int = 10

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.resolution, int) or not (
            MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION
        ):
            problems.append(
                f"resolution must be an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}; "
                f"{self.resolution!r} was given"
            )
        if self.forecast_from is not None and not _MONTH.match(str(self.forecast_from)):
            problems.append(
                f"forecast_from must look like YYYY-MM; {self.forecast_from!r} was given"
            )
        if self.disclosure_threshold < MIN_DISCLOSURE_THRESHOLD:
            problems.append(
                f"disclosure_threshold must be at least {MIN_DISCLOSURE_THRESHOLD}; "
                f"{self.disclosure_threshold} was given"
            )
        if self.outlier_km <= 0 or self.area_margin_m < 0:
            problems.append("outlier_km must be positive and area_margin_m not negative")
        if problems:
            raise SettingsError("; ".join(problems), problems)
        if self.categories is not None:
            object.__setattr__(
                self, "categories", tuple(sorted(set(canonical_category(self.categories))))
            )
        object.__setattr__(
            self,
            "harm_weights",
            MappingProxyType(
                {str(k).lower(): float(v) for k, v in dict(self.harm_weights).items()}
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-friendly values (for the manifest)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, MappingProxyType):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def with_options(self, **changes: Any) -> StudySettings:
        """Return a copy with the given non-``None`` fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class IncidentInput:
    """One incident input: a file or a folder of police.uk files, from one source agency."""

    path: Path
    source: str | None = None


@dataclass(frozen=True)
class PlaceInput:
    """One place source: an OSM ``.osm.pbf``, a folder of layer files, or one file.

    ``layer`` names the place type a file is wholly made of; without it, each layer spec's
    ``[file]`` filters pick the features that belong to it.
    """

    path: Path
    layer: str | None = None


@dataclass(frozen=True)
class StudyInputs:
    """The files a study is built from."""

    incidents: tuple[IncidentInput, ...] = ()
    interventions: Path | None = None
    places: tuple[PlaceInput, ...] = ()
    area: Path | None = None
    layers: Path | None = None


def load_study_toml(path: Path) -> tuple[StudySettings, StudyInputs]:
    """Read a ``study.toml`` into settings and inputs; paths resolve against its folder.

    Raises
    ------
    SettingsError
        The file is not valid TOML or holds unknown or invalid settings.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: cannot read study file: {exc}"
        raise SettingsError(msg) from exc
    base = path.parent
    study = dict(data.get("study", {}))
    known = {f.name for f in fields(StudySettings)} - {"harm_weights"}
    unknown = sorted(set(study) - known)
    if unknown:
        msg = f"{path}: unknown [study] settings {unknown}; valid ones are {sorted(known)}"
        raise SettingsError(msg)
    if "categories" in study and study["categories"] is not None:
        study["categories"] = tuple(study["categories"])
    try:
        settings = StudySettings(
            **study, harm_weights=MappingProxyType(data.get("harm_weights", {}))
        )
    except SettingsError as exc:
        msg = f"{path}: {exc}"
        raise SettingsError(msg, [f"{path}: {p}" for p in exc.problems]) from exc

    def _path(section: str) -> Path | None:
        entry = data.get(section)
        return (base / entry["path"]) if entry and "path" in entry else None

    incidents = tuple(
        IncidentInput(path=base / entry["path"], source=entry.get("source"))
        for entry in data.get("incidents", [])
    )
    inputs = StudyInputs(
        incidents=incidents,
        interventions=_path("interventions"),
        places=_place_inputs(path, data.get("places")),
        area=_path("area"),
        layers=_path("layers"),
    )
    return settings, inputs


def _place_inputs(path: Path, entry: Any) -> tuple[PlaceInput, ...]:
    """``[places]`` (one table) or ``[[places]]`` (several) into place inputs."""
    if entry is None:
        return ()
    entries = entry if isinstance(entry, list) else [entry]
    out = []
    for i, item in enumerate(entries):
        if not isinstance(item, dict) or "path" not in item or set(item) - {"path", "layer"}:
            msg = f"{path}: places entry {i + 1} must have 'path' and optionally 'layer'"
            raise SettingsError(msg)
        out.append(PlaceInput(path=path.parent / item["path"], layer=item.get("layer")))
    return tuple(out)
