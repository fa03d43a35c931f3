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
  if (cells) overlays["Incidents per cell"] = cells;
  page.layers.forEach(function (spec) {
    var label = swatch(spec) + '<span class="geojtai-layer-name" data-layer="' + esc(spec.name) + '">' +
      esc(spec.title) + "</span> <small>(" + number(spec.count) + ")</small>";
    overlays[label] = places[spec.name];
  });

  var legend = null;
  if (page.layers.length) {
    window.geojtaiLayerControl = L.control.layers(null, overlays, {collapsed: false, position: "topright"}).addTo(map);
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
  if (cells) cells.on("add", restack);
  page.layers.forEach(function (spec) {
    if (spec.shown) places[spec.name].addTo(map);
  });
  restack();
  updateLegend();
  window.geojtaiPlaces = places;

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
        '<td class="share-bar"><span style="width:' + (100 * row.share_incidents).toFixed(1) +
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
})();
