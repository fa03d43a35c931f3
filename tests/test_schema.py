from __future__ import annotations

from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai.categories import DEFAULT_HARM_WEIGHTS, UNKNOWN_HARM_WEIGHT
from geojtai.crs import bng_to_wgs84, wgs84_to_bng
from geojtai.errors import CRSError, SchemaError
from geojtai.schema import (
    DEFAULT_RADIUS_M,
    INCIDENT_COLUMNS,
    INTERVENTION_COLUMNS,
    POLICE_UK_EXTRAS,
    REJECT_COLUMNS,
    REJECT_REASONS,
    validate_incidents,
    validate_interventions,
)

LONDON = (51.5155, -0.0922)  # the City of London


def raw_frame(rows: list[dict[str, object]], file: str = "f.csv") -> pd.DataFrame:
    """Raw rows as a reader returns them: text values, ``file`` and spreadsheet ``row``."""
    frame = pd.DataFrame(rows)
    frame["file"] = file
    frame["row"] = np.arange(2, len(frame) + 2)
    return frame


def good(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "a",
        "occurred": "2024-03-05",
        "lat": str(LONDON[0]),
        "lon": str(LONDON[1]),
        "category": "robbery",
    }
    row.update(changes)
    return row


def reason_of(row: dict[str, object], **options: object) -> str | None:
    valid, rejects = validate_incidents(raw_frame([row]), **options)  # type: ignore[arg-type]
    assert len(valid) + len(rejects) == 1
    return None if len(valid) else str(rejects["reason"].iloc[0])


def assert_partition(raw: pd.DataFrame, valid: pd.DataFrame, rejects: pd.DataFrame) -> None:
    """Every raw row is in exactly one of valid and rejects."""
    keys = list(zip(raw["file"], raw["row"], strict=True))
    got = list(zip(valid["file"], valid["row"], strict=True)) + list(
        zip(rejects["file"], rejects["row"], strict=True)
    )
    assert sorted(got) == sorted(keys)


# --------------------------------------------------------------------------- known answers
def test_tiny_frame_known_answer() -> None:
    raw = raw_frame(
        [
            good(id="a", category="ASB", source="Police"),
            good(id="b", occurred="05/03/2024 18:30", category="Violence and sexual offences"),
            good(id="c", lat="", lon=""),
            good(id="d", occurred="31/02/2024"),
            good(id="a", occurred="2024-03", source=" police"),
        ]
    )
    valid, rejects = validate_incidents(raw)
    assert list(valid.columns) == list(INCIDENT_COLUMNS)
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    assert valid["id"].tolist() == ["a", "b"]
    assert valid["source"].tolist() == ["police", "unknown"]
    assert valid["month"].tolist() == ["2024-03", "2024-03"]
    assert valid["occurred"].tolist() == [
        pd.Timestamp("2024-03-05"),
        pd.Timestamp("2024-03-05 18:30"),
    ]
    assert valid["time_known"].tolist() == [False, True]
    assert valid["category"].tolist() == ["anti-social behaviour", "violence and sexual offences"]
    assert valid["harm"].tolist() == [1.0, 180.0]
    assert rejects[["row", "id", "reason"]].values.tolist() == [
        [4, "c", "no location"],
        [5, "d", "unparseable date"],
        [6, "a", "duplicate id"],
    ]
    assert rejects["detail"].tolist() == [None, "occurred=31/02/2024", "first seen at f.csv row 2"]
    assert_partition(raw, valid, rejects)


def test_valid_dtypes() -> None:
    valid, _ = validate_incidents(raw_frame([good()]))
    assert valid["occurred"].dtype == "datetime64[ns]"
    assert valid["lat"].dtype == "float64" and valid["lon"].dtype == "float64"
    assert valid["harm"].dtype == "float64"
    assert valid["time_known"].dtype == bool
    assert valid["row"].dtype == "int64"
    for name in ("id", "file", "source", "month", "category", "age_band", "weapon"):
        assert valid[name].dtype == object, name
    assert valid.loc[0, "weapon"] is None and valid.loc[0, "crime_id"] is None


@pytest.mark.parametrize("n", [0, 1])
def test_empty_input(n: int) -> None:
    raw = raw_frame([good()]).iloc[:n]
    valid, rejects = validate_incidents(raw)
    assert list(valid.columns) == list(INCIDENT_COLUMNS)
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    assert len(valid) == n and rejects.empty


def test_frame_without_optional_columns() -> None:
    raw = pd.DataFrame({"occurred": ["2024-01"], "lat": [51.5], "lon": [-0.1]})
    valid, rejects = validate_incidents(raw)
    assert rejects.empty
    assert valid[["id", "file", "row", "category", "harm"]].values.tolist() == [
        ["input:1", "input", 1, "unknown", UNKNOWN_HARM_WEIGHT]
    ]


def test_reasons_are_from_the_vocabulary() -> None:
    raw = raw_frame(
        [good(lat="x"), good(lat="inf"), good(lat="95"), good(occurred=""), good(lat=None)]
    )
    _, rejects = validate_incidents(raw)
    assert set(rejects["reason"]) <= set(REJECT_REASONS)


# --------------------------------------------------------------------------- locations
@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        ("51.5", "-0.1", None),
        (" 51.5 ", "-0.1", None),
        (51.5, -0.1, None),
        ("", "", "no location"),
        (None, None, "no location"),
        (np.nan, np.nan, "no location"),
        ("NaN", "nan", "no location"),
        ("51.5", "", "no location"),
        ("inf", "0", "non-finite coordinate"),
        (np.inf, 0.0, "non-finite coordinate"),
        ("51.5", "-inf", "non-finite coordinate"),
        ("abc", "0", "unparseable coordinate"),
        ("51,5", "-0,1", "unparseable coordinate"),
        ("91", "181", "latitude out of range"),
        ("-95", "100", "latitude out of range"),
        ("51.5", "181", "longitude out of range"),
        ("51.5", "-180.5", "longitude out of range"),
        ("91", "-0.1", "coordinates look swapped"),
        ("-0.1", "51.5", "coordinates look swapped"),
        ("-3.2", "55.9", "coordinates look swapped"),
    ],
)
def test_latlon_edge_cases(lat: object, lon: object, reason: str | None) -> None:
    assert reason_of(good(lat=lat, lon=lon)) == reason


@pytest.mark.parametrize(
    ("easting", "northing", "reason"),
    [
        ("530000", "180000", None),
        ("325000", "673000", None),
        ("800000", "300000", "coordinates look swapped"),
        ("-5", "100", "easting/northing out of range"),
        ("100", "1400000", "easting/northing out of range"),
        ("750000", "1200000", "easting/northing out of range"),
        ("x", "180000", "unparseable coordinate"),
        ("inf", "180000", "non-finite coordinate"),
    ],
)
def test_bng_edge_cases(easting: str, northing: str, reason: str | None) -> None:
    row = good(lat=None, lon=None, easting=easting, northing=northing)
    assert reason_of(row) == reason


def test_bng_is_converted_to_wgs84() -> None:
    row = good(lat=None, lon=None, easting="530000", northing="180000")
    valid, _ = validate_incidents(raw_frame([row]))
    lat, lon = bng_to_wgs84(np.array([530000.0]), np.array([180000.0]))
    assert valid["lat"].iloc[0] == pytest.approx(lat[0])
    assert valid["lon"].iloc[0] == pytest.approx(lon[0])


def test_latlon_wins_over_bng_when_both_given() -> None:
    row = good(easting="530000", northing="180000")
    valid, _ = validate_incidents(raw_frame([row]))
    assert (valid["lat"].iloc[0], valid["lon"].iloc[0]) == LONDON


def test_detail_names_the_values() -> None:
    _, rejects = validate_incidents(raw_frame([good(lat="91.2", lon="181")]))
    assert rejects["detail"].iloc[0] == "latitude=91.2, longitude=181"


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    ("text", "expected", "time_known", "month"),
    [
        ("2024-03-05", "2024-03-05 00:00", False, "2024-03"),
        ("2024-03", "2024-03-01 00:00", False, "2024-03"),
        ("2024-3", "2024-03-01 00:00", False, "2024-03"),
        ("05/03/2024", "2024-03-05 00:00", False, "2024-03"),
        ("5/3/2024 9:05", "2024-03-05 09:05", True, "2024-03"),
        ("05/03/2024 18:30:15", "2024-03-05 18:30:15", True, "2024-03"),
        ("2024-03-05T18:30", "2024-03-05 18:30", True, "2024-03"),
        ("2024-03-05 18:30:00.250", "2024-03-05 18:30", True, "2024-03"),
        ("2024-01-31T23:30:00Z", "2024-01-31 23:30", True, "2024-01"),
        ("2024-06-30T23:30:00Z", "2024-07-01 00:30", True, "2024-07"),
        ("2024-06-30T23:30:00+01:00", "2024-06-30 23:30", True, "2024-06"),
        ("29/02/2024", "2024-02-29 00:00", False, "2024-02"),
    ],
)
def test_dates_parse(text: str, expected: str, time_known: bool, month: str) -> None:
    valid, rejects = validate_incidents(raw_frame([good(occurred=text)]))
    assert rejects.empty
    assert valid["occurred"].iloc[0] == pd.Timestamp(expected)
    assert bool(valid["time_known"].iloc[0]) is time_known
    assert valid["month"].iloc[0] == month


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "missing date"),
        (None, "missing date"),
        ("  ", "missing date"),
        ("03/13/2024", "unparseable date"),  # US month-first is never accepted
        ("31/02/2024", "unparseable date"),
        ("29/02/2023", "unparseable date"),
        ("2024-13", "unparseable date"),
        ("2024-03-05 25:00", "unparseable date"),
        ("2024-03 18:30", "unparseable date"),
        ("yesterday", "unparseable date"),
        ("1850-01-01", "unparseable date"),
    ],
)
def test_bad_dates(text: str | None, reason: str) -> None:
    assert reason_of(good(occurred=text)) == reason


def test_separate_time_column_is_joined() -> None:
    valid, _ = validate_incidents(raw_frame([good(occurred="05/03/2024", time="21:15")]))
    assert valid["occurred"].iloc[0] == pd.Timestamp("2024-03-05 21:15")
    assert bool(valid["time_known"].iloc[0])


def test_many_distinct_datetimes_parse_like_few() -> None:
    # Mostly distinct values take the split (date part + time part) path.
    stamps = pd.date_range("2024-01-01", periods=3000, freq="37min")
    texts = [t.strftime("%d/%m/%Y %H:%M") for t in stamps]
    raw = raw_frame([good(id=str(i), occurred=t) for i, t in enumerate(texts)])
    valid, rejects = validate_incidents(raw)
    assert rejects.empty
    assert (valid["occurred"].to_numpy() == stamps.to_numpy()).all()


def test_location_is_checked_before_date() -> None:
    assert reason_of(good(lat="", lon="", occurred="not a date")) == "no location"
    assert reason_of(good(lat="95", lon="200", occurred="")) == "latitude out of range"


# --------------------------------------------------------------------------- duplicates
def test_duplicate_ids_keep_the_first() -> None:
    raw = raw_frame([good(id="x", category="robbery"), good(id="x", category="drugs")])
    valid, rejects = validate_incidents(raw)
    assert valid["category"].tolist() == ["robbery"]
    assert rejects[["row", "reason", "detail"]].values.tolist() == [
        [3, "duplicate id", "first seen at f.csv row 2"]
    ]


def test_duplicates_are_found_across_files() -> None:
    raw = pd.concat(
        [raw_frame([good(id="x")], "2024-01.csv"), raw_frame([good(id="x")], "2024-02.csv")],
        ignore_index=True,
    )
    _, rejects = validate_incidents(raw)
    assert rejects["detail"].tolist() == ["first seen at 2024-01.csv row 2"]


def test_same_id_from_different_sources_is_not_a_duplicate() -> None:
    raw = raw_frame([good(id="1", source="police"), good(id="1", source="ambulance")])
    valid, rejects = validate_incidents(raw)
    assert len(valid) == 2 and rejects.empty


def test_a_rejected_first_occurrence_does_not_hide_a_good_one() -> None:
    raw = raw_frame([good(id="x", lat=""), good(id="x")])
    valid, rejects = validate_incidents(raw)
    assert valid["row"].tolist() == [3]
    assert rejects["reason"].tolist() == ["no location"]


def test_missing_ids_get_stable_generated_ids() -> None:
    raw = raw_frame([good(id=""), good(id=None), good(id="p1")], file="crime/2024-01.csv")
    valid, _ = validate_incidents(raw)
    assert valid["id"].tolist() == ["crime/2024-01.csv:2", "crime/2024-01.csv:3", "p1"]


# --------------------------------------------------------------------------- far away
def london_points(n: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(1)
    lat = LONDON[0] + rng.normal(0, 0.005, n)
    lon = LONDON[1] + rng.normal(0, 0.008, n)
    return [
        good(id=f"p{i}", lat=f"{a:.6f}", lon=f"{b:.6f}")
        for i, (a, b) in enumerate(zip(lat, lon, strict=True))
    ]


def test_far_from_the_files_median_without_an_area() -> None:
    rows = [*london_points(20), good(id="cardiff", lat="51.4816", lon="-3.1791")]
    valid, rejects = validate_incidents(raw_frame(rows, file="2025-03.csv"))
    assert "cardiff" not in set(valid["id"])
    assert rejects["reason"].tolist() == ["far outside the study area"]
    detail = rejects["detail"].iloc[0]
    assert detail.endswith("km from the median location of 2025-03.csv")
    assert 200 < float(detail.split()[0]) < 220


def test_median_is_per_file() -> None:
    london = raw_frame(london_points(5), file="london.csv")
    leeds = raw_frame([good(id=f"l{i}", lat="53.8", lon="-1.55") for i in range(5)], "leeds.csv")
    valid, rejects = validate_incidents(pd.concat([london, leeds], ignore_index=True))
    assert len(valid) == 10 and rejects.empty


def test_spread_out_file_has_no_outliers() -> None:
    rows = [good(id="a"), good(id="b", lat="53.8", lon="-1.55")]
    valid, _ = validate_incidents(raw_frame(rows))
    assert len(valid) == 2


@pytest.mark.parametrize(
    ("lon", "margin", "reason"),
    [
        ("-0.095", 1000.0, None),  # inside
        ("-0.070", 1000.0, None),  # about 700 m east of the box
        ("-0.070", 0.0, "far outside the study area"),
        ("-0.020", 1000.0, "far outside the study area"),  # about 4 km east
    ],
)
def test_far_outside_an_area(lon: str, margin: float, reason: str | None) -> None:
    area = shapely.box(-0.11, 51.51, -0.08, 51.52)
    row = good(lat="51.515", lon=lon)
    assert reason_of(row, area=area, area_margin_m=margin) == reason


def test_area_detail_gives_the_distance() -> None:
    area = shapely.box(-0.11, 51.51, -0.08, 51.52)
    _, rejects = validate_incidents(raw_frame([good(lat="51.515", lon="-0.020")]), area=area)
    assert rejects["detail"].iloc[0] == "4.2 km outside the study area"


def test_with_an_area_the_median_rule_is_off() -> None:
    rows = [*london_points(20), good(id="cardiff", lat="51.4816", lon="-3.1791")]
    area = shapely.box(-3.3, 51.3, 0.2, 51.7)
    valid, _ = validate_incidents(raw_frame(rows), area=area)
    assert len(valid) == 21


def bng_points(
    n: int, centre: tuple[float, float] = (441000.0, 288000.0)
) -> list[dict[str, object]]:
    rng = np.random.default_rng(2)
    e = centre[0] + rng.normal(0, 1500, n)
    north = centre[1] + rng.normal(0, 1500, n)
    return [
        good(id=f"b{i}", lat=None, lon=None, easting=f"{a:.0f}", northing=f"{b:.0f}")
        for i, (a, b) in enumerate(zip(e, north, strict=True))
    ]


def test_bng_swap_inside_gb_is_found_by_distance() -> None:
    # (288000, 441000) is a valid BNG point 200 km away; exchanged, it lands among the others.
    swapped = good(id="s", lat=None, lon=None, easting="288000", northing="441000")
    far = good(id="f", lat=None, lon=None, easting="300000", northing="900000")
    _, rejects = validate_incidents(raw_frame([*bng_points(20), swapped, far]))
    assert rejects[["id", "reason", "detail"]].values.tolist()[0] == [
        "s",
        "coordinates look swapped",
        "easting=288000, northing=441000",
    ]
    assert rejects["reason"].tolist()[1] == "far outside the study area"


def test_swap_into_the_study_area() -> None:
    lat, lon = bng_to_wgs84(np.array([441000.0]), np.array([288000.0]))
    area = shapely.Point(lon[0], lat[0]).buffer(0.02)
    swapped = good(lat=None, lon=None, easting="288000", northing="441000")
    assert reason_of(swapped, area=area) == "coordinates look swapped"


@pytest.mark.parametrize(
    "options",
    [{"area_margin_m": -1.0}, {"outlier_km": 0.0}, {"outlier_km": float("nan")}, {"area": "x"}],
)
def test_bad_options_raise_one_schema_error(options: dict[str, object]) -> None:
    with pytest.raises(SchemaError):
        validate_incidents(raw_frame([good()]), **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- fields
def test_harm_uses_own_value_else_category_weight() -> None:
    rows = [
        good(id="a", harm="42"),
        good(id="b", harm="-1"),
        good(id="c", harm="inf"),
        good(id="d", harm="x"),
        good(id="e", category="Knife possession"),
        good(id="f", category="something new"),
    ]
    valid, _ = validate_incidents(raw_frame(rows), harm_weights={"robbery": 400.0})
    assert valid["harm"].tolist() == [
        42.0,
        400.0,
        400.0,
        400.0,
        DEFAULT_HARM_WEIGHTS["possession of weapons"],
        UNKNOWN_HARM_WEIGHT,
    ]
    assert valid["category"].tolist()[-2:] == ["possession of weapons", "something new"]


@pytest.mark.parametrize(
    ("column", "value", "band"),
    [
        ("age", "8", "under 10"),
        ("age", "10", "10-17"),
        ("age", "17", "10-17"),
        ("age", "18", "18-24"),
        ("age", "24.5", "18-24"),
        ("age", "40", "25+"),
        ("age", "-3", "unknown"),
        ("age", "abc", "unknown"),
        ("age", "", None),
        ("age_band", "10-17", "10-17"),
        ("age_band", "10 to 17", "10-17"),
        ("age_band", "15-17 years", "10-17"),
        ("age_band", "Under 10", "under 10"),
        ("age_band", "<10", "under 10"),
        ("age_band", "25+", "25+"),
        ("age_band", "25 and over", "25+"),
        ("age_band", "over 24", "25+"),
        ("age_band", "aged 18-24", "18-24"),
        ("age_band", "35-44", "25+"),
        ("age_band", "16-24", "unknown"),
        ("age_band", "Unknown", "unknown"),
        ("age_band", None, None),
    ],
)
def test_age_bands(column: str, value: str | None, band: str | None) -> None:
    valid, _ = validate_incidents(raw_frame([good(**{column: value})]))
    assert valid["age_band"].iloc[0] == band
    assert "age" not in valid.columns


def test_band_wins_over_exact_age_unless_unknown() -> None:
    rows = [good(id="a", age_band="18-24", age="30"), good(id="b", age_band="?", age="12")]
    valid, _ = validate_incidents(raw_frame(rows))
    assert valid["age_band"].tolist() == ["18-24", "10-17"]


def test_police_extras_are_carried_through() -> None:
    extras = {name: f"{name} value" for name in POLICE_UK_EXTRAS}
    valid, _ = validate_incidents(raw_frame([good(**extras), good(id="b")]))
    assert list(valid.loc[0, list(POLICE_UK_EXTRAS)]) == list(extras.values())
    assert valid.loc[1, list(POLICE_UK_EXTRAS)].isna().all()


def test_weapon_and_source_are_folded() -> None:
    valid, _ = validate_incidents(raw_frame([good(weapon=" Knife ", source=" Emergency  Dept ")]))
    assert valid[["weapon", "source"]].values.tolist() == [["knife", "emergency dept"]]


def test_input_is_not_mutated() -> None:
    raw = raw_frame([good(), good(id="b", lat="")])
    before = raw.copy()
    validate_incidents(raw)
    pd.testing.assert_frame_equal(raw, before)


# --------------------------------------------------------------------------- properties
GOOD_LAT = st.floats(51.50, 51.53).map(lambda v: f"{v:.6f}")
GOOD_LON = st.floats(-0.12, -0.07).map(lambda v: f"{v:.6f}")
BAD_COORD = st.sampled_from(["", "abc", "inf", "91", "181", None])
DATES = st.sampled_from(["2024-01-05", "2024-02", "05/03/2024 10:00", "", "31/02/2024", "x"])
ROW = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "c", "d", "", None]),
        "lat": st.one_of(GOOD_LAT, BAD_COORD),
        "lon": st.one_of(GOOD_LON, BAD_COORD),
        "occurred": DATES,
        "source": st.sampled_from(["police", "ed"]),
        "file": st.sampled_from(["x.csv", "y.csv"]),
    }
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, max_size=25), seed=st.integers(0, 2**31))
def test_every_row_lands_once_whatever_the_order(rows: list[dict[str, object]], seed: int) -> None:
    raw = pd.DataFrame(rows, columns=["id", "lat", "lon", "occurred", "source", "file"])
    raw["row"] = np.arange(2, len(raw) + 2)
    valid, rejects = validate_incidents(raw)
    assert len(valid) + len(rejects) == len(raw)
    assert_partition(raw, valid, rejects)
    shuffled = raw.sample(frac=1.0, random_state=seed % 2**32)
    valid2, rejects2 = validate_incidents(shuffled)
    assert set(valid2["id"]) == set(valid["id"])
    assert Counter(rejects2["reason"]) == Counter(rejects["reason"])


@settings(max_examples=200, deadline=None)
@given(
    easting=st.floats(0, 700_000, allow_nan=False),
    northing=st.floats(0, 1_300_000, allow_nan=False),
)
def test_bng_round_trip_within_two_metres(easting: float, northing: float) -> None:
    lat, lon = bng_to_wgs84(np.array([easting]), np.array([northing]))
    e2, n2 = wgs84_to_bng(lat, lon)
    assert np.hypot(e2[0] - easting, n2[0] - northing) < 2.0


@settings(max_examples=30, deadline=None)
@given(
    easting=st.floats(100_000, 650_000, allow_nan=False),
    northing=st.floats(50_000, 1_200_000, allow_nan=False),
)
def test_validated_bng_rows_round_trip(easting: float, northing: float) -> None:
    row = good(lat=None, lon=None, easting=repr(easting), northing=repr(northing))
    valid, _ = validate_incidents(raw_frame([row]))
    e2, n2 = wgs84_to_bng(valid["lat"].to_numpy(), valid["lon"].to_numpy())
    assert np.hypot(e2[0] - easting, n2[0] - northing) < 2.0


# --------------------------------------------------------------------------- interventions
def interventions(
    rows: list[dict[str, object]], geometry: list[object] | None = None
) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    frame["file"] = "interventions.csv"
    frame["row"] = np.arange(2, len(frame) + 2)
    geoms = geometry if geometry is not None else [None] * len(frame)
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")


def iv(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "i1",
        "name": "Friday patrol",
        "type": "Patrol",
        "lead_agency": "Police",
        "partner_agencies": "Youth Service; council",
        "start": "2024-01",
        "end": "2024-06",
        "lat": "51.5",
        "lon": "-0.1",
        "radius_m": "200",
    }
    row.update(changes)
    return row


def test_intervention_known_answer() -> None:
    valid, rejects = validate_interventions(interventions([iv(), iv(id="i2", radius_m="")]))
    assert rejects.empty
    assert list(valid.columns) == list(INTERVENTION_COLUMNS)
    assert valid.crs.to_epsg() == 4326
    first = valid.iloc[0]
    assert first["partner_agencies"] == "council;youth service"
    assert first["agencies"] == "council;police;youth service"
    assert first["type"] == "patrol"
    assert first["start"] == pd.Timestamp("2024-01-01")
    assert first["end"] == pd.Timestamp("2024-06-30")  # a month-only end runs to its last day
    assert (first["start_month"], first["end_month"]) == ("2024-01", "2024-06")
    assert first["geometry"].equals(shapely.Point(-0.1, 51.5))
    assert first["radius_m"] == 200.0 and first["notes"] is None
    second = valid.iloc[1]
    assert second["radius_m"] == DEFAULT_RADIUS_M
    assert second["notes"] == "no radius given; 100 m assumed"


def test_ongoing_intervention_has_no_end() -> None:
    valid, _ = validate_interventions(interventions([iv(end="")]))
    assert pd.isna(valid["end"].iloc[0]) and valid["end_month"].iloc[0] is None


@pytest.mark.parametrize(
    ("changes", "geometry", "reason"),
    [
        ({"lat": "", "lon": ""}, None, "missing geometry"),
        ({"lat": "", "lon": "", "wkt": "POLYGON ((0 0, 1"}, None, "invalid geometry"),
        (
            {"lat": "", "lon": ""},
            shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),
            "invalid geometry",
        ),
        ({"lat": "", "lon": ""}, shapely.MultiPoint([(0, 51), (0.1, 51)]), "invalid geometry"),
        ({"lat": "95"}, None, "coordinates look swapped"),
        ({"radius_m": "-5"}, None, "invalid radius"),
        ({"radius_m": "wide"}, None, "invalid radius"),
        ({"start": ""}, None, "missing start"),
        ({"start": "soon"}, None, "unparseable start"),
        ({"end": "later"}, None, "unparseable end"),
        ({"start": "2024-05-01", "end": "2024-04-30"}, None, "end before start"),
    ],
)
def test_intervention_rejects(changes: dict[str, object], geometry: object, reason: str) -> None:
    raw = interventions([iv(**changes)], [geometry])
    valid, rejects = validate_interventions(raw)
    assert valid.empty
    assert rejects["reason"].tolist() == [reason]
    assert reason in REJECT_REASONS


def test_intervention_geometries_from_wkt_and_files() -> None:
    line = "LINESTRING (-0.1 51.5, -0.09 51.51)"
    raw = interventions(
        [iv(id="a", lat="", lon="", wkt=line), iv(id="b", lat="", lon="", radius_m="")],
        [None, shapely.box(-0.1, 51.5, -0.09, 51.51)],
    )
    valid, rejects = validate_interventions(raw)
    assert rejects.empty
    assert valid.geometry.geom_type.tolist() == ["LineString", "Polygon"]
    assert np.isnan(valid["radius_m"].iloc[1])  # only points get the default radius


def test_intervention_duplicate_ids() -> None:
    valid, rejects = validate_interventions(interventions([iv(), iv(name="again")]))
    assert valid["name"].tolist() == ["Friday patrol"]
    assert rejects["reason"].tolist() == ["duplicate id"]


def test_intervention_geometry_is_reprojected_and_crs_required() -> None:
    raw = interventions([iv(lat="", lon="")], [shapely.Point(530000, 180000)]).set_crs(
        "EPSG:27700", allow_override=True
    )
    valid, _ = validate_interventions(raw)
    assert valid.geometry.iloc[0].y == pytest.approx(51.50, abs=0.01)
    with pytest.raises(CRSError):
        validate_interventions(raw.set_crs(None, allow_override=True))


def test_intervention_cost_and_hours() -> None:
    valid, _ = validate_interventions(interventions([iv(cost="£12,500", hours_per_week="7.5")]))
    assert valid[["cost", "hours_per_week"]].values.tolist() == [[12500.0, 7.5]]


@pytest.mark.parametrize(
    ("days", "hours", "per_week"),
    [
        ("Fri;Sat", "17:00-22:00", 10.0),
        ("Mon-Fri", "15:30-18:00", 12.5),
        ("Fri-Mon", "22:00-02:00", 16.0),
        ("daily", "00:00-24:00", 168.0),
        ("Mon, Wed", "10-12; 14-16", 8.0),
        ("sometimes", "17:00-22:00", None),
        ("Fri", "evenings", None),
    ],
)
def test_hours_per_week_from_the_schedule(days: str, hours: str, per_week: float | None) -> None:
    valid, _ = validate_interventions(interventions([iv(days=days, hours=hours, radius_m="")]))
    got = valid["hours_per_week"].iloc[0]
    if per_week is None:
        assert np.isnan(got)
        assert valid["notes"].iloc[0] == "no radius given; 100 m assumed"
    else:
        assert got == per_week
        assert valid["notes"].iloc[0] == (
            "no radius given; 100 m assumed; hours_per_week from days × hours"
        )
    assert (valid["days"].iloc[0], valid["hours"].iloc[0]) == (days, hours)
