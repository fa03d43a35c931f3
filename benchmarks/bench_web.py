"""The web app at force scale: the cells layer API, and drawing, panning and zooming in Chromium.

Run ``python benchmarks/bench_web.py [--sizes 20000,50000] [--requests 40] [--json OUT]``
(``--no-browser`` for the API only; ``--profile`` to print where a request's time goes).

Data: for each size, a study built with the project's own build
(:func:`geojtai.study.build_study`) from generated inputs: incidents at H3 resolution 10 over
a rectangle centred on the sample town, sized so that about ``size`` cells have incidents
(90 % of the rectangle's cells, 1 to a few hundred incidents each, skewed; 36 months, four
categories, three age bands, times of day with 20 % date-only), the rectangle as the study
area, the sample town's place layers and 40 interventions. Each study is built once and kept
in ``--cache`` (default ``$TMPDIR/geojtai-bench-web``) under a name holding its parameters;
delete the folder to rebuild.

Measured, per study:

* **API**: ``/api/cells.geojson`` for ``layer=count`` (no filter, and ``category=robbery``
  with after-school hours) and ``layer=risk``, for an editor (internal profile: exact counts)
  and a viewer (published profile: small counts merged into parent cells or suppressed),
  ``--requests`` times each after a warm-up request, through a real threaded werkzeug server
  over HTTP (as a browser would hit it, signed in with a session cookie) and through Flask's
  test client (no socket); each as a *new question* (the app's layer cache, ``Area.layers``,
  emptied before every request; cell polygons made before stay made) and as a *repeated*
  one (answered from that cache). p50, p95 and max in ms; bytes, bytes per feature and the
  gzip size (level 6, as a reverse proxy would send it; the app itself does not compress).
  Each set first waits (``--idle-wait`` s at most) for other processes to go quiet and
  reports the CPU seconds they used meanwhile (``others_cpu_s``).
* **Map page**: ``/`` (the count layer is rendered inline by folium), ``--page-requests``
  times per role.
* **Browser** (the largest study, as an editor; Debian's ``/usr/bin/chromium`` through
  playwright): time from navigation to every cell drawn on the map page, with the time spent
  in each drawing step (``JSON.parse`` and Leaflet's methods, wrapped before the page runs),
  then applying a filter from the filter panel, then frame times (requestAnimationFrame)
  during a scripted pan and zoom sequence (``map.panBy`` 8 times, then 2 zooms in and 2 out,
  each animated, waiting for its end), then opening the filtered map from its URL.

Targets (issue): the cells layer API for 20k cells answers in under 300 ms at the 95th
percentile; a 50k-cell study is drawn in under 3 s and pans and zooms smoothly.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import http.client
import io
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from timing import timed

from geojtai import grid
from geojtai.settings import IncidentInput, PlaceInput, StudyInputs, StudySettings
from geojtai.study import build_study

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PLACES = ROOT / "sample_data" / "places"
CHROMIUM = Path("/usr/bin/chromium")
RESOLUTION = 10
CELL_KM2 = 0.0150  # mean area of an H3 resolution-10 cell
CENTRE = (52.51, -1.41)  # the sample town, so its place layers fall inside
OCCUPIED = 0.9  # share of the rectangle's cells with incidents
MONTHS = 36
SEED = 7
API_TARGET_MS = 300.0
DRAW_TARGET_S = 3.0
FILTER = "category=robbery&hours=after_school"
PASSWORD = "benchmark password"


# -- the study -------------------------------------------------------------------------------


def study_folder(size: int, cache: Path) -> Path:
    """A built study with about ``size`` cells with incidents, from the cache or built now."""
    out = cache / f"study-res{RESOLUTION}-{size}-seed{SEED}"
    if (out / "manifest.json").exists():
        return out
    inputs_dir = cache / f"inputs-{size}"
    inputs_dir.mkdir(parents=True, exist_ok=True)
    inputs = write_inputs(size, inputs_dir)
    settings = StudySettings(name=f"Benchmark {size:,} cells", resolution=RESOLUTION)
    start = time.perf_counter()
    result = build_study(settings, inputs, out)
    print(
        json.dumps(
            {
                "built": str(out),
                "seconds": round(time.perf_counter() - start, 1),
                "timings": result.timings,
            }
        ),
        file=sys.stderr,
    )
    return out


def write_inputs(size: int, folder: Path) -> StudyInputs:
    """Incidents, area and interventions files for a study of about ``size`` busy cells."""
    rng = np.random.default_rng(SEED + size)
    region = _rectangle_cells(size / OCCUPIED)
    busy = rng.choice(region, size=int(size), replace=False)
    # 1 + a skewed extra per cell: most cells have a few incidents, some have hundreds.
    per_cell = 1 + np.minimum(rng.pareto(1.3, busy.size) * 3, 400).astype(np.int64)
    cells = np.repeat(busy, per_cell)
    lat, lon = grid.cell_centres(cells)
    n = cells.size
    # Within ~20 m of the centre: well inside a res-10 cell (edge about 76 m).
    lat = lat + rng.uniform(-1.8e-4, 1.8e-4, n)
    lon = lon + rng.uniform(-2.9e-4, 2.9e-4, n)
    start = pd.Timestamp("2023-01-01")
    occurred = start + pd.to_timedelta(rng.integers(0, MONTHS * 30 * 24 * 60, n), "min")
    text = occurred.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    date_only = rng.random(n) < 0.2
    text[date_only] = occurred[date_only].strftime("%Y-%m-%d")
    incidents = pd.DataFrame(
        {
            "id": [f"B{i:07d}" for i in range(n)],
            "occurred": text,
            "latitude": np.round(lat, 6),
            "longitude": np.round(lon, 6),
            "category": rng.choice(
                [
                    "violence with injury",
                    "violence without injury",
                    "robbery",
                    "possession of weapons",
                ],
                n,
                p=[0.45, 0.3, 0.15, 0.1],
            ),
            "age_band": rng.choice(["10-17", "18-24", "25+"], n, p=[0.3, 0.4, 0.3]),
        }
    )
    incidents.to_csv(folder / "incidents.csv", index=False)
    lat0, lon0 = grid.cell_centres(region)
    bounds = [float(lon0.min()), float(lat0.min()), float(lon0.max()), float(lat0.max())]
    (folder / "area.geojson").write_text(json.dumps(_area(bounds)), encoding="utf-8")
    (folder / "interventions.geojson").write_text(
        json.dumps(_interventions(rng, busy, 40)), encoding="utf-8"
    )
    return StudyInputs(
        incidents=(IncidentInput(folder / "incidents.csv", source="police"),),
        interventions=folder / "interventions.geojson",
        places=(PlaceInput(SAMPLE_PLACES),),
        area=folder / "area.geojson",
    )


def _rectangle_cells(n: float) -> np.ndarray:
    """The res-10 cells of a 4:3 rectangle of about ``n`` cells around :data:`CENTRE`."""
    km2 = n * CELL_KM2
    height_km, width_km = (km2 * 3 / 4) ** 0.5, (km2 * 4 / 3) ** 0.5
    dlat = height_km / 111.2 / 2
    dlon = width_km / (111.2 * np.cos(np.radians(CENTRE[0]))) / 2
    # A lattice of points every ~25 m finds every cell whose centre is inside.
    lats = np.arange(CENTRE[0] - dlat, CENTRE[0] + dlat, 0.000225)
    lons = np.arange(CENTRE[1] - dlon, CENTRE[1] + dlon, 0.00037)
    la, lo = np.meshgrid(lats, lons, indexing="ij")
    cells = np.unique(grid.cells_from_points(la.ravel(), lo.ravel(), resolution=RESOLUTION))
    clat, clon = grid.cell_centres(cells)
    inside = (np.abs(clat - CENTRE[0]) < dlat * 0.98) & (np.abs(clon - CENTRE[1]) < dlon * 0.98)
    return cells[inside]


def _area(bounds: list[float]) -> dict[str, Any]:
    w, s, e, n = bounds
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "benchmark area"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }


def _interventions(rng: np.random.Generator, cells: np.ndarray, n: int) -> dict[str, Any]:
    lat, lon = grid.cell_centres(rng.choice(cells, n, replace=False))
    agencies = ["police", "council", "voluntary sector", "education", "youth justice", "health"]
    features = []
    for i in range(n):
        partners = rng.choice(agencies, 2, replace=False)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"BI-{i + 1:03d}",
                    "name": f"Benchmark intervention {i + 1}",
                    "type": str(rng.choice(["detached youth work", "cctv", "safe haven"])),
                    "lead_agency": str(rng.choice(agencies)),
                    "partner_agencies": ";".join(partners),
                    "start": f"{2023 + i % 3}-{1 + i % 12:02d}-01",
                    "end": None,
                    "radius_m": float(rng.choice([200, 300, 500])),
                },
                "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


# -- the app and its server ------------------------------------------------------------------


@contextmanager
def served(study: Path, folder: Path) -> Iterator[dict[str, Any]]:
    """The app on ``study`` in a threaded werkzeug server, with a signed-in viewer and editor.

    Yields ``app``, ``base`` (URL) and ``cookies`` (``{"viewer": "session=...", ...}``).
    """
    import logging

    from werkzeug.serving import make_server

    from web import create_app, db

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    from web.auth import login_as

    db.PASSWORD_METHOD = "scrypt:1024:8:1"  # sign-in speed is not what is measured here
    app = create_app(
        {
            "STUDY_DIR": str(study),
            "DATABASE_URL": str(folder / "bench.sqlite"),
            "SECRET_KEY": "benchmark only",
            "REGISTER_TODAY": "2026-01-15",
        }
    )
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        for role in ("viewer", "editor"):
            if db.get_user(s, role) is None:
                db.add_user(s, role, PASSWORD, role=role, by=db.CLI)
    cookies = {}
    for role in ("viewer", "editor"):
        client = app.test_client()
        assert login_as(client, role, PASSWORD).status_code == 302
        cookie = client.get_cookie("session")
        assert cookie is not None
        cookies[role] = f"session={cookie.value}"
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "app": app,
            "base": f"http://127.0.0.1:{httpd.server_port}",
            "cookies": cookies,
            "port": httpd.server_port,
        }
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        app.extensions[db.DB_KEY].dispose()


def http_get(port: int, path: str, cookie: str) -> bytes:
    """One GET over a new HTTP connection (as a browser's first request for it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "Accept": "*/*"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            msg = f"GET {path}: HTTP {response.status}: {body[:200]!r}"
            raise RuntimeError(msg)
        return body
    finally:
        conn.close()


def percentiles(times_s: list[float]) -> dict[str, float]:
    """p50, p95 and max in milliseconds (p95 by linear interpolation)."""
    ms = np.array(times_s) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def api_cases(
    server: dict[str, Any], size: int, repeat: int, idle_wait: float
) -> list[dict[str, Any]]:
    """Every API case through HTTP and the test client, as a new question (the app's layer
    cache emptied before each request, if it has one) and as a repeated one (answered from
    that cache). Each set waits (up to ``idle_wait`` s) for the machine to go quiet first;
    ``others_cpu_s`` is the CPU time other processes used meanwhile (near 0: the machine was
    ours). ``first_ms`` is the case's first request (the very first one of a run starts with
    every cache empty)."""
    cases = [
        ("count", "editor", ""),
        ("count", "viewer", ""),
        ("count", "editor", FILTER),
        ("count", "viewer", FILTER),
        ("risk", "editor", ""),
        ("risk", "viewer", ""),
    ]
    rows = []
    for layer, role, query in cases:
        path = f"/api/cells.geojson?layer={layer}" + (f"&{query}" if query else "")
        cookie = server["cookies"][role]
        client = server["app"].test_client()
        client.set_cookie("session", cookie.removeprefix("session="))
        fetchers = {
            "http": partial(http_get, server["port"], path, cookie),
            "client": partial(_client_get, client, path),
        }
        case = {"size": size, "layer": layer, "role": role, "filter": query or "none"}
        first, _ = timed(fetchers["http"], 1)
        for via, fetch in fetchers.items():
            for cache in ("miss", "hit"):
                before = partial(forget_answers, server["app"]) if cache == "miss" else None
                fetch()  # warm-up
                wait_until_idle(idle_wait)
                busy, cpu = busy_seconds(), time.process_time()
                times, body = _timed_after(fetch, repeat, before)
                others = max(0.0, busy_seconds() - busy - (time.process_time() - cpu))
                row = _api_row({**case, "cache": cache}, via, times, body, others)
                rows.append({**row, "first_ms": round(first[0] * 1000, 1)})
    return rows


def forget_answers(app: Any) -> None:
    """Empty each area's layer cache (``Area.layers``), when the app has one, so the next
    request is a new question; cell polygons made before stay made."""
    from web.state import AREAS_KEY

    for area in app.extensions.get(AREAS_KEY, {}).values():
        if hasattr(area, "layers"):
            area.layers = type(area.layers)()


def _timed_after(
    fetch: Callable[[], bytes], repeat: int, before: Callable[[], None] | None
) -> tuple[list[float], bytes]:
    """Seconds of ``repeat`` calls of ``fetch``, each after an untimed ``before()``."""
    times, body = [], b""
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        body = fetch()
        times.append(time.perf_counter() - start)
    return times, body


def busy_seconds() -> float:
    """CPU seconds every process on the machine has used (Linux ``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(max_wait: float, step: float = 0.5) -> None:
    """Wait (at most ``max_wait`` s) until other processes use < 10 % of a core."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        busy = busy_seconds()
        time.sleep(step)
        if busy_seconds() - busy < 0.1 * step:
            return


def _client_get(client: Any, path: str) -> bytes:
    body: bytes = client.get(path).data
    return body


def _api_row(
    case: dict[str, Any], via: str, times: list[float], body: bytes, others: float
) -> dict[str, Any]:
    features = len(json.loads(body)["features"])
    zipped = len(gzip.compress(body, compresslevel=6))
    row = {
        **case,
        "via": via,
        "requests": len(times),
        **percentiles(times),
        "features": features,
        "bytes": len(body),
        "bytes_per_feature": round(len(body) / max(features, 1), 1),
        "gzip_bytes": zipped,
        "gzip_bytes_per_feature": round(zipped / max(features, 1), 1),
        "others_cpu_s": round(others, 2),
    }
    row["meets_target"] = row["p95_ms"] < API_TARGET_MS if case["size"] <= 20_000 else None
    print(json.dumps(row))
    return row


def profile_request(server: dict[str, Any], path: str, role: str, top: int = 25) -> str:
    """cProfile of one test-client request as a new question (layer cache emptied): the
    functions with most cumulative time."""
    client = server["app"].test_client()
    client.set_cookie("session", server["cookies"][role].removeprefix("session="))
    client.get(path)
    forget_answers(server["app"])
    profiler = cProfile.Profile()
    profiler.enable()
    client.get(path)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def page_case(server: dict[str, Any], size: int, repeat: int) -> list[dict[str, Any]]:
    """The map page itself (``/``: the count layer is inline), over HTTP, per role."""
    rows = []
    for role in ("editor", "viewer"):
        cookie = server["cookies"][role]
        fetch = partial(http_get, server["port"], "/", cookie)
        fetch()
        times, body = timed(fetch, repeat)
        row = {
            "size": size,
            "page": "/",
            "role": role,
            "requests": repeat,
            **percentiles(times),
            "bytes": len(body),
            "gzip_bytes": len(gzip.compress(body, compresslevel=6)),
        }
        print(json.dumps(row))
        rows.append(row)
    return rows


# -- the browser -------------------------------------------------------------------------------

# Added before any page script runs: time spent in the steps of drawing the cells, by wrapping
# JSON.parse and Leaflet's methods once Leaflet sets window.L (outermost calls only, so a
# step's nested calls to itself are not counted twice).
PHASES = """
(() => {
  const spent = (window.__geojtaiPhases = {});
  const wrap = (obj, name, key) => {
    const original = obj[name];
    let depth = 0;
    obj[name] = function () {
      if (depth) return original.apply(this, arguments);
      depth++;
      const start = performance.now();
      try { return original.apply(this, arguments); }
      finally { depth--; spent[key] = (spent[key] || 0) + performance.now() - start; }
    };
  };
  wrap(JSON, "parse", "json_parse");
  let leaflet;
  Object.defineProperty(window, "L", {
    configurable: true,
    get() { return leaflet; },
    set(value) {
      leaflet = value;
      wrap(value.GeoJSON.prototype, "addData", "geojson_layers");
      wrap(value.Map.prototype, "addLayer", "add_to_map");
      wrap(value.Map.prototype, "fitBounds", "fit_bounds");
      wrap(value.Canvas.prototype, "_redraw", "canvas_redraw");
      wrap(value.Path.prototype, "setStyle", "set_style");
      wrap(value.Layer.prototype, "bindTooltip", "bind_tooltip");
    },
  });
})();
"""

# Resolves once the count layer exists and two frames have been painted after it, with
# milliseconds since navigation start, the navigation timings and the phases so far.
DRAWN = """
async () => {
  while (!(window.geojtaiCellLayers && window.geojtaiCellLayers.count)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  if (window.geojtaiFiltersApplied) await window.geojtaiFiltersApplied;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    drawn_ms: performance.now(),
    response_end_ms: nav.responseEnd,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    cells: window.geojtaiCellLayers.count.getLayers().length,
    phases: Object.assign({}, window.__geojtaiPhases),
  };
}
"""

# Resolves when the place layers shown are drawn and the place question is answered.
SETTLED = """
async () => {
  const done = () => Object.values(window.geojtaiPlaces)
      .every((l) => !window.geojtaiMap.hasLayer(l) || l.getLayers().length > 0)
    && !document.querySelector("#geojtai-places-panel .places-body").textContent.includes("Loading");
  while (!done()) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now();
}
"""

# The share of in-view cells painted on the canvas (a sample of up to 2,000).
PAINTED = """
() => {
  const layer = window.geojtaiCellLayers.count, map = window.geojtaiMap;
  const cells = layer.getLayers(), renderer = map.options.renderer;
  const ctx = renderer._container.getContext("2d"), dpr = window.devicePixelRatio || 1;
  const bounds = map.getBounds(), step = Math.max(1, Math.floor(cells.length / 2000));
  let inView = 0, painted = 0;
  for (let i = 0; i < cells.length; i += step) {
    const c = cells[i].getCenter();
    if (!bounds.contains(c)) continue;
    inView++;
    const p = map.latLngToLayerPoint(c).subtract(renderer._bounds.min);
    if (ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data[3] > 0) painted++;
  }
  return {sampled: inView, painted: painted};
}
"""

# Apply a filter from the panel (category robbery, after school) and time it to painted.
FILTERED = """
async () => {
  const form = document.getElementById("geojtai-filters");
  for (const o of form.elements["category"].options) o.selected = o.value === "robbery";
  form.elements["hours"].value = "after_school";
  const start = performance.now();
  await window.geojtaiApplyFilters();
  const fetched = performance.now();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return {filter_ms: performance.now() - start, until_data_ms: fetched - start,
          cells: window.geojtaiCellLayers.count.getLayers().length};
}
"""

# Frame times while the map pans 8 times and zooms in twice and out twice (animated).
PAN_ZOOM = """
async () => {
  const map = window.geojtaiMap, frames = [];
  let running = true, last = performance.now();
  const tick = (t) => { frames.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const settle = (event) => new Promise((r) => map.once(event, r));
  const start = performance.now();
  const moves = [[300, 0], [0, 200], [-300, 0], [0, -200], [250, 150], [-250, -150], [150, 0], [-150, 0]];
  for (const d of moves) { const done = settle("moveend"); map.panBy(d); await done; }
  for (const step of [1, 1, -1, -1]) {
    const done = settle("zoomend"); map.setZoom(map.getZoom() + step); await done;
    await new Promise((r) => requestAnimationFrame(r));
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  running = false;
  return {frames: frames.slice(1), seconds: (performance.now() - start) / 1000,
          zoom: map.getZoom()};
}
"""


def browser_case(
    server: dict[str, Any], size: int, runs: int, idle_wait: float
) -> list[dict[str, Any]]:
    """Draw, filter, and pan/zoom the map page of one study in Chromium, ``runs`` times (each
    after waiting up to ``idle_wait`` s for the machine to go quiet)."""
    from playwright.sync_api import sync_playwright

    cookie = server["cookies"]["editor"].removeprefix("session=")
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for run in range(runs):
                forget_answers(server["app"])  # the filter below is a new question each run
                wait_until_idle(idle_wait)
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_cookies(
                    [{"name": "session", "value": cookie, "domain": "127.0.0.1", "path": "/"}]
                )
                context.add_init_script(PHASES)
                page = context.new_page()
                page.goto(f"{server['base']}/", wait_until="commit", timeout=120_000)
                drawn = page.evaluate(DRAWN)
                settled_ms = page.evaluate(SETTLED)
                painted = page.evaluate(PAINTED)
                filtered = page.evaluate(FILTERED)
                motion = page.evaluate(PAN_ZOOM)
                # The filtered map opened from its URL (a link, or the page reloaded).
                page.goto(f"{server['base']}/?{FILTER}", wait_until="commit", timeout=120_000)
                by_url = page.evaluate(DRAWN)
                # Every cell at the study's own resolution, asked for explicitly (the page
                # starts coarser when there are more than MAX_CELLS_DRAWN cells).
                page.goto(
                    f"{server['base']}/?resolution={RESOLUTION}",
                    wait_until="commit",
                    timeout=120_000,
                )
                full = page.evaluate(DRAWN)
                context.close()
                row = _browser_row(size, run, drawn, settled_ms, painted, filtered, motion, by_url)
                row |= {
                    "full_cells": full["cells"],
                    "full_drawn_s": round(full["drawn_ms"] / 1000, 2),
                }
                print(
                    json.dumps({"full_cells": full["cells"], "full_drawn_s": row["full_drawn_s"]})
                )
                rows.append(row)
        finally:
            browser.close()
    return rows


def _browser_row(
    size: int,
    run: int,
    drawn: dict[str, Any],
    settled_ms: float,
    painted: dict[str, int],
    filtered: dict[str, Any],
    motion: dict[str, Any],
    by_url: dict[str, Any],
) -> dict[str, Any]:
    frames = np.array(motion["frames"])
    row = {
        "size": size,
        "run": run + 1,
        "cells": drawn["cells"],
        "html_received_s": round(drawn["response_end_ms"] / 1000, 2),
        "dom_content_loaded_s": round(drawn["dom_content_loaded_ms"] / 1000, 2),
        "drawn_s": round(drawn["drawn_ms"] / 1000, 2),
        "settled_s": round(settled_ms / 1000, 2),
        "phases_ms": {k: round(v) for k, v in sorted(drawn["phases"].items())},
        "painted_share": round(painted["painted"] / max(painted["sampled"], 1), 3),
        "filter_s": round(filtered["filter_ms"] / 1000, 2),
        "filter_until_data_s": round(filtered["until_data_ms"] / 1000, 2),
        "filtered_cells": filtered["cells"],
        "filtered_url_drawn_s": round(by_url["drawn_ms"] / 1000, 2),
        "pan_zoom_s": round(motion["seconds"], 2),
        "frames": int(frames.size),
        "frame_p50_ms": round(float(np.percentile(frames, 50)), 1),
        "frame_p95_ms": round(float(np.percentile(frames, 95)), 1),
        "frame_max_ms": round(float(frames.max()), 1),
        "frames_over_50ms": int((frames > 50).sum()),
    }
    row["meets_draw_target"] = row["drawn_s"] < DRAW_TARGET_S
    print(json.dumps(row))
    return row


def print_tables(results: dict[str, Any]) -> None:
    """The results as Markdown tables (as in benchmarks/README.md)."""
    print(
        "\n| cells | layer | role | filter | via | cache | first ms | p50 ms | p95 ms | max ms "
        "| features "
        "| MB | bytes/feature | gzip bytes/feature | others CPU s |"
    )
    print("|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["api"]:
        print(
            f"| {r['size']:,} | {r['layer']} | {r['role']} | {r['filter']} | {r['via']} "
            f"| {r['cache']} | {r['first_ms']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} "
            f"| {r['features']:,} "
            f"| {r['bytes'] / 1e6:.1f} | {r['bytes_per_feature']:.0f} "
            f"| {r['gzip_bytes_per_feature']:.0f} | {r.get('others_cpu_s', '')} |"
        )
    if results["page"]:
        print("\n| cells | map page | role | p50 ms | p95 ms | max ms | MB | gzip MB |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        for r in results["page"]:
            print(
                f"| {r['size']:,} | {r['page']} | {r['role']} | {r['p50_ms']} | {r['p95_ms']} "
                f"| {r['max_ms']} | {r['bytes'] / 1e6:.1f} | {r['gzip_bytes'] / 1e6:.2f} |"
            )
    if results["browser"]:
        keys = [
            "html_received_s",
            "cells",
            "drawn_s",
            "full_cells",
            "full_drawn_s",
            "settled_s",
            "filter_s",
            "filtered_url_drawn_s",
            "frame_p50_ms",
            "frame_p95_ms",
            "frame_max_ms",
            "frames_over_50ms",
            "frames",
        ]
        print("\n| cells | run | " + " | ".join(keys) + " |")
        print("|---:|---:|" + "---:|" * len(keys))
        for r in results["browser"]:
            print(f"| {r['size']:,} | {r['run']} | " + " | ".join(str(r[k]) for k in keys) + " |")


# -- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,50000")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--page-requests", type=int, default=10)
    parser.add_argument("--idle-wait", type=float, default=30.0)
    parser.add_argument("--browser-runs", type=int, default=3)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "geojtai-bench-web"
    )
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one request per layer")
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"api": [], "page": [], "browser": []}
    for size in sizes:
        study = study_folder(size, args.cache)
        with tempfile.TemporaryDirectory() as tmp, served(study, Path(tmp)) as server:
            results["api"] += api_cases(server, size, args.requests, args.idle_wait)
            results["page"] += page_case(server, size, args.page_requests)
            if args.profile:
                for path, role in (
                    ("/api/cells.geojson?layer=count", "editor"),
                    ("/api/cells.geojson?layer=count", "viewer"),
                    ("/api/cells.geojson?layer=risk", "viewer"),
                    ("/", "editor"),
                ):
                    print(f"== profile {path} as {role} ==")
                    print(profile_request(server, path, role))
            if size == max(sizes) and not args.no_browser and CHROMIUM.exists():
                results["browser"] += browser_case(server, size, args.browser_runs, args.idle_wait)
    print_tables(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    api_ok = all(r["meets_target"] is not False for r in results["api"])
    draw_ok = all(r["meets_draw_target"] for r in results["browser"])
    return 0 if api_ok and draw_ok else 1


if __name__ == "__main__":
    sys.exit(main())
