from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geojtai import grid
from geojtai.errors import GeojtaiError
from geojtai.io.studyfolder import load_study
from geojtai.settings import IncidentInput, StudyInputs, StudySettings, load_study_toml
from geojtai.study import build_study

from .conftest import SAMPLE_DATA

TABLES = ("cells.parquet", "cell_months.parquet", "incidents.parquet", "rejects.csv")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """Five rows: three robberies at one spot, one at another, one with no location."""
    path = tmp_path / "tiny.csv"
    path.write_text(
        "id,occurred,lat,lon,category\n"
        "a,2024-01-05,51.5,-0.1,robbery\n"
        "b,2024-01-09,51.5,-0.1,Robbery\n"
        "c,2024-02-01,51.5,-0.1,violence with injury\n"
        "d,2024-02-11,51.51,-0.12,robbery\n"
        "e,2024-02-12,,,robbery\n",
        encoding="utf-8",
    )
    return path


def test_tiny_study_has_known_counts(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = build_study(
        StudySettings(), StudyInputs(incidents=(IncidentInput(tiny_csv, "police"),)), out
    )
    rows = result.manifest["rows"]
    assert (rows["read"], rows["valid"], rows["rejected"]) == (5, 4, 1)
    study = load_study(out)
    a, d = grid.cells_to_hex(
        grid.cells_from_points(np.array([51.5, 51.51]), np.array([-0.1, -0.12]), resolution=9)
    )
    counts = dict(zip(study.cells["h3"], study.cells["count"], strict=True))
    assert {h: n for h, n in counts.items() if n} == {a: 3, d: 1}
    # With no area given, the study region is the incidents' hull: the cells between the
    # two spots are in the study too, with zero counts and no months.
    empty = study.cells[study.cells["count"] == 0]
    assert len(empty) > 0 and empty["first_month"].isna().all()
    assert set(study.cells["place_type"]) == {"other"}  # no place input
    months = study.cell_months.set_index(["h3", "month"])["count"].to_dict()
    assert months == {(a, "2024-01"): 2, (a, "2024-02"): 1, (d, "2024-02"): 1}
    rejects = pd.read_csv(out / "rejects.csv")
    assert rejects["reason"].tolist() == ["no location"]
    assert rejects["row"].tolist() == [6]
    assert study.months == ["2024-01", "2024-02"]
    assert study.cells.crs.to_epsg() == 4326
    # The polygon of each cell contains its centre.
    centres = gpd.GeoSeries(gpd.points_from_xy(study.cells["lon"], study.cells["lat"]), crs=4326)
    assert study.cells.geometry.contains(centres).all()


def test_out_of_scope_rows_are_kept_not_counted(tiny_csv: Path, tmp_path: Path) -> None:
    settings = StudySettings(categories=("robbery",))
    build_study(settings, StudyInputs(incidents=(IncidentInput(tiny_csv),)), tmp_path / "s")
    study = load_study(tmp_path / "s")
    incidents = study.incidents()
    assert len(incidents) == 4
    assert incidents["in_scope"].sum() == 3
    assert study.cells["count"].sum() == 3
    assert study.manifest["rows"]["out_of_scope"] == 1


def test_sample_study_manifest(sample_study: Path) -> None:
    manifest = json.loads((sample_study / "manifest.json").read_text())
    rows = manifest["rows"]
    assert rows["read"] == rows["valid"] + rows["rejected"]
    assert rows["rejected"] > 0
    for record in manifest["inputs"]:
        assert all(len(f["sha256"]) == 64 for f in record.get("files", [{"sha256": "0" * 64}]))
    incident_inputs = [r for r in manifest["inputs"] if r["kind"] == "incidents"]
    assert sum(r["rows_read"] for r in incident_inputs) == rows["read"]
    assert sum(r["rows_valid"] + r["rows_rejected"] for r in incident_inputs) == rows["read"]
    assert set(manifest["timings"]) == {"read", "validate", "index", "places", "aggregate", "write"}
    assert manifest["versions"]["h3ronpy"]
    study = load_study(sample_study)
    assert study.cells["count"].sum() == rows["in_scope"]
    assert study.cell_months["count"].sum() == rows["in_scope"]


def test_sample_rejects_match_the_ground_truth(sample_study: Path) -> None:
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())
    rejects = pd.read_csv(sample_study / "rejects.csv")
    expected = {(b["file"], int(b["row"])): b["reason"] for b in truth["bad_rows"]}
    got = {
        (str(f), int(r)): reason
        for f, r, reason in zip(rejects["file"], rejects["row"], rejects["reason"], strict=True)
    }
    got = {k: v for k, v in got.items() if k[0].startswith("incidents_")}
    assert got == expected


def test_rebuild_is_byte_identical(sample_study: Path, tmp_path: Path) -> None:
    settings, inputs = load_study_toml(SAMPLE_DATA / "study.toml")
    again = tmp_path / "again"
    build_study(settings, inputs, again)
    for name in TABLES:
        assert sha256(sample_study / name) == sha256(again / name), name


def test_failed_build_leaves_earlier_study_intact(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    build_study(StudySettings(), StudyInputs(incidents=(IncidentInput(tiny_csv),)), out)
    before = {name: sha256(out / name) for name in TABLES}
    bad = StudyInputs(incidents=(IncidentInput(tmp_path / "missing.csv"),))
    with pytest.raises(GeojtaiError, match="missing.csv"):
        build_study(StudySettings(), bad, out)
    assert {name: sha256(out / name) for name in TABLES} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study", "tiny.csv"]


def test_no_usable_rows_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,occurred,lat,lon,category\na,2024-01-01,,,robbery\n", encoding="utf-8")
    with pytest.raises(GeojtaiError, match="No usable incident rows"):
        build_study(StudySettings(), StudyInputs(incidents=(IncidentInput(path),)), tmp_path / "s")
    assert not (tmp_path / "s").exists()
