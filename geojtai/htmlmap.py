"""A standalone offline HTML map: one file with Leaflet, the data and the legend inlined.

The page asks nothing of the network (no tiles, no CDN): it opens from a USB stick or an
e-mail attachment on a machine with no internet. Each layer's colours come from its
:class:`~geojtai.symbology.LayerStyle`, worked out here so the page's script only draws.
This module builds text; :mod:`geojtai.io.exporters` writes it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import orjson

from geojtai.maps import frame_geojson, script_json
from geojtai.symbology import LayerStyle

__all__ = ["HtmlLayer", "LeafletAssets", "standalone_map"]

_COLOUR = "_colour"  # the property that carries each feature's colour


@dataclass(frozen=True)
class LeafletAssets:
    """Leaflet's script and stylesheet (images already inlined as data URIs)."""

    js: str
    css: str


@dataclass(frozen=True)
class HtmlLayer:
    """A layer of the page: its features (EPSG:4326), style and whether it starts shown."""

    name: str
    frame: gpd.GeoDataFrame
    style: LayerStyle
    shown: bool = True


def standalone_map(
    layers: Sequence[HtmlLayer],
    assets: LeafletAssets,
    *,
    title: str,
    subtitle: str,
    marking: str,
    attribution: str,
    disclosure: str,
    metadata: Mapping[str, str],
) -> str:
    """The whole page as text.

    Parameters
    ----------
    layers
        Drawn in order (the first at the bottom); the map fits the shown layers.
    assets
        Leaflet, inlined.
    title, subtitle
        Page heading.
    marking
        Protective marking, shown at the top and bottom of the page.
    attribution
        Data sources and licences (shown in the map's attribution box).
    disclosure
        The disclosure rule applied, shown under the legend.
    metadata
        Written as ``<meta name="geojtai:KEY">`` elements.
    """
    data = [_layer_data(layer) for layer in layers]
    metas = "\n".join(
        f'<meta name="geojtai:{html.escape(k)}" content="{html.escape(v)}">'
        for k, v in metadata.items()
    )
    legend = "".join(_legend(layer.style) for layer in layers if layer.shown)
    # Leaflet inserts the attribution and the layer names as HTML: give it escaped text.
    heads = [{**d[0], "title": html.escape(str(d[0]["title"]))} for d in data]
    config = orjson.dumps({"attribution": html.escape(attribution), "layers": heads})
    features = "\n".join(
        f'<script type="application/json" id="layer-{i}">{d[1]}</script>'
        for i, d in enumerate(data)
    )
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(subtitle),
        marking=html.escape(marking),
        description=html.escape(disclosure),
        metas=metas,
        css=assets.css,
        js=assets.js,
        legend=legend,
        disclosure=html.escape(disclosure),
        config=script_json(config),
        features=features,
        script=_SCRIPT,
    )


def _layer_data(layer: HtmlLayer) -> tuple[dict[str, object], str]:
    style = layer.style
    values = layer.frame[style.attribute] if style.attribute else [None] * len(layer.frame)
    properties = [c for c in layer.frame.columns if c != layer.frame.geometry.name]
    collection = frame_geojson(
        layer.frame, properties=properties, computed={_COLOUR: style.colours(values).tolist()}
    )
    head = {
        "name": layer.name,
        "title": style.title,
        "kind": style.kind,
        "shown": layer.shown,
        "opacity": style.fill_opacity,
        "outline": style.outline,
        "weight": style.line_width * 1.33,  # points → CSS pixels
        "radius": style.point_size,
    }
    return head, script_json(collection)


def _legend(style: LayerStyle) -> str:
    rows = [(c.colour, c.label) for c in style.classes] or [(style.colour, style.title)]
    if style.no_data:
        rows.append((style.no_data_colour, style.no_data))
    items = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(label)}</li>'
        for colour, label in rows
    )
    return f"<h3>{html.escape(style.title)}</h3><ul>{items}</ul>"


_SCRIPT = """
(function () {
  var config = JSON.parse(document.getElementById('geojtai-config').textContent);
  var map = L.map('map', {preferCanvas: true, attributionControl: true});
  map.attributionControl.setPrefix('Leaflet').addAttribution(config.attribution);
  L.control.scale({imperial: false}).addTo(map);
  var overlays = {}, bounds = null;
  config.layers.forEach(function (info, i) {
    var data = JSON.parse(document.getElementById('layer-' + i).textContent);
    var layer = L.geoJSON(data, {
      style: function (f) {
        var c = f.properties._colour;
        if (info.kind === 'line') { return {color: c, weight: info.weight, opacity: 0.9}; }
        return {color: info.outline || c, weight: info.outline ? info.weight : 0,
                fillColor: c, fillOpacity: info.opacity};
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {radius: info.radius, color: info.outline || '#333',
          weight: 0.5, fillColor: f.properties._colour, fillOpacity: info.opacity});
      },
      onEachFeature: function (f, l) {
        var rows = Object.keys(f.properties).filter(function (k) { return k !== '_colour'; })
          .map(function (k) {
            var v = f.properties[k];
            var td = document.createElement('td'); td.textContent = v === null ? '–' : v;
            var th = document.createElement('th'); th.textContent = k;
            var tr = document.createElement('tr'); tr.appendChild(th); tr.appendChild(td);
            return tr.outerHTML;
          });
        l.bindPopup('<table>' + rows.join('') + '</table>');
      }
    });
    overlays[info.title] = layer;
    if (info.shown) {
      layer.addTo(map);
      var b = layer.getBounds();
      if (b.isValid()) { bounds = bounds ? bounds.extend(b) : b; }
    }
  });
  L.control.layers(null, overlays, {collapsed: false}).addTo(map);
  if (bounds) { map.fitBounds(bounds); } else { map.setView([53.0, -1.8], 6); }
  window.geojtaiExport = {map: map, layers: overlays};  // for scripts and tests
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<meta name="description" content="{description}">
{metas}
<style>{css}</style>
<style>
html, body {{ margin: 0; height: 100%; font: 14px system-ui, sans-serif; color: #1f2328; }}
body {{ display: flex; flex-direction: column; }}
.marking {{ background: #1f2328; color: #fff; text-align: center; font-weight: 700;
  letter-spacing: .08em; padding: 2px; }}
header {{ padding: 6px 12px; }}
header h1 {{ font-size: 18px; margin: 0; }}
header p {{ margin: 2px 0 0; color: #57606a; }}
main {{ flex: 1; display: flex; min-height: 0; }}
#map {{ flex: 1; background: #f6f8fa; }}
aside {{ width: 280px; overflow: auto; padding: 8px 12px; border-left: 1px solid #d0d7de; }}
aside h3 {{ font-size: 13px; margin: 10px 0 4px; }}
aside ul {{ list-style: none; padding: 0; margin: 0; }}
aside li {{ display: flex; align-items: center; gap: 6px; margin: 2px 0; }}
.swatch {{ width: 14px; height: 14px; border: 1px solid #57606a; flex: none; }}
.note {{ font-size: 12px; background: #fff8c5; border: 1px solid #d4a72c; padding: 6px;
  margin-top: 12px; }}
.leaflet-popup-content table {{ border-collapse: collapse; font-size: 12px; }}
.leaflet-popup-content th {{ text-align: left; padding-right: 8px; color: #57606a; }}
</style>
</head>
<body>
<div class="marking" role="note">{marking}</div>
<header><h1>{title}</h1><p>{subtitle}</p></header>
<main>
<div id="map" role="region" aria-label="Map"></div>
<aside aria-label="Legend">{legend}<p class="note"><strong>Disclosure control.</strong>
{disclosure}</p></aside>
</main>
<div class="marking" role="note">{marking}</div>
<script>{js}</script>
<script type="application/json" id="geojtai-config">{config}</script>
{features}
<script>{script}</script>
</body>
</html>
"""
