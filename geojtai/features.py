"""Risk features: Risk-Terrain-Modeling exposures of each cell to each place layer, and lags.

**Place exposures** (static, one value per cell; Caplan & Kennedy's operationalisations):

============================  ===========================================================
name                          value
============================  ===========================================================
``in_<layer>``                1 if a feature of a polygon layer overlaps the cell (by
                              overlap, not H3's centre rule), else 0
``within_<layer>_<d>``        1 if the cell centre lies within ``d`` m of a feature
                              (proximity), for each of the layer's ``influence_m``
``count_<layer>_<d>``         number of features within ``d`` m of the cell centre
``dense<k>_<layer>_<d>``      1 if at least ``k`` features lie within ``d`` m of the cell
                              centre, for ``k`` in :data:`DENSITY_COUNTS` (a cluster of
                              pubs, not just one; point and polygon layers)
``length_<layer>_<class>``    metres of a line layer's class inside the cell
``has_<layer>_<class>``       1 if at least :data:`LINE_MIN_M` m of that class is inside
============================  ===========================================================

**Lags** (dynamic, per cell and forecast origin, from months before the origin only):
``lag_1`` (last month's count), ``mean_3``, ``mean_12`` (rolling means), ``ring_mean_3``
(mean of the last 3 months over the cell's k-ring neighbours, the cell excluded) and
``months_since`` (months since the cell's last incident, capped at 24).

Every feature has a name in one registry (:func:`feature_names`); asking for an unknown
name raises with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geojtai.errors import SettingsError
from geojtai.layers import LayerSpec

__all__ = [
    "DENSITY_COUNTS",
    "LAG_FEATURES",
    "LINE_MIN_M",
    "feature_names",
    "lag_features",
    "layer_of",
    "place_features",
]

#: A line class counts as present in a cell from this many metres.
LINE_MIN_M = 100.0
#: Feature counts that make a cell "dense" in a layer (``dense3_licensed_premises_300``).
DENSITY_COUNTS = (2, 3, 5)
LAG_FEATURES = ("lag_1", "mean_3", "mean_12", "ring_mean_3", "months_since")
_MAX_SINCE = 24


def feature_names(specs: Sequence[LayerSpec]) -> list[str]:
    """Every place-exposure feature the specs define, in spec order.

    Examples
    --------
    >>> from geojtai.layers import load_layer_specs
    >>> names = feature_names(load_layer_specs())
    >>> "within_shopping_centres_200" in names and "in_parks" in names
    True
    """
    out: list[str] = []
    for spec in specs:
        distances = [f"{d:g}" for d in spec.influence_m]
        if spec.kind == "line":
            for k in [*spec.classes, "other"]:
                out += [f"length_{spec.name}_{k}", f"has_{spec.name}_{k}"]
            out += [f"within_{spec.name}_{d}" for d in distances]
            continue
        if spec.kind == "polygon":
            out.append(f"in_{spec.name}")
        out += [f"within_{spec.name}_{d}" for d in distances]
        out += [f"count_{spec.name}_{d}" for d in distances]
        out += [f"dense{k}_{spec.name}_{d}" for k in DENSITY_COUNTS for d in distances]
    return out


def layer_of(name: str, specs: Sequence[LayerSpec]) -> str:
    """The layer a feature name belongs to (longest matching layer name)."""
    body = name.split("_", 1)[1] if "_" in name else name
    matches = [s.name for s in specs if body == s.name or body.startswith(f"{s.name}_")]
    if not matches:
        msg = f"feature {name!r} names no place layer"
        raise SettingsError(msg)
    return max(matches, key=len)


def place_features(
    x: np.ndarray,
    y: np.ndarray,
    cell_places: pd.DataFrame,
    places: gpd.GeoDataFrame,
    specs: Sequence[LayerSpec],
    *,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Place-exposure features for cells centred at ``(x, y)`` (BNG metres).

    Parameters
    ----------
    x, y
        Cell centres in BNG metres.
    cell_places
        The cells' place columns (``frac_<layer>``, ``len_<layer>_<class>_m``), one row per
        cell in the same order as ``x``.
    places
        Prepared place features in BNG (:func:`geojtai.places.prepare_places`).
    specs
        The layer specs.
    names
        Features to compute (default: all of :func:`feature_names`).

    Returns
    -------
    pandas.DataFrame
        One column per feature (float), one row per cell.

    Raises
    ------
    SettingsError
        A name is not a feature of these specs (the message lists the valid ones).
    """
    valid = feature_names(specs)
    wanted = list(valid) if names is None else list(names)
    unknown = [n for n in wanted if n not in valid]
    if unknown:
        msg = f"unknown features {unknown}; valid ones are {valid}"
        raise SettingsError(msg)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    points = np.asarray(shapely.points(x, y), dtype=object)
    columns: dict[str, np.ndarray] = {}
    for spec in specs:
        mine = [n for n in wanted if layer_of(n, specs) == spec.name]
        if mine:
            layer = places[places["layer"] == spec.name]
            columns.update(_layer_features(spec, mine, points, cell_places, layer))
    return pd.DataFrame({n: columns[n] for n in wanted}, index=cell_places.index)


def _layer_features(
    spec: LayerSpec,
    names: list[str],
    points: np.ndarray,
    cell_places: pd.DataFrame,
    layer: gpd.GeoDataFrame,
) -> dict[str, np.ndarray]:
    n = points.size
    out: dict[str, np.ndarray] = {}
    counts = _counts_within(points, layer, spec.influence_m)
    for d, count in counts.items():
        key = f"{d:g}"
        out[f"within_{spec.name}_{key}"] = (count > 0).astype(float)
        out[f"count_{spec.name}_{key}"] = count.astype(float)
        for at_least in DENSITY_COUNTS:
            out[f"dense{at_least}_{spec.name}_{key}"] = (count >= at_least).astype(float)
    frac = cell_places.get(f"frac_{spec.name}")
    out[f"in_{spec.name}"] = (
        (frac.to_numpy(dtype=float) > 0).astype(float) if frac is not None else np.zeros(n)
    )
    for k in [*spec.classes, "other"]:
        length = cell_places.get(f"len_{spec.name}_{k}_m")
        metres = length.to_numpy(dtype=float) if length is not None else np.zeros(n)
        out[f"length_{spec.name}_{k}"] = metres
        out[f"has_{spec.name}_{k}"] = (metres >= LINE_MIN_M).astype(float)
    return {name: out[name] for name in names}


def _counts_within(
    points: np.ndarray, layer: gpd.GeoDataFrame, distances: Sequence[float]
) -> dict[float, np.ndarray]:
    """Features within each distance of each point: one tree query at the largest one."""
    n = points.size
    if layer.empty or n == 0:
        return {d: np.zeros(n, dtype=np.int64) for d in distances}
    geoms = np.asarray(layer.geometry.array, dtype=object)
    tree = shapely.STRtree(geoms)
    pt, feat = tree.query(points, predicate="dwithin", distance=max(distances))
    dist = shapely.distance(points[pt], geoms[feat])
    return {d: np.bincount(pt[dist <= d], minlength=n) for d in distances}


def lag_features(counts: np.ndarray, origin: int, neighbours: sparse.csr_matrix) -> pd.DataFrame:
    """Lag features at a forecast origin, from months before it only.

    Parameters
    ----------
    counts
        (cells × months) counts.
    origin
        Index of the first month being forecast; only ``counts[:, :origin]`` is read.
    neighbours
        k-ring matrix over the cells *without* self (:func:`geojtai.grid.neighbour_matrix`).

    Returns
    -------
    pandas.DataFrame
        :data:`LAG_FEATURES` columns, one row per cell.
    """
    past = np.asarray(counts[:, :origin], dtype=float)
    n, t = past.shape

    def mean_last(k: int) -> np.ndarray:
        return past[:, max(0, t - k) :].mean(axis=1) if t else np.zeros(n)

    last3 = mean_last(3)
    degree = np.asarray(neighbours.sum(axis=1)).ravel()
    ring = np.divide(neighbours @ last3, degree, out=np.zeros(n), where=degree > 0)
    seen = past > 0
    last_seen = np.where(seen.any(axis=1), t - 1 - np.argmax(seen[:, ::-1], axis=1), -1)
    since = np.where(last_seen >= 0, t - last_seen, _MAX_SINCE).clip(max=_MAX_SINCE)
    return pd.DataFrame(
        {
            "lag_1": past[:, -1] if t else np.zeros(n),
            "mean_3": last3,
            "mean_12": mean_last(12),
            "ring_mean_3": ring,
            "months_since": since.astype(float),
        }
    )
