"""The incident counts a request may see: its filters, then the disclosure rule of its role.

Every incident count the app sends comes from here: the cells (:func:`displayed_cells`),
the totals (:func:`incident_summary`), the place question (:func:`place_question`) and one
cell's series (:func:`cell_counts`). Each first applies the request's filters
(:mod:`geojtai.filters`: period, category, source, age band, weekday, time of day, place
type, cell size) and then its disclosure rule (:mod:`web.published`), so viewers never
receive a count below the threshold, whatever they filter.

A study folder without ``incidents.parquet`` (built by an early version) cannot be
filtered; its counts come from its cell tables, by month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from flask import current_app, request
from werkzeug.exceptions import BadRequest

from geojtai import grid
from geojtai.disclosure import DisclosureRule, publish_cells, publish_count, publish_table
from geojtai.errors import FilterError
from geojtai.filters import (
    FILTER_KEYS,
    HOUR_BANDS,
    WEEKDAYS,
    CellFilter,
    IncidentIndex,
    filter_mask,
    filter_summary,
    filtered_breakdown,
    filtered_cells,
    parse_filter,
)
from web.published import current_rule, published_number, suppressed_text
from web.state import Area, ServedPlaces

__all__ = [
    "ELSEWHERE",
    "CellQuery",
    "cell_counts",
    "displayed_cells",
    "displayed_counts",
    "drawable",
    "filter_options",
    "incident_summary",
    "place_question",
    "requested_month",
    "requested_query",
    "study_months",
]

ELSEWHERE = "Elsewhere"  # the title of place type ``other``: no place layer
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
#: Time-of-day choices offered in the filter panel (value → label).
HOUR_CHOICES = {
    "after_school": "After school (15:00–18:59)",
    "7-10": "Morning journey (07:00–09:59)",
    "19-23": "Evening (19:00–22:59)",
    "23-7": "Night (23:00–06:59)",
}
_TITLES = {
    "category": "Category",
    "source": "Source agency",
    "age": "Age band",
    "place_type": "Place type",
    "weekday": "Day of week",
}


@dataclass(frozen=True)
class CellQuery:
    """What a request asks of the incidents: its filter and the rule for what it may see.

    Attributes
    ----------
    filter
        The parsed filter, or ``None`` for a study that cannot be filtered.
    rule
        The disclosure rule of the request's role.
    month
        The legacy ``?month=`` (also given to the filter as its period).
    """

    filter: CellFilter | None
    rule: DisclosureRule
    month: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether anything narrows the incidents (a period, a category, ...)."""
        return self.filter is not None and self.filter != CellFilter(
            resolution=self.filter.resolution
        )


def study_months(area: Area) -> list[str]:
    """The study's months from its manifest, or else those in its cell × month table."""
    months = area.study.months
    return months or sorted(area.study.cell_months["month"].astype(str).unique())


def requested_month(area: Area) -> str | None:
    """The ``?month=YYYY-MM`` of the request, checked against the study; ``None`` for all.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        The month is malformed or outside the study.
    """
    month = request.args.get("month", "").strip()
    if not month:
        return None
    if not _MONTH.fullmatch(month):
        raise BadRequest(f"`month` must look like 2024-03 (YYYY-MM); {month!r} was given.")
    months = study_months(area)
    if month not in months:
        span = f"{months[0]} to {months[-1]}" if months else "no months"
        raise BadRequest(f"The month {month} is not in this study ({span}).")
    return month


def requested_query(area: Area) -> CellQuery:
    """The request's filters (``from``, ``to``, ``category``, ``source``, ``age``,
    ``place_type``, ``weekday``, ``hours``, ``resolution``; ``month`` for one month) and
    the disclosure rule of its role.

    Raises
    ------
    werkzeug.exceptions.BadRequest
        A filter value is not valid; the message names each bad one and the valid values.
    """
    month = requested_month(area)
    args = {key: request.args.get(key, "") for key in FILTER_KEYS if request.args.get(key)}
    if month:
        args.setdefault("from", month)
        args.setdefault("to", month)
    if area.index is None:
        asked = sorted(set(args) - {"from", "to"})
        if asked:
            msg = (
                f"This study was built without its incidents file, so it cannot be filtered "
                f"by {', '.join(asked)}; rebuild it with `geojtai build`."
            )
            raise BadRequest(msg)
        return CellQuery(None, current_rule(), month)
    try:
        flt = parse_filter(args, area.index)
    except FilterError as exc:
        raise BadRequest(str(exc)) from exc
    if "resolution" not in args:
        flt = drawable(area.index, flt, int(current_app.config.get("MAX_CELLS_DRAWN", 20_000)))
    return CellQuery(flt, current_rule(), month)


def drawable(index: IncidentIndex, flt: CellFilter, most: int) -> CellFilter:
    """``flt`` at the finest resolution (study's first, then coarser) whose map has at most
    ``most`` cells, so a browser draws it quickly; the coarsest allowed when none does.

    Only when the request names no resolution: an explicit cell size is always honoured.
    """
    for resolution in sorted(index.resolutions, reverse=True):
        chosen = replace(flt, resolution=resolution)
        if filter_summary(index, chosen)["cells"] <= most:
            return chosen
    return replace(flt, resolution=min(index.resolutions))


def displayed_counts(area: Area, query: CellQuery) -> pd.DataFrame:
    """The cells and counts to show, filtered, then disclosure-controlled.

    Returns
    -------
    pandas.DataFrame
        ``h3``, ``count`` (``NaN`` where suppressed), ``harm`` (internal profile only) and
        ``rolled_up`` (child cells merged into a parent row; published profile); only
        cells with incidents. Parent rows come first, so a map draws them under the cells
        shown on their own.
    """
    if query.filter is not None and area.index is not None:
        found = filtered_cells(area.index, query.filter)
    else:
        found = _table_counts(area, query.month)
    if query.rule.applies:
        found = publish_cells(found["h3"], found["count"], query.rule, min_resolution=0)
        found = found.sort_values("rolled_up", ascending=False, kind="stable")
        found = found[["h3", "count", "rolled_up"]]
    return found.reset_index(drop=True)


def displayed_cells(area: Area, query: CellQuery) -> gpd.GeoDataFrame:
    """:func:`displayed_counts` with each cell's polygon (EPSG:4326), for folium maps."""
    found = displayed_counts(area, query)
    geometry = grid.cell_polygons(grid.cells_from_hex(found["h3"].to_numpy(dtype=object)))
    return gpd.GeoDataFrame(found, geometry=geometry, crs="EPSG:4326")


def _table_counts(area: Area, month: str | None) -> pd.DataFrame:
    """Counts from the study's cell tables (no incident index): all months or one."""
    columns = [c for c in ("count", "harm") if c in area.study.cells.columns]
    if month is None:
        cells = area.study.cells
        return pd.DataFrame(cells.loc[cells["count"].to_numpy() > 0, ["h3", *columns]])
    table = area.study.cell_months
    return table.loc[table["month"].astype(str) == month, ["h3", *columns]].reset_index(drop=True)


def incident_summary(area: Area, query: CellQuery, cells: pd.DataFrame) -> dict[str, Any]:
    """Name, months, the filter in words, the cells shown and the total count (published).

    ``total_count`` is ``None`` when it is itself below the threshold for a viewer.
    """
    months = study_months(area)
    exact = _exact_summary(area, query, cells)
    return {
        "name": area.title,
        "months": months,
        "month": query.month,
        "n_cells": len(cells),
        "resolution": _resolution(area, query),
        "total_count": published_number(exact["incidents"], query.rule),
        "total_text": _count_text(exact["incidents"], query.rule),
        "description": exact["description"],
        "unknown_time_excluded": exact["unknown_time_excluded"],
        "profile": query.rule.profile,
        "rule": query.rule.describe(),
    }


def _resolution(area: Area, query: CellQuery) -> int:
    """The H3 resolution of the cells shown."""
    if query.filter is not None and query.filter.resolution is not None:
        return query.filter.resolution
    return area.resolution


def _exact_summary(area: Area, query: CellQuery, cells: pd.DataFrame) -> dict[str, Any]:
    if query.filter is not None and area.index is not None:
        return filter_summary(area.index, query.filter)
    table = _table_counts(area, query.month)
    return {
        "incidents": int(table["count"].sum()),
        "description": query.month or "all months",
        "unknown_time_excluded": 0,
    }


def _count_text(value: float, rule: DisclosureRule) -> str:
    shown = published_number(value, rule)
    return suppressed_text(rule) if shown is None else f"{shown:,} incidents"


# -- the place question ------------------------------------------------------------------


def place_question(area: Area, query: CellQuery) -> dict[str, Any]:
    """Where the filtered incidents happened: share of incidents and harm per place type.

    Returns
    -------
    dict
        ``month``, ``description``, ``total_incidents`` and ``total_harm``; ``shares``, one
        row per place type in priority order then ``other`` ("Elsewhere"), with
        ``incidents`` (``None`` where suppressed), ``harm``, ``share_incidents`` and
        ``share_harm`` computed from the numbers shown; ``top_places``, the named places
        with most incidents over the whole study (for viewers, those whose count may be
        shown, rounded).
    """
    places = area.places
    titles = {name: layer.spec.get("title", name) for name, layer in places.layers.items()}
    table = _place_counts(area, query)
    exact = float(table["incidents"].sum()) if len(table) else 0.0
    if query.rule.applies:
        table = publish_table(
            table,
            ["incidents"],
            query.rule,
            harm_columns={"harm": "incidents"},
            share_columns={"share_incidents": "incidents", "share_harm": "harm"},
        )
    shares = [
        {
            "place_type": str(r["place_type"]),
            "title": titles.get(str(r["place_type"]), ELSEWHERE),
            "incidents": _int_or_none(r["incidents"]),
            "harm": _round_or_none(r["harm"], 3),
            "share_incidents": _round_or_none(r["share_incidents"], 6),
            "share_harm": _round_or_none(r["share_harm"], 6),
        }
        for r in table.to_dict("records")
    ]
    return {
        "month": query.month,
        "description": query.filter and _describe(area, query),
        "total_incidents": published_number(exact, query.rule),
        "total_harm": round(float(np.nansum(table["harm"].to_numpy(dtype=float))), 3),
        "shares": shares,
        "top_places": _top_places(places, titles, query.rule),
        "rule": query.rule.describe(),
    }


def _describe(area: Area, query: CellQuery) -> str:
    if area.index is None or query.filter is None:
        return ""
    return str(filter_summary(area.index, query.filter)["description"])


def _place_counts(area: Area, query: CellQuery) -> pd.DataFrame:
    """Incidents and harm per place type (priority order, then ``other``) with shares."""
    order = [*area.places.layers, "other"]
    if query.filter is not None and area.index is not None:
        found = filtered_breakdown(area.index, query.filter, "place_type")
        found = found.rename(columns={"label": "place_type", "count": "incidents"})
    else:
        found = _share_table(area.places, query.month)
    found = found.set_index("place_type").reindex(
        [p for p in order if p in set(found["place_type"])]
        + sorted(set(found["place_type"]) - set(order))
    )
    found = found.fillna(0).reset_index()
    total, harm = float(found["incidents"].sum()), float(found["harm"].sum())
    found["share_incidents"] = found["incidents"] / total if total else 0.0
    found["share_harm"] = found["harm"] / harm if harm else 0.0
    return found[["place_type", "incidents", "harm", "share_incidents", "share_harm"]]


def _share_table(places: ServedPlaces, month: str | None) -> pd.DataFrame:
    share = places.share
    if share.empty:
        return pd.DataFrame({"place_type": [], "incidents": [], "harm": []})
    rows = share.loc[share["period"].astype(str) == (month or "all")]
    return pd.DataFrame(rows[["place_type", "incidents", "harm"]]).reset_index(drop=True)


def _top_places(
    places: ServedPlaces, titles: dict[str, str], rule: DisclosureRule
) -> list[dict[str, Any]]:
    top = places.top
    if top.empty:
        return []
    shown = publish_count(top["incidents"].to_numpy(dtype=float), rule)
    keep = ~np.isnan(shown)
    return [
        {
            "place_type": str(r["place_type"]),
            "title": titles.get(str(r["place_type"]), ELSEWHERE),
            "rank": int(r["rank"]),
            "place_name": str(r["place_name"]),
            "incidents": int(n),
            "harm": round(float(r["harm"]), 3) if not rule.applies else None,
        }
        for r, n, k in zip(top.to_dict("records"), shown, keep, strict=True)
        if k
    ]


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _round_or_none(value: Any, digits: int) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), digits)


# -- one cell ------------------------------------------------------------------------------


def cell_counts(area: Area, query: CellQuery, h3: str) -> dict[str, Any]:
    """The filtered incidents of one cell (study resolution or coarser): total and series.

    Returns
    -------
    dict
        ``count`` (``None`` where suppressed), ``count_text``, ``harm`` (internal only),
        ``months`` and ``series`` (per month of the filter's period; ``None`` where
        suppressed).
    """
    if query.filter is None or area.index is None:
        months, counts, harm = _table_series(area, h3)
    else:
        months, counts, harm = _index_series(area.index, query.filter, h3)
    rule = query.rule
    series = publish_count(counts.astype(float), rule)
    total, text = published_number(float(counts.sum()), rule), None
    if rule.applies and counts.sum() > 0:
        total, text, merged = _as_on_the_map(area, query, h3)
        if merged:  # a parent holding only its small children's remainder: no series
            series = np.full(series.size, np.nan)
    return {
        "count": total,
        "count_text": text or (suppressed_text(rule) if total is None else f"{total:,}"),
        "harm": None if rule.applies else round(float(harm), 3),
        "months": months,
        "series": [None if np.isnan(v) else int(v) for v in series],
    }


def _as_on_the_map(area: Area, query: CellQuery, h3: str) -> tuple[int | None, str | None, bool]:
    """A published cell's count exactly as the map shows it (the map is the authority, so
    the panel never reveals more than the cell's colour): the cell's own rounded count, or
    for a parent the merged remainder of its small children; otherwise withheld."""
    shown = displayed_counts(area, query)
    row = shown.loc[shown["h3"] == h3]
    if row.empty:
        return None, f"{suppressed_text(query.rule)} (counted in a larger cell on the map)", False
    value = row["count"].iloc[0]
    merged = int(row["rolled_up"].iloc[0]) > 0
    if pd.isna(value):
        return None, suppressed_text(query.rule), merged
    text = f"{int(value):,}" + (" (its smaller cells with few incidents, merged)" if merged else "")
    return int(value), text, merged


def _index_series(
    index: IncidentIndex, flt: CellFilter, h3: str
) -> tuple[list[str], np.ndarray, float]:
    ids = grid.cells_from_hex([h3])
    resolution = int(grid.cell_resolution(ids)[0])
    if resolution == index.resolution:
        positions = np.flatnonzero(index.cell_ids == ids[0])
    else:
        parents = grid.cell_parents(index.cell_ids, resolution)
        positions = np.flatnonzero(parents == ids[0])
    mask = filter_mask(index, flt) & np.isin(index.cell, positions)
    summary = filter_summary(index, flt)
    lo, hi = index.months.index(summary["month_from"]), index.months.index(summary["month_to"])
    counts = np.bincount(index.month[mask], minlength=len(index.months))[lo : hi + 1]
    return list(index.months[lo : hi + 1]), counts, float(index.harm[mask].sum())


def _table_series(area: Area, h3: str) -> tuple[list[str], np.ndarray, float]:
    months = study_months(area)
    table = area.study.cell_months
    rows = table.loc[table["h3"] == h3]
    by_month = rows.groupby(rows["month"].astype(str))["count"].sum()
    counts = by_month.reindex(months, fill_value=0).to_numpy(dtype=np.int64)
    harm = float(rows["harm"].sum()) if "harm" in rows else 0.0
    return months, counts, harm


# -- the filter panel ----------------------------------------------------------------------


def filter_options(area: Area) -> dict[str, Any] | None:
    """The choices of the filter panel, from the study's incidents and interventions.

    ``None`` for a study that cannot be filtered (no incident index).
    """
    index = area.index
    if index is None:
        return None
    titles = {name: layer.spec.get("title", name) for name, layer in area.places.layers.items()}
    titles["other"] = ELSEWHERE
    fields = [
        ("category", index.categories, {}),
        ("source", index.sources, {}),
        ("age", index.age_bands, {}),
        ("place_type", index.place_types, titles),
        (
            "weekday",
            tuple(w.lower()[:3] for w in WEEKDAYS),
            dict(zip((w.lower()[:3] for w in WEEKDAYS), WEEKDAYS, strict=True)),
        ),
    ]
    known = len(index) - index.unknown_time
    return {
        "months": list(index.months),
        "fields": [
            {
                "name": name,
                "title": _TITLES[name],
                "options": [{"value": v, "label": labels.get(v, v)} for v in values],
            }
            for name, values, labels in fields
            if len(values) > 1 or name == "weekday"
        ],
        "hour_bands": [
            {"value": value, "label": label}
            for value, label in HOUR_CHOICES.items()
            if value in HOUR_BANDS or "-" in value
        ],
        "resolutions": [
            {
                "value": r,
                "label": f"H3 resolution {r}{' (finest)' if r == index.resolution else ''}",
            }
            for r in sorted(index.resolutions, reverse=True)
        ],
        "intervention_fields": _intervention_fields(area),
        "time_note": (
            f"Day and time filters use the {known:,} of {len(index):,} incidents with a known time."
            if index.unknown_time
            else "Every incident has a known time."
        ),
    }


def _intervention_fields(area: Area) -> list[dict[str, Any]]:
    frame = area.deployment.interventions
    if frame.empty:
        return []
    agencies = sorted({a for s in frame["agencies"].dropna() for a in str(s).split(";") if a})
    types = sorted({str(t) for t in frame.get("type", pd.Series(dtype=object)).dropna()})
    fields = [("agency", "Agency", agencies), ("type", "Intervention type", types)]
    return [
        {"name": name, "title": title, "options": [{"value": v, "label": v} for v in values]}
        for name, title, values in fields
        if values
    ]
