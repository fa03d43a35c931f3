"""The register's building blocks: rows from forms and features, validation, the database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import sqlalchemy as sa
from shapely.geometry import LineString, Point, Polygon, mapping
from sqlalchemy.orm import Session

from geojtai.io.studyfolder import load_study
from web import db
from web.db import AuditEntry, Intervention
from web.register_input import (
    RegisterError,
    parse_geometry,
    raw_from_features,
    raw_from_records,
    size_text,
    validated,
)
from web.register_store import register_frame, seed_register

ON = dt.date(2026, 1, 15)


@pytest.fixture
def session() -> Iterator[Session]:
    database = db.connect("sqlite://")
    with database.sessions() as s:
        yield s
    database.dispose()


@pytest.fixture(scope="module")
def interventions(sample_study: Path) -> gpd.GeoDataFrame:
    frame = load_study(sample_study).interventions()
    assert frame is not None
    return frame


# -- geometry from text --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   "])
def test_blank_geometry_is_none(text: str | None) -> None:
    assert parse_geometry(text) is None


def test_geometry_from_a_feature_or_a_geometry() -> None:
    point = {"type": "Point", "coordinates": [-1.4, 52.5]}
    assert parse_geometry(json.dumps(point)) == Point(-1.4, 52.5)
    wrapped = {"type": "Feature", "properties": {}, "geometry": point}
    assert parse_geometry(json.dumps(wrapped)) == Point(-1.4, 52.5)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{oops", "not JSON"),
        ('{"type": "Point"}', "not a GeoJSON geometry"),
        ("[1, 2]", "not a GeoJSON geometry"),
        ('{"type": "Blob", "coordinates": [1, 2]}', "not a GeoJSON geometry"),
    ],
)
def test_unusable_geometry_text(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_geometry(text)


# -- validation ----------------------------------------------------------------------------------

GOOD = {"id": "A-1", "name": "Outreach", "start": "2025-01-01", "lead_agency": "Police"}


def test_a_good_row_is_valid_with_its_notes() -> None:
    raw = raw_from_records([{**GOOD, "notes": "pilot"}], [Point(-1.4, 52.5)], file="form")
    valid = validated(raw)
    assert valid["id"].tolist() == ["A-1"] and valid["lead_agency"].tolist() == ["police"]
    assert valid["radius_m"].tolist() == [100.0]
    assert valid["notes"].tolist() == ["pilot; no radius given; 100 m assumed"]
    # Notes given again are not repeated (an edit keeps the notes it was given).
    again = raw_from_records([{**GOOD, "notes": valid["notes"][0]}], [Point(-1.4, 52.5)], file="f")
    assert validated(again)["notes"].tolist() == ["pilot; no radius given; 100 m assumed"]


def test_a_form_gets_every_problem_at_once() -> None:
    record = {**GOOD, "id": "new", "start": "31/02/2025", "end": "soon", "radius_m": "-1"}
    raw = raw_from_records([record], [Point(-1.4, 95)], file="form")
    with pytest.raises(RegisterError) as caught:
        validated(raw)
    error = caught.value
    assert error.status == 422
    assert [(r["field"], r["reason"]) for r in error.rejects] == [
        ("geometry", "invalid geometry"),
        ("radius_m", "invalid radius"),
        ("start", "unparseable start"),
        ("end", "unparseable end"),
        ("id", "invalid id"),
    ]
    assert error.rejects[0]["message"] == (
        "form, row 1 (new), geometry: invalid geometry — coordinates outside -180..180 / -90..90"
    )
    assert str(error).startswith("1 of 1 rows rejected; nothing was stored:\n")


def test_a_file_gets_each_rows_problems_in_row_order() -> None:
    records = [GOOD, {**GOOD, "id": None}, {**GOOD, "id": "A-3", "start": None}, GOOD]
    geoms = [Point(-1.4, 52.5), Point(-1.4, 52.5), Point(-1.4, 52.5), Point(-1.4, 52.5)]
    with pytest.raises(RegisterError) as caught:
        validated(raw_from_records(records, geoms, file="list.csv"))
    found = [(r["row"], r["reason"]) for r in caught.value.rejects]
    assert found == [(2, "missing id"), (3, "missing start"), (4, "duplicate id")]
    assert "3 of 4 rows rejected" in str(caught.value)


def test_ids_may_be_left_out_for_proposals() -> None:
    raw = raw_from_records([{**GOOD, "id": None}], [Point(-1.4, 52.5)], file="proposals")
    assert validated(raw, ids=False)["id"].tolist() == ["proposals:1"]


def test_text_that_would_not_fit_is_rejected() -> None:
    raw = raw_from_records([{**GOOD, "type": "x" * 201}], [Point(-1.4, 52.5)], file="form")
    with pytest.raises(RegisterError, match="type: type too long — 201 characters; at most 200"):
        validated(raw)


def test_features_with_defaults_and_unreadable_geometry() -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "Mine"}, "geometry": mapping(Point(0, 51))},
            {"type": "Feature", "properties": None, "geometry": {"type": "Nope"}},
        ],
    }
    raw, bad = raw_from_features(
        collection, file="drawn", defaults={"id": "P-{n}", "name": "P {n}"}
    )
    assert raw["id"].tolist() == ["P-1", "P-2"] and raw["name"].tolist() == ["Mine", "P 2"]
    assert [(b["row"], b["field"]) for b in bad] == [(2, "geometry")]
    with pytest.raises(RegisterError) as caught:
        raw_from_features({"type": "Feature"}, file="drawn")
    assert caught.value.status == 400


def test_size_text() -> None:
    assert [size_text(n) for n in (5 * 1024 * 1024, 20_000, 12)] == ["5 MB", "19.5 KB", "12 bytes"]


# -- the database -----------------------------------------------------------------------------------


def test_seeding_adds_the_studys_interventions_once(
    session: Session, interventions: gpd.GeoDataFrame
) -> None:
    assert seed_register(session, "town", interventions, on=ON) == 12
    assert seed_register(session, "town", interventions, on=ON) == 0
    assert seed_register(session, "empty", None, on=ON) == 0
    rows = {e.id: e for e in session.scalars(sa.select(Intervention))}
    ended = interventions.loc[interventions["end"] < np.datetime64(ON), "id"]
    assert {i for i, e in rows.items() if e.status == "closed"} == set(ended)
    assert all(e.closed_at is not None for e in rows.values() if e.status == "closed")
    audit = list(session.scalars(sa.select(AuditEntry)))
    assert [(a.who, a.action, a.study) for a in audit] == [("seed", "intervention.seed", "town")]


def test_the_register_reads_back_as_the_study_has_it(
    session: Session, interventions: gpd.GeoDataFrame
) -> None:
    seed_register(session, "town", interventions, on=ON)
    entries = list(session.scalars(sa.select(Intervention).order_by(Intervention.id)))
    frame = register_frame(entries, on=ON)
    assert frame.crs.to_epsg() == 4326
    columns = ["id", "name", "type", "agencies", "radius_m", "start", "end", "start_month",
               "end_month", "place_types", "cost", "hours_per_week", "notes"]  # fmt: skip
    expected = interventions.sort_values("id").reset_index(drop=True)
    for column in columns:
        left, right = frame[column].tolist(), expected[column].tolist()
        assert [None if v != v else v for v in left] == [None if v != v else v for v in right], (
            column
        )
    assert frame.geometry.geom_equals_exact(expected.geometry, tolerance=1e-12).all()
    assert frame["running"].tolist() == (frame["status"] == "active").tolist()


def test_a_register_of_routes_and_areas_reads_back(session: Session) -> None:
    geoms = [LineString([(-1.41, 52.5), (-1.40, 52.51)]), Polygon([(0, 51), (0, 51.1), (0.1, 51)])]
    records = [{**GOOD, "id": "L-1"}, {**GOOD, "id": "P-1", "end": "2025-06-30"}]
    valid = validated(raw_from_records(records, geoms, file="form"))
    seed_register(session, "town", valid, on=ON)
    frame = register_frame(list(session.scalars(sa.select(Intervention))), on=ON)
    assert sorted(frame.geom_type) == ["LineString", "Polygon"]
    assert dict(zip(frame["id"], frame["running"], strict=True)) == {"L-1": True, "P-1": False}


def test_an_empty_register_reads_back_empty() -> None:
    frame = register_frame([], on=ON)
    assert len(frame) == 0 and "running" in frame and frame.crs.to_epsg() == 4326
