from __future__ import annotations

from pathlib import Path

import pytest

from geojtai.categories import SERIOUS_VIOLENCE
from geojtai.errors import SettingsError
from geojtai.settings import PlaceInput, StudySettings, load_study_toml


def test_defaults_are_serious_violence_at_res_9() -> None:
    s = StudySettings()
    assert s.resolution == 9
    assert s.categories == tuple(sorted(SERIOUS_VIOLENCE))
    assert s.disclosure_threshold == 10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resolution": 5}, "resolution must be an integer from 6 to 12"),
        ({"resolution": 13}, "resolution"),
        ({"forecast_from": "2024-13"}, "forecast_from must look like YYYY-MM"),
        ({"disclosure_threshold": 7}, "at least 8"),
        ({"outlier_km": 0}, "outlier_km"),
    ],
)
def test_invalid_settings_raise(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        StudySettings(**changes)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        StudySettings(resolution=3, disclosure_threshold=2)
    assert len(info.value.problems) == 2


def test_settings_are_frozen_and_normalised() -> None:
    s = StudySettings(categories=("Robbery", "ASB", "robbery"), harm_weights={"Robbery": 3})  # type: ignore[arg-type]
    assert s.categories == ("anti-social behaviour", "robbery")
    assert dict(s.harm_weights) == {"robbery": 3.0}
    with pytest.raises(AttributeError):
        s.resolution = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.harm_weights["robbery"] = 4.0  # type: ignore[index]
    assert s.to_dict()["categories"] == ["anti-social behaviour", "robbery"]


def test_with_options_ignores_none() -> None:
    s = StudySettings().with_options(resolution=10, name=None)
    assert s.resolution == 10 and s.name == "study"


def test_load_study_toml(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(
        """
[study]
name = "Town"
resolution = 10
categories = ["robbery"]

[[incidents]]
path = "police.csv"
source = "police"

[[incidents]]
path = "ed.csv"

[area]
path = "area.geojson"

[harm_weights]
robbery = 400
""",
        encoding="utf-8",
    )
    settings, inputs = load_study_toml(tmp_path / "study.toml")
    assert settings.name == "Town" and settings.resolution == 10
    assert dict(settings.harm_weights) == {"robbery": 400.0}
    assert [i.path for i in inputs.incidents] == [tmp_path / "police.csv", tmp_path / "ed.csv"]
    assert [i.source for i in inputs.incidents] == ["police", None]
    assert inputs.area == tmp_path / "area.geojson"
    assert inputs.interventions is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[study]\nresolution = 4\n", "resolution"),
        ("[study]\ncolour = 'red'\n", "unknown \\[study\\] settings \\['colour'\\]"),
        ("[study\n", "cannot read study file"),
    ],
)
def test_bad_study_toml_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message) as info:
        load_study_toml(path)
    assert "study.toml" in str(info.value)


def test_missing_study_toml(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_study_toml(tmp_path / "nope.toml")


def test_places_as_one_table_or_several(tmp_path: Path) -> None:
    one = tmp_path / "one.toml"
    one.write_text('[places]\npath = "places"\n[layers]\npath = "my_layers"\n', encoding="utf-8")
    _, inputs = load_study_toml(one)
    assert inputs.places == (PlaceInput(tmp_path / "places"),)
    assert inputs.layers == tmp_path / "my_layers"
    many = tmp_path / "many.toml"
    many.write_text(
        '[[places]]\npath = "extract.osm.pbf"\n'
        '[[places]]\npath = "greenspace.geojson"\nlayer = "parks"\n',
        encoding="utf-8",
    )
    _, inputs = load_study_toml(many)
    assert inputs.places == (
        PlaceInput(tmp_path / "extract.osm.pbf"),
        PlaceInput(tmp_path / "greenspace.geojson", layer="parks"),
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[[places]]\nfile = "x.geojson"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="places entry 1 must have 'path'"):
        load_study_toml(bad)
