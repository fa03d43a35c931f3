/* geojtai drawing tool: draw one point (with a radius), polygon or route on a Leaflet map and
 * write it as a GeoJSON geometry (EPSG:4326, lon/lat, 6 decimals) into a form field.
 *
 *   var tool = GeojtaiDraw.attach(map, {
 *     output: document.getElementById("f-geometry"),   // textarea or hidden input (required)
 *     radius: document.getElementById("f-radius_m"),   // the point's radius in metres (optional)
 *     controls: document.getElementById("draw-tools"), // where the buttons go (required)
 *     status: document.getElementById("draw-status"),  // a live region for hints (optional)
 *     shown: geometry,                                 // a geometry to show before any drawing
 *     onChange: function (geometry) {}                 // after each finished drawing or clear
 *   });
 *
 * Point: one click (again to move it). Area: click each vertex; double-click or "Finish"
 * closes it (3 vertices at least). Route: the same, 2 vertices at least. "Undo" removes the
 * last vertex while drawing; "Clear" empties the field. Editing a geometry means redrawing it.
 * Every control is a real button, and the field itself can be typed or pasted into.
 * No dependency but Leaflet.
 */
(function () {
  "use strict";

  var MODES = [
    { name: "point", label: "Point", min: 1, hint: "Click where it is; set its radius in the form." },
    { name: "polygon", label: "Area", min: 3, hint: "Click each corner; double-click or Finish to close the area." },
    { name: "line", label: "Route", min: 2, hint: "Click along the route; double-click or Finish to end it." }
  ];
  var STYLE = { color: "#d1495b", weight: 3, fillOpacity: 0.15 };
  var SAME_PX = 5; // a click this close to the last vertex is the double-click's echo

  function round(x) { return Math.round(x * 1e6) / 1e6; }
  function lonLat(ll) { return [round(ll.lng), round(ll.lat)]; }

  function button(text, title) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (title) { b.title = title; }
    return b;
  }

  function parse(text) {
    if (!text || !text.trim()) { return null; }
    try {
      var g = JSON.parse(text);
      if (g && g.type === "Feature") { g = g.geometry; }
      return g && g.type && g.coordinates ? g : null;
    } catch (e) {
      return null;
    }
  }

  function attach(map, opts) {
    var layer = L.layerGroup().addTo(map);
    var state = { mode: null, vertices: [], geometry: null };
    var buttons = {};

    function say(text) { if (opts.status) { opts.status.textContent = text; } }

    function radius() {
      var r = opts.radius ? parseFloat(opts.radius.value) : NaN;
      return isFinite(r) && r > 0 ? r : 100;
    }

    function show(geometry) {
      if (!geometry) { return; }
      if (geometry.type === "Point") {
        var c = geometry.coordinates;
        L.circle([c[1], c[0]], Object.assign({ radius: radius() }, STYLE)).addTo(layer);
        L.circleMarker([c[1], c[0]], { radius: 4, color: STYLE.color, fillOpacity: 1 }).addTo(layer);
      } else {
        L.geoJSON(geometry, { style: function () { return STYLE; } }).addTo(layer);
      }
    }

    function redraw() {
      layer.clearLayers();
      if (state.mode && state.vertices.length) {
        var latlngs = state.vertices.slice();
        if (state.mode === "polygon" && latlngs.length >= 3) {
          L.polygon(latlngs, Object.assign({ dashArray: "4 4" }, STYLE)).addTo(layer);
        } else {
          L.polyline(latlngs, Object.assign({ dashArray: "4 4" }, STYLE)).addTo(layer);
        }
        latlngs.forEach(function (ll) {
          L.circleMarker(ll, { radius: 4, color: STYLE.color, fillOpacity: 1 }).addTo(layer);
        });
        return;
      }
      show(state.geometry || opts.shown || null);
    }

    function write(geometry) {
      state.geometry = geometry;
      opts.output.value = geometry ? JSON.stringify(geometry) : "";
      opts.output.dispatchEvent(new Event("change", { bubbles: true }));
      if (opts.onChange) { opts.onChange(geometry); }
      redraw();
    }

    function setMode(name) {
      state.mode = name;
      state.vertices = [];
      MODES.forEach(function (m) {
        buttons[m.name].setAttribute("aria-pressed", String(m.name === name));
      });
      buttons.finish.disabled = !name || name === "point";
      buttons.undo.disabled = !name;
      if (name && name !== "point") { map.doubleClickZoom.disable(); } else { map.doubleClickZoom.enable(); }
      map.getContainer().style.cursor = name ? "crosshair" : "";
      var mode = MODES.filter(function (m) { return m.name === name; })[0];
      say(mode ? mode.hint : "");
      redraw();
    }

    function finish() {
      var mode = state.mode;
      var v = state.vertices;
      if (!mode) { return; }
      var need = MODES.filter(function (m) { return m.name === mode; })[0].min;
      if (v.length < need) {
        say("A " + (mode === "polygon" ? "area" : "route") + " needs at least " + need + " points; " + v.length + " so far.");
        return;
      }
      var geometry;
      if (mode === "point") {
        geometry = { type: "Point", coordinates: lonLat(v[0]) };
      } else if (mode === "line") {
        geometry = { type: "LineString", coordinates: v.map(lonLat) };
      } else {
        var ring = v.map(lonLat);
        ring.push(ring[0]);
        geometry = { type: "Polygon", coordinates: [ring] };
      }
      setMode(null);
      write(geometry);
      say((mode === "point" ? "Point" : mode === "line" ? "Route" : "Area") + " drawn (" + v.length + " points).");
    }

    function undo() {
      if (state.vertices.length) {
        state.vertices.pop();
        say(state.vertices.length + " points so far.");
        redraw();
      }
    }

    map.on("click", function (e) {
      if (!state.mode) { return; }
      var v = state.vertices;
      if (v.length) {
        var last = map.latLngToContainerPoint(v[v.length - 1]);
        if (last.distanceTo(e.containerPoint) < SAME_PX) { return; }
      }
      if (state.mode === "point") {
        state.vertices = [e.latlng];
        finish();
        return;
      }
      v.push(e.latlng);
      say(v.length + " points so far.");
      redraw();
    });
    map.on("dblclick", function (e) {
      if (state.mode === "polygon" || state.mode === "line") {
        L.DomEvent.stop(e);
        finish();
      }
    });

    MODES.forEach(function (m) {
      var b = button(m.label, m.hint);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () { setMode(state.mode === m.name ? null : m.name); });
      buttons[m.name] = b;
      opts.controls.appendChild(b);
    });
    buttons.finish = button("Finish", "Close the area or end the route");
    buttons.finish.addEventListener("click", finish);
    buttons.undo = button("Undo", "Remove the last point");
    buttons.undo.addEventListener("click", undo);
    buttons.clear = button("Clear", "Empty the geometry field");
    buttons.clear.addEventListener("click", function () {
      setMode(null);
      opts.shown = null;
      write(null);
      say("Cleared.");
    });
    [buttons.finish, buttons.undo, buttons.clear].forEach(function (b) { opts.controls.appendChild(b); });
    setMode(null);

    // Typed or pasted GeoJSON is shown as soon as it parses; the radius redraws a point.
    opts.output.addEventListener("input", function () {
      state.geometry = parse(opts.output.value);
      redraw();
    });
    if (opts.radius) { opts.radius.addEventListener("input", redraw); }
    state.geometry = parse(opts.output.value);
    redraw();

    return {
      geometry: function () { return state.geometry; },
      clear: function () { setMode(null); write(null); },
      layer: layer
    };
  }

  // A map for the register and planning pages: optional tiles, fitted to the study, and a
  // loader that adds a GeoJSON layer from the API (nothing when it cannot be fetched).
  function baseMap(box, page) {
    var map = L.map(box);
    if (page.tiles) {
      L.tileLayer(page.tiles, { attribution: page.attribution || "", maxZoom: 19 }).addTo(map);
    }
    if (page.bounds) { map.fitBounds(page.bounds); } else { map.setView([52.5, -1.5], 12); }
    map.geojtaiLoad = function (url, options) {
      return fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { return data ? L.geoJSON(data, options).addTo(map) : null; })
        .catch(function () { return null; });
    };
    return map;
  }

  window.GeojtaiDraw = { attach: attach, parse: parse, baseMap: baseMap };
})();
