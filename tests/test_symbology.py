"""Tests for geojtai.symbology: LayerStyle validation and colour lookup."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geojtai.symbology import LayerStyle, StyleClass

GRADUATED = LayerStyle(
    title="Rate",
    kind="polygon",
    renderer="graduated",
    attribute="rate",
    classes=(
        StyleClass(None, "0 to 10", "#000001", 0.0, 10.0),
        StyleClass(None, "10 to 20", "#000002", 10.0, 20.0),
        StyleClass(None, "20 to 50", "#000003", 20.0, 50.0),
    ),
    no_data_colour="#eeeeee",
)

GI_BIN = LayerStyle(
    title="Hot and cold spots",
    kind="polygon",
    renderer="categorized",
    attribute="gi_bin",
    classes=tuple(StyleClass(b, f"bin {b}", f"#0000{b + 3:02d}") for b in range(-3, 4)),
    no_data="not tested",
    no_data_colour="#eeeeee",
)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        (
            {
                "kind": "blob",
                "renderer": "categorized",
                "attribute": None,
                "colour": "#12",
                "fill_opacity": 1.5,
            },
            ["`kind` was 'blob'", "categorized style needs an attribute", "'#12' is not", "1.5"],
        ),
        (
            {
                "kind": "blob",
                "renderer": "heatmap",
                "attribute": "x",
                "classes": (StyleClass("a", "A", "#000000"),),
                "outline": "red",
                "fill_opacity": -0.1,
            },
            ["`kind` was 'blob'", "`renderer` was 'heatmap'", "'red' is not", "-0.1"],
        ),
        (
            {
                "kind": "point",
                "renderer": "graduated",
                "attribute": "x",
                "classes": (
                    StyleClass(None, "no upper", "#000000", 0.0, None),
                    StyleClass(None, "no bounds", "#12", None, None),
                ),
                "no_data_colour": "grey",
                "fill_opacity": 1.5,
            },
            [
                "'no upper' needs numeric lower and upper",
                "'no bounds' needs numeric lower and upper",
                "'#12' is not",
                "'grey' is not",
                "1.5",
            ],
        ),
    ],
)
def test_every_problem_is_reported_in_one_error(
    kwargs: dict[str, object], fragments: list[str]
) -> None:
    with pytest.raises(ValueError, match="LayerStyle 'Bad'") as info:
        LayerStyle(title="Bad", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, message


@pytest.mark.parametrize("opacity", [0.0, 1.0, 0.5])
def test_valid_style_builds(opacity: float) -> None:
    style = LayerStyle(title="Ok", kind="line", fill_opacity=opacity, outline=None)
    assert style.fill_opacity == opacity


@pytest.mark.parametrize("opacity", [math.nan, 1.0000001, -1e-9])
def test_opacity_outside_zero_one_is_refused(opacity: float) -> None:
    with pytest.raises(ValueError, match="fill_opacity"):
        LayerStyle(title="Bad", kind="line", fill_opacity=opacity)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "#000001"),  # the first class takes its lower bound
        (-0.0001, "#eeeeee"),  # below every class
        (10.0, "#000001"),  # an upper bound belongs to the lower class
        (10.0001, "#000002"),
        (20, "#000002"),
        (50.0, "#000003"),
        (50.0001, "#eeeeee"),  # above every class
        (None, "#eeeeee"),
        (math.nan, "#eeeeee"),
        ("15", "#000002"),  # numeric text is a number
    ],
)
def test_graduated_colour_of(value: object, expected: str) -> None:
    assert GRADUATED.colour_of(value) == expected


def test_graduated_colours_equal_colour_of_on_mixed_values() -> None:
    values = [0, 0.0, -1, 5, 10, 10.5, 20, 20.0001, 50, 51, None, math.nan, np.inf, -np.inf]
    got = GRADUATED.colours(np.array(values, dtype=object))
    assert got.dtype == object
    assert got.tolist() == [GRADUATED.colour_of(v) for v in values]
    assert got.tolist()[:3] == ["#000001", "#000001", "#eeeeee"]


@pytest.mark.parametrize(
    "values",
    [
        [-3, -2, -1, 0, 1, 2, 3, 4, None],
        np.array([-3, 0, 3, 7]),
        pd.Series([3, -3, 0], index=[10, 20, 30]),  # a non-default index does not matter
        pd.Series([3.0, math.nan, -1.0]),  # ints with a gap become floats
        pd.Series([2, None, -2], dtype="Int64"),
    ],
)
def test_categorized_int_values_match_colour_of(values: object) -> None:
    listed = list(values)  # type: ignore[call-overload]
    expected = [GI_BIN.colour_of(None if pd.isna(v) else v) for v in listed]
    assert GI_BIN.colours(values).tolist() == expected


def test_categorized_known_and_unknown_values() -> None:
    got = GI_BIN.colours(pd.Series([-3, 3, 0, 9, None]))
    assert got.tolist() == ["#000000", "#000006", "#000003", "#eeeeee", "#eeeeee"]
    assert GI_BIN.colour_of("3") == "#eeeeee"  # text is not the integer category


def test_categorized_text_values() -> None:
    style = LayerStyle(
        title="Gaps",
        kind="polygon",
        renderer="categorized",
        attribute="gap",
        classes=(
            StyleClass("no coverage", "None", "#d7191c"),
            StyleClass("single agency", "One", "#fd8d3c"),
        ),
    )
    values = ["single agency", "no coverage", "both", None, math.nan]
    got = style.colours(values).tolist()
    assert got == [style.colour_of(v) for v in values]
    assert got == ["#fd8d3c", "#d7191c", "#bdbdbd", "#bdbdbd", "#bdbdbd"]


@pytest.mark.parametrize("values", [[], [None, 1, "x", math.nan], pd.Series([1.0, 2.0])])
def test_single_renderer_paints_everything_one_colour(values: object) -> None:
    style = LayerStyle(title="Roads", kind="line", colour="#123abc")
    got = style.colours(values)
    assert got.tolist() == ["#123abc"] * len(values)  # type: ignore[arg-type]
    assert style.colour_of(None) == "#123abc"


@pytest.mark.parametrize(
    ("style", "value"),
    [
        (GI_BIN, pd.NA),
        (GRADUATED, pd.NA),
        (GRADUATED, "withheld"),
    ],
)
def test_colour_of_missing_like_values_agrees_with_colours(
    style: LayerStyle, value: object
) -> None:
    assert style.colour_of(value) == style.colours([value])[0] == "#eeeeee"
