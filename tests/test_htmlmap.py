"""Tests for geojtai.htmlmap: the standalone offline HTML map."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from html.parser import HTMLParser

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon

from geojtai.htmlmap import HtmlLayer, LeafletAssets, standalone_map
from geojtai.io.exporters import leaflet_assets
from geojtai.symbology import LayerStyle, StyleClass

EVIL = "</script><script>alert(1)</script>"
TITLE = 'Fish & Chips <b>"map"</b>'


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class _Page(HTMLParser):
    """Every element with its attributes, and the text inside it (script text stays raw)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []
        self.ends: list[str] = []
        self.stack: list[_Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in {"meta", "br", "img", "link", "input"}:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)
        if self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        # a script's text belongs to the script only, so the page's visible text can be checked
        inside = self.stack[-1:] if self.stack and self.stack[-1].tag == "script" else self.stack
        for element in inside:
            element.text += data

    def all(self, tag: str, **attrs: str) -> list[_Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]


def _square(x: float, y: float) -> Polygon:
    return Polygon([(x, y), (x + 0.01, y), (x + 0.01, y + 0.01), (x, y + 0.01)])


GAP = LayerStyle(
    title="Coverage gaps",
    kind="polygon",
    renderer="categorized",
    attribute="gap",
    classes=(
        StyleClass("none", "No agency", "#d7191c"),
        StyleClass("single", "One agency only", "#fd8d3c"),
    ),
    no_data="Withheld: fewer than 10",
    no_data_colour="#bdbdbd",
)
ROADS = LayerStyle(title="Main roads", kind="line", colour="#3366cc")
HIDDEN = LayerStyle(
    title="Context wards",
    kind="polygon",
    renderer="categorized",
    attribute="ward",
    classes=(StyleClass("w1", "Ward hidden-label", "#00ff00"),),
)


@pytest.fixture(scope="module")
def layers() -> list[HtmlLayer]:
    cells = gpd.GeoDataFrame(
        {
            "gap": ["none", "single", None, "other"],
            "count": [12.0, math.nan, 3.0, 4.0],
            "note": [EVIL, "Smith & Sons", "ok", "ok"],
        },
        geometry=[
            _square(-1.5, 52.0),
            _square(-1.49, 52.0),
            _square(-1.48, 52.0),
            _square(-1.47, 52.0),
        ],
        crs="EPSG:4326",
    )
    roads = gpd.GeoDataFrame(
        {"name": ["A1 & B2", EVIL], "lanes": [2, 4]},
        geometry=[
            LineString([(-1.5, 52.0), (-1.4, 52.1)]),
            LineString([(-1.4, 52.0), (-1.3, 52.0)]),
        ],
        crs="EPSG:4326",
    )
    wards = gpd.GeoDataFrame({"ward": ["w1"]}, geometry=[_square(-1.6, 51.9)], crs="EPSG:4326")
    return [
        HtmlLayer("cells", cells, GAP),
        HtmlLayer("roads", roads, ROADS),
        HtmlLayer("wards", wards, HIDDEN, shown=False),
    ]


@pytest.fixture(scope="module")
def assets() -> LeafletAssets:
    return leaflet_assets()


@pytest.fixture(scope="module")
def page(layers: list[HtmlLayer], assets: LeafletAssets) -> str:
    return standalone_map(
        layers,
        assets,
        title=TITLE,
        subtitle="Kingsmere, 2023 & 2024",
        marking="OFFICIAL-SENSITIVE",
        attribution=f"© Crown copyright & police.uk {EVIL}",
        disclosure="Counts under 10 are withheld <always>.",
        metadata={"study": 'King"s & <mere>', "profile": "public", "generated": EVIL},
    )


@pytest.fixture(scope="module")
def parsed(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _features(parsed: _Page, i: int) -> list[dict[str, object]]:
    (script,) = parsed.all("script", id=f"layer-{i}")
    assert script.attrs["type"] == "application/json"
    collection = json.loads(script.text)
    assert collection["type"] == "FeatureCollection"
    return collection["features"]


def test_leaflet_and_page_script_are_inline(parsed: _Page, assets: LeafletAssets) -> None:
    code = [s for s in parsed.all("script") if "type" not in s.attrs]
    assert len(code) == 2
    assert [s.text for s in code].count(assets.js) == 1  # Leaflet itself, exactly once
    assert code[0].text == assets.js
    assert "L.map(" in code[-1].text and "Leaflet 1." not in code[-1].text
    styles = parsed.all("style")
    assert any(s.text == assets.css for s in styles)
    assert "data:image/png;base64," in assets.css  # Leaflet's images inlined, not fetched


def test_no_script_ends_early(page: str, parsed: _Page) -> None:
    opened = page.lower().count("<script")
    assert opened == len(parsed.all("script")) == 3 + 3  # leaflet, config, 3 layers, page
    assert page.lower().count("</script>") == opened
    assert parsed.ends.count("script") == opened
    (body,) = parsed.all("body")
    assert "alert(1)" not in body.text
    holders = [e.attrs.get("id") for e in parsed.all("script") if "alert(1)" in e.text]
    assert holders == ["geojtai-config", "layer-0", "layer-1"]


def test_config_lists_layers(parsed: _Page) -> None:
    (script,) = parsed.all("script", id="geojtai-config")
    config = json.loads(script.text)
    # Leaflet inserts the attribution and layer names as HTML: they arrive escaped.
    assert config["attribution"] == html.escape(f"© Crown copyright & police.uk {EVIL}")
    assert [(x["name"], x["title"], x["kind"], x["shown"]) for x in config["layers"]] == [
        ("cells", "Coverage gaps", "polygon", True),
        ("roads", "Main roads", "line", True),
        ("wards", "Context wards", "polygon", False),
    ]
    assert config["layers"][0]["opacity"] == GAP.fill_opacity
    assert config["layers"][0]["outline"] == GAP.outline


def test_layer_features_carry_colours_and_nulls(parsed: _Page, layers: list[HtmlLayer]) -> None:
    for i, layer in enumerate(layers):
        features = _features(parsed, i)
        assert len(features) == len(layer.frame)
        style = layer.style
        values = layer.frame[style.attribute] if style.attribute else [None] * len(layer.frame)
        assert [f["properties"]["_colour"] for f in features] == [  # type: ignore[index]
            style.colour_of(v) for v in values
        ]
    cells = [f["properties"] for f in _features(parsed, 0)]
    assert [p["_colour"] for p in cells] == ["#d7191c", "#fd8d3c", "#bdbdbd", "#bdbdbd"]  # type: ignore[index]
    assert [p["count"] for p in cells] == [12.0, None, 3.0, 4.0]  # type: ignore[index]
    assert [p["gap"] for p in cells] == ["none", "single", None, "other"]  # type: ignore[index]
    assert cells[0]["note"] == EVIL and cells[1]["note"] == "Smith & Sons"  # type: ignore[index]
    roads = [f["properties"] for f in _features(parsed, 1)]
    assert roads == [
        {"name": "A1 & B2", "lanes": 2, "_colour": "#3366cc"},
        {"name": EVIL, "lanes": 4, "_colour": "#3366cc"},
    ]
    geometry = _features(parsed, 1)[0]["geometry"]
    assert geometry["type"] == "LineString"  # type: ignore[index]
    assert [list(p) for p in geometry["coordinates"]] == [[-1.5, 52.0], [-1.4, 52.1]]  # type: ignore[index]


def test_title_and_headings_are_escaped(page: str, parsed: _Page) -> None:
    assert [e.text for e in parsed.all("title")] == [TITLE]
    assert [e.text for e in parsed.all("h1")] == [TITLE]
    assert "<b>" not in page.split("<style>")[0]  # not markup in the head
    assert "Fish &amp; Chips &lt;b&gt;&quot;map&quot;&lt;/b&gt;" in page
    (header,) = parsed.all("header")
    assert "Kingsmere, 2023 & 2024" in header.text


def test_marking_top_and_bottom(parsed: _Page) -> None:
    markings = parsed.all("div", **{"class": "marking"})
    assert [m.text for m in markings] == ["OFFICIAL-SENSITIVE"] * 2


def test_metadata_meta_elements(parsed: _Page) -> None:
    metas = {
        e.attrs["name"]: e.attrs["content"]
        for e in parsed.all("meta")
        if (e.attrs.get("name") or "").startswith("geojtai:")
    }
    assert metas == {
        "geojtai:study": 'King"s & <mere>',
        "geojtai:profile": "public",
        "geojtai:generated": EVIL,
    }
    (description,) = parsed.all("meta", name="description")
    assert description.attrs["content"] == "Counts under 10 are withheld <always>."


def test_legend_lists_shown_layers_only(parsed: _Page) -> None:
    (aside,) = parsed.all("aside")
    headings = [e.text for e in parsed.all("h3")]
    assert headings == ["Coverage gaps", "Main roads"]
    items = [e.text for e in parsed.all("li")]
    assert items == ["No agency", "One agency only", "Withheld: fewer than 10", "Main roads"]
    swatches = [e.attrs["style"] for e in parsed.all("span", **{"class": "swatch"})]
    assert swatches == [f"background:{c}" for c in ("#d7191c", "#fd8d3c", "#bdbdbd", "#3366cc")]
    assert "Context wards" not in aside.text and "hidden-label" not in aside.text
    assert "Counts under 10 are withheld <always>." in aside.text


def test_nothing_is_fetched_from_the_network(parsed: _Page) -> None:
    linked = [
        (e.tag, name, value)
        for e in parsed.elements
        for name, value in e.attrs.items()
        if name in {"src", "href"}
    ]
    assert [x for x in linked if (x[2] or "").lower().startswith(("http:", "https:", "//"))] == []
    assert parsed.all("link") == [] and [e for e in parsed.all("script") if "src" in e.attrs] == []


def test_layer_without_features() -> None:
    empty = gpd.GeoDataFrame({"gap": []}, geometry=[], crs="EPSG:4326")
    page = standalone_map(
        [HtmlLayer("cells", empty, GAP)],
        LeafletAssets(js="/* leaflet */", css=""),
        title="t",
        subtitle="",
        marking="OFFICIAL",
        attribution="",
        disclosure="",
        metadata={},
    )
    parser = _Page()
    parser.feed(page)
    assert _features(parser, 0) == []
