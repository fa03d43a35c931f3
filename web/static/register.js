/* geojtai: the map of the interventions register's pages (an entry, the add and edit forms).
 *
 * Reads its settings from <script id="register-page" type="application/json">: geometry and
 * radius_m of the entry (or null), bounds of the study, the URLs of the interventions and gap
 * layers, and tiles. Shows the study's gaps and other interventions faintly for orientation,
 * the entry on top, and, when the page has an entry form, attaches the drawing tool (draw.js).
 */
(function () {
  "use strict";

  var holder = document.getElementById("register-page");
  var box = document.getElementById("register-map");
  if (!holder || !box || typeof L === "undefined") { return; }
  var page = JSON.parse(holder.textContent);

  var map = window.GeojtaiDraw.baseMap(box, page);
  var load = map.geojtaiLoad;

  if (page.has_gaps) {
    load(page.gaps_url, {
      style: function (f) {
        return { stroke: false, fillColor: f.properties.fill || "#f4a261", fillOpacity: 0.35 };
      },
      interactive: false
    });
  }
  load(page.interventions_url, {
    style: function () { return { color: "#6e7781", weight: 1, fillOpacity: 0.05 }; },
    pointToLayer: function (f, ll) {
      return L.circle(ll, { radius: f.properties.radius_m || 100, color: "#6e7781", weight: 1, fillOpacity: 0.05 });
    },
    onEachFeature: function (f, layer) {
      layer.bindTooltip(String(f.properties.id) + (f.properties.name ? " · " + f.properties.name : ""));
    }
  });

  var geometry = page.geometry;
  if (geometry) {
    var shown = L.geoJSON(geometry);
    var b = shown.getBounds();
    if (b.isValid()) { map.fitBounds(b.pad(geometry.type === "Point" ? 8 : 0.5), { maxZoom: 17 }); }
  }

  var form = document.getElementById("entry-form");
  if (form && window.GeojtaiDraw) {
    window.GeojtaiDraw.attach(map, {
      output: document.getElementById("f-geometry"),
      radius: document.getElementById("f-radius_m"),
      controls: document.getElementById("draw-tools"),
      status: document.getElementById("draw-status"),
      shown: geometry
    });
  } else if (geometry) {
    var style = { color: "#d1495b", weight: 3, fillOpacity: 0.15 };
    L.geoJSON(geometry, {
      style: function () { return style; },
      pointToLayer: function (f, ll) { return L.circle(ll, Object.assign({ radius: page.radius_m || 100 }, style)); }
    }).addTo(map);
  }
})();
