"""Exportable layers under the disclosure profiles (geojtai.exports), on the sample town."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geojtai import grid
from geojtai.disclosure import DisclosureRule
from geojtai.errors import ExportError
from geojtai.exports import available_layers, build_layers
from geojtai.filters import CellFilter, IncidentIndex, filter_summary, parse_filter
from geojtai.io.studyfolder import Study, load_study

PUBLISHABLE = DisclosureRule()
INTERNAL = DisclosureRule(profile="internal")


@pytest.fixture(scope="module")
def study(sample_study: Path) -> Study:
    return load_study(sample_study)


@pytest.fixture(scope="module")
def index(study: Study) -> IncidentIndex:
    found = study.incident_index()
    assert found is not None
    return found


def _counts(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.concatenate([frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in columns])


def _never_small(values: np.ndarray, rule: DisclosureRule) -> None:
    shown = values[~np.isnan(values)]
    assert not np.any((shown > 0) & (shown < rule.threshold)), np.unique(shown)[:10]
    assert np.all(shown % rule.rounding == 0)


def test_layers_offered_per_profile(study: Study) -> None:
    public = available_layers(study, internal=False)
    assert public[:7] == [
        "counts",
        "cells",
        "risk",
        "hotspots",
        "emerging",
        "gaps",
        "interventions",
    ]
    assert {"parks", "streets", "shopping_centres"} <= set(public)
    assert "incidents" not in public
    assert available_layers(study, internal=True) == [*public, "incidents"]


def test_incidents_are_never_published(study: Study) -> None:
    with pytest.raises(ExportError, match="only under the internal profile"):
        build_layers(study, ["incidents"], PUBLISHABLE)


def test_unknown_layers_are_named_together(study: Study) -> None:
    with pytest.raises(ExportError) as caught:
        build_layers(study, ["counts", "nope", "parkz"], PUBLISHABLE)
    assert len(caught.value.problems) == 2
    assert "'nope'" in str(caught.value) and "'parkz'" in str(caught.value)
    assert "counts, cells" in str(caught.value)


def test_internal_counts_are_exact(study: Study) -> None:
    (layer,) = build_layers(study, ["counts"], INTERNAL)
    assert layer.frame["count"].sum() == study.cells["count"].sum()
    assert (layer.frame["rolled_up"] == 0).all()
    assert layer.frame.crs.to_epsg() == 4326


def test_publishable_counts_roll_up_and_round(study: Study) -> None:
    (layer,) = build_layers(study, ["counts"], PUBLISHABLE)
    frame = layer.frame
    _never_small(frame["count"].to_numpy(dtype=np.float64), PUBLISHABLE)
    assert "harm" not in frame
    merged = frame.loc[frame["rolled_up"] > 0]
    assert len(merged) and (merged["resolution"] < 9).all()
    # Parents come first, so they are drawn under the cells shown alone.
    assert frame["resolution"].is_monotonic_increasing
    # Each row's polygon is its own cell.
    cells = grid.cells_from_hex(frame["h3"].to_numpy(dtype=object))
    centres = frame.geometry.to_crs(27700).centroid.to_crs(4326)
    assert np.allclose(centres.y, grid.cell_centres(cells)[0], atol=1e-4)


def test_publishable_cell_table_hides_small_numbers_and_exact_risk(study: Study) -> None:
    (layer,) = build_layers(study, ["cells"], PUBLISHABLE)
    frame = layer.frame
    counts = [c for c in frame.columns if c == "count" or c.startswith("count_")]
    assert len(counts) > 5
    _never_small(_counts(frame, counts), PUBLISHABLE)
    withheld = frame["count"].isna()
    assert withheld.any() and frame.loc[withheld, "harm"].isna().all()
    assert {"risk", "gi_z", "first_month", "months_active"}.isdisjoint(frame.columns)
    assert set(frame["risk_class"]) == {"high", "medium", "low"}
    (internal,) = build_layers(study, ["cells"], INTERNAL)
    assert {"risk", "gi_z", "first_month"} <= set(internal.frame.columns)
    assert (internal.frame["risk_class"] == "high").sum() == (frame["risk_class"] == "high").sum()


def test_publishable_gaps_and_layers_over_the_whole_study(study: Study) -> None:
    gaps, risk, hotspots, work = build_layers(
        study, ["gaps", "risk", "hotspots", "interventions"], PUBLISHABLE
    )
    _never_small(_counts(gaps.frame, ["count", "last_3_months", "previous_3_months"]), PUBLISHABLE)
    assert "risk" not in gaps.frame and "risk" not in risk.frame
    assert risk.style.renderer == "categorized" and risk.style.attribute == "risk_class"
    assert "gi_z" not in hotspots.frame
    assert {"notes", "file", "row", "cost"}.isdisjoint(work.frame.columns)
    # A point with a radius becomes its circle: the footprint is an area.
    assert set(work.frame.geom_type) <= {"Polygon", "MultiPolygon", "LineString", "MultiLineString"}
    assert not any(layer.filtered for layer in (gaps, risk, hotspots, work))


def test_place_layers_keep_their_features(study: Study) -> None:
    (parks,) = build_layers(study, ["parks"], PUBLISHABLE)
    places = study.places().features
    assert len(parks.frame) == (places["layer"] == "parks").sum()
    assert parks.style.colour == "#2e7d32"


def test_internal_incidents_follow_the_filter(study: Study, index: IncidentIndex) -> None:
    flt = parse_filter({"category": "robbery"}, index)
    (layer,) = build_layers(study, ["incidents"], INTERNAL, index=index, flt=flt)
    assert set(layer.frame["category"]) == {"robbery"}
    assert len(layer.frame) == filter_summary(index, flt)["incidents"]
    assert {"file", "row", "lat", "lon"}.isdisjoint(layer.frame.columns)
    assert layer.filtered and (layer.frame.geom_type == "Point").all()


def _filters(index: IncidentIndex) -> st.SearchStrategy[dict[str, str]]:
    months = list(index.months)
    labels = {"category": index.categories, "source": index.sources, "age": index.age_bands}
    parts = {
        key: st.lists(st.sampled_from(values), min_size=1, max_size=2).map(",".join)
        for key, values in labels.items()
        if values
    }
    parts["from"] = st.sampled_from(months[: len(months) // 2])
    parts["to"] = st.sampled_from(months[len(months) // 2 :])
    parts["hours"] = st.sampled_from(["after_school", "22-2", "7-10", "0-24"])
    parts["weekday"] = st.sampled_from(["weekend", "weekdays", "mon,fri"])
    parts["resolution"] = st.sampled_from([str(r) for r in index.resolutions])
    return st.fixed_dictionaries({}, optional=parts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_small_count_is_published_whatever_the_filter(
    study: Study, index: IncidentIndex, data: st.DataObject
) -> None:
    args = data.draw(_filters(index), label="filter")
    threshold = data.draw(st.integers(8, 25), label="threshold")
    rule = DisclosureRule(threshold=threshold)
    flt = parse_filter(args, index)
    (shown,) = build_layers(study, ["counts"], rule, index=index, flt=flt)
    (exact,) = build_layers(
        study, ["counts"], DisclosureRule(profile="internal"), index=index, flt=flt
    )
    values = shown.frame["count"].to_numpy(dtype=np.float64)
    _never_small(values, rule)
    # Totals stay consistent after roll-up: each incident is in one row, each shown row
    # is off by its rounding at most, and each withheld row hid fewer than the threshold.
    total = exact.frame["count"].sum()
    assert total == filter_summary(index, flt)["incidents"]
    off = max(rule.rounding / 2, rule.floor - rule.threshold)
    n_shown, n_hidden = np.count_nonzero(~np.isnan(values)), np.count_nonzero(np.isnan(values))
    gap = total - np.nansum(values)
    assert -off * n_shown <= gap <= off * n_shown + (threshold - 1) * n_hidden


def test_a_filter_needs_incidents(study: Study) -> None:
    with pytest.raises(ExportError, match="cannot be filtered"):
        build_layers(study, ["counts"], PUBLISHABLE, flt=CellFilter(categories=("robbery",)))
