"""Work on a built study: backtest the risk models, suggest deployments, weigh proposals.

``geojtai evaluate`` (:func:`evaluate_study`), ``geojtai plan`` (:func:`plan_study`) and
``geojtai plan --what-if`` (:func:`what_if_study`) read a study folder, run the core
(:mod:`evaluate`, :mod:`plan`, :mod:`coverage`) and write their report beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geojtai import analysis, coverage, evaluate, grid, places, plan, schema
from geojtai import io as gio
from geojtai.crs import wgs84_to_bng
from geojtai.errors import SchemaError, SettingsError
from geojtai.features import layer_of
from geojtai.io.studyfolder import EVALUATION, FEATURES, PLAN, load_study
from geojtai.layers import parse_layer_spec

__all__ = ["evaluate_study", "plan_study", "what_if_study"]

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


def plan_study(
    path: Path,
    *,
    teams: int,
    radius_m: float,
    place_types: Sequence[str] = (),
) -> dict[str, Any]:
    """Suggest where ``teams`` teams of footprint ``radius_m`` would cover most expected harm.

    The value of a cell is its forecast incidents (``risk``) times its harm per incident
    (the study's mean where the cell has no history); cells that existing work covers now
    count nothing; sites must lie in cells of the given place types (any when empty).
    Writes ``plan.json`` into the study folder.

    Returns
    -------
    dict
        ``text`` (a table for a terminal) and ``report`` (what ``plan.json`` holds).
    """
    study = load_study(path)
    cells = study.cells[study.cells["area_fraction"].to_numpy(dtype=float) > 0].reset_index(
        drop=True
    )
    allowed = _allowed_sites(cells, place_types, [d["name"] for d in study.places().layers])
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
    gio.write_json(report, path / PLAN)
    return {"text": _plan_text(table, report), "report": report}


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


def what_if_study(path: Path, proposals: Path) -> dict[str, Any]:
    """What proposed interventions would add to the coverage of risk now.

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
    cells = grid.cells_from_hex(study.cells["h3"].to_numpy(dtype=object))
    resolution = int(study.manifest["settings"]["resolution"])
    value = _expected_harm(study.cells)
    existing = _existing_work(path, study.months)
    new_fp = coverage.footprints(
        np.asarray(valid.geometry.array, dtype=object),
        valid["radius_m"].to_numpy(dtype=float),
        resolution=resolution,
    )
    before, _ = coverage.agency_depth(existing[0], existing[1], existing[2], cells)
    shifted = new_fp.assign(item=new_fp["item"] + len(existing[1]))
    both = pd.concat([existing[0], shifted], ignore_index=True)
    agencies = np.concatenate([existing[1], valid["agencies"].fillna("").astype(str).to_numpy()])
    active = np.concatenate([existing[2], np.ones(len(valid), dtype=bool)])
    after, _ = coverage.agency_depth(both, agencies, active, cells)
    risk_now = study.cells["risk"].to_numpy(dtype=float)
    newly = (after > 0) & (before == 0)
    rows: list[dict[str, Any]] = []
    for item, row in enumerate(valid.itertuples()):  # a handful of proposals
        pos = pd.Index(cells).get_indexer(new_fp.loc[new_fp["item"] == item, "cell"].to_numpy())
        pos = pos[pos >= 0]
        rows.append(
            {
                "id": str(row.id),
                "name": str(row.name),
                "cells": int(pos.size),
                "harm_newly_covered": round(float(value[pos][before[pos] == 0].sum()), 3),
            }
        )
    report: dict[str, Any] = {
        "proposals": rows,
        "harm_newly_covered": round(float(value[newly].sum()), 3),
        "share_of_uncovered_harm": round(
            float(value[newly].sum() / value[before == 0].sum())
            if value[before == 0].sum()
            else 0.0,
            4,
        ),
    }
    summary_before = coverage.coverage_summary(risk_now, before)
    summary_after = coverage.coverage_summary(risk_now, after)
    report |= {"before": summary_before, "after": summary_after}
    top_b: dict[str, Any] = summary_before["top"]["10%"]  # type: ignore[index]
    top_a: dict[str, Any] = summary_after["top"]["10%"]  # type: ignore[index]
    text = "\n".join(
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
    return {"text": text, "report": report}


def _existing_work(path: Path, months: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Footprints, agencies and whether active in the latest month, of the study's work."""
    study = load_study(path)
    frame = study.interventions()
    if frame is None:
        empty = pd.DataFrame({"item": np.zeros(0, np.int64), "cell": np.zeros(0, np.uint64)})
        return empty, np.zeros(0, object), np.zeros(0, bool)
    fp = coverage.footprints(
        np.asarray(frame.geometry.array, dtype=object),
        frame["radius_m"].to_numpy(dtype=float),
        resolution=int(study.manifest["settings"]["resolution"]),
    )
    active = coverage.active_months(
        frame["start_month"].astype(str).to_numpy(),
        frame["end_month"].to_numpy(dtype=object),
        analysis.month_range(months),
    )[:, -1]
    return fp, frame["agencies"].fillna("").astype(str).to_numpy(), active
