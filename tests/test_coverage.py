"""Interventions against risk: footprints, activity, depth, coverage shares and gaps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from geojtai import coverage, grid

from .conftest import SAMPLE_DATA


def test_footprints_reproduce_the_generators_rule() -> None:
    import geopandas as gpd

    frame = gpd.read_file(SAMPLE_DATA / "interventions.geojson")
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())
    fp = coverage.footprints(
        np.asarray(frame.geometry.array), frame["radius_m"].to_numpy(float), resolution=9
    )
    for i, item in enumerate(truth["interventions"]["items"]):
        ours = set(grid.cells_to_hex(fp.loc[fp["item"] == i, "cell"].to_numpy()))
        assert ours == set(item["footprint_h3"]), item["id"]


def test_a_point_without_radius_covers_its_own_cell() -> None:
    point = shapely.Point(-1.39, 52.48)
    fp = coverage.footprints(np.array([point], dtype=object), np.array([np.nan]), resolution=9)
    assert (
        fp["cell"].tolist()
        == grid.cells_from_points(np.array([52.48]), np.array([-1.39]), resolution=9).tolist()
    )


def test_active_months_with_open_and_closed_ends() -> None:
    months = ["2024-01", "2024-02", "2024-03", "2024-04"]
    got = coverage.active_months(["2024-02", "2023-06", "2024-04"], ["2024-03", None, ""], months)
    assert got.tolist() == [
        [False, True, True, False],
        [True, True, True, True],
        [False, False, False, True],
    ]


def test_depth_counts_distinct_agencies() -> None:
    cells = np.array([10, 20, 30], dtype=np.uint64)
    fp = pd.DataFrame({"item": [0, 1, 1, 2], "cell": np.array([10, 10, 20, 20], dtype=np.uint64)})
    agencies = ["police;council", "police", "health"]
    depth, count = coverage.agency_depth(fp, agencies, np.array([True, True, False]), cells)
    assert depth.tolist() == [2, 1, 0]  # cell 10: police + council (police once)
    assert count.tolist() == [2, 1, 0]
    depth, _ = coverage.agency_depth(fp, agencies, np.array([True, True, True]), cells)
    assert depth.tolist() == [2, 2, 0]


def test_coverage_summary_on_a_toy_grid() -> None:
    # Ten cells, risk 10..1; work in the two riskiest (2 and 1 agencies) and one low cell.
    risk = np.arange(10, 0, -1, dtype=float)
    depth = np.array([2, 1, 0, 0, 0, 0, 0, 0, 1, 0], dtype=float)
    got = coverage.coverage_summary(risk, depth, shares=(0.1, 0.2, 0.5))
    assert got["top"]["10%"] == {
        "cells": 1, "covered": 1.0, "no_agency": 0.0, "one_agency": 0.0, "two_or_more": 1.0
    }  # fmt: skip
    assert got["top"]["20%"]["covered"] == 1.0 and got["top"]["20%"]["one_agency"] == 0.5
    assert got["top"]["50%"]["covered"] == 0.4
    assert got["risk_covered"] == pytest.approx((10 + 9 + 2) / 55, abs=1e-4)
    assert got["covered_cells"] == 3 and got["covered_low_risk"] == 1
    # By hand: ranks r = (i + 0.5)/10 by ascending risk; d·(r − 0.5) summed over covered.
    expected = (
        2
        * np.mean(
            depth * (np.array([0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05]) - 0.5)
        )
        / depth.mean()
    )
    assert got["concentration_index"] == pytest.approx(expected, abs=1e-4)
    assert got["concentration_curve"][-1]["deployment"] == 1.0
    assert coverage.concentration_index(np.zeros(5), np.arange(5.0)) == 0.0
    assert coverage.concentration_index(np.array([1.0, 0, 0, 0]), np.arange(4.0)) == pytest.approx(
        -0.75
    )


def test_gaps_rank_cells_and_group_neighbours() -> None:
    centre = grid.cells_from_points(np.array([52.48]), np.array([-1.39]), resolution=9)
    _, ring = grid.grid_disk(centre, 3)
    cells = np.sort(ring)
    risk = np.zeros(cells.size)
    near = grid.grid_disk(centre, 1)[1]
    far = ring[~np.isin(ring, grid.grid_disk(centre, 2)[1])][:1]
    risk[np.isin(cells, near)] = 5.0
    risk[np.isin(cells, centre)] = 9.0
    risk[np.isin(cells, far)] = 7.0
    depth = np.zeros(cells.size)
    depth[np.isin(cells, near[1:3])] = 2  # two of the hot cluster (not its centre) are covered
    got = coverage.gaps(cells, risk, depth, share=0.3)
    assert got["rank"].tolist() == list(range(1, len(got) + 1))
    assert got["risk"].is_monotonic_decreasing
    assert not np.isin(got["cell"], near[1:3]).any()
    assert got.loc[got["cell"] == far[0], "cluster_cells"].item() == 1
    main = got.loc[got["cell"] == centre[0], "cluster"].item()
    assert main == 1 and (got["cluster"] == main).sum() == 5  # centre + 4 uncovered neighbours
    assert set(got["gap"]) == {"no coverage"}
    assert coverage.gaps(cells, np.zeros(cells.size), depth).empty
