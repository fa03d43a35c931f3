"""The evidence pack of one area, and an overview across areas, as a :class:`Document`.

An inspector's or a partnership's board paper in one file: where incidents happen (parks,
streets, shopping centres), hot spots and emerging trends, the risk map and what drives it,
coverage and gaps by agency, the impact of interventions with intervals, data quality and
the methods with their caveats. Every number passes through the disclosure rule first (the
*publishable* profile unless asked otherwise); maps and charts are images.
:mod:`geojtai.io.reportwriter` renders the document to HTML or PDF.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geojtai import charts
from geojtai.disclosure import DisclosureRule, publish_count, publish_table
from geojtai.document import (
    Block,
    Bullets,
    Document,
    Figure,
    KeyFigures,
    Note,
    Paragraph,
    Section,
    Table,
)
from geojtai.exports import ExportLayer, available_layers, build_layers, graduated_style
from geojtai.io.auditlog import append_audit, audit_time
from geojtai.io.reportwriter import write_report
from geojtai.io.studyfolder import Study
from geojtai.staticmap import MapLayer, figure_png, static_map
from geojtai.studyexport import ATTRIBUTION, CONTEXT_LAYERS, MARKINGS, Actor, ExportResult
from geojtai.symbology import LayerStyle

__all__ = ["HEADLINE_PLACES", "evidence_pack", "overview", "write_evidence"]

HEADLINE_PLACES = ("parks", "streets", "shopping_centres")
_TOP_GAPS = 15
_MAP_SIZE = (10.0, 7.0)
_OTHER = "Elsewhere"
_FLAGGED = 0.05  # the share of the area flagged in the backtest table
#: The study's cells as a faint grid under a layer that covers only some of them.
_OUTLINE = LayerStyle("Study cells", "polygon", colour="#ffffff", fill_opacity=0.0,
                      outline="#d0d7de", line_width=0.2)  # fmt: skip


def write_evidence(
    studies: Sequence[Study],
    out: Path | str,
    rule: DisclosureRule,
    *,
    actor: Actor,
    marking: str | None = None,
) -> ExportResult:
    """Write the evidence pack of one study, or the overview of several, to HTML or PDF, and
    record it in each study's audit log.

    Raises
    ------
    SettingsError
        ``out`` is not ``.html``/``.htm``/``.pdf``.
    StudyError
        A study cannot be read, or an audit log cannot be written.
    """
    doc = (
        evidence_pack(studies[0], rule, marking=marking)
        if len(studies) == 1
        else overview(studies, rule, marking=marking)
    )
    path = Path(out)
    sha = write_report(doc, path)
    entry: dict[str, Any] = {
        "time": audit_time(),
        "action": "report" if len(studies) == 1 else "overview",
        "who": actor.name, "role": actor.role, "via": actor.via,
        "studies": [s.name for s in studies], "format": path.suffix.lstrip(".").lower(),
        "profile": rule.profile, "threshold": rule.threshold, "rounding": rule.rounding,
        "sections": [section.heading for section in doc.sections],
        "file": path.name, "sha256": sha,
    }  # fmt: skip
    for study in studies:
        append_audit(study.path, {**entry, "study": study.name})
    return ExportResult(path, sha, {"sections": len(doc.sections)}, entry)


def evidence_pack(study: Study, rule: DisclosureRule, *, marking: str | None = None) -> Document:
    """The evidence pack of one area.

    Parameters
    ----------
    study
        A built study.
    rule
        The disclosure rule (publishable for anything shared).
    marking
        Protective marking; by default that of the profile.
    """
    marking = marking or MARKINGS[rule.profile]
    sections = (
        _summary(study, rule),
        _place_question(study, rule),
        _hotspots(study, rule, marking),
        _risk(study, rule, marking),
        _coverage(study, rule, marking),
        _impact(study, rule),
        _data_quality(study, rule),
        _methods(study, rule),
    )
    return Document(
        title=f"{study.name}: evidence pack",
        marking=marking,
        subtitle=f"Serious youth violence in public places, {_period(study)}",
        sections=sections,
        metadata=_metadata(study.name, rule, marking),
    )


def _metadata(name: str, rule: DisclosureRule, marking: str) -> dict[str, str]:
    return {
        "study": name,
        "profile": rule.profile,
        "disclosure": rule.describe(),
        "marking": marking,
        "attribution": ATTRIBUTION,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _period(study: Study) -> str:
    months = study.months
    return f"{months[0]} to {months[-1]}" if months else "all months"


# -- numbers as they may be shown --------------------------------------------------------


def _shown(value: float, rule: DisclosureRule) -> str:
    """A count as text: withheld below the threshold, rounded otherwise."""
    out = float(publish_count(value, rule)[0])
    return f"fewer than {rule.threshold}" if np.isnan(out) else f"{out:,.0f}"


def _share(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.0f}%"


def _figure(fig: Any, caption: str, alt: str, width: float = 1.0) -> Figure:
    return Figure(figure_png(fig, dpi=130), caption, alt, width)


def _map(
    study: Study,
    layer: ExportLayer,
    rule: DisclosureRule,
    marking: str,
    title: str,
    *,
    over: Sequence[ExportLayer] = (),
    base: ExportLayer | None = None,
) -> Any:
    """A map of ``layer`` over the study's parks, shopping centres and streets, with
    ``over`` drawn on top of it. With a ``base`` (the study's cells, unstyled), the map
    shows the whole study rather than the extent of ``layer``."""
    have = set(available_layers(study, internal=False))
    context = build_layers(study, [n for n in CONTEXT_LAYERS if n in have], rule)
    under = [MapLayer(c.frame, c.style, legend=False) for c in context]
    if base is not None:
        under.insert(0, MapLayer(base.frame, _OUTLINE, legend=False))
    shown = [MapLayer(layer.frame, layer.style), *(MapLayer(x.frame, x.style) for x in over)]
    return static_map(
        [*under, *shown],
        title=title,
        subtitle=f"{study.name}, {_period(study)}",
        marking=marking,
        attribution=ATTRIBUTION,
        disclosure=rule.describe(),
        extent_from=0 if base is not None else len(under),
        size_in=_MAP_SIZE,
    )


# -- sections ----------------------------------------------------------------------------


def _summary(study: Study, rule: DisclosureRule) -> Section:
    total = float(study.cells["count"].sum())
    share = _place_shares(study, rule)
    coverage = study.coverage().get("overall", {}).get("top", {}).get("10%", {})
    gaps = study.gaps()
    items = [
        ("Incidents", _shown(total, rule), _period(study)),
        *((title, _share(s), "of incidents") for title, s in share.items()),
        ("Top-10% risk cells covered", _share(coverage.get("covered")), "by any intervention"),
        ("Gap cells", "–" if gaps is None else f"{len(gaps):,}", "high risk, 0 or 1 agency"),
    ]
    blocks: list[Block] = [KeyFigures(tuple(items)), Paragraph(_headline(study, share, coverage))]
    blocks.append(Note(rule.describe()))
    return Section("Summary", tuple(blocks))


def _headline(study: Study, share: Mapping[str, float | None], coverage: Mapping[str, Any]) -> str:
    parts = [f"{title.lower()} {_share(s)}" for title, s in share.items() if s is not None]
    text = f"Of the incidents recorded in {study.name} ({_period(study)}), " + (
        ", ".join(parts) + " happened in these places." if parts else "none could be placed."
    )
    if coverage:
        text += (
            f" Interventions covered {_share(coverage.get('covered'))} of the cells in the top 10% "
            f"by contextual risk; {_share(coverage.get('two_or_more'))} had two or more agencies."
        )
    return text


def _place_shares(study: Study, rule: DisclosureRule) -> dict[str, float | None]:
    table = _place_table(study, rule)
    if table.empty:
        return {}
    out: dict[str, float | None] = {}
    for key in HEADLINE_PLACES:
        row = table.loc[table["place_type"] == key]
        if len(row):
            out[str(row["title"].iloc[0])] = float(row["share_incidents"].iloc[0])
    return out


def _place_table(study: Study, rule: DisclosureRule) -> pd.DataFrame:
    share = study.places().share
    if share.empty:
        return share
    rows = share.loc[share["period"] == "all"].reset_index(drop=True)
    shown = publish_table(
        rows, ["incidents"], rule, harm_columns={"harm": "incidents"},
        share_columns={"share_incidents": "incidents", "share_harm": "harm"},
    )  # fmt: skip
    titles = {str(s["name"]): str(s.get("title", s["name"])) for s in study.places().layers}
    shown["title"] = shown["place_type"].map(lambda p: titles.get(p, _OTHER))
    return shown


def _place_question(study: Study, rule: DisclosureRule) -> Section:
    table = _place_table(study, rule)
    if table.empty:
        return Section(
            "Where incidents happen", (Note("This study was built without place layers."),)
        )
    columns = ("title", "incidents", "share_incidents", "share_harm")
    rows = tuple(
        (str(title), _count_text(n, rule), _share(share), _share(harm))
        for title, n, share, harm in table[list(columns)].itertuples(index=False)
    )
    blocks: list[Block] = [
        Paragraph(
            "Each incident is placed in the place type it happened in or next to (parks, "
            "streets, shopping centres, ...). police.uk locations are snapped to anonymous map "
            "points at street centres, parks and shopping centres, which is what makes this "
            "question answerable and also why a place is never more precise than its map point."
        ),
        Table(("Place type", "Incidents", "Share of incidents", "Share of harm"), rows,
              "Incidents by place type, whole period", (False, True, True, True)),
        _figure(
            charts.bar_chart(
                [str(t) for t in table["title"]], [_nan_none(v) for v in table["share_incidents"]],
                title="Share of incidents by place type", percent=True,
            ),
            "Share of incidents by place type (withheld where fewer than the threshold).",
            "Bar chart of the share of incidents in each place type.", 0.8,
        ),
    ]  # fmt: skip
    blocks += _top_places(study, rule)
    return Section("Where incidents happen: parks, streets and shopping centres", tuple(blocks))


def _count_text(value: float, rule: DisclosureRule) -> str:
    """A count already passed through the rule: NaN is a withheld one."""
    return "withheld" if np.isnan(value) else f"{value:,.0f}"


def _nan_none(value: Any) -> float | None:
    return None if value is None or not np.isfinite(float(value)) else float(value)


def _top_places(study: Study, rule: DisclosureRule) -> list[Block]:
    top = study.places().top
    if top.empty:
        return []
    top = top.loc[top["place_type"].isin(HEADLINE_PLACES)]
    shown = publish_table(top, ["incidents"], rule)
    shown = shown.loc[shown["incidents"].notna()].sort_values("incidents", ascending=False)
    rows = tuple(
        (str(r.place_name), str(r.place_type).replace("_", " "), f"{r.incidents:,.0f}")
        for r in shown.head(10).itertuples()
    )
    if not rows:
        return [
            Note(
                f"No named park, street or shopping centre had {rule.threshold} or more incidents."
            )
        ]
    return [
        Table(
            ("Place", "Type", "Incidents"),
            rows,
            "Named places with most incidents",
            (False, False, True),
        )
    ]


def _hotspots(study: Study, rule: DisclosureRule, marking: str) -> Section:
    names = available_layers(study, internal=False)
    blocks: list[Block] = [_trend(study, rule)]
    if "hotspots" in names:
        layer = build_layers(study, ["hotspots"], rule)[0]
        counts = layer.frame["gi_class"].value_counts()
        rows = tuple((str(k), f"{int(v):,}") for k, v in counts.items() if k != "not significant")
        blocks.append(_figure(_map(study, layer, rule, marking, "Hot spots (Getis-Ord Gi*)"),
                              "Hot and cold spots of incidents (Gi* with false discovery rate control).",
                              "Map of hot and cold spot cells."))  # fmt: skip
        blocks.append(Table(("Class", "Cells"), rows, "Cells by hot-spot class", (False, True)))
    if "emerging" in names:
        layer = build_layers(study, ["emerging"], rule)[0]
        counts = layer.frame["emerging"].value_counts()
        rows = tuple((str(k), f"{int(v):,}") for k, v in counts.items())
        if rows:
            base = build_layers(study, ["risk"], rule)[0] if "risk" in names else None
            blocks.append(_figure(
                _map(study, layer, rule, marking, "Emerging hot spots", base=base),
                "Cells whose hot-spot status changed over time (Gi* per month with a "
                "Mann-Kendall trend).", "Map of emerging hot and cold spot cells.",
            ))  # fmt: skip
            blocks.append(
                Table(("Trend", "Cells"), rows, "Emerging hot and cold spots", (False, True))
            )
        else:
            blocks.append(Note(
                "No emerging hot or cold spots: no cell's Gi* changed significantly over time."
            ))  # fmt: skip
    return Section("Hot spots and emerging trends", tuple(blocks))


def _trend(study: Study, rule: DisclosureRule) -> Figure:
    monthly = study.cell_months.groupby("month", sort=True)["count"].sum()
    months = study.months or [str(m) for m in monthly.index]
    values = monthly.reindex(months, fill_value=0).to_numpy(dtype=np.float64)
    shown = publish_count(values, rule)
    return _figure(
        charts.line_chart(months, {"Incidents": [_nan_none(v) for v in shown]},
                          title="Incidents per month", ylabel="incidents"),
        "Incidents per month (rounded to 5 and withheld below the threshold when published).",
        "Line chart of incidents per month.",
    )  # fmt: skip


def _risk(study: Study, rule: DisclosureRule, marking: str) -> Section:
    if "risk" not in study.cells.columns:
        return Section("Contextual risk", (Note("This study has no risk model."),))
    layer = build_layers(study, ["risk"], rule)[0]
    blocks: list[Block] = [
        Paragraph(
            "Contextual risk is the number of incidents a cell is expected to have next month "
            "given the places in and around it (risk terrain modelling: a penalised Poisson "
            "model of place exposures; relative risk value RRV = exp(β)). Cells are shown as "
            "the top 10%, the next 20% and the rest."
        ),
        _figure(_map(study, layer, rule, marking, "Contextual risk"),
                "Cells ranked by contextual risk.", "Map of cells by risk class."),
    ]  # fmt: skip
    factors = study.document("risk_model.json").get("rtm", {}).get("factors", [])
    rows = tuple((str(f["description"]), f"{float(f['rrv']):.2f}") for f in factors)
    if rows:
        blocks.append(Table(("What drives risk", "Relative risk (RRV)"), rows,
                            "Risk factors selected by the model", (False, True)))  # fmt: skip
    blocks += _evaluation(study)
    return Section("Contextual risk and what drives it", tuple(blocks))


def _evaluation(study: Study) -> list[Block]:
    """The last backtest (``geojtai evaluate``): hit rate, PAI and PEI when 5% of the area is
    flagged, and the hit-rate curves."""
    observed = study.document("evaluation.json").get("observed", {})
    summary = pd.DataFrame(observed.get("summary", []))
    if summary.empty:
        return [Note("No backtest yet: `geojtai evaluate STUDY_DIR` measures hit rate and PAI.")]
    at = summary.loc[np.isclose(summary["share"], _FLAGGED)]
    rows = tuple(
        (str(r.method).replace("_", " "), _fmt(r.hit_rate, pct=True), _fmt(r.pai), _fmt(r.pei))
        for r in at.itertuples()
    )
    curve = pd.DataFrame(observed.get("curve", []))
    blocks: list[Block] = [
        Table(("Method", "Hit rate", "PAI", "PEI"), rows,
              f"Backtest over {len(observed.get('origins', []))} months, {_FLAGGED:.0%} of the "
              "area flagged", (False, True, True, True)),
    ]  # fmt: skip
    if not curve.empty:
        shares = sorted(curve["share"].unique())
        series = {
            str(m).replace("_", " "): g.set_index("share")["hit_rate"].reindex(shares).tolist()
            for m, g in curve.groupby("method", sort=False)
        }
        chart = charts.line_chart([f"{s:.0%}" for s in shares], series, percent=True,
                                  title="Hit rate against the share of the area flagged",
                                  ylabel="incidents captured")  # fmt: skip
        blocks.append(_figure(chart, "Share of next month's incidents in the cells each method "
                              "flags, by the share of the area flagged.",
                              "Line chart of hit-rate curves.", 0.9))  # fmt: skip
    return blocks


def _fmt(value: Any, *, pct: bool = False) -> str:
    if not isinstance(value, (int, float)) or not np.isfinite(value):
        return "–"
    return f"{100 * value:.0f}%" if pct else f"{value:.2f}"


def _coverage(study: Study, rule: DisclosureRule, marking: str) -> Section:
    coverage = study.coverage()
    if not coverage:
        return Section("Coverage and gaps", (Note("This study was built without interventions."),))
    agencies = coverage.get("by_agency", {})
    names = sorted(agencies)
    top = [agencies[a].get("top", {}).get("10%", {}) for a in names]
    rows = tuple(
        (
            a,
            _share(t.get("covered")),
            _share(t.get("two_or_more")),
            _share(agencies[a].get("risk_covered")),
        )
        for a, t in zip(names, top, strict=True)
    )
    blocks: list[Block] = [
        Paragraph(
            "Coverage is the share of the highest-risk cells (top 10% by contextual risk) that "
            "an intervention's footprint reaches; multi-agency depth counts the agencies "
            "working in a cell. A gap is a top-10% cell with no agency, or only one."
        ),
        Table(("Agency", "Top-10% cells covered", "… with 2+ agencies", "Share of risk covered"),
              rows, "Coverage of high-risk cells by agency", (False, True, True, True)),
        _figure(charts.stacked_bar_chart(
            names, {"covered": [float(t.get("covered", 0.0)) for t in top],
                    "not covered": [1 - float(t.get("covered", 0.0)) for t in top]},
            title="Top-10% risk cells covered, by agency"),
            "Share of the top-10% risk cells each agency's work reaches.",
            "Stacked bar chart of coverage by agency.", 0.8),
    ]  # fmt: skip
    blocks += _deployment_map(study, rule, marking)
    blocks += _gap_blocks(study, rule, marking)
    return Section("Coverage and gaps by agency", tuple(blocks))


def _deployment_map(study: Study, rule: DisclosureRule, marking: str) -> list[Block]:
    """Risk and the interventions on one map: where work is, against where risk is."""
    names = available_layers(study, internal=False)
    if "risk" not in names or "interventions" not in names:
        return []
    risk, work = build_layers(study, ["risk", "interventions"], rule)
    figure = _map(study, risk, rule, marking, "Contextual risk and where work is deployed",
                  over=[work])  # fmt: skip
    return [_figure(figure, "Cells ranked by contextual risk, with each intervention's "
                    "footprint coloured by type.", "Map of risk classes with intervention "
                    "footprints over them.")]  # fmt: skip


def _gap_blocks(study: Study, rule: DisclosureRule, marking: str) -> list[Block]:
    if "gaps" not in available_layers(study, internal=False):
        return []
    layer = build_layers(study, ["gaps"], rule)[0]
    gaps = layer.frame.sort_values("rank").head(_TOP_GAPS)
    rows = tuple(
        (str(r.rank), str(r.place_name) if isinstance(r.place_name, str) else "–",
         str(r.place_type).replace("_", " "), str(r.gap), str(r.agencies),
         "withheld" if pd.isna(r.count) else f"{r.count:,.0f}")
        for r in gaps.itertuples()
    )  # fmt: skip
    return [
        _figure(_map(study, layer, rule, marking, "Gaps in coverage"),
                "High-risk cells with no agency, or one, working there.", "Map of gap cells."),
        Table(("Rank", "Place", "Type", "Gap", "Agencies", "Incidents"), rows,
              f"The {len(rows)} highest-risk gaps", (True, False, False, False, True, True)),
    ]  # fmt: skip


def _impact(study: Study, rule: DisclosureRule) -> Section:
    impact = study.coverage().get("impact", [])
    if not impact:
        return Section("Impact of interventions", (Note("No intervention could be evaluated."),))
    rows, labels, est, low, high = [], [], [], [], []
    for item in impact:
        counts = item.get("counts", {})
        small = rule.applies and any(
            float(counts.get(k, 0)) < rule.threshold for k in ("A0", "A1", "C0", "C1")
        )
        did = item.get("did", {})
        ratio = "too few incidents to publish" if small else _ratio(did)
        rows.append((str(item.get("name", item.get("id"))), str(item.get("type", "")),
                     _shown(float(counts.get("A0", 0)), rule), _shown(float(counts.get("A1", 0)), rule), ratio))  # fmt: skip
        labels.append(str(item.get("name", item.get("id"))))
        nan = float("nan")
        est.append(nan if small else float(did.get("estimate") or nan))
        low.append(nan if small else float(did.get("ci_low") or nan))
        high.append(nan if small else float(did.get("ci_high") or nan))
    blocks: list[Block] = [
        Paragraph(
            "For each intervention, incidents in its cells before and after it started are "
            "compared with similar control cells (difference in differences as a rate ratio "
            "with a 95% interval: below 1 means incidents fell relative to the controls). "
            "Intervals that cross 1 are not evidence of an effect."
        ),
        Table(("Intervention", "Type", "Before", "After", "Rate ratio (95% interval)"), tuple(rows),
              "Impact estimates", (False, False, True, True, True)),
        _figure(charts.interval_chart(labels, est, low, high, title="Rate ratio against controls",
                                      reference=1.0, xlabel="rate ratio (95% interval)"),
                "Rate ratios with 95% intervals; the line at 1 is no change.",
                "Forest plot of impact estimates."),
    ]  # fmt: skip
    return Section("Impact of interventions", tuple(blocks))


def _ratio(did: Mapping[str, Any]) -> str:
    est, low, high = did.get("estimate"), did.get("ci_low"), did.get("ci_high")
    if est is None:
        return "not estimable"
    if low is None or high is None:
        return f"{est:.2f}"
    return f"{est:.2f} ({low:.2f} to {high:.2f})"


def _data_quality(study: Study, rule: DisclosureRule) -> Section:
    manifest = study.manifest
    inputs = [
        i for i in manifest.get("inputs", []) if i.get("kind") in ("incidents", "interventions")
    ]
    rows = tuple(
        (", ".join(f["name"] for f in i.get("files", [])) or str(i.get("kind")), str(i.get("source") or i["kind"]),
         _shown(float(i.get("rows_read", 0)), rule), _shown(float(i.get("rows_valid", i.get("rows_read", 0))), rule),
         _shown(float(i.get("rows_rejected", 0)), rule))
        for i in inputs
    )  # fmt: skip
    reasons = manifest.get("reject_reasons", {})
    reason_rows = tuple(
        (str(k), _shown(float(v), rule)) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])
    )
    blocks: list[Block] = [
        Paragraph(
            "Every input row is validated; a row that cannot be used is kept in the study's "
            "rejects.csv with its file, row and reason, never dropped silently."
        ),
        Table(("File", "Source", "Rows read", "Valid", "Rejected"), rows, "Rows read per input",
              (False, False, True, True, True)),
    ]  # fmt: skip
    if reason_rows:
        blocks.append(
            Table(("Reason", "Rows"), reason_rows, "Why rows were rejected", (False, True))
        )
    return Section("Data quality", tuple(blocks))


def _methods(study: Study, rule: DisclosureRule) -> Section:
    resolution = study.manifest.get("settings", {}).get("resolution", 9)
    return Section(
        "Methods and caveats",
        (
            Bullets((
                f"Incidents are counted in H3 hexagonal cells at resolution {resolution} "
                "(resolution 9 cells are about 0.1 km², edges about 200 m).",
                "police.uk locations are snapped to anonymous map points (street centres, "
                "parks, shopping centres), so a cell's count is where the map point is, not "
                "the exact location; counts cluster on those points.",
                "Dates are known to the month only for police.uk data; time-of-day analyses use "
                "only sources with times.",
                "Hot spots: Getis-Ord Gi* with Benjamini-Hochberg false discovery rate control; "
                "emerging hot spots add a Mann-Kendall trend of Gi* per month.",
                "Contextual risk: risk terrain modelling (penalised Poisson model of place "
                "exposures); relative risk value RRV = exp(β).",
                "Impact: difference in differences against control cells, weighted "
                "displacement difference (Wheeler & Ratcliffe) and weighted displacement "
                "quotient (Bowers & Johnson). Associations, not proof of cause.",
                "Distances are measured in British National Grid (EPSG:27700).",
                "Published counts are rounded and small ones merged or withheld one table at a "
                "time; comparing many differently filtered exports could narrow a small number "
                "down, which is why every export is recorded in the study's audit log.",
            )),
            Note(rule.describe(), "warning" if not rule.applies else "info"),
            Paragraph(ATTRIBUTION),
        ),
    )  # fmt: skip


# -- overview across areas ---------------------------------------------------------------


def overview(
    studies: Sequence[Study], rule: DisclosureRule, *, marking: str | None = None
) -> Document:
    """One table and one map comparing areas, for a thematic summary."""
    marking = marking or MARKINGS[rule.profile]
    frame = _area_frame(studies, rule)
    rows = tuple(
        (str(r.name), str(r.period), _shown(r.incidents, rule), _per_km2(r.per_km2), _share(r.parks),
         _share(r.streets), _share(r.shopping_centres), _share(r.covered), str(r.gaps))
        for r in frame.itertuples()
    )  # fmt: skip
    table = Table(
        ("Area", "Period", "Incidents", "Per km²", "Parks", "Streets", "Shopping centres",
         "Top-10% covered", "Gap cells"), rows, "Areas compared",
        (False, False, True, True, True, True, True, True, True),
    )  # fmt: skip
    figure = _figure(_overview_map(frame, rule, marking), "Incidents per km² of each area's cells.",
                     "Map of the areas shaded by incidents per km².")  # fmt: skip
    section = Section("Areas compared", (table, figure, Note(rule.describe())))
    return Document(
        title="Overview across areas",
        marking=marking,
        subtitle=", ".join(s.name for s in studies),
        sections=(section,),
        metadata=_metadata("; ".join(s.name for s in studies), rule, marking),
    )


def _per_km2(value: float) -> str:
    return "withheld" if not np.isfinite(value) else f"{value:,.0f}"


def _area_frame(studies: Sequence[Study], rule: DisclosureRule) -> gpd.GeoDataFrame:
    records, shapes = [], []
    for study in studies:
        cells = study.cells.to_crs("EPSG:27700")
        km2 = float(cells.area.sum()) / 1e6
        total = float(study.cells["count"].sum())
        shown = float(publish_count(total, rule)[0])
        share: dict[str, float | None] = {k: None for k in HEADLINE_PLACES}
        table = _place_table(study, rule)
        for key in HEADLINE_PLACES:
            row = table.loc[table["place_type"] == key] if not table.empty else table
            share[key] = float(row["share_incidents"].iloc[0]) if len(row) else None
        top = study.coverage().get("overall", {}).get("top", {}).get("10%", {})
        gaps = study.gaps()
        records.append({"name": study.name, "period": _period(study), "incidents": shown,
                        "per_km2": shown / km2 if km2 else float("nan"), **share,
                        "covered": top.get("covered"), "gaps": "–" if gaps is None else len(gaps)})  # fmt: skip
        shapes.append(cells.union_all())
    return gpd.GeoDataFrame(pd.DataFrame(records), geometry=shapes, crs="EPSG:27700")


def _overview_map(frame: gpd.GeoDataFrame, rule: DisclosureRule, marking: str) -> Any:
    """Each area's cells, and a marker at its centre (areas far apart are specks at the
    scale that holds them all), shaded by incidents per km², labelled with its name."""
    values = frame["per_km2"].to_numpy(dtype=np.float64)
    withheld = "withheld" if np.isnan(values).any() else None
    title = "Incidents per km²"
    ramp = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
    areas = graduated_style(values, title, ramp, attribute="per_km2", no_data=withheld)
    points = gpd.GeoDataFrame(
        frame.drop(columns="geometry"),
        geometry=frame.geometry.representative_point(),
        crs=frame.crs,
    )
    marker = dataclasses.replace(areas, kind="point", point_size=14.0, fill_opacity=0.9)
    return static_map(
        [MapLayer(frame, areas, legend=False), MapLayer(points, marker, label_column="name")],
        title="Areas compared", subtitle="Incidents per km² of each area's cells",
        marking=marking, attribution=ATTRIBUTION, disclosure=rule.describe(), size_in=_MAP_SIZE,
    )  # fmt: skip
