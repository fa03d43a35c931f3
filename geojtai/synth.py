"""The synthetic sample town: places, incidents and interventions with a known ground truth.

:func:`generate_town` builds *Kingsmere*, a fictional town of about 6 km × 6 km in British
National Grid around easting 440000, northing 290000 (on the Leicestershire–Warwickshire
border). Incidents are drawn from a known intensity per H3 cell and month::

    λ(cell, month) = base × Π_k RRV_k ** x_k(cell) × area_fraction(cell) × seasonal(month)
                     × Π_interventions multiplier(cell, month)

where ``x_k`` are Risk-Terrain-Modeling-style place exposures (:data:`FACTORS`), so the
risk model, the hot-spot finder, the coverage/gap analysis and the impact estimators can all
be checked against a known answer. Everything is generated in EPSG:27700 and handed back
as file-ready frames (places, area and interventions in EPSG:4326; incident tables as the
strings that go into the CSV files). This module never touches disk:
:func:`geojtai.io.sample.write_sample` writes a town.

The generator is vectorised: Poisson counts per cell × month, then points by rejection
sampling inside per-cell anchor polygons, in rounds over arrays (no per-incident loop).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon

from geojtai import grid
from geojtai.crs import BNG, WGS84, bng_to_wgs84, transformer
from geojtai.errors import SettingsError

__all__ = [
    "AGE_BANDS",
    "CATEGORY_SHARES",
    "CENTRE_BNG",
    "FACTORS",
    "PLACE_LAYERS",
    "SEASONALITY",
    "TOWN_NAME",
    "Factor",
    "SampleTown",
    "generate_town",
]

TOWN_NAME = "Kingsmere"
CENTRE_BNG = (440_000.0, 290_000.0)
PLACE_LAYERS = (
    "streets",
    "parks",
    "shopping_centres",
    "schools",
    "transport_hubs",
    "licensed_premises",
)
GENERATOR_VERSION = 1

_PER_MONTH = 330.0  # expected valid police-recorded incidents per month in the whole town
_REPEAT_P = 0.10  # share of incidents that spawn a near-repeat at the same place
_REPEAT_MAX_DAYS = 7
_ED_SEES = 0.45  # share of police "violence with injury" that also attend the ED
_ED_ONLY = 0.45  # ED-only injury assaults per police "violence with injury" (unknown to police)
_BAD_SHARE = 0.03
_BAD_MIX = {
    "missing_location": 0.30,
    "bad_date": 0.25,
    "swapped_coordinates": 0.15,
    "outside_area": 0.15,
    "duplicate_id": 0.15,
}
# Each kind of bad row and the reject reason the validator must give (geojtai.schema's
# vocabulary), with the rule that identifies it.
_BAD_REASONS = {
    "missing_location": "no location",
    "swapped_coordinates": "coordinates look swapped",
    "outside_area": "far outside the study area",
    "duplicate_id": "duplicate id",
}  # "bad_date" gives "missing date" (empty) or "unparseable date"
_BAD_RULES = {
    "missing_location": "no coordinates (empty easting/northing or latitude/longitude)",
    "bad_date": "the date/time is empty ('missing date'), not a date or an impossible calendar "
    "date ('unparseable date')",
    "swapped_coordinates": "the point lies outside the study area, but swapping the two "
    "coordinates (easting<->northing, latitude<->longitude) puts it inside",
    "outside_area": "valid coordinates about 200 km from the study area",
    "duplicate_id": "an exact copy of an earlier row: the id was already used (the later copy "
    "is the bad row)",
}
_FAR_KM = 200.0
_GAP_TOP = 10  # gaps: uncovered places among this many highest-risk places


@dataclass(frozen=True)
class Factor:
    """One place exposure of a cell and its true relative risk value (RRV).

    Attributes
    ----------
    name
        The exposure's name (``x_k``).
    layer
        The place layer it is measured from (a key of :data:`PLACE_LAYERS`).
    kind
        ``within`` (cell centre within ``distance_m``), ``overlap`` (the layer's polygons
        cover more than ``threshold`` of the cell), ``count_within`` (at least ``threshold``
        features within ``distance_m`` of the centre) or ``length`` (at least ``threshold``
        metres of the selected lines inside the cell).
    distance_m, threshold
        The parameters of ``kind``.
    rrv
        True relative risk value: the intensity is multiplied by ``rrv`` where ``x_k = 1``.
    definition
        The definition in words (written to ``truth.json``).
    where
        Optional ``(column, value)`` filter on the layer.
    anchor_buffer_m
        Incidents driven by this factor are scattered within this distance of the place.
    """

    name: str
    layer: str
    kind: str
    distance_m: float
    threshold: float
    rrv: float
    definition: str
    where: tuple[str, str] | None = None
    anchor_buffer_m: float = 30.0


# fmt: off
FACTORS: tuple[Factor, ...] = (
    Factor("near_shopping_centre", "shopping_centres", "within", distance_m=200.0,
           threshold=0.0, rrv=3.0, anchor_buffer_m=30.0,
           definition="the cell centre is within 200 m of a shopping centre or retail park "
                      "polygon"),
    Factor("park", "parks", "overlap", distance_m=0.0, threshold=0.0, rrv=2.2,
           anchor_buffer_m=0.0,
           definition="a park polygon overlaps the cell (park fraction > 0, by overlap, not "
                      "H3's centre rule)"),
    Factor("near_transport_hub", "transport_hubs", "within", distance_m=200.0, threshold=0.0,
           rrv=1.8, anchor_buffer_m=60.0,
           definition="the cell centre is within 200 m of a station or bus interchange"),
    Factor("near_school", "schools", "within", distance_m=250.0, threshold=0.0, rrv=1.6,
           anchor_buffer_m=50.0,
           definition="the cell centre is within 250 m of a school polygon"),
    Factor("licensed_premises_density", "licensed_premises", "count_within", distance_m=300.0,
           threshold=3.0, rrv=1.3, anchor_buffer_m=40.0,
           definition="at least 3 licensed premises lie within 300 m of the cell centre"),
    Factor("primary_road", "streets", "length", distance_m=0.0, threshold=100.0, rrv=1.0,
           where=("highway", "primary"),
           definition="at least 100 m of primary road (highway=primary) inside the cell - a "
                      "DECOY: RRV 1.0, no effect"),
)
# fmt: on

# Calendar-month multipliers (January first): a summer peak, mean 1.
SEASONALITY: tuple[float, ...] = tuple(
    round(1.0 + 0.2 * float(np.cos(2 * np.pi * (m - 6) / 12)), 6) for m in range(12)
)
_DOW_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.05, 1.25, 1.35, 1.1])  # Monday first
# After-school profile on weekdays (peak 15:00-19:00), evenings and late nights at weekends.
# fmt: off
_HOUR_WEEKDAY = np.array([0.6, 0.4, 0.3, 0.2, 0.1, 0.1, 0.2, 0.4, 0.8, 0.7, 0.7, 0.8,
                          1.0, 1.0, 1.3, 3.0, 3.6, 3.4, 2.8, 2.0, 1.6, 1.3, 1.0, 0.8])
_HOUR_WEEKEND = np.array([2.2, 2.0, 1.5, 0.8, 0.4, 0.2, 0.2, 0.2, 0.3, 0.4, 0.6, 0.8,
                          1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.4, 2.8, 3.2, 3.4, 3.2, 2.8])
# fmt: on
CATEGORY_SHARES = MappingProxyType(
    {
        "violence with injury": 0.38,
        "violence without injury": 0.34,
        "robbery": 0.16,
        "possession of weapons": 0.12,
    }
)
_CATEGORIES = tuple(CATEGORY_SHARES)
_VWI = 0
_WEAPONS = ("none", "knife", "blunt instrument", "firearm")
_WEAPON_BY_CATEGORY = np.array(
    [
        [0.75, 0.15, 0.10, 0.00],
        [1.00, 0.00, 0.00, 0.00],
        [0.78, 0.20, 0.00, 0.02],
        [0.00, 0.72, 0.23, 0.05],
    ]
)
AGE_BANDS = ("10-17", "18-24", "25+")

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, eq=False)
class SampleTown:
    """A generated town: every frame as it is written to disk, and the ground truth.

    Attributes
    ----------
    seed, resolution
        The generator's arguments.
    months
        ``YYYY-MM`` labels of the simulated months.
    area
        The town boundary (one polygon, EPSG:4326).
    places
        One frame per place layer (:data:`PLACE_LAYERS`), EPSG:4326, ``id``, ``name`` and
        OSM-style tag columns.
    incidents_police
        Police incidents as the CSV's strings: ``id, occurred, easting, northing, category,
        age_band, weapon``; bad rows included.
    incidents_ed
        Emergency-department (Cardiff model) feed as the CSV's strings: ``ref, date,
        latitude, longitude, injury_type, age``; bad rows included.
    interventions
        Place-based interventions (EPSG:4326; points with ``radius_m``, polygons, routes).
    intensity
        One row per cell × month: ``h3``, ``month``, ``area_fraction``, ``relative_risk``,
        ``seasonal``, ``intervention_multiplier``, ``expected``,
        ``expected_no_intervention``, ``expected_ed_only``.
    cells
        One row per cell: ``h3``, ``area_fraction``, the exposures ``x_<factor>``, their
        measurements and ``relative_risk``.
    incident_truth
        One row per valid incident row: ``file``, ``id``, ``h3`` (true cell), ``month``,
        ``driver`` (what placed it), ``repeat_of`` and ``duplicate_of``.
    truth
        JSON-ready ground truth (written to ``truth/truth.json``).
    """

    seed: int
    resolution: int
    months: tuple[str, ...]
    area: gpd.GeoDataFrame
    places: Mapping[str, gpd.GeoDataFrame]
    incidents_police: pd.DataFrame
    incidents_ed: pd.DataFrame
    interventions: gpd.GeoDataFrame
    intensity: pd.DataFrame
    cells: pd.DataFrame
    incident_truth: pd.DataFrame
    truth: Mapping[str, Any]


# --------------------------------------------------------------------------------------
# Geometry helpers (local metres around the town centre; shifted to BNG at the end)
# --------------------------------------------------------------------------------------


def _polar(r: float, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([r * np.cos(a), r * np.sin(a)])


def _rotate(xy: np.ndarray, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return xy @ rot.T


def _ellipse(at: np.ndarray, a: float, b: float, deg: float, n: int = 40) -> Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return Polygon(_rotate(np.column_stack([a * np.cos(t), b * np.sin(t)]), deg) + at)


def _rect(at: np.ndarray, w: float, h: float, deg: float) -> Polygon:
    xy = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    return Polygon(_rotate(xy, deg) + at)


def _line(*points: np.ndarray) -> LineString:
    return LineString(np.vstack(points))


def _wiggly(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, amp: float) -> LineString:
    """A road from ``a`` to ``b`` with gentle sideways bends every ~300 m."""
    n = max(2, int(np.linalg.norm(b - a) // 300) + 1)
    t = np.linspace(0, 1, n)[:, None]
    pts = a + t * (b - a)
    normal = np.array([-(b - a)[1], (b - a)[0]]) / max(np.linalg.norm(b - a), 1e-9)
    side = rng.normal(0, amp, n)
    side[[0, -1]] = 0.0
    return LineString(pts + side[:, None] * normal)


def _arc(centre: np.ndarray, r: float, deg0: float, deg1: float, n: int = 12) -> LineString:
    a = np.deg2rad(np.linspace(deg0, deg1, n))
    return LineString(centre + np.column_stack([r * np.cos(a), r * np.sin(a)]))


def _transform(geoms: np.ndarray, src: str, dst: str) -> np.ndarray:
    tr = transformer(src, dst)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), fn)


# --------------------------------------------------------------------------------------
# Layout: area, places, estates
# --------------------------------------------------------------------------------------

_TREES = (
    "Oak", "Beech", "Ash", "Elm", "Willow", "Chestnut", "Holly", "Rowan", "Hawthorn",
    "Laurel", "Cedar", "Maple", "Birch", "Poplar", "Sycamore", "Juniper", "Hazel", "Alder",
    "Larch", "Linden", "Heather", "Primrose", "Bluebell", "Foxglove", "Meadow", "Orchard",
    "Lime", "Yew", "Pine", "Fern", "Ivy", "Lilac", "Clover", "Daisy", "Poppy", "Thistle",
    "Mulberry", "Damson", "Walnut", "Hornbeam",
)  # fmt: skip
_SUFFIXES = (
    "Close", "Drive", "Avenue", "Road", "Crescent", "Way", "Grove", "Lane", "Gardens", "Walk",
)  # fmt: skip
_ESTATE_HEADS = (
    "Beech", "Hill", "Meadow", "Green", "Fox", "Brook", "High", "West", "Moor", "East", "Wood",
    "Spring", "Oak", "Fair", "Park", "Ash", "Red", "Mill", "King", "Long", "North", "South",
    "Rose", "Holly", "Birch", "Elm", "Cherry", "Lark", "Thorn", "Stone",
)  # fmt: skip
_ESTATE_TAILS = ("field", "wood", "side", "bank", "acres", "hill", "gate", "lands", "dale", "mead")
_PUBS = (
    "The Red Lion", "The Crown", "The White Hart", "The Royal Oak", "The Plough",
    "The Wheatsheaf", "The Swan", "The King's Head", "The George", "The Bell",
    "The Market Tavern", "The Black Horse", "The Rose and Crown", "The Queen's Head",
    "The Fox and Hounds", "The Nag's Head", "The Feathers", "The Green Man",
    "The Moon Under Water", "The Railway Tavern", "The Three Tuns", "The Cross Keys",
    "The Coach and Horses", "The Lamb",
)  # fmt: skip
_NIGHT = (("Club Vibe", "nightclub"), ("Tokyo Nights", "nightclub"), ("Vault Bar", "bar"),
          ("The Gin Rooms", "bar"))  # fmt: skip
_HOURS = {
    "pub": "Mo-Th 11:00-23:00; Fr-Sa 11:00-01:00; Su 12:00-22:30",
    "bar": "Mo-Su 16:00-00:00",
    "nightclub": "Th-Sa 22:00-03:00",
}


@dataclass(frozen=True)
class _Estate:
    name: str
    centre: np.ndarray
    streets: tuple[LineString, ...]


@dataclass(frozen=True)
class _Layout:
    area: Polygon  # BNG
    layers: dict[str, gpd.GeoDataFrame]  # BNG
    estates: tuple[_Estate, ...]  # BNG


def _area_shape(rng: np.random.Generator) -> Polygon:
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    r = 3050.0 * (1 + 0.06 * np.sin(3 * theta + p1) + 0.04 * np.cos(5 * theta + p2))
    return Polygon(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))


def _clusters(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Key points: the town centre, the northern district centre, the station quarter."""
    return {
        "centre": rng.normal(0, 40, 2),
        "north": _polar(1800, 80) + rng.normal(0, 100, 2),
        "east": _polar(1900, -10) + rng.normal(0, 100, 2),
    }


def _shopping(k: dict[str, np.ndarray], rng: np.random.Generator) -> list[dict[str, Any]]:
    j = lambda: rng.uniform(-15, 15)  # noqa: E731
    return [
        {"name": "The Arndale", "shop": "mall", "landuse": None,
         "geometry": _rect(k["centre"] + (80, -70), 200, 120, j())},
        {"name": "Northgate Shopping Centre", "shop": "mall", "landuse": None,
         "geometry": _rect(k["north"], 140, 100, j())},
        {"name": "Riverside Retail Park", "shop": None, "landuse": "retail",
         "geometry": _rect(k["east"] + (220, -260), 260, 170, j())},
    ]  # fmt: skip


def _parks(k: dict[str, np.ndarray], rng: np.random.Generator) -> list[dict[str, Any]]:
    j = lambda: rng.normal(0, 30, 2)  # noqa: E731
    d = lambda: rng.uniform(0, 180)  # noqa: E731
    rows = [
        ("Victoria Park", "park", _ellipse(k["centre"] + (-430, 260) + j(), 240, 160, d())),
        ("Memorial Park", "park", _ellipse(k["north"] + (-280, 120) + j(), 180, 120, d())),
        ("Abbey Fields", "recreation_ground", _ellipse(_polar(2250, 205) + j(), 300, 190, d())),
        ("Jubilee Park", "park", _ellipse(_polar(1750, 275) + j(), 220, 150, d())),
        ("Riverside Park", "park", _rect(_polar(1500, 235) + j(), 600, 110, 35 + d() / 6)),
        # Pocket parks, each smaller than one H3 res-10 cell (~15,000 m²).
        ("Castle Gardens", "garden", _ellipse(k["centre"] + (180, 170), 45, 35, d())),
        ("Chapel Green", "park", _ellipse(k["north"] + (200, 250), 40, 30, d())),
        ("Coronation Play Area", "playground", _rect(_polar(1250, 35), 45, 35, d())),
        ("St John's Gardens", "garden", _rect(_polar(1150, 250), 55, 40, d())),
    ]
    return [{"name": n, "leisure": t, "geometry": g} for n, t, g in rows]


def _schools(k: dict[str, np.ndarray], rng: np.random.Generator) -> list[dict[str, Any]]:
    d = lambda: rng.uniform(-20, 20)  # noqa: E731
    rows = [
        ("Northgate Academy", "2;3", _rect(k["north"] + (260, -210), 160, 110, d())),
        ("Kingsmere College", "3", _rect(k["east"] + (-380, 260), 180, 120, d())),
        ("Victoria Primary School", "1", _rect(k["centre"] + (-150, 650), 90, 70, d())),
        ("St Mary's Catholic Primary School", "1", _rect(_polar(1450, 178), 90, 70, d())),
        ("Oakfield Academy", "2", _rect(_polar(1800, 308), 170, 120, d())),
        ("Ashby Road Primary School", "1", _rect(_polar(1750, 158), 90, 70, d())),
        ("Hillside Primary School", "1", _rect(_polar(1500, 100), 90, 70, d())),
        ("Brookfield Junior School", "1", _rect(_polar(2200, 10), 80, 60, d())),
        ("Holy Trinity CofE Primary School", "1", _rect(_polar(1000, 230), 90, 70, d())),
    ]
    return [{"name": n, "amenity": "school", "isced:level": i, "geometry": g} for n, i, g in rows]


def _transport(k: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    return [
        {"name": "Kingsmere Bus Station", "public_transport": "station", "amenity": "bus_station",
         "railway": None, "bus": "yes", "geometry": Point(k["centre"] + (-90, 110))},
        {"name": "Kingsmere railway station", "public_transport": "station", "amenity": None,
         "railway": "station", "bus": None, "geometry": Point(k["east"] + (-120, 140))},
        {"name": "Northgate bus interchange", "public_transport": "station", "amenity": None,
         "railway": None, "bus": "yes", "geometry": Point(k["north"] + (120, 60))},
        {"name": "Hospital bus interchange", "public_transport": "station", "amenity": None,
         "railway": None, "bus": "yes", "geometry": Point(_polar(2100, 225))},
        {"name": "Leisure Centre bus interchange", "public_transport": "station", "amenity": None,
         "railway": None, "bus": "yes", "geometry": Point(_polar(1300, 300))},
        {"name": "Eastfield bus interchange", "public_transport": "station", "amenity": None,
         "railway": None, "bus": "yes", "geometry": Point(_polar(2250, 290))},
        {"name": "Highfields bus interchange", "public_transport": "station", "amenity": None,
         "railway": None, "bus": "yes", "geometry": Point(_polar(2150, 112))},
    ]  # fmt: skip


def _licensed(k: dict[str, np.ndarray], rng: np.random.Generator) -> list[dict[str, Any]]:
    pubs = list(rng.permutation(_PUBS))
    night = [*_NIGHT]
    out: list[dict[str, Any]] = []
    where = [("centre", 12, 150.0), ("north", 4, 110.0), ("east", 2, 80.0)]
    for key, n, sd in where:
        for i in range(n):
            name, kind = (
                night.pop(0) if key == "centre" and i < len(_NIGHT) else (pubs.pop(), "pub")
            )
            xy = k[key] + rng.normal(0, sd, 2)
            out.append({"name": str(name), "amenity": kind, "opening_hours": _HOURS[kind],
                        "geometry": Point(xy)})  # fmt: skip
    for i in range(8):  # neighbourhood pubs, one per 45° sector
        xy = _polar(rng.uniform(900, 2500), 45 * i + rng.uniform(0, 45))
        out.append({"name": str(pubs.pop()), "amenity": "pub", "opening_hours": _HOURS["pub"],
                    "geometry": Point(xy)})  # fmt: skip
    return out


def _estates(rng: np.random.Generator, area: Polygon, avoid: list[Any]) -> list[_Estate]:
    """Housing estates on a jittered hexagonal lattice, clear of the town centre and places."""
    gap = 640.0
    rows = np.arange(-3200, 3201, gap * np.sqrt(3) / 2)
    lattice = [
        (x + (i % 2) * gap / 2, y) for i, y in enumerate(rows) for x in np.arange(-3200, 3201, gap)
    ]
    centres = np.array(lattice) + rng.normal(0, 70, (len(lattice), 2))
    blocked = shapely.union_all([*avoid, Point(0, 0).buffer(800)]).buffer(220)
    ok = shapely.contains_xy(area.buffer(-250), centres[:, 0], centres[:, 1])
    ok &= ~shapely.contains_xy(blocked, centres[:, 0], centres[:, 1])
    names = [h + t for h in _ESTATE_HEADS for t in _ESTATE_TAILS if not h.lower().endswith(t[0])]
    names = [names[i] for i in rng.permutation(len(names))]
    out = []
    for centre in centres[ok]:
        heading, n = rng.uniform(0, 180), int(rng.integers(3, 6))
        length, step = rng.uniform(260, 400), rng.uniform(80, 100)
        streets = []
        for i in range(n):
            off = (i - (n - 1) / 2) * step
            xy = np.array([[-length / 2, off], [length / 2, off]])
            streets.append(LineString(_rotate(xy, heading) + centre))
        spine = np.array([[0.0, -(n - 1) * step / 2 - 40], [0.0, (n - 1) * step / 2 + 40]])
        streets.append(LineString(_rotate(spine, heading) + centre))
        out.append(_Estate(names.pop(), centre, tuple(streets)))
    return out


def _streets(
    k: dict[str, np.ndarray], parks: list[dict[str, Any]], estates: list[_Estate],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:  # fmt: skip
    c = k["centre"]
    east, north = (float(np.degrees(np.arctan2(v[1], v[0]))) for v in (k["east"], k["north"]))
    radials = [("Leicester Road", east), ("Northgate", north), ("Ashby Road", 150.0),
               ("Coventry Road", 215.0), ("London Road", 285.0)]  # fmt: skip
    rows: list[tuple[str, str, LineString]] = []
    for name, deg in radials:
        deg += rng.normal(0, 3) if name not in ("Leicester Road", "Northgate") else 0.0
        rows.append((name, "primary", _wiggly(rng, c + _polar(120, deg), _polar(3300, deg), 25)))
    ring = ["Queensway", "Kingsway", "Regent Way", "Princess Way"]
    rows += [(n, "secondary", _arc(c, 650, 90 * i + 5, 90 * i + 95)) for i, n in enumerate(ring)]
    rows.append(
        ("Station Road", "secondary", _wiggly(rng, _polar(1300, east), k["east"] + (-120, 140), 20))
    )
    links = [("Mill Lane", 150, 215), ("Church Lane", 215, 285), ("Park Lane", 285, 350)]
    rows += [(n, "secondary", _arc(np.zeros(2), 1750, a, b)) for n, a, b in links]
    centre_streets = [
        ("High Street", "secondary", (-450, -30), (450, 40)),
        ("Market Street", "footway", (30, -300), (10, 280)),
        ("Church Street", "residential", (-300, 200), (200, 230)),
        ("Bridge Street", "residential", (-250, -220), (300, -200)),
        ("King Street", "residential", (-300, -250), (-280, 250)),
        ("Queen Street", "residential", (280, -280), (300, 250)),
    ]
    rows += [(n, h, _line(c + a, c + b)) for n, h, a, b in centre_streets]
    pool = [f"{t} {s}" for t in _TREES for s in _SUFFIXES]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    for estate in estates:
        rows += [(pool.pop(), "residential", line) for line in estate.streets]
    for park in parks[:4]:
        g = park["geometry"]
        ends = shapely.get_coordinates(shapely.oriented_envelope(g))
        mid = [(ends[0] + ends[1]) / 2, (ends[2] + ends[3]) / 2]
        path = _line(*mid).intersection(g)
        rows.append((f"{park['name']} Walk", "footway", path))
    towpath = _wiggly(rng, _polar(3300, 235) + (0, -400), _polar(3300, 40) + (0, -400), 60)
    rows.append(("Canal Towpath", "footway", towpath))
    return [{"name": n, "highway": h, "geometry": g} for n, h, g in rows]


def _frame(rows: list[dict[str, Any]], prefix: str, area: Polygon) -> gpd.GeoDataFrame:
    """Rows in local metres → a BNG frame clipped to the area, multi-parts exploded, ids set."""
    geoms = np.array([r["geometry"] for r in rows], dtype=object)
    geoms = shapely.transform(geoms, lambda xy: xy + np.array(CENTRE_BNG))
    geoms = shapely.intersection(geoms, area)
    attrs = pd.DataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows])
    gdf = gpd.GeoDataFrame(attrs, geometry=geoms, crs=BNG).explode(ignore_index=True)
    kind = shapely.get_type_id(gdf.geometry.values)
    big = np.where(kind == 1, shapely.length(gdf.geometry.values) >= 20, True)
    big &= np.where(kind == 3, shapely.area(gdf.geometry.values) >= 50, True)
    gdf = gdf[~gdf.geometry.is_empty & np.isin(kind, (0, 1, 3)) & big].reset_index(drop=True)
    gdf.insert(0, "id", [f"{prefix}-{i + 1:03d}" for i in range(len(gdf))])
    return gdf


def _layout(rng: np.random.Generator) -> _Layout:
    area_local = _area_shape(rng)
    k = _clusters(rng)
    rows = {
        "parks": _parks(k, rng),
        "shopping_centres": _shopping(k, rng),
        "schools": _schools(k, rng),
        "transport_hubs": _transport(k),
        "licensed_premises": _licensed(k, rng),
    }
    big = [r["geometry"] for name in ("parks", "shopping_centres", "schools", "transport_hubs")
           for r in rows[name] if r["geometry"].area == 0 or r["geometry"].area > 20_000]  # fmt: skip
    estates = _estates(rng, area_local, [*big, *(Point(v) for v in k.values())])
    rows["streets"] = _streets(k, rows["parks"], estates, rng)
    centre = np.array(CENTRE_BNG)
    area = shapely.transform(area_local, lambda xy: xy + centre)
    prefixes = {"streets": "street", "parks": "park", "shopping_centres": "shop",
                "schools": "school", "transport_hubs": "hub", "licensed_premises": "licensed"}  # fmt: skip
    layers = {name: _frame(rows[name], prefixes[name], area) for name in PLACE_LAYERS}
    estates_bng = tuple(
        _Estate(e.name, e.centre + centre,
                tuple(shapely.transform(np.array(e.streets, dtype=object), lambda xy: xy + centre)))
        for e in estates
    )  # fmt: skip
    return _Layout(area, layers, estates_bng)


# --------------------------------------------------------------------------------------
# Cells and exposures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    ids: np.ndarray  # uint64, sorted
    hex: np.ndarray
    area_fraction: np.ndarray
    poly: np.ndarray  # BNG cell polygons
    inside: np.ndarray  # BNG: cell ∩ area, shrunk by 3 m
    centre: np.ndarray  # BNG points


def _cells(area: Polygon, resolution: int) -> _Cells:
    cov = grid.polygons_to_cells(_transform(np.array([area]), BNG, WGS84), resolution=resolution)
    cov = cov[cov["fraction"] >= 0.01].sort_values("cell")
    ids = cov["cell"].to_numpy(dtype=np.uint64)
    poly = _transform(grid.cell_polygons(ids), WGS84, BNG)
    clipped = shapely.intersection(poly, area)
    shrunk = shapely.buffer(clipped, -3.0)
    inside = np.where(shapely.area(shrunk) > 100.0, shrunk, clipped)
    lat, lon = grid.cell_centres(ids)
    e, n = transformer(WGS84, BNG).transform(lon, lat)
    return _Cells(
        ids, grid.cells_to_hex(ids), cov["fraction"].to_numpy(dtype=float), poly, inside,
        np.asarray(shapely.points(np.asarray(e), np.asarray(n))),
    )  # fmt: skip


def _layer_geoms(layers: Mapping[str, gpd.GeoDataFrame], f: Factor) -> np.ndarray:
    gdf = layers[f.layer]
    if f.where is not None:
        gdf = gdf[gdf[f.where[0]] == f.where[1]]
    return np.asarray(gdf.geometry.values, dtype=object)


def _exposures(cells: _Cells, layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """``x_<factor>`` (0/1) and the measurement behind each, one row per cell."""
    out: dict[str, np.ndarray] = {}
    for f in FACTORS:
        geoms = _layer_geoms(layers, f)
        union = shapely.union_all(geoms)
        if f.kind == "within":
            measure = shapely.distance(cells.centre, union)
            out[f"distance_{f.layer}_m"], x = measure, measure <= f.distance_m
        elif f.kind == "overlap":
            measure = shapely.area(shapely.intersection(cells.poly, union)) / shapely.area(
                cells.poly
            )
            out[f"{f.layer}_fraction"], x = measure, measure > f.threshold
        elif f.kind == "count_within":
            d = shapely.distance(cells.centre[:, None], geoms[None, :])
            measure = (d <= f.distance_m).sum(axis=1)
            out[f"{f.layer}_within_{int(f.distance_m)}m"], x = measure, measure >= f.threshold
        else:
            measure = shapely.length(shapely.intersection(cells.poly, union))
            out[f"{f.where[1] if f.where else f.layer}_road_m"], x = measure, measure >= f.threshold
        out[f"x_{f.name}"] = x.astype(np.int8)
    return pd.DataFrame(out)


def _relative_risk(x: pd.DataFrame) -> np.ndarray:
    rr = np.ones(len(x))
    for f in FACTORS:
        rr *= f.rrv ** x[f"x_{f.name}"].to_numpy(dtype=float)
    return rr


# --------------------------------------------------------------------------------------
# Interventions
# --------------------------------------------------------------------------------------

_DAILY = "Mon;Tue;Wed;Thu;Fri;Sat;Sun"
_WEEKDAYS = "Mon;Tue;Wed;Thu;Fri"


@dataclass(frozen=True)
class _Plan:
    id: str
    name: str
    type: str
    lead_agency: str
    partner_agencies: str
    days: str
    hours: str
    place_types: str
    geometry: Any  # BNG
    radius_m: float | None
    cost: float
    start: float  # share of the period
    end: float | None
    effect: float
    ring: float
    placement: str
    target: str


def _by_name(layers: Mapping[str, gpd.GeoDataFrame], layer: str, name: str) -> Any:
    gdf = layers[layer]
    return shapely.union_all(gdf.geometry.values[(gdf["name"] == name).to_numpy()])


def _risk_near(geom: Any, cells: _Cells, rr: np.ndarray, distance_m: float = 300.0) -> float:
    """Mean relative risk of the cells whose centre is within ``distance_m`` of ``geom``."""
    near = shapely.distance(cells.centre, geom) <= distance_m
    return float(rr[near].mean()) if near.any() else 1.0


def _low_risk(estates: tuple[_Estate, ...], cells: _Cells, rr: np.ndarray) -> list[_Estate]:
    """Estates ordered from the lowest to the highest mean relative risk around them."""
    score = [_risk_near(Point(e.centre), cells, rr) for e in estates]
    return [estates[i] for i in np.argsort(score, kind="stable")]


def _plans(lay: _Layout, cells: _Cells, rr: np.ndarray, rng: np.random.Generator) -> list[_Plan]:
    L = lay.layers
    arndale = _by_name(L, "shopping_centres", "The Arndale")
    bus = _by_name(L, "transport_hubs", "Kingsmere Bus Station")
    station = _by_name(L, "transport_hubs", "Kingsmere railway station")
    retail = _by_name(L, "shopping_centres", "Riverside Retail Park")
    college = _by_name(L, "schools", "Kingsmere College")
    route = LineString([arndale.centroid, bus, Point(np.array(bus.coords[0]) + (-120, -160)),
                        Point(np.array(arndale.centroid.coords[0]) + (0, -170)), arndale.centroid])  # fmt: skip
    quiet = _low_risk(lay.estates, cells, rr)
    calm_school = min(
        ("St Mary's Catholic Primary School", "Ashby Road Primary School"),
        key=lambda n: _risk_near(_by_name(L, "schools", n), cells, rr),
    )
    longest = lambda e: max(e.streets, key=lambda s: s.length)  # noqa: E731
    c = lambda base: float(round(base * rng.uniform(0.8, 1.2) / 500) * 500)  # noqa: E731
    P = _Plan
    return [
        P("INT-01", "Victoria Park detached youth work", "detached youth work", "voluntary sector",
          "council;youth justice", "Fri;Sat", "17:00-22:00", "park",
          _by_name(L, "parks", "Victoria Park"), None, c(45_000), 12 / 36, None, 0.65, 1.10,
          "high-risk place", "Victoria Park"),
        P("INT-02", "Town centre evening patrol route", "police patrol", "police", "council",
          "Thu;Fri;Sat", "15:00-23:00", "shopping_centre;street;transport_hub", route, None,
          c(60_000), 9 / 36, 26 / 36, 0.70, 1.15, "high-risk place",
          "The Arndale;Kingsmere Bus Station"),
        P("INT-03", "Bus station CCTV", "CCTV", "council", "police", _DAILY, "00:00-24:00",
          "transport_hub", bus, 150.0, c(25_000), 15 / 36, None, 0.90, 1.00, "high-risk place",
          "Kingsmere Bus Station"),
        P("INT-04", "Arndale safe haven", "safe haven", "council",
          "police;voluntary sector;education", "Mon;Tue;Wed;Thu;Fri;Sat", "09:00-20:00",
          "shopping_centre", arndale.centroid, 200.0, c(8_000), 18 / 36, None, 0.85, 0.95,
          "high-risk place", "The Arndale"),
        P("INT-05", "Retail park and station hot-spot patrols", "police patrol", "police",
          "youth justice;council", "Fri;Sat", "18:00-23:00", "shopping_centre;transport_hub",
          shapely.convex_hull(shapely.union_all([retail, station])).buffer(80), None,
          c(60_000), 13 / 36, 23 / 36, 0.60, 1.20, "high-risk place",
          "Riverside Retail Park;Kingsmere railway station"),
        P("INT-06", "Station Road lighting upgrade", "street lighting", "council", "police",
          _DAILY, "dusk-dawn", "street;transport_hub",
          _by_name(L, "streets", "Station Road"), None, c(80_000), 20 / 36, None, 0.80, 1.00,
          "high-risk place", "Station Road"),
        P("INT-07", "Kingsmere College mentoring hub", "mentoring hub", "education",
          "children's social care;youth justice;health", _WEEKDAYS, "15:00-19:00", "school",
          college.centroid, 250.0, c(120_000), 8 / 36, None, 0.85, 1.00, "high-risk place",
          "Kingsmere College"),
        P("INT-08", "Abbey Fields youth outreach", "detached youth work", "youth justice",
          "voluntary sector", "Fri;Sat", "18:00-22:00", "park",
          _by_name(L, "parks", "Abbey Fields"), None, c(40_000), 12 / 36, 29 / 36, 1.00, 1.00,
          "low-risk area", "Abbey Fields"),
        P("INT-09", f"{quiet[0].name} estate CCTV", "CCTV", "council", "police", _DAILY,
          "00:00-24:00", "street", Point(quiet[0].centre), 150.0, c(25_000), 6 / 36, None,
          1.00, 1.00, "low-risk area", f"{quiet[0].name} estate"),
        P("INT-10", f"{quiet[1].name} estate lighting", "street lighting", "council", "",
          _DAILY, "dusk-dawn", "street", longest(quiet[1]), None, c(50_000), 18 / 36, None,
          0.90, 1.00, "low-risk area", f"{quiet[1].name} estate"),
        P("INT-11", f"{quiet[2].name} estate detached youth work", "detached youth work",
          "children's social care", "voluntary sector;police", "Tue;Thu;Fri", "16:00-21:00",
          "street;park", shapely.convex_hull(shapely.union_all(quiet[2].streets)).buffer(30),
          None, c(45_000), 10 / 36, 27 / 36, 0.90, 1.00, "low-risk area",
          f"{quiet[2].name} estate"),
        P("INT-12", f"{calm_school} mentoring hub", "mentoring hub", "health", "education",
          _WEEKDAYS, "15:30-18:30", "school", _by_name(L, "schools", calm_school).centroid,
          250.0, c(90_000), 20 / 36, None, 1.00, 1.00, "low-risk area", calm_school),
    ]  # fmt: skip


def _footprint(plan: _Plan, cells: _Cells) -> np.ndarray:
    """Indices of the cells an intervention treats (its footprint)."""
    g = plan.geometry
    if plan.radius_m is not None:
        g = g.buffer(plan.radius_m)
    if shapely.get_type_id(g) in (1, 5):  # a route: (Multi)LineString
        inside = shapely.length(shapely.intersection(cells.poly, g)) >= 100.0
        anchor = shapely.line_interpolate_point(g, 0.5, normalized=True)
    else:
        frac = shapely.area(shapely.intersection(cells.poly, g)) / shapely.area(cells.poly)
        inside = frac >= 0.25
        anchor = plan.geometry if plan.radius_m is not None else g.representative_point()
    inside |= shapely.contains(cells.poly, anchor)
    return np.flatnonzero(inside)


def _ring(fp: np.ndarray, cells: _Cells) -> np.ndarray:
    _, disk = grid.grid_disk(cells.ids[fp], 1)
    pos = np.flatnonzero(np.isin(cells.ids, disk))
    return np.setdiff1d(pos, fp)


def _month_span(plan: _Plan, months: int) -> tuple[int, int | None]:
    start = min(months - 1, int(round(plan.start * months)))
    end = None if plan.end is None else max(start, min(months - 1, int(round(plan.end * months))))
    return start, end


def _multiplier(
    plans: list[_Plan], fps: list[np.ndarray], rings: list[np.ndarray], n: int, months: int
) -> np.ndarray:
    mult = np.ones((n, months))
    for plan, fp, ring in zip(plans, fps, rings, strict=True):
        a, b = _month_span(plan, months)
        stop = months if b is None else b + 1
        mult[fp, a:stop] *= plan.effect
        mult[ring, a:stop] *= plan.ring
    return mult


# --------------------------------------------------------------------------------------
# Incidents: counts, points, times, attributes
# --------------------------------------------------------------------------------------


def _anchors(cells: _Cells, layers: Mapping[str, gpd.GeoDataFrame], x: pd.DataFrame) -> np.ndarray:
    """Per cell: where incidents land - [anywhere, near a street, near each factor's place]."""
    n = len(cells.ids)
    out = np.empty((n, 2 + len(FACTORS)), dtype=object)
    out[:, 0] = cells.inside
    streets = shapely.union_all(layers["streets"].geometry.values)
    # Clip first, then buffer the short pieces: 20× faster than buffering the whole network.
    pieces = shapely.buffer(shapely.intersection(cells.inside, streets), 12, quad_segs=4)
    near_street = shapely.intersection(cells.inside, pieces)
    big_enough = shapely.area(near_street) > 200
    out[:, 1] = None
    out[big_enough, 1] = near_street[big_enough]
    for j, f in enumerate(FACTORS):
        out[:, 2 + j] = None
        exposed = np.flatnonzero(x[f"x_{f.name}"].to_numpy() > 0)
        if f.rrv == 1.0 or exposed.size == 0:
            continue
        union = shapely.union_all(_layer_geoms(layers, f))
        place = union.buffer(f.anchor_buffer_m) if f.anchor_buffer_m else union
        got = shapely.intersection(cells.inside[exposed], place)
        # A place near (not in) the cell pulls incidents to the cell's side facing it.
        near = shapely.get_point(shapely.shortest_line(cells.inside[exposed], union), 0)
        fallback = shapely.intersection(cells.inside[exposed], shapely.buffer(near, 60))
        out[exposed, 2 + j] = np.where(shapely.area(got) > 25, got, fallback)
    return out


def _component_probs(rr: np.ndarray, x: pd.DataFrame, anchors: np.ndarray) -> np.ndarray:
    """P(component | cell): background 1/RR, the excess split by each factor's log-RRV."""
    w = np.column_stack([x[f"x_{f.name}"].to_numpy() * np.log(f.rrv) for f in FACTORS])
    w[shapely.is_missing(anchors[:, 2:])] = 0.0
    total = w.sum(axis=1, keepdims=True)
    excess = np.where(total[:, 0] > 0, 1 - 1 / rr, 0.0)
    has_street = ~shapely.is_missing(anchors[:, 1])
    bg = 1 - excess
    p = np.column_stack([np.where(has_street, bg / 2, bg), np.where(has_street, bg / 2, 0.0)])
    return np.column_stack([p, excess[:, None] * w / np.where(total > 0, total, 1.0)])


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)


def _sample_in(rng: np.random.Generator, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A uniform point in each polygon, by rejection in rounds over the array."""
    n = geoms.size
    x, y = np.zeros(n), np.zeros(n)
    todo = np.arange(n)
    b = shapely.bounds(geoms)
    shapely.prepare(geoms)
    for _ in range(80):
        if todo.size == 0:
            break
        px = rng.uniform(b[todo, 0], b[todo, 2])
        py = rng.uniform(b[todo, 1], b[todo, 3])
        ok = shapely.contains_xy(geoms[todo], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    if todo.size:
        pts = shapely.point_on_surface(geoms[todo])
        x[todo], y[todo] = shapely.get_x(pts), shapely.get_y(pts)
    return x, y


def _place_points(
    rng: np.random.Generator, cell: np.ndarray, comp: np.ndarray, anchors: np.ndarray,
    cells: _Cells, resolution: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Points (whole BNG metres) in their anchors, re-drawn until each indexes to its cell."""
    x, y = _sample_in(rng, anchors[cell, comp])
    x, y = np.round(x), np.round(y)
    for attempt in range(6):
        lat, lon = bng_to_wgs84(x, y)
        wrong = np.flatnonzero(
            grid.cells_from_points(lat, lon, resolution=resolution) != cells.ids[cell]
        )
        if wrong.size == 0:
            break
        if attempt == 5:  # give up sampling: the cell centre is inside by definition
            x[wrong], y[wrong] = (
                np.round(shapely.get_x(cells.centre[cell[wrong]])),
                np.round(shapely.get_y(cells.centre[cell[wrong]])),
            )
            break
        safe = shapely.buffer(cells.inside[cell[wrong]], -5.0 * (attempt + 1))
        safe = np.where(shapely.is_empty(safe), cells.inside[cell[wrong]], safe)
        wx, wy = _sample_in(rng, safe)
        x[wrong], y[wrong] = np.round(wx), np.round(wy)
    return x, y


@dataclass(frozen=True)
class _Calendar:
    start: np.ndarray  # datetime64[D] of each month's first day
    ndays: np.ndarray
    labels: tuple[str, ...]
    moy: np.ndarray  # calendar month 0..11


def _calendar(start: str, months: int) -> _Calendar:
    year, month = (int(v) for v in start.split("-"))
    idx = year * 12 + month - 1 + np.arange(months)
    ys, ms = np.divmod(idx, 12)
    first = np.array(
        [f"{y:04d}-{m + 1:02d}-01" for y, m in zip(ys, ms, strict=True)], "datetime64[D]"
    )
    ndays = np.array(
        [calendar.monthrange(int(y), int(m) + 1)[1] for y, m in zip(ys, ms, strict=True)]
    )
    labels = tuple(f"{y:04d}-{m + 1:02d}" for y, m in zip(ys, ms, strict=True))
    return _Calendar(first, ndays, labels, ms.astype(int))


def _draw_days(rng: np.random.Generator, t: np.ndarray, cal: _Calendar) -> np.ndarray:
    """Day of month (0-based), weighted by day of week."""
    dow = (cal.start[:, None] + np.arange(31)[None, :]).astype("datetime64[D]").astype(np.int64)
    w = _DOW_WEIGHTS[(dow + 3) % 7] * (np.arange(31)[None, :] < cal.ndays[:, None])
    return _choice(rng, w[t] / w[t].sum(axis=1, keepdims=True))


def _draw_minutes(rng: np.random.Generator, when: np.ndarray) -> np.ndarray:
    """Minute of the day from the after-school (weekday) or evening (weekend) profile."""
    weekend = ((when.astype(np.int64) + 3) % 7) >= 5
    profiles = np.where(weekend[:, None], _HOUR_WEEKEND, _HOUR_WEEKDAY)
    hour = _choice(rng, profiles / profiles.sum(axis=1, keepdims=True))
    return hour * 60 + rng.integers(0, 60, when.size)


def _age_bands(rng: np.random.Generator, stamp: np.ndarray) -> np.ndarray:
    """Age band index; under-18s dominate weekday after-school hours."""
    day = stamp.astype("datetime64[D]")
    hour = ((stamp - day).astype(np.int64) // 60).astype(int)
    weekend = ((day.astype(np.int64) + 3) % 7) >= 5
    after_school = ~weekend & (hour >= 15) & (hour < 19)
    school = ~weekend & (hour >= 9) & (hour < 15)
    late = weekend & ((hour >= 21) | (hour < 4))
    young = np.select([after_school, school, late], [0.50, 0.15, 0.15], 0.25)
    adult = np.where(late, 0.45, 0.35)
    return _choice(rng, np.column_stack([young, adult, 1 - young - adult]))


def _attributes(
    rng: np.random.Generator, n: int, *, injury_only: bool
) -> tuple[np.ndarray, np.ndarray]:
    shares = np.array(list(CATEGORY_SHARES.values()))
    cat = np.zeros(n, int) if injury_only else _choice(rng, np.tile(shares, (n, 1)))
    weapon = _choice(rng, _WEAPON_BY_CATEGORY[cat])
    return cat, weapon


def _events(
    rng: np.random.Generator, lam: np.ndarray, ctx: _Context, *, repeats: bool, injury_only: bool
) -> pd.DataFrame:
    """Draw incidents from ``lam`` (cells × months): cell, month, place, time and attributes."""
    r = _REPEAT_P if repeats else 0.0
    counts = rng.poisson(lam / (1 + r)).ravel()
    flat = np.repeat(np.arange(counts.size), counts)
    cell, t = np.divmod(flat, lam.shape[1])
    comp = _choice(rng, ctx.probs[cell])
    x, y = _place_points(rng, cell, comp, ctx.anchors, ctx.cells, ctx.resolution)
    day = _draw_days(rng, t, ctx.cal)
    cat, weapon = _attributes(rng, cell.size, injury_only=injury_only)
    ev = pd.DataFrame({"cell": cell, "t": t, "comp": comp, "x": x, "y": y, "day": day,
                       "cat": cat, "weapon": weapon, "repeat_of": -1})  # fmt: skip
    if r:
        ev = _add_repeats(rng, ev, ctx.cal)
    when = ctx.cal.start[ev["t"].to_numpy()] + ev["day"].to_numpy()
    stamp = when.astype("datetime64[m]") + _draw_minutes(rng, when)
    ev["stamp"] = stamp
    ev["age"] = _age_bands(rng, stamp)
    if r:  # a repeat keeps the victim group of the first incident
        rep = np.flatnonzero(ev["repeat_of"].to_numpy() >= 0)
        keep = rng.random(rep.size) < 0.8
        age = ev["age"].to_numpy().copy()
        age[rep[keep]] = age[ev["repeat_of"].to_numpy()[rep[keep]]]
        ev["age"] = age
    return ev


def _add_repeats(rng: np.random.Generator, ev: pd.DataFrame, cal: _Calendar) -> pd.DataFrame:
    """Near-repeats: the same place 1..7 days later, in the same month."""
    src = np.flatnonzero(rng.random(len(ev)) < _REPEAT_P)
    delay = rng.integers(1, _REPEAT_MAX_DAYS + 1, src.size)
    day = ev["day"].to_numpy().copy()
    last = cal.ndays[ev["t"].to_numpy()[src]] - 1
    day[src] = np.minimum(day[src], last - delay)  # keep the pair inside one month
    ev = ev.assign(day=day)
    rep = ev.iloc[src].copy()
    rep["day"] = day[src] + delay
    rep["repeat_of"] = src
    same = rng.random(src.size) < 0.6
    cat, _ = _attributes(rng, src.size, injury_only=False)
    cat = np.where(same, rep["cat"].to_numpy(), cat)
    weapon = _choice(rng, _WEAPON_BY_CATEGORY[cat])
    rep["cat"], rep["weapon"] = cat, np.where(same, rep["weapon"].to_numpy(), weapon)
    return pd.concat([ev, rep], ignore_index=True)


_EVENT_COLUMNS = ["cell", "t", "comp", "x", "y", "day", "cat", "weapon", "repeat_of", "stamp",
                  "age"]  # fmt: skip


@dataclass(frozen=True)
class _Context:
    cells: _Cells
    anchors: np.ndarray
    probs: np.ndarray
    cal: _Calendar
    resolution: int
    area: Polygon  # BNG


# --------------------------------------------------------------------------------------
# Files: police and ED tables with bad rows
# --------------------------------------------------------------------------------------


def _order(ev: pd.DataFrame) -> pd.DataFrame:
    """Chronological, ties broken by place: a deterministic file order."""
    o = np.lexsort((ev["y"].to_numpy(), ev["x"].to_numpy(), ev["stamp"].to_numpy()))
    return ev.iloc[o].reset_index(drop=False).rename(columns={"index": "event"})


def _bad_plan(n_valid: int) -> dict[str, int]:
    """How many bad rows of each kind: about 3 % of the valid rows in all."""
    total = int(round(_BAD_SHARE * n_valid))
    return {k: int(round(total * v)) for k, v in _BAD_MIX.items()}


def _far_point(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points about 200 km north, north-west, west or north-east of the originals."""
    deg = rng.choice(np.array([45.0, 90.0, 135.0, 180.0]), x.size)
    return (np.round(x + _FAR_KM * 1000 * np.cos(np.deg2rad(deg))),
            np.round(y + _FAR_KM * 1000 * np.sin(np.deg2rad(deg))))  # fmt: skip


_POLICE_BAD_DATES = ("2023-02-30T18:00:00", "", "not recorded", "2023-13-05T10:00:00",
                     "2024-06-31T21:15:00", "TBC")  # fmt: skip
_ED_BAD_DATES = ("31/02/2024 14:05", "unknown", "", "13/13/2023 18:30", "05/07/2023 25:10",
                 "30/02/2025 09:00")  # fmt: skip


def _with_bad_rows(
    rng: np.random.Generator, valid: pd.DataFrame, extra: pd.DataFrame, plan: dict[str, int],
    key: str, ids: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Merge valid rows and extra rows to corrupt in time order, give ids, add duplicate rows.

    Returns the whole table in file order (``bad`` holds each row's reason, ``dup_of_row`` the
    first row of a duplicated id) and its valid rows.
    """
    reasons = np.repeat(list(plan)[:-1], [plan[k] for k in list(plan)[:-1]])
    extra = extra.iloc[: reasons.size].copy()
    reasons = reasons[: len(extra)]
    extra["bad"] = rng.permutation(reasons) if reasons.size else reasons
    both = _order(pd.concat([valid.assign(bad=""), extra], ignore_index=True))
    both[key] = ids[: len(both)]
    n_dup = plan["duplicate_id"]
    src = np.sort(rng.choice(np.flatnonzero(both["bad"].to_numpy() == ""), n_dup, replace=False))
    dup = both.iloc[src].copy()
    dup["bad"] = "duplicate_id"
    dup["pos"] = src + rng.integers(1, 40, n_dup) + 0.5
    both["pos"] = np.arange(len(both), dtype=float)
    table = pd.concat([both, dup], ignore_index=True).sort_values("pos", kind="stable")
    table["dup_of_row"] = -1
    table = table.reset_index(drop=True)
    first_row = pd.Series(np.arange(len(table)), index=table[key]).groupby(level=0).min()
    is_dup = table["bad"].to_numpy() == "duplicate_id"
    table.loc[is_dup, "dup_of_row"] = first_row.reindex(table.loc[is_dup, key]).to_numpy()
    return table, table.loc[table["bad"] == ""]


def _police_table(rng: np.random.Generator, table: pd.DataFrame) -> pd.DataFrame:
    bad = table["bad"].to_numpy()
    x, y = table["x"].to_numpy().copy(), table["y"].to_numpy().copy()
    far = bad == "outside_area"
    x[far], y[far] = _far_point(rng, x[far], y[far])
    swap = bad == "swapped_coordinates"
    x[swap], y[swap] = y[swap], x[swap].copy()
    occurred = np.datetime_as_string(table["stamp"].to_numpy().astype("datetime64[s]"), unit="s")
    dates = bad == "bad_date"
    occurred[dates] = rng.choice(np.array(_POLICE_BAD_DATES), int(dates.sum()))
    east, north = x.astype(np.int64).astype(str), y.astype(np.int64).astype(str)
    missing = bad == "missing_location"
    east[missing] = north[missing] = ""
    return pd.DataFrame(
        {
            "id": table["id"].to_numpy(dtype=str),
            "occurred": occurred.astype(str),
            "easting": east,
            "northing": north,
            "category": np.array(_CATEGORIES)[table["cat"].to_numpy()],
            "age_band": np.array(AGE_BANDS)[table["age"].to_numpy()],
            "weapon": np.array(_WEAPONS)[table["weapon"].to_numpy()],
        }
    )


def _ages(rng: np.random.Generator, band: np.ndarray) -> np.ndarray:
    """Ages in years consistent with the band."""
    young = rng.choice(np.arange(10, 18), band.size, p=np.array([1, 2, 4, 7, 10, 13, 15, 16]) / 68)
    adult = rng.integers(18, 25, band.size)
    older = np.minimum(25 + rng.exponential(11, band.size).astype(int), 79)
    return np.select([band == 0, band == 1], [young, adult], older)


def _ed_table(rng: np.random.Generator, table: pd.DataFrame) -> pd.DataFrame:
    bad = table["bad"].to_numpy()
    x, y = table["ed_x"].to_numpy().copy(), table["ed_y"].to_numpy().copy()
    far = bad == "outside_area"
    x[far], y[far] = _far_point(rng, x[far], y[far])
    lat, lon = bng_to_wgs84(x, y)
    swap = bad == "swapped_coordinates"
    lat[swap], lon[swap] = lon[swap], lat[swap].copy()
    slat, slon = np.char.mod("%.6f", lat).astype(object), np.char.mod("%.6f", lon).astype(object)
    missing = bad == "missing_location"
    slat[missing] = slon[missing] = ""
    date = (
        pd.DatetimeIndex(table["ed_stamp"].to_numpy())
        .strftime("%d/%m/%Y %H:%M")
        .to_numpy(dtype=object)
    )
    dates = bad == "bad_date"
    date[dates] = rng.choice(np.array(_ED_BAD_DATES, dtype=object), int(dates.sum()))
    knife = table["weapon"].to_numpy() == 1
    injury = np.where(
        knife, np.where(rng.random(len(table)) < 0.7, "stabbing", "knife injury"), "assault"
    )
    return pd.DataFrame(
        {
            "ref": table["ref"].to_numpy(dtype=str),
            "date": date.astype(str),
            "latitude": slat.astype(str),
            "longitude": slon.astype(str),
            "injury_type": injury.astype(str),
            "age": table["age_years"].to_numpy().astype(str),
        }
    )


def _bad_rows(table: pd.DataFrame, dates: np.ndarray, file: str, key: str) -> list[dict[str, Any]]:
    """The bad rows of one file: where they are, their kind and the expected reject reason."""
    detail = {
        "missing_location": "no coordinates",
        "bad_date": "unparseable or impossible date",
        "swapped_coordinates": "coordinates swapped",
        "outside_area": f"about {_FAR_KM:.0f} km from the study area",
    }
    kinds = table["bad"].to_numpy(dtype=str)
    ids = table[key].to_numpy(dtype=str)
    first = table["dup_of_row"].to_numpy()
    out = []
    for i in np.flatnonzero(kinds != ""):
        kind = str(kinds[i])
        if kind == "bad_date":
            reason = "missing date" if dates[i] == "" else "unparseable date"
        else:
            reason = _BAD_REASONS[kind]
        text = detail.get(kind) or f"{key} {ids[i]} already used on line {int(first[i]) + 2}"
        out.append({"file": file, "row": int(i) + 2, "index": int(i), "id": str(ids[i]),
                    "kind": kind, "reason": reason, "detail": text})  # fmt: skip
    return out


# --------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------


def _place_ranking(
    layers: Mapping[str, gpd.GeoDataFrame], cells: _Cells, rr: np.ndarray, fps: list[np.ndarray],
    plans: list[_Plan],
) -> list[dict[str, Any]]:  # fmt: skip
    """Places ranked by the highest relative risk of the cells they touch, with coverage."""
    covered: dict[int, list[str]] = {}
    for plan, fp in zip(plans, fps, strict=True):
        for i in fp:
            covered.setdefault(int(i), []).append(plan.id)
    rows: list[dict[str, Any]] = []
    for layer in ("shopping_centres", "parks", "transport_hubs", "schools"):
        gdf = layers[layer]
        for name, geom in zip(gdf["name"], gdf.geometry.values, strict=True):
            touch = np.flatnonzero(shapely.intersects(cells.poly, geom))
            by = sorted({p for i in touch for p in covered.get(int(i), [])})
            rows.append({"name": str(name), "layer": layer, "h3": sorted(cells.hex[touch].tolist()),
                         "relative_risk": round(float(rr[touch].max()), 4) if touch.size else 1.0,
                         "covered_by": by})  # fmt: skip
    rows.sort(key=lambda r: (-r["relative_risk"], r["layer"], r["name"]))
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    return rows


def _gaps(ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Uncovered places among the ten highest-risk ones: the gaps coverage analysis must find."""
    gaps = [r for r in ranking[:_GAP_TOP] if not r["covered_by"]]
    if len(gaps) < 2:  # the layout guarantees the northern district is left uncovered
        msg = f"the generated town has {len(gaps)} uncovered high-risk places; expected ≥ 2."
        raise RuntimeError(msg)
    return [{k: v for k, v in g.items() if k != "covered_by"} for g in gaps]


def _intervention_truth(
    plans: list[_Plan], fps: list[np.ndarray], rings: list[np.ndarray], cells: _Cells,
    rr: np.ndarray, cal: _Calendar,
) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    months = len(cal.labels)
    for plan, fp, ring in zip(plans, fps, rings, strict=True):
        a, b = _month_span(plan, months)
        mean_rr = float(rr[fp].mean())
        disp = plan.ring - 1
        out.append({
            "id": plan.id, "name": plan.name, "placement": plan.placement, "target": plan.target,
            "effect": plan.effect, "effect_reduction_pct": round((1 - plan.effect) * 100, 2),
            "ring_multiplier": plan.ring,
            "ring_effect": "none" if disp == 0 else ("displacement" if disp > 0 else "diffusion of benefit"),
            "ring_change_pct": round(disp * 100, 2),
            "first_month": cal.labels[a], "last_month": cal.labels[b] if b is not None else None,
            "active_months": (months if b is None else b + 1) - a,
            "footprint_h3": sorted(cells.hex[fp].tolist()),
            "ring_h3": sorted(cells.hex[ring].tolist()),
            "footprint_mean_relative_risk": round(mean_rr, 4),
            "share_of_cells_with_lower_relative_risk_pct": round(float((rr < mean_rr).mean() * 100), 1),
        })  # fmt: skip
    return out


def _truth(
    *, seed: int, resolution: int, cal: _Calendar, base: float, x: pd.DataFrame,
    interventions: list[dict[str, Any]], ranking: list[dict[str, Any]], gaps: list[dict[str, Any]],
    bad: list[dict[str, Any]], pairs: list[list[str]], counts: dict[str, Any], area_km2: float,
) -> dict[str, Any]:  # fmt: skip
    return {
        "generator": {"module": "geojtai.synth", "version": GENERATOR_VERSION, "seed": seed,
                      "months": len(cal.labels), "start": cal.labels[0], "resolution": resolution},
        "town": {"name": TOWN_NAME, "fictional": True, "crs": BNG,
                 "centre_bng": list(CENTRE_BNG), "area_km2": round(area_km2, 3)},
        "intensity": {
            "formula": "expected(cell, month) = base_rate * prod_k rrv_k ** x_k(cell) * "
                       "area_fraction(cell) * seasonality[calendar month] * "
                       "prod_i intervention_multiplier_i(cell, month)",
            "unit": "expected valid police-recorded incidents per H3 cell per month",
            "base_rate": base,
            "seasonality": {f"{m + 1:02d}": SEASONALITY[m] for m in range(12)},
            "trend": None,
            "repeat_probability": _REPEAT_P,
            "repeat_rule": f"an incident spawns a near-repeat at the same coordinates 1-{_REPEAT_MAX_DAYS} "
                           "days later within the same month with this probability; first "
                           "incidents are drawn at expected / (1 + p), so the total has mean `expected`",
            "point_rule": "a point lands anywhere in its cell with probability 1/RR (half of those "
                          "within 12 m of a street), otherwise near the place of an exposed factor "
                          "chosen in proportion to log(RRV); every point indexes to its cell",
            "effects_apply": "to every hour of every month an intervention is active (its days "
                             "and hours are descriptive)",
        },
        "factors": [
            {"name": f.name, "layer": f.layer, "kind": f.kind, "distance_m": f.distance_m,
             "threshold": f.threshold, "where": list(f.where) if f.where else None,
             "rrv": f.rrv, "beta": round(float(np.log(f.rrv)), 6), "definition": f.definition,
             "cells_exposed": int(x[f"x_{f.name}"].sum())}
            for f in FACTORS
        ],
        "time_profile": {"day_of_week_weights_mon_first": _DOW_WEIGHTS.tolist(),
                         "hour_weights_weekday": _HOUR_WEEKDAY.tolist(),
                         "hour_weights_weekend": _HOUR_WEEKEND.tolist()},
        "categories": dict(CATEGORY_SHARES),
        "weapons_by_category": {c: dict(zip(_WEAPONS, _WEAPON_BY_CATEGORY[i].tolist(), strict=True))
                                for i, c in enumerate(_CATEGORIES)},
        "interventions": {
            "footprint_rule": "cells covered ≥ 25 % by the polygon (or the point's radius "
                              "buffer), or holding ≥ 100 m of a route, plus the cell holding "
                              "the point / representative point / route midpoint",
            "ring_rule": "cells one H3 step from the footprint, not in it",
            "combine_rule": "multipliers of overlapping interventions multiply",
            "items": interventions,
        },
        "high_risk_places_rule": "parks, shopping centres, transport hubs and schools ranked by "
                                 "the highest relative risk among the cells they touch",
        "high_risk_places": ranking[:15],
        "gap_rule": f"places among the {_GAP_TOP} highest ranked that no intervention footprint "
                    "touches, at any time",
        "gaps": gaps,
        "bad_row_rules": {
            "kinds": _BAD_RULES,
            "row_numbering": "`row` is the line of the file (the header is line 1, the first "
            "data row line 2), as in a study's rejects.csv; `index` is the 0-based data row "
            "(as pandas reads the file)",
            "reason": "the reject reason geojtai's validator must give (geojtai.schema vocabulary)",
        },
        "bad_rows": bad,
        "ed_police_duplicates": {
            "rule": "an ED row duplicates a police 'violence with injury' row: same incident, "
                    "ED location within ~25 m (sd), ED arrival 15-240 minutes after `occurred`",
            "share_of_police_injuries_seen_by_ed": _ED_SEES,
            "ed_only_per_police_injury": _ED_ONLY,
            "columns": ["ed_ref", "police_id"],
            "pairs": pairs,
        },
        "counts": counts,
    }  # fmt: skip


# --------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------


def _check_args(seed: int, months: int, start: str, resolution: int) -> None:
    problems = []
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(f"seed must be a non-negative integer; {seed!r} was given")
    if not isinstance(months, (int, np.integer)) or not 6 <= months <= 240:
        problems.append(f"months must be an integer from 6 to 240; {months!r} was given")
    if not isinstance(start, str) or not _MONTH_RE.match(start):
        problems.append(f"start must look like YYYY-MM; {start!r} was given")
    if not isinstance(resolution, (int, np.integer)) or not 7 <= resolution <= 11:
        problems.append(f"resolution must be an integer from 7 to 11; {resolution!r} was given")
    if problems:
        raise SettingsError("; ".join(problems), problems)


def generate_town(
    *, seed: int = 42, months: int = 36, start: str = "2023-01", resolution: int = 9
) -> SampleTown:
    """Generate the synthetic sample town and its ground truth.

    Parameters
    ----------
    seed
        Seeds every random draw; the same seed gives byte-identical files.
    months
        Number of simulated months (6..240).
    start
        First month, ``YYYY-MM``.
    resolution
        H3 resolution of the true intensity (7..11).

    Returns
    -------
    SampleTown
        File-ready frames and the ground truth.

    Raises
    ------
    SettingsError
        An argument is out of range.

    Examples
    --------
    >>> town = generate_town(seed=1, months=12)
    >>> sorted(town.places) == sorted(PLACE_LAYERS)
    True
    """
    _check_args(seed, months, start, resolution)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    # Places, cells and their true exposures.
    lay = _layout(streams[0])
    cells = _cells(lay.area, resolution)
    x = _exposures(cells, lay.layers)
    rr = _relative_risk(x)
    # Interventions and the intensity with and without their effect.
    plans = _plans(lay, cells, rr, streams[1])
    fps = [_footprint(p, cells) for p in plans]
    rings = [_ring(fp, cells) for fp in fps]
    cal = _calendar(start, months)
    season = np.array(SEASONALITY)[cal.moy]
    shape = (rr * cells.area_fraction)[:, None] * season[None, :]
    base = float(_PER_MONTH * months / shape.sum())
    lam0 = base * shape
    lam = lam0 * _multiplier(plans, fps, rings, len(cells.ids), months)
    # Incidents from both agencies, with bad rows; then the truth.
    anchors = _anchors(cells, lay.layers, x)
    ctx = _Context(cells, anchors, _component_probs(rr, x, anchors), cal, resolution, lay.area)
    police, ed, inc_truth, bad, pairs, counts = _incident_files(streams[2], lam, ctx)
    ranking = _place_ranking(lay.layers, cells, rr, fps, plans)
    truth = _truth(
        seed=int(seed), resolution=resolution, cal=cal, base=base, x=x,
        interventions=_intervention_truth(plans, fps, rings, cells, rr, cal),
        ranking=ranking, gaps=_gaps(ranking), bad=bad, pairs=pairs,
        counts={**counts, "interventions": len(plans), "cells": len(cells.ids),
                "expected_police_valid": round(float(lam.sum()), 3),
                "expected_police_valid_no_intervention": round(float(lam0.sum()), 3)},
        area_km2=lay.area.area / 1e6,
    )  # fmt: skip
    return SampleTown(
        seed=int(seed), resolution=resolution, months=cal.labels,
        area=_area_frame(lay.area), places=MappingProxyType(_places_wgs84(lay.layers)),
        incidents_police=police, incidents_ed=ed,
        interventions=_interventions_frame(plans, cal),
        intensity=_intensity_frame(cells, cal, rr, season, lam0, lam),
        cells=pd.concat([pd.DataFrame({"h3": cells.hex.astype(str), "area_fraction": cells.area_fraction}),
                         x, pd.DataFrame({"relative_risk": rr})], axis=1),
        incident_truth=inc_truth, truth=truth,
    )  # fmt: skip


def _incident_files(
    rng: np.random.Generator, lam: np.ndarray, ctx: _Context
) -> tuple[
    pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict[str, Any]], list[list[str]], dict[str, int]
]:
    """Both agencies' tables with their bad rows, the per-row truth and the duplicates."""
    share_vwi = CATEGORY_SHARES["violence with injury"]
    police_ev = _events(rng, lam, ctx, repeats=True, injury_only=False)
    police_extra = _events(rng, lam * _BAD_SHARE, ctx, repeats=False, injury_only=False)
    ed_only = _events(rng, lam * share_vwi * _ED_ONLY, ctx, repeats=False, injury_only=True)
    ed_extra = _events(
        rng, lam * share_vwi * _ED_ONLY * 2 * _BAD_SHARE, ctx, repeats=False, injury_only=True
    )
    police_ids = np.array([f"CR-{i + 1:06d}" for i in range(len(police_ev) + len(police_extra))])
    ptable, pvalid = _with_bad_rows(
        rng, police_ev, police_extra, _bad_plan(len(police_ev)), "id", police_ids
    )
    police = _police_table(rng, ptable)
    # The ED sees some police injuries (duplicates) and injuries the police never hear of.
    injured = pvalid[(pvalid["cat"] == _VWI).to_numpy()]
    seen = injured.loc[rng.random(len(injured)) < _ED_SEES, [*_EVENT_COLUMNS, "id"]]
    seen = seen.rename(columns={"id": "police_id"}).reset_index(drop=True)
    ed_valid = pd.concat([seen, ed_only.assign(police_id="")], ignore_index=True)
    ed_all = _ed_prepare(rng, ed_valid, ed_extra, ctx.area)
    ed_ids = np.array([f"ED{i + 1:06d}" for i in range(len(ed_all))])
    etable, evalid = _with_bad_rows(rng, ed_all.iloc[: len(ed_valid)], ed_all.iloc[len(ed_valid):],
                                    _bad_plan(len(ed_valid)), "ref", ed_ids)  # fmt: skip
    ed = _ed_table(rng, etable)
    pairs = sorted(
        [[str(r), str(p)] for r, p in zip(evalid["ref"], evalid["police_id"], strict=True) if p]
    )
    truth = _incident_truth(pvalid, evalid, ctx)
    bad = _bad_rows(ptable, police["occurred"].to_numpy(), "incidents_police.csv", "id")
    bad += _bad_rows(etable, ed["date"].to_numpy(), "incidents_ed.csv", "ref")
    counts = {
        "police_rows": len(police), "police_valid_rows": len(pvalid), "police_bad_rows": len(police) - len(pvalid),
        "police_repeats": int((pvalid["repeat_of"] >= 0).sum()),
        "ed_rows": len(ed), "ed_valid_rows": len(evalid), "ed_bad_rows": len(ed) - len(evalid),
        "ed_duplicates_of_police": len(pairs), "ed_only": len(evalid) - len(pairs),
    }  # fmt: skip
    return police, ed, truth, bad, pairs, counts


def _ed_prepare(
    rng: np.random.Generator, valid: pd.DataFrame, extra: pd.DataFrame, area: Polygon
) -> pd.DataFrame:
    """ED location (patient-reported, ~25 m off for duplicates), arrival time and age in years."""
    ev = pd.concat([valid, extra.assign(police_id="")], ignore_index=True)
    dup = (ev["police_id"] != "").to_numpy()
    jitter = rng.normal(0, 25, (len(ev), 2)) * dup[:, None]
    delay = rng.integers(15, 241, len(ev)) * dup
    x, y = np.round(ev["x"] + jitter[:, 0]), np.round(ev["y"] + jitter[:, 1])
    out = ~shapely.contains_xy(area, x, y)  # keep the patient's report inside the town
    ev["ed_x"], ev["ed_y"] = np.where(out, ev["x"], x), np.where(out, ev["y"], y)
    ev["ed_stamp"] = ev["stamp"].to_numpy() + delay.astype("timedelta64[m]")
    ev["age_years"] = _ages(rng, ev["age"].to_numpy())
    ev["stamp"] = ev["ed_stamp"]  # the ED file is ordered by arrival
    ev["x"], ev["y"] = ev["ed_x"], ev["ed_y"]
    return ev


def _incident_truth(pvalid: pd.DataFrame, evalid: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    comp_names = np.array(["cell", "street", *[f.name for f in FACTORS]])
    months = np.array(ctx.cal.labels)
    p_ids = pvalid["id"].to_numpy(dtype=str)
    event_to_id = pd.Series(p_ids, index=pvalid["event"].to_numpy())
    rep = pvalid["repeat_of"].to_numpy()
    repeat_of = np.where(rep >= 0, event_to_id.reindex(rep).fillna("").to_numpy(dtype=str), "")
    police = pd.DataFrame({
        "file": "incidents_police.csv", "id": p_ids,
        "h3": ctx.cells.hex[pvalid["cell"].to_numpy()].astype(str),
        "month": months[pvalid["t"].to_numpy()], "driver": comp_names[pvalid["comp"].to_numpy()],
        "repeat_of": repeat_of, "duplicate_of": "",
    })  # fmt: skip
    ed = pd.DataFrame({
        "file": "incidents_ed.csv", "id": evalid["ref"].to_numpy(dtype=str),
        "h3": ctx.cells.hex[evalid["cell"].to_numpy()].astype(str),
        "month": months[evalid["t"].to_numpy()], "driver": comp_names[evalid["comp"].to_numpy()],
        "repeat_of": "", "duplicate_of": evalid["police_id"].to_numpy(dtype=str),
    })  # fmt: skip
    return pd.concat([police, ed], ignore_index=True)


# --------------------------------------------------------------------------------------
# Output frames
# --------------------------------------------------------------------------------------


def _area_frame(area: Polygon) -> gpd.GeoDataFrame:
    geom = _transform(np.array([area]), BNG, WGS84)
    return gpd.GeoDataFrame({"id": ["area-001"], "name": [TOWN_NAME]}, geometry=geom, crs=WGS84)


def _places_wgs84(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    out = {}
    for name in PLACE_LAYERS:
        gdf = layers[name]
        geom = _transform(gdf.geometry.values, BNG, WGS84)
        out[name] = gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=geom, crs=WGS84)
    return out


def _interventions_frame(plans: list[_Plan], cal: _Calendar) -> gpd.GeoDataFrame:
    rows = []
    months = len(cal.labels)
    for p in plans:
        a, b = _month_span(p, months)
        end = None if b is None else str(cal.start[b] + int(cal.ndays[b]) - 1)
        rows.append({
            "id": p.id, "name": p.name, "type": p.type, "lead_agency": p.lead_agency,
            "partner_agencies": p.partner_agencies, "start": str(cal.start[a]), "end": end,
            "days": p.days, "hours": p.hours, "place_types": p.place_types,
            "radius_m": p.radius_m, "cost": int(p.cost),
        })  # fmt: skip
    geom = _transform(np.array([p.geometry for p in plans], dtype=object), BNG, WGS84)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geom, crs=WGS84)


def _intensity_frame(
    cells: _Cells, cal: _Calendar, rr: np.ndarray, season: np.ndarray, lam0: np.ndarray,
    lam: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    n, t = lam.shape
    share_vwi = CATEGORY_SHARES["violence with injury"]
    return pd.DataFrame(
        {
            "h3": np.repeat(cells.hex.astype(str), t),
            "month": np.tile(np.array(cal.labels), n),
            "area_fraction": np.repeat(cells.area_fraction, t),
            "relative_risk": np.repeat(rr, t),
            "seasonal": np.tile(season, n),
            "intervention_multiplier": (lam / lam0).ravel(),
            "expected": lam.ravel(),
            "expected_no_intervention": lam0.ravel(),
            "expected_ed_only": lam.ravel() * share_vwi * _ED_ONLY,
        }
    )
