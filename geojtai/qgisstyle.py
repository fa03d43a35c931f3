"""QGIS QML and OGC SLD documents for a :class:`~geojtai.symbology.LayerStyle`.

Both documents are built with :mod:`xml.etree.ElementTree`, so labels and values with
``&``, ``<`` or quotes are escaped by the serialiser, never by hand. Writing them into a
GeoPackage's ``layer_styles`` table is :mod:`geojtai.io.gpkgstyles`' job; this module only
returns text.

A graduated style with ``no_data`` is written to QML as a rule-based renderer
(``RuleRenderer``) rather than ``graduatedSymbol``: QGIS's graduated renderer has no entry
for a missing value, so features whose attribute is NULL (e.g. withheld small counts) would
not be drawn at all. Each class becomes a rule whose filter is a QGIS expression
(``"count" >= 0 AND "count" <= 10`` for the first class, ``>`` for the lower bound of the
others), and the no-data legend entry is QGIS's ``ELSE`` rule, which takes NULL and any value
no class takes, as :meth:`~geojtai.symbology.LayerStyle.colour_of` does.

Widths and sizes are in points, as in :class:`~geojtai.symbology.LayerStyle`; the QML says so
(``*_unit="Point"``) and the SLD, whose unit is the pixel, converts them at 96 dpi.

Examples
--------
>>> from geojtai.symbology import LayerStyle
>>> text = qml(LayerStyle(title="Area", kind="polygon"))
>>> text.splitlines()[0]
"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal

from geojtai.symbology import LayerStyle, StyleClass

__all__ = ["QGIS_VERSION", "qml", "sld"]

QGIS_VERSION = "3.34.0"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_GEOMETRY_TYPES = {"point": "0", "line": "1", "polygon": "2"}
_SYMBOL_TYPES = {"polygon": "fill", "line": "line", "point": "marker"}
_SYMBOL_LAYERS = {"polygon": "SimpleFill", "line": "SimpleLine", "point": "SimpleMarker"}
_RENDERERS = {
    "single": "singleSymbol",
    "categorized": "categorizedSymbol",
    "graduated": "graduatedSymbol",
}
_RULE_RENDERER = {
    "type": "RuleRenderer",
    "symbollevels": "0",
    "enableorderby": "0",
    "forceraster": "0",
}
_PIXELS_PER_POINT = 96.0 / 72.0

# Tags are written with their prefixes as plain names and the prefixes declared on the root,
# so building an SLD never touches ElementTree's process-wide namespace registry.
_SLD_ROOT = {
    "version": "1.1.0",
    "xmlns": "http://www.opengis.net/sld",
    "xmlns:se": "http://www.opengis.net/se",
    "xmlns:ogc": "http://www.opengis.net/ogc",
    "xmlns:xlink": "http://www.w3.org/1999/xlink",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xsi:schemaLocation": (
        "http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
    ),
}


# --- shared helpers ---------------------------------------------------------------------


def _number(x: float) -> str:
    """A float as text that round-trips (``0.3``, ``10.0``)."""
    return repr(float(x))


def _value_text(value: object) -> str:
    """A category value as QGIS compares it: the text of the attribute value."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # An integer-valued float column is read by QGIS as 3, not 3.0.
        return str(int(value))
    return str(value)


def _rgba(colour: str, opacity: float = 1.0) -> str:
    """``#rrggbb`` and an opacity 0..1 as QGIS's ``r,g,b,a``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"{r},{g},{b},{round(opacity * 255)}"


def _entries(style: LayerStyle) -> list[tuple[str, str]]:
    """Every drawn symbol as ``(label, colour)``, in symbol-index order.

    The no-data symbol comes last: the empty-valued category of a categorized style, the
    ``ELSE`` rule of a graduated one.
    """
    if style.renderer == "single":
        return [(style.title, style.colour)]
    entries = [(c.label, c.colour) for c in style.classes]
    if style.no_data is not None:
        entries.append((style.no_data, style.no_data_colour))
    return entries


# --- QML ----------------------------------------------------------------------------------


def _fill_props(style: LayerStyle, colour: str) -> dict[str, str]:
    return {
        "color": _rgba(colour, style.fill_opacity),
        "style": "solid",
        "outline_color": _rgba(style.outline or colour),
        "outline_style": "solid" if style.outline is not None else "no",
        "outline_width": _number(style.line_width),
        "outline_width_unit": "Point",
        "joinstyle": "bevel",
    }


def _line_props(style: LayerStyle, colour: str) -> dict[str, str]:
    return {
        "line_color": _rgba(colour),
        "line_style": "solid",
        "line_width": _number(style.line_width),
        "line_width_unit": "Point",
        "capstyle": "round",
        "joinstyle": "round",
    }


def _marker_props(style: LayerStyle, colour: str) -> dict[str, str]:
    return {
        "name": "circle",
        "color": _rgba(colour, style.fill_opacity),
        "outline_color": _rgba(style.colour),
        "outline_style": "solid",
        "outline_width": _number(style.line_width),
        "outline_width_unit": "Point",
        "size": _number(style.point_size),
        "size_unit": "Point",
        "scale_method": "diameter",
    }


_PROPS: dict[str, Callable[[LayerStyle, str], dict[str, str]]] = {
    "polygon": _fill_props,
    "line": _line_props,
    "point": _marker_props,
}


def _symbol(style: LayerStyle, colour: str, name: str) -> ET.Element:
    """One ``<symbol>`` with one simple symbol layer, its properties written twice.

    QGIS 3.26 and later read the ``<Option type="Map">`` form; earlier 3.x releases read
    ``<prop k v>``. Writing both lets either open the file.
    """
    symbol = ET.Element(
        "symbol",
        {"type": _SYMBOL_TYPES[style.kind], "name": name, "alpha": "1", "clip_to_extent": "1"},
    )
    layer = ET.SubElement(
        symbol,
        "layer",
        {"class": _SYMBOL_LAYERS[style.kind], "enabled": "1", "locked": "0", "pass": "0"},
    )
    props = _PROPS[style.kind](style, colour)
    options = ET.SubElement(layer, "Option", type="Map")
    for key, value in props.items():
        ET.SubElement(options, "Option", name=key, value=value, type="QString")
    for key, value in props.items():
        ET.SubElement(layer, "prop", k=key, v=value)
    return symbol


def _categories(style: LayerStyle) -> ET.Element:
    categories = ET.Element("categories")
    for i, c in enumerate(style.classes):
        ET.SubElement(
            categories,
            "category",
            value=_value_text(c.value),
            label=c.label,
            symbol=str(i),
            render="true",
        )
    if style.no_data is not None:
        # QGIS draws every value no other category takes (NULL included) with the
        # category whose value is empty.
        ET.SubElement(
            categories,
            "category",
            value="",
            label=style.no_data,
            symbol=str(len(style.classes)),
            render="true",
        )
    return categories


def _range(c: StyleClass, index: int) -> ET.Element:
    assert c.lower is not None and c.upper is not None  # checked by LayerStyle
    return ET.Element(
        "range",
        lower=_number(c.lower),
        upper=_number(c.upper),
        label=c.label,
        symbol=str(index),
        render="true",
    )


def _graduated_extras(renderer: ET.Element) -> None:
    """The manual classification QGIS expects beside graduated ranges."""
    method = ET.SubElement(renderer, "classificationMethod", id="Manual")
    ET.SubElement(method, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
    ET.SubElement(
        method, "labelFormat", format="%1 - %2", labelprecision="4", trimtrailingzeroes="1"
    )


def _field(name: str) -> str:
    """An attribute as a QGIS expression field reference, double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _literal(x: float) -> str:
    """A bound as a QGIS expression number: every digit ``repr`` keeps, never an exponent.

    ``10.0`` is ``10``, ``1e-05`` is ``0.00001``, ``0.1 + 0.2`` is ``0.30000000000000004``,
    so a value on a class boundary falls in the same class as in :class:`LayerStyle`.
    """
    x = float(x)
    if x.is_integer():
        return str(int(x))
    return format(Decimal(repr(x)), "f")


def _range_filter(style: LayerStyle, index: int) -> str:
    """The expression that picks graduated class ``index``, as the SLD filter does."""
    c, name = style.classes[index], _field(style.attribute or "")
    assert c.lower is not None and c.upper is not None  # checked by LayerStyle
    bounds = [(">=" if index == 0 else ">", c.lower), ("<=", c.upper)]
    # An infinite bound (an open-ended class) has no literal in QGIS's expressions.
    tests = [f"{name} {op} {_literal(b)}" for op, b in bounds if math.isfinite(b)]
    return " AND ".join(tests) or f"{name} IS NOT NULL"


def _symbols(style: LayerStyle) -> ET.Element:
    symbols = ET.Element("symbols")
    symbols.extend(_symbol(style, colour, str(i)) for i, (_, colour) in enumerate(_entries(style)))
    return symbols


def _rule_renderer(style: LayerStyle) -> ET.Element:
    """A rule-based renderer: one rule per graduated class, then an ``ELSE`` rule for no data.

    Keys only need to be unique within the document; fixed ones keep the output stable.
    """
    renderer = ET.Element("renderer-v2", _RULE_RENDERER)
    rules = ET.SubElement(renderer, "rules", key="{rules}")
    filters = [*(_range_filter(style, i) for i in range(len(style.classes))), "ELSE"]
    for i, ((label, _), expression) in enumerate(zip(_entries(style), filters, strict=True)):
        ET.SubElement(
            rules, "rule", key=f"{{rule-{i}}}", label=label, symbol=str(i), filter=expression
        )
    renderer.append(_symbols(style))
    return renderer


def _renderer(style: LayerStyle) -> ET.Element:
    if style.renderer == "graduated" and style.no_data is not None:
        return _rule_renderer(style)
    attrs = {"type": _RENDERERS[style.renderer]}
    if style.renderer != "single":
        attrs["attr"] = style.attribute or ""
    if style.renderer == "graduated":
        attrs["graduatedMethod"] = "GraduatedColor"
    attrs |= {"symbollevels": "0", "forceraster": "0", "enableorderby": "0"}
    renderer = ET.Element("renderer-v2", attrs)
    if style.renderer == "categorized":
        renderer.append(_categories(style))
    elif style.renderer == "graduated":
        ranges = ET.SubElement(renderer, "ranges")
        ranges.extend(_range(c, i) for i, c in enumerate(style.classes))
    renderer.append(_symbols(style))
    if style.renderer == "graduated":
        _graduated_extras(renderer)
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    return renderer


def qml(style: LayerStyle) -> str:
    """The QGIS layer style (QML) that draws a layer as ``style`` says.

    Parameters
    ----------
    style
        How the layer is drawn.

    Returns
    -------
    str
        A QML document (the ``styleQML`` of a GeoPackage ``layer_styles`` row, or the text
        of a ``.qml`` file) with the symbology category only. A graduated style with
        ``no_data`` gets a rule-based renderer, so that NULL values are drawn.

    Examples
    --------
    >>> from geojtai.symbology import LayerStyle
    >>> "singleSymbol" in qml(LayerStyle(title="Roads", kind="line"))
    True
    """
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    root.append(_renderer(style))
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = _GEOMETRY_TYPES[style.kind]
    ET.indent(root)
    return _DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


# --- SLD ----------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _svg(parent: ET.Element, name: str, value: str) -> None:
    _sub(parent, "se:SvgParameter", value, name=name)


def _pixels(points: float) -> str:
    return _number(round(points * _PIXELS_PER_POINT, 4))


def _fill(parent: ET.Element, colour: str, opacity: float) -> None:
    fill = _sub(parent, "se:Fill")
    _svg(fill, "fill", colour)
    _svg(fill, "fill-opacity", _number(opacity))


def _stroke(parent: ET.Element, colour: str, width: float) -> None:
    stroke = _sub(parent, "se:Stroke")
    _svg(stroke, "stroke", colour)
    _svg(stroke, "stroke-width", _pixels(width))


def _symbolizer(rule: ET.Element, style: LayerStyle, colour: str) -> None:
    """The symbolizer of one rule, mirroring the QML symbol layer of the same class."""
    if style.kind == "polygon":
        symbolizer = _sub(rule, "se:PolygonSymbolizer")
        _fill(symbolizer, colour, style.fill_opacity)
        if style.outline is not None:
            _stroke(symbolizer, style.outline, style.line_width)
    elif style.kind == "line":
        _stroke(_sub(rule, "se:LineSymbolizer"), colour, style.line_width)
    else:
        graphic = _sub(_sub(rule, "se:PointSymbolizer"), "se:Graphic")
        mark = _sub(graphic, "se:Mark")
        _sub(mark, "se:WellKnownName", "circle")
        _fill(mark, colour, style.fill_opacity)
        _stroke(mark, style.colour, style.line_width)
        _sub(graphic, "se:Size", _pixels(style.point_size))


def _comparison(parent: ET.Element, op: str, attribute: str, literal: str) -> None:
    comparison = _sub(parent, f"ogc:{op}")
    _sub(comparison, "ogc:PropertyName", attribute)
    _sub(comparison, "ogc:Literal", literal)


def _class_filter(rule: ET.Element, style: LayerStyle, index: int) -> None:
    """The ``ogc:Filter`` that picks class ``index`` (inclusive lower bound for the first)."""
    c, attribute = style.classes[index], style.attribute or ""
    ogc_filter = _sub(rule, "ogc:Filter")
    if style.renderer == "categorized":
        _comparison(ogc_filter, "PropertyIsEqualTo", attribute, _value_text(c.value))
        return
    assert c.lower is not None and c.upper is not None  # checked by LayerStyle
    both = _sub(ogc_filter, "ogc:And")
    lower_op = "PropertyIsGreaterThanOrEqualTo" if index == 0 else "PropertyIsGreaterThan"
    _comparison(both, lower_op, attribute, _number(c.lower))
    _comparison(both, "PropertyIsLessThanOrEqualTo", attribute, _number(c.upper))


def _rule(parent: ET.Element, label: str) -> ET.Element:
    rule = _sub(parent, "se:Rule")
    _sub(rule, "se:Name", label)
    _sub(_sub(rule, "se:Description"), "se:Title", label)
    return rule


def _rules(feature_type_style: ET.Element, style: LayerStyle) -> None:
    if style.renderer == "single":
        _symbolizer(_rule(feature_type_style, style.title), style, style.colour)
        return
    for i, c in enumerate(style.classes):
        rule = _rule(feature_type_style, c.label)
        _class_filter(rule, style, i)
        _symbolizer(rule, style, c.colour)
    if style.no_data is not None:
        rule = _rule(feature_type_style, style.no_data)
        is_null = _sub(_sub(rule, "ogc:Filter"), "ogc:PropertyIsNull")
        _sub(is_null, "ogc:PropertyName", style.attribute or "")
        _symbolizer(rule, style, style.no_data_colour)


def sld(style: LayerStyle, layer_name: str) -> str:
    """The OGC SLD 1.1 document that draws a layer as ``style`` says.

    One ``se:Rule`` per class, filtered with ``ogc:PropertyIsEqualTo`` (categories) or a
    lower/upper bound pair (graduated: ``lower < value <= upper``, the first class also
    takes ``value == lower``); a ``ogc:PropertyIsNull`` rule draws ``no_data``.

    Parameters
    ----------
    style
        How the layer is drawn.
    layer_name
        The ``NamedLayer`` name (the GeoPackage table).

    Returns
    -------
    str
        The SLD document with an XML declaration.

    Examples
    --------
    >>> from geojtai.symbology import LayerStyle
    >>> "se:PointSymbolizer" in sld(LayerStyle(title="Schools", kind="point"), "schools")
    True
    """
    root = ET.Element("StyledLayerDescriptor", _SLD_ROOT)
    named_layer = _sub(root, "NamedLayer")
    _sub(named_layer, "se:Name", layer_name)
    user_style = _sub(named_layer, "UserStyle")
    _sub(user_style, "se:Name", layer_name)
    _sub(_sub(user_style, "se:Description"), "se:Title", style.title)
    _rules(_sub(user_style, "se:FeatureTypeStyle"), style)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
