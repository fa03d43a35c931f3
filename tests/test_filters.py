from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import grid
from geojtai.errors import FilterError, SchemaError
from geojtai.filters import (
    BREAKDOWNS,
    FILTER_KEYS,
    CellFilter,
    IncidentIndex,
    describe_filter,
    filter_mask,
    filter_summary,
    filtered_breakdown,
    filtered_cells,
    filtered_series,
    parse_filter,
)

RES = 9
# One res-7 cell P; A8 and B8 two of its res-8 children; c1, c2 children of A8, c3 of B8.
P = grid.cells_from_points(np.array([52.49]), np.array([-1.39]), resolution=7)
_, CHILDREN8 = grid.cell_children(P, 8)
A8, B8 = CHILDREN8[:2]
C1, C2 = grid.cell_children(np.array([A8]), RES)[1][:2]
C3 = grid.cell_children(np.array([B8]), RES)[1][0]
H1, H2, H3, HA8, HB8, HP = grid.cells_to_hex(np.array([C1, C2, C3, A8, B8, P[0]]))

# 2024-01-01 is a Monday. Rows 4 and 7 have no time of day; row 9 is out of scope.
ROWS = [
    # h3, month, category, source, age_band, place_type, occurred, time_known, harm, in_scope
    (H1, "2024-01", "robbery", "police", "10-17", "parks", "2024-01-01 15:30", True, 365.0, True),
    (H1, "2024-01", "robbery", "emergency department", None, "streets", "2024-01-06 23:10",
     True, 365.0, True),
    (H2, "2024-02", "violence with injury", "police", "18-24", "parks", "2024-02-05 01:00",
     True, 100.0, True),
    (H2, "2024-02", "robbery", "police", "10-17", "shopping_centres", "2024-02-01 00:00",
     False, 365.0, True),
    (H3, "2024-04", "possession of weapons", "police", "25+", "other", "2024-04-16 16:45",
     True, 180.0, True),
    (H3, "2024-04", "violence with injury", "emergency department", "10-17", "streets",
     "2024-04-20 22:00", True, 100.0, True),
    (H3, "2024-04", "robbery", "police", "10-17", "parks", "2024-04-01 00:00", False, 365.0, True),
    (H1, "2024-04", "robbery", "police", "10-17", "parks", "2024-04-10 18:59", True, 365.0, True),
    (H1, "2024-02", "burglary", "police", "25+", "other", "2024-02-10 12:00", True, 60.0, False),
]  # fmt: skip
COLUMNS = [
    "h3", "month", "category", "source", "age_band", "place_type", "occurred", "time_known",
    "harm", "in_scope",
]  # fmt: skip


def tiny_frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame["occurred"] = pd.to_datetime(frame["occurred"])
    return frame


INDEX = IncidentIndex.from_incidents(tiny_frame(), resolution=RES)


def counts(flt: CellFilter, index: IncidentIndex = INDEX) -> dict[str, int]:
    cells = filtered_cells(index, flt)
    return dict(zip(cells["h3"], cells["count"].tolist(), strict=True))


# --- the index ------------------------------------------------------------------------------


def test_index_is_compact_and_in_scope_only() -> None:
    assert len(INDEX) == 8  # the out-of-scope burglary is left out
    assert INDEX.months == ("2024-01", "2024-02", "2024-03", "2024-04")
    assert INDEX.categories == ("possession of weapons", "robbery", "violence with injury")
    assert INDEX.age_bands == ("10-17", "18-24", "25+", "unknown")
    assert INDEX.resolutions == (5, 6, 7, 8, 9)
    assert INDEX.cell.dtype == np.int32 and INDEX.month.dtype == np.int16
    for name in ("category", "source", "age_band", "place_type", "weekday", "hour"):
        assert getattr(INDEX, name).dtype == np.int8
    assert INDEX.weekday.tolist() == [0, 5, 0, -1, 1, 5, -1, 2]
    assert INDEX.hour.tolist() == [15, 23, 1, -1, 16, 22, -1, 18]
    assert INDEX.unknown_time == 2
    assert sorted(grid.cells_to_hex(INDEX.cells)) == sorted([H1, H1, H2, H2, H3, H3, H3, H1])
    assert not INDEX.cell.flags.writeable


def test_index_with_the_study_months_and_without_optional_columns() -> None:
    frame = tiny_frame()[["h3", "month", "category", "source"]]
    index = IncidentIndex.from_incidents(
        frame, resolution=RES, months=["2023-12", "2024-01", "2024-02", "2024-03", "2024-04"]
    )
    assert len(index) == 9 and index.months[0] == "2023-12"
    assert index.place_types == ("unknown",) and index.unknown_time == 9
    assert float(index.harm.sum()) == 0.0


def test_index_sorts_cells_numerically_whatever_the_hex_case() -> None:
    frame = tiny_frame()
    frame["h3"] = frame["h3"].where(frame["h3"] != H3, H3.upper())  # sorts first as text
    index = IncidentIndex.from_incidents(frame, resolution=RES)
    assert (index.cell_ids[1:] > index.cell_ids[:-1]).all()
    assert counts(CellFilter(), index) == {H1: 3, H2: 2, H3: 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["h3", "source"]), "missing columns h3, source"),
        (lambda f: f.assign(h3=HA8), "not at the study's resolution 9"),
        (lambda f: f.assign(h3="nonsense"), "not H3 cells"),
        (lambda f: f.assign(month="2024/01"), "YYYY-MM"),
    ],
)
def test_index_rejects_unusable_incidents(change: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        IncidentIndex.from_incidents(change(tiny_frame()), resolution=RES)  # type: ignore[operator]


def test_index_months_must_cover_the_incidents() -> None:
    with pytest.raises(SchemaError, match="outside the study's months"):
        IncidentIndex.from_incidents(tiny_frame(), resolution=RES, months=["2024-01", "2024-02"])


# --- each filter field, with known answers ------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (CellFilter(), {H1: 3, H2: 2, H3: 3}),
        (CellFilter(categories=("robbery",)), {H1: 3, H2: 1, H3: 1}),
        (CellFilter(sources=("emergency department",)), {H1: 1, H3: 1}),
        (CellFilter(age_bands=("unknown",)), {H1: 1}),
        (CellFilter(age_bands=("10-17", "25+")), {H1: 2, H2: 1, H3: 3}),
        (CellFilter(place_types=("parks",)), {H1: 2, H2: 1, H3: 1}),
        (CellFilter("2024-02", "2024-02"), {H2: 2}),
        (CellFilter(month_from="2024-02"), {H1: 1, H2: 2, H3: 3}),
        (CellFilter(month_to="2024-01"), {H1: 2}),
        (CellFilter(weekdays=(5, 6)), {H1: 1, H3: 1}),
        (CellFilter(hours=(15, 16, 17, 18)), {H1: 2, H3: 1}),
        (CellFilter(hours=(22, 23, 0, 1)), {H1: 1, H2: 1, H3: 1}),
        (CellFilter(categories=("robbery",), hours=(15, 16, 17, 18)), {H1: 2}),
        (CellFilter("2024-04", None, ("robbery",), hours=(22, 23, 0, 1)), {}),
        (CellFilter(resolution=8), {HA8: 5, HB8: 3}),
        (CellFilter(resolution=7), {HP: 8}),
        (CellFilter(categories=("robbery",), resolution=8), {HA8: 4, HB8: 1}),
    ],
)
def test_filtered_cells_known_answers(flt: CellFilter, expected: dict[str, int]) -> None:
    assert counts(flt) == expected
    assert int(filter_mask(INDEX, flt).sum()) == sum(expected.values())


def test_filtered_cells_frame() -> None:
    cells = filtered_cells(INDEX, CellFilter(categories=("robbery",)))
    assert list(cells.columns) == ["h3", "count", "harm"]
    assert cells["h3"].tolist() == sorted(cells["h3"])
    assert cells.set_index("h3")["harm"].to_dict() == {H1: 1095.0, H2: 365.0, H3: 365.0}
    assert cells.attrs == {"resolution": RES, "unknown_time_excluded": 0}


@pytest.mark.parametrize(
    ("flt", "excluded"),
    [
        (CellFilter(), 0),
        (CellFilter(categories=("robbery",)), 0),  # no filter on time: nothing left out
        (CellFilter(hours=(15, 16, 17, 18)), 2),
        (CellFilter(weekdays=tuple(range(7))), 2),  # every day still needs a known time
        (CellFilter(categories=("robbery",), hours=(22, 23, 0, 1)), 2),
        (CellFilter("2024-04", None, ("robbery",), hours=(22, 23, 0, 1)), 1),
        (CellFilter(categories=("violence with injury",), weekdays=(0,)), 0),
    ],
)
def test_unknown_time_is_excluded_and_counted(flt: CellFilter, excluded: int) -> None:
    assert filtered_cells(INDEX, flt).attrs["unknown_time_excluded"] == excluded
    assert filtered_series(INDEX, flt).attrs["unknown_time_excluded"] == excluded
    assert filter_summary(INDEX, flt)["unknown_time_excluded"] == excluded
    assert not (filter_mask(INDEX, flt) & (INDEX.hour < 0)).any() or not flt.time_filtered


def test_coarser_cells_sum_their_children() -> None:
    fine = filtered_cells(INDEX, CellFilter())
    for resolution in (8, 7, 6, 5):
        coarse = filtered_cells(INDEX, CellFilter(resolution=resolution))
        parents = grid.cells_to_hex(grid.cell_parents(grid.cells_from_hex(fine["h3"]), resolution))
        expected = fine.groupby(parents)[["count", "harm"]].sum()
        got = coarse.set_index("h3")[["count", "harm"]]
        pd.testing.assert_frame_equal(got, expected, check_names=False)
        assert coarse.attrs["resolution"] == resolution


def test_series_has_every_month_in_the_range() -> None:
    series = filtered_series(INDEX, CellFilter(categories=("robbery",)))
    assert series["month"].tolist() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert series["count"].tolist() == [2, 1, 0, 2]
    assert series["harm"].tolist() == [730.0, 365.0, 0.0, 730.0]
    part = filtered_series(INDEX, CellFilter("2024-02", "2024-03"))
    assert part["month"].tolist() == ["2024-02", "2024-03"] and part["count"].tolist() == [2, 0]


def test_breakdowns() -> None:
    by = filtered_breakdown(INDEX, CellFilter(), "category")
    assert by.set_index("label")["count"].to_dict() == {
        "possession of weapons": 1,
        "robbery": 5,
        "violence with injury": 2,
    }
    days = filtered_breakdown(INDEX, CellFilter(), "weekday").set_index("label")["count"]
    assert days.to_dict() == {
        "Monday": 2, "Tuesday": 1, "Wednesday": 1, "Thursday": 0, "Friday": 0, "Saturday": 2,
        "Sunday": 0, "unknown": 2,
    }  # fmt: skip
    hours = filtered_breakdown(INDEX, CellFilter(weekdays=(0,)), "hour").set_index("label")
    assert len(hours) == 24  # no "unknown" row: a weekday filter leaves those out
    assert hours["count"][hours["count"] > 0].to_dict() == {"01:00": 1, "15:00": 1}
    ages = filtered_breakdown(INDEX, CellFilter(categories=("robbery",)), "age_band")
    assert ages["count"].tolist() == [4, 0, 0, 1] and ages["harm"].sum() == 5 * 365.0
    assert set(BREAKDOWNS) == {"category", "source", "age_band", "place_type", "weekday", "hour"}


def test_breakdown_by_unknown_field_lists_the_valid_ones() -> None:
    with pytest.raises(FilterError, match="`by` 'colour' is not one of: category, source"):
        filtered_breakdown(INDEX, CellFilter(), "colour")


def test_summary() -> None:
    summary = filter_summary(INDEX, CellFilter(categories=("robbery",), resolution=8))
    assert summary == {
        "description": "robbery · H3 resolution 8",
        "month_from": "2024-01",
        "month_to": "2024-04",
        "resolution": 8,
        "incidents": 5,
        "harm": 5 * 365.0,
        "cells": 2,
        "unknown_time_excluded": 0,
    }


# --- parsing query arguments --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, CellFilter()),
        ({"from": "", "category": " ", "layer": "risk", "month": "x"}, CellFilter()),
        ({"from": "2024-02", "to": "2024-03"}, CellFilter("2024-02", "2024-03")),
        ({"category": "Robbery, VIOLENCE_with injury"},
         CellFilter(categories=("robbery", "violence with injury"))),
        ({"source": "Emergency_Department"}, CellFilter(sources=("emergency department",))),
        ({"age": "10-17,unknown"}, CellFilter(age_bands=("10-17", "unknown"))),
        ({"place_type": "shopping centres,Parks"},
         CellFilter(place_types=("parks", "shopping_centres"))),
        ({"weekday": "mon,Tue"}, CellFilter(weekdays=(0, 1))),
        ({"weekday": "0,1"}, CellFilter(weekdays=(0, 1))),
        ({"weekday": "Monday,sun"}, CellFilter(weekdays=(0, 6))),
        ({"weekday": "weekdays"}, CellFilter(weekdays=(0, 1, 2, 3, 4))),
        ({"weekday": "weekend"}, CellFilter(weekdays=(5, 6))),
        ({"hours": "15-19"}, CellFilter(hours=(15, 16, 17, 18))),
        ({"hours": "after_school"}, CellFilter(hours=(15, 16, 17, 18))),
        ({"hours": "22-2"}, CellFilter(hours=(22, 23, 0, 1))),
        ({"hours": "7, 15-17"}, CellFilter(hours=(7, 15, 16))),
        ({"hours": "20-24"}, CellFilter(hours=(20, 21, 22, 23))),
        ({"hours": "0-24"}, CellFilter(hours=tuple(range(24)))),
        ({"resolution": "9"}, CellFilter(resolution=9)),
        ({"resolution": "5"}, CellFilter(resolution=5)),
    ],
)  # fmt: skip
def test_parse_filter(args: dict[str, str], expected: CellFilter) -> None:
    assert parse_filter(args, INDEX) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"from": "2024-13"}, "`from` '2024-13' is not a month: use YYYY-MM"),
        ({"to": "2023-12"}, "`to` '2023-12' is outside the study's months (2024-01 to 2024-04)"),
        ({"from": "2024-03", "to": "2024-01"}, "`from` 2024-03 is after `to` 2024-01"),
        ({"category": "arson"},
         "`category` 'arson' is not one of: possession of weapons, robbery, violence with injury"),
        ({"category": "robbery,arson,theft"}, "`category` 'arson', 'theft' are not among:"),
        ({"source": "school"}, "`source` 'school' is not one of: emergency department, police"),
        ({"age": "0-9"}, "`age` '0-9' is not one of: 10-17, 18-24, 25+, unknown"),
        ({"place_type": "zoo"}, "`place_type` 'zoo' is not one of: other, parks, shopping_centres"),
        ({"weekday": "funday"}, "`weekday` 'funday' is not a day: use mon..sun, 0..6"),
        ({"weekday": "7"}, "`weekday` '7' is not a day"),
        ({"hours": "25-3"}, "`hours` '25-3' is not an hour range"),
        ({"hours": "5-5"}, "`hours` '5-5' is not an hour range"),
        ({"hours": "lunch"}, "or one of: after_school"),
        ({"resolution": "10"}, "`resolution` 10 is finer than the study's (9); use one of: 5, 6"),
        ({"resolution": "4"}, "`resolution` 4 is too coarse; use one of: 5, 6, 7, 8, 9"),
        ({"resolution": "high"}, "`resolution` 'high' is not a whole number; use one of: 5"),
    ],
)  # fmt: skip
def test_bad_parameters_are_named_with_the_valid_values(args: dict[str, str], message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(args, INDEX)
    assert message in str(info.value)
    assert len(info.value.problems) == 1


def test_every_bad_parameter_is_reported_at_once() -> None:
    values = ["x", "y", "arson", "school", "0-9", "zoo", "8", "99", "12"]
    args = dict(zip(FILTER_KEYS, values, strict=True))
    with pytest.raises(FilterError) as info:
        parse_filter(args, INDEX)
    problems = info.value.problems
    assert [p.split(" ")[0] for p in problems] == [f"`{key}`" for key in FILTER_KEYS]
    assert str(info.value) == "\n".join(problems)


def test_filter_keys() -> None:
    assert FILTER_KEYS == (
        "from", "to", "category", "source", "age", "place_type", "weekday", "hours", "resolution",
    )  # fmt: skip


# --- filters built in code ----------------------------------------------------------------


def test_cell_filter_normalises_and_checks_itself() -> None:
    flt = CellFilter(categories=["robbery", "arson", "robbery"], hours=[23, 0, 23])  # type: ignore[arg-type]
    assert flt.categories == ("arson", "robbery") and flt.hours == (0, 23)
    assert CellFilter(categories="robbery").categories == ("robbery",)  # type: ignore[arg-type]
    with pytest.raises(FilterError) as info:
        CellFilter("2024-3", "2024-01", weekdays=(7,), hours=(24,), resolution=16)
    assert len(info.value.problems) == 4  # month_from, weekdays, hours, resolution


def test_cell_filter_labels_are_checked_against_the_index() -> None:
    with pytest.raises(FilterError) as info:
        filtered_cells(INDEX, CellFilter("2023-01", categories=("arson",), resolution=10))
    assert len(info.value.problems) == 3
    # Labels match as parse_filter's do: any case, spaces or underscores.
    assert counts(CellFilter(place_types=("Shopping Centres",))) == {H2: 1}


@pytest.mark.parametrize(
    ("flt", "text"),
    [
        (CellFilter(), "all incidents"),
        (
            CellFilter("2024-01", "2024-06", categories=("robbery",), hours=(15, 16, 17, 18)),
            "2024-01 to 2024-06 · robbery · 15:00–19:00, incidents with a time only",
        ),
        (CellFilter("2024-02", "2024-02"), "2024-02"),
        (CellFilter(month_from="2024-02"), "from 2024-02"),
        (CellFilter(month_to="2024-02"), "up to 2024-02"),
        (
            CellFilter(sources=("police",), age_bands=("10-17",), place_types=("shopping_centres",)),
            "source police · age 10-17 · shopping centres",
        ),
        (
            CellFilter(weekdays=(5, 6), hours=(22, 23, 0, 1)),
            "weekend · 22:00–02:00, incidents with a time only",
        ),
        (CellFilter(weekdays=(0, 2)), "Mon, Wed, incidents with a time only"),
        (CellFilter(hours=(7, 20, 21, 22, 23)), "07:00–08:00, 20:00–24:00, incidents with a time only"),
        (CellFilter(hours=tuple(range(24))), "all hours, incidents with a time only"),
        (CellFilter(resolution=7), "H3 resolution 7"),
    ],
)  # fmt: skip
def test_describe_filter(flt: CellFilter, text: str) -> None:
    assert describe_filter(flt) == text


def test_empty_index() -> None:
    index = IncidentIndex.from_incidents(tiny_frame().iloc[:0], resolution=RES)
    assert len(index) == 0 and index.months == ()
    assert filtered_cells(index, CellFilter()).empty
    assert filtered_series(index, CellFilter()).empty
    assert filter_summary(index, CellFilter(resolution=8))["incidents"] == 0


# --- properties on random incidents -------------------------------------------------------


def _random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    _, cells = grid.cell_children(P, RES)
    months = ["2023-11", "2023-12", "2024-01", "2024-02", "2024-03"]
    occurred = pd.Timestamp("2023-11-01") + pd.to_timedelta(rng.integers(0, 150 * 24, n), "h")
    return pd.DataFrame(
        {
            "h3": grid.cells_to_hex(rng.choice(cells, n)),
            "month": rng.choice(months, n),
            "category": rng.choice(["robbery", "violence with injury", "possession of weapons"], n),
            "source": rng.choice(["police", "emergency department"], n),
            "age_band": rng.choice(np.array(["10-17", "18-24", None], dtype=object), n),
            "place_type": rng.choice(["parks", "streets", "other"], n),
            "occurred": occurred,
            "time_known": rng.random(n) < 0.8,
            "harm": rng.choice([20.0, 180.0, 365.0], n),
            "in_scope": rng.random(n) < 0.95,
        }
    )


RANDOM = _random_frame(600, seed=7)
RANDOM_INDEX = IncidentIndex.from_incidents(RANDOM, resolution=RES)
SCOPE = RANDOM[RANDOM["in_scope"]].reset_index(drop=True)


@st.composite
def random_filters(draw: st.DrawFn) -> CellFilter:
    months = draw(st.lists(st.sampled_from(RANDOM_INDEX.months), min_size=2, max_size=2))
    start, end = sorted(months)

    def some(labels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(labels), max_size=2, unique=True)))

    return CellFilter(
        month_from=draw(st.sampled_from([None, start])),
        month_to=draw(st.sampled_from([None, end])),
        categories=some(RANDOM_INDEX.categories),
        sources=some(RANDOM_INDEX.sources),
        age_bands=some(RANDOM_INDEX.age_bands),
        place_types=some(RANDOM_INDEX.place_types),
        weekdays=tuple(draw(st.lists(st.integers(0, 6), max_size=3))),
        hours=tuple(draw(st.lists(st.integers(0, 23), max_size=6))),
        resolution=draw(st.sampled_from([None, 9, 8, 7, 6, 5])),
    )


def _reference_mask(flt: CellFilter) -> np.ndarray:
    """The filter written out plainly with pandas, one condition per column."""
    keep = pd.Series(True, index=SCOPE.index)
    if flt.month_from:
        keep &= SCOPE["month"] >= flt.month_from
    if flt.month_to:
        keep &= SCOPE["month"] <= flt.month_to
    for column, chosen in (
        ("category", flt.categories),
        ("source", flt.sources),
        ("age_band", flt.age_bands),
        ("place_type", flt.place_types),
    ):
        if chosen:
            keep &= SCOPE[column].fillna("unknown").isin(chosen)
    if flt.time_filtered:
        keep &= SCOPE["time_known"]
    if flt.weekdays:
        keep &= SCOPE["occurred"].dt.day_of_week.isin(flt.weekdays)
    if flt.hours:
        keep &= SCOPE["occurred"].dt.hour.isin(flt.hours)
    return keep.to_numpy()


@settings(max_examples=150, deadline=None)
@given(random_filters())
def test_counts_sum_to_the_mask_and_match_a_plain_reference(flt: CellFilter) -> None:
    mask = filter_mask(RANDOM_INDEX, flt)
    expected = _reference_mask(flt)
    assert np.array_equal(mask, expected)
    cells = filtered_cells(RANDOM_INDEX, flt)
    assert int(cells["count"].sum()) == int(mask.sum())
    assert (cells["count"] > 0).all()
    assert cells["harm"].sum() == pytest.approx(SCOPE["harm"][expected].sum())
    resolution = flt.resolution or RES
    chosen = SCOPE[expected]
    parents = grid.cells_to_hex(grid.cell_parents(grid.cells_from_hex(chosen["h3"]), resolution))
    reference = chosen.groupby(parents).size()
    assert cells.set_index("h3")["count"].to_dict() == reference.to_dict()
    series = filtered_series(RANDOM_INDEX, flt)
    assert int(series["count"].sum()) == int(mask.sum())
    for by in BREAKDOWNS:
        assert int(filtered_breakdown(RANDOM_INDEX, flt, by)["count"].sum()) == int(mask.sum())
    time_unknown = ~SCOPE["time_known"].to_numpy()
    without_time = CellFilter(**{**flt.__dict__, "weekdays": (), "hours": ()})
    excluded = int((_reference_mask(without_time) & time_unknown).sum()) if flt.time_filtered else 0
    assert cells.attrs["unknown_time_excluded"] == excluded


# --- the sample town ----------------------------------------------------------------------


def test_sample_study_robbery_cells_match_the_cell_months_table(sample_study: Path) -> None:
    from geojtai.io.studyfolder import load_study

    study = load_study(sample_study)
    resolution = int(study.manifest["settings"]["resolution"])
    index = IncidentIndex.from_incidents(
        study.incidents(), resolution=resolution, months=study.months
    )
    table = study.cell_months
    for flt, column in ((CellFilter(categories=("robbery",)), "count_robbery"),
                        (CellFilter(), "count")):  # fmt: skip
        expected = table.groupby("h3")[column].sum()
        expected = expected[expected > 0]
        got = filtered_cells(index, flt).set_index("h3")["count"]
        assert got.to_dict() == expected.to_dict()
    months = filtered_series(index, CellFilter())
    per_month = table.groupby("month")["count"].sum().reindex(months["month"], fill_value=0)
    assert months["count"].tolist() == per_month.tolist()
