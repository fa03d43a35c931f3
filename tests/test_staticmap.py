"""geojtai.staticmap: printable maps as Figures, PNG and PDF bytes with metadata."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image
from pypdf import PdfReader
from shapely.geometry import LineString, Point, Polygon, box

from geojtai import grid
from geojtai.errors import CRSError, SchemaError
from geojtai.staticmap import MapLayer, figure_pdf, figure_png, static_map
from geojtai.symbology import LayerStyle, StyleClass

RED, GREEN, GREY = "#d7191c", "#1b9e77", "#bdbdbd"
X0, Y0 = 430_000.0, 433_000.0  # Leeds, in BNG metres
PAGE = {
    "title": "Gaps in provision",
    "subtitle": "Leeds, 2023 to 2025",
    "marking": "OFFICIAL-SENSITIVE",
    "attribution": "Contains OS data © Crown copyright and database right 2025.",
    "disclosure": "Counts under 10 are withheld.",
}


def categorized(fill_opacity: float = 1.0, **options: object) -> LayerStyle:
    return LayerStyle(
        title="Coverage gap",
        kind="polygon",
        renderer="categorized",
        attribute="gap",
        classes=(
            StyleClass("none", "No agency working there", RED),
            StyleClass("one", "One agency only", GREEN),
        ),
        fill_opacity=fill_opacity,
        **options,  # type: ignore[arg-type]
    )


def two_squares(crs: str | None = "EPSG:27700") -> gpd.GeoDataFrame:
    """Two 2 km squares side by side: one red, one green."""
    squares = [box(X0, Y0, X0 + 2000, Y0 + 2000), box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000)]
    return gpd.GeoDataFrame(
        {"gap": ["none", "one"], "name": ["West", "East"]}, geometry=squares, crs=crs
    )


def hexagons(n: int, radius: float = 100.0) -> gpd.GeoDataFrame:
    """``n`` flat-topped regular hexagons tiling a rectangle, with a count column."""
    side = int(np.ceil(np.sqrt(n)))
    row, col = np.divmod(np.arange(n), side)
    cx = X0 + col * 1.5 * radius
    cy = Y0 + row * np.sqrt(3) * radius + (col % 2) * np.sqrt(3) / 2 * radius
    angles = np.deg2rad(np.arange(7) * 60.0)
    rings = np.stack(
        [cx[:, None] + radius * np.cos(angles), cy[:, None] + radius * np.sin(angles)], -1
    )
    counts = np.arange(n) % 7
    return gpd.GeoDataFrame({"count": counts}, geometry=shapely.polygons(rings), crs="EPSG:27700")


def draw(layers: list[MapLayer], **options: object) -> Figure:
    return static_map(layers, **{**PAGE, **options})  # type: ignore[arg-type]


def texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text()]


def pixels(fig: Figure) -> np.ndarray:
    """The figure as an RGB array, rendered at its own dpi so transforms match pixels."""
    png = figure_png(fig, dpi=int(fig.dpi))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def near(image: np.ndarray, colour: str, tolerance: int = 6) -> int:
    """How many pixels are within ``tolerance`` of ``colour`` in every channel."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(image - rgb) <= tolerance, axis=-1)))


def pixel_at(fig: Figure, image: np.ndarray, x: float, y: float) -> tuple[int, ...]:
    px, py = fig.axes[0].transData.transform((x, y))
    return tuple(image[image.shape[0] - int(round(py)), int(round(px))])


def blend(colour: str, alpha: float) -> str:
    """``colour`` at ``alpha`` over white."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(alpha * c + (1 - alpha) * 255):02x}" for c in rgb)


# --- page and pixels ----------------------------------------------------------------------


@pytest.mark.parametrize(("dpi", "size"), [(100, (1169, 827)), (150, (1753, 1240))])
def test_png_is_an_a4_landscape_page_at_the_given_dpi(dpi: int, size: tuple[int, int]) -> None:
    image = Image.open(
        io.BytesIO(figure_png(draw([MapLayer(two_squares(), categorized())]), dpi=dpi))
    )
    assert image.format == "PNG"
    assert image.size == size
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.05)  # stored per metre


@pytest.mark.parametrize("opacity", [1.0, 0.6])
def test_category_colours_fill_the_polygons(opacity: float) -> None:
    fig = draw([MapLayer(two_squares(), categorized(opacity))])
    image = pixels(fig)
    red, green = blend(RED, opacity), blend(GREEN, opacity)
    # Each square covers roughly a fifth of the map's 6.3 × 6.6 inches at 100 dpi.
    assert near(image, red) > 30_000
    assert near(image, green) > 30_000
    assert pixel_at(fig, image, X0 + 1000, Y0 + 1000) == pytest.approx(_rgb(red), abs=6)
    assert pixel_at(fig, image, X0 + 3000, Y0 + 1000) == pytest.approx(_rgb(green), abs=6)


def _rgb(colour: str) -> tuple[int, ...]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_missing_values_take_the_no_data_colour() -> None:
    frame = two_squares().assign(gap=["none", None])
    fig = draw([MapLayer(frame, categorized(no_data="withheld", no_data_colour=GREY))])
    image = pixels(fig)
    assert pixel_at(fig, image, X0 + 3000, Y0 + 1000) == pytest.approx(_rgb(GREY), abs=6)
    assert near(image, GREEN) < 300  # only the legend swatch, not a 2 km square


def test_polygon_holes_stay_open() -> None:
    ring = box(X0, Y0, X0 + 4000, Y0 + 4000).exterior.coords
    hole = box(X0 + 1000, Y0 + 1000, X0 + 3000, Y0 + 3000).exterior.coords
    frame = gpd.GeoDataFrame({"gap": ["none"]}, geometry=[Polygon(ring, [hole])], crs="EPSG:27700")
    fig = draw([MapLayer(frame, categorized())])
    image = pixels(fig)
    assert pixel_at(fig, image, X0 + 2000, Y0 + 2000) == (255, 255, 255)
    assert pixel_at(fig, image, X0 + 500, Y0 + 2000) == pytest.approx(_rgb(RED), abs=6)


def test_lines_and_points_are_drawn_in_their_class_colours() -> None:
    lines = gpd.GeoDataFrame(
        {"kind": ["a", "b"]},
        geometry=[
            LineString([(X0, Y0), (X0 + 4000, Y0 + 4000)]),
            LineString([(X0, Y0 + 4000), (X0 + 4000, Y0)]),
        ],
        crs="EPSG:27700",
    )
    points = gpd.GeoDataFrame(
        {"kind": ["a"]}, geometry=[Point(X0 + 500, Y0 + 3500)], crs="EPSG:27700"
    )
    classes = (StyleClass("a", "A", RED), StyleClass("b", "B", GREEN))
    line_style = LayerStyle(
        title="Roads",
        kind="line",
        renderer="categorized",
        attribute="kind",
        classes=classes,
        line_width=4.0,
    )
    point_style = LayerStyle(
        title="Venues",
        kind="point",
        renderer="categorized",
        attribute="kind",
        classes=(StyleClass("a", "A", "#7570b3"),),
        point_size=14.0,
        fill_opacity=1.0,
    )
    image = pixels(draw([MapLayer(lines, line_style), MapLayer(points, point_style)]))
    assert near(image, RED) > 1_000
    assert near(image, GREEN) > 1_000
    assert near(image, "#7570b3") > 100


def test_2000_hexagons_render_with_a_known_number_of_colours() -> None:
    ramp = ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c")
    classes = tuple(
        StyleClass(None, f"{2 * i}-{2 * i + 1}", c, 2 * i - 0.5, 2 * i + 1.5)
        for i, c in enumerate(ramp)
    )
    style = LayerStyle(
        title="Incidents",
        kind="polygon",
        renderer="graduated",
        attribute="count",
        classes=classes,
        fill_opacity=1.0,
        outline=None,
    )
    image = pixels(draw([MapLayer(hexagons(2000), style)]))
    for colour in ramp:
        assert near(image, colour) > 5_000


def test_h3_cells_from_the_grid_module_render() -> None:
    rng = np.random.default_rng(1)
    cells = np.unique(
        grid.cells_from_points(
            rng.uniform(53.78, 53.82, 3000), rng.uniform(-1.58, -1.52, 3000), resolution=9
        )
    )
    frame = gpd.GeoDataFrame(
        {"gap": ["none"] * len(cells)}, geometry=grid.cell_polygons(cells), crs="EPSG:4326"
    )
    fig = draw([MapLayer(frame, categorized())])
    x0, x1 = fig.axes[0].get_xlim()
    assert 420_000 < x0 < x1 < 435_000  # Leeds, reprojected to BNG
    assert near(pixels(fig), RED) > 100_000


def test_output_is_deterministic() -> None:
    def render() -> bytes:
        style = LayerStyle(title="Cells", kind="polygon")
        return figure_png(draw([MapLayer(hexagons(300), style, label_column="count")]))

    assert render() == render()


# --- furniture ----------------------------------------------------------------------------


def test_marking_title_subtitle_attribution_and_disclosure_are_on_the_page() -> None:
    fig = draw([MapLayer(two_squares(), categorized())])
    found = [t.get_text() for t in texts(fig)]
    assert found.count(PAGE["marking"]) == 2
    top, bottom = (t for t in texts(fig) if t.get_text() == PAGE["marking"])
    assert top.get_position()[1] > 0.98 and bottom.get_position()[1] < 0.02
    assert top.get_fontweight() == "bold"
    for key in ("title", "subtitle", "attribution", "disclosure"):
        assert PAGE[key] in [" ".join(t.split("\n")) for t in found]


def test_long_disclosure_is_wrapped_to_the_legend_panel() -> None:
    long = "Counts under 10 are withheld and every other count is rounded to the nearest 5. " * 4
    fig = draw([MapLayer(two_squares(), categorized())], disclosure=long)
    (note,) = [t for t in texts(fig) if t.get_gid() == "disclosure"]
    fig.canvas.draw()
    box_ = note.get_bbox_patch().get_window_extent()  # type: ignore[union-attr]
    assert note.get_text().count("\n") >= 4
    assert box_.x1 < fig.bbox.x1 and box_.y1 < fig.axes[0].get_window_extent().y1


def test_legend_has_a_section_per_legend_layer() -> None:
    parks = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 500, Y0 + 500)], crs="EPSG:27700")
    layers = [
        MapLayer(parks, LayerStyle(title="Parks", kind="polygon", colour="#a1d99b")),
        MapLayer(two_squares(), categorized(no_data="fewer than 10: withheld")),
        MapLayer(parks, LayerStyle(title="Hidden", kind="polygon"), legend=False),
    ]
    fig = draw(layers)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == [
        "Parks",
        "",
        "Coverage gap",
        "No agency working there",
        "One agency only",
        "fewer than 10: withheld",
    ]
    bold = [t.get_text() for t in legend.get_texts() if t.get_fontweight() == "bold"]
    assert bold == ["Parks", "Coverage gap"]
    # The legend sits right of the map, not over it.
    fig.canvas.draw()
    assert legend.get_window_extent().x0 > fig.axes[0].get_window_extent().x1


@pytest.mark.parametrize("width", [300.0, 4_000.0, 60_000.0])
def test_scale_bar_is_a_round_length_about_a_fifth_of_the_map(width: float) -> None:
    frame = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + width, Y0 + width / 2)], crs="EPSG:27700")
    fig = draw([MapLayer(frame, LayerStyle(title="Area", kind="polygon"))])
    (label,) = [t for t in texts(fig) if t.get_gid() == "scale-bar-label"]
    match = re.fullmatch(r"(\d+(?:\.\d+)?) (m|km)", label.get_text())
    assert match, label.get_text()
    metres = float(match[1]) * (1000 if match[2] == "km" else 1)
    mantissa = metres / 10 ** np.floor(np.log10(metres))
    assert mantissa in (1.0, 2.0, 5.0)
    x0, x1 = fig.axes[0].get_xlim()
    assert (x1 - x0) / 12.5 < metres <= (x1 - x0) / 5


def test_north_arrow_says_n_and_grid_north() -> None:
    fig = draw([MapLayer(two_squares(), categorized())])
    ax_texts = [t.get_text() for t in fig.axes[0].texts]
    assert "N" in ax_texts and "Grid north" in ax_texts


def test_labels_are_written_with_a_halo() -> None:
    fig = draw([MapLayer(two_squares(), categorized(), label_column="name")])
    texts = [t for t in fig.axes[0].texts if t.get_text() in ("West", "East")]
    assert sorted(t.get_text() for t in texts) == ["East", "East", "West", "West"]
    west = [t for t in texts if t.get_text() == "West"]
    assert all(t.get_position() == pytest.approx((X0 + 1000, Y0 + 1000)) for t in west)
    # The halo is a copy drawn underneath; the text on top stays text in a PDF.
    assert [bool(t.get_path_effects()) for t in west] == [True, False]


def test_no_ticks_on_the_map() -> None:
    ax = draw([MapLayer(two_squares(), categorized())]).axes[0]
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []


# --- extent and CRS -----------------------------------------------------------------------


@pytest.mark.parametrize(("extent_from", "size"), [(0, 4_000.0), (1, 40_000.0)])
def test_extent_follows_the_chosen_layer(extent_from: int, size: float) -> None:
    small = two_squares()  # 4 km × 2 km
    big = gpd.GeoDataFrame(
        geometry=[box(X0 - 18_000, Y0 - 19_000, X0 + 22_000, Y0 + 21_000)], crs="EPSG:27700"
    )
    layers = [
        MapLayer(small, categorized()),
        MapLayer(big, LayerStyle(title="District", kind="polygon")),
    ]
    ax = draw(layers, extent_from=extent_from).axes[0]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    bounds = layers[extent_from].frame.total_bounds
    assert x0 < bounds[0] and bounds[2] < x1 and y0 < bounds[1] and bounds[3] < y1
    # 5 % margin on the tighter side; the other side is widened to the map's shape.
    assert min(
        (x1 - x0) / (bounds[2] - bounds[0]), (y1 - y0) / (bounds[3] - bounds[1])
    ) == pytest.approx(1.1)
    assert (
        (x1 - x0) == pytest.approx(size * 1.1)
        or (y1 - y0) == pytest.approx(size / 2 * 1.1)
        or extent_from == 1
    )


def test_layers_in_wgs84_are_reprojected_to_bng() -> None:
    fig = draw([MapLayer(two_squares().to_crs("EPSG:4326"), categorized())])
    x0, x1 = fig.axes[0].get_xlim()
    assert x0 < X0 < X0 + 4000 < x1
    assert fig.axes[0].get_aspect() == 1.0


def test_every_layer_without_a_crs_is_named_in_one_error() -> None:
    layers = [
        MapLayer(two_squares(crs=None), categorized()),
        MapLayer(two_squares(crs=None), LayerStyle(title="Parks", kind="polygon")),
    ]
    with pytest.raises(CRSError, match="'Coverage gap' has no CRS.*'Parks' has no CRS"):
        draw(layers)
    with pytest.raises(ValueError, match="Parks"):
        draw(layers[1:])


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (MapLayer(two_squares().drop(columns="gap"), categorized()), "no column 'gap'"),
        (MapLayer(two_squares(), categorized(), label_column="ward"), "no column 'ward'"),
        (
            MapLayer(two_squares(), LayerStyle(title="Roads", kind="line")),
            "styled as line but 2 geometries",
        ),
    ],
)
def test_unusable_layers_raise(layer: MapLayer, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        draw([layer])


@pytest.mark.parametrize("extent_from", [2, -3])
def test_extent_from_must_be_a_layer(extent_from: int) -> None:
    with pytest.raises(SchemaError, match="`extent_from`"):
        draw([MapLayer(two_squares(), categorized())] * 2, extent_from=extent_from)


def test_null_and_empty_geometries_are_skipped() -> None:
    frame = gpd.GeoDataFrame(
        {"gap": ["none", "one", "one"], "name": ["West", None, "Nowhere"]},
        geometry=[box(X0, Y0, X0 + 2000, Y0 + 2000), None, Polygon()],
        crs="EPSG:27700",
    )
    fig = draw([MapLayer(frame, categorized(), label_column="name")])
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text() in ("West", "Nowhere")]
    assert labels == ["West", "West"]  # the halo copy, then the text
    assert near(pixels(fig), RED) > 30_000


def test_empty_extent_layer_falls_back_to_the_other_layers() -> None:
    empty = two_squares().iloc[:0]
    ax = draw([MapLayer(empty, categorized()), MapLayer(two_squares(), categorized())]).axes[0]
    x0, x1 = ax.get_xlim()
    assert x0 < X0 < X0 + 4000 < x1


# --- metadata -----------------------------------------------------------------------------


def test_png_text_chunks_carry_the_metadata() -> None:
    fig = draw([MapLayer(two_squares(), categorized())])
    meta = {
        "Title": "Gaps in provision",
        "Disclosure": "Counts under 10 withheld",
        "Marking": "OFFICIAL",
        "Note": "Zoë’s review",
    }
    text = Image.open(io.BytesIO(figure_png(fig, metadata=meta))).text  # type: ignore[attr-defined]
    assert {k: text[k] for k in meta} == meta


def test_png_metadata_keys_must_be_png_keywords() -> None:
    fig = draw([MapLayer(two_squares(), categorized())])
    with pytest.raises(ValueError, match="PNG metadata keys"):
        figure_png(fig, metadata={"x" * 80: "too long", "ok": "fine"})


def test_pdf_document_information_carries_the_metadata() -> None:
    fig = draw([MapLayer(two_squares(), categorized())])
    meta = {
        "Title": "Gaps in provision",
        "Disclosure": "Counts under 10 withheld",
        "Marking": "OFFICIAL",
        "keywords": "coverage",
    }
    pdf = figure_pdf(fig, metadata=meta)
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    assert info["/Title"] == "Gaps in provision"
    assert info["/Subject"] == "Counts under 10 withheld"
    assert info["/Keywords"] == "coverage; Marking: OFFICIAL"
    assert "/CreationDate" not in info
    assert figure_pdf(fig, metadata=meta) == pdf  # no date, so reproducible


def test_point_labels_sit_above_their_markers() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["Leeds", "Wakefield"]},
        geometry=[Point(X0, Y0), Point(X0 + 5000, Y0 - 8000)],
        crs="EPSG:27700",
    )
    style = LayerStyle("Areas", "point", point_size=14.0)
    fig = draw([MapLayer(frame, style, label_column="name")])
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for name, point in zip(frame["name"], frame.geometry, strict=True):
        marker_y = ax.transData.transform((point.x, point.y))[1]
        bottoms = [t.get_window_extent(renderer).y0 for t in ax.texts if t.get_text() == name]
        assert len(bottoms) == 2  # the halo copy and the text
        assert min(bottoms) >= marker_y + 7 * fig.dpi / 72  # above half the marker's 14 pt
