"""Incident categories: canonical names, aliases and default harm weights.

Sources name the same offence in many ways ("Violence and sexual offences" on police.uk,
"assault" in an emergency-department feed). Every category is folded to a lower-case
canonical name here, so counts by category line up across agencies.

Default harm weights
--------------------
``DEFAULT_HARM_WEIGHTS`` are *indicative* weights in the spirit of the Cambridge Crime Harm
Index (days of imprisonment of the starting-point sentence) and the ONS Crime Severity Score:
they order offences by seriousness so that one robbery weighs more than one public-order
offence. They are not the official tables; a study should override them with the weights its
partnership has agreed (``[harm_weights]`` in ``study.toml``). Unknown categories weigh
``UNKNOWN_HARM_WEIGHT``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import MappingProxyType

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORY_ALIASES",
    "DEFAULT_HARM_WEIGHTS",
    "SERIOUS_VIOLENCE",
    "UNKNOWN_HARM_WEIGHT",
    "canonical_category",
    "harm_weights_for",
]

DEFAULT_HARM_WEIGHTS = MappingProxyType(
    {
        "homicide": 5475.0,
        "sexual offences": 730.0,
        "violence with injury": 365.0,
        "robbery": 365.0,
        "violence and sexual offences": 180.0,
        "possession of weapons": 180.0,
        "violence without injury": 20.0,
        "public order": 20.0,
        "burglary": 60.0,
        "theft from the person": 20.0,
        "criminal damage and arson": 20.0,
        "drugs": 10.0,
        "other theft": 10.0,
        "vehicle crime": 10.0,
        "other crime": 10.0,
        "bicycle theft": 5.0,
        "shoplifting": 2.0,
        "anti-social behaviour": 1.0,
    }
)
UNKNOWN_HARM_WEIGHT = 10.0

# The default scope of a study: serious violence affecting young people.
SERIOUS_VIOLENCE: tuple[str, ...] = (
    "homicide",
    "violence with injury",
    "violence without injury",
    "violence and sexual offences",
    "sexual offences",
    "robbery",
    "possession of weapons",
)

CATEGORY_ALIASES = MappingProxyType(
    {
        "murder": "homicide",
        "manslaughter": "homicide",
        "assault": "violence with injury",
        "assault with injury": "violence with injury",
        "gbh": "violence with injury",
        "abh": "violence with injury",
        "stabbing": "violence with injury",
        "knife injury": "violence with injury",
        "common assault": "violence without injury",
        "assault without injury": "violence without injury",
        "weapon possession": "possession of weapons",
        "weapons possession": "possession of weapons",
        "knife possession": "possession of weapons",
        "possession of a weapon": "possession of weapons",
        "public disorder": "public order",
        "asb": "anti-social behaviour",
        "antisocial behaviour": "anti-social behaviour",
        "anti social behaviour": "anti-social behaviour",
        "sexual offence": "sexual offences",
        "criminal damage": "criminal damage and arson",
    }
)

_SPACES = re.compile(r"[\s_]+")


def canonical_category(values: Iterable[object]) -> np.ndarray:
    """Fold category labels to canonical lower-case names.

    Missing values become ``""``; unknown labels are kept, lower-cased and trimmed.

    Examples
    --------
    >>> canonical_category(["Violence and sexual offences", "ASB", "Weapon_possession"]).tolist()
    ['violence and sexual offences', 'anti-social behaviour', 'possession of weapons']
    """
    s = pd.Series(list(values), dtype="object").fillna("").astype(str)
    labels, codes = np.unique(s.to_numpy(dtype=str), return_inverse=True)
    folded = [_SPACES.sub(" ", label.strip().lower()) for label in labels]
    folded = [CATEGORY_ALIASES.get(label, label) for label in folded]
    return np.asarray(folded, dtype=object)[codes.ravel()]


def harm_weights_for(categories: np.ndarray, weights: dict[str, float] | None = None) -> np.ndarray:
    """Return the harm weight of each (canonical) category.

    ``weights`` overrides entries of :data:`DEFAULT_HARM_WEIGHTS`; categories in neither
    weigh :data:`UNKNOWN_HARM_WEIGHT`.
    """
    table = {**DEFAULT_HARM_WEIGHTS, **(weights or {})}
    labels, codes = np.unique(np.asarray(categories, dtype=str), return_inverse=True)
    per_label = np.array([table.get(label, UNKNOWN_HARM_WEIGHT) for label in labels], dtype=float)
    return per_label[codes.ravel()] if len(labels) else np.zeros(0)
