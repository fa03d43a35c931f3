"""How an exported layer is drawn: one description shared by every renderer.

A :class:`LayerStyle` says which attribute colours a layer and how (one colour, categories,
or graduated classes), in plain data. The QGIS styles stored in a GeoPackage
(:mod:`geojtai.qgisstyle`), the static PNG/PDF maps (:mod:`geojtai.staticmap`) and the
offline HTML map all read the same description, so a layer looks the same in QGIS, in a
board paper and in a browser.

Examples
--------
>>> style = LayerStyle(
...     title="Gaps",
...     kind="polygon",
...     renderer="categorized",
...     attribute="gap",
...     classes=(
...         StyleClass("no coverage", "No agency working there", "#d7191c"),
...         StyleClass("single agency", "One agency only", "#fd8d3c"),
...     ),
... )
>>> style.colour_of("single agency")
'#fd8d3c'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["KINDS", "RENDERERS", "LayerStyle", "StyleClass"]

KINDS: tuple[str, ...] = ("polygon", "line", "point")
RENDERERS: tuple[str, ...] = ("single", "categorized", "graduated")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class StyleClass:
    """One legend entry.

    Attributes
    ----------
    value
        The attribute value of a category (``categorized``); ignored otherwise.
    label
        The legend text.
    colour
        ``#rrggbb``.
    lower, upper
        The class bounds of a ``graduated`` renderer: ``lower < value <= upper`` (the first
        class also takes ``value == lower``).
    """

    value: str | int | float | None
    label: str
    colour: str
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class LayerStyle:
    """How one layer is drawn.

    Attributes
    ----------
    title
        The legend title (a person reads it: "Incidents per cell, 2023-01 to 2025-12").
    kind
        Geometry kind: ``polygon``, ``line`` or ``point``.
    renderer
        ``single`` (every feature in ``colour``), ``categorized`` (``attribute`` equal to a
        class's ``value``) or ``graduated`` (``attribute`` within a class's bounds).
    attribute
        The column that picks the class (None for ``single``).
    classes
        Legend entries in legend order.
    colour
        The colour of a ``single`` renderer, and the outline colour of lines and points.
    fill_opacity
        0..1, for polygons and points.
    outline
        The outline colour of polygons (``#rrggbb``), or None for no outline.
    line_width
        Line width (lines) or outline width (polygons), in points.
    point_size
        Marker diameter of points, in points.
    no_data
        Legend label for features whose ``attribute`` is missing (e.g. "fewer than 10:
        withheld"), drawn in ``no_data_colour``; None when there are none to explain.
    no_data_colour
        ``#rrggbb``.
    """

    title: str
    kind: str
    renderer: str = "single"
    attribute: str | None = None
    classes: tuple[StyleClass, ...] = ()
    colour: str = "#555555"
    fill_opacity: float = 0.7
    outline: str | None = "#636363"
    line_width: float = 0.3
    point_size: float = 4.0
    no_data: str | None = None
    no_data_colour: str = "#bdbdbd"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"`kind` was {self.kind!r} but is expected to be one of {KINDS}")
        if self.renderer not in RENDERERS:
            problems.append(
                f"`renderer` was {self.renderer!r} but is expected to be one of {RENDERERS}"
            )
        if self.renderer != "single" and (not self.attribute or not self.classes):
            problems.append(f"a {self.renderer} style needs an attribute and classes")
        colours = [self.colour, self.no_data_colour, *(c.colour for c in self.classes)]
        if self.outline is not None:
            colours.append(self.outline)
        problems += [f"{c!r} is not a #rrggbb colour" for c in colours if not _HEX.fullmatch(c)]
        if not 0.0 <= self.fill_opacity <= 1.0:
            problems.append(f"`fill_opacity` must be 0..1; {self.fill_opacity!r} was given")
        if self.renderer == "graduated":
            problems += [
                f"graduated class {c.label!r} needs numeric lower and upper bounds"
                for c in self.classes
                if c.lower is None or c.upper is None
            ]
        if problems:
            msg = f"LayerStyle {self.title!r}: " + "; ".join(problems) + "."
            raise ValueError(msg)

    def colours(self, values: object) -> np.ndarray:
        """The colour of each feature (vectorised :meth:`colour_of`), as an object array."""
        series = pd.Series(values)
        n = len(series)
        if self.renderer == "single":
            return np.full(n, self.colour, dtype=object)
        out = np.full(n, self.no_data_colour, dtype=object)
        if self.renderer == "categorized":
            lookup = {c.value: c.colour for c in self.classes}
            mapped = series.map(lookup)
            known = mapped.notna().to_numpy()
            out[known] = mapped.to_numpy(dtype=object)[known]
            return out
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        for i, c in enumerate(self.classes):
            assert c.lower is not None and c.upper is not None
            low = (x >= c.lower) if i == 0 else (x > c.lower)
            out[low & (x <= c.upper)] = c.colour
        return out

    def colour_of(self, value: object) -> str:
        """The colour a feature with this attribute value is drawn in.

        ``no_data_colour`` for a missing value or one no class takes.
        """
        return str(self.colours([value])[0])
