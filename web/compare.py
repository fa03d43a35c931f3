"""Risk against deployment (blueprint ``compare``): two synchronised maps and a bivariate map.

``/compare`` shows contextual risk (left, ``/api/cells.geojson?layer=risk``) beside the
deployment now (right: cells by how many agencies work there, ``/api/coverage.geojson``,
under the interventions, ``/api/interventions.geojson``); moving one map moves the other
(``static/compare.js``). A second view puts both on one map, ``/api/bivariate.geojson``:
each cell in one of 3 × 3 risk × coverage classes (:mod:`geojtai.bivariate`), high risk
with no coverage in red.

Coverage comes from the area's live deployment (:attr:`web.state.Area.cells`), so the maps
follow changes to the interventions register. Numbers here are of cells, agencies and
interventions, never of people, so no count is suppressed; as on the map page's risk layer,
risk values (expected incidents) are for internal figures only: published views get each
cell's class, not its value (:func:`web.published.current_rule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
from flask import Blueprint, Response, current_app, render_template, url_for
from werkzeug.exceptions import NotFound

from geojtai.bivariate import (
    BIVARIATE_COLOURS,
    COVERAGE_CLASSES,
    COVERAGE_TITLES,
    RISK_CLASSES,
    RISK_TITLES,
    bivariate_classes,
    class_counts,
    coverage_classes,
)
from geojtai.maps import cells_geojson
from web.published import current_rule
from web.state import Area, current_area, requested_area_name

__all__ = [
    "DEPTH_COLOURS",
    "DEPTH_TITLES",
    "NO_RISK",
    "bivariate_layer",
    "bivariate_summary",
    "compare_bp",
    "compare_page",
    "coverage_layer",
    "live_depth",
]

compare_bp = Blueprint("compare", __name__)

#: Coverage depth now: no agency, one, two or more.
DEPTH_COLOURS: Mapping[str, str] = {"none": "#d9d9d9", "single": "#9ecae1", "multi": "#2166ac"}
DEPTH_TITLES: Mapping[str, str] = {
    "none": "no agency",
    "single": "single agency",
    "multi": "multi-agency (2 or more)",
}
_DEPTH_OPACITY: Mapping[str, float] = {"none": 0.35, "single": 0.8, "multi": 0.85}
NO_RISK = (
    "This study was built without the risk model (no `risk` column in its cells), so risk "
    "cannot be compared with deployment. Rebuild it with a current geojtai."
)


# -- one job each ---------------------------------------------------------------------------


def live_depth(area: Area) -> np.ndarray:
    """Distinct agencies working in each of the area's cells now (0 without interventions)."""
    cells = area.cells
    if "agencies_now" not in cells.columns:
        return np.zeros(len(cells), dtype=np.int64)
    return cells["agencies_now"].fillna(0).to_numpy(dtype=np.int64)


def coverage_layer(area: Area) -> bytes:
    """The cells coloured by coverage depth now, as GeoJSON with a ``legend`` member.

    Returns
    -------
    bytes
        A FeatureCollection of every cell of the study: ``h3``, ``value`` (agencies),
        ``interventions`` (active interventions), ``coverage_class`` (``none``, ``single``,
        ``multi``), ``label`` (tooltip text), ``fill`` and ``fill_opacity``; ``legend`` is
        ``{"title", "items": [{"colour", "label", "cells"}], "note"}``.
    """
    cells = area.cells
    depth = live_depth(area)
    classes = coverage_classes(depth)
    count = (
        cells["interventions_now"].fillna(0).to_numpy(dtype=np.int64)
        if "interventions_now" in cells.columns
        else np.zeros(len(cells), dtype=np.int64)
    )
    frame = gpd.GeoDataFrame(
        {
            "h3": cells["h3"].to_numpy(),
            "value": depth,
            "interventions": count,
            "coverage_class": classes,
            "label": [_depth_label(a, n) for a, n in zip(depth, count, strict=True)],
            "fill": [DEPTH_COLOURS[c] for c in classes],
            "fill_opacity": [_DEPTH_OPACITY[c] for c in classes],
        },
        geometry=cells.geometry.to_numpy(),
        crs=cells.crs,
    )
    tally = pd.Series(classes).value_counts()
    legend = {
        "title": "Coverage now: agencies per cell",
        "items": [
            {"colour": DEPTH_COLOURS[c], "label": DEPTH_TITLES[c], "cells": int(tally.get(c, 0))}
            for c in COVERAGE_CLASSES
        ],
        "note": "" if len(area.deployment.interventions) else "No interventions registered.",
    }
    data = cells_geojson(frame, properties=[c for c in frame.columns if c != "geometry"])
    return _with_members(data, {"legend": legend})


def bivariate_layer(area: Area, *, show_risk: bool) -> bytes:
    """Every cell in its risk × coverage class, as GeoJSON with a ``legend`` member.

    Parameters
    ----------
    area
        The area served.
    show_risk
        Give each cell's risk value (internal figures); otherwise ``risk`` is ``null`` and
        the label names the class only.

    Returns
    -------
    bytes
        A FeatureCollection: ``h3``, ``risk`` (rounded to 3 decimals, or ``null``),
        ``agencies``, ``risk_class``, ``coverage_class``, ``class`` (``"high-none"``),
        ``label``, ``fill`` and ``fill_opacity``; ``legend`` is :func:`bivariate_summary`.

    Raises
    ------
    werkzeug.exceptions.NotFound
        The study has no ``risk`` column (:data:`NO_RISK`).
    """
    cells = _cells_with_risk(area)
    depth = live_depth(area)
    classes = bivariate_classes(cells["risk"], depth)
    risk = np.round(cells["risk"].to_numpy(dtype="float64"), 3)
    if not show_risk:
        risk = np.full(risk.size, np.nan)
    frame = gpd.GeoDataFrame(
        {
            "h3": cells["h3"].to_numpy(),
            "risk": [None if np.isnan(r) else float(r) for r in risk],
            "agencies": depth,
            **{c: classes[c].to_numpy() for c in ("risk_class", "coverage_class", "class")},
            "label": [
                _bivariate_label(rc, cc, r, a, show_risk=show_risk)
                for rc, cc, r, a in zip(
                    classes["risk_class"], classes["coverage_class"], risk, depth, strict=True
                )
            ],
            "fill": classes["fill"].to_numpy(),
            "fill_opacity": classes["fill_opacity"].to_numpy(),
        },
        geometry=cells.geometry.to_numpy(),
        crs=cells.crs,
    )
    data = cells_geojson(frame, properties=[c for c in frame.columns if c != "geometry"])
    return _with_members(data, {"legend": bivariate_summary(classes)})


def bivariate_summary(classes: pd.DataFrame) -> dict[str, Any]:
    """The bivariate legend: a 3 × 3 grid of classes with their cells, and one sentence.

    Parameters
    ----------
    classes
        :func:`geojtai.bivariate.bivariate_classes` of the area's cells.

    Returns
    -------
    dict
        ``title``; ``risk_classes`` and ``coverage_classes`` (``{"name", "title"}``, rows
        high risk first, columns least coverage first); ``rows``, a 3 × 3 list of
        ``{"class", "risk_class", "coverage_class", "colour", "cells"}``; ``counts``
        (``{"high-none": 12, ...}``); ``high_none`` and ``high_single`` (cells); and
        ``sentence``, such as "12 high-risk cells have no coverage; 3 have a single agency."
    """
    table = class_counts(classes)  # rows high risk first, columns least coverage first
    counts: dict[str, int] = {
        f"{r}-{c}": int(table.to_numpy()[i, j])
        for i, r in enumerate(table.index)
        for j, c in enumerate(table.columns)
    }
    rows = [
        [
            {
                "class": f"{r}-{c}",
                "risk_class": r,
                "coverage_class": c,
                "colour": BIVARIATE_COLOURS[f"{r}-{c}"],
                "cells": counts[f"{r}-{c}"],
            }
            for c in COVERAGE_CLASSES
        ]
        for r in reversed(RISK_CLASSES)
    ]
    return {
        "title": "Risk × coverage now",
        "risk_classes": [{"name": r, "title": RISK_TITLES[r]} for r in reversed(RISK_CLASSES)],
        "coverage_classes": [{"name": c, "title": COVERAGE_TITLES[c]} for c in COVERAGE_CLASSES],
        "rows": rows,
        "counts": counts,
        "high_none": counts["high-none"],
        "high_single": counts["high-single"],
        "sentence": _sentence(counts),
    }


def compare_page(area: Area) -> dict[str, Any]:
    """The compare page's context: titles, the bivariate legend and the script's settings.

    Without a ``risk`` column the page still shows the deployment and says why risk is
    missing (``risk_missing``); ``bivariate`` is then ``None``.
    """
    has_risk = "risk" in area.cells.columns
    name = requested_area_name()
    keep: dict[str, Any] = {"study": name} if name else {}
    summary = (
        bivariate_summary(bivariate_classes(area.cells["risk"], live_depth(area)))
        if has_risk
        else None
    )
    settings = {
        "risk_url": url_for("api.cells", layer="risk", **keep),
        "coverage_url": url_for("compare.coverage_geojson", **keep),
        "interventions_url": url_for("api.interventions", **keep),
        "bivariate_url": url_for("compare.bivariate_geojson", **keep),
        "has_risk": has_risk,
        "tiles": current_app.config.get("TILES"),
        "attribution": current_app.config.get("TILES_ATTRIBUTION"),
    }
    return {
        "title": area.title,
        "n_interventions": len(area.deployment.interventions),
        "risk_missing": None if has_risk else NO_RISK,
        "bivariate": summary,
        "page": settings,
    }


# -- helpers ----------------------------------------------------------------------------------


def _cells_with_risk(area: Area) -> gpd.GeoDataFrame:
    cells = area.cells
    if "risk" not in cells.columns:
        raise NotFound(NO_RISK)
    return cells


def _depth_label(agencies: int, interventions: int) -> str:
    if agencies == 0:
        return "no agency working here now"
    work = f"{interventions} intervention{'s' if interventions != 1 else ''}"
    return f"{agencies} agenc{'ies' if agencies != 1 else 'y'} now ({work})"


def _bivariate_label(
    risk_class: str, coverage_class: str, risk: float, agencies: int, *, show_risk: bool
) -> str:
    now = f"{agencies} agenc{'ies' if agencies != 1 else 'y'} now"
    if show_risk:
        value = "no value" if np.isnan(risk) else f"{risk:.2f}"
        now = f"risk {value} expected incidents next month, {now}"
    return f"{RISK_TITLES[risk_class]}, {COVERAGE_TITLES[coverage_class]}: {now}"


def _sentence(counts: Mapping[str, int]) -> str:
    none, single = counts["high-none"], counts["high-single"]
    high = none + single + counts["high-multi"]
    if high == 0:
        return "No cell has a high risk: the study's risk is zero everywhere."
    if none == 0 and single == 0:
        return f"Every one of the {high} high-risk cells has two or more agencies."
    if none == 0:
        verb = "have" if single != 1 else "has"
        return (
            f"Every high-risk cell has some coverage, but {single} of the {high} {verb} "
            "a single agency only."
        )
    if none == high:
        return (
            "The one high-risk cell has no coverage."
            if high == 1
            else f"All {high} high-risk cells have no coverage."
        )
    verb = "have" if none != 1 else "has"
    text = f"{none} of the {high} high-risk cells {verb} no coverage"
    if single:
        text += f"; {single} more {'have' if single != 1 else 'has'} a single agency only"
    return text + "."


def _with_members(data: bytes, members: Mapping[str, Any]) -> bytes:
    """A FeatureCollection (orjson bytes, ending in ``}``) with more top-level members."""
    extra = orjson.dumps(dict(members), option=orjson.OPT_SERIALIZE_NUMPY)
    return data[:-1] + b"," + extra[1:]


def _geojson(data: bytes) -> Response:
    return Response(data, mimetype="application/geo+json")


# -- views ------------------------------------------------------------------------------------


@compare_bp.get("/compare")
def page() -> str:
    """Risk and deployment side by side, and the risk × coverage map."""
    return render_template("compare.html", **compare_page(current_area()))


@compare_bp.get("/api/coverage.geojson")
def coverage_geojson() -> Response:
    """The cells coloured by agencies working there now (0 / 1 / 2+), with a legend."""
    return _geojson(coverage_layer(current_area()))


@compare_bp.get("/api/bivariate.geojson")
def bivariate_geojson() -> Response:
    """Every cell's risk × coverage class (3 × 3), with the legend; 404 without risk.

    Risk values are for internal figures only; published views get the classes.
    """
    show_risk = not current_rule().applies
    return _geojson(bivariate_layer(current_area(), show_risk=show_risk))
