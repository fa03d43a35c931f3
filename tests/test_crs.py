from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai.crs import bng_to_wgs84, wgs84_to_bng


def test_known_point() -> None:
    # Trafalgar Square area: BNG 530000, 180000 is about 51.504 N, 0.128 W.
    lat, lon = bng_to_wgs84(np.array([530000.0]), np.array([180000.0]))
    assert abs(lat[0] - 51.504) < 0.001 and abs(lon[0] + 0.128) < 0.001


@settings(max_examples=100, deadline=None)
@given(e=st.floats(100_000, 650_000), n=st.floats(10_000, 1_200_000))
def test_bng_wgs84_round_trip_within_2_m(e: float, n: float) -> None:
    lat, lon = bng_to_wgs84(np.array([e]), np.array([n]))
    e2, n2 = wgs84_to_bng(lat, lon)
    assert float(np.hypot(e2[0] - e, n2[0] - n)) < 2.0
