"""QML and SLD documents: parsed back with ElementTree and checked against the style."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from geojtai.qgisstyle import qml, sld
from geojtai.symbology import KINDS, RENDERERS, LayerStyle, StyleClass

SE = "{http://www.opengis.net/se}"
OGC = "{http://www.opengis.net/ogc}"
SLD = "{http://www.opengis.net/sld}"
NASTY = "Tom & Jerry <\"quoted\"> 'single'"

CATEGORIES = (
    StyleClass("no coverage", "No agency working there", "#d7191c"),
    StyleClass(NASTY, NASTY, "#fd8d3c"),
    StyleClass(3, "Three", "#2c7bb6"),
)
RANGES = (
    StyleClass(None, "0 to 2", "#ffffcc", lower=0.0, upper=2.0),
    StyleClass(None, "2 to 5.5", "#a1dab4", lower=2.0, upper=5.5),
    StyleClass(None, "more than 5.5 & <10", "#41b6c4", lower=5.5, upper=10.0),
)
SYMBOL_TYPES = {"polygon": "fill", "line": "line", "point": "marker"}
SYMBOL_LAYERS = {"polygon": "SimpleFill", "line": "SimpleLine", "point": "SimpleMarker"}
GEOMETRY_TYPES = {"point": "0", "line": "1", "polygon": "2"}
SYMBOLIZERS = {"polygon": "PolygonSymbolizer", "line": "LineSymbolizer", "point": "PointSymbolizer"}


def make_style(kind: str, renderer: str, no_data: str | None = None) -> LayerStyle:
    classes = {"single": (), "categorized": CATEGORIES, "graduated": RANGES}[renderer]
    return LayerStyle(
        title=f"Test {kind} {renderer}",
        kind=kind,
        renderer=renderer,
        attribute=None if renderer == "single" else "value & <x>",
        classes=classes,
        colour="#112233",
        fill_opacity=0.5,
        no_data=no_data,
        no_data_colour="#bdbdbd",
    )


def parse_qml(style: LayerStyle) -> ET.Element:
    text = qml(style)
    assert text.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n")
    return ET.fromstring(text.split("\n", 1)[1])


def layer_props(symbol: ET.Element) -> dict[str, str]:
    """The ``<Option type="Map">`` properties of a symbol's only layer."""
    (layer,) = symbol.findall("layer")
    return {o.get("name", ""): o.get("value", "") for o in layer.findall("Option/Option")}


def legacy_props(symbol: ET.Element) -> dict[str, str]:
    (layer,) = symbol.findall("layer")
    return {p.get("k", ""): p.get("v", "") for p in layer.findall("prop")}


def symbols_by_name(root: ET.Element) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in root.findall("renderer-v2/symbols/symbol")}


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("kind", KINDS)
def test_qml_renderer_and_symbols_for_every_kind(kind: str, renderer: str) -> None:
    style = make_style(kind, renderer)
    root = parse_qml(style)
    assert root.tag == "qgis"
    assert root.get("version") == "3.34.0"
    assert root.get("styleCategories") == "Symbology"
    assert root.findtext("layerGeometryType") == GEOMETRY_TYPES[kind]
    (renderer_el,) = root.findall("renderer-v2")
    expected_type = {
        "single": "singleSymbol",
        "categorized": "categorizedSymbol",
        "graduated": "graduatedSymbol",
    }[renderer]
    assert renderer_el.get("type") == expected_type
    assert renderer_el.get("attr") == style.attribute
    symbols = symbols_by_name(root)
    assert sorted(symbols) == [str(i) for i in range(max(1, len(style.classes)))]
    for symbol in symbols.values():
        assert symbol.get("type") == SYMBOL_TYPES[kind]
        assert symbol.find("layer").get("class") == SYMBOL_LAYERS[kind]  # type: ignore[union-attr]
        assert layer_props(symbol) == legacy_props(symbol)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("kind", KINDS)
def test_sld_one_rule_per_class_for_every_kind(kind: str, renderer: str) -> None:
    style = make_style(kind, renderer)
    root = ET.fromstring(sld(style, "my layer"))
    assert root.tag == f"{SLD}StyledLayerDescriptor"
    assert root.get("version") == "1.1.0"
    assert root.findtext(f"{SLD}NamedLayer/{SE}Name") == "my layer"
    rules = root.findall(f".//{SE}FeatureTypeStyle/{SE}Rule")
    assert len(rules) == max(1, len(style.classes))
    for rule in rules:
        symbolizers = [child.tag for child in rule if child.tag.endswith("Symbolizer")]
        assert symbolizers == [f"{SE}{SYMBOLIZERS[kind]}"]
    expected = [style.title] if renderer == "single" else [c.label for c in style.classes]
    assert [r.findtext(f"{SE}Name") for r in rules] == expected


def test_qml_single_colours_with_fill_opacity() -> None:
    root = parse_qml(make_style("polygon", "single"))
    props = layer_props(symbols_by_name(root)["0"])
    # #112233 at opacity 0.5 → alpha round(127.5) = 128.
    assert props["color"] == "17,34,51,128"
    assert props["outline_color"] == "99,99,99,255"
    assert props["outline_width"] == "0.3"
    assert props["outline_width_unit"] == "Point"


def test_qml_polygon_without_outline() -> None:
    style = LayerStyle(title="No edge", kind="polygon", outline=None)
    props = layer_props(symbols_by_name(parse_qml(style))["0"])
    assert props["outline_style"] == "no"


def test_qml_line_and_marker_properties() -> None:
    line = layer_props(symbols_by_name(parse_qml(make_style("line", "single")))["0"])
    assert line["line_color"] == "17,34,51,255"
    assert (line["line_width"], line["line_width_unit"]) == ("0.3", "Point")
    marker = layer_props(symbols_by_name(parse_qml(make_style("point", "single")))["0"])
    assert marker["name"] == "circle"
    assert marker["color"] == "17,34,51,128"
    assert (marker["size"], marker["size_unit"]) == ("4.0", "Point")


def test_qml_categories_values_labels_and_escaping() -> None:
    style = make_style("polygon", "categorized")
    root = parse_qml(style)
    assert root.find("renderer-v2").get("attr") == "value & <x>"  # type: ignore[union-attr]
    categories = root.findall("renderer-v2/categories/category")
    assert [c.get("value") for c in categories] == ["no coverage", NASTY, "3"]
    assert [c.get("label") for c in categories] == ["No agency working there", NASTY, "Three"]
    assert [c.get("symbol") for c in categories] == ["0", "1", "2"]
    assert {c.get("render") for c in categories} == {"true"}
    symbols = symbols_by_name(root)
    assert layer_props(symbols["1"])["color"] == "253,141,60,128"
    assert layer_props(symbols["2"])["color"] == "44,123,182,128"


def test_qml_escapes_in_the_raw_text() -> None:
    text = qml(make_style("point", "categorized"))
    assert NASTY not in text
    assert "Tom &amp; Jerry &lt;&quot;quoted&quot;&gt;" in text


@pytest.mark.parametrize("kind", KINDS)
def test_qml_no_data_is_the_catch_all_category(kind: str) -> None:
    root = parse_qml(make_style(kind, "categorized", no_data="fewer than 10: withheld"))
    last = root.findall("renderer-v2/categories/category")[-1]
    assert last.get("value") == ""
    assert last.get("label") == "fewer than 10: withheld"
    assert last.get("symbol") == "3"
    colour = layer_props(symbols_by_name(root)["3"])
    key = "line_color" if kind == "line" else "color"
    assert colour[key].startswith("189,189,189,")


def test_qml_without_no_data_has_no_catch_all() -> None:
    root = parse_qml(make_style("polygon", "categorized"))
    assert "" not in [c.get("value") for c in root.findall("renderer-v2/categories/category")]


def test_qml_graduated_ranges() -> None:
    root = parse_qml(make_style("polygon", "graduated"))
    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("graduatedMethod") == "GraduatedColor"
    ranges = renderer.findall("ranges/range")
    assert [(float(r.get("lower", "")), float(r.get("upper", ""))) for r in ranges] == [
        (0.0, 2.0),
        (2.0, 5.5),
        (5.5, 10.0),
    ]
    assert [r.get("label") for r in ranges] == [c.label for c in RANGES]
    assert [r.get("symbol") for r in ranges] == ["0", "1", "2"]
    assert layer_props(symbols_by_name(root)["2"])["color"] == "65,182,196,128"


def test_sld_categories_filters_and_colours() -> None:
    root = ET.fromstring(sld(make_style("polygon", "categorized"), "gaps"))
    rules = root.findall(f".//{SE}Rule")
    equal = [r.find(f"{OGC}Filter/{OGC}PropertyIsEqualTo") for r in rules]
    assert [e.findtext(f"{OGC}PropertyName") for e in equal if e is not None] == ["value & <x>"] * 3
    literals = [e.findtext(f"{OGC}Literal") for e in equal if e is not None]
    assert literals == ["no coverage", NASTY, "3"]
    fill = rules[1].find(f"{SE}PolygonSymbolizer/{SE}Fill")
    assert fill is not None
    params = {p.get("name"): p.text for p in fill}
    assert params == {"fill": "#fd8d3c", "fill-opacity": "0.5"}


def test_sld_graduated_bounds_first_class_inclusive() -> None:
    root = ET.fromstring(sld(make_style("line", "graduated"), "roads"))
    ands = [r.find(f"{OGC}Filter/{OGC}And") for r in root.findall(f".//{SE}Rule")]
    ops = [[child.tag.removeprefix(OGC) for child in a] for a in ands if a is not None]
    assert ops == [
        ["PropertyIsGreaterThanOrEqualTo", "PropertyIsLessThanOrEqualTo"],
        ["PropertyIsGreaterThan", "PropertyIsLessThanOrEqualTo"],
        ["PropertyIsGreaterThan", "PropertyIsLessThanOrEqualTo"],
    ]
    bounds = [[float(c.findtext(f"{OGC}Literal", "")) for c in a] for a in ands if a is not None]
    assert bounds == [[0.0, 2.0], [2.0, 5.5], [5.5, 10.0]]


@pytest.mark.parametrize("renderer", ["categorized", "graduated"])
def test_sld_no_data_rule(renderer: str) -> None:
    root = ET.fromstring(sld(make_style("point", renderer, no_data="withheld"), "cells"))
    last = root.findall(f".//{SE}Rule")[-1]
    assert last.findtext(f"{SE}Name") == "withheld"
    is_null = last.find(f"{OGC}Filter/{OGC}PropertyIsNull")
    assert is_null is not None
    assert is_null.findtext(f"{OGC}PropertyName") == "value & <x>"
    fill = last.find(f".//{SE}Mark/{SE}Fill/{SE}SvgParameter[@name='fill']")
    assert fill is not None
    assert fill.text == "#bdbdbd"


def test_sld_escapes_layer_name_and_title() -> None:
    text = sld(make_style("polygon", "single"), NASTY)
    assert NASTY not in text
    root = ET.fromstring(text)
    assert root.findtext(f"{SLD}NamedLayer/{SE}Name") == NASTY


def rule_style(
    attribute: str, bounds: tuple[float, ...], no_data: str | None = "withheld"
) -> LayerStyle:
    """A graduated polygon style with one class per consecutive pair of ``bounds``."""
    classes = tuple(
        StyleClass(None, f"{low} to {high}", "#ffffcc", lower=low, upper=high)
        for low, high in pairwise(bounds)
    )
    return LayerStyle("Counts", "polygon", "graduated", attribute, classes, no_data=no_data)


def rules_of(style: LayerStyle) -> list[ET.Element]:
    return parse_qml(style).findall("renderer-v2/rules/rule")


@pytest.mark.parametrize("kind", KINDS)
def test_qml_graduated_no_data_is_a_rule_renderer(kind: str) -> None:
    root = parse_qml(make_style(kind, "graduated", no_data="fewer than 10: withheld"))
    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == "RuleRenderer"
    assert renderer.find("ranges") is None
    root_rule = renderer.find("rules")
    assert root_rule is not None
    rules = root_rule.findall("rule")
    assert [r.get("label") for r in rules] == [c.label for c in RANGES] + [
        "fewer than 10: withheld"
    ]
    assert [r.get("symbol") for r in rules] == ["0", "1", "2", "3"]
    assert [r.get("filter") == "ELSE" for r in rules] == [False, False, False, True]
    keys = [root_rule.get("key")] + [r.get("key") for r in rules]
    assert len(set(keys)) == len(keys)
    symbols = symbols_by_name(root)
    assert sorted(symbols) == ["0", "1", "2", "3"]
    key = "line_color" if kind == "line" else "color"
    assert layer_props(symbols["3"])[key].startswith("189,189,189,")
    assert layer_props(symbols["2"])[key].startswith("65,182,196,")


def test_qml_rule_filters_exact_text() -> None:
    rules = rules_of(rule_style("count", (0.0, 10.0, 20.0)))
    assert [r.get("filter") for r in rules] == [
        '"count" >= 0 AND "count" <= 10',
        '"count" > 10 AND "count" <= 20',
        "ELSE",
    ]


def test_qml_rule_filter_escaping_in_the_raw_text() -> None:
    text = qml(rule_style("count", (0.0, 10.0, 20.0)))
    assert 'filter="&quot;count&quot; &gt;= 0 AND &quot;count&quot; &lt;= 10"' in text


def test_qml_rule_filter_doubles_quotes_in_the_attribute() -> None:
    (first, _) = rules_of(rule_style('say "hi" & <x>', (0.0, 1.0)))
    assert first.get("filter") == '"say ""hi"" & <x>" >= 0 AND "say ""hi"" & <x>" <= 1'


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ((0.0, 1e-05), '"c" >= 0 AND "c" <= 0.00001'),
        ((-2.5, 0.1 + 0.2), '"c" >= -2.5 AND "c" <= 0.30000000000000004'),
        ((0.0, 1e20), '"c" >= 0 AND "c" <= 100000000000000000000'),
        ((5.0, float("inf")), '"c" >= 5'),
        ((float("-inf"), float("inf")), '"c" IS NOT NULL'),
    ],
)
def test_qml_rule_filter_numbers(bounds: tuple[float, float], expected: str) -> None:
    (first, _) = rules_of(rule_style("c", bounds))
    assert first.get("filter") == expected


def test_qml_graduated_without_no_data_keeps_graduated_symbol() -> None:
    root = parse_qml(rule_style("count", (0.0, 10.0, 20.0), no_data=None))
    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == "graduatedSymbol"
    assert renderer.find("rules") is None
    assert len(renderer.findall("ranges/range")) == 2
    assert sorted(symbols_by_name(root)) == ["0", "1"]
