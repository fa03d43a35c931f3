from __future__ import annotations

import numpy as np
import pytest

from geojtai.categories import (
    DEFAULT_HARM_WEIGHTS,
    UNKNOWN_HARM_WEIGHT,
    canonical_category,
    harm_weights_for,
)


@pytest.mark.parametrize(
    ("label", "canonical"),
    [
        ("Violence and sexual offences", "violence and sexual offences"),
        ("  Robbery ", "robbery"),
        ("Possession of weapons", "possession of weapons"),
        ("weapon_possession", "possession of weapons"),
        ("stabbing", "violence with injury"),
        ("ASB", "anti-social behaviour"),
        (None, ""),
        ("Something New", "something new"),
    ],
)
def test_canonical_category(label: object, canonical: str) -> None:
    assert canonical_category([label]).tolist() == [canonical]


def test_harm_weights_default_override_and_unknown() -> None:
    cats = np.array(["robbery", "public order", "mystery"], dtype=object)
    assert harm_weights_for(cats).tolist() == [
        DEFAULT_HARM_WEIGHTS["robbery"],
        DEFAULT_HARM_WEIGHTS["public order"],
        UNKNOWN_HARM_WEIGHT,
    ]
    assert harm_weights_for(cats, {"robbery": 1.0})[0] == 1.0
    assert harm_weights_for(np.array([], dtype=object)).size == 0


def test_harm_orders_offences_by_seriousness() -> None:
    w = DEFAULT_HARM_WEIGHTS
    assert (
        w["homicide"]
        > w["violence with injury"]
        > w["violence without injury"]
        > w["anti-social behaviour"]
    )
    assert w["robbery"] > w["public order"]
