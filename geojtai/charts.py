"""Charts for the evidence pack and board papers: small matplotlib Figures.

Every function returns a :class:`~matplotlib.figure.Figure` on an Agg canvas (never
pyplot, so there is no global state and charts can be drawn from the web app's threads);
:func:`geojtai.staticmap.figure_png` and :func:`geojtai.staticmap.figure_pdf` turn one into
bytes. Colours default to the Okabe–Ito palette, which colour-blind readers can tell apart.

Values that are ``None`` or NaN are never drawn as zeros: a suppressed count is an empty
outlined bar marked "withheld", a missing month is a gap in the line, an interval that could
not be estimated says so. Empty input gives a figure that says "No data".

Examples
--------
>>> fig = bar_chart(["Leeds", "Bradford"], [0.42, None], title="Cells covered", percent=True)
>>> [t.get_text() for t in fig.axes[0].texts]
['42%', 'withheld']
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

__all__ = ["PALETTE", "bar_chart", "interval_chart", "line_chart", "stacked_bar_chart"]

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermilion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)  # Okabe & Ito (2008), "Color Universal Design"
_WIDTH_IN = 7.0
_MAX_X_TICKS = 12
_MUTED = "#595959"
_REFERENCE = "#7f7f7f"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    xlabel: str = "",
    percent: bool = False,
    colours: Sequence[str] | None = None,
    note: str = "",
) -> Figure:
    """Horizontal bars, first label at the top, each with its value written at its end.

    Parameters
    ----------
    labels, values
        One bar per label. A None or NaN value (a suppressed small count) is drawn as an
        empty dashed bar marked "withheld".
    title, xlabel
        Above the chart, and under the value axis.
    percent
        Values are shares (0–1), shown as percentages.
    colours
        One colour per bar; the first palette colour for every bar by default.
    note
        A small note under the chart (a source, or how values were suppressed).
    """
    _check_lengths(len(labels), values=values, colours=colours)
    if not labels:
        return _no_data(title)
    fig, ax = _figure(len(labels))
    x = _floats(values)
    y = np.arange(len(labels))
    known = np.isfinite(x)
    fills = np.asarray(colours if colours is not None else [PALETTE[0]] * len(labels))
    ax.barh(y[known], x[known], color=fills[known], height=0.65)
    top = float(np.max(np.abs(x[known]), initial=0.0)) or 1.0
    stub = 0.06 * top  # a withheld bar's length says nothing about its value
    ax.barh(y[~known], stub, height=0.65, fill=False, edgecolor=_MUTED, linestyle="--")
    _bar_labels(ax, x, stub, percent)
    _category_axis(ax, labels)
    _value_axis(ax, "x", percent, xlabel)
    ax.set_xlim(min(0.0, float(np.min(x[known], initial=0.0)) * 1.15), top * 1.15)
    _finish(fig, ax, title, note)
    return fig


def line_chart(
    x: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str = "",
    percent: bool = False,
) -> Figure:
    """Lines over labelled x positions (months, years), one per series, gaps where None.

    Parameters
    ----------
    x
        The x labels in order; at most about 12 are written.
    series
        Name to values, each as long as ``x``; a legend names them when there are two or more.
    title, ylabel
        Above the chart, and beside the value axis.
    percent
        Values are shares (0–1), shown as percentages.
    """
    _check_lengths(len(x), **{f"series {name!r}": v for name, v in series.items()})
    arrays = {name: _floats(v) for name, v in series.items()}
    if not x or not any(np.isfinite(a).any() for a in arrays.values()):
        return _no_data(title)
    fig, ax = _figure(0)
    positions = np.arange(len(x))
    for i, (name, values) in enumerate(arrays.items()):
        # Markers too, so a value between two gaps still shows.
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(
            positions, values, color=colour, linewidth=1.6, marker="o", markersize=3, label=name
        )
    step = math.ceil(len(x) / _MAX_X_TICKS)
    ticks = positions[::step]
    ax.set_xticks(ticks, [x[i] for i in ticks], fontsize=8)
    if len(ticks) > 6:
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_xlim(-0.5, len(x) - 0.5)
    if all((a[np.isfinite(a)] >= 0).all() for a in arrays.values()):
        ax.set_ylim(bottom=0.0)
    _value_axis(ax, "y", percent, ylabel)
    if len(arrays) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    _finish(fig, ax, title, "")
    return fig


def interval_chart(
    labels: Sequence[str],
    estimates: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    *,
    title: str,
    reference: float = 0.0,
    xlabel: str = "",
) -> Figure:
    """A forest plot: a point and a confidence interval per row, and a reference line.

    Parameters
    ----------
    labels, estimates, lower, upper
        One row each, first at the top. A row with a NaN estimate or bound is written
        "not estimable" at the reference line.
    title, xlabel
        Above the chart, and under it.
    reference
        Where the dashed reference line is drawn (0 for a difference, 1 for a ratio).
    """
    _check_lengths(len(labels), estimates=estimates, lower=lower, upper=upper)
    if not labels:
        return _no_data(title)
    fig, ax = _figure(len(labels))
    est, low, high = _floats(estimates), _floats(lower), _floats(upper)
    y = np.arange(len(labels))
    ok = np.isfinite(est) & np.isfinite(low) & np.isfinite(high)
    ax.axvline(reference, color=_REFERENCE, linestyle="--", linewidth=0.9, zorder=1)
    ax.hlines(y[ok], low[ok], high[ok], color=PALETTE[0], linewidth=1.6, zorder=2)
    ax.plot(est[ok], y[ok], "o", color=PALETTE[0], markersize=5, zorder=3)
    for yi in y[~ok]:
        ax.annotate(
            "not estimable",
            (reference, yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            fontstyle="italic",
            color=_MUTED,
        )
    span = np.r_[low[ok], high[ok], reference]
    pad = 0.08 * (np.ptp(span) or 1.0)
    ax.set_xlim(span.min() - pad, span.max() + pad + (0.0 if ok.all() else 4 * pad))
    _category_axis(ax, labels)
    _value_axis(ax, "x", False, xlabel)
    _finish(fig, ax, title, "")
    return fig


def stacked_bar_chart(
    labels: Sequence[str],
    parts: Mapping[str, Sequence[float]],
    *,
    title: str,
    percent: bool = True,
    colours: Sequence[str] | None = None,
) -> Figure:
    """Horizontal bars split into parts, e.g. cells covered by 2+, 1 or no agencies.

    Parameters
    ----------
    labels
        One bar per label, first at the top.
    parts
        Part name to its value per label, stacked left to right in the mapping's order and
        named in a legend. NaN counts as 0; a bar whose parts are all 0 or NaN is marked
        "no data".
    title
        Above the chart.
    percent
        Show each bar as shares of its total (0–100 %), parts of 8 % or more labelled;
        otherwise stack the values as given.
    colours
        One per part; the palette by default.
    """
    _check_lengths(len(labels), **{f"part {name!r}": v for name, v in parts.items()})
    if colours is not None and len(colours) != len(parts):
        msg = f"{len(parts)} parts but {len(colours)} colours were given."
        raise ValueError(msg)
    if not labels or not parts:
        return _no_data(title)
    fig, ax = _figure(len(labels))
    table = np.nan_to_num(np.array([_floats(v) for v in parts.values()]))  # parts × labels
    totals = table.sum(axis=0)
    if percent:
        table = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0)
    y = np.arange(len(labels))
    fills = list(colours) if colours is not None else _cycle(len(parts))
    left = np.zeros(len(labels))
    for name, row, colour in zip(parts, table, fills, strict=True):
        ax.barh(y, row, left=left, color=colour, height=0.65, label=name)
        if percent:
            _label_segments(ax, y, left, row, colour)
        left += row
    for yi in y[totals <= 0]:
        ax.text(0.01, yi, "no data", va="center", fontsize=8, fontstyle="italic", color=_MUTED)
    _category_axis(ax, labels)
    _value_axis(ax, "x", percent, "")
    if percent:
        ax.set_xlim(0.0, 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    _finish(fig, ax, title, "")
    return fig


# --- helpers ------------------------------------------------------------------------------


def _check_lengths(n: int, **sequences: Sequence[object] | None) -> None:
    """Raise once if any given sequence is not ``n`` long."""
    wrong = [
        f"{name} has {len(s)}" for name, s in sequences.items() if s is not None and len(s) != n
    ]
    if wrong:
        msg = f"Expected {n} values (one per label); " + ", ".join(wrong) + "."
        raise ValueError(msg)


def _floats(values: Sequence[float | None]) -> np.ndarray:
    """A float array with NaN for None."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _cycle(n: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def _format(value: float, percent: bool) -> str:
    """``"42%"``, ``"4.5%"``, ``"1,234"``, ``"0.37"``."""
    if percent:
        share = 100 * value
        return f"{share:.0f}%" if abs(share) >= 10 or share == round(share) else f"{share:.1f}%"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.3g}"


def _figure(rows: int) -> tuple[Figure, Axes]:
    """A figure 7 inches wide, about 3 tall (taller for many rows), on an Agg canvas."""
    height = min(10.0, max(3.0, 0.3 * rows + 1.3))
    fig = Figure(figsize=(_WIDTH_IN, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_MUTED)
    ax.tick_params(colors=_MUTED, labelcolor="black", labelsize=8)
    return fig, ax


def _finish(fig: Figure, ax: Axes, title: str, note: str) -> None:
    """Title above, note below."""
    ax.set_title(textwrap.fill(title, 80), loc="left", fontsize=10, fontweight="bold")
    if note:
        fig.supxlabel(textwrap.fill(note, 110), x=0.01, ha="left", fontsize=7, color=_MUTED)


def _no_data(title: str) -> Figure:
    """A small figure with the title and "No data"."""
    fig, ax = _figure(0)
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=12, color=_MUTED)
    _finish(fig, ax, title, "")
    return fig


def _category_axis(ax: Axes, labels: Sequence[str]) -> None:
    """Labels down the y axis, first at the top."""
    ax.set_yticks(np.arange(len(labels)), [textwrap.fill(str(s), 30) for s in labels])
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)


def _value_axis(ax: Axes, which: Literal["x", "y"], percent: bool, label: str) -> None:
    """A light grid and number format along the value axis."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(
        PercentFormatter(xmax=1.0, decimals=0)
        if percent
        else FuncFormatter(lambda v, _: f"{v:,.0f}" if v == round(v) else f"{v:,.2g}")
    )
    ax.grid(axis=which, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    if label:
        (ax.set_xlabel if which == "x" else ax.set_ylabel)(label, fontsize=8)


def _bar_labels(ax: Axes, x: np.ndarray, stub: float, percent: bool) -> None:
    """Each bar's value at its end, or "withheld" beside a withheld bar's stub."""
    for yi, xi in enumerate(x):
        known = math.isfinite(xi)
        end = xi if known else stub
        ax.annotate(
            _format(xi, percent) if known else "withheld",
            (end, yi),
            xytext=(3 if end >= 0 else -3, 0),
            textcoords="offset points",
            ha="left" if end >= 0 else "right",
            va="center",
            fontsize=8,
            color="black" if known else _MUTED,
            fontstyle="normal" if known else "italic",
        )


def _label_segments(
    ax: Axes, y: np.ndarray, left: np.ndarray, width: np.ndarray, colour: str
) -> None:
    """Write a segment's share inside it when it is wide enough to hold the text."""
    r, g, b = to_rgb(colour)
    ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"
    for yi, li, wi in zip(y, left, width, strict=True):
        if wi >= 0.08:
            ax.text(
                li + wi / 2,
                yi,
                _format(wi, True),
                ha="center",
                va="center",
                fontsize=7.5,
                color=ink,
            )
