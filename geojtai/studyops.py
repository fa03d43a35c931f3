"""Work on a built study: backtest the risk models, suggest deployments, weigh proposals.

``geojtai evaluate`` (:func:`evaluate_study`), ``geojtai plan`` (:func:`plan_study`) and
``geojtai plan --what-if`` (:func:`what_if_study`) read a study folder, run the core
(:mod:`evaluate`, :mod:`plan`, :mod:`coverage`) and write their report beside it.

The planner and the what-if also work in memory, on frames, for the web app:
:func:`suggest_sites` and :func:`what_if` (the ``*_study`` functions read a folder, call
them and write or format their report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geojtai import aggregate, analysis, coverage, deployment, evaluate, grid, places, plan, schema
from geojtai import io as gio
from geojtai.crs import wgs84_to_bng
from geojtai.errors import SchemaError, SettingsError
from geojtai.features import layer_of
from geojtai.io.studyfolder import EVALUATION, FEATURES, PLAN, load_study
from geojtai.layers import parse_layer_spec

__all__ = [
    "Suggestion",
    "WhatIf",
    "evaluate_study",
    "plan_problems",
    "plan_study",
    "suggest_sites",
    "what_if",
    "what_if_study",
    "what_if_text",
]

# --------------------------------------------------------------------------- backtest


def evaluate_study(
    path: Path,
    *,
    test_months: int = 6,
    horizon: int = 1,
    truth: Path | None = None,
) -> dict[str, Any]:
    """Backtest a built study: the risk models against the baselines (``geojtai evaluate``).

    Rolling origin over the last ``test_months`` months: at each origin every method sees
    only the months before it. With ``truth`` (a synthetic town's ``intensity.parquet``)
    the oracle joins, and the methods are also scored against the expected counts.

    Returns
    -------
    dict
        ``text`` (the summary tables for a terminal) and ``report`` (what is written to
        ``evaluation.json`` in the study folder).
    """
    from geojtai.io.sample import read_intensity  # the synthetic town's truth only

    # Check and load: the study's region cells as a panel, with their place features.
    study = load_study(path)
    panel, rows = analysis.study_panel(study.cells, study.cell_months)
    static = pd.read_parquet(path / FEATURES).iloc[rows].drop(columns="h3")
    specs = [parse_layer_spec(d["name"], _spec_data(d)) for d in study.places().layers]
    groups = {c: layer_of(c, specs) for c in static.columns}
    share = study.cells["area_fraction"].to_numpy(dtype=float)[rows]
    forecasters = analysis.study_forecasters(panel, static, share, groups)
    expected = None
    if truth is not None:
        expected = analysis.truth_matrix(read_intensity(truth), panel)
        forecasters["oracle"] = evaluate.oracle(expected)
    # Compute: observed counts, and (with the truth) expected counts.
    runs = {"observed": evaluate.rolling_origin(panel, forecasters, test_months=test_months,
                                                horizon=horizon)}  # fmt: skip
    if expected is not None:
        runs["expected"] = evaluate.rolling_origin(
            panel, forecasters, test_months=test_months, horizon=horizon, truth=expected
        )
    # Assemble: the tables and the report, written into the study folder.
    report = {
        "study": study.name,
        "cells": panel.n_cells,
        "test_months": test_months,
        "horizon": horizon,
        **{name: _backtest_record(res) for name, res in runs.items()},
    }
    gio.write_json(report, path / EVALUATION)
    text = "\n\n".join(
        f"scored against the {name} counts:\n{evaluate.format_summary(res)}"
        for name, res in runs.items()
    )
    return {"text": text, "report": report}


def _spec_data(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``layers.json`` entry back into the keys of a layer TOML file."""
    data = {k: v for k, v in entry.items() if k not in ("name", "style")}
    style = dict(entry.get("style", {}))
    if style.get("fill_colour") == style.get("colour"):
        style.pop("fill_colour", None)
    return {**data, "style": style}


def _backtest_record(result: evaluate.BacktestResult) -> dict[str, Any]:
    return {
        "origins": list(result.origins),
        "rri_variant": result.rri_variant,
        "summary": _records(result.summary),
        "folds": _records(result.folds),
        "curve": _records(result.curve),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.replace({np.nan: None})
    return [
        {str(k): (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Suggestion:
    """Suggested sites for teams, in memory (what ``plan.json`` holds, and its table).

    Attributes
    ----------
    table
        One row per suggested site in the order chosen: ``rank``, ``gain``, ``cumulative``,
        ``share_of_total``, ``cells_added``, ``h3``, ``lat``, ``lon``, ``place_type``,
        ``place_name``.
    report
        ``teams``, ``radius_m``, ``place_types``, ``value``, ``message`` and
        ``suggestions`` (the table's rows).
    """

    table: pd.DataFrame
    report: dict[str, Any]


@dataclass(frozen=True)
class WhatIf:
    """What proposed interventions add to the coverage of risk now, in memory.

    Attributes
    ----------
    report
        ``proposals`` (per proposal: ``id``, ``name``, ``cells``, ``harm_newly_covered``),
        ``harm_newly_covered``, ``share_of_uncovered_harm``, and the coverage figures
        ``before`` and ``after`` (:func:`geojtai.coverage.coverage_summary`).
    covered
        Per proposal (in order), the hex ids of the study cells it covers.
    newly_covered
        The hex ids of the cells no work covers now and a proposal would.
    """

    report: dict[str, Any]
    covered: list[list[str]]
    newly_covered: list[str]


def plan_problems(
    teams: object, radius_m: object, place_types: Sequence[str], layers: Sequence[str]
) -> list[str]:
    """Everything wrong with a planning request, one problem per item (empty when fine).

    Examples
    --------
    >>> plan_problems(0, -5.0, ["pubs"], ["parks"])  # doctest: +NORMALIZE_WHITESPACE
    ['teams must be a whole number ≥ 1; 0 was given',
     'radius_m must be a finite number of metres > 0; -5.0 was given',
     "unknown place types ['pubs']; valid ones are ['parks', 'other']"]
    """
    problems = []
    if isinstance(teams, bool) or not isinstance(teams, (int, np.integer)) or teams < 1:
        problems.append(f"teams must be a whole number ≥ 1; {teams!r} was given")
    ok = isinstance(radius_m, (int, float, np.integer, np.floating)) and not isinstance(
        radius_m, bool
    )
    if not ok or not (np.isfinite(float(radius_m)) and float(radius_m) > 0):  # type: ignore[arg-type]
        problems.append(f"radius_m must be a finite number of metres > 0; {radius_m!r} was given")
    valid = [*layers, places.OTHER]
    unknown = sorted(set(place_types) - set(valid))
    if unknown:
        problems.append(f"unknown place types {unknown}; valid ones are {valid}")
    return problems


def suggest_sites(
    cells: pd.DataFrame,
    *,
    layers: Sequence[str],
    teams: int,
    radius_m: float,
    place_types: Sequence[str] = (),
) -> Suggestion:
    """Suggest where ``teams`` teams of footprint ``radius_m`` would cover most expected harm.

    The value of a cell is its forecast incidents (``risk``) times its harm per incident
    (the study's mean where the cell has no history); cells that existing work covers now
    (``agencies_now`` > 0) count nothing; sites must lie in cells of the given place types
    (any when empty).

    Parameters
    ----------
    cells
        The study's cells (``cells.parquet``, or the live cells of a changed register).
    layers
        The study's place layer names (``place_types`` must be among them, or ``other``).
    teams, radius_m, place_types
        How many teams, the radius each covers (metres) and where they may be based.

    Raises
    ------
    SettingsError
        Listing every problem with ``teams``, ``radius_m`` and ``place_types``.
    """
    problems = plan_problems(teams, radius_m, place_types, layers)
    if problems:
        raise SettingsError("; ".join(problems), problems)
    inside = cells["area_fraction"].to_numpy(dtype=float) > 0
    cells = cells[inside].reset_index(drop=True)
    allowed = _allowed_sites(cells, place_types, list(layers))
    value = _expected_harm(cells)
    covered = cells["agencies_now"].to_numpy() > 0 if "agencies_now" in cells else None
    x, y = wgs84_to_bng(cells["lat"].to_numpy(float), cells["lon"].to_numpy(float))
    footprints = plan.site_footprints(np.asarray(x), np.asarray(y), radius_m=radius_m)
    chosen = plan.suggest(value, footprints, n_teams=teams, allowed=allowed, covered=covered)
    sites = cells.iloc[chosen["site"].to_numpy()].reset_index(drop=True)
    table = pd.concat(
        [chosen.drop(columns="site").reset_index(drop=True),
         sites[["h3", "lat", "lon", "place_type", "place_name"]]], axis=1,
    )  # fmt: skip
    report = {
        "teams": teams,
        "radius_m": radius_m,
        "place_types": list(place_types),
        "value": "expected harm next month (risk × harm per incident)",
        "message": chosen.attrs.get("message", ""),
        "suggestions": _records(table),
    }
    return Suggestion(table=table, report=report)


def plan_study(
    path: Path,
    *,
    teams: int,
    radius_m: float,
    place_types: Sequence[str] = (),
) -> dict[str, Any]:
    """Suggest sites for a built study (:func:`suggest_sites`) and write ``plan.json``.

    Returns
    -------
    dict
        ``text`` (a table for a terminal) and ``report`` (what ``plan.json`` holds).
    """
    study = load_study(path)
    layers = [d["name"] for d in study.places().layers]
    found = suggest_sites(
        study.cells, layers=layers, teams=teams, radius_m=radius_m, place_types=place_types
    )
    gio.write_json(found.report, path / PLAN)
    return {"text": _plan_text(found.table, found.report), "report": found.report}


def _allowed_sites(
    cells: pd.DataFrame, place_types: Sequence[str], layers: list[str]
) -> np.ndarray | None:
    if not place_types:
        return None
    valid = [*layers, places.OTHER]
    unknown = sorted(set(place_types) - set(valid))
    if unknown:
        msg = f"unknown place types {unknown}; valid ones are {valid}"
        raise SettingsError(msg)
    mask = cells["place_type"].isin(list(place_types)).to_numpy().copy()
    for kind in place_types:  # a site may also be any cell the place type touches
        for column in (f"frac_{kind}", f"n_{kind}"):
            if column in cells:
                mask |= cells[column].to_numpy(dtype=float) > 0
    return mask


def _expected_harm(cells: pd.DataFrame) -> np.ndarray:
    count = cells["count"].to_numpy(dtype=float)
    harm = cells["harm"].to_numpy(dtype=float) if "harm" in cells else count
    mean = harm.sum() / count.sum() if count.sum() > 0 else 1.0
    per = np.divide(harm, count, out=np.full(count.size, mean), where=count > 0)
    return np.clip(cells["risk"].to_numpy(dtype=float), 0, None) * per


def _plan_text(table: pd.DataFrame, report: dict[str, Any]) -> str:
    lines = [
        f"{report['teams']} teams, {report['radius_m']:g} m each: {report['message']}",
        f"{'rank':>4}  {'cell':<16} {'place':<34} {'gain':>9} {'share':>6}",
    ]
    for row in table.to_dict("records"):
        place = row["place_name"] or row["place_type"]
        lines.append(
            f"{row['rank']:>4}  {row['h3']:<16} {str(place)[:34]:<34} {row['gain']:>9.1f} "
            f"{row['share_of_total']:>6.1%}"
        )
    return "\n".join(lines)


def what_if(
    cells: pd.DataFrame,
    existing: gpd.GeoDataFrame | None,
    proposals: gpd.GeoDataFrame,
    *,
    months: Sequence[str],
    resolution: int,
    active: np.ndarray | None = None,
) -> WhatIf:
    """What valid proposed interventions would add to the coverage of risk now.

    The proposals are taken as active alongside the ``existing`` work active now: by
    default the work active in the latest of ``months``.

    Parameters
    ----------
    cells
        The study's cells (``h3``, ``risk``, ``count``, ``harm``).
    existing
        The interventions there are (validated), or ``None``.
    proposals
        Valid proposed interventions (:func:`geojtai.schema.validate_interventions`).
    months
        The study's months.
    resolution
        The study's H3 resolution.
    active
        Which of ``existing`` count now (a boolean per row), e.g. what an interventions
        register says is running today; default: active in the latest month by their dates.
    """
    h3 = cells["h3"].to_numpy(dtype=object)
    ids = grid.cells_from_hex(h3)
    index = pd.Index(ids)
    value = _expected_harm(cells)
    fp, agencies, by_dates = _existing_work(existing, months, resolution)
    active = by_dates if active is None else np.asarray(active, dtype=bool)
    new_fp = coverage.footprints(
        np.asarray(proposals.geometry.array, dtype=object),
        proposals["radius_m"].to_numpy(dtype=float),
        resolution=resolution,
    )
    before, _ = coverage.agency_depth(fp, agencies, active, ids)
    both = pd.concat([fp, new_fp.assign(item=new_fp["item"] + len(agencies))], ignore_index=True)
    agencies = np.concatenate([agencies, proposals["agencies"].fillna("").astype(str).to_numpy()])
    active = np.concatenate([active, np.ones(len(proposals), dtype=bool)])
    after, _ = coverage.agency_depth(both, agencies, active, ids)
    risk_now = cells["risk"].to_numpy(dtype=float)
    newly = (after > 0) & (before == 0)
    rows: list[dict[str, Any]] = []
    covered: list[list[str]] = []
    for item, row in enumerate(proposals.itertuples()):  # a handful of proposals
        pos = index.get_indexer(new_fp.loc[new_fp["item"] == item, "cell"].to_numpy())
        pos = pos[pos >= 0]
        covered.append([str(h) for h in h3[pos]])
        rows.append(
            {
                "id": str(row.id),
                "name": str(row.name),
                "cells": int(pos.size),
                "harm_newly_covered": round(float(value[pos][before[pos] == 0].sum()), 3),
            }
        )
    uncovered = value[before == 0].sum()
    report: dict[str, Any] = {
        "proposals": rows,
        "harm_newly_covered": round(float(value[newly].sum()), 3),
        "share_of_uncovered_harm": round(
            float(value[newly].sum() / uncovered) if uncovered else 0.0, 4
        ),
        "before": coverage.coverage_summary(risk_now, before),
        "after": coverage.coverage_summary(risk_now, after),
    }
    return WhatIf(report=report, covered=covered, newly_covered=[str(h) for h in h3[newly]])


def what_if_study(path: Path, proposals: Path) -> dict[str, Any]:
    """What proposed interventions (a file) would add to a built study's coverage of risk now.

    The proposals (an interventions file: points with a radius, polygons or routes, with
    their agencies) are taken as active alongside the work active in the latest month.

    Returns
    -------
    dict
        ``text`` and ``report``: coverage of risk before and after, the expected harm newly
        covered in all, and per proposal the cells it covers and the harm only it adds.

    Raises
    ------
    SchemaError
        A proposal cannot be used (the message names the file, row and reason).
    """
    study = load_study(path)
    valid, rejects = schema.validate_interventions(gio.read_interventions(proposals))
    if len(rejects):
        problems = [f"{r.file}: row {r.row}: {r.reason} ({r.detail})" for r in rejects.itertuples()]
        raise SchemaError("\n".join(problems), problems)
    resolution = int(study.manifest["settings"]["resolution"])
    found = what_if(
        study.cells, study.interventions(), valid, months=study.months, resolution=resolution
    )
    return {"text": what_if_text(found.report), "report": found.report}


def what_if_text(report: dict[str, Any]) -> str:
    """A what-if report (:func:`what_if`) as a few lines for a terminal."""
    rows = report["proposals"]
    top_b: dict[str, Any] = report["before"]["top"]["10%"]
    top_a: dict[str, Any] = report["after"]["top"]["10%"]
    return "\n".join(
        [
            f"{len(rows)} proposals would newly cover {report['harm_newly_covered']:.1f} expected "
            f"harm ({report['share_of_uncovered_harm']:.1%} of what is uncovered now)",
            f"top 10 % risk cells covered: {top_b['covered']:.0%} → {top_a['covered']:.0%}; "
            f"two or more agencies: {top_b['two_or_more']:.0%} → {top_a['two_or_more']:.0%}",
            *(
                f"  {r['id']} {str(r['name'])[:40]}: {r['cells']} cells, "
                f"{r['harm_newly_covered']:.1f} newly covered"
                for r in rows
            ),
        ]
    )


def _existing_work(
    frame: gpd.GeoDataFrame | None, months: Sequence[str], resolution: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Footprints, agencies and whether active in the latest month, of existing work."""
    if frame is None or len(frame) == 0:
        empty = pd.DataFrame({"item": np.zeros(0, np.int64), "cell": np.zeros(0, np.uint64)})
        return empty, np.zeros(0, object), np.zeros(0, bool)
    fp, active, agencies = deployment.work_footprints(
        frame, aggregate.month_range(list(months)), resolution=resolution
    )
    return fp, agencies, active[:, -1]
