"""Place-layer specs: the built-in TOML files, parsing errors, overrides and selection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geojtai.errors import SettingsError
from geojtai.layers import (
    BUILTIN_LAYERS_DIR,
    LayerSpec,
    Selector,
    load_layer_specs,
    parse_layer_spec,
    select_features,
)

REQUIRED = {
    "parks",
    "streets",
    "shopping_centres",
    "schools",
    "transport_hubs",
    "licensed_premises",
}


def test_builtin_specs_cover_the_required_place_types() -> None:
    specs = load_layer_specs()
    assert {s.name for s in specs} >= REQUIRED
    assert [s.priority for s in specs] == sorted(s.priority for s in specs)
    by = {s.name: s for s in specs}
    assert by["streets"].kind == "line"
    assert by["parks"].kind == "polygon"
    assert by["licensed_premises"].kind == "point"
    assert "Park/Open Space" in by["parks"].policeuk_labels
    assert {"major", "local", "pedestrian"} <= set(by["streets"].classes)
    # Every spec can select from OSM and has a style for maps.
    for spec in specs:
        assert spec.osm.select, spec.name
        assert spec.style.colour.startswith("#")
        assert spec.influence_m == tuple(sorted(spec.influence_m))


def test_street_classes_map_values_and_default_to_other() -> None:
    streets = {s.name: s for s in load_layer_specs()}["streets"]
    got = streets.class_of(pd.Series(["primary", "footway", "residential", "raceway"]))
    assert got.tolist() == ["major", "pedestrian", "local", "other"]


def test_parse_collects_every_problem_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        parse_layer_spec(
            "Bad-Name",
            {
                "kind": "blob",
                "colour": "red",
                "context_m": -1,
                "style": {"colour": "green"},
                "osm": {"select": [{"key": "leisure"}], "geometries": ["area"]},
            },
        )
    text = str(info.value)
    for expected in (
        "layer name",
        "unknown top-level keys ['colour']",
        "'title' is required",
        "'kind' must be one of",
        "context_m must be a number >= 0",
        "style.colour must be a colour",
        "osm.select[0] must have exactly 'key' and 'values'",
        "osm.geometries ['area']",
    ):
        assert expected in text
    assert len(info.value.problems) >= 7


def test_a_user_folder_adds_and_overrides_specs(tmp_path: Path) -> None:
    (tmp_path / "parks.toml").write_text(
        'title = "Green spaces"\nkind = "polygon"\npriority = 5\ncontext_m = 20\n'
        '[osm]\nselect = [{ key = "leisure", values = ["park"] }]\n',
        encoding="utf-8",
    )
    (tmp_path / "youth_clubs.toml").write_text(
        'title = "Youth clubs"\nkind = "point"\npriority = 25\n'
        '[osm]\nselect = [{ key = "amenity", values = ["youth_centre"] }]\n'
        '[style]\ncolour = "#00897b"\n',
        encoding="utf-8",
    )
    specs = load_layer_specs([BUILTIN_LAYERS_DIR, tmp_path])
    by = {s.name: s for s in specs}
    assert by["parks"].title == "Green spaces" and by["parks"].context_m == 20.0
    assert by["youth_clubs"].kind == "point"
    assert specs[0].name == "parks"  # priority 5 now sorts first
    assert len(specs) == len(load_layer_specs()) + 1


def test_bad_toml_and_missing_folder_are_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("title = [unclosed", encoding="utf-8")
    with pytest.raises(SettingsError, match="broken.toml: cannot read layer spec"):
        load_layer_specs([tmp_path])
    with pytest.raises(SettingsError, match="layers folder not found"):
        load_layer_specs([tmp_path / "nope"])


def test_select_features_first_selector_wins_and_star_means_any() -> None:
    frame = pd.DataFrame(
        {
            "leisure": ["park", None, "pitch", "garden"],
            "landuse": ["retail", "recreation_ground", None, ""],
        }
    )
    mask, value = select_features(
        frame,
        [Selector("leisure", ("park", "garden")), Selector("landuse", ("recreation_ground",))],
    )
    assert mask.tolist() == [True, True, False, True]
    assert value.tolist() == ["park", "recreation_ground", None, "garden"]
    mask, value = select_features(frame, [Selector("landuse", ("*",))])
    assert mask.tolist() == [True, True, False, False]
    mask, _ = select_features(frame, [Selector("missing_column", ("*",))])
    assert not mask.any()


def test_to_dict_round_trips_the_style() -> None:
    spec = parse_layer_spec(
        "parks",
        {"title": "Parks", "kind": "polygon", "style": {"colour": "#112233", "weight": 2}},
    )
    assert isinstance(spec, LayerSpec)
    d = spec.to_dict()
    assert d["style"]["colour"] == "#112233" and d["style"]["fill_colour"] == "#112233"
    assert d["style"]["weight"] == 2.0 and d["kind"] == "polygon"
