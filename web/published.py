"""What a request may see: the disclosure rule for its role, applied to counts.

Editors and admins see internal figures (exact counts); everyone else (viewers, visitors)
sees published ones: small counts suppressed or merged into parent cells, others rounded
(:mod:`geojtai.disclosure`). Every count the app sends goes through :func:`current_rule`,
after every filter.

``DISCLOSURE_THRESHOLD`` (default 10, never below 8) and ``DISCLOSURE_ROUNDING`` (5) set
the rule.
"""

from __future__ import annotations

import numpy as np
from flask import current_app

from geojtai.disclosure import DisclosureRule, publish_count
from web.auth import is_internal

__all__ = ["current_rule", "published_number", "suppressed_text"]


def current_rule() -> DisclosureRule:
    """The disclosure rule of this request: internal for editors and admins, else publishable.

    Raises
    ------
    geojtai.errors.DisclosureError
        The configured threshold is below 8 or the rounding below 1.
    """
    config = current_app.config
    return DisclosureRule(
        threshold=int(config.get("DISCLOSURE_THRESHOLD", 10)),
        rounding=int(config.get("DISCLOSURE_ROUNDING", 5)),
        profile="internal" if is_internal() else "publishable",
    )


def suppressed_text(rule: DisclosureRule) -> str:
    """How a suppressed count reads: ``fewer than 10``."""
    return f"fewer than {rule.threshold}"


def published_number(value: float, rule: DisclosureRule) -> int | None:
    """One count as this request may see it: exact, rounded, or ``None`` when suppressed."""
    shown = float(publish_count(np.array([value], dtype=float), rule)[0])
    return None if np.isnan(shown) else int(shown)
