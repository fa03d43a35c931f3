"""Small-number control for published outputs: the incidents involve children.

DESIGN §5: published outputs never show counts below the threshold (10 by default, never
below 8); small counts are merged into the parent H3 cell until they pass, or suppressed;
other counts are rounded to the nearest 5; values derived from suppressed counts (harm, risk,
rates) are withheld and others shown to 2 significant figures; no incident points. Apply it
after every filter, on the numbers about to be shown.

Two profiles: ``internal`` (exact numbers, for the partnership's own analysts) and
``publishable``. A :class:`DisclosureRule` carries its profile, so the functions here take
one rule and return the numbers that profile may show; :meth:`DisclosureRule.describe` says
in one sentence what was done, for file metadata and page footers.

Examples
--------
>>> publish_count([0, 3, 10, 12, 13, 27], DisclosureRule()).tolist()
[0.0, nan, 10.0, 10.0, 15.0, 25.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geojtai import grid
from geojtai.errors import DisclosureError

__all__ = [
    "MIN_THRESHOLD",
    "PROFILES",
    "DisclosureRule",
    "publish_cells",
    "publish_count",
    "publish_harm",
    "publish_table",
]

PROFILES: tuple[str, ...] = ("internal", "publishable")
MIN_THRESHOLD = 8  # the smallest threshold DESIGN §5 allows (also settings.py's)


@dataclass(frozen=True)
class DisclosureRule:
    """How numbers are controlled before they are shown.

    Attributes
    ----------
    threshold
        Smallest count that may be shown (at least :data:`MIN_THRESHOLD`).
    rounding
        Shown counts are rounded to the nearest multiple of this (half up), and never below
        the smallest multiple that reaches ``threshold`` (:attr:`floor`); 1 leaves them as
        they are.
    max_rollup
        How many levels of parent cells small counts may be merged into before they are
        suppressed (0: suppress at once).
    profile
        ``"publishable"`` applies the rule; ``"internal"`` leaves every number unchanged.

    Raises
    ------
    DisclosureError
        A value is out of range; every problem is named at once.
    """

    threshold: int = 10
    rounding: int = 5
    max_rollup: int = 2
    profile: str = "publishable"

    def __post_init__(self) -> None:
        problems = []
        if not _whole(self.threshold) or self.threshold < MIN_THRESHOLD:
            problems.append(
                f"The disclosure threshold must be a whole number of at least {MIN_THRESHOLD}; "
                f"{self.threshold!r} was given."
            )
        if not _whole(self.rounding) or self.rounding < 1:
            problems.append(f"`rounding` must be a whole number ≥ 1; {self.rounding!r} was given.")
        if not _whole(self.max_rollup) or self.max_rollup < 0:
            problems.append(
                f"`max_rollup` must be a whole number ≥ 0; {self.max_rollup!r} was given."
            )
        if self.profile not in PROFILES:
            problems.append(f"The profile {self.profile!r} is not one of: {', '.join(PROFILES)}.")
        if problems:
            raise DisclosureError("\n".join(problems), problems)

    @property
    def applies(self) -> bool:
        """Whether numbers are controlled (the ``publishable`` profile)."""
        return self.profile == "publishable"

    @property
    def floor(self) -> int:
        """The smallest non-zero count shown: the first multiple of ``rounding`` ≥ ``threshold``."""
        return -(-self.threshold // self.rounding) * self.rounding

    def describe(self) -> str:
        """The rule in one sentence, for file metadata and page footers.

        Examples
        --------
        >>> DisclosureRule(profile="internal").describe()
        'Internal profile: exact counts with no suppression or rounding; not for publication.'
        """
        if not self.applies:
            return "Internal profile: exact counts with no suppression or rounding; not for publication."
        t = self.threshold
        merged = (
            f"merged into parent H3 cells (up to {self.max_rollup} "
            f"level{'s' if self.max_rollup > 1 else ''} coarser) until they reach {t}, "
            "or else suppressed"
            if self.max_rollup
            else "suppressed"
        )
        rounded = (
            f"other counts are rounded to the nearest {self.rounding} (never below {self.floor})"
            if self.rounding > 1
            else "other counts are shown as they are"
        )
        return (
            f"Counts of 1 to {t - 1} are {merged}; {rounded}; harm and other values from "
            "suppressed counts are withheld and the rest shown to 2 significant figures; "
            "no incident locations are shown."
        )


def _whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _counts(values: object, what: str) -> np.ndarray:
    counts = np.atleast_1d(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        negative = np.count_nonzero(counts < 0)
    if negative:
        msg = f"{what}: {negative} counts are negative; counts must be ≥ 0."
        raise DisclosureError(msg)
    return counts


def publish_count(values: object, rule: DisclosureRule) -> np.ndarray:
    """Counts as they may be shown: 0 stays 0, small counts become NaN, the rest are rounded.

    Parameters
    ----------
    values
        Counts (a number or an array of any shape); NaN stays NaN.
    rule
        The rule; the ``internal`` profile returns the counts unchanged.

    Returns
    -------
    numpy.ndarray
        ``float64``, same shape (at least 1-D): 0 where 0, NaN where 0 < count <
        ``threshold``, else the count rounded half up to a multiple of ``rounding`` and at
        least :attr:`DisclosureRule.floor` (with 10 and 5: 10 → 10, 12 → 10, 13 → 15).

    Raises
    ------
    DisclosureError
        A count is negative.
    """
    counts = _counts(values, "publish_count")
    if not rule.applies:
        return counts.copy()
    r = rule.rounding
    with np.errstate(invalid="ignore"):
        rounded = np.maximum(np.floor(counts / r + 0.5) * r, rule.floor)
        small = (counts > 0) & (counts < rule.threshold)
    return np.where(counts == 0, 0.0, np.where(small, np.nan, rounded))


def publish_harm(
    harm: object, counts: object, rule: DisclosureRule, *, significant: int = 2
) -> np.ndarray:
    """Harm (or another value derived from counts, such as a risk or rate) as it may be shown.

    Parameters
    ----------
    harm
        Values, one per count.
    counts
        The exact counts each value was derived from.
    rule
        The rule; the ``internal`` profile returns ``harm`` unchanged.
    significant
        Significant figures kept (half up).

    Returns
    -------
    numpy.ndarray
        ``float64``: NaN where :func:`publish_count` suppresses the count, else the value to
        ``significant`` figures (1234.5 → 1200.0).
    """
    values = np.atleast_1d(np.asarray(harm, dtype=np.float64))
    shown = publish_count(counts, rule)
    if shown.shape != values.shape:
        msg = f"publish_harm: harm and counts differ in shape ({values.shape} and {shown.shape})."
        raise DisclosureError(msg)
    if not rule.applies:
        return values.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (np.floor(np.log10(np.abs(values))) - (significant - 1))
        rounded = np.where(values == 0, 0.0, np.floor(values / scale + 0.5) * scale)
    return np.where(np.isnan(shown), np.nan, rounded)


def publish_cells(
    h3_hex: Sequence[str] | np.ndarray | pd.Series,
    counts: object,
    rule: DisclosureRule,
    *,
    min_resolution: int,
    keep_raw: bool = False,
) -> pd.DataFrame:
    """Cell counts as they may be shown: small counts merged into parent cells or suppressed.

    Cells with a count of at least ``threshold`` keep it (rounded). The others ("small") are
    grouped by parent cell one level up; a group whose small counts add up to ``threshold``
    is shown as the parent cell (a "remainder" hexagon holding only those small counts: its
    children shown on their own rows are not in it, so each incident is counted once). What
    is left goes up another level, up to ``rule.max_rollup`` levels and not coarser than
    ``min_resolution``; what never passes becomes one suppressed row per group at the last
    level tried (count NaN), never its children's counts. Zero counts give no row.

    Parameters
    ----------
    h3_hex
        Distinct cells of one resolution (hex).
    counts
        Exact counts, one per cell (whole numbers ≥ 0).
    rule
        The rule; the ``internal`` profile returns every cell with its exact count.
    min_resolution
        The coarsest resolution small counts may be merged into.
    keep_raw
        Add the exact count of each row as ``raw`` (for tests and audits; drop it before
        publishing).

    Returns
    -------
    pandas.DataFrame
        ``h3`` (hex; parent cells where children were merged), ``resolution``, ``count``
        (shown count, float; NaN where suppressed), ``suppressed`` (bool) and ``rolled_up``
        (how many input cells were merged into the row; 0 for an input cell) [, ``raw``].
        Input cells first, then coarser rows; by ``h3`` within a resolution.

    Raises
    ------
    DisclosureError
        Lengths differ, cells repeat or mix resolutions, counts are not whole numbers ≥ 0,
        or ``min_resolution`` is finer than the cells.

    Examples
    --------
    Seven sibling cells with 3, 4, 9, 10, 12, 13 and 27 incidents: 10, 12, 13 and 27 are
    shown as 10, 10, 15 and 25, and the parent cell as 15 (3 + 4 + 9 = 16, merging 3 cells).
    """
    cells, exact, resolution = _check_cells(h3_hex, counts, min_resolution)
    keep = exact > 0
    cells, exact = cells[keep], exact[keep]
    if not rule.applies:
        parts = [_part(cells, exact, exact.astype(np.float64), np.zeros(exact.size, np.int64))]
        return _assemble(parts, keep_raw)
    # 1. Cells that pass on their own.
    big = exact >= rule.threshold
    parts = [
        _part(
            cells[big], exact[big], publish_count(exact[big], rule), np.zeros(np.count_nonzero(big))
        )
    ]
    # 2. Merge the small ones level by level; each level publishes the groups that pass.
    items, sums, members = cells[~big], exact[~big], np.ones(np.count_nonzero(~big), np.int64)
    for level in range(1, min(rule.max_rollup, resolution - min_resolution) + 1):
        if items.size == 0:
            break
        items, group = np.unique(grid.cell_parents(items, resolution - level), return_inverse=True)
        sums = np.bincount(group, weights=sums, minlength=items.size).astype(np.int64)
        members = np.bincount(group, weights=members, minlength=items.size).astype(np.int64)
        ok = sums >= rule.threshold
        parts.append(_part(items[ok], sums[ok], publish_count(sums[ok], rule), members[ok]))
        items, sums, members = items[~ok], sums[~ok], members[~ok]
    # 3. What never passed: one suppressed row per group (an input cell where none merged).
    merged = grid.cell_resolution(items) < resolution
    hidden = np.full(items.size, np.nan)
    parts.append(_part(items, sums, hidden, np.where(merged, members, 0), suppressed=True))
    return _assemble(parts, keep_raw)


def _check_cells(
    h3_hex: Sequence[str] | np.ndarray | pd.Series, counts: object, min_resolution: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Parse and check the cells and counts; return them and their resolution."""
    try:
        cells = grid.cells_from_hex(np.asarray(h3_hex, dtype=object))
    except ValueError as exc:
        msg = f"publish_cells: {exc}"
        raise DisclosureError(msg) from exc
    exact = _counts(counts, "publish_cells")
    problems = []
    if exact.shape != cells.shape:
        problems.append(f"{cells.size} cells but {exact.size} counts were given.")
    elif not np.all(np.isfinite(exact) & (exact == np.floor(exact))):
        problems.append("counts must be whole numbers (no NaN).")
    if np.unique(cells).size != cells.size:
        problems.append("cells repeat; give one count per cell.")
    resolutions = np.unique(grid.cell_resolution(cells))
    if resolutions.size > 1:
        problems.append(f"cells mix resolutions {resolutions.tolist()}; give one resolution.")
    resolution = int(resolutions[0]) if resolutions.size else int(min_resolution)
    if not _whole(min_resolution) or not 0 <= min_resolution <= resolution:
        problems.append(
            f"`min_resolution` must be 0..{resolution} (the cells' resolution); "
            f"{min_resolution!r} was given."
        )
    if problems:
        msg = "\n".join(f"publish_cells: {p}" for p in problems)
        raise DisclosureError(msg, problems)
    return cells, exact.astype(np.int64), resolution


def _part(
    cells: np.ndarray,
    raw: np.ndarray,
    shown: np.ndarray,
    rolled_up: np.ndarray,
    *,
    suppressed: bool = False,
) -> dict[str, np.ndarray]:
    return {
        "cell": cells,
        "count": shown,
        "suppressed": np.full(cells.size, suppressed),
        "rolled_up": np.asarray(rolled_up, dtype=np.int64),
        "raw": np.asarray(raw, dtype=np.int64),
    }


def _assemble(parts: list[dict[str, np.ndarray]], keep_raw: bool) -> pd.DataFrame:
    cells = np.concatenate([p["cell"] for p in parts]).astype(np.uint64)
    out = pd.DataFrame(
        {
            "h3": grid.cells_to_hex(cells),
            "resolution": grid.cell_resolution(cells).astype(np.int64),
            **{k: np.concatenate([p[k] for p in parts]) for k in ("count", "suppressed")},
            "rolled_up": np.concatenate([p["rolled_up"] for p in parts]),
        }
    )
    if keep_raw:
        out["raw"] = np.concatenate([p["raw"] for p in parts])
    out["count"] = out["count"].astype(np.float64)
    out = out.sort_values(["resolution", "h3"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def publish_table(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    rule: DisclosureRule,
    *,
    harm_columns: Mapping[str, str] | None = None,
    share_columns: Mapping[str, str] | None = None,
    group_by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """A non-spatial table (place-type shares, monthly series, breakdowns) as it may be shown.

    Parameters
    ----------
    frame
        The table with exact numbers; it is not changed.
    count_columns
        Count columns to pass through :func:`publish_count`.
    rule
        The rule; the ``internal`` profile returns an unchanged copy.
    harm_columns
        ``{harm column: count column}``: values derived from counts (harm, risk), passed
        through :func:`publish_harm` with the exact counts of the named column.
    share_columns
        ``{share column: source column}``: shares recomputed from the *published* values of
        a column in ``count_columns`` or ``harm_columns`` (each row's value over the sum of
        the shown values in its group; NaN where the value is suppressed), so shown shares
        add up to 1 and reveal nothing the shown counts do not.
    group_by
        Columns whose groups the shares are taken within (e.g. ``"period"``); the whole
        table when None.

    Returns
    -------
    pandas.DataFrame
        A new table; columns not named here are left as they are (the caller decides whether
        they may be shown).

    Raises
    ------
    DisclosureError
        Named columns are missing, or a share's source column is not published here.

    Examples
    --------
    >>> t = pd.DataFrame({"place": ["park", "street", "school"], "n": [40, 60, 3]})
    >>> publish_table(t, ["n"], DisclosureRule(), share_columns={"share": "n"})["share"].tolist()
    [0.4, 0.6, nan]
    """
    harm_columns = dict(harm_columns or {})
    share_columns = dict(share_columns or {})
    groups = [group_by] if isinstance(group_by, str) else list(group_by or [])
    needed = [*count_columns, *harm_columns, *harm_columns.values(), *groups]
    problems = [f"column {c!r} is missing" for c in dict.fromkeys(needed) if c not in frame]
    problems += [
        f"share {share!r} is computed from {source!r}, which is not a count or harm column here"
        for share, source in share_columns.items()
        if source not in count_columns and source not in harm_columns
    ]
    if problems:
        msg = "\n".join(f"publish_table: {p}." for p in problems)
        raise DisclosureError(msg, problems)
    out = frame.copy()
    if not rule.applies:
        return out
    # Harm first: it needs the exact counts, which the next step replaces.
    for column, count in harm_columns.items():
        out[column] = publish_harm(frame[column].to_numpy(), frame[count].to_numpy(), rule)
    for column in count_columns:
        out[column] = publish_count(frame[column].to_numpy(), rule)
    for share, source in share_columns.items():
        total = out.groupby(groups)[source].transform("sum") if groups else out[source].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[share] = (out[source] / total).where(out[source].notna())
    return out
