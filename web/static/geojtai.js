/* geojtai: the study's place layers on the map, their legend, and where incidents happened.
 *
 * Reads the page settings from <script id="geojtai-page"> (place layers with their styles and
 * GeoJSON URLs, the place question's URL) and the map that the folium script left in
 * window.geojtaiMap. Each place layer is fetched from the API the first time it is shown, and
 * drawn on the map's one canvas renderer, styled from its features' properties (colour, fill,
 * fill_opacity, weight, radius), over the incident cells.
 *
 * For scripts and browser tests: window.geojtaiPlaces maps each layer's name to its
 * L.GeoJSON layer and window.geojtaiLayerControl is the layer control; each layer's
 * `geojtaiLoaded` is null until it is first shown, then a promise settled once it is drawn.
 */
(function () {
  "use strict";

  var settings = document.getElementById("geojtai-page");
  var map = window.geojtaiMap;
  if (!settings || !map) return;
  var page = JSON.parse(settings.textContent);
  var renderer = map.options.renderer || (map.options.renderer = L.canvas({padding: 0.5}));
  var TOP_SHOWN = 3; // named places per place type in the panel

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function number(x) {
    return Number(x).toLocaleString("en-GB");
  }

  function percent(share) {
    if (share === null || share === undefined) return "–";
    var p = 100 * share;
    return (p > 0 && p < 0.1 ? "<0.1" : p.toFixed(1)) + "%";
  }

  // -- the layers ------------------------------------------------------------------------

  function style(feature) {
    var p = feature.properties;
    return {
      color: p.colour, weight: p.weight, opacity: 1,
      fill: p.fill_opacity > 0, fillColor: p.fill, fillOpacity: p.fill_opacity,
      radius: p.radius
    };
  }

  function tooltip(spec) {
    return function (layer) {
      var p = layer.feature.properties;
      var what = p.value === null ? "" : esc(p.value) + (p["class"] ? " (" + esc(p["class"]) + ")" : "");
      return "<strong>" + esc(p.name === null ? "Unnamed" : p.name) + "</strong><br>" +
        esc(spec.title) + (what ? "<br>" + what : "");
    };
  }

  function placeLayer(spec) {
    var layer = L.geoJSON(null, {
      renderer: renderer,
      style: style,
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, {renderer: renderer});
      }
    }).bindTooltip(tooltip(spec), {sticky: true});
    layer.geojtaiSpec = spec;
    layer.geojtaiLoaded = null;
    // Fetch on first show, so a layer left off (streets) costs nothing.
    layer.on("add", function () {
      if (layer.geojtaiLoaded) return;
      layer.geojtaiLoaded = fetch(spec.url, {headers: {Accept: "application/geo+json"}})
        .then(function (response) {
          if (!response.ok) throw new Error(spec.url + ": HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          layer.addData(data);
          restack();
        })
        .catch(function (error) {
          failed(spec, error);
          throw error;
        });
    });
    layer.on("add remove", updateLegend);
    layer.on("add", restack);
    return layer;
  }

  var places = {};
  page.layers.forEach(function (spec) { places[spec.name] = placeLayer(spec); });
  var byPriority = page.layers.map(function (spec) { return places[spec.name]; });

  // Bottom to top: the cells, areas, lines, points; within a kind the most specific layer
  // (first in priority) uppermost, so a shopping centre is not hidden under a park.
  // Areas go over the cells, or a cell's colour would hide them; inside an area its
  // tooltip wins, and turning the area's layer off gives the cells' back.
  function restack() {
    ["polygon", "line", "point"].forEach(function (kind) {
      byPriority.slice().reverse().forEach(function (layer) {
        if (layer.geojtaiSpec.kind === kind && map.hasLayer(layer)) layer.bringToFront();
      });
    });
    if (interventions && map.hasLayer(interventions)) interventions.bringToFront();
  }

  // -- the cell layers and the interventions --------------------------------------------

  function fetchJson(url) {
    return fetch(url, {headers: {Accept: "application/json"}}).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.json();
    });
  }

  function cellLayer(spec) {
    var layer = L.geoJSON(null, {
      renderer: renderer,
      style: function (f) {
        var p = f.properties;
        return {fillColor: p.fill, fillOpacity: p.fill_opacity, color: p.fill, weight: 1,
                opacity: Math.min(1, p.fill_opacity + 0.2)};
      }
    }).bindTooltip(function (l) {
      var p = l.feature.properties;
      return esc(p.h3) + "<br>" + esc(p.label);
    }, {sticky: true});
    layer.geojtaiSpec = spec;
    layer.geojtaiLegend = null;
    layer.geojtaiLoaded = null;
    layer.on("add", function () {
      if (layer.geojtaiLoaded) return;
      layer.geojtaiLoaded = fetchJson(spec.url).then(function (data) {
        layer.geojtaiLegend = data.legend;
        layer.addData(data);
        if (window.geojtaiActiveCells === spec.name) showCellLegend(spec.name);
        restack();
      }).catch(function (error) {
        cellLegendHtml('<strong>' + esc(spec.title) + "</strong><div>Could not load: " + esc(error.message) + "</div>");
        throw error;
      });
    });
    return layer;
  }

  var cellLegendBox = document.querySelector(".geojtai-legend");
  var countLegend = cellLegendBox ? cellLegendBox.innerHTML : "";

  function cellLegendHtml(html) {
    if (cellLegendBox) cellLegendBox.innerHTML = html;
  }

  function showCellLegend(name) {
    if (name === "count") return cellLegendHtml(countLegend);
    var legendData = cellLayers[name].geojtaiLegend;
    if (!legendData) return cellLegendHtml("<strong>" + esc(cellLayers[name].geojtaiSpec.title) + "</strong><div>Loading…</div>");
    cellLegendHtml("<strong>" + esc(legendData.title) + "</strong>" + legendData.items.map(function (item) {
      return '<div><i style="background:' + esc(item.colour) + '"></i>' + esc(item.label) + "</div>";
    }).join("") + (legendData.note ? '<div class="geojtai-empty">' + esc(legendData.note) + "</div>" : ""));
  }

  function months(p) {
    return (p.start_month || "?") + " to " + (p.end_month || "now");
  }

  function interventionPopup(layer) {
    var p = layer.feature.properties;
    var partners = p.partner_agencies.length ? p.partner_agencies.join(", ") : "none";
    return "<strong>" + esc(p.name) + "</strong><br>" + esc(p.type) +
      "<br>Lead: " + esc(p.lead_agency) + "<br>Partners: " + esc(partners) +
      "<br>Active: " + esc(months(p)) +
      "<br>" + esc((p.days || "").split(";").join(", ")) + (p.hours ? " · " + esc(p.hours) : "");
  }

  function interventionLayer(spec) {
    var layer = L.geoJSON(null, {
      renderer: renderer,
      style: function (f) {
        var c = f.properties.colour;
        return {color: c, weight: 3, opacity: 0.9, fillColor: c, fillOpacity: 0.2, dashArray: "6 4"};
      },
      pointToLayer: function (feature, latlng) {
        var r = feature.properties.radius_m;
        return r ? L.circle(latlng, {radius: r, renderer: renderer}) : L.circleMarker(latlng, {radius: 6, renderer: renderer});
      }
    }).bindPopup(interventionPopup).bindTooltip(function (l) { return esc(l.feature.properties.name); }, {sticky: true});
    layer.geojtaiLoaded = null;
    layer.on("add", function () {
      if (layer.geojtaiLoaded) return;
      layer.geojtaiLoaded = fetchJson(spec.url).then(function (data) {
        layer.addData(data);
        restack();
      });
    });
    layer.on("add", restack);
    return layer;
  }


  // -- the layer control and the legend --------------------------------------------------

  function swatch(spec) {
    var s = spec.style, kind = spec.kind;
    var css = kind === "line"
      ? "height:0;border-top:" + Math.max(2, s.weight) + "px solid " + s.colour + ";vertical-align:4px;"
      : "background:" + s.fill_colour + ";opacity:1;box-shadow:inset 0 0 0 1px " + s.colour + ";" +
        (kind === "point" ? "border-radius:50%;" : "");
    return '<i class="geojtai-swatch geojtai-swatch-' + esc(kind) + '" style="' + esc(css) + '"></i>';
  }

  var overlays = {};
  var cells = Object.values(window.geojtaiLayers || {})[0];
  page.layers.forEach(function (spec) {
    var label = swatch(spec) + '<span class="geojtai-layer-name" data-layer="' + esc(spec.name) + '">' +
      esc(spec.title) + "</span> <small>(" + number(spec.count) + ")</small>";
    overlays[label] = places[spec.name];
  });
  var interventions = page.interventions && page.interventions.count ? interventionLayer(page.interventions) : null;
  if (interventions) {
    overlays['<span class="geojtai-layer-name" data-layer="interventions">Interventions</span> <small>(' +
      number(page.interventions.count) + ")</small>"] = interventions;
  }

  // The cell layers, one shown at a time (radio buttons): the incident counts drawn by the
  // folium script, and the study's other layers fetched from the API when first chosen.
  var cellLayers = {}, bases = {};
  if (cells) {
    (page.cell_layers || []).forEach(function (spec) {
      cellLayers[spec.name] = spec.name === "count" ? cells : cellLayer(spec);
      bases['<span class="geojtai-cell-layer" data-cell-layer="' + esc(spec.name) + '">' + esc(spec.title) + "</span>"] =
        cellLayers[spec.name];
    });
  }
  window.geojtaiCellLayers = cellLayers;
  window.geojtaiActiveCells = "count";

  var legend = null;
  if (page.layers.length || Object.keys(bases).length > 1 || interventions) {
    window.geojtaiLayerControl = L.control.layers(
      Object.keys(bases).length > 1 ? bases : null, overlays, {collapsed: false, position: "topright"}
    ).addTo(map);
  }
  if (page.layers.length) {
    legend = L.control({position: "bottomleft"});
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "geojtai-box geojtai-place-legend");
      div.innerHTML = "<strong>Places</strong>" + page.layers.map(function (spec) {
        return '<div data-layer="' + esc(spec.name) + '">' + swatch(spec) + esc(spec.title) + "</div>";
      }).join("");
      return div;
    };
    legend.addTo(map);
  }

  function legendRow(spec) {
    return legend ? legend.getContainer().querySelector('[data-layer="' + spec.name + '"]') : null;
  }

  // The legend dims the layers that are off.
  function updateLegend() {
    page.layers.forEach(function (spec) {
      var row = legendRow(spec);
      if (row) row.classList.toggle("is-off", !map.hasLayer(places[spec.name]));
    });
  }

  function failed(spec, error) {
    var row = legendRow(spec);
    if (row) {
      row.classList.add("is-failed");
      row.title = "Could not load this layer: " + error.message;
    }
  }

  // Cells shown again come back on top of the canvas: put the place layers back over them.
  Object.keys(cellLayers).forEach(function (name) {
    cellLayers[name].on("add", function () {
      window.geojtaiActiveCells = name;
      showCellLegend(name);
      restack();
    });
  });
  page.layers.forEach(function (spec) {
    if (spec.shown) places[spec.name].addTo(map);
  });
  restack();
  updateLegend();
  window.geojtaiPlaces = places;

  // -- the cell panel: click a cell for everything the study knows about it ------------

  function inside(latlng, ring) {
    var x = latlng.lng, y = latlng.lat, hit = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  function cellAt(latlng) {
    var layer = cellLayers[window.geojtaiActiveCells];
    if (!layer || !map.hasLayer(layer)) return null;
    // The last match is the one drawn on top (merged parent cells come first, underneath).
    var found = null;
    layer.eachLayer(function (l) {
      var g = l.feature.geometry;
      if (g.type === "Polygon" && l.getBounds().contains(latlng) && inside(latlng, g.coordinates[0])) {
        found = l.feature.properties.h3;
      }
    });
    return found;
  }

  function sparkline(series) {
    // Suppressed months (null) break the line rather than being drawn as zero.
    var w = 240, h = 44, n = series.length;
    var max = Math.max.apply(null, series.filter(function (v) { return v !== null; }).concat([1]));
    var runs = [[]];
    series.forEach(function (v, i) {
      if (v === null) { if (runs[runs.length - 1].length) runs.push([]); return; }
      runs[runs.length - 1].push((n > 1 ? (i * w) / (n - 1) : w / 2).toFixed(1) + "," +
        (h - 2 - (v * (h - 4)) / max).toFixed(1));
    });
    var lines = runs.filter(function (r) { return r.length; }).map(function (r) {
      return '<polyline fill="none" stroke="#bd0026" stroke-width="1.5" points="' + r.join(" ") + '"/>';
    }).join("");
    return '<svg class="sparkline" viewBox="0 0 ' + w + " " + h + '" width="' + w + '" height="' + h +
      '" role="img" aria-label="incidents per month">' + lines + "</svg>";
  }

  function fact(name, value) {
    return value === null || value === undefined || value === "" ? "" :
      "<dt>" + esc(name) + "</dt><dd>" + value + "</dd>";
  }

  function cellHtml(c) {
    var place = c.place_type ? esc(c.place_title || c.place_type) + (c.place_name ? ": " + esc(c.place_name) : "") : "";
    var interventionsHtml = c.interventions.length ? "<ul>" + c.interventions.map(function (i) {
      return "<li>" + esc(i.id) + " " + esc(i.name) + " (" + esc(i.type) + ")</li>";
    }).join("") + "</ul>" : "none";
    var factors = c.risk_factors.length ? "<ul>" + c.risk_factors.map(function (f) {
      return "<li>" + esc(f) + "</li>";
    }).join("") + "</ul>" : "none";
    return '<p class="cell-id">' + esc(c.h3) + "</p><dl>" +
      fact("Place", place) +
      fact("Incidents", c.count === null ? esc(c.count_text || "suppressed") : number(c.count)) +
      fact("Harm", c.harm === null || c.harm === undefined ? null : number(c.harm)) +
      fact("Gi* hot spot", c.gi_class ? esc(c.gi_class) : null) +
      fact("Emerging", c.emerging ? esc(c.emerging) : null) +
      fact("Contextual risk", c.risk === null || c.risk === undefined ? null : esc(c.risk.toFixed(2)) + " expected incidents next month") +
      fact("Relative risk", c.relative_risk === null || c.relative_risk === undefined ? null : "×" + esc(c.relative_risk.toFixed(2))) +
      fact("Risk rank", c.risk_class ? esc(c.risk_class) + " of the study's cells" : null) +
      (c.cells > 1 ? fact("Cells", number(c.cells) + " study cells in this larger cell") : "") +
      fact("Gap", c.gap ? esc(c.gap) : null) +
      "</dl><h3>Incidents per month</h3>" + sparkline(c.series) +
      '<p class="places-note">' + esc(c.months[0] || "") + " to " + esc(c.months[c.months.length - 1] || "") + "</p>" +
      "<h3>Risk factors</h3>" + factors +
      "<h3>Interventions now</h3>" + interventionsHtml +
      "<h3>Agencies now</h3><p>" + (c.agencies.length ? esc(c.agencies.join(", ")) : "none") + "</p>";
  }

  var cellPanel = document.getElementById("geojtai-cell-panel");
  function showCell(h3, fit) {
    if (!cellPanel || !page.cell_url) return;
    var body = cellPanel.querySelector(".cell-body");
    cellPanel.hidden = false;
    body.innerHTML = '<p class="places-note">Loading…</p>';
    map.invalidateSize();
    fetchJson(withQuery(page.cell_url + encodeURIComponent(h3), filterQuery(FILTER_FIELDS)))
      .then(function (c) {
        body.innerHTML = cellHtml(c);
        if (fit && c.bounds) map.fitBounds(c.bounds, {maxZoom: 16, padding: [60, 60]});
      })
      .catch(function (error) { body.innerHTML = '<p class="places-note">' + esc(error.message) + "</p>"; });
  }
  map.on("click", function (e) {
    var h3 = cellAt(e.latlng);
    if (h3) showCell(h3);
  });
  if (cellPanel) {
    cellPanel.querySelector(".cell-close").addEventListener("click", function () {
      cellPanel.hidden = true;
      map.invalidateSize();
    });
  }
  window.geojtaiShowCell = showCell;
  window.geojtaiInterventions = interventions;

  // -- the place question ----------------------------------------------------------------

  function panelHtml(answer) {
    if (!answer.shares.length || !answer.total_incidents) {
      return '<p class="places-note">No incidents in this period.</p>';
    }
    var colours = {};
    page.layers.forEach(function (spec) { colours[spec.name] = spec.style.fill_colour; });
    var rows = answer.shares.map(function (row) {
      var colour = colours[row.place_type] || "#9e9e9e";
      return '<tr data-place-type="' + esc(row.place_type) + '"><th scope="row">' + esc(row.title) + "</th>" +
        '<td class="num">' + percent(row.share_incidents) + "</td>" +
        '<td class="num">' + percent(row.share_harm) + "</td>" +
        '<td class="share-bar"><span style="width:' + (100 * (row.share_incidents || 0)).toFixed(1) +
        "%;background:" + esc(colour) + '"></span></td></tr>';
    }).join("");
    var top = {};
    answer.top_places.forEach(function (row) {
      if (row.rank <= TOP_SHOWN) (top[row.title] = top[row.title] || []).push(row);
    });
    var named = Object.keys(top).map(function (title) {
      return "<li><strong>" + esc(title) + "</strong>: " + top[title].map(function (row) {
        return esc(row.place_name) + " (" + number(row.incidents) + ")";
      }).join(", ") + "</li>";
    }).join("");
    return "<p>" + number(answer.total_incidents) + " incidents by place type</p>" +
      '<table class="places-share"><thead><tr><th scope="col">Place</th>' +
      '<th scope="col" class="num">Incidents</th><th scope="col" class="num">Harm</th>' +
      '<th scope="col"><span class="visually-hidden">Share</span></th></tr></thead>' +
      "<tbody>" + rows + "</tbody></table>" +
      (answer.shares.some(function (r) { return r.incidents === null; })
        ? '<p class="places-note">– : ' + esc(page.suppressed) + " incidents, not shown</p>" : "") +
      (named ? '<h3>Most incidents, whole study</h3><ul class="top-places">' + named + "</ul>" : "");
  }

  var panel = document.querySelector("#geojtai-places-panel .places-body");
  if (panel && page.summary_url) {
    fetch(page.summary_url, {headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error(page.summary_url + ": HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) { panel.innerHTML = panelHtml(answer); })
      .catch(function (error) {
        panel.innerHTML = '<p class="places-note">Could not load the place summary (' + esc(error.message) + ").</p>";
      });
  }

  // -- filters: redraw the incident cells, the place question and the interventions -----

  var filterForm = document.getElementById("geojtai-filters");
  var filterNote = document.getElementById("geojtai-filter-note");
  var FILTER_FIELDS = ["from", "to", "category", "source", "age", "place_type", "weekday", "hours", "resolution"];
  var INTERVENTION_FIELDS = ["agency", "type"];
  window.geojtaiFilterVersion = 0;

  // The request's filters, as the form says them: multi-selects comma-joined, empty left out.
  function filterQuery(fields) {
    var query = new URLSearchParams();
    if (page.study) query.set("study", page.study);
    if (!filterForm) return query;
    fields.forEach(function (name) {
      var input = filterForm.elements[name];
      if (!input) return;
      var value = input.multiple
        ? Array.prototype.filter.call(input.options, function (o) { return o.selected; })
            .map(function (o) { return o.value; }).join(",")
        : input.value;
      if (value) query.set(name, value);
    });
    return query;
  }

  function withQuery(url, query) {
    var q = query.toString();
    return q ? url + (url.indexOf("?") < 0 ? "?" : "&") + q : url;
  }

  function setNote(html, bad) {
    if (!filterNote) return;
    filterNote.innerHTML = html;
    filterNote.classList.toggle("is-error", !!bad);
  }

  function readError(response) {
    return response.json().then(
      function (body) { throw new Error(body.error || "HTTP " + response.status); },
      function () { throw new Error("HTTP " + response.status); }
    );
  }

  // Redraw the incident layer with the filtered counts (the folium layer keeps its place in
  // the layer control), then the place question and the interventions overlay.
  function applyFilters() {
    var query = filterQuery(FILTER_FIELDS);
    var version = ++window.geojtaiFilterVersion;
    setNote("Updating…");
    var countUrl = withQuery(page.count_url, query);
    var loads = [];
    if (cells) {
      loads.push(fetch(countUrl, {headers: {Accept: "application/geo+json"}}).then(function (response) {
        if (!response.ok) return readError(response);
        return response.json();
      }).then(function (data) {
        if (version !== window.geojtaiFilterVersion) return;
        cells.clearLayers();
        cells.addData(data);
        countLegend = legendHtml(data.legend);
        if (window.geojtaiActiveCells === "count") showCellLegend("count");
        restack();
        var f = data.filter || {};
        setText("geojtai-fact-period", f.description);
        setText("geojtai-fact-total", f.total_text);
        setText("geojtai-fact-cells", number(data.features.length) + " cells");
        setNote(esc(f.description || "All incidents") + " · " + esc(f.incidents_text || "") +
          (f.unknown_time_excluded ? " · " + number(f.unknown_time_excluded) + " without a time left out" : "") +
          (f.rule ? '<br><span class="rule">' + esc(f.rule) + "</span>" : ""));
        window.geojtaiFiltered = {version: version, cells: data.features.length, filter: f};
      }));
    }
    if (panel && page.summary_url) {
      loads.push(fetchJson(withQuery(page.summary_url.split("?")[0], query)).then(function (answer) {
        if (version === window.geojtaiFilterVersion) panel.innerHTML = panelHtml(answer);
      }));
    }
    if (interventions) {
      var ivQuery = filterQuery(INTERVENTION_FIELDS);
      loads.push(fetchJson(withQuery(page.interventions.url, ivQuery)).then(function (data) {
        if (version !== window.geojtaiFilterVersion) return;
        interventions.clearLayers();
        interventions.addData(data);
        interventions.geojtaiLoaded = interventions.geojtaiLoaded || Promise.resolve();
      }));
    }
    if (window.history && window.history.replaceState) {
      var all = filterQuery(FILTER_FIELDS.concat(INTERVENTION_FIELDS));
      window.history.replaceState(null, "", withQuery(window.location.pathname, all));
    }
    window.geojtaiFiltersApplied = Promise.all(loads).catch(function (error) {
      if (version === window.geojtaiFilterVersion) setNote(esc(error.message), true);
    });
    return window.geojtaiFiltersApplied;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && text) el.textContent = text;
  }

  function legendHtml(legendData) {
    if (!legendData) return "";
    return "<strong>" + esc(legendData.title) + "</strong>" + legendData.items.map(function (item) {
      return '<div><i style="background:' + esc(item.colour) + '"></i>' + esc(item.label) + "</div>";
    }).join("") + (legendData.note ? '<div class="geojtai-empty">' + esc(legendData.note) + "</div>" : "");
  }

  if (cells) {
    // Withheld counts (null) and cells merged into a parent are drawn faint with a dashed
    // edge, so the cells shown on their own stand out over them.
    cells.options.style = function (f) {
      var p = f.properties;
      if (p.value === null) {
        return {fillColor: p.fill, fillOpacity: 0.2, color: "#8c8c8c", weight: 1, opacity: 0.8, dashArray: "4 3"};
      }
      if (p.rolled_up) {
        return {fillColor: p.fill, fillOpacity: 0.45, color: p.fill, weight: 1.5, opacity: 1, dashArray: "4 3"};
      }
      return {fillColor: p.fill, fillOpacity: 0.7, color: p.fill, weight: 1, opacity: 1};
    };
    // Tooltips from the feature's own label once counts come from the API (suppressed
    // counts are labelled, not shown).
    cells.unbindTooltip().bindTooltip(function (l) {
      var p = l.feature.properties;
      var text = p.label || ("incidents: " + (p.value === null ? page.suppressed : number(p.value)));
      return esc(p.h3) + "<br>" + esc(text) +
        (p.rolled_up ? "<br>merged from " + number(p.rolled_up) + " smaller cells with few incidents" : "");
    }, {sticky: true});
  }
  if (filterForm) {
    filterForm.addEventListener("submit", function (e) { e.preventDefault(); applyFilters(); });
    filterForm.addEventListener("change", function () { applyFilters(); });
    filterForm.addEventListener("reset", function () { window.setTimeout(applyFilters, 0); });
    if (page.filtered) applyFilters();
  }
  window.geojtaiApplyFilters = applyFilters;

  // -- ?cell=H3: open the map on one cell (links from the dashboard's gap list) --------

  if (page.cell) showCell(page.cell, true);
})();
