"""geojtai.charts: evidence-pack charts as matplotlib Figures, with gaps for suppressed values."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from geojtai.charts import PALETTE, bar_chart, interval_chart, line_chart, stacked_bar_chart
from geojtai.staticmap import figure_pdf, figure_png

AREAS = ["Leeds", "Bradford", "Wakefield"]
MONTHS = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]


def png(fig: Figure, dpi: int = 100) -> Image.Image:
    return Image.open(io.BytesIO(figure_png(fig, dpi=dpi))).convert("RGB")


def near(image: Image.Image, colour: str, tolerance: int = 6) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(np.asarray(image).astype(int) - rgb) <= tolerance, axis=-1)))


def ax_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def tick_labels(fig: Figure, axis: str) -> list[str]:
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


def bars(fig: Figure) -> list[Rectangle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


# --- bar chart ----------------------------------------------------------------------------


def test_bar_chart_is_small_and_uses_the_given_colours() -> None:
    fig = bar_chart(
        AREAS, [12, 30, 7], title="Incidents", colours=["#d7191c", "#1b9e77", "#7570b3"]
    )
    image = png(fig)
    assert image.size == (700, 300)
    for colour in ("#d7191c", "#1b9e77", "#7570b3"):
        assert near(image, colour) > 1_000


def test_bar_chart_draws_withheld_values_as_empty_bars() -> None:
    fig = bar_chart(
        AREAS,
        [0.42, None, math.nan],
        title="Coverage",
        percent=True,
        note="Fewer than 10: withheld.",
    )
    assert ax_texts(fig) == ["42%", "withheld", "withheld"]
    filled = [b for b in bars(fig) if b.get_fill()]
    empty = [b for b in bars(fig) if not b.get_fill()]
    assert [b.get_width() for b in filled] == [0.42]
    assert len(empty) == 2 and all(b.get_linestyle() == "--" for b in empty)
    assert all(b.get_width() < 0.1 * 0.42 for b in empty)  # a stub, not a value
    assert "%" in tick_labels(fig, "x")[-1]
    assert fig.get_supxlabel() == "Fewer than 10: withheld."


def test_bar_chart_lists_the_first_label_at_the_top() -> None:
    fig = bar_chart(AREAS, [1, 2, 3], title="Order")
    assert tick_labels(fig, "y") == AREAS
    bottom, top = fig.axes[0].get_ylim()
    assert bottom > top  # inverted: index 0 at the top


def test_bar_chart_formats_counts_with_thousands_separators() -> None:
    assert ax_texts(bar_chart(["a", "b"], [1234, 0.5], title="Counts")) == ["1,234", "0.5"]


def test_bar_chart_grows_with_many_labels() -> None:
    fig = bar_chart([f"area {i}" for i in range(30)], list(range(30)), title="Many")
    assert 3.0 < fig.get_size_inches()[1] <= 10.0


@pytest.mark.parametrize(
    ("values", "colours"), [([1.0, 2.0], None), ([1.0, 2.0, 3.0], ["#000000", "#ffffff"])]
)
def test_bar_chart_rejects_mismatched_lengths(
    values: list[float], colours: list[str] | None
) -> None:
    with pytest.raises(ValueError, match="Expected 3 values"):
        bar_chart(AREAS, values, title="Bad", colours=colours)


# --- line chart ---------------------------------------------------------------------------


def test_line_chart_leaves_gaps_for_missing_months() -> None:
    values: list[float | None] = [5.0, None, 7.0, 8.0]
    fig = line_chart(MONTHS[:4], {"Leeds": values}, title="Incidents per month", ylabel="Incidents")
    (line,) = fig.axes[0].lines
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y[1]) and list(y[[0, 2, 3]]) == [5.0, 7.0, 8.0]
    assert line.get_marker() == "o"  # a point between two gaps still shows
    assert fig.axes[0].get_legend() is None  # one series needs no legend


def test_line_chart_writes_at_most_twelve_x_labels() -> None:
    fig = line_chart(
        MONTHS, {"Leeds": list(range(36)), "Bradford": [None] * 36}, title="Three years"
    )
    labels = tick_labels(fig, "x")
    assert 6 <= len(labels) <= 12
    assert labels[0] == "2023-01" and set(labels) <= set(MONTHS)
    legend = fig.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == [
        "Leeds",
        "Bradford",
    ]


def test_line_chart_series_take_palette_colours() -> None:
    fig = line_chart(MONTHS[:6], {"a": [1, 2, 3, 4, 5, 6], "b": [6, 5, 4, 3, 2, 1]}, title="Two")
    assert [line.get_color() for line in fig.axes[0].lines] == list(PALETTE[:2])


def test_line_chart_percent_axis() -> None:
    fig = line_chart(MONTHS[:3], {"share": [0.1, 0.25, 0.5]}, title="Share", percent=True)
    assert all(t.endswith("%") for t in tick_labels(fig, "y") if t)


# --- interval chart -----------------------------------------------------------------------


def test_interval_chart_draws_points_intervals_and_not_estimable_rows() -> None:
    nan = math.nan
    fig = interval_chart(
        AREAS, [1.2, nan, 0.8], [1.0, nan, 0.5], [1.5, nan, 1.1], title="Rate ratio", reference=1.0
    )
    ax = fig.axes[0]
    assert ax_texts(fig) == ["not estimable"]
    reference = [ln for ln in ax.lines if list(ln.get_xdata()) == [1.0, 1.0]]
    assert len(reference) == 1
    (segments,) = ax.collections
    assert [tuple(s[:, 0]) for s in segments.get_segments()] == [(1.0, 1.5), (0.5, 1.1)]
    x0, x1 = ax.get_xlim()
    assert x0 < 0.5 and x1 > 1.5


def test_interval_chart_all_not_estimable_still_draws() -> None:
    fig = interval_chart(["a"], [math.nan], [math.nan], [math.nan], title="None estimable")
    assert ax_texts(fig) == ["not estimable"]
    png(fig)


# --- stacked bar chart --------------------------------------------------------------------


def test_stacked_bar_chart_shows_shares_of_each_row() -> None:
    parts = {"2+ agencies": [30, 10, 0], "1 agency": [50, 30, 0], "none": [20, 60, 0]}
    colours = ["#1b9e77", "#fdae61", "#d7191c"]
    fig = stacked_bar_chart(AREAS, parts, title="Coverage", colours=colours)
    widths = np.array([b.get_width() for b in bars(fig)]).reshape(3, 3)  # parts × rows
    assert widths.sum(axis=0) == pytest.approx([1.0, 1.0, 0.0])
    assert "no data" in ax_texts(fig) and "60%" in ax_texts(fig)
    legend = fig.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == list(parts)
    image = png(fig)
    assert all(near(image, c) > 500 for c in colours)


def test_stacked_bar_chart_raw_values() -> None:
    fig = stacked_bar_chart(["a"], {"x": [3.0], "y": [4.0]}, title="Raw", percent=False)
    assert [b.get_x() for b in bars(fig)] == [0.0, 3.0]
    assert ax_texts(fig) == []  # shares are written only in percent mode


def test_stacked_bar_chart_needs_one_colour_per_part() -> None:
    with pytest.raises(ValueError, match="2 parts but 1 colours"):
        stacked_bar_chart(["a"], {"x": [1.0], "y": [1.0]}, title="Bad", colours=["#000000"])


# --- empty input and output ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: bar_chart([], [], title="Empty"),
        lambda: line_chart([], {}, title="Empty"),
        lambda: line_chart(MONTHS[:2], {"a": [None, None]}, title="Empty"),
        lambda: interval_chart([], [], [], [], title="Empty"),
        lambda: stacked_bar_chart([], {}, title="Empty"),
        lambda: stacked_bar_chart(["a"], {}, title="Empty"),
    ],
)
def test_empty_input_says_no_data(make: Callable[[], Figure]) -> None:
    fig = make()
    assert ax_texts(fig) == ["No data"]
    assert fig.axes[0].get_title(loc="left") == "Empty"
    png(fig)


def test_charts_export_to_pdf() -> None:
    pdf = figure_pdf(bar_chart(AREAS, [1, 2, 3], title="PDF"), metadata={"Title": "PDF"})
    assert pdf.startswith(b"%PDF")
