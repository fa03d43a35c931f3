"""The web app in a real headless Chromium: sign-in, the map (cells and place layers drawn on
canvas, layers toggled, filters, the cell panel), what a viewer may see, the compare view, the
dashboard, an upload to the interventions register, and no request off the machine.

Needs the ``playwright`` package and Debian's ``/usr/bin/chromium`` (no ``playwright install``);
skips without them. One browser and one server per module (the upload test, which changes the
register, has its own server). Screenshots of every page are kept in ``$GEOJTAI_ARTEFACTS``
(default: a temporary folder of the test session).

Canvas checks read pixels back from Leaflet's canvas renderer, so they prove drawing, not just
that layers exist: with the place layers off, the canvas is transparent but for the cells, and
the pixel at a cell's centre has that cell's fill colour.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from werkzeug.serving import make_server

from geojtai import grid
from web import create_app, db

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

PASSWORDS = {"vera": "viewer password 1", "ed": "editor password 1", "ada": "admin password 1"}
ROLES = {"vera": "viewer", "ed": "editor", "ada": "admin"}
TODAY = "2026-01-15"  # the register's today: after the sample town's last month (2025-12)
HOT_CELL = "89195ca198fffff"  # the Arndale: hot spot, high risk, INT-03 and INT-04
VIEWPORT = {"width": 1300, "height": 850}


# -- servers, the browser and pages ------------------------------------------------------------


@dataclass
class Server:
    """An app served on 127.0.0.1 in a thread."""

    app: Any
    base: str
    storage: dict[str, Any] = field(default_factory=dict)  # signed-in browser state per name


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` (threaded werkzeug, a free port) while the block runs; yields its URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


@contextmanager
def town_server(study: Path, database: Path) -> Iterator[Server]:
    """The sample town behind the sign-in, with a viewer, an editor and an admin account."""
    app = create_app(
        {
            "STUDY_DIR": str(study),
            "DATABASE_URL": str(database),
            "SECRET_KEY": "browser tests only",
            "TILES": None,
            "REGISTER_TODAY": TODAY,
        }
    )
    with app.extensions[db.DB_KEY].sessions.begin() as s:
        for name, password in PASSWORDS.items():
            db.add_user(s, name, password, role=ROLES[name], by=db.CLI)
    with serving(app) as base:
        yield Server(app, base)
    app.extensions[db.DB_KEY].dispose()


@pytest.fixture(scope="module")
def fast_passwords() -> Iterator[None]:
    """Cheap password hashing for the accounts made here (the sign-in itself is unchanged)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "PASSWORD_METHOD", "scrypt:1024:8:1")
        for name in ("GEOJTAI_STUDY_DIR", "GEOJTAI_STUDIES", "GEOJTAI_DATABASE_URL"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def town(
    sample_study: Path, tmp_path_factory: pytest.TempPathFactory, fast_passwords: None
) -> Iterator[Server]:
    """The sample town's study served once for the module; tests here change nothing in it."""
    with town_server(sample_study, tmp_path_factory.mktemp("town") / "town.sqlite") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are kept: ``$GEOJTAI_ARTEFACTS``, else a session temporary folder."""
    folder = os.environ.get("GEOJTAI_ARTEFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Tab:
    """A page that records every request, failed response and script error."""

    page: Any
    base: str
    artefacts: Path
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def off_machine(self) -> list[str]:
        """Requests to anywhere but the app (``data:`` URLs stay on the machine)."""
        return [u for u in self.requests if not u.startswith((f"{self.base}/", "data:"))]

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        """Keep a screenshot of the page as ``<artefacts>/<name>.png``."""
        path = self.artefacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_clean(self) -> None:
        """Nothing left the machine, no request failed and no script error happened."""
        assert self.off_machine() == []
        assert self.failures == []
        assert self.errors == []


@pytest.fixture
def open_tab(browser: Any, artefacts: Path) -> Iterator[Callable[..., Tab]]:
    """``open_tab(server, name=None)``: a new browser context (signed in as ``name`` through
    the form, once per server and name) with one recording page."""
    contexts: list[Any] = []

    def make(server: Server, name: str | None = None) -> Tab:
        state = sign_in_state(browser, server, name) if name else None
        context = browser.new_context(viewport=VIEWPORT, storage_state=state)
        contexts.append(context)
        tab = Tab(context.new_page(), server.base, artefacts)
        tab.page.on("request", lambda r: tab.requests.append(r.url))
        tab.page.on("requestfailed", lambda r: tab.failures.append(f"{r.url} {r.failure}"))
        tab.page.on(
            "response",
            lambda r: tab.failures.append(f"{r.url} {r.status}") if r.status >= 400 else None,
        )
        tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        return tab

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, base: str, name: str, password: str, path: str = "/") -> None:
    """Open ``path`` signed out (sent to the sign-in page), fill the form and submit it."""
    page.goto(f"{base}{path}")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def sign_in_state(browser: Any, server: Server, name: str) -> Any:
    """The browser state (session cookie) of ``name`` signed in through the form."""
    if name not in server.storage:
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, server.base, name, PASSWORDS[name], "/login")
        assert f"Signed in as {name}" in page.locator("nav.account").inner_text()
        server.storage[name] = context.storage_state()
        context.close()
    return server.storage[name]


def wait_for_map(tab: Tab) -> None:
    """The map page's count layer and place layers are drawn and its requests are done."""
    tab.page.wait_for_function(
        "() => window.geojtaiCellLayers && window.geojtaiCellLayers.count"
        " && window.geojtaiPlaces && Object.values(window.geojtaiPlaces)"
        ".every((l) => !window.geojtaiMap.hasLayer(l) || l.getLayers().length > 0)",
        timeout=15_000,
    )
    tab.page.wait_for_load_state("networkidle")


# -- canvas probes (JavaScript run in the page) ------------------------------------------------

# The canvas pixel (RGBA) at [lat, lng] of a map (default: the map page's).
PIXEL_AT = """
([lat, lng, mapName]) => {
  const map = mapName ? window.geojtaiCompare.maps[mapName] : window.geojtaiMap;
  const renderer = map.options.renderer;
  const p = map.latLngToLayerPoint([lat, lng]).subtract(renderer._bounds.min);
  const dpr = window.devicePixelRatio || 1;
  const ctx = renderer._container.getContext("2d");
  return Array.from(ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data);
}
"""

# For every cell of a layer inside the view: is the canvas painted at its centre, and with the
# cell's own fill colour (within 3 per channel)? `which` is a cell layer of the map page
# ("count", "risk", ...) or a layer of the compare page ("compare:risk").
CELLS_ON_CANVAS = """
(which) => {
  const compare = which.startsWith("compare:");
  const layer = compare ? window.geojtaiCompare.layers[which.slice(8)] : window.geojtaiCellLayers[which];
  const map = layer._map;
  if (!map) return {onMap: false};
  const renderer = map.options.renderer, ctx = renderer._container.getContext("2d");
  const dpr = window.devicePixelRatio || 1, bounds = map.getBounds();
  const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  let features = 0, inView = 0, painted = 0, ownColour = 0;
  const fills = {};
  layer.eachLayer((cell) => {
    features++;
    const p = cell.feature.properties;
    fills[p.h3] = p.fill;
    const centre = cell.getCenter();
    if (!bounds.contains(cell.getBounds())) return;
    inView++;
    const xy = map.latLngToLayerPoint(centre).subtract(renderer._bounds.min);
    const px = ctx.getImageData(Math.round(xy.x * dpr), Math.round(xy.y * dpr), 1, 1).data;
    if (px[3] > 0) painted++;
    const want = hex(p.fill);
    if (px[3] > 0 && want.every((v, i) => Math.abs(v - px[i]) <= 3)) ownColour++;
  });
  return {onMap: true, features: features, inView: inView, painted: painted,
          ownColour: ownColour, fills: fills, isCanvas: renderer instanceof L.Canvas};
}
"""

# A digest of the whole canvas of the map page: changes whenever anything drawn changes.
CANVAS_DIGEST = """
() => {
  const canvas = window.geojtaiMap.options.renderer._container;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let h = 2166136261;
  for (let i = 0; i < data.length; i += 7) { h ^= data[i]; h = Math.imul(h, 16777619) >>> 0; }
  return h;
}
"""

# Put a cell of the active cell layer in the middle of the view at `zoom` and give its centre
# in page coordinates.
CELL_POINT = """
([h3, zoom]) => {
  const map = window.geojtaiMap, layer = window.geojtaiCellLayers[window.geojtaiActiveCells];
  const cell = layer.getLayers().find((l) => l.feature.properties.h3 === h3);
  const centre = cell.getCenter();
  map.setView(centre, zoom, {animate: false});
  const p = map.latLngToContainerPoint(centre), box = map.getContainer().getBoundingClientRect();
  return {x: box.left + p.x, y: box.top + p.y, latlng: [centre.lat, centre.lng]};
}
"""

# A point inside feature `h3` of the count layer and inside no other feature (so a click there
# can only mean this cell), shown at zoom 15; its page coordinates.
ONLY_IN = """
(h3) => {
  const map = window.geojtaiMap, layer = window.geojtaiCellLayers.count;
  const inside = (lat, lng, ring) => {
    let hit = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lng < (xj - xi) * (lat - yi) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  };
  const all = layer.getLayers(), target = all.find((l) => l.feature.properties.h3 === h3);
  const ring = target.feature.geometry.coordinates[0], b = target.getBounds(), c = b.getCenter();
  let best = null;
  for (let i = 1; i < 24; i++) for (let j = 1; j < 24; j++) {
    const lat = b.getSouth() + (b.getNorth() - b.getSouth()) * i / 24;
    const lng = b.getWest() + (b.getEast() - b.getWest()) * j / 24;
    if (!inside(lat, lng, ring)) continue;
    if (all.some((o) => o !== target && inside(lat, lng, o.feature.geometry.coordinates[0]))) continue;
    const d = (lat - c.lat) ** 2 + (lng - c.lng) ** 2;
    if (!best || d < best.d) best = {lat: lat, lng: lng, d: d};
  }
  if (!best) return null;
  map.setView([best.lat, best.lng], 15, {animate: false});
  const p = map.latLngToContainerPoint([best.lat, best.lng]);
  const box = map.getContainer().getBoundingClientRect();
  return {x: box.left + p.x, y: box.top + p.y};
}
"""

PLACES_OFF = """
() => Object.values(window.geojtaiPlaces).forEach((l) => window.geojtaiMap.removeLayer(l))
"""


def cells_on_canvas(tab: Tab, which: str) -> dict[str, Any]:
    return tab.page.evaluate(CELLS_ON_CANVAS, which)  # type: ignore[no-any-return]


def click_point(tab: Tab, point: dict[str, float]) -> None:
    tab.page.mouse.move(5, 5)  # away first, so the click is not taken for a drag
    tab.page.mouse.click(point["x"], point["y"])


def query_of(url: str) -> dict[str, str]:
    """A URL's query as a mapping (the filter panel writes it in the address bar)."""
    return dict(parse_qsl(urlsplit(url).query))


def panel_facts(tab: Tab) -> dict[str, str]:
    """The cell panel's facts (its ``dt``/``dd`` pairs): ``{"Incidents": "442", ...}``."""
    pairs = tab.page.evaluate(
        "() => Array.from(document.querySelectorAll('#geojtai-cell-panel dt'))"
        ".map((dt) => [dt.textContent, dt.nextElementSibling.textContent])"
    )
    return {name: value for name, value in pairs}


def panel_text(tab: Tab, h3: str) -> str:
    """The cell panel's text once it shows ``h3`` with its details."""
    panel = tab.page.locator("#geojtai-cell-panel")
    panel.locator(".cell-id", has_text=h3).wait_for(timeout=10_000)
    panel.locator("text=Agencies now").wait_for(timeout=10_000)
    return str(panel.inner_text())


# -- sign-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vera", "ed"])
def test_sign_in_through_the_form_lands_on_the_map(
    town: Server, open_tab: Callable[..., Tab], name: str
) -> None:
    tab = open_tab(town)
    page = tab.page
    page.goto(f"{town.base}/?category=robbery")
    at_login = page.url
    tab.shot(f"login-{ROLES[name]}")
    # A wrong password keeps us on the form, saying so.
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill("not the password")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    refused = page.locator("#login-error").inner_text()
    refused_status = list(tab.failures)
    tab.failures.clear()
    tab.errors.clear()  # the browser logs the 401 on the console
    page.get_by_label("Password").fill(PASSWORDS[name])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    wait_for_map(tab)
    drawn = cells_on_canvas(tab, "count")
    tab.shot(f"map-{ROLES[name]}")

    assert at_login.startswith(f"{town.base}/login?next=")
    assert refused == "Name or password is wrong."
    assert refused_status == [f"{town.base}/login 401"]
    # Back where we asked to go, filters and all, signed in with the right role.
    assert query_of(page.url) == {"category": "robbery", "resolution": "9"}
    assert f"Signed in as {name} ({ROLES[name]})" in page.locator("nav.account").inner_text()
    assert page.locator("select[name=category] option:checked").all_inner_texts() == ["robbery"]
    assert drawn["isCanvas"] and drawn["features"] > 50
    assert drawn["painted"] == drawn["inView"] > 50
    nav = page.locator("nav.nav").inner_text()
    assert ("Plan" in nav) == (ROLES[name] != "viewer")
    tab.assert_clean()


# -- the map: layers ---------------------------------------------------------------------------


def test_tiny_map_draws_every_cell_offline(browser: Any, tmp_path: Path, artefacts: Path) -> None:
    # The tiny study of test_web (no place layers, no analysis), open to visitors as editors.
    try:
        from test_web import write_tiny_study
    except ImportError:
        from tests.test_web import write_tiny_study  # type: ignore[no-redef]

    incidents = write_tiny_study(tmp_path / "study")
    h3_ids = sorted(incidents["h3"].unique())
    config = {"LOGIN_REQUIRED": False, "ANONYMOUS_ROLE": "editor", "DATABASE_URL": "sqlite://"}
    app = create_app({"STUDY_DIR": str(tmp_path / "study"), "SECRET_KEY": "t", **config})
    with serving(app) as base:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        tab = Tab(context.new_page(), base, artefacts)
        tab.page.on("request", lambda r: tab.requests.append(r.url))
        tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.page.goto(f"{base}/", wait_until="networkidle")
        tab.page.wait_for_function(
            "() => window.geojtaiCellLayers && window.geojtaiCellLayers.count"
        )
        drawn = cells_on_canvas(tab, "count")
        x, y = tab.page.evaluate(
            "(h3) => { const r = " + CELL_POINT + "; const p = r([h3, 15]); return [p.x, p.y]; }",
            h3_ids[-1],
        )
        tab.page.mouse.move(x, y)
        tooltip = tab.page.locator(".leaflet-tooltip").inner_text(timeout=5_000)
        tab.shot("tiny-map")
        context.close()

    assert drawn["isCanvas"] and drawn["features"] == len(h3_ids)
    assert drawn["inView"] == drawn["painted"] == drawn["ownColour"] == len(h3_ids)
    expected = int((incidents["h3"] == h3_ids[-1]).sum())
    assert tooltip.splitlines() == [h3_ids[-1], f"incidents: {expected}"]
    assert f"{base}/static/vendor/leaflet/leaflet.js" in tab.requests
    assert tab.off_machine() == [] and tab.errors == []


# A park's centre (the one farthest from any drawn point marker, so no marker covers it) in
# page coordinates, with its name and value. The parks must be on the map: Leaflet finds a
# polygon's centre only then.
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
  const box = map.getContainer().getBoundingClientRect();
  places.parks.eachLayer((park) => {
    const centre = park.getCenter();
    if (!map.getBounds().contains(centre)) return;
    const c = map.latLngToContainerPoint(centre);
    const top = document.elementFromPoint(box.left + c.x, box.top + c.y);
    if (!top || top.tagName !== "CANVAS") return;  // under a control (the layer list)
    const at = map.latLngToLayerPoint(centre);
    const distance = Math.min(1e9, ...markers.map((m) => m.distanceTo(at)));
    if (distance > bestDistance) { best = park; bestDistance = distance; }
  });
  const centre = best.getCenter(), p = map.latLngToContainerPoint(centre);
  return {
    latlng: [centre.lat, centre.lng], x: box.left + p.x, y: box.top + p.y,
    name: best.feature.properties.name, value: best.feature.properties.value,
  };
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


def test_place_layers_toggle(
    town: Server, sample_study: Path, open_tab: Callable[..., Tab]
) -> None:
    specs = json.loads((sample_study / "layers.json").read_text(encoding="utf-8"))
    titles = {spec["name"]: spec["title"] for spec in specs}
    counts = pd.read_parquet(sample_study / "places.parquet", columns=["layer"])["layer"]
    counts = counts.value_counts()
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    control = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    legend_off = page.locator(".geojtai-place-legend .is-off").all_inner_texts()
    parks_on = page.evaluate(LAYER_STATE, "parks")
    streets_before = page.evaluate(LAYER_STATE, "streets")
    streets_fetched_before = any("/streets.geojson" in url for url in tab.requests)

    # Parks: drawn, with a tooltip naming the park; off and on again with their checkbox.
    probe: dict[str, Any] = page.evaluate(PARK_PROBE)
    pixel_on = page.evaluate(PIXEL_AT, [*probe["latlng"], None])
    page.mouse.move(probe["x"], probe["y"])
    tooltip = page.locator(".leaflet-tooltip").inner_text(timeout=5_000)
    page.mouse.move(5, 5)
    checkbox = page.get_by_role("checkbox", name=titles["parks"])
    checkbox.uncheck()
    parks_off = page.evaluate(LAYER_STATE, "parks")
    page.wait_for_function(
        f"(p) => String(({PIXEL_AT})([...p.latlng, null])) !== String(p.on)",
        arg={"latlng": probe["latlng"], "on": pixel_on},
        timeout=5_000,
    )
    pixel_off = page.evaluate(PIXEL_AT, [*probe["latlng"], None])
    legend_parks_off = page.locator(".geojtai-place-legend .is-off").all_inner_texts()
    tab.shot("map-parks-off")
    checkbox.check()
    page.wait_for_function(
        f"(p) => String(({PIXEL_AT})([...p.latlng, null])) === String(p.on)",
        arg={"latlng": probe["latlng"], "on": pixel_on},
        timeout=5_000,
    )

    # Streets start off and are fetched the first time they are shown.
    page.get_by_role("checkbox", name=titles["streets"]).check()
    page.wait_for_function(
        "() => window.geojtaiPlaces.streets.getLayers().length > 0", timeout=10_000
    )
    streets_after = page.evaluate(LAYER_STATE, "streets")
    tab.shot("map-streets-on")

    assert all(any(title in label for label in control) for title in titles.values())
    assert legend_off == [titles["streets"]]
    assert parks_on == {"onMap": True, "features": counts["parks"], "drawn": counts["parks"]}
    assert parks_off == {"onMap": False, "features": counts["parks"], "drawn": 0}
    assert pixel_on != pixel_off and pixel_on[3] > 0
    assert sorted(legend_parks_off) == sorted([titles["streets"], titles["parks"]])
    assert (probe["name"] or "Unnamed") in tooltip and probe["value"] in tooltip
    assert streets_before == {"onMap": False, "features": 0, "drawn": 0}
    assert not streets_fetched_before
    assert streets_after == {
        "onMap": True,
        "features": counts["streets"],
        "drawn": counts["streets"],
    }
    assert f"{town.base}/api/places/streets.geojson" in tab.requests
    tab.assert_clean()


CELL_LAYER_TITLES = {
    "count": "Incidents",
    "risk": "Contextual risk",
    "hotspots": "Hot spots (Gi*)",
    "gaps": "Gaps",
}


def test_cell_layer_radio_redraws_the_canvas(town: Server, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    page.evaluate(PLACES_OFF)  # only cells on the canvas: every centre shows its cell's fill
    hot = page.evaluate(
        "(h3) => { const l = window.geojtaiCellLayers.count.getLayers()"
        ".find((c) => c.feature.properties.h3 === h3).getCenter(); return [l.lat, l.lng]; }",
        HOT_CELL,
    )
    seen: dict[str, dict[str, Any]] = {}
    digests, legends, hot_pixel = {}, {}, {}
    for name, title in CELL_LAYER_TITLES.items():
        page.get_by_role("radio", name=title).check()
        page.wait_for_function(
            "(name) => window.geojtaiActiveCells === name"
            " && window.geojtaiCellLayers[name].getLayers().length > 0"
            " && !document.querySelector('.geojtai-legend').textContent.includes('Loading')",
            arg=name,
            timeout=10_000,
        )
        page.evaluate(
            "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        seen[name] = cells_on_canvas(tab, name)
        digests[name] = page.evaluate(CANVAS_DIGEST)
        legends[name] = page.locator(".geojtai-legend strong").first.inner_text()
        on_map = page.evaluate(
            "() => Object.entries(window.geojtaiCellLayers)"
            ".filter(([n, l]) => window.geojtaiMap.hasLayer(l)).map(([n]) => n)"
        )
        assert on_map == [name]
        hot_pixel[name] = page.evaluate(PIXEL_AT, [*hot, None])
        tab.shot(f"map-layer-{name}")

    for name, drawn in seen.items():
        # Every cell of the layer in view is drawn in its own colour, and nothing else is.
        assert drawn["inView"] == drawn["painted"] == drawn["ownColour"] > 0, name
    assert seen["count"]["features"] == 340
    assert seen["risk"]["features"] > seen["count"]["features"]  # risk: every cell of the area
    assert 0 < seen["gaps"]["features"] < 100
    assert len(set(digests.values())) == len(digests)  # each layer looks different
    assert len(set(legends.values())) == len(legends)
    assert legends["risk"].startswith("Contextual risk")
    # The hot cell (a persistent hot spot with high risk) is painted in a new colour by each
    # layer but the gaps: two agencies work there, so it is no gap and is left blank, which
    # shows the count layer is off the canvas.
    assert all(hot_pixel[name][3] > 0 for name in ("count", "risk", "hotspots"))
    assert len({tuple(hot_pixel[name]) for name in ("count", "risk", "hotspots")}) == 3
    assert HOT_CELL not in seen["gaps"]["fills"] and hot_pixel["gaps"][3] == 0
    assert set(seen["risk"]["fills"].values()).isdisjoint(seen["count"]["fills"].values())
    risk_requests = [u for u in tab.requests if "/api/cells.geojson?layer=risk" in u]
    assert len(risk_requests) == 1  # fetched once, when first chosen
    tab.assert_clean()


# -- the map: filters and the cell panel --------------------------------------------------------


def test_filter_panel_redraws_cells_and_keeps_the_query(
    town: Server, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    page.evaluate(PLACES_OFF)
    before = cells_on_canvas(tab, "count")
    digest_before = page.evaluate(CANVAS_DIGEST)
    facts_before = page.locator("header .facts").inner_text()

    page.locator("select[name=category]").select_option("robbery")  # applies on change
    page.wait_for_function(
        "() => window.geojtaiFiltered"
        " && window.geojtaiFiltered.filter.description.startsWith('robbery')",
        timeout=10_000,
    )
    page.evaluate("() => window.geojtaiFiltersApplied")
    robbery = cells_on_canvas(tab, "count")
    robbery_note = page.locator("#geojtai-filter-note").inner_text()
    robbery_url = page.url
    digest_robbery = page.evaluate(CANVAS_DIGEST)

    page.locator("select[name=hours]").select_option("after_school")
    page.wait_for_function(
        "() => window.geojtaiFiltered && window.geojtaiFiltered.filter.description.includes('15:00')",
        timeout=10_000,
    )
    page.evaluate("() => window.geojtaiFiltersApplied")
    both = cells_on_canvas(tab, "count")
    both_note = page.locator("#geojtai-filter-note").inner_text()
    facts_both = page.locator("header .facts").inner_text()
    tab.shot("map-filtered")

    # The URL holds the filter: opening it again draws the same cells.
    page.goto(page.url)
    wait_for_map(tab)
    page.wait_for_function("() => window.geojtaiFiltered", timeout=10_000)
    page.evaluate("() => window.geojtaiFiltersApplied")
    page.evaluate(PLACES_OFF)
    reopened = cells_on_canvas(tab, "count")

    assert before["features"] == 340 and robbery["features"] == 323 and both["features"] < 323
    for drawn in (robbery, both, reopened):
        assert drawn["inView"] == drawn["painted"] == drawn["ownColour"]
    assert digest_robbery != digest_before
    assert robbery["fills"] != {h: before["fills"][h] for h in robbery["fills"]}
    assert query_of(robbery_url) == {"category": "robbery", "resolution": "9"}
    assert query_of(page.url) == {"category": "robbery", "hours": "after_school", "resolution": "9"}
    assert robbery_note.startswith("robbery") and "· 1,857 incidents" in robbery_note
    assert "Internal profile" in robbery_note
    assert "15:00" in both_note and both_note != robbery_note
    assert facts_before != facts_both and f"{both['features']:,} cells" in facts_both
    assert reopened["fills"] == both["fills"]
    assert page.locator("select[name=hours]").input_value() == "after_school"
    assert any("/api/cells.geojson?layer=count&category=robbery" in u for u in tab.requests)
    tab.assert_clean()


def test_click_a_cell_for_its_panel(town: Server, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    count = page.evaluate(
        "(h3) => window.geojtaiCellLayers.count.getLayers()"
        ".find((l) => l.feature.properties.h3 === h3).feature.properties.value",
        HOT_CELL,
    )
    click_point(tab, page.evaluate(CELL_POINT, [HOT_CELL, 16]))
    text = panel_text(tab, HOT_CELL)
    tab.shot("map-cell-panel")
    close = page.locator("#geojtai-cell-panel .cell-close")
    close.click()
    hidden = page.locator("#geojtai-cell-panel").is_hidden()

    facts = panel_facts(tab)
    assert facts["Incidents"] == f"{count:,}"
    assert facts["Gi* hot spot"].startswith("hot spot")
    assert facts["Contextual risk"].endswith("expected incidents next month")
    assert facts["Risk rank"] == "top 10% of the study's cells"
    assert "in or touching shopping centres and retail areas ×2.84" in text
    assert "INT-03 Bus station CCTV (cctv)" in text and "INT-04 Arndale safe haven" in text
    assert hidden
    assert any(u.startswith(f"{town.base}/api/cell/{HOT_CELL}") for u in tab.requests)
    tab.assert_clean()


def test_a_viewer_sees_the_risk_rank_not_the_risk(
    town: Server, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(town, "vera")
    tab.page.goto(f"{town.base}/")
    wait_for_map(tab)
    click_point(tab, tab.page.evaluate(CELL_POINT, [HOT_CELL, 16]))
    text = panel_text(tab, HOT_CELL)
    tab.shot("map-viewer-cell-panel")

    facts = panel_facts(tab)
    assert facts["Risk rank"] == "top 10% of the study's cells"
    assert "Contextual risk" not in facts and "Relative risk" not in facts
    assert "Harm" not in facts
    assert int(facts["Incidents"].replace(",", "")) % 5 == 0  # rounded for publication
    assert "INT-04 Arndale safe haven" in text
    tab.assert_clean()


# -- what a viewer sees --------------------------------------------------------------------------


SMALL_VALUES = """
() => {
  const values = [];
  Object.values(window.geojtaiLayers).forEach((layer) => layer.eachLayer((l) => {
    values.push(l.feature.properties.value);
  }));
  return values;
}
"""


def test_a_viewer_never_sees_a_count_below_ten(town: Server, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(town, "vera")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    unfiltered = page.evaluate(SMALL_VALUES)
    page.locator("select[name=category]").select_option("robbery")
    page.wait_for_function(
        "() => window.geojtaiFiltered"
        " && window.geojtaiFiltered.filter.description.startsWith('robbery')",
        timeout=10_000,
    )
    page.evaluate("() => window.geojtaiFiltersApplied")
    filtered = page.evaluate(SMALL_VALUES)
    note = page.locator("#geojtai-filter-note").inner_text()
    # A withheld cell (drawn faint) whose own panel withholds its count too: a quiet cell.
    withheld = page.evaluate(
        "() => window.geojtaiCellLayers.count.getLayers().map((l) => l.feature.properties)"
        ".filter((p) => p.value === null).map((p) => p.h3)"
    )
    quiet = page.evaluate(
        "async (cells) => { for (const h3 of cells) {"
        " const c = await (await fetch('/api/cell/' + h3 + '?category=robbery')).json();"
        " if (c.count === null) return h3; } return null; }",
        withheld,
    )
    point = page.evaluate(ONLY_IN, quiet)
    click_point(tab, point)
    panel_text(tab, quiet)
    facts = panel_facts(tab)
    tab.shot("map-viewer-quiet-cell")
    # The risk layer: classes, not values.
    page.get_by_role("radio", name="Contextual risk").check()
    page.wait_for_function(
        "() => window.geojtaiCellLayers.risk.getLayers().length > 0", timeout=10_000
    )
    risk_values = page.evaluate(
        "() => window.geojtaiCellLayers.risk.getLayers().map((l) => l.feature.properties.value)"
    )

    for values in (unfiltered, filtered):
        shown = [v for v in values if v is not None]
        assert len(values) > 50 and None in values
        assert all(v >= 10 and v % 5 == 0 for v in shown)  # never 1..9, rounded to 5
    assert "robbery" in note and "Counts of 1 to 9 are merged" in note
    assert quiet is not None and point is not None
    assert facts["Incidents"] == "fewer than 10"
    assert "Harm" not in facts and "Contextual risk" not in facts
    assert set(risk_values) == {None}
    tab.assert_clean()


def test_a_click_opens_the_cell_drawn_on_top(town: Server, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(town, "vera")
    page = tab.page
    page.goto(f"{town.base}/")
    wait_for_map(tab)
    # A cell shown on its own over a parent cell (merged from its quiet neighbours).
    on_top = page.evaluate(
        """() => {
          const all = window.geojtaiCellLayers.count.getLayers();
          const parents = all.filter((l) => !l.feature.properties.h3.startsWith("89"));
          const cell = all.find((l) => l.feature.properties.h3.startsWith("89")
            && parents.some((p) => p.getBounds().contains(l.getCenter())));
          return cell.feature.properties.h3;
        }"""
    )
    click_point(tab, page.evaluate(CELL_POINT, [on_top, 15]))
    page.locator("#geojtai-cell-panel .cell-id").wait_for(timeout=10_000)
    assert page.locator("#geojtai-cell-panel .cell-id").inner_text() == on_top


# -- the compare view --------------------------------------------------------------------------

CENTRES = """
() => Object.fromEntries(Object.entries(window.geojtaiCompare.maps)
  .map(([name, map]) => [name, [map.getCenter().lat, map.getCenter().lng, map.getZoom()]]))
"""


def test_compare_maps_move_together_and_show_the_gaps(
    town: Server, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/compare")
    page.wait_for_function("() => window.geojtaiCompare")
    page.evaluate("() => window.geojtaiCompare.loaded.then(() => true)")
    page.wait_for_load_state("networkidle")
    risk = cells_on_canvas(tab, "compare:risk")
    coverage = cells_on_canvas(tab, "compare:coverage")
    start = page.evaluate(CENTRES)
    tab.shot("compare-side-by-side")

    # Drag the risk map: the deployment map follows. Zoom the deployment map: the risk map does.
    box = page.locator("#compare-risk").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 80, steps=10)
    page.mouse.up()
    dragged = page.evaluate(CENTRES)
    page.locator("#compare-coverage").hover()
    page.mouse.wheel(0, -300)
    page.wait_for_function(
        "(z) => window.geojtaiCompare.maps.risk.getZoom() > z", arg=start["risk"][2], timeout=5_000
    )
    page.wait_for_timeout(400)  # the wheel zoom's animation
    zoomed = page.evaluate(CENTRES)

    # The risk × coverage tab: high risk with no coverage in red, as its table counts.
    page.get_by_role("tab", name="Risk × coverage").click()
    page.wait_for_function(
        "() => window.geojtaiCompare.maps.bivariate.getSize().x > 0", timeout=5_000
    )
    page.evaluate("() => { window.geojtaiCompare.maps.bivariate.setZoom(13, {animate: false}); }")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    red = page.evaluate(
        "() => { const out = []; window.geojtaiCompare.layers.bivariate.eachLayer((l) => {"
        " if (l.feature.properties['class'] === 'high-none') out.push([l.getCenter().lat,"
        " l.getCenter().lng, l.feature.properties.fill]); }); return out; }"
    )
    pixels = [page.evaluate(PIXEL_AT, [lat, lng, "bivariate"]) for lat, lng, _ in red]
    alert = page.locator(".bivariate-legend td.is-alert")
    alert_cells, alert_class = alert.inner_text(), alert.get_attribute("data-class")
    sentence = page.locator(".bivariate-sentence").inner_text()
    tab.shot("compare-bivariate")

    assert risk["inView"] == risk["painted"] == risk["ownColour"] > 300
    assert coverage["inView"] == coverage["painted"] > 300  # interventions drawn over some
    assert start["risk"] == start["coverage"]
    assert dragged["risk"] != start["risk"]
    # The same view to within a pixel or so (Leaflet rounds a map's pixel origin).
    assert dragged["coverage"] == pytest.approx(dragged["risk"], abs=3e-4)
    assert abs(dragged["risk"][0] - start["risk"][0]) > 3e-3  # 80 px at zoom 13: ~1 km
    assert zoomed["risk"] == pytest.approx(zoomed["coverage"], abs=3e-4)
    assert zoomed["risk"][2] > start["risk"][2]
    assert alert_class == "high-none" and int(alert_cells) == len(red) > 0
    assert sentence.startswith(f"{len(red)} of the")
    fill = red[0][2]
    rgb = [int(fill[i : i + 2], 16) for i in (1, 3, 5)]
    assert rgb[0] > 150 and rgb[1] < 100 and rgb[2] < 100  # red
    in_view = [p for p in pixels if p[3] > 0]
    assert len(in_view) >= len(red) * 0.8
    assert all(abs(p[0] - rgb[0]) <= 40 and p[1] < 120 and p[2] < 120 for p in in_view)
    tab.assert_clean()


# -- the dashboard -----------------------------------------------------------------------------


def test_dashboard_charts_and_a_gap_link_to_the_map(
    town: Server, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(town, "ed")
    page = tab.page
    page.goto(f"{town.base}/dashboard", wait_until="networkidle")
    charts = page.evaluate(
        "() => Array.from(document.querySelectorAll('svg[id^=chart-]')).map((s) => ["
        "s.id, s.getBoundingClientRect().width, s.querySelectorAll('polyline, path, rect, circle').length])"
    )
    covered = page.locator(".card", has_text="Top-risk cells covered now").locator(".figure")
    covered_text = covered.inner_text()
    link = page.locator(".gap-table a.cell-link").first
    h3 = link.inner_text()
    tab.shot("dashboard", full_page=True)
    with page.expect_navigation():
        link.click()
    wait_for_map(tab)
    text = panel_text(tab, h3)
    in_view = page.evaluate(
        "(h3) => { const map = window.geojtaiMap; const cell = window.geojtaiCellLayers.count"
        ".getLayers().find((l) => l.feature.properties.h3 === h3);"
        " return map.getBounds().contains(cell.getBounds()) && map.getZoom() >= 15; }",
        h3,
    )
    tab.shot("map-from-gap-link")

    assert [c[0] for c in charts] == ["chart-monthly", "chart-places", "chart-coverage"]
    assert all(width > 200 and marks > 5 for _, width, marks in charts)
    assert covered_text == "11.4%"
    assert page.url == f"{town.base}/?cell={h3}"
    assert "no coverage" in text
    assert in_view
    tab.assert_clean()


# -- nothing leaves the machine ------------------------------------------------------------------

PAGES = {
    "ada": [
        "/",
        "/compare",
        "/compare#view-bivariate",
        "/dashboard",
        "/interventions",
        "/interventions/new",
        "/interventions/upload",
        "/interventions/INT-04",
        "/plan",
        "/users",
    ],
    "vera": ["/", "/compare", "/dashboard", "/interventions"],
}


def test_export_this_view_and_open_the_offline_map(
    town: Server, open_tab: Callable[..., Tab], tmp_path: Path
) -> None:
    tab = open_tab(town, "vera")
    page = tab.page
    page.goto(f"{town.base}/?category=robbery")
    wait_for_map(tab)
    with page.expect_navigation():
        page.locator("#geojtai-export-link").click()
    assert "category=robbery" in page.url
    assert page.locator("#export-filters").inner_text().startswith("robbery")
    assert page.locator("#export-publishable").is_visible()
    tab.shot("export-page", full_page=True)
    page.locator("input[name=layer][value=parks]").check()
    page.locator("#export-format").select_option("html")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / caught.value.suggested_filename
    caught.value.save_as(saved)
    assert saved.suffix == ".html"
    # The file opens with no server and no network: Leaflet and the data are inside it.
    offline = open_tab(town)
    offline.page.goto(saved.as_uri())
    offline.page.wait_for_function("() => window.geojtaiExport", timeout=10_000)
    drawn = offline.page.evaluate(
        "() => Object.fromEntries(Object.entries(window.geojtaiExport.layers).map("
        "([k, l]) => [k, [window.geojtaiExport.map.hasLayer(l), l.getLayers().length]]))"
    )
    (title,) = [k for k in drawn if k.startswith("Incidents per cell")]
    counts = offline.page.evaluate(
        "(t) => window.geojtaiExport.layers[t].getLayers().map((l) => l.feature.properties.count)",
        title,
    )
    offline.shot("export-offline-map")
    assert title.startswith("Incidents per cell (robbery")
    assert drawn[title][0] and drawn[title][1] > 50
    assert drawn["Parks and open spaces"][1] == 9
    assert all(c is None or (c >= 10 and c % 5 == 0) for c in counts)
    assert [u for u in offline.requests if not u.startswith(("file:", "data:"))] == []
    assert offline.errors == [] and tab.errors == []


def test_no_page_asks_any_other_host(town: Server, open_tab: Callable[..., Tab]) -> None:
    visited: dict[str, list[str]] = {}
    signed_out = open_tab(town)
    signed_out.page.goto(f"{town.base}/login", wait_until="networkidle")
    signed_out.shot("page-login")
    visited["/login"] = signed_out.requests
    signed_out.assert_clean()
    for name, paths in PAGES.items():
        tab = open_tab(town, name)
        for path in paths:
            tab.page.goto("about:blank")  # so a page differing only in its #hash loads again
            tab.requests.clear()
            tab.page.goto(f"{town.base}{path}", wait_until="networkidle")
            if path == "/":
                wait_for_map(tab)
            slug = path.strip("/").replace("/", "-").replace("#", "-") or "map"
            tab.shot(f"page-{ROLES[name]}-{slug}")
            visited[f"{name} {path}"] = list(tab.requests)
            tab.assert_clean()
    assert all(urls for urls in visited.values())
    assert sum(len(urls) for urls in visited.values()) > 100


# -- the register: an upload changes the coverage -------------------------------------------------


def upload_file(path: Path, lon: float, lat: float) -> None:
    feature = {
        "type": "Feature",
        "properties": {
            "id": "NEW-1",
            "name": "Northgate outreach",
            "type": "detached youth work",
            "lead_agency": "voluntary sector",
            "partner_agencies": "police;council",
            "start": "2025-11-01",
            "radius_m": 250,
        },
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    path.write_text(json.dumps(collection), encoding="utf-8")


def test_an_upload_changes_the_coverage(
    sample_study: Path,
    tmp_path: Path,
    fast_passwords: None,
    open_tab: Callable[..., Tab],
) -> None:
    # Its own server: this test changes the register, so the others keep theirs as built.
    gaps = gpd.read_parquet(sample_study / "gaps.parquet")
    top = str(gaps.sort_values("risk", ascending=False).iloc[0]["h3"])
    lat, lon = (float(v[0]) for v in grid.cell_centres(grid.cells_from_hex(np.array([top]))))
    upload_file(tmp_path / "outreach.geojson", lon, lat)
    with town_server(sample_study, tmp_path / "register.sqlite") as server:
        tab = open_tab(server, "ed")
        page = tab.page
        covered = page.locator(".card", has_text="Top-risk cells covered now").locator(".figure")
        page.goto(f"{server.base}/dashboard")
        dashboard_before = covered.inner_text()
        page.goto(f"{server.base}/compare#view-bivariate", wait_until="networkidle")
        page.evaluate("() => window.geojtaiCompare.loaded.then(() => true)")
        alert_before = page.locator(".bivariate-legend td.is-alert").inner_text()
        gap_class_before = page.evaluate(
            "(h3) => window.geojtaiCompare.layers.bivariate.getLayers()"
            ".find((l) => l.feature.properties.h3 === h3).feature.properties['class']",
            top,
        )

        page.goto(f"{server.base}/interventions/upload")
        page.get_by_label("File").set_input_files(tmp_path / "outreach.geojson")
        tab.shot("register-upload-form")
        with page.expect_navigation():
            page.get_by_role("button", name="Upload").click()
        flashes = page.locator(".reg-flash").all_inner_texts()
        listed = page.locator("body").inner_text()
        tab.shot("register-after-upload", full_page=True)

        page.goto(f"{server.base}/dashboard")
        dashboard_after = covered.inner_text()
        gap_links = page.locator(".gap-table a.cell-link").all_inner_texts()
        page.goto(f"{server.base}/compare#view-bivariate", wait_until="networkidle")
        page.evaluate("() => window.geojtaiCompare.loaded.then(() => true)")
        alert_after = page.locator(".bivariate-legend td.is-alert").inner_text()
        gap_class_after = page.evaluate(
            "(h3) => window.geojtaiCompare.layers.bivariate.getLayers()"
            ".find((l) => l.feature.properties.h3 === h3).feature.properties['class']",
            top,
        )
        tab.shot("compare-after-upload")
        tab.assert_clean()

    assert any(f.startswith("Upload: NEW-1") for f in flashes)
    assert any(f.startswith("Top-10% risk cells covered: 11% → ") for f in flashes)
    assert "Northgate outreach" in listed
    assert dashboard_before == "11.4%"
    assert float(dashboard_after.rstrip("%")) > float(dashboard_before.rstrip("%"))
    assert top not in gap_links
    assert gap_class_before == "high-none" and gap_class_after.startswith("high-")
    assert gap_class_after != "high-none"
    assert int(alert_after) < int(alert_before)
