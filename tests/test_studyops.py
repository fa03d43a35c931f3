"""Operations on a built study: the backtest, suggested deployments, what-if."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geojtai import grid
from geojtai.errors import GeojtaiError
from geojtai.studyops import evaluate_study, plan_study, what_if_study

from .conftest import SAMPLE_DATA


def test_sample_backtest_against_the_oracle(sample_study: Path) -> None:
    out = evaluate_study(
        sample_study, test_months=12, truth=SAMPLE_DATA / "truth" / "intensity.parquet"
    )
    report = out["report"]
    for scored in ("observed", "expected"):
        summary = pd.DataFrame(report[scored]["summary"])
        at5 = summary[summary["share"] == 0.05].set_index("method")
        best_model = at5.loc[["rtm", "boosted"], "pei"].max()
        assert best_model >= 0.8 * at5.loc["oracle", "pei"], scored
    # Scored against the expected counts, no method beats the oracle anywhere.
    expected = pd.DataFrame(report["expected"]["summary"])
    oracle = expected[expected["method"] == "oracle"].set_index("share")["pai"]
    for _, row in expected.iterrows():
        assert row["pai"] <= oracle[row["share"]] + 1e-9, row["method"]
    assert "oracle" in out["text"] and "RRI" in out["text"]
    assert (sample_study / "evaluation.json").is_file()


def test_plan_suggests_the_riskiest_uncovered_places(sample_study: Path) -> None:
    out = plan_study(sample_study, teams=3, radius_m=300, place_types=["parks", "shopping_centres"])
    rows = out["report"]["suggestions"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["gain"] >= rows[1]["gain"] >= rows[2]["gain"] > 0
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    assert rows[0]["h3"] == gaps.iloc[0]["h3"]  # the top gap is the first suggestion
    with pytest.raises(GeojtaiError, match="unknown place types \\['pubs'\\]"):
        plan_study(sample_study, teams=1, radius_m=300, place_types=["pubs"])


def test_what_if_reports_the_coverage_proposals_add(sample_study: Path, tmp_path: Path) -> None:
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    top = gaps.iloc[0]
    lat, lon = grid.cell_centres(grid.cells_from_hex(np.array([top["h3"]], dtype=object)))
    proposals = tmp_path / "proposals.geojson"
    gpd.GeoDataFrame(
        {
            "id": ["P-1", "P-2"],
            "name": ["Top gap outreach", "Already covered"],
            "type": ["detached youth work", "patrol"],
            "lead_agency": ["voluntary sector", "police"],
            "partner_agencies": ["police;council", ""],
            "start": ["2026-01-01", "2026-01-01"],
            "radius_m": [200.0, 50.0],
        },
        geometry=gpd.points_from_xy([lon[0], -1.40], [lat[0], 52.50]),
        crs=4326,
    ).to_file(proposals)
    out = what_if_study(sample_study, proposals)["report"]
    first = out["proposals"][0]
    assert first["cells"] >= 1 and first["harm_newly_covered"] > 0
    after, before = out["after"]["top"]["10%"], out["before"]["top"]["10%"]
    assert after["covered"] > before["covered"]
    assert after["two_or_more"] > before["two_or_more"]  # three agencies join at the top gap
    assert out["harm_newly_covered"] == pytest.approx(
        sum(p["harm_newly_covered"] for p in out["proposals"]), rel=1e-6
    )
    bad = tmp_path / "bad.geojson"
    gpd.GeoDataFrame({"id": ["X"], "name": ["no start"]}, geometry=[None], crs=4326).to_file(bad)
    with pytest.raises(GeojtaiError, match="bad.geojson: no start date column"):
        what_if_study(sample_study, bad)
