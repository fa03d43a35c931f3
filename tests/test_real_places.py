"""Place layers on real data (../shared/data/real beside the repository); skipped when absent.

Rutland: a complete OSM extract (.osm.pbf) and the Rutland police.uk subset. City of London:
police.uk crime, OS Open Greenspace parks and OSM points of interest (no OSM street network
or polygons exist for the City in the staged data, so streets come from police.uk's text).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from geojtai.cli import main
from geojtai.io.studyfolder import load_study
from geojtai.layers import load_layer_specs
from geojtai.studyops import evaluate_study

from .conftest import REAL_DATA

RUTLAND = REAL_DATA / "rutland"
CITY = REAL_DATA / "city-of-london"
CONTEXTS = {spec.name for spec in load_layer_specs()} | {"other"}


def needs(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"real data not present: {path}")


def build(args: list[str], out: Path) -> str:
    result = CliRunner().invoke(main, ["build", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    print(result.output)  # the place question, as a user sees it (pytest -s)
    return result.output


@pytest.fixture(scope="module")
def rutland(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    crime = RUTLAND / "crime" / "rutland_only_2024-01_to_2024-04.csv.gz"
    pbf = RUTLAND / "osm" / "rutland-latest.osm.pbf"
    area = RUTLAND / "boundaries" / "rutland_lad2017_super_generalised.geojson"
    needs(crime, pbf, area)
    out = tmp_path_factory.mktemp("real") / "rutland"
    args = ["--incidents", f"police={crime}", "--places", str(pbf), "--area", str(area)]
    output = build([*args, "--resolution", "10", "--all-categories"], out)
    return out, output


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    greenspace = CITY / "greenspace_non_osm" / "os_open_greenspace_london_city_plus_1km.geojson"
    pois = CITY / "osm" / "geofabrik_osm_pois_london_2019_city_plus_1km.geojson.gz"
    area = CITY / "boundaries" / "city_of_london_lad2022_gen20.geojson"
    needs(CITY / "crime", greenspace, pois, area)
    out = tmp_path_factory.mktemp("real") / "city"
    args = [
        "--incidents",
        f"police={CITY / 'crime'}",
        "--places",
        f"parks={greenspace}",
        "--places",
        str(pois),
        "--area",
        str(area),
    ]
    return out, build([*args, "--resolution", "10"], out)


def _every_incident_has_a_context(out: Path) -> pd.DataFrame:
    incidents = load_study(out).incidents()
    assert incidents["place_type"].notna().all()
    assert set(incidents["place_type"]) <= CONTEXTS
    assert incidents["place_method"].isin(["geometry", "geometry+text", "text", "none"]).all()
    return incidents


def test_rutland_osm_layers_are_read_and_every_incident_placed(rutland: tuple[Path, str]) -> None:
    out, output = rutland
    manifest = load_study(out).manifest
    found = {k: v["features_in_region"] for k, v in manifest["places"]["layers"].items()}
    for layer in ("parks", "streets", "shopping_centres", "schools", "licensed_premises"):
        assert found[layer] > 0, layer
    assert found["streets"] > 5_000 and found["parks"] > 100
    incidents = _every_incident_has_a_context(out)
    assert len(incidents) == 605
    # police.uk snaps crimes to street centres: most land on a street, by geometry and text.
    share = manifest["places"]["share"]
    assert share["streets"]["share_incidents"] > 0.5
    assert share["shopping_centres"]["incidents"] > 0  # "On or near Shopping Area"
    assert share["schools"]["incidents"] > 0  # Catmose College, "Further/Higher Educational"
    assert abs(sum(v["share_incidents"] for v in share.values()) - 1) < 1e-3
    assert "where incidents happened" in output and "Streets" in output
    assert "Stocken Hall Mews" in output  # the prison: Rutland's most frequent location
    cells = load_study(out).cells
    assert (cells["frac_parks"] > 0).sum() > 100
    assert cells["len_streets_m"].sum() > 1_000_000  # Rutland's mapped streets: over 1,000 km


def test_city_of_london_files_give_places_and_every_incident_a_context(
    city: tuple[Path, str],
) -> None:
    out, output = city
    manifest = load_study(out).manifest
    found = {k: v["features_in_region"] for k, v in manifest["places"]["layers"].items()}
    assert found["parks"] > 0  # OS Open Greenspace
    assert found["licensed_premises"] > 100  # OSM pubs, bars, nightclubs, fast food
    assert found["shopping_centres"] > 0  # supermarkets and department stores (POIs)
    assert found["streets"] == 0  # no street network staged for the City
    incidents = _every_incident_has_a_context(out)
    scope = incidents[incidents["in_scope"]]
    share = manifest["places"]["share"]
    assert sum(v["incidents"] for v in share.values()) == len(scope)
    # With no street lines, police.uk's "On or near <street>" text places incidents on streets.
    streets = scope[scope["place_type"] == "streets"]
    assert (streets["place_method"] == "text").mean() > 0.9
    assert share["streets"]["share_incidents"] > 0.5
    assert share["shopping_centres"]["incidents"] > 100  # "On or near Shopping Area"
    assert share["parks"]["incidents"] > 0
    assert "Bishopsgate" in output


def test_city_of_london_backtest_model_beats_every_baseline(city: tuple[Path, str]) -> None:
    """24 months of police.uk serious violence; the last 6 months forecast one at a time."""
    out, _ = city
    result = evaluate_study(out, test_months=6)
    print(result["text"])  # the methods side by side (pytest -s)
    summary = pd.DataFrame(result["report"]["observed"]["summary"])
    at5 = summary[summary["share"] == 0.05].set_index("method")["pai"]
    baselines = ["last_period", "rolling_mean", "prospective", "kde"]
    assert at5["boosted"] > at5[baselines].max(), at5.to_dict()
    model = load_study(out).manifest["analysis"]
    assert model["forecast_from"] == "2026-01"
