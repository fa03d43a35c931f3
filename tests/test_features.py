"""Risk features: the registry, exposures on hand-made geometry, lags without leakage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from shapely.geometry import LineString, Point, box

from geojtai import features
from geojtai.crs import BNG
from geojtai.errors import SettingsError
from geojtai.layers import load_layer_specs

SPECS = load_layer_specs()
X0, Y0 = 441_000.0, 288_000.0


def places(rows: list[tuple[str, object]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"layer": [r[0] for r in rows], "name": None}, geometry=[r[1] for r in rows], crs=BNG
    )


def test_registry_lists_every_feature_and_rejects_unknown_names() -> None:
    names = features.feature_names(SPECS)
    for expected in (
        "in_parks",
        "within_shopping_centres_200",
        "count_licensed_premises_300",
        "dense3_licensed_premises_300",
        "within_schools_250",
        "length_streets_major",
        "has_streets_pedestrian",
    ):
        assert expected in names
    assert "in_streets" not in names and "in_licensed_premises" not in names
    assert len(names) == len(set(names))
    with pytest.raises(SettingsError, match="unknown features \\['near_pubs'\\]; valid ones"):
        features.place_features(
            np.zeros(1),
            np.zeros(1),
            pd.DataFrame(index=[0]),
            places([]),
            SPECS,
            names=["near_pubs"],
        )
    assert features.layer_of("dense3_licensed_premises_300", SPECS) == "licensed_premises"
    assert features.layer_of("has_streets_major", SPECS) == "streets"


def test_exposures_on_known_distances() -> None:
    # Three cells: at the origin, 150 m east, 1 km east. One pub 120 m north of the origin,
    # two more 250 m east of it; a park square covering the origin; a primary road.
    x = np.array([X0, X0 + 150, X0 + 1000])
    y = np.array([Y0, Y0, Y0])
    cell_places = pd.DataFrame(
        {"frac_parks": [0.4, 0.0, 0.0], "len_streets_major_m": [150.0, 60.0, 0.0]}
    )
    pubs = [Point(X0, Y0 + 120), Point(X0 + 250, Y0), Point(X0 + 240, Y0 + 5)]
    frame = places(
        [
            *[("licensed_premises", p) for p in pubs],
            ("parks", box(X0 - 20, Y0 - 20, X0 + 20, Y0 + 20)),
            ("streets", LineString([(X0 - 500, Y0 + 10), (X0 + 500, Y0 + 10)])),
        ]
    )
    got = features.place_features(x, y, cell_places, frame, SPECS)
    assert got["within_licensed_premises_100"].tolist() == [0, 1, 0]  # 100 m from the pair
    assert got["count_licensed_premises_300"].tolist() == [3, 3, 0]
    assert got["dense3_licensed_premises_300"].tolist() == [1, 1, 0]
    assert got["dense2_licensed_premises_100"].tolist() == [0, 1, 0]
    assert got["in_parks"].tolist() == [1, 0, 0]
    assert got["within_parks_100"].tolist() == [1, 0, 0]  # the middle cell is 130 m away
    assert got["within_parks_200"].tolist() == [1, 1, 0]
    assert got["length_streets_major"].tolist() == [150, 60, 0]
    assert got["has_streets_major"].tolist() == [1, 0, 0]  # at least 100 m in the cell
    assert got["within_streets_50"].tolist() == [1, 1, 0]
    assert got["within_schools_250"].sum() == 0  # no schools at all


def test_lags_read_only_the_past() -> None:
    counts = np.array([[1.0, 0, 2, 5, np.nan], [0, 0, 0, 0, np.nan], [3, 3, 0, 1, np.nan]])
    ring = sparse.csr_matrix(np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float))
    got = features.lag_features(counts, 4, ring)
    assert list(got.columns) == list(features.LAG_FEATURES)
    assert got["lag_1"].tolist() == [5, 0, 1]
    assert got["mean_3"].tolist() == pytest.approx([7 / 3, 0, 4 / 3])
    assert got["mean_12"].tolist() == pytest.approx([2, 0, 7 / 4])
    assert got["ring_mean_3"].tolist() == pytest.approx(
        [(0 + 4 / 3) / 2, (7 / 3 + 4 / 3) / 2, 7 / 6]
    )
    assert got["months_since"].tolist() == [1, 24, 1]
    assert not got.isna().any().any()  # the NaN month after the origin was never read
