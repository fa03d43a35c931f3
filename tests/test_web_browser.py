"""The map page in a real headless Chromium: cells drawn on canvas, no request off the machine.

Needs the ``playwright`` package and Debian's ``/usr/bin/chromium`` (no ``playwright install``);
skips without them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from web import create_app

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")

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
    app = create_app({"STUDY_DIR": str(tmp_path / "study")})
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
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
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
        finally:
            browser.close()

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
