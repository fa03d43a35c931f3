"""The layers a study exports, as they may be shown under a disclosure profile.

Each exportable layer is built here from a built study (:class:`~geojtai.io.studyfolder.Study`)
as a GeoDataFrame in EPSG:4326 with its :class:`~geojtai.symbology.LayerStyle`; the writers in
:mod:`geojtai.io.exporters` turn them into files. Every incident count goes through the
request's filter first, then its :class:`~geojtai.disclosure.DisclosureRule`:

``counts``
    Incidents per cell under the filter. *Publishable*: counts of 1 to threshold−1 merged
    into parent cells until they pass (the row's ``rolled_up`` says how many cells were
    merged), else suppressed (``count`` empty, ``suppressed`` true); the rest rounded to 5.
``cells``
    One row per study cell: place, counts by category, hot-spot and emerging class, risk,
    coverage and gap status. *Publishable*: counts suppressed or rounded cell by cell (no
    merging: each row keeps its cell), harm to 2 significant figures and withheld with its
    count, risk as a class (top 10 % / next 20 % / rest), no z-scores or first/last months.
``risk``, ``hotspots``, ``emerging``, ``gaps``
    The map layers of the web app, over the whole study (filters do not apply).
``interventions``
    Each intervention's footprint (a point's circle of ``radius_m``), with its agencies.
place layers (``parks``, ``streets``, ...)
    The study's place features.
``incidents``
    Incident points: *internal profile only*, never published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geojtai import grid
from geojtai.bivariate import risk_classes
from geojtai.crs import BNG, WGS84
from geojtai.disclosure import DisclosureRule, publish_cells, publish_count, publish_harm
from geojtai.errors import ExportError
from geojtai.filters import CellFilter, IncidentIndex, describe_filter, filter_mask, filtered_cells
from geojtai.io.studyfolder import Study
from geojtai.maps import (
    EMERGING_COLOURS,
    GAP_COLOURS,
    GI_CLASSES,
    INTERVENTION_COLOURS,
    RISK_ANCHORS,
    class_breaks,
    colour_ramp,
)
from geojtai.symbology import LayerStyle, StyleClass

__all__ = [
    "CELL_LAYERS",
    "FILTERED_LAYERS",
    "INTERNAL_ONLY",
    "RISK_CLASS_LABELS",
    "CurrentWork",
    "ExportLayer",
    "available_layers",
    "build_layers",
    "graduated_style",
    "layer_filter",
]

#: Layers built from the study's cell table, in menu order, with their titles.
CELL_LAYERS: Mapping[str, str] = {
    "counts": "Incidents per cell",
    "cells": "Cells: counts, hot spots, risk and coverage",
    "risk": "Contextual risk",
    "hotspots": "Hot spots (Getis-Ord Gi*)",
    "emerging": "Emerging hot spots",
    "gaps": "Gaps in coverage of high-risk cells",
    "interventions": "Interventions (footprints)",
}
INTERNAL_ONLY = frozenset({"incidents"})
#: Layers whose rows depend on the incident filter.
FILTERED_LAYERS = frozenset({"counts", "incidents"})
#: The published risk classes (:func:`geojtai.bivariate.risk_classes`) and their labels.
RISK_CLASS_LABELS: Mapping[str, str] = {
    "high": "top 10% of cells",
    "medium": "next 20%",
    "low": "other cells",
}
_RISK_CLASS_COLOURS = {"high": RISK_ANCHORS[4], "medium": RISK_ANCHORS[2], "low": RISK_ANCHORS[0]}
_COUNT_ANCHORS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
_NO_PATTERN = "no pattern detected"
_DROP_ALWAYS = ("file", "row")  # where a row came from: machine detail, not for others
_INCIDENT_COLUMNS = (
    "id", "source", "month", "occurred", "category", "harm", "age_band", "weapon",
    "place_type", "place_name", "h3",
)  # fmt: skip


@dataclass(frozen=True)
class ExportLayer:
    """One layer ready to write.

    Attributes
    ----------
    name
        The layer (table) name in the file.
    title
        What a person reads in a legend or a layer list.
    frame
        The rows, EPSG:4326; counts already disclosure-controlled for ``rule``.
    style
        How it is drawn (QGIS style, static and HTML maps).
    filtered
        Whether the request's incident filter applies to this layer.
    notes
        Sentences for the file's metadata (what the columns mean, what was withheld).
    context
        Drawn under the layers asked for on a map (PNG, PDF, HTML), not asked for itself.
    """

    name: str
    title: str
    frame: gpd.GeoDataFrame
    style: LayerStyle
    filtered: bool = False
    notes: tuple[str, ...] = field(default=())
    context: bool = False


@dataclass(frozen=True)
class CurrentWork:
    """The interventions as they are now, when they have changed since the build (the web
    app's register): they replace the study's ``interventions``, ``gaps`` and the coverage
    columns of ``cells``.

    Attributes
    ----------
    interventions
        The columns of ``interventions.parquet`` (EPSG:4326).
    gaps
        The gap cells, or None without interventions.
    coverage
        ``h3``, ``agencies_now``, ``interventions_now`` and ``intervention_ids`` per cell.
    """

    interventions: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame | None
    coverage: pd.DataFrame


def available_layers(study: Study, *, internal: bool, work: CurrentWork | None = None) -> list[str]:
    """The layers ``study`` can export under the profile, in menu order.

    ``incidents`` only for the internal profile and when the study kept them.
    """
    columns = study.cells.columns
    have = {
        "counts": True,
        "cells": True,
        "risk": "risk" in columns,
        "hotspots": "gi_bin" in columns,
        "emerging": "emerging" in columns,
        "gaps": (study.path / "gaps.parquet").is_file() if work is None else work.gaps is not None,
        "interventions": (study.path / "interventions.parquet").is_file()
        if work is None
        else len(work.interventions) > 0,
    }
    names = [name for name in CELL_LAYERS if have[name]]
    names += [str(spec["name"]) for spec in study.places().layers]
    if internal and (study.path / "incidents.parquet").is_file():
        names.append("incidents")
    return names


def layer_filter(flt: CellFilter | None) -> str:
    """The filter in words for metadata: ``"all incidents"`` when there is none."""
    return "all incidents" if flt is None or flt == CellFilter() else describe_filter(flt)


def build_layers(
    study: Study,
    names: Sequence[str],
    rule: DisclosureRule,
    *,
    index: IncidentIndex | None = None,
    flt: CellFilter | None = None,
    work: CurrentWork | None = None,
) -> list[ExportLayer]:
    """The named layers of ``study`` under ``rule`` (and the incident filter ``flt``).

    Parameters
    ----------
    study
        A built study.
    names
        Layer names from :func:`available_layers`.
    rule
        The disclosure rule; ``incidents`` is refused unless its profile is internal.
    index, flt
        The study's incident index and a filter parsed against it
        (:func:`geojtai.filters.parse_filter`); ``None`` for all incidents.
    work
        The interventions as they are now, when they differ from the build's.

    Raises
    ------
    ExportError
        A name is unknown for this study, or ``incidents`` was asked for under the
        publishable profile; every problem at once.
    """
    valid = available_layers(study, internal=not rule.applies, work=work)
    problems = [_unknown(study, name, valid, rule) for name in names if name not in valid]
    if flt is not None and index is None:
        problems.append(f"{study.path}: this study kept no incidents, so it cannot be filtered")
    if problems:
        raise ExportError("\n".join(problems), problems)
    places = {str(spec["name"]): spec for spec in study.places().layers}
    out = []
    for name in dict.fromkeys(names):
        if name in places:
            out.append(_place_layer(study, places[name]))
        else:
            out.append(_BUILDERS[name](_Source(study, work), rule, index, flt))
    return out


@dataclass(frozen=True)
class _Source:
    """The study, with the interventions as they are now where they changed."""

    study: Study
    work: CurrentWork | None = None

    def cells(self) -> pd.DataFrame:
        cells = pd.DataFrame(self.study.cells.drop(columns="geometry"))
        if self.work is None:
            return cells
        now = self.work.coverage.set_index("h3")
        for column in now.columns:
            cells[column] = cells["h3"].map(now[column]).to_numpy()
        return cells

    def gaps(self) -> gpd.GeoDataFrame | None:
        return self.study.gaps() if self.work is None else self.work.gaps

    def interventions(self) -> gpd.GeoDataFrame | None:
        return self.study.interventions() if self.work is None else self.work.interventions


def _unknown(study: Study, name: str, valid: list[str], rule: DisclosureRule) -> str:
    if name in INTERNAL_ONLY and rule.applies:
        return (
            f"The {name!r} layer holds incident locations and is exported only under the "
            "internal profile (--profile internal); it is never published."
        )
    return f"{study.path}: no layer {name!r} in this study; it has: {', '.join(valid)}."


# -- incident counts ---------------------------------------------------------------------


def _counts(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    study = source.study
    if index is not None:
        found = filtered_cells(index, flt or CellFilter())
    else:
        found = pd.DataFrame(study.cells.loc[study.cells["count"] > 0, ["h3", "count", "harm"]])
    resolution = _resolution_of(found, study)
    shown = publish_cells(found["h3"], found["count"], rule, min_resolution=0)
    if not rule.applies:
        shown["harm"] = found.set_index("h3")["harm"].reindex(shown["h3"]).to_numpy()
    # Parent (merged) rows first, so maps and QGIS draw them under the cells shown alone.
    shown = shown.sort_values("resolution", kind="stable").reset_index(drop=True)
    frame = _with_cells(shown.drop(columns="suppressed" if not rule.applies else []))
    notes = (
        f"Incidents per H3 cell (resolution {resolution}) under the filter: {layer_filter(flt)}.",
        "Rows with rolled_up > 0 are parent cells holding only the small counts of that many "
        "child cells (the children shown on their own rows are not in them), so each "
        "incident is counted once.",
    )
    style = _count_style(frame["count"], rule, f"Incidents per cell ({layer_filter(flt)})")
    return ExportLayer("counts", CELL_LAYERS["counts"], frame, style, True, notes)


def _resolution_of(found: pd.DataFrame, study: Study) -> int:
    if len(found):
        return int(grid.cell_resolution(grid.cells_from_hex(found["h3"].iloc[:1]))[0])
    return int(study.manifest.get("settings", {}).get("resolution", 9))


def _count_style(values: pd.Series, rule: DisclosureRule, title: str) -> LayerStyle:
    shown = values.to_numpy(dtype=np.float64, na_value=np.nan)
    withheld = f"fewer than {rule.threshold}: withheld" if np.isnan(shown).any() else None
    return graduated_style(
        shown, title, _COUNT_ANCHORS, attribute="count", no_data=withheld, integral=True
    )


def graduated_style(
    values: np.ndarray,
    title: str,
    anchors: Sequence[str],
    *,
    attribute: str,
    no_data: str | None = None,
    integral: bool = False,
    kind: str = "polygon",
) -> LayerStyle:
    """Up to 5 quantile classes of ``values`` (:func:`geojtai.maps.class_breaks`) coloured
    along ``anchors``; one colour when no value is finite.

    Examples
    --------
    >>> s = graduated_style(np.array([10.0, 20, 30, 40, 50]), "n", ("#ffffff", "#000000"),
    ...                     attribute="count", integral=True)
    >>> [c.label for c in s.classes][:2]
    ['10', '11 – 20']
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return LayerStyle(title, kind, colour=anchors[-1], no_data=no_data)
    breaks = class_breaks(finite, 5)
    colours = colour_ramp(breaks.size, anchors=anchors)
    lower, classes = float(finite.min()), []
    for i, (upper, colour) in enumerate(zip(breaks.tolist(), colours, strict=True)):
        label = _class_label(lower, float(upper), first=i == 0, integral=integral)
        classes.append(StyleClass(None, label, colour, lower, float(upper)))
        lower = float(upper)
    return LayerStyle(title, kind, "graduated", attribute, tuple(classes), no_data=no_data)


def _class_label(lower: float, upper: float, *, first: bool, integral: bool) -> str:
    """``lower < x <= upper`` in words: whole numbers start one above ``lower`` (after
    the first class), and a class of one value is that value."""
    start = lower if first or not integral else lower + 1
    if start >= upper:
        return _number(upper, integral)
    return f"{_number(start, integral)} – {_number(upper, integral)}"


def _number(x: float, integral: bool) -> str:
    return f"{x:,.0f}" if integral else f"{x:.3g}"


def _with_cells(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """``frame`` with its cells' polygons and centres (EPSG:4326)."""
    cells = grid.cells_from_hex(frame["h3"].to_numpy(dtype=object))
    lat, lon = grid.cell_centres(cells)
    frame = frame.assign(lat=np.round(lat, 6), lon=np.round(lon, 6))
    return gpd.GeoDataFrame(frame, geometry=grid.cell_polygons(cells), crs=WGS84)


# -- the cell table ----------------------------------------------------------------------


def _cells(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    cells = source.cells()
    counts = [c for c in cells.columns if c == "count" or c.startswith("count_")]
    keep = ["h3", "resolution", "place_type", "place_name", *counts, "harm"]
    keep += ["gi_class", "emerging", "risk_class", "risk_factors", "agencies_now"]
    keep += ["interventions_now", "gap"]
    if "risk" in cells:
        cells["risk_class"] = risk_classes(cells["risk"].to_numpy(dtype=np.float64))
    cells["gap"] = _gap_status(source.gaps(), cells["h3"])
    if rule.applies:
        cells["harm"] = publish_harm(cells["harm"], cells["count"], rule)
        for column in counts:
            cells[column] = publish_count(cells[column], rule)
    else:
        keep += ["risk", "relative_risk", "gi_z", "gi_p_adj", "first_month", "last_month"]
        keep += ["months_active"]
    frame = _with_cells(cells[[c for c in keep if c in cells.columns]])
    title = CELL_LAYERS["cells"]
    style = (
        _risk_class_style(title)
        if "risk_class" in frame
        else _count_style(frame["count"], rule, title)
    )
    notes = (
        "One row per H3 cell of the study; counts over the whole study period.",
        "risk_class: the cell's rank by contextual risk (high = top 10% of cells, medium = "
        "next 20%, low = the rest).",
    )
    return ExportLayer("cells", title, frame, style, False, notes)


def _gap_status(gaps: gpd.GeoDataFrame | None, h3: pd.Series) -> np.ndarray:
    if gaps is None:
        return np.full(len(h3), None, dtype=object)
    status = pd.Series(gaps["gap"].to_numpy(), index=gaps["h3"].to_numpy())
    return h3.map(status).to_numpy(dtype=object)


def _risk_class_style(title: str) -> LayerStyle:
    classes = tuple(
        StyleClass(key, label, _RISK_CLASS_COLOURS[key]) for key, label in RISK_CLASS_LABELS.items()
    )
    return LayerStyle(title, "polygon", "categorized", "risk_class", classes)


# -- map layers over the whole study -----------------------------------------------------


def _risk(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    cells = pd.DataFrame(source.study.cells.drop(columns="geometry"))
    risk = cells["risk"].to_numpy(dtype=np.float64)
    cells["risk_class"] = risk_classes(risk)
    cells["risk_rank"] = pd.Series(-risk).rank(method="min").astype("int64").to_numpy()
    keep = ["h3", "risk_class", "risk_factors"]
    if not rule.applies:
        keep[2:2] = ["risk", "relative_risk", "risk_rank"]
    frame = _with_cells(cells[[c for c in keep if c in cells.columns]])
    title = "Contextual risk: expected incidents next month"
    if rule.applies:
        style = _risk_class_style("Contextual risk (rank of cells)")
    else:
        risk = frame["risk"].to_numpy(dtype=np.float64)
        style = graduated_style(risk, title, RISK_ANCHORS, attribute="risk")
    notes = (
        "Contextual risk from the place-exposure (risk terrain) model; published as classes "
        "of cells ranked by risk, not as values.",
    )
    return ExportLayer("risk", CELL_LAYERS["risk"], frame, style, False, notes)


def _hotspots(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    cells = pd.DataFrame(source.study.cells.drop(columns="geometry"))
    cells["gi_bin"] = cells["gi_bin"].fillna(0).astype("int64").clip(-3, 3)
    cells["gi_class"] = cells["gi_bin"].map({k: v[0] for k, v in GI_CLASSES.items()})
    keep = ["h3", "gi_bin", "gi_class"] + ([] if rule.applies else ["gi_z", "gi_p_adj"])
    frame = _with_cells(cells[keep])
    classes = tuple(StyleClass(k, label, colour) for k, (label, colour) in GI_CLASSES.items())
    style = LayerStyle("Hot spots (Getis-Ord Gi*)", "polygon", "categorized", "gi_bin", classes)
    notes = (
        "Getis-Ord Gi* of incident counts with the Benjamini-Hochberg false discovery rate; "
        "gi_bin 3/2/1 = hot spot at 99/95/90% confidence, -1..-3 cold spots.",
    )
    return ExportLayer("hotspots", CELL_LAYERS["hotspots"], frame, style, False, notes)


def _emerging(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    cells = pd.DataFrame(source.study.cells.drop(columns="geometry"))
    cells = cells.loc[cells["emerging"].notna() & (cells["emerging"] != _NO_PATTERN)]
    keep = ["h3", "emerging", "hot_periods", "cold_periods"]
    keep += [] if rule.applies else ["trend_z", "trend_p"]
    frame = _with_cells(cells[[c for c in keep if c in cells.columns]].reset_index(drop=True))
    present = set(frame["emerging"])
    classes = tuple(StyleClass(k, k, v) for k, v in EMERGING_COLOURS.items() if k in present)
    style = (
        LayerStyle("Emerging hot spots", "polygon", "categorized", "emerging", classes)
        if classes
        else LayerStyle("Emerging hot spots (none found)", "polygon")
    )
    notes = ("Gi* per month and a Mann-Kendall trend (ESRI's emerging hot spot categories).",)
    return ExportLayer("emerging", CELL_LAYERS["emerging"], frame, style, False, notes)


def _gaps(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    gaps = source.gaps()
    assert gaps is not None  # available_layers checked
    frame = pd.DataFrame(gaps.drop(columns="geometry"))
    counts = [c for c in ("count", "last_3_months", "previous_3_months") if c in frame]
    if rule.applies:
        for column in counts:
            frame[column] = publish_count(frame[column], rule)
        frame = frame.drop(columns=[c for c in ("risk", "cluster_risk") if c in frame])
    frame = _with_cells(frame.reset_index(drop=True))
    classes = tuple(StyleClass(k, k, v) for k, v in GAP_COLOURS.items())
    style = LayerStyle(
        "Gaps in coverage of high-risk cells", "polygon", "categorized", "gap", classes
    )
    notes = ("High-risk cells (top 10% by contextual risk) with no agency working there, or one.",)
    return ExportLayer("gaps", CELL_LAYERS["gaps"], frame, style, False, notes)


def _interventions(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    work = source.interventions()
    assert work is not None  # available_layers checked
    drop = [c for c in (*_DROP_ALWAYS, "start", "end") if c in work]
    if rule.applies:
        drop += [c for c in ("notes", "cost") if c in work]
    frame = gpd.GeoDataFrame(work.drop(columns=drop), geometry=_footprints(work), crs=WGS84)
    types = [t for t in INTERVENTION_COLOURS if t in set(frame["type"].astype(str))]
    classes = tuple(StyleClass(t, t, INTERVENTION_COLOURS[t]) for t in types)
    style = (
        LayerStyle("Interventions by type", "polygon", "categorized", "type", classes,
                   fill_opacity=0.35, outline="#333333", line_width=0.8, no_data_colour="#555555",
                   no_data="other types" if len(types) < frame["type"].nunique() else None)
        if classes
        else LayerStyle("Interventions", "polygon", fill_opacity=0.35)
    )  # fmt: skip
    notes = ("Each intervention's footprint: a point's circle of radius_m, a route, or an area.",)
    return ExportLayer("interventions", CELL_LAYERS["interventions"], frame, style, False, notes)


def _footprints(work: gpd.GeoDataFrame) -> np.ndarray:
    """Points become circles of ``radius_m`` (drawn in metres, in BNG); others stay."""
    geoms = np.asarray(work.geometry.array, dtype=object).copy()
    radius = work["radius_m"].to_numpy(dtype=np.float64) if "radius_m" in work else None
    if radius is None:
        return geoms
    points = np.array([g is not None and g.geom_type == "Point" for g in geoms]) & (radius > 0)
    if points.any():
        metric = gpd.GeoSeries(geoms[points], crs=WGS84).to_crs(BNG)
        circles = metric.buffer(radius[points], quad_segs=16).to_crs(WGS84)
        geoms[points] = np.asarray(circles.array, dtype=object)
    return geoms


# -- places and incidents ----------------------------------------------------------------


def _place_layer(study: Study, spec: Mapping[str, Any]) -> ExportLayer:
    places = study.places().features
    name = str(spec["name"])
    rows = places.loc[places["layer"] == name].reset_index(drop=True)
    rows = rows.drop(columns=[c for c in _DROP_ALWAYS if c in rows])
    style_spec = spec.get("style", {}) or {}
    kind = str(spec.get("kind", "polygon"))
    style = LayerStyle(
        str(spec.get("title", name)),
        kind,
        colour=str(style_spec.get("colour", "#555555")),
        fill_opacity=float(style_spec.get("fill_opacity", 0.35)),
        outline=str(style_spec.get("colour", "#555555")),
        line_width=float(style_spec.get("weight", 1)) * 0.5,
    )
    notes = (f"Place features of the {name} layer in the study region (OpenStreetMap, ODbL).",)
    return ExportLayer(name, style.title, gpd.GeoDataFrame(rows, crs=WGS84), style, False, notes)


def _incidents(
    source: _Source, rule: DisclosureRule, index: IncidentIndex | None, flt: CellFilter | None
) -> ExportLayer:
    points = source.study.incidents()
    if "in_scope" in points:
        points = points.loc[points["in_scope"].to_numpy(dtype=bool)].reset_index(drop=True)
    if index is not None and flt is not None:
        points = points.loc[filter_mask(index, flt)].reset_index(drop=True)
    keep = [c for c in _INCIDENT_COLUMNS if c in points.columns]
    frame = gpd.GeoDataFrame(points[keep], geometry=points.geometry.to_numpy(), crs=WGS84)
    style = LayerStyle("Incidents (internal)", "point", colour="#b2182b", point_size=3.0)
    notes = (
        "Incident points: INTERNAL ONLY, never to be published.",
        "police.uk points are snapped to anonymous map points; dates are to the month.",
    )
    return ExportLayer("incidents", "Incidents (internal only)", frame, style, True, notes)


_Builder = Callable[
    [_Source, DisclosureRule, "IncidentIndex | None", "CellFilter | None"], ExportLayer
]
_BUILDERS: Mapping[str, _Builder] = {
    "counts": _counts,
    "cells": _cells,
    "risk": _risk,
    "hotspots": _hotspots,
    "emerging": _emerging,
    "gaps": _gaps,
    "interventions": _interventions,
    "incidents": _incidents,
}
