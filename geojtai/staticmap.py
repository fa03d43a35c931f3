"""Static maps for board papers and evidence packs: matplotlib Figures, PNG and PDF bytes.

A map is a list of :class:`MapLayer` (a frame and its :class:`~geojtai.symbology.LayerStyle`)
drawn in British National Grid, with the furniture a printed map needs: title, protective
marking at the top and bottom edge, legend, scale bar, north arrow, attribution and a
disclosure note. Nothing here touches disk; :func:`figure_png` and :func:`figure_pdf` return
bytes for an exporter to write.

Figures are built on the Agg canvas directly (``matplotlib.figure.Figure``, never pyplot), so
there is no global figure state and maps can be drawn from several threads of the web app.

Polygons are drawn as one compound path per colour (a few paths per layer, not one per
feature), which keeps 50,000 H3 cells well under a few seconds at 150 dpi
(``benchmarks/bench_staticmap.py``).

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> from geojtai.symbology import LayerStyle
>>> frame = gpd.GeoDataFrame(geometry=[box(400000, 430000, 401000, 431000)], crs="EPSG:27700")
>>> fig = static_map(
...     [MapLayer(frame, LayerStyle(title="Area", kind="polygon"))],
...     title="Study area", marking="OFFICIAL", attribution="Contains OS data", disclosure="",
... )
>>> figure_png(fig, dpi=50)[:8]
b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import patheffects, transforms
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path

from geojtai.crs import BNG
from geojtai.errors import CRSError, SchemaError
from geojtai.symbology import LayerStyle

__all__ = ["MapLayer", "figure_pdf", "figure_png", "static_map"]

# Page furniture, in inches from the page edges, so any page size keeps the same margins.
_MARGIN_IN = 0.35  # left and right page margin
_PANEL_IN = 2.9  # width of the legend panel right of the map
_GUTTER_IN = 0.25  # between the map and the legend panel
_MAP_TOP_IN = 1.0  # from the top edge: marking, title and subtitle sit above the map
_MAP_BOTTOM_IN = 0.62  # from the bottom edge: attribution and the bottom marking sit below
_MARGIN_FRACTION = 0.05  # around the extent layer's bounds
_ROUND_STEPS = (1.0, 2.0, 5.0)  # scale bar lengths: 1, 2, 5 × 10^n metres
_PATH_RINGS = 20_000  # rings per compound path: bounds the work Agg does on one path
_HALO = (patheffects.withStroke(linewidth=2.0, foreground="white"),)
_PDF_KEYS = {"title": "Title", "author": "Author", "subject": "Subject", "keywords": "Keywords"}
_PDF_KEYS |= {"creator": "Creator", "description": "Subject", "disclosure": "Subject"}
_KIND_TYPES = {"polygon": (3, 6), "line": (1, 2, 5), "point": (0, 4)}  # shapely type ids
# Geometries a layer of each style kind may hold: a polygon layer (an intervention's
# footprints: areas, circles, routes) may also hold lines and points, drawn as such.
_ALLOWED_TYPES = {"polygon": (0, 1, 2, 3, 4, 5, 6), "line": (1, 2, 5), "point": (0, 4)}


@dataclass(frozen=True)
class MapLayer:
    """One layer of a static map.

    Attributes
    ----------
    frame
        The features; any CRS (reprojected to EPSG:27700), but a CRS is required.
    style
        How the features are drawn, and their legend entries.
    legend
        Whether the layer has a section in the legend (context layers often do not).
    label_column
        A column whose values are written at each feature's representative point.
    """

    frame: gpd.GeoDataFrame
    style: LayerStyle
    legend: bool = True
    label_column: str | None = None


@dataclass(frozen=True)
class _Layout:
    """Where the map, the legend panel and the text sit, in figure fractions."""

    width_in: float
    height_in: float

    def x(self, inches: float) -> float:
        return inches / self.width_in

    def y(self, inches: float) -> float:
        return inches / self.height_in

    @property
    def map_box(self) -> tuple[float, float, float, float]:
        """``left, bottom, width, height`` of the map axes."""
        width = self.width_in - 2 * _MARGIN_IN - _GUTTER_IN - _PANEL_IN
        height = self.height_in - _MAP_TOP_IN - _MAP_BOTTOM_IN
        return (self.x(_MARGIN_IN), self.y(_MAP_BOTTOM_IN), self.x(width), self.y(height))

    @property
    def map_in(self) -> tuple[float, float]:
        """Width and height of the map in inches."""
        _, _, w, h = self.map_box
        return w * self.width_in, h * self.height_in

    @property
    def panel_left(self) -> float:
        return self.x(self.width_in - _MARGIN_IN - _PANEL_IN)


def static_map(
    layers: Sequence[MapLayer],
    *,
    title: str,
    subtitle: str = "",
    marking: str,
    attribution: str,
    disclosure: str,
    extent_from: int = 0,
    size_in: tuple[float, float] = (11.69, 8.27),
) -> Figure:
    """Draw layers on a printable map page (A4 landscape by default).

    Parameters
    ----------
    layers
        Drawn in order (the first at the bottom); every frame is reprojected to EPSG:27700.
    title, subtitle
        Written at the top of the page.
    marking
        The protective marking ("OFFICIAL"), centred in bold at the top and bottom edges.
    attribution
        Data sources and copyright, small at the bottom of the page (wrapped).
    disclosure
        A note on suppression or rounding, boxed under the legend ("" for none).
    extent_from
        The index of the layer whose bounds (plus 5 %) the map shows; the others are
        context, cut off at the map's edge.
    size_in
        The page size in inches.

    Returns
    -------
    Figure
        On an Agg canvas; pass it to :func:`figure_png` or :func:`figure_pdf`.

    Raises
    ------
    CRSError
        A layer has no CRS (the message names the layer's title).
    SchemaError
        A style's attribute or label column is missing, a geometry does not match the
        style's kind, or ``extent_from`` is not a layer.
    """
    # Check every layer and reproject to BNG, raising once for all problems.
    frames = _checked_frames(layers, extent_from)
    # Fit the extent to the map's box so the axes fill it at equal aspect.
    layout = _Layout(*size_in)
    extent = _extent(frames, extent_from, layout.map_in)
    fig = Figure(figsize=size_in)
    FigureCanvasAgg(fig)
    ax = _map_axes(fig, layout, extent)
    # Draw the layers in order, then their labels above every layer.
    for frame, layer in zip(frames, layers, strict=True):
        for kind, part in _by_kind(frame, layer.style):
            _DRAWERS[kind](ax, part, layer.style)
    for frame, layer in zip(frames, layers, strict=True):
        if layer.label_column is not None:
            lift = layer.style.point_size / 2 + 2 if layer.style.kind == "point" else 0.0
            _draw_labels(ax, frame, layer.label_column, extent, lift_pt=lift)
    # Furniture: scale bar and north arrow in the map, legend and text around it.
    _scale_bar(ax, extent, metres_per_pt=(extent[1] - extent[0]) / (layout.map_in[0] * 72))
    _north_arrow(ax)
    _legend(fig, layout, [layer.style for layer in layers if layer.legend])
    _heading(fig, layout, title, subtitle, marking)
    _notes(fig, layout, attribution, disclosure)
    return fig


def figure_png(fig: Figure, *, dpi: int = 150, metadata: Mapping[str, str] | None = None) -> bytes:
    """Render a figure to PNG bytes, with ``metadata`` as PNG text chunks.

    Parameters
    ----------
    fig
        A figure from :func:`static_map` or :mod:`geojtai.charts`.
    dpi
        Dots per inch; an A4 page at 150 dpi is 1753 × 1240 pixels.
    metadata
        Text chunks, key to value (keys: 1–79 Latin-1 characters). Values outside Latin-1
        are stored as international text.
    """
    text = dict(metadata or {})
    bad = [k for k in text if not (0 < len(k) < 80 and k.isprintable() and _latin1(k))]
    if bad:
        msg = f"PNG metadata keys must be 1-79 printable Latin-1 characters; {bad} were given."
        raise ValueError(msg)
    buffer = io.BytesIO()
    _canvas(fig).print_figure(buffer, format="png", dpi=dpi, metadata=text)
    return buffer.getvalue()


def figure_pdf(fig: Figure, *, metadata: Mapping[str, str] | None = None) -> bytes:
    """Render a figure to PDF bytes, with ``metadata`` in the document information.

    Title, Author, Subject, Keywords and Creator go through as they are (any case);
    ``Description`` and ``Disclosure`` become the Subject; any other key is added to the
    Keywords as ``key: value``. No creation date is written, so the bytes are reproducible.

    Parameters
    ----------
    fig
        A figure from :func:`static_map` or :mod:`geojtai.charts`.
    metadata
        Key to value.
    """
    buffer = io.BytesIO()
    _canvas(fig).print_figure(buffer, format="pdf", metadata=_pdf_info(metadata or {}))
    return buffer.getvalue()


# --- checks and extent --------------------------------------------------------------------


def _checked_frames(layers: Sequence[MapLayer], extent_from: int) -> list[gpd.GeoDataFrame]:
    """Every layer's frame in BNG; raise once naming every problem."""
    crs_problems, problems = [], []
    if not -len(layers) <= extent_from < len(layers):
        problems.append(f"`extent_from` was {extent_from} but there are {len(layers)} layers")
    frames = []
    for layer in layers:
        name, frame, style = layer.style.title, layer.frame, layer.style
        if frame.crs is None:
            crs_problems.append(f"layer {name!r} has no CRS; set one (e.g. EPSG:27700)")
            continue
        columns = [style.attribute, layer.label_column]
        problems += [
            f"layer {name!r} has no column {c!r}"
            for c in columns
            if c is not None and c not in frame
        ]
        types = shapely.get_type_id(frame.geometry.to_numpy())
        wrong = int(np.sum((types >= 0) & ~np.isin(types, _ALLOWED_TYPES[style.kind])))
        if wrong:
            problems.append(
                f"layer {name!r} is styled as {style.kind} but {wrong} geometries are not"
            )
        frames.append(frame.to_crs(BNG))
    if crs_problems or problems:
        msg = "Cannot draw the map: " + "; ".join(crs_problems + problems) + "."
        raise (CRSError if crs_problems else SchemaError)(msg)
    return frames


def _extent(
    frames: Sequence[gpd.GeoDataFrame], extent_from: int, box_in: tuple[float, float]
) -> tuple[float, float, float, float]:
    """``x0, x1, y0, y1``: the extent layer's bounds plus 5 %, widened to the box's shape.

    Falls back to every layer's bounds when the extent layer is empty, and pads a point-like
    extent to 1 km.
    """
    bounds = np.asarray(frames[extent_from].total_bounds, dtype=float)
    if not np.isfinite(bounds).all():
        every = np.array([f.total_bounds for f in frames if not f.geometry.is_empty.all()])
        found = len(every) and np.isfinite(every).all()
        bounds = np.r_[every[:, :2].min(0), every[:, 2:].max(0)] if found else np.zeros(4)
    x0, y0, x1, y1 = bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    if w <= 0 and h <= 0:
        w = h = 1000.0
    w, h = w * (1 + 2 * _MARGIN_FRACTION), h * (1 + 2 * _MARGIN_FRACTION)
    shape = box_in[1] / box_in[0]
    w, h = max(w, h / shape), max(h, w * shape)
    return (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)


def _map_axes(fig: Figure, layout: _Layout, extent: tuple[float, float, float, float]) -> Axes:
    """The map axes: no ticks, a thin neat line, equal aspect, fixed limits."""
    ax = fig.add_axes(layout.map_box)
    ax.set_autoscale_on(False)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.6)
    return ax


# --- layers -------------------------------------------------------------------------------


def _rgba(colours: np.ndarray, alpha: float | None = None) -> np.ndarray:
    """``(n, 4)`` RGBA for an array of ``#rrggbb`` strings, converting each distinct one once."""
    unique, inverse = np.unique(np.asarray(colours, dtype=str), return_inverse=True)
    table = to_rgba_array(list(unique)) if len(unique) else np.zeros((0, 4))
    if alpha is not None:
        table[:, 3] = alpha
    return table[inverse.reshape(-1)]


def _feature_colours(frame: gpd.GeoDataFrame, style: LayerStyle) -> np.ndarray:
    values = frame[style.attribute] if style.attribute else np.zeros(len(frame))
    return np.asarray(style.colours(values), dtype=str)


def _parts(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty single-part geometries and the row each came from."""
    parts, owner = shapely.get_parts(frame.geometry.to_numpy(), return_index=True)
    keep = ~shapely.is_empty(parts)
    return parts[keep], owner[keep]


def _ring_path(coords: np.ndarray, ring: np.ndarray) -> Path:
    """One compound path from closed rings' coordinates and each vertex's ring number."""
    starts = np.r_[True, ring[1:] != ring[:-1]]
    ends = np.r_[ring[1:] != ring[:-1], True]
    codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
    codes[starts] = Path.MOVETO
    codes[ends] = Path.CLOSEPOLY
    return Path(coords, codes)


def _by_kind(frame: gpd.GeoDataFrame, style: LayerStyle) -> list[tuple[str, gpd.GeoDataFrame]]:
    """The frame split by geometry kind: polygons, then lines, then points (a polygon
    style's lines and points are drawn as lines and points in its colours)."""
    if style.kind != "polygon":
        return [(style.kind, frame)]
    types = shapely.get_type_id(frame.geometry.to_numpy())
    out = []
    for kind in ("polygon", "line", "point"):
        rows = np.isin(types, _KIND_TYPES[kind])
        if rows.any():
            out.append((kind, frame if rows.all() else frame.loc[rows]))
    return out


def _halo_text(ax: Axes, x: float, y: float, text: str, **kwargs: Any) -> None:
    """Text with a white halo that stays text in a PDF: the halo is drawn from a copy
    (matplotlib turns text with path effects into outlines, which cannot be searched)."""
    ax.text(x, y, text, path_effects=_HALO, **kwargs)
    kwargs.pop("gid", None)
    ax.text(x, y, text, **kwargs)


def _draw_polygons(ax: Axes, frame: gpd.GeoDataFrame, style: LayerStyle) -> None:
    """One compound path per colour (and per 20,000 rings), in one collection."""
    parts, owner = _parts(frame)
    # Exteriors anticlockwise and holes clockwise, so the nonzero fill rule leaves holes open.
    rings, ring_part = shapely.get_rings(shapely.orient_polygons(parts), return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    colours = _feature_colours(frame, style)[owner][ring_part]
    unique, first, group = np.unique(colours, return_index=True, return_inverse=True)
    paths, faces = [], []
    for g in np.argsort(first):  # in order of first appearance, so draw order follows the frame
        ring_ids = np.flatnonzero(group == g)
        for chunk in np.array_split(ring_ids, math.ceil(len(ring_ids) / _PATH_RINGS)):
            mask = np.isin(vertex_ring, chunk)
            paths.append(_ring_path(coords[mask], vertex_ring[mask]))
            faces.append(unique[g])
    edge = style.outline if style.outline is not None else "none"
    ax.add_collection(
        PathCollection(
            paths,
            facecolors=_rgba(np.asarray(faces), style.fill_opacity),
            edgecolors=edge,
            linewidths=style.line_width if style.outline is not None else 0.0,
        )
    )


def _draw_lines(ax: Axes, frame: gpd.GeoDataFrame, style: LayerStyle) -> None:
    """One line collection; each part in its feature's colour."""
    parts, owner = _parts(frame)
    coords, vertex_part = shapely.get_coordinates(parts, return_index=True)
    segments = np.split(coords, np.flatnonzero(np.diff(vertex_part)) + 1) if len(coords) else []
    colours = _rgba(_feature_colours(frame, style)[owner])
    ax.add_collection(
        LineCollection(segments, colors=colours, linewidths=style.line_width, capstyle="round")
    )


def _draw_points(ax: Axes, frame: gpd.GeoDataFrame, style: LayerStyle) -> None:
    """One scatter; the marker diameter is ``style.point_size`` points."""
    parts, owner = _parts(frame)
    xy = shapely.get_coordinates(parts)
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=style.point_size**2,
        c=_rgba(_feature_colours(frame, style)[owner], style.fill_opacity),
        edgecolors=style.colour,
        linewidths=0.4,
    )


_DRAWERS: Mapping[str, Callable[[Axes, gpd.GeoDataFrame, LayerStyle], None]] = {
    "polygon": _draw_polygons,
    "line": _draw_lines,
    "point": _draw_points,
}


def _draw_labels(
    ax: Axes,
    frame: gpd.GeoDataFrame,
    column: str,
    extent: tuple[float, float, float, float],
    *,
    lift_pt: float = 0.0,
) -> None:
    """Small labels with a white halo, at a representative point of each feature's visible part.

    Lines are labelled at their middle, polygons at a point inside them, both after clipping
    to the map, so a street that runs off the map is still labelled on it.
    """
    x0, x1, y0, y1 = extent
    geoms = shapely.clip_by_rect(frame.geometry.to_numpy(), x0, y0, x1, y1)
    lines = np.isin(shapely.get_type_id(geoms), _KIND_TYPES["line"])
    anchors = shapely.point_on_surface(geoms)
    anchors[lines] = shapely.line_interpolate_point(geoms[lines], 0.5, normalized=True)
    keep = (
        ~(shapely.is_missing(anchors) | shapely.is_empty(anchors))
        & frame[column].notna().to_numpy()
    )
    xy = shapely.get_coordinates(anchors[keep])
    # Above a marker (``lift_pt`` points up), centred on anything else.
    lift = transforms.ScaledTranslation(0.0, lift_pt / 72, ax.figure.dpi_scale_trans)
    where = ax.transData + lift
    va = "bottom" if lift_pt else "center"
    for (x, y), text in zip(xy, frame[column].to_numpy()[keep], strict=True):
        _halo_text(
            ax, x, y, str(text), fontsize=6.5, ha="center", va=va, clip_on=True, zorder=5,
            transform=where,
        )  # fmt: skip


# --- furniture ----------------------------------------------------------------------------


def _round_length(target: float) -> float:
    """The largest 1, 2 or 5 × 10^n not above ``target``.

    >>> _round_length(3_800.0), _round_length(999.0), _round_length(10.0)
    (2000.0, 500.0, 10.0)
    """
    power = 10.0 ** math.floor(math.log10(target))
    return max(step * power for step in _ROUND_STEPS if step * power <= target * (1 + 1e-9))


def _length_label(metres: float) -> str:
    """``"500 m"``, ``"2 km"``."""
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _scale_bar(
    ax: Axes, extent: tuple[float, float, float, float], *, metres_per_pt: float
) -> None:
    """Four alternating black and white segments of a round length, bottom left."""
    x0, x1, y0, _ = extent
    length = _round_length((x1 - x0) / 5)
    left, bottom, height = x0 + 14 * metres_per_pt, y0 + 14 * metres_per_pt, 4 * metres_per_pt
    pad = 5 * metres_per_pt
    ax.add_patch(
        Rectangle(
            (left - pad, bottom - pad),
            length + 2 * pad + 30 * metres_per_pt,
            height + 2 * pad + 11 * metres_per_pt,
            facecolor="white",
            edgecolor="none",
            alpha=0.8,
            zorder=6,
        )
    )
    for i in range(4):
        colour = "black" if i % 2 == 0 else "white"
        ax.add_patch(
            Rectangle(
                (left + i * length / 4, bottom),
                length / 4,
                height,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.6,
                zorder=7,
            )
        )
    label_y = bottom + height + 2 * metres_per_pt
    ax.text(left, label_y, "0", fontsize=7, ha="center", va="bottom", zorder=7)
    ax.text(
        left + length,
        label_y,
        _length_label(length),
        fontsize=7,
        ha="left",
        va="bottom",
        zorder=7,
        gid="scale-bar-label",
    )


def _north_arrow(ax: Axes) -> None:
    """An arrow with "N" above it and "Grid north" under it, top right of the map."""
    x, tail, tip = 0.955, 0.84, 0.915
    ax.annotate(
        "",
        xy=(x, tip),
        xytext=(x, tail),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.4, "mutation_scale": 14},
        zorder=7,
    )
    common: dict[str, Any] = {"transform": ax.transAxes, "ha": "center", "zorder": 7}
    _halo_text(
        ax, x, tip + 0.005, "N", fontsize=11, fontweight="bold", va="bottom", gid="north-arrow",
        **common,
    )  # fmt: skip
    _halo_text(ax, x, tail - 0.008, "Grid north", fontsize=6, va="top", **common)


def _handle(style: LayerStyle, colour: str) -> Artist:
    """A legend swatch drawn the way the layer is."""
    if style.kind == "polygon":
        edge = style.outline if style.outline is not None else "none"
        face = to_rgba_array([colour])[0].copy()
        face[3] = style.fill_opacity
        return Patch(facecolor=tuple(face), edgecolor=edge, linewidth=max(style.line_width, 0.5))
    if style.kind == "line":
        return Line2D([], [], color=colour, linewidth=max(style.line_width, 1.5))
    return Line2D(
        [],
        [],
        linestyle="none",
        marker="o",
        markersize=style.point_size,
        markerfacecolor=colour,
        markeredgecolor=style.colour,
        alpha=style.fill_opacity,
    )


def _legend_entries(style: LayerStyle, width: int) -> list[tuple[Artist | None, str]]:
    """``(swatch, label)`` rows of one layer's section; a None swatch marks the heading."""
    heading = textwrap.fill(style.title, width)
    if style.renderer == "single" and not style.classes:
        return [(_handle(style, style.colour), heading)]
    rows: list[tuple[Artist | None, str]] = [(None, heading)]
    rows += [(_handle(style, c.colour), textwrap.fill(c.label, width)) for c in style.classes]
    if style.no_data is not None:
        rows.append((_handle(style, style.no_data_colour), textwrap.fill(style.no_data, width)))
    return rows


def _legend(fig: Figure, layout: _Layout, styles: Sequence[LayerStyle]) -> None:
    """The legend panel: one section per style, headed by its title in bold."""
    fontsize = 8.0
    width = int((_PANEL_IN * 72 - 30) / (fontsize * 0.56))
    rows: list[tuple[Artist | None, str]] = []
    bold: list[int] = []
    for i, style in enumerate(styles):
        if i:
            rows.append((None, ""))  # a blank row between sections
        entries = _legend_entries(style, width)
        bold.append(len(rows))
        rows += entries
    if not rows:
        return
    handles = [h if h is not None else Patch(visible=False) for h, _ in rows]
    legend = fig.legend(
        handles,
        [label for _, label in rows],
        loc="upper left",
        bbox_to_anchor=(layout.panel_left, 1 - layout.y(_MAP_TOP_IN)),
        bbox_transform=fig.transFigure,
        frameon=False,
        fontsize=fontsize,
        borderaxespad=0.0,
        borderpad=0.0,
        handlelength=1.8,
        labelspacing=0.45,
    )
    texts = legend.get_texts()
    for i in bold:
        texts[i].set_fontweight("bold")


def _heading(fig: Figure, layout: _Layout, title: str, subtitle: str, marking: str) -> None:
    """The marking centred at the top and bottom edges; title and subtitle top left."""
    bold: dict[str, Any] = {"ha": "center", "fontsize": 10, "fontweight": "bold"}
    fig.text(0.5, 1 - layout.y(0.08), marking, va="top", gid="marking-top", **bold)
    fig.text(0.5, layout.y(0.08), marking, va="bottom", gid="marking-bottom", **bold)
    left = layout.x(_MARGIN_IN)
    fig.text(left, 1 - layout.y(0.36), title, va="top", fontsize=17, fontweight="bold")
    if subtitle:
        fig.text(left, 1 - layout.y(0.68), subtitle, va="top", fontsize=10.5, color="#444444")


def _notes(fig: Figure, layout: _Layout, attribution: str, disclosure: str) -> None:
    """The attribution along the bottom, the disclosure note boxed under the legend."""
    chars = int((layout.width_in - 2 * _MARGIN_IN) * 72 / (6.5 * 0.55))
    wrapped = textwrap.fill(attribution, chars)
    fig.text(layout.x(_MARGIN_IN), layout.y(0.3), wrapped, va="bottom", fontsize=6.5, color="#444")
    if not disclosure:
        return
    chars = int((_PANEL_IN * 72 - 16) / (7 * 0.5))
    box = {"boxstyle": "round,pad=0.5", "facecolor": "#f4f4f4", "edgecolor": "#8c8c8c"}
    fig.text(
        layout.panel_left + layout.x(0.06),
        layout.y(_MAP_BOTTOM_IN + 0.06),
        textwrap.fill(disclosure, chars),
        va="bottom",
        fontsize=7,
        bbox={**box, "linewidth": 0.6},
        gid="disclosure",
    )


# --- output -------------------------------------------------------------------------------


def _canvas(fig: Figure) -> FigureCanvasAgg:
    """The figure's Agg canvas (attaching one if the figure was made elsewhere)."""
    canvas = fig.canvas
    return canvas if isinstance(canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _pdf_info(metadata: Mapping[str, str]) -> dict[str, str | None]:
    """PDF document information from our metadata (see :func:`figure_pdf`)."""
    info: dict[str, str | None] = {"CreationDate": None}
    extra = []
    for key, value in metadata.items():
        pdf_key = _PDF_KEYS.get(key.lower())
        if pdf_key is None:
            extra.append(f"{key}: {value}")
        elif pdf_key in info and info[pdf_key]:
            info[pdf_key] = f"{info[pdf_key]} {value}"
        else:
            info[pdf_key] = value
    if extra:
        info["Keywords"] = "; ".join(filter(None, [info.get("Keywords"), *extra]))
    return info
