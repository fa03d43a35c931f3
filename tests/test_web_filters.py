"""Filters on the map's incidents and what each role may see (the published profile)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geojtai import grid
from web import create_app

BASE = {"TESTING": True, "LOGIN_REQUIRED": False, "DATABASE_URL": "sqlite://"}
THRESHOLD = 10


@pytest.fixture(scope="module")
def editor(sample_study: Path) -> FlaskClient:
    """The sample town, seen with internal figures (visitors browse as editors)."""
    config = {**BASE, "STUDY_DIR": str(sample_study), "ANONYMOUS_ROLE": "editor"}
    return create_app(config).test_client()


@pytest.fixture(scope="module")
def viewer(sample_study: Path) -> FlaskClient:
    """The sample town, seen with published figures (visitors browse as viewers)."""
    config = {**BASE, "STUDY_DIR": str(sample_study), "ANONYMOUS_ROLE": "viewer"}
    return create_app(config).test_client()


@pytest.fixture(scope="module")
def incidents(sample_study: Path) -> pd.DataFrame:
    frame = gpd.read_parquet(sample_study / "incidents.parquet")
    return pd.DataFrame(frame.loc[frame["in_scope"].to_numpy(dtype=bool)].drop(columns="geometry"))


def counts(client: FlaskClient, query: str) -> dict[str, float | None]:
    response = client.get(f"/api/cells.geojson?layer=count&{query}")
    assert response.status_code == 200, response.get_json()
    return {
        f["properties"]["h3"]: f["properties"]["value"] for f in response.get_json()["features"]
    }


def numbers(obj: Any, key: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a JSON document with the key it sits under."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from numbers(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from numbers(v, key)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        yield key, obj


# -- filters, with exact (internal) counts -----------------------------------------------------


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("category=robbery", lambda f: f["category"] == "robbery"),
        ("from=2024-01&to=2024-06", lambda f: f["month"].between("2024-01", "2024-06")),
        ("source=emergency%20department", lambda f: f["source"] == "emergency department"),
        ("age=10-17", lambda f: f["age_band"] == "10-17"),
        ("place_type=parks", lambda f: f["place_type"] == "parks"),
        (
            "hours=after_school&weekday=weekdays",
            lambda f: (
                f["time_known"]
                & f["occurred"].dt.hour.between(15, 18)
                & (f["occurred"].dt.day_of_week < 5)
            ),
        ),
    ],
)
def test_filtered_counts_match_the_incidents(
    editor: FlaskClient, incidents: pd.DataFrame, query: str, keep: Any
) -> None:
    expected = incidents.loc[keep(incidents), "h3"].value_counts()
    assert expected.sum() > 0
    assert counts(editor, query) == {str(k): float(v) for k, v in expected.items()}


def test_coarser_cells_add_up(editor: FlaskClient, incidents: pd.DataFrame) -> None:
    coarse = counts(editor, "resolution=8&category=robbery")
    robbery = incidents.loc[incidents["category"] == "robbery", "h3"].to_numpy(dtype=object)
    parents = grid.cells_to_hex(grid.cell_parents(grid.cells_from_hex(robbery), 8))
    expected = pd.Series(parents).value_counts()
    assert coarse == {str(k): float(v) for k, v in expected.items()}
    assert set(grid.cell_resolution(grid.cells_from_hex(list(coarse))).tolist()) == {8}


def test_filter_is_described_with_the_layer(editor: FlaskClient) -> None:
    data = editor.get("/api/cells.geojson?layer=count&category=robbery&hours=after_school")
    summary = data.get_json()["filter"]
    assert "robbery" in summary["description"]
    assert summary["profile"] == "internal"
    assert summary["total_count"] == sum(
        f["properties"]["value"] for f in data.get_json()["features"]
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("category=arson", ["`category`", "arson", "robbery"]),
        ("from=2031-01", ["2031-01"]),
        ("from=2025-06&to=2024-01", ["from", "to"]),
        ("hours=25-3", ["hours"]),
        ("weekday=funday", ["weekday", "funday"]),
        ("resolution=12", ["resolution", "12"]),
        ("category=arson&age=99", ["arson", "99"]),
    ],
)
def test_bad_filters_are_400_naming_the_problem(
    editor: FlaskClient, query: str, words: list[str]
) -> None:
    for url in (f"/api/cells.geojson?{query}", f"/api/places/summary?{query}", f"/?{query}"):
        response = editor.get(url)
        assert response.status_code == 400
        text = response.get_data(as_text=True)
        assert all(w in text for w in words), text


def test_filters_apply_to_counts_only(editor: FlaskClient) -> None:
    response = editor.get("/api/cells.geojson?layer=risk&category=robbery")
    assert response.status_code == 400
    assert "only to layer=count" in response.get_json()["error"]


def test_place_question_follows_the_filter(editor: FlaskClient, incidents: pd.DataFrame) -> None:
    answer = editor.get("/api/places/summary?category=robbery").get_json()
    robbery = incidents.loc[incidents["category"] == "robbery", "place_type"].value_counts()
    assert {r["place_type"]: r["incidents"] for r in answer["shares"]} == robbery.to_dict()
    assert answer["total_incidents"] == int(robbery.sum())
    assert sum(r["share_incidents"] for r in answer["shares"]) == pytest.approx(1.0)


def test_cell_series_follows_the_filter(editor: FlaskClient, incidents: pd.DataFrame) -> None:
    hot = incidents["h3"].value_counts().index[0]
    rows = incidents.loc[
        (incidents["h3"] == hot) & incidents["month"].between("2024-01", "2024-12")
    ]
    details = editor.get(f"/api/cell/{hot}?from=2024-01&to=2024-12").get_json()
    assert details["months"][0] == "2024-01" and len(details["months"]) == 12
    assert (
        details["series"]
        == rows["month"].value_counts().reindex(details["months"], fill_value=0).tolist()
    )
    assert details["count"] == len(rows)


def test_coarse_cell_details_gather_their_children(
    editor: FlaskClient, incidents: pd.DataFrame
) -> None:
    hot = incidents["h3"].value_counts().index[0]
    parent = str(grid.cells_to_hex(grid.cell_parents(grid.cells_from_hex([hot]), 8))[0])
    details = editor.get(f"/api/cell/{parent}?resolution=8").get_json()
    children = grid.cells_to_hex(
        grid.cell_parents(grid.cells_from_hex(incidents["h3"].to_numpy(dtype=object)), 8)
    )
    assert details["count"] == int((children == parent).sum())
    assert details["resolution"] == 8 and details["cells"] >= 1


def test_filter_choices(editor: FlaskClient, incidents: pd.DataFrame) -> None:
    options = editor.get("/api/filters").get_json()
    fields = {f["name"]: [o["value"] for o in f["options"]] for f in options["fields"]}
    assert fields["category"] == sorted(incidents["category"].unique())
    assert "weekday" in fields and len(fields["weekday"]) == 7
    assert [r["value"] for r in options["resolutions"]][0] == 9
    assert options["months"][0] == incidents["month"].min()
    assert {f["name"] for f in options["intervention_fields"]} == {"agency", "type"}


def test_interventions_by_agency_and_type(editor: FlaskClient, sample_study: Path) -> None:
    frame = gpd.read_parquet(sample_study / "interventions.parquet")
    police = frame.loc[frame["agencies"].str.split(";").apply(lambda a: "police" in a), "id"]
    data = editor.get("/api/interventions.geojson?agency=police").get_json()
    assert sorted(f["properties"]["id"] for f in data["features"]) == sorted(police)
    kind = str(frame["type"].iloc[0])
    data = editor.get(f"/api/interventions.geojson?type={kind}").get_json()
    assert {f["properties"]["type"] for f in data["features"]} == {kind}
    bad = editor.get("/api/interventions.geojson?agency=fire%20brigade")
    assert bad.status_code == 400 and "fire brigade" in bad.get_json()["error"]


def test_map_page_has_the_filter_panel(editor: FlaskClient) -> None:
    page = editor.get("/?category=robbery&cell=89195cae4abffff").get_data(as_text=True)
    assert 'id="geojtai-filters"' in page
    assert '<option value="robbery" selected>' in page
    assert '"filtered":true' in page.replace(" ", "")


# -- what viewers may see ---------------------------------------------------------------------

FILTERS = [
    "",
    "category=robbery",
    "from=2025-01&to=2025-01",
    "hours=after_school&weekday=weekend",
    "age=10-17&place_type=parks",
    "resolution=8&source=emergency%20department",
    "resolution=7",
]


@pytest.mark.parametrize("query", FILTERS)
def test_viewers_never_get_small_counts(viewer: FlaskClient, query: str) -> None:
    sep = "&" if query else ""
    for url in (
        f"/api/cells.geojson?layer=count{sep}{query}",
        f"/api/places/summary?{query}",
        f"/api/summary?{query}",
    ):
        body = viewer.get(url).get_json()
        small = [
            (k, v)
            for k, v in numbers(body)
            if k in {"value", "count", "incidents", "total_count", "total_incidents"}
            and 0 < v < THRESHOLD
        ]
        assert small == [], url
        rounded = [v for k, v in numbers(body) if k in {"value", "count", "incidents"}]
        assert all(v % 5 == 0 for v in rounded), url


def test_viewer_counts_add_back_to_the_total(viewer: FlaskClient, editor: FlaskClient) -> None:
    """Suppressed and merged cells hide numbers, never lose incidents: the exact total is
    within rounding of what the viewer sees plus what was withheld."""
    published = viewer.get("/api/cells.geojson?layer=count&category=robbery").get_json()
    exact = counts(editor, "category=robbery")
    shown = [f["properties"] for f in published["features"]]
    assert any(p["value"] is None for p in shown) or any(p.get("rolled_up") for p in shown)
    assert sum(p["value"] or 0 for p in shown) <= sum(exact.values()) + 2.5 * len(shown)
    assert published["filter"]["profile"] == "publishable"
    assert "fewer than" in published["filter"]["rule"] or "1 to 9" in published["filter"]["rule"]


def test_viewers_get_risk_classes_not_values(viewer: FlaskClient, editor: FlaskClient) -> None:
    risk = viewer.get("/api/cells.geojson?layer=risk").get_json()
    assert all(f["properties"]["value"] is None for f in risk["features"])
    assert all("class" in item["label"] for item in risk["legend"]["items"])
    inside = editor.get("/api/cells.geojson?layer=risk").get_json()
    assert any(f["properties"]["value"] for f in inside["features"])


def test_viewer_panel_shows_what_the_map_shows(viewer: FlaskClient) -> None:
    """The map is the authority: a cell's panel count is its value on the map, and a merged
    parent's is the remainder the map shows for it, never the parent's full total."""
    features = viewer.get("/api/cells.geojson?layer=count").get_json()["features"]
    merged = [f["properties"] for f in features if f["properties"].get("rolled_up")]
    alone = [f["properties"] for f in features if not f["properties"].get("rolled_up")]
    assert merged and alone
    for props in [*merged[:5], *alone[:5]]:
        details = viewer.get(f"/api/cell/{props['h3']}").get_json()
        assert details["count"] == props["value"], props["h3"]
    parent = next(p for p in merged if p["value"] is not None)
    details = viewer.get(f"/api/cell/{parent['h3']}").get_json()
    assert set(details["series"]) == {None}


def test_viewer_cell_panel(viewer: FlaskClient, incidents: pd.DataFrame) -> None:
    quiet = incidents["h3"].value_counts()
    cell = str(quiet.index[quiet.between(1, THRESHOLD - 1)][0])
    details = viewer.get(f"/api/cell/{cell}").get_json()
    assert details["count"] is None and details["count_text"].startswith("fewer than 10")
    assert details["risk"] is None and details["relative_risk"] is None and details["harm"] is None
    assert details["risk_class"] in {"top 10%", "next 20%", "lower 70%"}
    assert all(v is None or v == 0 or v >= THRESHOLD for v in details["series"])


def test_viewers_get_no_incident_points(viewer: FlaskClient) -> None:
    for url in ("/", "/api/cells.geojson", "/api/places/summary", "/api/summary"):
        text = viewer.get(url).get_data(as_text=True)
        assert '"Point"' not in text or url == "/"  # the map page holds no incident points
    page = viewer.get("/").get_data(as_text=True)
    assert "CR-0" not in page  # no incident ids


# -- several studies, one per area --------------------------------------------------------------


def test_several_studies(sample_study: Path, tmp_path: Path) -> None:
    config = {
        **BASE,
        "ANONYMOUS_ROLE": "editor",
        "STUDIES": {"kingsmere": str(sample_study), "again": str(sample_study)},
    }
    client = create_app(config).test_client()
    health = client.get("/healthz").get_json()
    assert [s["name"] for s in health["studies"]] == ["kingsmere", "again"]
    page = client.get("/?study=again").get_data(as_text=True)
    assert 'value="again" selected' in page
    assert client.get("/api/summary?study=kingsmere").status_code == 200
    missing = client.get("/api/summary?study=elsewhere")
    assert missing.status_code == 404
    assert "kingsmere, again" in missing.get_json()["error"]


def test_bad_area_names_are_refused(sample_study: Path) -> None:
    from geojtai.errors import StudyError

    with pytest.raises(StudyError, match="Area names"):
        create_app({**BASE, "STUDIES": {"Bad Name!": str(sample_study)}})


def test_rounding_is_to_five(viewer: FlaskClient) -> None:
    values = [v for v in counts(viewer, "").values() if v is not None]
    assert values and np.all(np.mod(values, 5) == 0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_viewers_never_get_small_counts_whatever_the_filter(viewer: FlaskClient, data: Any) -> None:
    """Any combination of the panel's choices, at any cell size: no count of 1-9 is sent."""
    options = viewer.get("/api/filters").get_json()
    query: dict[str, str] = {}
    for field in options["fields"]:
        values = [o["value"] for o in field["options"]]
        chosen = data.draw(st.lists(st.sampled_from(values), unique=True, max_size=2))
        if chosen:
            query[field["name"]] = ",".join(chosen)
    months = options["months"]
    lo = data.draw(st.integers(0, len(months) - 1))
    hi = data.draw(st.integers(lo, len(months) - 1))
    query["from"], query["to"] = months[lo], months[hi]
    hours = data.draw(st.sampled_from(["", *(o["value"] for o in options["hour_bands"])]))
    if hours:
        query["hours"] = hours
    query["resolution"] = str(
        data.draw(st.sampled_from([r["value"] for r in options["resolutions"]]))
    )
    args = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    for url in (
        f"/api/cells.geojson?layer=count&{args}",
        f"/api/places/summary?{args}",
        f"/api/summary?{args}",
    ):
        response = viewer.get(url)
        assert response.status_code == 200, (url, response.get_json())
        bad = [
            (k, v)
            for k, v in numbers(response.get_json())
            if k in {"value", "count", "incidents", "total_count", "total_incidents"}
            and 0 < v < THRESHOLD
        ]
        assert bad == [], url


@pytest.mark.parametrize("layer", ["risk", "hotspots", "gaps"])
def test_viewers_get_classes_not_numbers_on_every_layer(viewer: FlaskClient, layer: str) -> None:
    data = viewer.get(f"/api/cells.geojson?layer={layer}").get_json()
    assert data["features"]
    assert all(f["properties"]["value"] is None for f in data["features"])
    labels = {f["properties"]["label"] for f in data["features"]}
    assert not any("z =" in label or "(risk" in label for label in labels), labels


@pytest.mark.parametrize("query", ["", "category=robbery", "hours=after_school"])
def test_one_total_everywhere(viewer: FlaskClient, query: str) -> None:
    """The header and the place panel give the same total: the exact total rounded once."""
    summary = viewer.get(f"/api/summary?{query}").get_json()
    places = viewer.get(f"/api/places/summary?{query}").get_json()
    assert summary["total_count"] == places["total_incidents"]


def test_a_large_map_starts_with_coarser_cells(sample_study: Path) -> None:
    """Beyond MAX_CELLS_DRAWN cells the map starts coarser; an asked-for size is kept."""
    config = {
        **BASE,
        "STUDY_DIR": str(sample_study),
        "ANONYMOUS_ROLE": "editor",
        "MAX_CELLS_DRAWN": 100,
    }
    client = create_app(config).test_client()
    coarse = client.get("/api/cells.geojson?layer=count").get_json()
    resolutions = set(
        grid.cell_resolution(
            grid.cells_from_hex([f["properties"]["h3"] for f in coarse["features"]])
        ).tolist()
    )
    assert resolutions == {8} and len(coarse["features"]) <= 100
    assert coarse["filter"]["resolution"] == 8
    fine = client.get("/api/cells.geojson?layer=count&resolution=9").get_json()
    assert len(fine["features"]) > 100
    page = client.get("/").get_data(as_text=True)
    assert '<option value="8" selected>' in page
