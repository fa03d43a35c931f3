"""The area dashboard (blueprint ``dashboard``): headline figures, charts and the gap list.

``/dashboard`` is the page (charts drawn on the server as SVG, :mod:`web.charts`, so it needs
no script) and ``/api/dashboard`` the same figures as JSON (:func:`dashboard_figures`).

**Disclosure control.** The incidents involve children: every incident count and harm figure
passes through :mod:`geojtai.disclosure` with the request's rule
(:func:`web.published.current_rule`) — exact for editors and admins, published for everyone
else (counts of 1 to ``DISCLOSURE_THRESHOLD − 1`` suppressed, others rounded to 5, harm and
risk from suppressed counts withheld, the rest to 2 significant figures). Suppressed values are
``null`` in JSON and "fewer than 10" on the page, whose footer states the rule. Numbers of
cells, agencies and interventions are not about people and are shown as they are. Risk values
(expected incidents) are internal, as on the map page: the published gap list ranks cells by
risk without showing it.

**Coverage** follows the live interventions register: the top-10 % figures are recomputed
from the area's cells (``risk`` and ``agencies_now``) with the same rule as
``coverage.json`` (:func:`geojtai.bivariate.top_risk_positions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
from flask import Blueprint, Response, render_template, url_for

from geojtai import coverage
from geojtai.bivariate import HIGH_SHARE, top_risk_positions
from geojtai.disclosure import DisclosureRule, publish_count, publish_harm, publish_table
from geojtai.io.studyfolder import Study
from web.charts import bar_chart, line_chart
from web.compare import NO_RISK, live_depth
from web.incidents import ELSEWHERE, study_months
from web.published import current_rule, suppressed_text
from web.state import Area, ServedPlaces, current_area, requested_area_name

__all__ = [
    "HEADLINE_PLACES",
    "LAST_MONTHS",
    "dashboard_bp",
    "dashboard_figures",
    "dashboard_page",
    "shown",
]

dashboard_bp = Blueprint("dashboard", __name__)

#: The place types whose share of incidents is a headline figure.
HEADLINE_PLACES = ("parks", "streets", "shopping_centres")
#: The recent period of the headline figures, in months.
LAST_MONTHS = 12
_OTHER_COLOUR = "#9e9e9e"


# -- one job each ---------------------------------------------------------------------------


def dashboard_figures(area: Area, rule: DisclosureRule) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready data, with ``rule`` applied.

    Returns
    -------
    dict
        ``study`` (``name``, ``area``, ``first_month``, ``last_month``, ``months``);
        ``disclosure`` (``internal``, ``threshold``, ``rule``: the sentence for the footer);
        ``incidents`` (``total`` and ``last_12_months``, each with ``incidents`` and
        ``harm``); ``monthly`` (``month``, ``incidents``, ``harm``); ``places``
        (``available``, ``message``, ``shares`` per place type, ``headline`` for parks,
        streets and shopping centres); ``coverage`` (``available``, ``message``,
        ``top_cells``, ``covered_cells``, ``covered_share``, ``multi_agency_cells``,
        ``multi_agency_share``, ``mean_agencies_covered``, ``interventions_active``,
        ``gap_cells``, ``period``, ``version``); ``coverage_by_month`` (``coverage.json``'s
        ``by_month`` without ``harm_covered`` for published views, or ``[]``); ``gaps``
        (``available``, ``message``, ``rows``: ``rank``, ``h3``, ``gap``, ``agencies``,
        ``risk`` (internal only), ``place_type``, ``place_name``, ``cluster``,
        ``cluster_cells``, ``risk_factors``, ``emerging``, ``incidents``, ``last_3_months``,
        ``previous_3_months``, ``map_url``).
        Suppressed figures are ``None``.
    """
    study = area.study
    months = study_months(area)
    return {
        "study": {
            "name": area.title,
            "area": area.name,
            "first_month": months[0] if months else None,
            "last_month": months[-1] if months else None,
            "months": len(months),
        },
        "disclosure": {
            "internal": not rule.applies,
            "threshold": rule.threshold,
            "rule": rule.describe(),
        },
        "incidents": _incidents(study, months, rule),
        "monthly": _monthly(study, months, rule),
        "places": _places(area.places, rule),
        "coverage": _coverage(area, months),
        "coverage_by_month": _coverage_by_month(area.deployment.coverage, rule),
        "gaps": _gaps(area, rule),
    }


def dashboard_page(area: Area, rule: DisclosureRule) -> dict[str, Any]:
    """The page's context: :func:`dashboard_figures`, its charts (SVG) and a formatter."""
    figures = dashboard_figures(area, rule)
    gap = suppressed_text(rule) if rule.applies else "no value"
    monthly = figures["monthly"]
    charts = {
        "monthly": line_chart(
            [m["month"] for m in monthly],
            [m["incidents"] for m in monthly],
            title="Incidents per month",
            x_label="Month",
            y_label="Incidents",
            chart_id="chart-monthly",
            gap_label=gap,
        ),
        "places": _place_chart(area.places, figures["places"], gap),
        "coverage": _coverage_chart(figures["coverage_by_month"]),
    }
    suppressed = sum(m["incidents"] is None for m in monthly)
    return {
        **figures,
        "charts": charts,
        "suppressed_months": suppressed,
        "gap_label": gap,
        "shown": shown,
        "map_url": url_for("maps.index", **_keep_area()),
    }


def shown(value: float | None, *, percent: bool = False, gap: str = "fewer than 10") -> str:
    """A figure as the page writes it: ``1,234``, ``12.5%``, or ``gap`` when suppressed.

    Examples
    --------
    >>> shown(1234.0), shown(0.125, percent=True), shown(None)
    ('1,234', '12.5%', 'fewer than 10')
    """
    if value is None:
        return gap
    if percent:
        return f"{100 * value:.1f}%"
    return f"{value:,.0f}" if float(value) == round(float(value)) else f"{value:,.2f}"


# -- the sections ---------------------------------------------------------------------------


def _incidents(study: Study, months: list[str], rule: DisclosureRule) -> dict[str, Any]:
    """Incidents and harm over the whole study and its last :data:`LAST_MONTHS` months."""
    series = _series(study, months)
    recent = series.iloc[-LAST_MONTHS:]
    exact = np.array([series["count"].sum(), recent["count"].sum()], dtype=float)
    harm = np.array([series["harm"].sum(), recent["harm"].sum()], dtype=float)
    counts, harms = publish_count(exact, rule), publish_harm(harm, exact, rule)
    has_harm = "harm" in study.cell_months.columns
    return {
        "total": {"incidents": _plain(counts[0]), "harm": _plain(harms[0]) if has_harm else None},
        "last_12_months": {
            "from": str(recent.index[0]) if len(recent) else None,
            "to": str(recent.index[-1]) if len(recent) else None,
            "incidents": _plain(counts[1]),
            "harm": _plain(harms[1]) if has_harm else None,
        },
    }


def _monthly(study: Study, months: list[str], rule: DisclosureRule) -> list[dict[str, Any]]:
    """Incidents and harm per month of the study, every month (0 when none)."""
    series = _series(study, months).rename(columns={"count": "incidents"})
    frame = publish_table(
        series.reset_index(names="month"), ["incidents"], rule, harm_columns={"harm": "incidents"}
    )
    has_harm = "harm" in study.cell_months.columns
    return [
        {
            "month": str(r["month"]),
            "incidents": _plain(r["incidents"]),
            "harm": _plain(r["harm"]) if has_harm else None,
        }
        for r in frame.to_dict("records")
    ]


def _places(places: ServedPlaces, rule: DisclosureRule) -> dict[str, Any]:
    """Share of incidents and harm per place type over the whole study."""
    share = places.share
    if share.empty or "period" not in share.columns:
        message = "This study was built without place layers, so incidents have no place type."
        return {"available": False, "message": message, "shares": [], "headline": []}
    rows = share.loc[share["period"].astype(str) == "all"].reset_index(drop=True)
    frame = publish_table(
        rows,
        ["incidents"],
        rule,
        harm_columns={"harm": "incidents"},
        share_columns={"share_incidents": "incidents", "share_harm": "harm"},
    )
    titles = {name: layer.spec.get("title", name) for name, layer in places.layers.items()}
    shares = [
        {
            "place_type": str(r["place_type"]),
            "title": titles.get(str(r["place_type"]), ELSEWHERE),
            "incidents": _plain(r["incidents"]),
            "harm": _plain(r["harm"]),
            "share_incidents": _plain(r["share_incidents"], 4),
            "share_harm": _plain(r["share_harm"], 4),
        }
        for r in frame.to_dict("records")
    ]
    found = {row["place_type"]: row for row in shares}
    headline = [
        {
            "place_type": name,
            "title": titles.get(name, name.replace("_", " ").capitalize()),
            "available": name in places.layers,
            "share_incidents": found[name]["share_incidents"] if name in found else None,
        }
        for name in HEADLINE_PLACES
    ]
    return {"available": True, "message": None, "shares": shares, "headline": headline}


def _coverage(area: Area, months: list[str]) -> dict[str, Any]:
    """How well the live deployment covers the top 10 % of cells by risk."""
    cells, deployment = area.cells, area.deployment
    if "risk" not in cells.columns:
        return {"available": False, "message": NO_RISK}
    if len(deployment.interventions) == 0:
        message = "No interventions are registered for this area, so coverage cannot be shown."
        return {"available": False, "message": message}
    depth = live_depth(area)
    chosen = depth[top_risk_positions(cells["risk"], HIGH_SHARE)]
    covered = chosen > 0
    return {
        "available": True,
        "message": None,
        "period": months[-1] if months else None,
        "top_share": HIGH_SHARE,
        "top_cells": int(chosen.size),
        "covered_cells": int(covered.sum()),
        "covered_share": _ratio(covered.sum(), chosen.size),
        "multi_agency_cells": int((chosen >= 2).sum()),
        "multi_agency_share": _ratio((chosen >= 2).sum(), chosen.size),
        "mean_agencies_covered": round(float(chosen[covered].mean()), 2) if covered.any() else None,
        "interventions_active": _active_now(area, months),
        "gap_cells": None if deployment.gaps is None else len(deployment.gaps),
        "version": deployment.version,
    }


def _coverage_by_month(figures: Mapping[str, Any], rule: DisclosureRule) -> list[dict[str, Any]]:
    """``coverage.json``'s ``by_month``; published views drop ``harm_covered``, a share of a
    month's harm that could give away a small count."""
    hidden = {"harm_covered"} if rule.applies else set()
    return [
        {k: v for k, v in row.items() if k not in hidden} for row in figures.get("by_month", [])
    ]


def _gaps(area: Area, rule: DisclosureRule) -> dict[str, Any]:
    """The gap cells, riskiest first, each with a link to the map at that cell."""
    gaps = area.deployment.gaps
    if gaps is None:
        message = "No gap list: this area has no interventions register to compare with risk."
        return {"available": False, "message": message, "rows": []}
    frame = pd.DataFrame(gaps.drop(columns="geometry", errors="ignore"))
    frame = frame.sort_values("risk", ascending=False, kind="stable").reset_index(drop=True)
    counts = [c for c in ("count", "last_3_months", "previous_3_months") if c in frame.columns]
    frame = publish_table(frame, counts, rule)
    if rule.applies:  # as on the map: published views rank by risk but show no values
        frame["risk"] = np.nan
    keep = _keep_area()
    rows = [
        {
            "rank": i + 1,
            "h3": str(r["h3"]),
            "gap": r.get("gap"),
            "agencies": _plain(r.get("agencies")),
            "risk": _plain(r.get("risk"), 3),
            "place_type": _text(r.get("place_type")),
            "place_name": _text(r.get("place_name")),
            "cluster": _plain(r.get("cluster")),
            "cluster_cells": _plain(r.get("cluster_cells")),
            "risk_factors": _text(r.get("risk_factors")),
            "emerging": _text(r.get("emerging")),
            "incidents": _plain(r.get("count")),
            "last_3_months": _plain(r.get("last_3_months")),
            "previous_3_months": _plain(r.get("previous_3_months")),
            "map_url": url_for("maps.index", cell=str(r["h3"]), **keep),
        }
        for i, r in enumerate(frame.to_dict("records"))
    ]
    note = None if rows else "No gaps: every high-risk cell has two or more agencies now."
    return {"available": True, "message": note, "rows": rows}


# -- helpers ----------------------------------------------------------------------------------


def _series(study: Study, months: Sequence[str]) -> pd.DataFrame:
    """Exact ``count`` and ``harm`` per month, every month of the study (index: month)."""
    table = study.cell_months
    values = table.assign(
        month=table["month"].astype(str),
        harm=table["harm"] if "harm" in table.columns else 0.0,
    )
    sums = values.groupby("month")[["count", "harm"]].sum()
    return sums.reindex(list(months), fill_value=0).astype(float)


def _active_now(area: Area, months: list[str]) -> int:
    """Interventions active in the study's last month (``coverage.json``'s ``active_now``)."""
    frame = area.deployment.interventions
    if len(frame) == 0:
        return 0
    if "start_month" in frame.columns and months:
        ends = frame["end_month"] if "end_month" in frame.columns else [None] * len(frame)
        active = coverage.active_months(
            frame["start_month"].astype(str).to_numpy(), list(ends), months
        )
        return int(active[:, -1].sum())
    ids = area.cells.get("intervention_ids", pd.Series([], dtype=object)).fillna("")
    return len({i for s in ids.astype(str) for i in s.split(";") if i})


def _place_chart(places: ServedPlaces, section: Mapping[str, Any], gap: str) -> str | None:
    if not section["available"]:
        return None
    colours = {
        name: str(layer.spec.get("style", {}).get("fill_colour") or _OTHER_COLOUR)
        for name, layer in places.layers.items()
    }
    rows = section["shares"]
    return bar_chart(
        [row["title"] for row in rows],
        [row["share_incidents"] for row in rows],
        title="Share of incidents by place type, whole study",
        x_label="Share of incidents",
        chart_id="chart-places",
        colours=[colours.get(row["place_type"], _OTHER_COLOUR) for row in rows],
        gap_label=gap,
    )


def _coverage_chart(by_month: Sequence[Mapping[str, Any]]) -> str | None:
    if not by_month:
        return None
    return line_chart(
        [str(m["month"]) for m in by_month],
        [m.get("top_10pct_covered") for m in by_month],
        title="Share of today's top 10% risk cells covered, by month",
        x_label="Month",
        y_label="Top-risk cells covered",
        chart_id="chart-coverage",
        percent=True,
        colour="#2166ac",
    )


def _keep_area() -> dict[str, Any]:
    """``study=NAME`` for links when the request named its area."""
    name = requested_area_name()
    return {"study": name} if name else {}


def _ratio(part: float | np.integer[Any], whole: int) -> float:
    return round(float(part) / whole, 4) if whole else 0.0


def _plain(value: Any, digits: int | None = None) -> Any:
    """A table value as JSON: NaN and missing to ``None``, whole floats to ``int``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if digits is not None:
            return round(value, digits)
        return int(value) if value == round(value) else round(value, 4)
    return value


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or str(value) == "" else str(value)


# -- views ------------------------------------------------------------------------------------


@dashboard_bp.get("/dashboard")
def page() -> str:
    """The area dashboard: headline figures, charts and the gap list."""
    return render_template("dashboard.html", **dashboard_page(current_area(), current_rule()))


@dashboard_bp.get("/api/dashboard")
def api() -> Response:
    """The dashboard's figures as JSON (suppressed figures are ``null`` for viewers)."""
    figures = dashboard_figures(current_area(), current_rule())
    return Response(orjson.dumps(figures), mimetype="application/json")
