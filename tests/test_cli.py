from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from geojtai.cli import main
from geojtai.io.studyfolder import load_study

from .conftest import SAMPLE_DATA


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "geojtai", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("sample", "build", "serve", "demo"):
        assert command in result.output


def test_build_from_flags(tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--incidents",
            f"police={SAMPLE_DATA / 'incidents_police.csv'}",
            "--incidents",
            f"emergency department={SAMPLE_DATA / 'incidents_ed.csv'}",
            "--area",
            str(SAMPLE_DATA / "area.geojson"),
            "--resolution",
            "10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output
    assert "places in the study region" not in result.output  # no --places given
    study = load_study(out)
    assert study.manifest["settings"]["resolution"] == 10
    assert {r["source"] for r in study.manifest["inputs"] if r["kind"] == "incidents"} == {
        "police",
        "emergency department",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--incidents", "nope.csv", "--out", "x"], "nope.csv"),
        (["build", "--resolution", "99", "--incidents", "a.csv", "--out", "x"], "resolution"),
        (["build", "--out", "x"], "No incident input"),
        (["build", "missing-study.toml", "--out", "x"], "missing-study.toml"),
        (["serve", "no-such-study"], "no-such-study"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("geojtai: error:") for line in result.stderr.strip().splitlines())


def test_garbage_file_exits_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv.gz"
    garbage.write_bytes(b"\x00\x01 not gzip at all")
    result = run("build", "--incidents", str(garbage), "--out", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "garbage.csv.gz" in result.stderr and "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    result = run("build", "--resolution", "nine", "--out", "x")
    assert result.returncode == 2


def test_build_with_places_prints_the_place_question(tmp_path: Path) -> None:
    places = SAMPLE_DATA / "places"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--incidents",
            f"police={SAMPLE_DATA / 'incidents_police.csv'}",
            "--places",
            f"parks={places / 'parks.geojson'}",
            "--places",
            str(places / "streets.geojson"),
            "--out",
            str(tmp_path / "study"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "places in the study region: 0 shopping_centres" in result.output
    assert "9 parks, 264 streets" in result.output
    for line in ("Parks and open spaces", "Streets", "Elsewhere", "top parks: Victoria Park"):
        assert line in result.output


def test_build_with_an_unknown_place_layer_fails_cleanly(tmp_path: Path) -> None:
    result = run(
        "build",
        "--incidents",
        str(SAMPLE_DATA / "incidents_police.csv"),
        "--places",
        f"playgrounds={SAMPLE_DATA / 'places' / 'parks.geojson'}",
        "--out",
        str(tmp_path / "study"),
    )
    assert result.returncode == 2
    assert "geojtai: error:" in result.stderr and "playgrounds" in result.stderr
    assert "parks" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "study").exists()


def test_evaluate_prints_the_backtest(sample_study: Path) -> None:
    truth = SAMPLE_DATA / "truth" / "intensity.parquet"
    result = CliRunner().invoke(
        main, ["evaluate", str(sample_study), "--test-months", "3", "--oracle", str(truth)]
    )
    assert result.exit_code == 0, result.output
    for method in ("last_period", "rolling_mean", "prospective", "kde", "rtm", "boosted", "oracle"):
        assert method in result.output
    assert "scored against the expected counts" in result.output
    as_json = CliRunner().invoke(main, ["evaluate", str(sample_study), "--json"])
    assert as_json.exit_code == 0, as_json.output
    import json

    report = json.loads(as_json.output)
    assert report["test_months"] == 6 and len(report["observed"]["origins"]) == 6


def test_bad_forecast_month_and_missing_study_fail_cleanly(tmp_path: Path) -> None:
    bad = run(
        "build",
        "--incidents",
        str(SAMPLE_DATA / "incidents_police.csv"),
        "--forecast-from",
        "1999-01",
        "--out",
        str(tmp_path / "s"),
    )
    assert bad.returncode == 2 and "forecast-from 1999-01 is not possible" in bad.stderr
    missing = run("evaluate", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no study folder here" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr


def test_plan_prints_suggestions(sample_study: Path) -> None:
    result = CliRunner().invoke(
        main, ["plan", str(sample_study), "--teams", "2", "--radius-m", "250"]
    )
    assert result.exit_code == 0, result.output
    assert "2 teams, 250 m each" in result.output and "   1  " in result.output
    bad = CliRunner().invoke(main, ["plan", str(sample_study), "--teams", "0", "--radius-m", "250"])
    assert bad.exit_code == 2


def test_plan_what_if_and_usage(sample_study: Path) -> None:
    interventions = SAMPLE_DATA / "interventions.geojson"
    result = CliRunner().invoke(main, ["plan", str(sample_study), "--what-if", str(interventions)])
    assert result.exit_code == 0, result.output
    assert "proposals would newly cover" in result.output
    usage = CliRunner().invoke(main, ["plan", str(sample_study)])
    assert usage.exit_code == 2 and "--teams and --radius-m" in usage.output
