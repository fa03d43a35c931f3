"""The synthetic sample town: determinism, files, and agreement with its own ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from geojtai import grid
from geojtai.crs import bng_to_wgs84, wgs84_to_bng
from geojtai.errors import SettingsError
from geojtai.io.sample import SAMPLE_FILES, write_sample
from geojtai.schema import REJECT_REASONS
from geojtai.synth import FACTORS, PLACE_LAYERS, SampleTown, generate_town

SEED = 42
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def town() -> SampleTown:
    return generate_town(seed=SEED)


@pytest.fixture(scope="module")
def folder(town: SampleTown, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("town")
    write_sample(town, out)
    return out


@pytest.fixture(scope="module")
def truth(folder: Path) -> dict:
    return json.loads((folder / "truth" / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def police(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "incidents_police.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ed(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "incidents_ed.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def area_bng(folder: Path) -> shapely.Geometry:
    return gpd.read_file(folder / "area.geojson").to_crs(27700).geometry.iloc[0]


@pytest.fixture(scope="module")
def intensity(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "truth" / "intensity.parquet").to_pandas()


def _bad_rows(truth: dict, file: str) -> dict[int, str]:
    """``{0-based data row: kind}`` of the bad rows listed for ``file``."""
    return {r["index"]: r["kind"] for r in truth["bad_rows"] if r["file"] == file}


@pytest.fixture(scope="module")
def valid_police(police: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Valid police rows with their H3 cell (from the file's coordinates) and month."""
    valid = police.drop(index=list(_bad_rows(truth, "incidents_police.csv"))).copy()
    lat, lon = bng_to_wgs84(valid["easting"].astype(float), valid["northing"].astype(float))
    valid["h3"] = grid.cells_to_hex(grid.cells_from_points(lat, lon, resolution=9))
    valid["month"] = valid["occurred"].str.slice(0, 7)
    valid["when"] = pd.to_datetime(valid["occurred"], format="%Y-%m-%dT%H:%M:%S")
    return valid


def _hashes(folder: Path) -> dict[str, str | None]:
    return {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() if (folder / n).exists() else None
        for n in SAMPLE_FILES
    }


# --------------------------------------------------------------------------------------
# Determinism and files
# --------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(folder: Path, tmp_path: Path) -> None:
    write_sample(generate_town(seed=SEED), tmp_path)
    assert _hashes(tmp_path) == _hashes(folder)


def test_another_seed_gives_another_town(folder: Path, tmp_path: Path) -> None:
    write_sample(generate_town(seed=SEED + 1), tmp_path)
    a, b = _hashes(folder), _hashes(tmp_path)
    for name in ("incidents_police.csv", "incidents_ed.csv", "truth/truth.json"):
        assert a[name] != b[name]


def test_write_sample_returns_every_file_and_leaves_no_temp_files(
    town: SampleTown, tmp_path: Path
) -> None:
    paths = write_sample(town, tmp_path / "new" / "folder")
    assert [p.relative_to(tmp_path / "new" / "folder").as_posix() for p in paths] == list(
        SAMPLE_FILES
    )
    leftovers = [p for p in (tmp_path / "new").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_sample_is_small(folder: Path) -> None:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 5_000_000


@pytest.mark.parametrize("layer", PLACE_LAYERS)
def test_place_layers_read_back_in_wgs84_with_names(folder: Path, layer: str) -> None:
    gdf = gpd.read_file(folder / "places" / f"{layer}.geojson")
    assert gdf.crs.to_epsg() == 4326
    assert len(gdf) > 0
    assert {"id", "name"} <= set(gdf.columns)
    assert gdf["id"].is_unique
    assert gdf.geometry.is_valid.all()


def test_incident_files_have_their_own_column_names(police: pd.DataFrame, ed: pd.DataFrame) -> None:
    assert list(police.columns) == [
        "id", "occurred", "easting", "northing", "category", "age_band", "weapon",
    ]  # fmt: skip
    assert list(ed.columns) == ["ref", "date", "latitude", "longitude", "injury_type", "age"]
    assert set(police["category"]) == {
        "violence with injury", "violence without injury", "robbery", "possession of weapons",
    }  # fmt: skip
    assert set(police["age_band"]) == {"10-17", "18-24", "25+"}
    assert 9_000 < len(police) < 20_000


def test_interventions_file(folder: Path) -> None:
    gdf = gpd.read_file(folder / "interventions.geojson")
    assert gdf.crs.to_epsg() == 4326
    assert set(gdf.geom_type) == {"Point", "Polygon", "LineString"}
    points = gdf.geom_type == "Point"
    assert gdf.loc[points, "radius_m"].gt(0).all()
    assert gdf.loc[~points, "radius_m"].isna().all()
    assert gdf["lead_agency"].nunique() >= 5
    assert gdf["end"].isna().any()  # some are ongoing
    expected_cols = {
        "id", "name", "type", "lead_agency", "partner_agencies", "start", "end", "days",
        "hours", "place_types", "radius_m", "cost",
    }  # fmt: skip
    assert expected_cols <= set(gdf.columns)


def test_places_lie_inside_the_area(folder: Path) -> None:
    area = gpd.read_file(folder / "area.geojson").geometry.iloc[0].buffer(1e-6)  # ~0.1 m
    for layer in PLACE_LAYERS:
        gdf = gpd.read_file(folder / "places" / f"{layer}.geojson")
        assert gdf.geometry.within(area).all(), layer


def test_small_parks_are_smaller_than_a_resolution_10_cell(town: SampleTown) -> None:
    areas = town.places["parks"].to_crs(27700).geometry.area
    assert (areas < 15_000).sum() >= 3


# --------------------------------------------------------------------------------------
# Incidents against the intensity
# --------------------------------------------------------------------------------------


def test_valid_points_index_to_their_true_cells(
    valid_police: pd.DataFrame, town: SampleTown
) -> None:
    true = town.incident_truth.set_index("id")
    assert (true.loc[valid_police["id"], "h3"].to_numpy() == valid_police["h3"].to_numpy()).all()
    assert (true.loc[valid_police["id"], "month"].to_numpy() == valid_police["month"]).all()


def test_counts_agree_with_the_intensity(
    valid_police: pd.DataFrame, intensity: pd.DataFrame
) -> None:
    counts = valid_police.groupby(["h3", "month"]).size().rename("n").reset_index()
    table = intensity.merge(counts, on=["h3", "month"], how="left").fillna({"n": 0})
    assert len(table) == len(intensity)  # no incident outside the modelled cells and months
    assert table["n"].sum() == len(valid_police)
    lam = table["expected"].sum()
    # Near-repeats inflate the variance: Var = λ (1 + r)(1 - r + r^2) / (1 + r) ≈ 1.2 λ.
    assert abs(len(valid_police) - lam) < 4 * np.sqrt(1.2 * lam)
    per_cell = table.groupby("h3")[["n", "expected"]].sum()
    assert np.corrcoef(per_cell["n"], per_cell["expected"])[0, 1] > 0.95
    pearson = ((table["n"] - table["expected"]) ** 2 / table["expected"]).mean()
    assert 0.9 < pearson < 1.5


def test_relative_risk_is_the_product_of_true_rrvs(folder: Path, truth: dict) -> None:
    cells = pq.read_table(folder / "truth" / "cells.parquet").to_pandas()
    rr = np.ones(len(cells))
    for f in truth["factors"]:
        rr *= f["rrv"] ** cells[f"x_{f['name']}"]
        assert f["cells_exposed"] == cells[f"x_{f['name']}"].sum() > 0
    np.testing.assert_allclose(cells["relative_risk"], rr)
    rrvs = [f["rrv"] for f in truth["factors"]]
    assert len(set(rrvs)) == len(rrvs) and rrvs.count(1.0) == 1
    assert [f.name for f in FACTORS] == [f["name"] for f in truth["factors"]]


def test_after_school_peak_and_weekend_evenings(valid_police: pd.DataFrame) -> None:
    when = valid_police["when"]
    weekday = when.dt.day_of_week < 5
    after_school = when.dt.hour.between(15, 18)
    assert after_school[weekday].mean() > 0.35
    evening = (when.dt.hour >= 19) | (when.dt.hour < 3)
    assert evening[~weekday].mean() > evening[weekday].mean() + 0.1
    young = valid_police["age_band"] == "10-17"
    assert young[weekday & after_school].mean() > young[~(weekday & after_school)].mean()


def test_near_repeats_are_at_the_same_place_days_later(
    valid_police: pd.DataFrame, town: SampleTown
) -> None:
    truth = town.incident_truth
    pairs = truth.loc[truth["repeat_of"] != "", ["id", "repeat_of"]]
    assert 0.06 < len(pairs) / len(valid_police) < 0.12
    rows = valid_police.set_index("id")
    rep, src = rows.loc[pairs["id"]], rows.loc[pairs["repeat_of"]]
    assert (rep["easting"].to_numpy() == src["easting"].to_numpy()).all()
    assert (rep["northing"].to_numpy() == src["northing"].to_numpy()).all()
    days = (rep["when"].to_numpy() - src["when"].to_numpy()) / np.timedelta64(1, "D")
    assert (days > 0).all() and (days < 8).all()


# --------------------------------------------------------------------------------------
# Bad rows and duplicates: an independent validator must find exactly the listed ones
# --------------------------------------------------------------------------------------


def _reasons(
    x: pd.Series, y: pd.Series, when_ok: pd.Series, ids: pd.Series, area: shapely.Geometry
) -> dict[int, str]:
    missing = (x == "") | (y == "")
    xf = pd.to_numeric(x, errors="coerce").to_numpy()
    yf = pd.to_numeric(y, errors="coerce").to_numpy()
    inside = shapely.contains_xy(area, xf, yf)
    swapped = shapely.contains_xy(area, yf, xf)
    reason = np.select(
        [ids.duplicated().to_numpy(), missing.to_numpy(), ~when_ok.to_numpy(), inside, swapped],
        ["duplicate_id", "missing_location", "bad_date", "", "swapped_coordinates"],
        "outside_area",
    )
    return {int(i): str(reason[i]) for i in np.flatnonzero(reason != "")}


def test_police_bad_rows_are_exactly_the_listed_ones(
    police: pd.DataFrame, truth: dict, area_bng: shapely.Geometry
) -> None:
    when = pd.to_datetime(police["occurred"], format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    found = _reasons(police["easting"], police["northing"], when.notna(), police["id"], area_bng)
    listed = _bad_rows(truth, "incidents_police.csv")
    assert found == listed
    assert set(listed.values()) == set(truth["bad_row_rules"]["kinds"])
    assert 0.02 < len(listed) / len(police) < 0.04


def test_ed_bad_rows_are_exactly_the_listed_ones(
    ed: pd.DataFrame, truth: dict, area_bng: shapely.Geometry
) -> None:
    when = pd.to_datetime(ed["date"], format="%d/%m/%Y %H:%M", errors="coerce")
    lat = pd.to_numeric(ed["latitude"], errors="coerce").to_numpy()
    lon = pd.to_numeric(ed["longitude"], errors="coerce").to_numpy()
    e, n = wgs84_to_bng(lat, lon)
    es, ns = wgs84_to_bng(lon, lat)  # as if swapped
    missing = (ed["latitude"] == "").to_numpy()
    e_txt = pd.Series(np.where(missing, "", e.astype(str)))
    n_txt = pd.Series(np.where(missing, "", n.astype(str)))
    found = _reasons(e_txt, n_txt, when.notna(), ed["ref"], area_bng)
    swapped = shapely.contains_xy(area_bng, es, ns)
    found = {
        r: ("swapped_coordinates" if swapped[r] and v == "outside_area" else v)
        for r, v in found.items()
    }
    assert found == _bad_rows(truth, "incidents_ed.csv")


def test_bad_rows_carry_the_validators_reasons_and_line_numbers(truth: dict) -> None:
    for bad in truth["bad_rows"]:
        assert bad["reason"] in REJECT_REASONS
        assert bad["row"] == bad["index"] + 2  # the header is line 1
    reasons = {b["reason"] for b in truth["bad_rows"]}
    assert {"no location", "coordinates look swapped", "duplicate id"} <= reasons


def test_ed_duplicates_point_at_police_injuries(
    ed: pd.DataFrame, valid_police: pd.DataFrame, truth: dict
) -> None:
    pairs = pd.DataFrame(truth["ed_police_duplicates"]["pairs"], columns=["ref", "id"])
    assert len(pairs) > 500 and pairs["ref"].is_unique
    p = valid_police.set_index("id").loc[pairs["id"]]
    assert (p["category"] == "violence with injury").all()
    valid_ed = ed.drop(index=list(_bad_rows(truth, "incidents_ed.csv")))
    e = valid_ed.set_index("ref").loc[pairs["ref"]]
    arrival = pd.to_datetime(e["date"], format="%d/%m/%Y %H:%M").to_numpy()
    minutes = (arrival - p["when"].to_numpy()) / np.timedelta64(1, "m")
    assert (minutes >= 15).all() and (minutes <= 240).all()
    x, y = wgs84_to_bng(e["latitude"].astype(float), e["longitude"].astype(float))
    gap = np.hypot(x - p["easting"].astype(float), y - p["northing"].astype(float))
    assert np.median(gap) < 50 and gap.max() < 200
    assert truth["counts"]["ed_only"] == len(valid_ed) - len(pairs) > 0


# --------------------------------------------------------------------------------------
# Interventions and gaps
# --------------------------------------------------------------------------------------


def _active(table: pd.DataFrame, item: dict) -> pd.Series:
    last = item["last_month"] or "9999-12"
    return (table["month"] >= item["first_month"]) & (table["month"] <= last)


def test_intensity_multiplier_follows_the_recorded_effects(
    intensity: pd.DataFrame, truth: dict
) -> None:
    mult = pd.Series(1.0, index=intensity.index)
    for item in truth["interventions"]["items"]:
        active = _active(intensity, item)
        mult[active & intensity["h3"].isin(item["footprint_h3"])] *= item["effect"]
        mult[active & intensity["h3"].isin(item["ring_h3"])] *= item["ring_multiplier"]
    np.testing.assert_allclose(intensity["intervention_multiplier"], mult)
    np.testing.assert_allclose(intensity["expected"], intensity["expected_no_intervention"] * mult)


def test_effective_interventions_reduce_counts_while_active(
    valid_police: pd.DataFrame, intensity: pd.DataFrame, truth: dict
) -> None:
    counts = valid_police.groupby(["h3", "month"]).size().rename("n").reset_index()
    table = intensity.merge(counts, on=["h3", "month"], how="left").fillna({"n": 0})
    treated = pd.Series(False, index=table.index)
    for item in truth["interventions"]["items"]:
        if item["effect"] <= 0.7:
            treated |= _active(table, item) & table["h3"].isin(item["footprint_h3"])
    got = table.loc[treated, "n"].sum()
    lam = table.loc[treated, "expected"].sum()
    lam0 = table.loc[treated, "expected_no_intervention"].sum()
    assert got / lam0 < 0.85
    assert abs(got - lam) < 4 * np.sqrt(1.2 * lam)


def test_interventions_include_well_and_poorly_placed_ones(truth: dict) -> None:
    items = truth["interventions"]["items"]
    placements = {i["placement"] for i in items}
    assert placements == {"high-risk place", "low-risk area"}
    well = [i["footprint_mean_relative_risk"] for i in items if i["placement"] == "high-risk place"]
    poor = [i["footprint_mean_relative_risk"] for i in items if i["placement"] == "low-risk area"]
    assert np.mean(well) > 1.5 * np.mean(poor)
    assert any(i["ring_multiplier"] > 1 for i in items)  # displacement
    assert any(i["ring_multiplier"] < 1 for i in items)  # diffusion of benefit


def test_gaps_are_uncovered_high_risk_places(truth: dict) -> None:
    gaps = truth["gaps"]
    assert len(gaps) >= 2
    covered = {h for i in truth["interventions"]["items"] for h in i["footprint_h3"]}
    for gap in gaps:
        assert not covered & set(gap["h3"])
        assert gap["rank"] <= 10
    assert max(g["relative_risk"] for g in gaps) >= 5.0  # at least two strong factors combine


# --------------------------------------------------------------------------------------
# Arguments and the committed sample
# --------------------------------------------------------------------------------------


def test_other_periods_and_resolutions() -> None:
    small = generate_town(seed=3, months=12, start="2024-04", resolution=8)
    assert small.months[0] == "2024-04" and small.months[-1] == "2025-03"
    assert set(small.intensity["month"]) == set(small.months)
    assert set(grid.cell_resolution(grid.cells_from_hex(small.cells["h3"]))) == {8}
    occurred = small.incidents_police["occurred"].str.slice(0, 7)
    assert (
        occurred[occurred.str.match(r"^\d{4}-\d{2}$")].between("2024-04", "2025-03").mean() > 0.99
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"seed": -1}, {"months": 3}, {"start": "2023-13"}, {"start": "Jan 2023"}, {"resolution": 4}],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(SettingsError):
        generate_town(**kwargs)


def test_committed_sample_data_is_up_to_date(folder: Path) -> None:
    if not (SAMPLE_DATA / "truth" / "truth.json").exists():
        pytest.skip("sample_data/ has not been generated")
    committed = _hashes(SAMPLE_DATA)
    stale = [n for n, h in _hashes(folder).items() if committed[n] != h]
    assert not stale, (
        f"sample_data/ is stale ({', '.join(stale)}); regenerate it with "
        "`geojtai sample sample_data --seed 42`"
    )
