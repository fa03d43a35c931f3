"""Recomputing a deployment from interventions: the build's numbers, no interventions, "now"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geojtai import coverage
from geojtai.deployment import (
    COVERAGE_COLUMNS,
    IMPACT_KEYS,
    Recomputed,
    coverage_change,
    headline,
    recompute,
    running_on,
)
from geojtai.errors import SchemaError
from geojtai.io.studyfolder import Study, load_study


@pytest.fixture(scope="module")
def study(sample_study: Path) -> Study:
    return load_study(sample_study)


@pytest.fixture(scope="module")
def frame(study: Study) -> gpd.GeoDataFrame:
    interventions = study.interventions()
    assert interventions is not None
    return interventions


def _recompute(study: Study, frame: gpd.GeoDataFrame, **options: Any) -> Recomputed:
    resolution = int(study.manifest["settings"]["resolution"])
    return recompute(study.cells, study.cell_months, frame, resolution=resolution, **options)


def _as_written(figures: dict[str, object]) -> dict[str, object]:
    """The figures as ``coverage.json`` holds them (JSON numbers)."""
    return json.loads(json.dumps(figures, default=float))


def test_recompute_gives_the_builds_numbers(
    study: Study, frame: gpd.GeoDataFrame, sample_study: Path
) -> None:
    out = _recompute(study, frame)
    cells = gpd.read_parquet(sample_study / "cells.parquet")
    assert out.cells["h3"].tolist() == cells["h3"].tolist()
    for column in COVERAGE_COLUMNS:
        assert out.cells[column].tolist() == cells[column].tolist(), column
    written = json.loads((sample_study / "coverage.json").read_text(encoding="utf-8"))
    assert _as_written(out.coverage) == written
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    pd.testing.assert_frame_equal(out.gaps.reset_index(drop=True), gaps, check_dtype=False)
    assert isinstance(out.gaps, gpd.GeoDataFrame) and out.gaps.crs.to_epsg() == 4326


def test_without_impact_everything_else_is_the_same(
    study: Study, frame: gpd.GeoDataFrame, sample_study: Path
) -> None:
    out = _recompute(study, frame, impact=False)
    written = json.loads((sample_study / "coverage.json").read_text(encoding="utf-8"))
    assert not set(IMPACT_KEYS) & set(out.coverage)
    assert _as_written(out.coverage) == {k: v for k, v in written.items() if k not in IMPACT_KEYS}


def test_inputs_are_not_changed(study: Study, frame: gpd.GeoDataFrame) -> None:
    before = (frame.copy(), study.cells.copy(), study.cell_months.copy())
    _recompute(study, frame, impact=False)
    pd.testing.assert_frame_equal(frame, before[0])
    pd.testing.assert_frame_equal(study.cells, before[1])
    pd.testing.assert_frame_equal(study.cell_months, before[2])


def test_no_interventions_leaves_every_top_cell_a_gap(
    study: Study, frame: gpd.GeoDataFrame
) -> None:
    out = _recompute(study, frame.iloc[:0])
    assert (out.cells[["agencies_now", "interventions_now"]].to_numpy() == 0).all()
    assert (out.cells["intervention_ids"] == "").all()
    top = out.coverage["overall"]["top"]["10%"]
    assert top["covered"] == 0.0 and top["no_agency"] == 1.0
    assert out.coverage["active_now"] == 0 and out.coverage["by_agency"] == {}
    assert out.coverage["impact"] == [] and out.coverage["impact_by_type"] == {}
    risk = study.cells["risk"].to_numpy()
    k = int(np.ceil(0.1 * risk.size))
    expected = int((np.sort(risk)[::-1][:k] > 0).sum())
    assert len(out.gaps) == expected
    assert set(out.gaps["gap"]) == {"no coverage"}
    assert out.gaps["rank"].tolist() == list(range(1, expected + 1))


def test_now_decides_what_covers(study: Study, frame: gpd.GeoDataFrame) -> None:
    nothing = _recompute(study, frame, now=np.zeros(len(frame), bool), impact=False)
    empty = _recompute(study, frame.iloc[:0], impact=False)
    assert nothing.coverage["overall"] == empty.coverage["overall"]
    pd.testing.assert_frame_equal(nothing.cells, empty.cells)
    assert nothing.gaps["h3"].tolist() == empty.gaps["h3"].tolist()
    # ... while the history still has the work month by month.
    assert nothing.coverage["by_month"] != empty.coverage["by_month"]
    everything = _recompute(study, frame, now=np.ones(len(frame), bool), impact=False)
    assert everything.coverage["active_now"] == len(frame)
    covered = everything.coverage["overall"]["covered_cells"]
    assert covered > _recompute(study, frame, impact=False).coverage["overall"]["covered_cells"]


def test_missing_columns_are_listed_at_once(study: Study, frame: gpd.GeoDataFrame) -> None:
    cells = study.cells.drop(columns=["risk", "risk_rtm"])
    with pytest.raises(SchemaError) as caught:
        recompute(
            cells,
            study.cell_months.iloc[:0],
            frame.drop(columns="agencies"),
            resolution=9,
            now=np.ones(3, bool),
        )
    problems = caught.value.problems
    assert any("risk, risk_rtm" in p and "risk model" in p for p in problems)
    assert any("interventions has no column agencies" in p for p in problems)
    assert any("no month" in p for p in problems)
    assert any("now has shape (3,)" in p for p in problems)


@pytest.mark.parametrize(
    ("start", "end", "status", "expected"),
    [
        ("2025-01-01", None, "active", True),
        ("2025-01-01", "2026-01-15", "active", True),  # its last day
        ("2025-01-01", "2026-01-14", "active", False),  # ended yesterday
        ("2026-01-16", None, "active", False),  # starts tomorrow
        ("2025-01-01", None, "closed", False),
    ],
)
def test_running_on(start: str, end: str | None, status: str, expected: bool) -> None:
    out = running_on(
        pd.Series([start]), pd.Series([end], dtype=object), pd.Series([status]),
        today=dt.date(2026, 1, 15),
    )  # fmt: skip
    assert out.tolist() == [expected]


def test_coverage_change_sentences() -> None:
    risk = np.arange(20, dtype=float)
    before = {"overall": coverage.coverage_summary(risk, np.zeros(20))}
    depth = np.zeros(20)
    depth[-1] = 2  # the riskiest cell, by two agencies
    after = {"overall": coverage.coverage_summary(risk, depth)}
    lines = coverage_change(before, after)
    assert lines[0]["text"] == "Top-10% risk cells covered: 0% → 50%"
    assert lines[1]["text"] == "Top-10% risk cells with two or more agencies: 0% → 50%"
    assert lines[2]["before"] == 0.0 and lines[2]["after"] == pytest.approx(19 / 190, abs=1e-4)
    assert coverage_change({}, {})[0]["text"] == "Top-10% risk cells covered: – → –"
    assert headline({})["top_10pct_covered"] is None
