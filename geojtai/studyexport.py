"""Export a built study's layers to a file, with its disclosure rule and an audit line.

One entry point for the command line (``geojtai export``) and the web app: check the
request, filter, apply the disclosure profile, write the file, and append who made it to
the study's audit log (``audit.jsonl``). A file is handed out only once its audit line is
written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geojtai import __version__
from geojtai.disclosure import DisclosureRule
from geojtai.errors import ExportError, FilterError
from geojtai.exports import (
    FILTERED_LAYERS,
    INTERNAL_ONLY,
    CurrentWork,
    ExportLayer,
    available_layers,
    build_layers,
    layer_filter,
)
from geojtai.filters import FILTER_KEYS, CellFilter, IncidentIndex, parse_filter
from geojtai.io.auditlog import append_audit, audit_time
from geojtai.io.exporters import FORMATS, SINGLE_LAYER_FORMATS, write_layers
from geojtai.io.studyfolder import Study

__all__ = [
    "ATTRIBUTION",
    "CONTEXT_LAYERS",
    "MARKINGS",
    "Actor",
    "ExportResult",
    "export_study",
    "resolve_layers",
]

#: Data attribution printed on maps and written into metadata (OGL for police.uk and
#: boundaries, ODbL for OpenStreetMap).
ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0 "
    "(police.uk; Ordnance Survey boundaries © Crown copyright and database right). "
    "Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL). "
    "H3 cells: Uber H3 (Apache 2.0). Made with geojtai."
)
#: The protective marking of each profile (Government Security Classifications): exact
#: counts about children are sensitive; disclosure-controlled ones are OFFICIAL.
MARKINGS: Mapping[str, str] = {"publishable": "OFFICIAL", "internal": "OFFICIAL-SENSITIVE"}
#: Place layers drawn under a PNG/PDF/HTML map as context, when the study has them.
CONTEXT_LAYERS = ("parks", "shopping_centres", "streets")


@dataclass(frozen=True)
class Actor:
    """Who asked: a name, a role and how (``cli`` or ``web``), for the audit log."""

    name: str
    role: str
    via: str


@dataclass(frozen=True)
class ExportResult:
    """What was written: the file, its SHA-256, rows per layer and the audit entry."""

    path: Path
    sha256: str
    rows: dict[str, int]
    audit: dict[str, Any]


def resolve_layers(
    study: Study,
    asked: Sequence[str],
    fmt: str,
    rule: DisclosureRule,
    work: CurrentWork | None = None,
) -> list[str]:
    """The layer names asked for: comma-separated names, or ``all`` (every layer the profile
    allows, for formats holding several).

    Raises
    ------
    ExportError
        Nothing asked, ``all`` for a one-layer format.
    """
    names = [n.strip() for item in asked for n in item.split(",") if n.strip()]
    if not names:
        raise ExportError("Name a layer with --layer (or --layer all for gpkg, shp or html).")
    if "all" in names:
        if fmt in SINGLE_LAYER_FORMATS or fmt in ("png", "pdf"):
            msg = f"--layer all needs a format that holds several layers (gpkg, shp, html), not {fmt}."
            raise ExportError(msg)
        return available_layers(study, internal=not rule.applies, work=work)
    return list(dict.fromkeys(names))


def export_study(
    study: Study,
    *,
    layers: Sequence[str],
    fmt: str,
    out: Path | str,
    rule: DisclosureRule,
    actor: Actor,
    filter_args: Mapping[str, str] | None = None,
    marking: str | None = None,
    index: IncidentIndex | None = None,
    work: CurrentWork | None = None,
) -> ExportResult:
    """Export layers of ``study`` to ``out`` and record it in the study's audit log.

    Parameters
    ----------
    study
        A built study.
    layers
        Layer names (see :func:`resolve_layers`).
    fmt
        A key of :data:`geojtai.io.exporters.FORMATS`.
    out
        The file to write.
    rule
        The disclosure rule (its profile: ``publishable`` or ``internal``).
    actor
        Who asked, for the audit log.
    filter_args
        Incident filters as the web's query arguments (:data:`geojtai.filters.FILTER_KEYS`).
    marking
        Protective marking; by default that of the profile (:data:`MARKINGS`).
    index
        The study's incident index, when the caller already has it (the web app).
    work
        The interventions as they are now, when they changed since the build (the web
        app's register).

    Raises
    ------
    ExportError
        Unknown format, layer or filter; ``incidents`` without the internal profile.
    StudyError
        The study cannot be read, or the audit log cannot be written.
    """
    # 1. Check the request and parse its filter against the study.
    if fmt not in FORMATS:
        msg = f"`format` was {fmt!r} but is expected to be one of: {', '.join(FORMATS)}."
        raise ExportError(msg)
    names = resolve_layers(study, layers, fmt, rule, work)
    args = {k: str(v) for k, v in (filter_args or {}).items() if str(v).strip()}
    if args and not FILTERED_LAYERS.intersection(names):
        msg = (
            f"Filters ({', '.join(sorted(args))}) apply to the counts and incidents layers; "
            f"{', '.join(names)} cover the whole study. Leave the filters out, or add counts."
        )
        raise ExportError(msg)
    index, flt = _filter(study, args, index)
    # 2. Build the layers under the rule; maps get place layers as context.
    built = build_layers(study, names, rule, index=index, flt=flt, work=work)
    context = _context(study, names, fmt, rule)
    metadata = _metadata(study, built, rule, marking, layer_filter(flt))
    # 3. Write, then record who made it before handing it out.
    path = Path(out)
    sha = write_layers([*built, *context], fmt, path, metadata)
    rows = {layer.name: len(layer.frame) for layer in built}
    entry = _audit_entry(study, actor, names, fmt, args, rule, rows, sha, path)
    try:
        append_audit(study.path, entry)
    except BaseException:
        _remove(path)  # no file without its audit line
        raise
    return ExportResult(path, sha, rows, entry)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + "-metadata.json").unlink(missing_ok=True)


def _filter(
    study: Study, args: dict[str, str], index: IncidentIndex | None
) -> tuple[IncidentIndex | None, CellFilter | None]:
    unknown = sorted(set(args) - set(FILTER_KEYS))
    if unknown:
        msg = f"Unknown filter {', '.join(unknown)}; filters are: {', '.join(FILTER_KEYS)}."
        raise ExportError(msg)
    if not args:
        return index, None
    index = index if index is not None else study.incident_index()
    if index is None:
        msg = f"{study.path}: this study kept no incidents file, so it cannot be filtered."
        raise ExportError(msg)
    try:
        return index, parse_filter(args, index)
    except FilterError as exc:
        raise ExportError(str(exc), exc.problems) from exc


def _context(study: Study, names: list[str], fmt: str, rule: DisclosureRule) -> list[ExportLayer]:
    if fmt not in ("png", "pdf", "html"):
        return []
    have = set(available_layers(study, internal=False))
    extra = [n for n in CONTEXT_LAYERS if n in have and n not in names]
    built = build_layers(study, extra, rule) if extra else []
    return [dataclasses.replace(layer, context=True) for layer in built]


def _metadata(
    study: Study,
    built: list[ExportLayer],
    rule: DisclosureRule,
    marking: str | None,
    filter_text: str,
) -> dict[str, str]:
    months = study.months
    period = f"{months[0]} to {months[-1]}" if months else "all months"
    first = built[0]
    filtered = [layer.name for layer in built if layer.filtered]
    return {
        "title": f"{study.name}: {first.title}" if len(built) == 1 else study.name,
        "subtitle": f"{period}; {filter_text}" if filtered else period,
        "study": study.name,
        "period": period,
        "layers": ", ".join(layer.name for layer in built),
        "profile": rule.profile,
        "disclosure": rule.describe(),
        "disclosure_threshold": str(rule.threshold),
        "disclosure_rounding": str(rule.rounding),
        "filter": filter_text,
        "filtered_layers": ", ".join(filtered) or "none",
        "marking": marking or MARKINGS[rule.profile],
        "attribution": ATTRIBUTION,
        "generated": audit_time(),
        "software": f"geojtai {__version__}",
    }


def _audit_entry(
    study: Study,
    actor: Actor,
    names: list[str],
    fmt: str,
    args: dict[str, str],
    rule: DisclosureRule,
    rows: dict[str, int],
    sha: str,
    path: Path,
) -> dict[str, Any]:
    return {
        "time": audit_time(),
        "action": "export",
        "who": actor.name,
        "role": actor.role,
        "via": actor.via,
        "study": study.name,
        "layers": names,
        "format": fmt,
        "filters": args,
        "profile": rule.profile,
        "threshold": rule.threshold,
        "rounding": rule.rounding,
        "rows": rows,
        "internal_only_layers": sorted(set(names) & INTERNAL_ONLY),
        "file": path.name,
        "sha256": sha,
    }
