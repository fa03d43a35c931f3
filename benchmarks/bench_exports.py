"""Exports and evidence packs at force scale: every format, both profiles.

Run ``python benchmarks/bench_exports.py [--sizes 20000,50000] [--repeat 3] [--json OUT]``.

Data: the studies of ``bench_web.py`` (built with the project's own build from generated
inputs, about ``size`` cells with incidents at H3 resolution 10, 36 months, place layers and
40 interventions), kept in its ``--cache``. Each study is copied to a temporary folder first,
so the exports' audit lines do not pile up in the cache.

Measured, per study, in-process (the command line adds about 2 s of imports):

* ``export_study`` of the ``counts`` layer (publishable: small counts merged into parent
  cells or withheld) to each format, and of ``--layer all`` to GeoPackage, zipped
  Shapefiles and the offline HTML map; ``counts`` with the internal profile to GeoJSON;
* ``write_evidence``: the evidence pack as PDF and as HTML.

Best and median of ``--repeat`` runs (1 for the evidence pack and ``all``), file size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_web import study_folder
from timing import best_and_median, timed

from geojtai.disclosure import DisclosureRule
from geojtai.io.studyfolder import load_study
from geojtai.report import write_evidence
from geojtai.studyexport import Actor, export_study

ACTOR = Actor("benchmark", "analyst", "cli")
CASES = [
    ("counts", "geojson", "publishable"),
    ("counts", "geojson", "internal"),
    ("counts", "csv", "publishable"),
    ("counts", "parquet", "publishable"),
    ("counts", "png", "publishable"),
    ("counts", "pdf", "publishable"),
    ("counts", "html", "publishable"),
    ("counts", "gpkg", "publishable"),
    ("all", "gpkg", "publishable"),
    ("all", "shp", "publishable"),
    ("all", "html", "publishable"),
]
SUFFIX = {"shp": ".zip"}


def bench_study(folder: Path, repeat: int) -> list[dict[str, Any]]:
    """Every case of :data:`CASES` and the evidence pack on one study folder."""
    study = load_study(folder)
    rows = []
    out_dir = Path(tempfile.mkdtemp(prefix="geojtai-bench-exports-"))
    for layer, fmt, profile in CASES:
        out = out_dir / f"{layer}-{profile}{SUFFIX.get(fmt, '.' + fmt)}"
        rule = DisclosureRule(profile=profile)

        def run(layer: str = layer, fmt: str = fmt, out: Path = out, rule: Any = rule) -> Any:
            return export_study(study, layers=[layer], fmt=fmt, out=out, rule=rule, actor=ACTOR)

        times, result = timed(run, 1 if layer == "all" else repeat)
        rows.append({"case": f"{layer} → {fmt} ({profile})", **best_and_median(times),
                     "rows": sum(result.rows.values()), "bytes": out.stat().st_size})  # fmt: skip
    for suffix in (".pdf", ".html"):
        out = out_dir / f"pack{suffix}"
        times, _ = timed(
            lambda out=out: write_evidence([study], out, DisclosureRule(), actor=ACTOR), 1
        )
        rows.append({"case": f"evidence pack {suffix}", **best_and_median(times),
                     "bytes": out.stat().st_size})  # fmt: skip
    shutil.rmtree(out_dir)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "geojtai-bench-web"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        source = study_folder(size, args.cache)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "study"
            shutil.copytree(source, copy)
            rows = bench_study(copy, args.repeat)
        results[str(size)] = rows
        for row in rows:
            print(f"{size:>6} cells  {row['case']:<34} best {row['best_s']:7.2f} s  "
                  f"median {row['median_s']:7.2f} s  {row['bytes'] / 1e6:7.1f} MB", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
