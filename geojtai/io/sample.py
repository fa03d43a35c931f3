"""Write a generated sample town (:func:`geojtai.synth.generate_town`) to a folder.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``)
and byte-for-byte reproducibly: no timestamps, fixed float formatting in CSV and GeoJSON
(7 decimal places of a degree, about 1 cm), Parquet without pandas metadata. The same seed
therefore gives the same sha256 for every file.

The folder it writes::

    README.md                       what the town is, the files, the truth, how to regenerate
    study.toml                      a study definition over these inputs
    area.geojson                    the town boundary (EPSG:4326)
    incidents_police.csv            police incidents (BNG eastings/northings, ISO datetimes)
    incidents_ed.csv                emergency-department feed (lat/lon, DD/MM/YYYY HH:MM)
    interventions.geojson           place-based interventions (EPSG:4326)
    places/<layer>.geojson          streets, parks, shopping_centres, schools,
                                    transport_hubs, licensed_premises (EPSG:4326)
    truth/truth.json                the ground truth
    truth/intensity.parquet         expected counts per cell × month
    truth/cells.parquet             true exposures and relative risk per cell
    truth/incidents.parquet         true cell, month and driver of every valid incident row
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from shapely.geometry import mapping

from geojtai.errors import CRSError, InputFileError
from geojtai.io.writers import atomic_write_bytes
from geojtai.synth import FACTORS, PLACE_LAYERS, TOWN_NAME, SampleTown

__all__ = ["SAMPLE_FILES", "read_intensity", "write_sample"]

SAMPLE_FILES: tuple[str, ...] = (
    "README.md",
    "study.toml",
    "area.geojson",
    "incidents_police.csv",
    "incidents_ed.csv",
    "interventions.geojson",
    *(f"places/{layer}.geojson" for layer in PLACE_LAYERS),
    "truth/truth.json",
    "truth/intensity.parquet",
    "truth/cells.parquet",
    "truth/incidents.parquet",
)
_DEGREE_DP = 7  # ~1 cm


def write_sample(town: SampleTown, out_dir: Path) -> list[Path]:
    """Write ``town`` into ``out_dir`` (created if missing); return the files written.

    Parameters
    ----------
    town
        A generated town.
    out_dir
        The folder to write; existing files of the same names are replaced atomically,
        other files are left alone.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`SAMPLE_FILES`.

    Examples
    --------
    >>> from geojtai.synth import generate_town
    >>> paths = write_sample(generate_town(seed=42), Path("sample_data"))  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    contents = _render(town)
    for sub in {Path(name).parent for name in contents}:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    written = []
    for name in SAMPLE_FILES:
        atomic_write_bytes(out_dir / name, contents[name])
        written.append(out_dir / name)
    return written


def _render(town: SampleTown) -> dict[str, bytes]:
    """Every file's bytes, keyed by its path relative to the folder."""
    out = {
        "README.md": _readme(town).encode("utf-8"),
        "study.toml": _study_toml(town).encode("utf-8"),
        "area.geojson": _geojson(town.area, "area"),
        "incidents_police.csv": _csv(town.incidents_police),
        "incidents_ed.csv": _csv(town.incidents_ed),
        "interventions.geojson": _geojson(town.interventions, "interventions"),
        "truth/truth.json": _json(town.truth),
        "truth/intensity.parquet": _parquet(town.intensity),
        "truth/cells.parquet": _parquet(town.cells),
        "truth/incidents.parquet": _parquet(town.incident_truth),
    }
    for layer in PLACE_LAYERS:
        out[f"places/{layer}.geojson"] = _geojson(town.places[layer], layer)
    return out


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _parquet(df: pd.DataFrame) -> bytes:
    """Parquet with plain Arrow types and no pandas metadata, so the bytes are reproducible."""
    columns = {}
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            columns[str(name)] = pa.array(s.to_numpy())
        else:
            columns[str(name)] = pa.array(s.astype(str).to_numpy(dtype=object), type=pa.string())
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="zstd")
    return buf.getvalue()


def _round(coords: Any) -> Any:
    if isinstance(coords, (tuple, list)):
        if coords and isinstance(coords[0], float | int):
            return [round(float(c), _DEGREE_DP) for c in coords]
        return [_round(c) for c in coords]
    return coords


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return _value(v.item())
    return v


def _geojson(gdf: gpd.GeoDataFrame, name: str) -> bytes:
    """RFC 7946 GeoJSON (WGS84 lon/lat), one feature per line."""
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        msg = f"{name}: GeoJSON is written in EPSG:4326; the frame is in {gdf.crs}."
        raise CRSError(msg)
    props = gdf.drop(columns=gdf.geometry.name).astype(object)
    lines = []
    for record, geom in zip(props.to_dict("records"), gdf.geometry.values, strict=True):
        g = mapping(geom) if geom is not None and not shapely.is_empty(geom) else None
        if g is not None:
            g = {"type": g["type"], "coordinates": _round(g["coordinates"])}
        feature = {
            "type": "Feature",
            "properties": {str(k): _value(v) for k, v in record.items()},
            "geometry": g,
        }
        lines.append(json.dumps(feature, ensure_ascii=False, allow_nan=False))
    head = f'{{"type": "FeatureCollection", "name": {json.dumps(name)}, "features": [\n'
    return (head + ",\n".join(lines) + "\n]}\n").encode("utf-8")


# --------------------------------------------------------------------------------------
# README and study.toml
# --------------------------------------------------------------------------------------


def _study_toml(town: SampleTown) -> str:
    return f"""# A study over the synthetic sample town (see README.md).
[study]
name = "{TOWN_NAME} (synthetic)"
resolution = {town.resolution}

[[incidents]]
path = "incidents_police.csv"
source = "police"

[[incidents]]
path = "incidents_ed.csv"
source = "emergency department"

[interventions]
path = "interventions.geojson"

[places]
path = "places"

[area]
path = "area.geojson"
"""


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _readme(town: SampleTown) -> str:
    t = town.truth
    c = t["counts"]
    factors = _table(
        ["factor", "layer", "definition", "true RRV"],
        [(f.name, f.layer, f.definition, f.rrv) for f in FACTORS],
    )
    items = t["interventions"]["items"]
    interventions = _table(
        ["id", "name", "placement", "effect", "ring", "months"],
        [
            (i["id"], i["name"], i["placement"], i["effect"], i["ring_multiplier"],
             f"{i['first_month']} – {i['last_month'] or 'ongoing'}")
            for i in items
        ],
    )  # fmt: skip
    gaps = ", ".join(f"{g['name']} ({g['layer']})" for g in t["gaps"])
    layers = ", ".join(f"`places/{layer}.geojson`" for layer in PLACE_LAYERS)
    seed = town.seed
    call = (
        f'generate_town(seed={seed}, months={len(town.months)}, start="{town.months[0]}", '
        f"resolution={town.resolution})"
    )
    east, north = t["town"]["centre_bng"]
    return f"""# Sample data: {TOWN_NAME}, a synthetic town with a known ground truth

Everything in this folder was generated by `geojtai.synth.{call}`
and written by `geojtai.io.sample.write_sample`.

**{TOWN_NAME} is fictional**: its streets, parks, schools, incidents and interventions are
invented. It is placed around British National Grid easting {east:.0f}, northing {north:.0f}
(the Leicestershire–Warwickshire border) only so that coordinates look real. No real person,
place or incident is in it.

## Regenerate

```
geojtai sample sample_data --seed {seed}
```

Until that command is wired up, the same files come from:

```
python -c "from pathlib import Path; from geojtai.synth import generate_town; from geojtai.io.sample import write_sample; write_sample(generate_town(seed={seed}), Path('sample_data'))"
```

The same seed gives byte-identical files (check with `sha256sum`); another seed gives
another town of the same design.

## The town

About {t["town"]["area_km2"]:.0f} km², {t["counts"]["cells"]} H3 cells at resolution {town.resolution}.
A town centre (The Arndale, the bus station, Victoria Park, most of the
pubs and clubs), a northern district centre (Northgate Shopping Centre, Memorial Park,
Northgate Academy, a bus interchange), a station quarter to the east (railway station,
Riverside Retail Park, Kingsmere College), five primary radial roads, a ring road, housing
estates of residential streets, a canal towpath, and small pocket parks (each smaller than
one H3 resolution-10 cell, to exercise overlap-based indexing).

## Files

| file | what | columns |
|---|---|---|
| `area.geojson` | the town boundary, EPSG:4326 | `id`, `name` |
| {layers} | place layers, EPSG:4326 | `id`, `name` and OSM-style tags: streets `highway` (primary, secondary, residential, footway); parks `leisure` (park, recreation_ground, garden, playground); shopping centres `shop=mall` or `landuse=retail`; schools `amenity=school`, `isced:level`; transport hubs `public_transport`, `amenity`, `railway`, `bus`; licensed premises `amenity` (pub, bar, nightclub), `opening_hours` |
| `incidents_police.csv` | police-recorded incidents, {c["police_rows"]} rows ({c["police_bad_rows"]} deliberately bad) | `id`, `occurred` (ISO `YYYY-MM-DDTHH:MM:SS`), `easting`, `northing` (EPSG:27700, whole metres), `category` (violence with injury, violence without injury, robbery, possession of weapons), `age_band` (10-17, 18-24, 25+), `weapon` (none, knife, blunt instrument, firearm) |
| `incidents_ed.csv` | emergency-department assault attendances (Cardiff model), {c["ed_rows"]} rows ({c["ed_bad_rows"]} deliberately bad) | `ref`, `date` (UK `DD/MM/YYYY HH:MM`, arrival), `latitude`, `longitude` (EPSG:4326, 6 dp), `injury_type` (assault, stabbing, knife injury), `age` (years) |
| `interventions.geojson` | {len(items)} place-based interventions, EPSG:4326: points (with `radius_m`), polygons and route lines | `id`, `name`, `type`, `lead_agency`, `partner_agencies` (`;`-joined), `start`, `end` (`YYYY-MM-DD`; null = ongoing), `days`, `hours`, `place_types` (`;`-joined), `radius_m` (points only), `cost` (GBP) |
| `study.toml` | a study over these files | |
| `truth/truth.json` | the ground truth (below) | |
| `truth/intensity.parquet` | one row per cell × month | `h3` (hex), `month` (`YYYY-MM`), `area_fraction`, `relative_risk`, `seasonal`, `intervention_multiplier`, `expected` (λ), `expected_no_intervention`, `expected_ed_only` |
| `truth/cells.parquet` | one row per cell | `h3`, `area_fraction`, the measurements (`distance_<layer>_m`, `parks_fraction`, `licensed_premises_within_300m`, `primary_road_m`), the exposures `x_<factor>` (0/1), `relative_risk` |
| `truth/incidents.parquet` | one row per valid incident row of both files | `file`, `id` (police `id` or ED `ref`), `h3` (true cell), `month`, `driver` (`cell`, `street` or the factor that placed it), `repeat_of` (police id), `duplicate_of` (police id an ED row duplicates) |

The two incident files deliberately use different column names, coordinate systems and date
formats, so readers must detect them.

## The ground truth

Valid police incidents are drawn per H3 cell and month from

    expected = base_rate × Π_k RRV_k ** x_k(cell) × area_fraction × seasonal(month) × Π intervention multipliers

with a base rate of {t["intensity"]["base_rate"]:.6f} incidents per cell-month.
Valid police rows: {c["police_valid_rows"]}; Σλ = {c["expected_police_valid"]:.1f}.
Seasonality peaks in July (×1.2) and bottoms out in January (×0.8); there is no trend.

{factors}

`primary_road` is a decoy: exposed cells carry no extra risk, but primary roads run into the
risky centres, so a model that selects it has been fooled by correlation.

* **Time**: weekday incidents peak 15:00–19:00 (after school); weekend ones in the evening and
  after midnight. Under-18s dominate the after-school hours.
* **Repeat victimisation**: each incident spawns, with probability
  {t["intensity"]["repeat_probability"]}, a near-repeat at the same coordinates 1–7 days later
  in the same month ({c["police_repeats"]} repeats; `truth/incidents.parquet`, `repeat_of`).
* **ED feed**: {c["ed_duplicates_of_police"]} ED rows duplicate a valid police "violence with
  injury" row (pairs in `truth.json` → `ed_police_duplicates`; the ED location is ~25 m off and
  the arrival 15–240 minutes later); the other {c["ed_only"]} valid ED rows are injuries the
  police never recorded.
* **Bad rows**: listed in `truth.json` → `bad_rows`: `file`, `row` (the file's line, header =
  line 1, as in a study's `rejects.csv`), `index` (0-based data row), `id`, `kind`
  (`missing_location`, `bad_date`, `swapped_coordinates`, `outside_area` ~200 km away,
  `duplicate_id` = the later copy) and `reason`, the reject reason the validator must give
  (`no location`, `missing date`, `unparseable date`, `coordinates look swapped`,
  `far outside the study area`, `duplicate id`). Bad rows are extra: the valid rows alone
  follow the intensity.
* **Interventions** multiply the intensity in their footprint cells while active and in the
  ring of cells around them (displacement > 1, diffusion of benefit < 1):

{interventions}

* **Gaps**: places among the ten highest-risk ones that no intervention covers: {gaps}.

`truth.json` keys: `generator`, `town`, `intensity` (formula, base rate, seasonality, repeat
and point rules), `factors`, `time_profile`, `categories`, `weapons_by_category`,
`interventions` (footprint and ring rules; per intervention its effect, ring multiplier,
months and `footprint_h3`/`ring_h3` cells), `high_risk_places_rule`, `high_risk_places` (top 15
places by relative risk and the interventions covering them), `gap_rule`, `gaps`,
`bad_row_rules`, `bad_rows`, `ed_police_duplicates`, `counts`.
"""


def read_intensity(path: Path) -> pd.DataFrame:
    """A synthetic town's true intensity (``truth/intensity.parquet``): ``h3``, ``month``,
    ``expected`` and the other truth columns.

    Raises
    ------
    InputFileError
        The file is missing or not the sample town's intensity table.
    """
    try:
        table = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        msg = f"{path}: not a readable truth intensity table ({exc})"
        raise InputFileError(msg) from exc
    missing = sorted({"h3", "month", "expected"} - set(table.columns))
    if missing:
        msg = f"{path}: not a truth intensity table (missing columns {missing})"
        raise InputFileError(msg)
    return table
