"""Exports from the web app (blueprint ``exports``): the form and the file it asks for.

``/export`` is the form: layers, format and disclosure profile, with the map's filters
carried over (``?category=robbery&from=2024-01``, as the map page keeps them in its URL),
the disclosure rule in words and, for editors and admins, the study's latest exports.
``/export/file`` makes the file with :func:`geojtai.studyexport.export_study` (the same
function as ``geojtai export``) and hands it out as an attachment.

**Who may export what.** Everyone who sees the map (viewers and up) exports publishable
files: small counts merged into parent cells or withheld, others rounded
(:mod:`geojtai.disclosure`). Editors and admins may also export the internal profile
(exact counts) and the ``incidents`` layer (incident points, never published); a viewer
asking for either gets 403.

**Audit.** Each file is recorded in the study's ``audit.jsonl`` (who, role, ``via: web``,
layers, filters, profile, rows, SHA-256) before it is handed out; when that line cannot be
written the request fails (500) and no file is sent. The response's ``X-Geojtai-Sha256``
header is the SHA-256 the audit line holds. A CSV is sent as a zip with its CSV on the Web
metadata (``FILE.csv-metadata.json``), so the disclosure rule and the filter travel with it;
the header then holds the SHA-256 of the CSV inside.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import BadRequest, Forbidden, InternalServerError, NotFound

from geojtai.disclosure import DisclosureRule
from geojtai.errors import ExportError, FilterError, SettingsError, StudyError
from geojtai.exports import (
    CELL_LAYERS,
    FILTERED_LAYERS,
    INTERNAL_ONLY,
    CurrentWork,
    available_layers,
)
from geojtai.filters import FILTER_KEYS, describe_filter, parse_filter
from geojtai.io.auditlog import read_audit
from geojtai.io.exporters import FORMATS, SINGLE_LAYER_FORMATS, SUFFIXES
from geojtai.report import write_evidence
from geojtai.studyexport import MARKINGS, Actor, export_study
from web.auth import current_actor, is_internal, require_role
from web.published import current_rule
from web.state import AREAS_KEY, Area, current_area, requested_area_name

__all__ = [
    "AUDIT_SHOWN",
    "DEFAULT_FORMAT",
    "MIMETYPES",
    "NO_LAYER",
    "PROFILES",
    "REPORT_TYPES",
    "ExportAsk",
    "current_work",
    "overview_file",
    "report_file",
    "export_file",
    "export_name",
    "export_page",
    "exports_bp",
    "profile_rule",
    "requested_export",
    "requested_filters",
]

exports_bp = Blueprint("exports", __name__)

#: The media type each format is sent with (a CSV goes in a zip with its metadata).
MIMETYPES: Mapping[str, str] = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "csv": "application/zip",
    "shp": "application/zip",
    "parquet": "application/vnd.apache.parquet",
    "html": "text/html",
    "png": "image/png",
    "pdf": "application/pdf",
}
#: The disclosure profiles, publishable first (the default).
PROFILES = ("publishable", "internal")
DEFAULT_FORMAT = "gpkg"
#: The evidence pack's formats and their media types.
REPORT_TYPES: Mapping[str, str] = {"pdf": "application/pdf", "html": "text/html"}
#: What the form says when it was sent with no layer ticked.
NO_LAYER = "Tick at least one layer to export."
#: How many of the study's latest audit entries the form lists (editors and admins).
AUDIT_SHOWN = 10
#: Query arguments of ``/export/file`` that are not incident filters.
_CONTROL_KEYS = frozenset({"layer", "format", "profile", "study"})
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ExportAsk:
    """What a request asks to export.

    Attributes
    ----------
    layers
        Layer names, in the order asked (comma-separated values split).
    fmt
        The format (a key of :data:`geojtai.io.exporters.FORMATS`, once checked).
    profile
        ``publishable`` or ``internal`` (once checked).
    filters
        Incident filters (:data:`geojtai.filters.FILTER_KEYS`) and any other argument,
        which :func:`~geojtai.studyexport.export_study` refuses by name.
    """

    layers: tuple[str, ...]
    fmt: str
    profile: str
    filters: dict[str, str]


# -- reading the request ------------------------------------------------------------------


def requested_filters(args: Mapping[str, str], *, strict: bool) -> dict[str, str]:
    """The incident filters among query ``args``; the map's one-month ``month=`` becomes
    ``from`` and ``to``.

    With ``strict``, every argument but ``layer``, ``format``, ``profile`` and ``study`` is
    kept, so an unknown one is refused with the list of filters; otherwise only
    :data:`~geojtai.filters.FILTER_KEYS` are kept (the map's ``agency``, ``type`` and
    ``cell`` do not apply to exports).

    Examples
    --------
    >>> requested_filters({"month": "2024-03", "cell": "89..."}, strict=False)
    {'from': '2024-03', 'to': '2024-03'}
    """
    keep = (lambda k: k not in _CONTROL_KEYS) if strict else (lambda k: k in FILTER_KEYS)
    found = {k: str(v).strip() for k, v in args.items() if k != "month" and keep(k)}
    month = str(args.get("month") or "").strip()
    if month:
        found.setdefault("from", month)
        found.setdefault("to", month)
    return {k: v for k, v in found.items() if v}


def requested_export() -> ExportAsk:
    """The request's layers (``layer=``, repeatable or comma-separated), ``format``,
    ``profile`` (publishable when absent) and filters (:func:`requested_filters`)."""
    args = request.args
    names = [n.strip() for item in args.getlist("layer") for n in item.split(",") if n.strip()]
    return ExportAsk(
        layers=tuple(dict.fromkeys(names)),
        fmt=args.get("format", "").strip(),
        profile=args.get("profile", "").strip() or PROFILES[0],
        filters=requested_filters(args.to_dict(flat=True), strict=True),
    )


def profile_rule(rule: DisclosureRule, profile: str) -> DisclosureRule:
    """The request's rule (:func:`web.published.current_rule`) under ``profile``.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        ``profile`` is not a profile.
    werkzeug.exceptions.Forbidden
        ``internal`` asked for by someone who may only see published figures.
    """
    if profile not in PROFILES:
        msg = f"`profile` was {profile!r} but is expected to be one of: {', '.join(PROFILES)}."
        raise BadRequest(msg)
    if profile == "internal" and rule.applies:
        msg = (
            "Internal exports (exact counts) are for editors and admins; "
            f"{_who()} may export publishable files only."
        )
        raise Forbidden(msg)
    return dataclasses.replace(rule, profile=profile)


# -- the form ---------------------------------------------------------------------------------


def export_page(
    area: Area,
    rule: DisclosureRule,
    filters: Mapping[str, str],
    *,
    asked: ExportAsk | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The form's context: layers, formats and profiles this request may choose, the
    filters carried over (as hidden inputs and in words), the rule and the audit log.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        A filter is not valid for this study (the message names it).
    """
    internal = not rule.applies
    chosen = asked.layers if asked and asked.layers else ("counts",)
    layers = _layer_choices(area, internal, chosen)
    publishable = dataclasses.replace(rule, profile="publishable")
    return {
        "title": area.title,
        "study": requested_area_name(),
        "message": message,
        "internal": internal,
        "layers": layers,
        "formats": [
            {"name": k, "text": v, "selected": k == (asked.fmt if asked else DEFAULT_FORMAT)}
            for k, v in FORMATS.items()
        ],
        "single_layer": sorted(SINGLE_LAYER_FORMATS),
        "profiles": _profiles(rule, asked.profile if asked else PROFILES[0]),
        "filters": dict(filters),
        "filter_text": _filter_text(area, filters),
        "map_url": _map_url(filters),
        "filtered_layers": [x["name"] for x in layers if x["name"] in FILTERED_LAYERS],
        "rule": publishable.describe(),
        "audit": _audit_rows(area) if internal else [],
        "reports": _report_links(internal),
        "overviews": _overview_links(internal),
    }


def _overview_links(internal: bool) -> list[dict[str, str]]:
    """Links to the overview across areas, when the app serves several."""
    if len(current_app.extensions.get(AREAS_KEY, {})) < 2:
        return []
    return _document_links("exports.overview", internal)


def _report_links(internal: bool) -> list[dict[str, str]]:
    """Links to the evidence pack in each format (and each profile an editor may ask)."""
    return _document_links("exports.report", internal, study=requested_area_name())


def _document_links(endpoint: str, internal: bool, **fixed: Any) -> list[dict[str, str]]:
    links = []
    for profile in PROFILES if internal else PROFILES[:1]:
        for fmt in REPORT_TYPES:
            values: dict[str, Any] = {"fmt": fmt, **fixed}
            if profile != PROFILES[0]:
                values["profile"] = profile
            text = f"{fmt.upper()}, {profile} ({MARKINGS[profile]})"
            links.append({"url": url_for(endpoint, **values), "text": text})
    return links


def _map_url(filters: Mapping[str, str]) -> str:
    """The map page with these filters (and the request's area)."""
    values: dict[str, Any] = {"study": requested_area_name(), **filters}
    return url_for("maps.index", **values)


def _layer_choices(area: Area, internal: bool, chosen: Sequence[str]) -> list[dict[str, Any]]:
    titles = {str(s["name"]): str(s.get("title", s["name"])) for s in area.study.places().layers}
    titles |= dict(CELL_LAYERS) | {"incidents": "Incident points"}
    return [
        {
            "name": name,
            "title": titles.get(name, name),
            "internal_only": name in INTERNAL_ONLY,
            "checked": name in chosen,
        }
        for name in available_layers(area.study, internal=internal, work=current_work(area))
    ]


def current_work(area: Area) -> CurrentWork:
    """The area's interventions as the register has them now (exports follow the map)."""
    deployment = area.deployment
    return CurrentWork(deployment.interventions, deployment.gaps, deployment.cells)


def _profiles(rule: DisclosureRule, chosen: str) -> list[dict[str, Any]]:
    offered = PROFILES if not rule.applies else PROFILES[:1]
    words = {
        "publishable": f"Publishable ({MARKINGS['publishable']}): small counts merged or withheld",
        "internal": f"Internal ({MARKINGS['internal']}): exact counts, not for publication",
    }
    return [{"name": p, "text": words[p], "selected": p == chosen} for p in offered]


def _filter_text(area: Area, filters: Mapping[str, str]) -> str:
    """The filters in words (``all incidents`` when none)."""
    if not filters:
        return "all incidents"
    if area.index is None:
        msg = (
            "This study was built without its incidents file, so it cannot be filtered by "
            f"{', '.join(sorted(filters))}; rebuild it with `geojtai build`."
        )
        raise BadRequest(msg)
    try:
        return describe_filter(parse_filter(filters, area.index))
    except FilterError as exc:
        raise BadRequest(str(exc)) from exc


def _audit_rows(area: Area) -> list[dict[str, str]]:
    """The study's latest :data:`AUDIT_SHOWN` audit entries, newest first, as text."""
    try:
        entries = read_audit(area.study.path)
    except StudyError as exc:
        return [{"time": "", "who": f"The audit log cannot be read: {exc}"}]
    return [_audit_row(e) for e in reversed(entries[-AUDIT_SHOWN:])]


def _audit_row(entry: Mapping[str, Any]) -> dict[str, str]:
    rows = entry.get("rows") or {}
    via = f" ({entry['via']})" if entry.get("via") else ""
    return {
        "time": str(entry.get("time", "")).replace("T", " ").removesuffix("Z"),
        "who": f"{entry.get('who', '?')}{via}",
        "role": str(entry.get("role") or ""),
        "layers": ", ".join(str(n) for n in entry.get("layers") or []),
        "format": str(entry.get("format", "")),
        "profile": str(entry.get("profile", "")),
        "rows": ", ".join(f"{k} {v:,}" for k, v in rows.items()) if isinstance(rows, dict) else "",
        "filters": ", ".join(f"{k}={v}" for k, v in (entry.get("filters") or {}).items()),
    }


# -- the file ---------------------------------------------------------------------------------


def export_name(area: Area, ask: ExportAsk) -> str:
    """The file's name: ``<study folder>-<layer>.<suffix>`` (``layers`` for several).

    Examples
    --------
    >>> export_name(area, ExportAsk(("counts",), "geojson", "publishable", {}))  # doctest: +SKIP
    'sample-counts.geojson'
    """
    one = ask.layers[0] if len(ask.layers) == 1 else "layers"
    stem = one if _SAFE_NAME.fullmatch(one) and one != "all" else "layers"
    # An unknown format gets a stand-in suffix; export_study refuses it, naming the valid ones.
    suffix = SUFFIXES.get(ask.fmt, (".bin",))[0]
    return f"{area.study.path.name}-{stem}{suffix}"


def export_file(area: Area, ask: ExportAsk, rule: DisclosureRule) -> Response:
    """Make the export ``ask`` names under ``rule`` in a temporary folder, record it in the
    study's audit log and return it as an attachment.

    Raises
    ------
    werkzeug.exceptions.Forbidden
        The ``incidents`` layer asked for under the publishable rule of a viewer.
    werkzeug.exceptions.BadRequest
        Unknown format, layer or filter (the message from
        :class:`~geojtai.errors.ExportError`).
    werkzeug.exceptions.InternalServerError
        The audit line could not be written; no file is sent.
    """
    # 1. Refuse what this role may never have, before any work.
    _check_layers_allowed(ask)
    # 2. Write the file and its audit line, then read it back before the folder goes.
    who = current_actor()
    actor = Actor(who.name, str(who.role), "web")
    with tempfile.TemporaryDirectory(prefix="geojtai-export-") as folder:
        out = Path(folder) / export_name(area, ask)
        try:
            result = export_study(
                area.study, layers=ask.layers, fmt=ask.fmt, out=out, rule=rule,
                actor=actor, filter_args=ask.filters, index=area.index, work=current_work(area),
            )  # fmt: skip
        except ExportError as exc:
            raise BadRequest(str(exc)) from exc
        except StudyError as exc:
            raise InternalServerError(f"The export was not handed out: {exc}") from exc
        body, name = _packed(result.path, ask.fmt)
    # 3. Hand it out, with the hash the audit log holds.
    return _attachment(body, name, MIMETYPES[ask.fmt], result.sha256)


def report_file(area: Area, fmt: str, rule: DisclosureRule) -> Response:
    """The area's evidence pack (:func:`geojtai.report.write_evidence`) as PDF or HTML,
    recorded in the study's audit log, as an attachment.

    Raises
    ------
    werkzeug.exceptions.NotFound
        ``fmt`` is not ``pdf`` or ``html``.
    werkzeug.exceptions.InternalServerError
        The audit line could not be written; no file is sent.
    """
    if fmt not in REPORT_TYPES:
        raise NotFound(f"The evidence pack comes as {' or '.join(REPORT_TYPES)}, not {fmt!r}.")
    who = current_actor()
    actor = Actor(who.name, str(who.role), "web")
    with tempfile.TemporaryDirectory(prefix="geojtai-report-") as folder:
        out = Path(folder) / f"{area.study.path.name}-evidence-pack.{fmt}"
        try:
            result = write_evidence([area.study], out, rule, actor=actor)
        except (StudyError, SettingsError) as exc:
            raise InternalServerError(f"The evidence pack was not handed out: {exc}") from exc
        body = out.read_bytes()
    return _attachment(body, out.name, REPORT_TYPES[fmt], result.sha256)


def overview_file(areas: Mapping[str, Area], fmt: str, rule: DisclosureRule) -> Response:
    """The overview across every area served (one table and one map comparing them), as
    PDF or HTML, recorded in each study's audit log, as an attachment.

    Raises
    ------
    werkzeug.exceptions.NotFound
        ``fmt`` is not ``pdf`` or ``html``, or only one area is served.
    werkzeug.exceptions.InternalServerError
        An audit line could not be written; no file is sent.
    """
    if fmt not in REPORT_TYPES:
        raise NotFound(f"The overview comes as {' or '.join(REPORT_TYPES)}, not {fmt!r}.")
    if len(areas) < 2:
        raise NotFound("The overview compares areas: this app serves one.")
    who = current_actor()
    actor = Actor(who.name, str(who.role), "web")
    studies = [area.study for area in areas.values()]
    with tempfile.TemporaryDirectory(prefix="geojtai-overview-") as folder:
        out = Path(folder) / f"overview-{len(studies)}-areas.{fmt}"
        try:
            result = write_evidence(studies, out, rule, actor=actor)
        except (StudyError, SettingsError) as exc:
            raise InternalServerError(f"The overview was not handed out: {exc}") from exc
        body = out.read_bytes()
    return _attachment(body, out.name, REPORT_TYPES[fmt], result.sha256)


def _check_layers_allowed(ask: ExportAsk) -> None:
    internal_only = sorted(INTERNAL_ONLY.intersection(ask.layers))
    if internal_only and not is_internal():
        msg = (
            f"The {', '.join(internal_only)} layer holds incident locations and is exported "
            f"only by editors and admins, with the internal profile; {_who()} may not."
        )
        raise Forbidden(msg)


def _packed(path: Path, fmt: str) -> tuple[bytes, str]:
    """The bytes to send and their file name: a CSV zipped with its metadata sidecar."""
    if fmt != "csv":
        return path.read_bytes(), path.name
    sidecar = path.with_name(path.name + "-metadata.json")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, path.name)
        archive.write(sidecar, sidecar.name)
    return buffer.getvalue(), f"{path.name}.zip"


def _attachment(body: bytes, name: str, mimetype: str, sha256: str) -> Response:
    response = send_file(
        io.BytesIO(body), mimetype=mimetype, as_attachment=True, download_name=name, etag=False
    )
    response.headers["Cache-Control"] = "no-store"  # exports may be internal: keep off disk
    response.headers["X-Geojtai-Sha256"] = sha256
    return response


def _who() -> str:
    actor = current_actor()
    return f"{actor.name} ({actor.role})"


# -- views ------------------------------------------------------------------------------------


@exports_bp.get("/export")
@require_role("viewer")
def page() -> str:
    """The export form, with the map's filters carried over (``?category=robbery``)."""
    area = current_area()
    filters = requested_filters(request.args.to_dict(flat=True), strict=False)
    return render_template("export.html", **export_page(area, current_rule(), filters))


@exports_bp.get("/export/file")
@require_role("viewer")
def file() -> Response | str:
    """The file the form asks for; without a layer ticked, the form again, saying so."""
    area, ask = current_area(), requested_export()
    rule = profile_rule(current_rule(), ask.profile)
    if ask.layers:
        return export_file(area, ask, rule)
    filters = requested_filters(request.args.to_dict(flat=True), strict=False)
    context = export_page(area, current_rule(), filters, asked=ask, message=NO_LAYER)
    return render_template("export.html", **context)


@exports_bp.get("/export/report.<fmt>")
@require_role("viewer")
def report(fmt: str) -> Response:
    """The area's evidence pack (``.pdf`` or ``.html``), publishable unless an editor asks
    for ``?profile=internal``."""
    rule = profile_rule(current_rule(), request.args.get("profile", "").strip() or PROFILES[0])
    return report_file(current_area(), fmt, rule)


@exports_bp.get("/export/overview.<fmt>")
@require_role("viewer")
def overview(fmt: str) -> Response:
    """The overview across every area served (``.pdf`` or ``.html``); 404 with one area."""
    rule = profile_rule(current_rule(), request.args.get("profile", "").strip() or PROFILES[0])
    return overview_file(current_app.extensions.get(AREAS_KEY, {}), fmt, rule)
