/* geojtai: the planning page's map. Suggested sites as circles with their rank; what-if
 * proposals and the cells they would newly cover; and the drawing tool (draw.js) that turns
 * each drawn proposal into a feature of the form's "proposals" FeatureCollection.
 *
 * Settings come from <script id="plan-page" type="application/json">.
 */
(function () {
  "use strict";

  var holder = document.getElementById("plan-page");
  var box = document.getElementById("plan-map");
  if (!holder || !box || typeof L === "undefined") { return; }
  var page = JSON.parse(holder.textContent);

  var map = window.GeojtaiDraw.baseMap(box, page);
  var load = map.geojtaiLoad;
  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  function pct(x) { return x === null || x === undefined ? "–" : Math.round(x * 100) + "%"; }

  // Context: the gaps (where risk is high and cover thin) and the interventions running.
  if (page.has_gaps) {
    load(page.gaps_url, {
      style: function (f) { return { stroke: false, fillColor: f.properties.fill || "#f4a261", fillOpacity: 0.4 }; },
      interactive: false
    });
  }
  load(page.interventions_url, {
    style: function () { return { color: "#6e7781", weight: 1, fillOpacity: 0.05 }; },
    pointToLayer: function (f, ll) {
      return L.circle(ll, { radius: f.properties.radius_m || 100, color: "#6e7781", weight: 1, fillOpacity: 0.05 });
    },
    onEachFeature: function (f, layer) { layer.bindTooltip(String(f.properties.id)); }
  });

  // Suggested sites: a circle of the team's radius, labelled with its rank.
  var s = page.suggested;
  if (s && s.suggestions && s.suggestions.length) {
    var group = L.featureGroup().addTo(map);
    s.suggestions.forEach(function (row) {
      var circle = L.circle([row.lat, row.lon], { radius: s.radius_m, color: "#1d3a5f", weight: 2, fillOpacity: 0.15 });
      circle.bindTooltip(String(row.rank), { permanent: true, direction: "center", className: "plan-label" });
      circle.bindPopup(
        "<strong>#" + row.rank + "</strong> " + (row.place_name || row.place_type || "") +
        "<br>gain " + fmt(row.gain, 1) + " · share " + pct(row.share_of_total) +
        "<br><code>" + row.h3 + "</code>"
      );
      group.addLayer(circle);
    });
    map.fitBounds(group.getBounds().pad(0.3));
  }

  // What-if: the proposals and the cells they would newly cover.
  var w = page.what_if;
  if (w) {
    if (w.newly_covered && w.newly_covered.features.length) {
      L.geoJSON(w.newly_covered, {
        style: function () { return { color: "#2a9d8f", weight: 1, fillColor: "#2a9d8f", fillOpacity: 0.45 }; },
        interactive: false
      }).addTo(map);
    }
    var shown = L.geoJSON(w.proposals_geojson, {
      style: function () { return { color: "#d1495b", weight: 3, fillOpacity: 0.1 }; },
      pointToLayer: function (f, ll) {
        return L.circle(ll, { radius: f.properties.radius_m || 100, color: "#d1495b", weight: 3, fillOpacity: 0.1 });
      },
      onEachFeature: function (f, layer) { layer.bindTooltip(String(f.properties.id) + " · " + (f.properties.name || "")); }
    }).addTo(map);
    if (shown.getBounds().isValid()) { map.fitBounds(shown.getBounds().pad(0.5), { maxZoom: 16 }); }
  }

  // Drawing proposals: each "Add proposal" appends a feature to the form's FeatureCollection.
  var output = document.getElementById("w-geometry");
  var proposals = document.getElementById("w-proposals");
  var list = document.getElementById("w-list");
  var add = document.getElementById("w-add");
  if (!output || !proposals || !window.GeojtaiDraw) { return; }
  var status = document.getElementById("draw-status");
  var tool = window.GeojtaiDraw.attach(map, {
    output: output,
    radius: document.getElementById("f-radius_m"),
    controls: document.getElementById("draw-tools"),
    status: status
  });
  var features = [];
  var counter = 0;
  var drawn = L.featureGroup().addTo(map);

  function value(id) { var el = document.getElementById(id); return el ? el.value.trim() : ""; }

  function render() {
    proposals.value = features.length ? JSON.stringify({ type: "FeatureCollection", features: features }) : "";
    drawn.clearLayers();
    list.textContent = "";
    features.forEach(function (f, i) {
      L.geoJSON(f, {
        style: function () { return { color: "#d1495b", weight: 2, dashArray: "3 3", fillOpacity: 0.1 }; },
        pointToLayer: function (g, ll) { return L.circle(ll, { radius: g.properties.radius_m || 100, color: "#d1495b", weight: 2, dashArray: "3 3" }); }
      }).addTo(drawn);
      var item = document.createElement("li");
      item.textContent = f.properties.name + " (" + f.geometry.type + ") ";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + f.properties.name);
      remove.addEventListener("click", function () { features.splice(i, 1); render(); });
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  add.addEventListener("click", function () {
    var geometry = window.GeojtaiDraw.parse(output.value);
    if (!geometry) {
      status.textContent = "Draw a point, area or route first (or paste a GeoJSON geometry).";
      return;
    }
    counter += 1;
    var n = counter;
    var props = {
      id: "P-" + n,
      name: value("w-name") || "Proposal " + n,
      lead_agency: value("w-lead"),
      partner_agencies: value("w-partners")
    };
    if (geometry.type === "Point") { props.radius_m = parseFloat(value("f-radius_m")) || 100; }
    features.push({ type: "Feature", properties: props, geometry: geometry });
    tool.clear();
    render();
    status.textContent = "Added " + props.name + "; " + features.length + " proposal(s).";
  });
})();
