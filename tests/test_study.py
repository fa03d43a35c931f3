from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geojtai import grid
from geojtai.errors import GeojtaiError
from geojtai.io.studyfolder import load_study
from geojtai.settings import (
    IncidentInput,
    PlaceInput,
    StudyInputs,
    StudySettings,
    load_study_toml,
)
from geojtai.study import build_study

from .conftest import SAMPLE_DATA

TABLES = (
    "cells.parquet",
    "cell_months.parquet",
    "incidents.parquet",
    "rejects.csv",
    "places.parquet",
    "layers.json",
    "place_share.parquet",
    "top_places.parquet",
)


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
    assert set(manifest["timings"]) == {
        "read",
        "validate",
        "index",
        "places",
        "aggregate",
        "analyse",
        "write",
    }
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


# --------------------------------------------------------------------------- places


def _with_truth(sample_study: Path) -> pd.DataFrame:
    incidents = load_study(sample_study).incidents()
    truth = pd.read_parquet(SAMPLE_DATA / "truth" / "incidents.parquet")
    return incidents.merge(truth[["file", "id", "driver"]], on=["file", "id"])


def test_sample_incidents_get_the_place_the_generator_put_them_in(sample_study: Path) -> None:
    merged = _with_truth(sample_study)
    assert merged["place_type"].notna().all()
    share = pd.crosstab(merged["driver"], merged["place_type"], normalize="index")
    # Incidents drawn inside parks or on streets are found there (the rest sit within the
    # tolerance of a more specific place, such as a shopping centre by a street).
    assert share.loc["park", "parks"] > 0.9
    assert share.loc["street", "streets"] > 0.85
    assert share.loc["near_shopping_centre", "shopping_centres"] > 0.5
    assert set(merged["place_method"]) <= {"geometry", "geometry+text", "text", "none"}


def test_sample_cells_know_the_places_the_generator_drew(sample_study: Path) -> None:
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())
    cells = load_study(sample_study).cells.set_index("h3")
    for place in truth["high_risk_places"]:
        layer = place["layer"]
        column = f"frac_{layer}" if layer != "transport_hubs" else f"n_{layer}"
        # Every cell the place touches keeps it, however small the overlap.
        assert (cells.loc[place["h3"], column] > 0).all(), place["name"]
    assert {"parks", "streets", "shopping_centres", "other"} <= set(cells["place_type"])
    assert cells["frac_parks"].between(0, 1).all() and cells["len_streets_m"].ge(0).all()
    assert cells.loc[cells["place_type"] == "parks", "frac_parks"].min() >= 0.1


def test_sample_place_question_is_stored_and_consistent(sample_study: Path) -> None:
    manifest = json.loads((sample_study / "manifest.json").read_text())
    share = pd.read_parquet(sample_study / "place_share.parquet")
    sums = share.groupby("period")[["share_incidents", "share_harm"]].sum()
    assert np.allclose(sums.to_numpy(), 1.0)
    overall = share[share["period"] == "all"].set_index("place_type")
    assert overall["incidents"].sum() == manifest["rows"]["in_scope"]
    assert manifest["places"]["share"]["parks"]["incidents"] == overall.loc["parks", "incidents"]
    per_month = share[share["period"] != "all"].groupby("place_type")["incidents"].sum()
    assert per_month.to_dict() == overall["incidents"].to_dict()
    top = pd.read_parquet(sample_study / "top_places.parquet")
    parks = top[top["place_type"] == "parks"]["place_name"].tolist()
    assert {"Victoria Park", "Memorial Park", "Abbey Fields"} <= set(parks[:5])
    layers = json.loads((sample_study / "layers.json").read_text())
    assert [entry["name"] for entry in layers][:2] == ["shopping_centres", "transport_hubs"]
    assert manifest["places"]["layers"]["streets"]["features_in_region"] == 264


def test_unusable_place_features_are_rejected_with_a_reason(tiny_csv: Path, tmp_path: Path) -> None:
    folder = tmp_path / "places"
    folder.mkdir()
    gpd.GeoDataFrame(
        {"name": ["Good Park", "No Shape", "A Path"]},
        geometry=[
            shapely.box(-0.101, 51.499, -0.099, 51.501),
            None,
            shapely.LineString([(-0.1, 51.5), (-0.11, 51.505)]),
        ],
        crs=4326,
    ).to_file(folder / "parks.geojson")
    out = tmp_path / "study"
    inputs = StudyInputs(incidents=(IncidentInput(tiny_csv),), places=(PlaceInput(folder),))
    result = build_study(StudySettings(), inputs, out)
    rejects = pd.read_csv(out / "rejects.csv")
    place_rows = rejects[rejects["file"] == "parks.geojson"]
    assert place_rows[["row", "reason"]].values.tolist() == [
        [2, "no geometry"],
        [3, "wrong geometry for the layer"],
    ]
    assert result.manifest["places"]["features_rejected"] == 2
    incidents = load_study(out).incidents()
    # Three incidents at the park's centre: in the park.
    assert (incidents["place_type"] == "parks").sum() == 3
    assert result.manifest["places"]["share"]["parks"]["incidents"] == 3


def test_a_study_layers_folder_adds_a_place_type(tiny_csv: Path, tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    (layers / "youth_clubs.toml").write_text(
        'title = "Youth clubs"\nkind = "point"\npriority = 5\ncontext_m = 50\n'
        '[osm]\nselect = [{ key = "amenity", values = ["youth_centre"] }]\n',
        encoding="utf-8",
    )
    clubs = tmp_path / "clubs.geojson"
    gpd.GeoDataFrame({"name": ["The Hub"]}, geometry=[shapely.Point(-0.1, 51.5)], crs=4326).to_file(
        clubs
    )
    inputs = StudyInputs(
        incidents=(IncidentInput(tiny_csv),),
        places=(PlaceInput(clubs, layer="youth_clubs"),),
        layers=layers,
    )
    result = build_study(StudySettings(), inputs, tmp_path / "s")
    study = load_study(tmp_path / "s")
    assert "n_youth_clubs" in study.cells.columns
    assert result.manifest["places"]["share"]["youth_clubs"]["incidents"] == 3
    assert study.incidents()["place_name"].tolist().count("The Hub") == 3


# --------------------------------------------------------------------------- risk


def test_sample_risk_model_recovers_the_true_factors(sample_study: Path) -> None:
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())
    true = {f["layer"]: f["rrv"] for f in truth["factors"] if f["rrv"] > 1}
    model = json.loads((sample_study / "risk_model.json").read_text())
    factors = model["rtm"]["factors"]
    # Ranked by RRV, the top three are the true top three, in the true order.
    order = sorted(true, key=lambda layer: -true[layer])
    assert [f["layer"] for f in factors[:3]] == order[:3]
    for f in factors:
        assert f["rrv"] == pytest.approx(true[f["layer"]], rel=0.15), f
    # The decoy (primary roads, RRV 1.0) is not kept.
    assert "streets" not in {f["layer"] for f in factors}
    cells = load_study(sample_study).cells
    assert cells["risk"].ge(0).all() and cells["risk"].notna().all()
    top = cells.sort_values("risk_rtm", ascending=False).iloc[0]
    assert "shopping centres" in top["risk_factors"] and "×2." in top["risk_factors"]
    assert {"hot spot 99%", "not significant"} <= set(cells["gi_class"])
    assert cells["emerging"].notna().all()


def test_forecast_from_fits_on_earlier_months_only(tiny_csv: Path, tmp_path: Path) -> None:
    inputs = StudyInputs(incidents=(IncidentInput(tiny_csv),))
    with pytest.raises(GeojtaiError, match="forecast-from 2024-01 is not possible"):
        build_study(StudySettings(forecast_from="2024-01"), inputs, tmp_path / "a")
    result = build_study(StudySettings(), inputs, tmp_path / "b")
    assert result.manifest["analysis"]["forecast_from"] == "2024-03"
    model = json.loads((tmp_path / "b" / "risk_model.json").read_text())
    assert model["fitted_on"] == ["2024-01", "2024-02"]


def test_sparse_data_gives_messages_not_nans(tmp_path: Path) -> None:
    path = tmp_path / "one_month.csv"
    path.write_text(
        "id,occurred,lat,lon,category\n"
        "a,2024-05-05,51.5,-0.1,robbery\n"
        "b,2024-05-09,51.5,-0.1,robbery\n",
        encoding="utf-8",
    )
    result = build_study(
        StudySettings(), StudyInputs(incidents=(IncidentInput(path),)), tmp_path / "s"
    )
    messages = " ".join(result.manifest["analysis"]["messages"])
    assert "too few for hot-spot statistics" in messages
    assert "no risk forecast" in messages
    cells = load_study(tmp_path / "s").cells
    columns = ["gi_z", "gi_p", "gi_class", "emerging", "risk", "risk_rtm", "relative_risk"]
    assert not cells[columns].isna().any().any()
    assert set(cells["gi_class"]) == {"not significant"}


def test_sample_hot_spots_sit_where_the_true_risk_is(sample_study: Path) -> None:
    truth = pd.read_parquet(SAMPLE_DATA / "truth" / "cells.parquet")[["h3", "relative_risk"]]
    cells = load_study(sample_study).cells.merge(truth.rename(columns={"relative_risk": "true"}))
    hot = cells["gi_bin"] >= 2
    assert hot.sum() >= 5
    # Harm hot spots (harm-weighted totals) largely coincide with count hot spots here.
    assert ((cells["harm_gi_bin"] >= 2) & hot).sum() >= 0.8 * hot.sum()
    assert cells.loc[hot, "true"].mean() > 2 * cells.loc[~hot, "true"].mean()
    # The riskiest cells by the model are the riskiest in truth (rank correlation).
    rho = cells[["relative_risk", "true"]].corr(method="spearman").iloc[0, 1]
    assert rho > 0.8


# --------------------------------------------------------------------------- interventions


def test_sample_gaps_find_the_places_the_generator_left_uncovered(sample_study: Path) -> None:
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    for place in truth["gaps"]:
        assert set(place["h3"]) & set(gaps["h3"]), place["name"]
    covered = {h for item in truth["interventions"]["items"] for h in item["footprint_h3"]
               if item["last_month"] is None}  # fmt: skip
    assert not (set(gaps.loc[gaps["agencies"] == 0, "h3"]) & covered)
    assert gaps["rank"].tolist() == list(range(1, len(gaps) + 1))
    assert {"place_type", "place_name", "risk_factors", "emerging", "last_3_months"} <= set(gaps)
    summary = json.loads((sample_study / "coverage.json").read_text())
    assert summary["overall"]["top"]["10%"]["cells"] == 35
    assert {"police", "council", "youth justice"} <= set(summary["by_agency"])
    assert len(summary["by_month"]) == 36
    cells = load_study(sample_study).cells
    assert cells["agencies_now"].max() >= 2 and (cells["intervention_ids"] != "").any()


def test_sample_impact_estimates_recover_the_known_effects(sample_study: Path) -> None:
    truth = json.loads((SAMPLE_DATA / "truth" / "truth.json").read_text())["interventions"]
    impacts = {
        r["id"]: r for r in json.loads((sample_study / "coverage.json").read_text())["impact"]
    }
    covered = ring_covered = 0
    for item in truth["items"]:
        got = impacts[item["id"]]
        did, ring = got["did"], got["did_buffer"]
        covered += did["ci_low"] <= item["effect"] <= did["ci_high"]
        ring_covered += ring["ci_low"] <= item["ring_multiplier"] <= ring["ci_high"]
        assert {"wdq", "wdd", "counts", "window"} <= set(got)
        assert got["wdd"]["variance"] > 0 and got["wdd"]["ci_low"] < got["wdd"]["ci_high"]
    # 95 % intervals: about 11.4 of 12 should cover the truth; on this town 11 do.
    assert covered >= 10, covered
    assert ring_covered >= 9, ring_covered
    strongest = impacts["INT-05"]["did"]  # true effect 0.6: a clear reduction
    assert strongest["ci_high"] < 1


def test_impact_by_intervention_type_pools_the_counts(sample_study: Path) -> None:
    summary = json.loads((sample_study / "coverage.json").read_text())
    groups = summary["impact_by_type"]
    assert {"cctv", "police patrol", "detached youth work"} <= set(groups)
    patrols = groups["police patrol"]
    members = [r for r in summary["impact"] if r["id"] in patrols["interventions"]]
    assert patrols["counts"]["A1"] == sum(r["counts"]["A1"] for r in members)
    assert patrols["did"]["ci_high"] < 1  # both patrols worked (true effects 0.7 and 0.6)


def test_study_folder_reads_gaps_interventions_and_coverage(
    sample_study: Path, tiny_csv: Path, tmp_path: Path
) -> None:
    study = load_study(sample_study)
    gaps, interventions = study.gaps(), study.interventions()
    assert gaps is not None and len(gaps) > 0 and gaps.crs.to_epsg() == 4326
    assert interventions is not None and len(interventions) == 12
    assert "overall" in study.coverage()
    build_study(StudySettings(), StudyInputs(incidents=(IncidentInput(tiny_csv),)), tmp_path / "s")
    bare = load_study(tmp_path / "s")
    assert bare.gaps() is None and bare.interventions() is None and bare.coverage() == {}
