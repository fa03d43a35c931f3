"""Suggested deployments: where N teams, each covering a circle of radius R, do the most good.

A partnership has ``N`` teams (detached youth workers, patrols, safe-haven staff, ...); a
team based at a cell covers every cell whose centre lies within ``R`` metres of that cell's
centre. Given each cell's expected harm (or risk), the cells existing work already covers,
and the sites a team may be based at (only parks, shopping centres, streets, ...),
:func:`suggest` chooses the sites that cover the most value, counting each cell once.

This is the *maximum coverage problem*, which is NP-hard. The greedy rule (take, N times,
the site that adds the most not-yet-covered value) is guaranteed to cover at least
``1 − (1 − 1/N)^N > 1 − 1/e ≈ 63.2 %`` of the best possible value, because coverage is a
monotone submodular function (Nemhauser, Wolsey & Fisher 1978, *Mathematical Programming*
14(1)); Feige (1998, *J. ACM* 45(4)) showed no polynomial algorithm does better in general
unless P = NP. In practice greedy is usually optimal or within a few per cent:
:func:`brute_force` gives the exact optimum of small instances to check it.

Marginal gains only shrink as sites are chosen, and choosing a site changes the gain of only
the sites that share a cell with it (those within ``2R``). So :func:`suggest` computes every
gain once with one sparse product, then after each choice recomputes just the rows of the
affected sites. Recomputing (rather than subtracting what was lost) keeps every gain
bit-identical to a fresh evaluation, so ties are broken exactly as the textbook greedy breaks
them: the lowest site index wins.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from geojtai.errors import SettingsError

__all__ = [
    "MAX_COMBINATIONS",
    "brute_force",
    "coverage_value",
    "site_footprints",
    "suggest",
]

MAX_COMBINATIONS = 200_000  # brute_force refuses instances with more subsets than this
_CHUNK = 20_000  # subsets evaluated per sparse product in brute_force


# --- footprints ---------------------------------------------------------------------------


def site_footprints(
    x: Any, y: Any, *, radius_m: float, candidates: Any = None
) -> sparse.csr_matrix:
    """Which cells a team based at each candidate site covers.

    A team based at a cell covers the cells whose centres are within ``radius_m`` of that
    cell's centre (distance ≤ ``radius_m``, so a cell always covers itself).

    Parameters
    ----------
    x, y
        BNG easting and northing of every cell centre, metres, ``(cells,)``.
    radius_m
        The radius a team covers, metres, > 0.
    candidates
        The cells a team may be based at: integer positions into ``x``/``y`` or a boolean
        mask over the cells. ``None`` (the default) makes every cell a site.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(sites, cells)`` 0/1 float matrix, sorted indices: row ``i`` is site ``i`` (cell
        ``candidates[i]``, or cell ``i`` when ``candidates`` is ``None``), and entry
        ``(i, j)`` is 1 when site ``i`` covers cell ``j``.

    Raises
    ------
    SettingsError
        Listing every problem: coordinates of different lengths or not finite, a radius not
        > 0, candidates out of range or a mask of the wrong length.

    Examples
    --------
    >>> fp = site_footprints(np.array([0.0, 100.0, 300.0]), np.zeros(3), radius_m=150)
    >>> fp.toarray().astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    xy, sites = _check_footprint_inputs(x, y, radius_m, candidates)
    cell_tree = cKDTree(xy)
    site_tree = cell_tree if sites is None else cKDTree(xy[sites])
    # One C-level pass gives every (site, cell) pair within the radius, distance 0 included.
    pairs = site_tree.sparse_distance_matrix(cell_tree, float(radius_m), output_type="ndarray")
    n_sites = xy.shape[0] if sites is None else sites.size
    out = sparse.csr_matrix(
        (np.ones(pairs.size), (pairs["i"], pairs["j"])), shape=(n_sites, xy.shape[0])
    )
    out.sort_indices()
    return out


def _check_footprint_inputs(
    x: Any, y: Any, radius_m: Any, candidates: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    problems: list[str] = []
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        problems.append(f"x has {xs.size} values but y has {ys.size}")
    elif not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        bad = np.flatnonzero(~(np.isfinite(xs) & np.isfinite(ys)))
        problems.append(f"{bad.size} cell centres are NaN or infinite (e.g. {_few(bad)})")
    problems += _radius_problems(radius_m)
    sites: np.ndarray | None = None
    if candidates is not None:
        sites, problem = _candidate_sites(candidates, xs.size)
        problems += problem
    _raise_if(problems, "invalid site footprints")
    return np.column_stack([xs, ys]), sites


def _radius_problems(radius_m: Any) -> list[str]:
    ok = isinstance(radius_m, (int, float, np.integer, np.floating)) and not isinstance(
        radius_m, bool
    )
    if not ok or not (math.isfinite(radius_m) and radius_m > 0):
        return [f"radius_m must be a finite number of metres > 0; {radius_m!r} was given"]
    return []


def _candidate_sites(candidates: Any, n_cells: int) -> tuple[np.ndarray, list[str]]:
    arr = np.asarray(candidates).ravel()
    if arr.dtype == bool:
        if arr.size != n_cells:
            return arr, [f"candidates mask has {arr.size} values but there are {n_cells} cells"]
        return np.flatnonzero(arr), []
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        return arr, ["candidates must be integer cell positions or a boolean mask"]
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= n_cells))
    if bad.size:
        return arr, [f"{bad.size} candidates are outside 0..{n_cells - 1} (positions {_few(bad)})"]
    return arr, []


# --- greedy maximum coverage --------------------------------------------------------------


def suggest(
    value: Any,
    footprints: Any,
    *,
    n_teams: int,
    allowed: Any = None,
    covered: Any = None,
) -> pd.DataFrame:
    """Greedy maximum coverage: where ``n_teams`` teams cover the most value, each cell once.

    ``n_teams`` times, the allowed site with the largest marginal gain (the value of the
    cells it covers that neither existing work nor an earlier choice covers) is chosen;
    ties go to the lowest site index. The result covers at least ``1 − (1 − 1/N)^N``
    (> ``1 − 1/e`` ≈ 63.2 %) of the best value any ``N`` allowed sites could cover
    (Nemhauser, Wolsey & Fisher 1978); see the module notes.

    Parameters
    ----------
    value
        Expected harm (or risk) per cell, finite and ≥ 0, ``(cells,)``.
    footprints
        ``(sites, cells)`` sparse (or dense) matrix, nonzero where a site covers a cell, as
        :func:`site_footprints` builds it.
    n_teams
        How many sites to choose, ≥ 1.
    allowed
        Boolean mask over the sites where a team may be based (e.g. only sites in parks,
        shopping centres or on streets); ``None`` allows every site.
    covered
        Boolean mask over the cells that existing work already covers: their value counts
        0, so no cell is counted twice. ``None``: nothing is covered yet.

    Returns
    -------
    pandas.DataFrame
        One row per choice, in the order chosen: ``rank`` (1..), ``site`` (row of
        ``footprints``), ``gain`` (value it adds), ``cumulative`` (value covered so far),
        ``share_of_total`` (``cumulative`` over the total value of cells not already
        covered; NaN when that total is 0) and ``cells_added`` (cells it newly covers).
        ``attrs["message"]`` says how many sites were chosen and, when fewer than
        ``n_teams``, why the search stopped (no site adds any value, or every allowed site
        is chosen); ``attrs["total_value"]`` is the total the shares divide by.

    Raises
    ------
    SettingsError
        Listing every problem: ``n_teams`` < 1, masks or ``value`` of the wrong length,
        ``value`` negative, NaN or infinite.

    Examples
    --------
    >>> fp = site_footprints(np.arange(5) * 100.0, np.zeros(5), radius_m=100)
    >>> suggest(np.array([0, 5, 1, 0, 4.0]), fp, n_teams=2)[["site", "gain"]].to_dict("list")
    {'site': [1, 3], 'gain': [6.0, 4.0]}
    """
    # Check the inputs and zero the value of cells existing work covers.
    fp, val, allow, done = _check_plan_inputs(value, footprints, n_teams, allowed, covered)
    remaining = np.where(done, 0.0, val)
    total = float(remaining.sum())
    # Choose greedily, updating only the gains a choice changes.
    sites, gains, added = _greedy(fp, remaining, done, allow, n_teams)
    # Assemble one row per choice and say why the search stopped early, if it did.
    cumulative = np.cumsum(gains)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, sites.size + 1, dtype=np.int64),
            "site": sites,
            "gain": gains,
            "cumulative": cumulative,
            "share_of_total": cumulative / total if total > 0 else np.full(sites.size, np.nan),
            "cells_added": added,
        }
    )
    out.attrs["message"] = _message(sites.size, n_teams, allow, total, cumulative)
    out.attrs["total_value"] = total
    return out


def _greedy(
    fp: sparse.csr_matrix,
    remaining: np.ndarray,
    done: np.ndarray,
    allow: np.ndarray,
    n_teams: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The greedy choices as (sites, gains, cells added); stops when nothing adds value."""
    remaining, done = remaining.copy(), done.copy()
    by_cell = fp.tocsc()
    gains = np.where(allow, fp @ remaining, -np.inf)  # -inf: never chosen
    sites: list[int] = []
    gained: list[float] = []
    added: list[int] = []
    for _ in range(n_teams if gains.size else 0):  # N choices; each step is vectorised
        site = int(np.argmax(gains))  # first of the largest: ties go to the lowest index
        if not gains[site] > 0:
            break
        cells = fp.indices[fp.indptr[site] : fp.indptr[site + 1]]
        new = cells[~done[cells]]
        sites.append(site)
        gained.append(float(gains[site]))
        added.append(int(new.size))
        done[new] = True
        lost = new[remaining[new] > 0]
        remaining[lost] = 0.0
        gains[site] = -np.inf
        if not lost.size:
            continue
        # Only sites sharing a cell that lost its value change; recompute their rows exactly.
        touched = np.unique(by_cell[:, lost].indices)
        touched = touched[np.isfinite(gains[touched])]
        gains[touched] = fp[touched] @ remaining
    return (
        np.asarray(sites, dtype=np.int64),
        np.asarray(gained, dtype=np.float64),
        np.asarray(added, dtype=np.int64),
    )


def _message(
    chosen: int, n_teams: int, allow: np.ndarray, total: float, cumulative: np.ndarray
) -> str:
    covered = float(cumulative[-1]) if chosen else 0.0
    share = f" ({100 * covered / total:.1f} % of the value not already covered)" if total else ""
    done = f"Chose {chosen} of {n_teams} sites, covering {covered:.6g}{share}."
    if chosen == n_teams:
        return done
    if not allow.any():
        return f"{done} No site is allowed."
    if chosen == int(allow.sum()):
        return f"{done} Stopped early: every allowed site is already chosen."
    return (
        f"{done} Stopped early: no remaining allowed site adds any value (every cell with "
        "value is already covered or out of reach of the allowed sites)."
    )


# --- checking a plan ----------------------------------------------------------------------


def coverage_value(value: Any, footprints: Any, chosen: Any, *, covered: Any = None) -> float:
    """The total value the ``chosen`` sites cover, each cell once, beyond existing work.

    Parameters
    ----------
    value
        Expected harm (or risk) per cell, finite and ≥ 0, ``(cells,)``.
    footprints
        ``(sites, cells)`` matrix as :func:`site_footprints` builds it.
    chosen
        Site positions (rows of ``footprints``); repeats count once.
    covered
        Boolean mask over the cells existing work covers (their value counts 0).

    Returns
    -------
    float
        The summed value of cells covered by at least one chosen site and not by
        existing work.

    Raises
    ------
    SettingsError
        Listing every problem, as :func:`suggest` does, and chosen sites out of range.

    Examples
    --------
    >>> fp = site_footprints(np.arange(5) * 100.0, np.zeros(5), radius_m=100)
    >>> coverage_value(np.array([0, 5, 1, 0, 4.0]), fp, [1, 2])
    6.0
    """
    fp, val, _, done = _check_plan_inputs(value, footprints, 1, None, covered)
    picks = np.asarray(chosen).ravel()
    if picks.size and not np.issubdtype(picks.dtype, np.integer):
        _raise_if(["chosen must be integer site positions"], "invalid plan")
    bad = np.flatnonzero((picks < 0) | (picks >= fp.shape[0]))
    if bad.size:
        msg = f"{bad.size} chosen sites are outside 0..{fp.shape[0] - 1} (positions {_few(bad)})"
        _raise_if([msg], "invalid plan")
    reached = np.zeros(fp.shape[1], dtype=bool)
    reached[fp[picks.astype(np.int64)].indices] = True
    return float(val[reached & ~done].sum())


def brute_force(
    value: Any,
    footprints: Any,
    *,
    n_teams: int,
    allowed: Any = None,
    covered: Any = None,
) -> tuple[float, tuple[int, ...]]:
    """The exact optimum of a small instance, by trying every set of ``n_teams`` sites.

    For checking :func:`suggest` (and for tiny real choices, such as 2 teams among 30
    sites). When fewer sites are allowed than there are teams, every allowed site is used.

    Parameters
    ----------
    value, footprints, n_teams, allowed, covered
        As in :func:`suggest`.

    Returns
    -------
    (best value, sites)
        The largest coverage value and the first set of sites (in lexicographic order)
        that reaches it.

    Raises
    ------
    SettingsError
        Listing every problem with the inputs, or when there are more than
        ``MAX_COMBINATIONS`` (200,000) sets to try.
    """
    fp, val, allow, done = _check_plan_inputs(value, footprints, n_teams, allowed, covered)
    pool = np.flatnonzero(allow)
    size = min(n_teams, pool.size)
    count = math.comb(pool.size, size)
    if count > MAX_COMBINATIONS:
        msg = (
            f"brute force would try C({pool.size}, {size}) = {count:,} sets of sites; "
            f"at most {MAX_COMBINATIONS:,} are allowed"
        )
        _raise_if([msg], "instance too large")
    if size == 0:
        return 0.0, ()
    combos = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(pool.tolist(), size)),
        dtype=np.int64,
        count=count * size,
    ).reshape(count, size)
    remaining = np.where(done, 0.0, val)
    totals = np.concatenate(
        [_union_values(fp, remaining, combos[i : i + _CHUNK]) for i in range(0, count, _CHUNK)]
    )
    best = int(np.argmax(totals))  # first of the largest: lexicographically first set
    return float(totals[best]), tuple(int(s) for s in combos[best])


def _union_values(fp: sparse.csr_matrix, remaining: np.ndarray, combos: np.ndarray) -> np.ndarray:
    """Value covered by each row of ``combos`` (a set of sites), each cell counted once."""
    rows = np.repeat(np.arange(combos.shape[0]), combos.shape[1])
    pick = sparse.csr_matrix(
        (np.ones(combos.size), (rows, combos.ravel())), shape=(combos.shape[0], fp.shape[0])
    )
    union = pick @ fp  # how many chosen sites cover each cell; > 0 means covered
    union.data[:] = 1.0
    return np.asarray(union @ remaining).ravel()


# --- validation ---------------------------------------------------------------------------


def _check_plan_inputs(
    value: Any, footprints: Any, n_teams: Any, allowed: Any, covered: Any
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Collect every problem with the inputs, raise once; return clean copies."""
    problems: list[str] = []
    fp = _as_footprints(footprints, problems)
    n_sites, n_cells = fp.shape if fp is not None else (None, None)
    try:
        val = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        problems.append("value must be numbers, one per cell")
        val = np.zeros(n_cells or 0)
    if val.ndim != 1:
        problems.append(f"value must be one number per cell; its shape is {val.shape}")
    elif n_cells is not None and val.size != n_cells:
        problems.append(f"value has {val.size} values but footprints cover {n_cells} cells")
    if not np.isfinite(val).all():
        problems.append(f"{int((~np.isfinite(val)).sum())} values are NaN or infinite")
    if (val < 0).any():
        problems.append(f"{int((val < 0).sum())} values are negative")
    if isinstance(n_teams, bool) or not isinstance(n_teams, (int, np.integer)) or n_teams < 1:
        problems.append(f"n_teams must be an integer ≥ 1; {n_teams!r} was given")
    allow = _mask(allowed, n_sites, "allowed", "sites", problems)
    done = _mask(covered, n_cells, "covered", "cells", problems)
    _raise_if(problems, "invalid plan")
    assert fp is not None  # _raise_if raised otherwise
    return fp, val, allow, done


def _as_footprints(footprints: Any, problems: list[str]) -> sparse.csr_matrix | None:
    """A 0/1 float CSR copy with sorted indices; any nonzero entry means "covers"."""
    if not sparse.issparse(footprints) and np.ndim(footprints) != 2:
        problems.append("footprints must be a 2-D (sites, cells) matrix")
        return None
    try:
        fp = sparse.csr_matrix(footprints, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        problems.append(f"footprints must be a 2-D (sites, cells) matrix ({exc})")
        return None
    if not np.isfinite(fp.data).all():
        problems.append("footprints hold NaN or infinite entries")
    fp.eliminate_zeros()
    fp.sum_duplicates()
    fp.data[:] = 1.0
    return fp


def _mask(mask: Any, size: int | None, name: str, what: str, problems: list[str]) -> np.ndarray:
    """A boolean mask over ``size`` items (default all False for covered, all True for allowed).

    Integer arrays are refused: ``[0, 3]`` could mean positions or a 0/1 mask.
    """
    n = size or 0
    if mask is None:
        return np.full(n, name == "allowed")
    arr = np.asarray(mask)
    if arr.dtype != bool:
        problems.append(f"{name} must be a boolean mask over the {what}; dtype {arr.dtype}")
    elif arr.ndim != 1:
        problems.append(f"{name} must be one-dimensional; its shape is {arr.shape}")
    elif size is not None and arr.size != size:
        problems.append(f"{name} has {arr.size} values but there are {size} {what}")
    return arr.ravel().astype(bool, copy=True) if arr.dtype == bool else np.zeros(n, bool)


def _few(positions: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(p)) for p in positions[:limit])
    return shown + (", ..." if positions.size > limit else "")


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        msg = f"{what}: " + "; ".join(problems)
        raise SettingsError(msg, problems)
