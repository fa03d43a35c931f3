"""The map page in a real headless Chromium: cells and place layers drawn on canvas, layers
toggled from the layer control, and no request off the machine.

Needs the ``playwright`` package and Debian's ``/usr/bin/chromium`` (no ``playwright install``);
skips without them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from werkzeug.serving import make_server

from web import create_app

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
# Visitors browse as editors (exact counts) with an in-memory database.
SIGNED_OUT = {"LOGIN_REQUIRED": False, "ANONYMOUS_ROLE": "editor", "DATABASE_URL": "sqlite://"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")


@contextmanager
def browser_page(width: int, height: int, requests: list[str], errors: list[str]) -> Iterator[Any]:
    """A Chromium page that records every request URL and every page or console error."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield page
        finally:
            browser.close()


# For every cell inside the view: is the canvas painted at its centre? Reads pixels back
# from Leaflet's canvas renderer, so it proves drawing, not just that layers exist.
DRAWN_CELLS = """
() => {
  const layers = Object.values(window.geojtaiLayers || {});
  if (layers.length !== 1) return null;
  const layer = layers[0], map = layer._map, cells = layer.getLayers();
  if (!cells.length) return {n: 0, inView: 0, painted: 0};
  const renderer = cells[0]._renderer, canvas = renderer._container;
  const ctx = canvas.getContext("2d"), dpr = window.devicePixelRatio || 1;
  let inView = 0, painted = 0;
  for (const cell of cells) {
    if (!map.getBounds().contains(cell.getBounds())) continue;
    inView++;
    const p = map.latLngToLayerPoint(cell.getCenter()).subtract(renderer._bounds.min);
    const rgba = ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data;
    if (rgba[3] > 0) painted++;
  }
  return {
    n: cells.length, inView: inView, painted: painted,
    isMap: map instanceof L.Map, isCanvas: renderer instanceof L.Canvas,
  };
}
"""

CELL_SCREEN_POINT = """
(h3) => {
  const layer = Object.values(window.geojtaiLayers)[0], map = layer._map;
  const cell = layer.getLayers().find(l => l.feature.properties.h3 === h3);
  const p = map.latLngToContainerPoint(cell.getCenter());
  const box = map.getContainer().getBoundingClientRect();
  return [box.left + p.x, box.top + p.y];
}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The app on 127.0.0.1 (a free port) in a thread; yields its URL and the cells' ids."""
    # The tiny study of test_web (a shared fixture would live in conftest.py); the import
    # works whether or not tests/ is a package.
    try:
        from test_web import write_tiny_study
    except ImportError:
        from tests.test_web import write_tiny_study  # type: ignore[no-redef]

    incidents = write_tiny_study(tmp_path / "study")
    app = create_app({"STUDY_DIR": str(tmp_path / "study"), **SIGNED_OUT})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", sorted(incidents["h3"].unique())
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


def test_map_draws_every_cell_offline(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, h3_ids = server
    requests: list[str] = []
    errors: list[str] = []
    with browser_page(1200, 800, requests, errors) as page:
        page.goto(f"{base}/", wait_until="networkidle")
        page.wait_for_function(
            f"() => {{ const d = ({DRAWN_CELLS})(); return d && d.painted === {len(h3_ids)}; }}",
            timeout=15_000,
        )
        drawn: dict[str, Any] = page.evaluate(DRAWN_CELLS)
        x, y = page.evaluate(CELL_SCREEN_POINT, h3_ids[-1])
        page.mouse.move(x, y)
        tooltip = page.locator(".leaflet-tooltip").inner_text(timeout=5_000)
        page.screenshot(path=str(tmp_path / "map.png"))

    assert drawn == {
        "n": len(h3_ids),
        "inView": len(h3_ids),
        "painted": len(h3_ids),
        "isMap": True,
        "isCanvas": True,
    }
    assert h3_ids[-1] in tooltip and "count" in tooltip
    assert errors == []
    assert requests, "the page made no requests at all"
    off_machine = [url for url in requests if not url.startswith((f"{base}/", "data:"))]
    assert off_machine == []
    assert f"{base}/static/vendor/leaflet/leaflet.js" in requests
    assert (tmp_path / "map.png").stat().st_size > 10_000


# -- place layers ----------------------------------------------------------------------------

# A park's centre (the one farthest from any drawn point marker, so no marker covers it) in
# page coordinates, with its name, value and the canvas pixel there. The parks must be on the
# map: Leaflet finds a polygon's centre only then.
PARK_PROBE = """
() => {
  const map = window.geojtaiMap, places = window.geojtaiPlaces;
  const markers = [];
  Object.values(places).forEach((layer) => {
    if (map.hasLayer(layer)) layer.eachLayer((f) => {
      if (f instanceof L.CircleMarker) markers.push(map.latLngToLayerPoint(f.getLatLng()));
    });
  });
  let best = null, bestDistance = -1;
  places.parks.eachLayer((park) => {
    const centre = park.getCenter();
    if (!map.getBounds().contains(centre)) return;
    const at = map.latLngToLayerPoint(centre);
    const distance = Math.min(1e9, ...markers.map((m) => m.distanceTo(at)));
    if (distance > bestDistance) { best = park; bestDistance = distance; }
  });
  const centre = best.getCenter(), p = map.latLngToContainerPoint(centre);
  const box = map.getContainer().getBoundingClientRect();
  return {
    latlng: [centre.lat, centre.lng], x: box.left + p.x, y: box.top + p.y,
    name: best.feature.properties.name, value: best.feature.properties.value,
  };
}
"""

# The canvas pixel (RGBA) at a latitude/longitude.
PIXEL_AT = """
([lat, lng]) => {
  const map = window.geojtaiMap, renderer = map.options.renderer;
  const p = map.latLngToLayerPoint([lat, lng]).subtract(renderer._bounds.min);
  const dpr = window.devicePixelRatio || 1;
  const ctx = renderer._container.getContext("2d");
  return Array.from(ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data);
}
"""

LAYER_STATE = """
(name) => {
  const layer = window.geojtaiPlaces[name], map = window.geojtaiMap;
  return {
    onMap: map.hasLayer(layer),
    features: layer.getLayers().length,
    drawn: layer.getLayers().filter((f) => f._renderer === map.options.renderer && map.hasLayer(f)).length,
  };
}
"""


@pytest.fixture
def sample_server(sample_study: Path) -> Iterator[str]:
    """The sample town's study served on 127.0.0.1 (a free port) in a thread."""
    app = create_app({"STUDY_DIR": str(sample_study), "TILES": None, **SIGNED_OUT})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


def test_place_layers_toggle_offline(
    sample_server: str, sample_study: Path, tmp_path: Path
) -> None:
    base = sample_server
    specs = json.loads((sample_study / "layers.json").read_text(encoding="utf-8"))
    titles = {spec["name"]: spec["title"] for spec in specs}
    counts = pd.read_parquet(sample_study / "places.parquet", columns=["layer"])["layer"]
    counts = counts.value_counts()
    requests: list[str] = []
    errors: list[str] = []
    with browser_page(1300, 850, requests, errors) as page:
        page.goto(f"{base}/", wait_until="networkidle")
        page.wait_for_function(
            "() => window.geojtaiPlaces && window.geojtaiPlaces.parks.getLayers().length > 0",
            timeout=15_000,
        )
        control = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        legend = page.locator(".geojtai-place-legend").inner_text()
        legend_off = page.locator(".geojtai-place-legend .is-off").all_inner_texts()
        panel = page.locator("#geojtai-places-panel table").inner_text(timeout=5_000)
        parks_on = page.evaluate(LAYER_STATE, "parks")
        streets_before = page.evaluate(LAYER_STATE, "streets")
        streets_requested_before = any("/streets.geojson" in url for url in requests)

        # Parks: drawn, with a tooltip naming the park; off and on with their checkbox.
        probe: dict[str, Any] = page.evaluate(PARK_PROBE)
        pixel_on = page.evaluate(PIXEL_AT, probe["latlng"])
        page.mouse.move(probe["x"], probe["y"])
        tooltip = page.locator(".leaflet-tooltip").inner_text(timeout=5_000)
        page.mouse.move(5, 5)
        checkbox = page.get_by_role("checkbox", name=titles["parks"])
        checkbox.uncheck()
        changed = f"(p) => String(({PIXEL_AT})(p.latlng)) !== String(p.on)"
        same = f"(p) => String(({PIXEL_AT})(p.latlng)) === String(p.on)"
        page.wait_for_function(
            changed, arg={"latlng": probe["latlng"], "on": pixel_on}, timeout=5_000
        )
        parks_off = page.evaluate(LAYER_STATE, "parks")
        pixel_off = page.evaluate(PIXEL_AT, probe["latlng"])
        legend_parks_off = page.locator(".geojtai-place-legend .is-off").all_inner_texts()
        checkbox.check()
        page.wait_for_function(same, arg={"latlng": probe["latlng"], "on": pixel_on}, timeout=5_000)

        # Streets start off and are fetched the first time they are shown.
        page.get_by_role("checkbox", name=titles["streets"]).check()
        page.wait_for_function(
            "() => window.geojtaiPlaces.streets.getLayers().length > 0", timeout=10_000
        )
        streets_after = page.evaluate(LAYER_STATE, "streets")
        page.screenshot(path=str(tmp_path / "places.png"))

    # The layer control and the legend list every place layer; streets start off.
    assert all(any(title in label for label in control) for title in titles.values())
    assert all(title in legend for title in titles.values())
    assert legend_off == [titles["streets"]]
    assert "Elsewhere" in panel and titles["parks"] in panel and "%" in panel
    # Parks were drawn on the shared canvas, then taken off it, then drawn again.
    assert parks_on == {"onMap": True, "features": counts["parks"], "drawn": counts["parks"]}
    assert not parks_off["onMap"] and parks_off["drawn"] == 0
    assert pixel_on != pixel_off and pixel_on[3] > 0
    assert sorted(legend_parks_off) == sorted([titles["streets"], titles["parks"]])
    assert (probe["name"] or "Unnamed") in tooltip and probe["value"] in tooltip
    assert streets_before == {"onMap": False, "features": 0, "drawn": 0}
    assert not streets_requested_before
    assert streets_after == {
        "onMap": True,
        "features": counts["streets"],
        "drawn": counts["streets"],
    }
    # Nothing left the machine.
    assert errors == []
    off_machine = [url for url in requests if not url.startswith((f"{base}/", "data:"))]
    assert off_machine == []
    assert f"{base}/api/places/parks.geojson" in requests
    assert (tmp_path / "places.png").stat().st_size > 10_000


# -- cell layers, interventions and the cell panel --------------------------------------------

HOT_CELL = "89195ca198fffff"  # the Arndale: hot spot, highest-but-one risk, two interventions

# The fill colour of each cell of the active cell layer, and the legend's title.
CELL_STATE = """
() => {
  const name = window.geojtaiActiveCells, layer = window.geojtaiCellLayers[name];
  const fills = {};
  layer.eachLayer((l) => { fills[l.feature.properties.h3] = l.options.fillColor; });
  return {name: name, onMap: window.geojtaiMap.hasLayer(layer), fills: fills,
          legend: document.querySelector(".geojtai-legend strong").textContent};
}
"""

HOT_CELL_POINT = """
(h3) => {
  const map = window.geojtaiMap, layer = window.geojtaiCellLayers[window.geojtaiActiveCells];
  const cell = layer.getLayers().find((l) => l.feature.properties.h3 === h3);
  map.setView(cell.getCenter(), 16, {animate: false});
  const p = map.latLngToContainerPoint(cell.getCenter());
  const box = map.getContainer().getBoundingClientRect();
  return {x: box.left + p.x, y: box.top + p.y, latlng: [cell.getCenter().lat, cell.getCenter().lng]};
}
"""


def test_cell_layers_interventions_and_cell_panel(sample_server: str, tmp_path: Path) -> None:
    base = sample_server
    requests: list[str] = []
    errors: list[str] = []
    with browser_page(1300, 850, requests, errors) as page:
        page.goto(f"{base}/", wait_until="networkidle")
        page.wait_for_function("() => window.geojtaiCellLayers && window.geojtaiCellLayers.count")
        counts: dict[str, Any] = page.evaluate(CELL_STATE)
        probe: dict[str, Any] = page.evaluate(HOT_CELL_POINT, HOT_CELL)
        page.mouse.move(5, 5)
        pixel_counts = page.evaluate(PIXEL_AT, probe["latlng"])

        # Contextual risk: fetched, drawn in its own colours, with its own legend.
        page.get_by_role("radio", name="Contextual risk").check()
        page.wait_for_function(
            "() => window.geojtaiCellLayers.risk.getLayers().length > 0"
            " && document.querySelector('.geojtai-legend strong').textContent.includes('risk')",
            timeout=10_000,
        )
        risk: dict[str, Any] = page.evaluate(CELL_STATE)
        count_on_after = page.evaluate(
            "() => window.geojtaiMap.hasLayer(window.geojtaiCellLayers.count)"
        )
        pixel_risk = page.evaluate(PIXEL_AT, probe["latlng"])

        # Click the hot cell: the panel shows its risk and risk factors.
        page.mouse.click(probe["x"], probe["y"])
        panel = page.locator("#geojtai-cell-panel")
        panel.locator("text=Risk factors").wait_for(timeout=10_000)
        panel_text = panel.inner_text()

        # The interventions overlay: off, then on (fetched and drawn), then off again.
        before = page.evaluate("() => window.geojtaiMap.hasLayer(window.geojtaiInterventions)")
        checkbox = page.get_by_role("checkbox", name="Interventions")
        checkbox.check()
        page.wait_for_function(
            "() => window.geojtaiInterventions.getLayers().length === 12", timeout=10_000
        )
        circles = page.evaluate(
            "() => window.geojtaiInterventions.getLayers().filter((l) => l instanceof L.Circle)"
            ".map((l) => l.getRadius())"
        )
        checkbox.uncheck()
        after = page.evaluate("() => window.geojtaiMap.hasLayer(window.geojtaiInterventions)")
        page.screenshot(path=str(tmp_path / "layers.png"))

    assert counts["name"] == "count" and counts["onMap"]
    assert risk["name"] == "risk" and risk["onMap"] and not count_on_after
    assert risk["legend"].startswith("Contextual risk") and counts["legend"] != risk["legend"]
    assert set(risk["fills"].values()).isdisjoint(counts["fills"].values())
    assert pixel_counts != pixel_risk
    assert HOT_CELL in panel_text
    assert "Contextual risk" in panel_text and "expected incidents next month" in panel_text
    assert "in or touching shopping centres and retail areas ×2.84" in panel_text
    assert "INT-04" in panel_text
    assert before is False and after is False
    assert sorted(circles) == [150.0, 150.0, 200.0, 250.0, 250.0]
    assert errors == []
    off_machine = [url for url in requests if not url.startswith((f"{base}/", "data:"))]
    assert off_machine == []
    assert f"{base}/api/cells.geojson?layer=risk" in requests
    assert f"{base}/api/cell/{HOT_CELL}" in requests
