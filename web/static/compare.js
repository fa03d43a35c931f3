/* geojtai compare: risk and deployment side by side, and the risk × coverage map.
 *
 * Reads its settings from <script id="compare-page"> (the GeoJSON URLs, tiles). Each map
 * draws its cells on a canvas renderer, styled from the features' properties (fill,
 * fill_opacity), as the map page does. The maps are synchronised: moving or zooming one
 * moves the others (a flag stops the echo), and a map shown again from its tab takes the
 * view of the last one moved.
 *
 * For scripts and browser tests: window.geojtaiCompare holds the maps, their layers and
 * `loaded`, a promise settled once every layer has been drawn (or has failed).
 */
(function () {
  "use strict";

  var settingsElement = document.getElementById("compare-page");
  if (!settingsElement || !window.L) return;
  var page = JSON.parse(settingsElement.textContent);
  var GB = [53.0, -1.8];

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function fetchJson(url) {
    return fetch(url, {headers: {Accept: "application/json"}}).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.error || url + ": HTTP " + response.status);
        return body;
      });
    });
  }

  function newMap(id) {
    var element = document.getElementById(id);
    if (!element) return null;
    var map = L.map(element, {renderer: L.canvas({padding: 0.5}), maxZoom: 19, zoomSnap: 0.25})
      .setView(GB, 6);
    if (page.tiles) {
      L.tileLayer(page.tiles, {attribution: page.attribution || "", maxZoom: 19}).addTo(map);
    }
    return map;
  }

  function box(map, position, className) {
    var control = L.control({position: position});
    control.onAdd = function () { return L.DomUtil.create("div", "compare-box " + className); };
    control.addTo(map);
    return control.getContainer();
  }

  // -- the layers ----------------------------------------------------------------------------

  function cellStyle(feature) {
    var p = feature.properties;
    var alert = p["class"] === "high-none";
    return {
      fillColor: p.fill, fillOpacity: p.fill_opacity,
      color: alert ? "#67000d" : p.fill, weight: alert ? 2 : 1,
      opacity: alert ? 1 : Math.min(1, p.fill_opacity + 0.2)
    };
  }

  function cells(map, data) {
    return L.geoJSON(data, {renderer: map.options.renderer, style: cellStyle})
      .bindTooltip(function (layer) {
        var p = layer.feature.properties;
        return "<strong>" + esc(p.h3) + "</strong><br>" + esc(p.label);
      }, {sticky: true})
      .addTo(map);
  }

  function agencies(p) {
    var all = [p.lead_agency].concat(p.partner_agencies || []).filter(function (a) { return a; });
    return all.length ? all.join(", ") : "none recorded";
  }

  function interventions(map, data) {
    return L.geoJSON(data, {
      renderer: map.options.renderer,
      style: function (f) {
        var c = f.properties.colour;
        return {color: c, weight: 3, opacity: 0.9, fillColor: c, fillOpacity: 0.15, dashArray: "6 4"};
      },
      pointToLayer: function (feature, latlng) {
        var r = feature.properties.radius_m;
        return r ? L.circle(latlng, {radius: r, renderer: map.options.renderer})
          : L.circleMarker(latlng, {radius: 6, renderer: map.options.renderer});
      }
    }).bindTooltip(function (layer) {
      var p = layer.feature.properties;
      return "<strong>" + esc(p.name || p.id) + "</strong><br>" + esc(p.type || "") +
        "<br>Agencies: " + esc(agencies(p));
    }, {sticky: true}).addTo(map);
  }

  function legendHtml(legend) {
    var items = (legend.items || []).map(function (item) {
      var cells = item.cells === undefined ? "" : " <small>(" + Number(item.cells).toLocaleString("en-GB") + ")</small>";
      return '<div><i style="background:' + esc(item.colour) + '"></i>' + esc(item.label) + cells + "</div>";
    }).join("");
    var note = legend.note ? '<div class="compare-note-small">' + esc(legend.note) + "</div>" : "";
    return "<strong>" + esc(legend.title) + "</strong>" + items + note;
  }

  function failed(container, title, error) {
    container.innerHTML = "<strong>" + esc(title) + "</strong><div class=\"compare-note-small\">" + esc(error.message) + "</div>";
  }

  // -- the maps ----------------------------------------------------------------------------

  var maps = {
    risk: newMap("compare-risk"),
    coverage: newMap("compare-coverage"),
    bivariate: newMap("compare-bivariate")
  };
  var layers = {};
  var fitted = false;

  function fit(layer) {
    if (fitted || !layer.getLayers().length) return;
    fitted = true;
    var bounds = layer.getBounds();
    Object.keys(maps).forEach(function (name) {
      if (maps[name]) maps[name].fitBounds(bounds, {animate: false, padding: [8, 8]});
    });
  }

  // Fetch one cell layer and draw it; its legend goes in legendBox (the bivariate map's
  // legend is the table beside it, so it has none: a failure is said on the map instead).
  function load(name, url, legendBox, title) {
    var map = maps[name];
    if (!map) return Promise.resolve(null);
    return fetchJson(url).then(function (data) {
      var layer = cells(map, data);
      layers[name] = layer;
      if (legendBox && data.legend) legendBox.innerHTML = legendHtml(data.legend);
      fit(layer);
      return layer;
    }).catch(function (error) {
      failed(legendBox || box(map, "bottomright", "compare-legend"), title, error);
      return null;
    });
  }

  var loads = [
    load("coverage", page.coverage_url, maps.coverage && box(maps.coverage, "bottomright", "compare-legend"),
      "Coverage now")
  ];
  if (maps.risk) {
    var riskBox = box(maps.risk, "bottomright", "compare-legend");
    if (page.has_risk) {
      loads.push(load("risk", page.risk_url, riskBox, "Contextual risk"));
    } else {
      riskBox.innerHTML = "<strong>Contextual risk</strong><div class=\"compare-note-small\">not in this study</div>";
    }
  }
  if (maps.coverage) {
    loads.push(fetchJson(page.interventions_url).then(function (data) {
      layers.interventions = interventions(maps.coverage, data);
      layers.interventions.bringToFront();
      return layers.interventions;
    }).catch(function () { return null; }));
  }
  if (maps.bivariate && page.has_risk) {
    loads.push(load("bivariate", page.bivariate_url, null, "Risk × coverage"));
  }
  // The interventions stay over the coverage cells whichever arrives first.
  var loaded = Promise.all(loads).then(function () {
    if (layers.interventions) layers.interventions.bringToFront();
    return layers;
  });

  // -- keeping the maps together ----------------------------------------------------------

  var syncing = false;
  var lastView = null;

  function visible(map) {
    return map && map.getContainer().offsetParent !== null;
  }

  function follow(source) {
    if (syncing) return;
    syncing = true;
    try {
      lastView = {center: source.getCenter(), zoom: source.getZoom()};
      Object.keys(maps).forEach(function (name) {
        var map = maps[name];
        if (map && map !== source && visible(map)) map.setView(lastView.center, lastView.zoom, {animate: false});
      });
    } finally {
      syncing = false;
    }
  }

  Object.keys(maps).forEach(function (name) {
    var map = maps[name];
    if (map) map.on("move zoomend", function () { if (visible(map)) follow(map); });
  });

  // -- the tabs ----------------------------------------------------------------------------

  var tabs = Array.prototype.slice.call(document.querySelectorAll('.compare-tabs [role="tab"]'));

  function select(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
    // A map shown again takes the last view; its resize must not become the last view.
    var view = lastView;
    syncing = true;
    try {
      Object.keys(maps).forEach(function (name) {
        var map = maps[name];
        if (!visible(map)) return;
        map.invalidateSize({animate: false});
        if (view) map.setView(view.center, view.zoom, {animate: false});
      });
    } finally {
      syncing = false;
    }
    if (history.replaceState) history.replaceState(null, "", "#" + tab.getAttribute("aria-controls"));
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { select(tab); });
    tab.addEventListener("keydown", function (e) {
      var step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      var next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
  var wanted = tabs.filter(function (t) { return "#" + t.getAttribute("aria-controls") === location.hash; })[0];
  if (wanted) select(wanted);

  window.geojtaiCompare = {maps: maps, layers: layers, loaded: loaded, select: select};
})();
