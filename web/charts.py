"""Charts drawn on the server as SVG text: no script, no request, readable by screen readers.

Pure functions: numbers in, an ``<svg>`` string out (to embed in a page with ``|safe``).
Every chart has ``role="img"``, an ``aria-label``, a ``<title>`` and a ``<desc>`` that
says what the chart shows in words, and labelled axes. Values that are ``None`` (suppressed
by disclosure control, or unknown) are drawn as gaps, never as zeros.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

__all__ = ["bar_chart", "line_chart", "nice_ticks"]

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_AXIS = "#57606a"
_GRID = "#eaeef2"
_GAP = "#f3f3f3"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Tick values from 0 to at least ``top`` in steps of 1, 2 or 5 × a power of ten.

    Examples
    --------
    >>> nice_ticks(412)
    [0.0, 100.0, 200.0, 300.0, 400.0, 500.0]
    >>> nice_ticks(0)
    [0.0, 1.0]
    """
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(round(top / step, 9))
    return [round(i * step, 10) for i in range(n + 1)]


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    x_label: str,
    y_label: str,
    chart_id: str = "line-chart",
    percent: bool = False,
    colour: str = "#bd0026",
    gap_label: str = "no value",
    width: int = 640,
    height: int = 260,
) -> str:
    """A line with points, one per label; ``None`` values leave a gap (a shaded column).

    Parameters
    ----------
    labels
        The x positions' names, in order (months ``2024-03``).
    values
        One value or ``None`` per label.
    title
        The chart's accessible name (``<title>`` and ``aria-label``).
    x_label, y_label
        The axes' titles.
    chart_id
        Unique on the page: prefixes the ids that tie ``<title>`` and ``<desc>`` to the chart.
    percent
        Values are shares (0–1), shown as percentages on a 0–100 % axis.
    colour
        The line's colour.
    gap_label
        What a ``None`` value means, for each gap's tooltip (``fewer than 10``).
    width, height
        The drawing's size in px (it scales to its container).

    Returns
    -------
    str
        An ``<svg>`` element.

    Raises
    ------
    ValueError
        ``labels`` and ``values`` differ in length.

    Examples
    --------
    >>> svg = line_chart(["2024-01", "2024-02"], [3, None], title="Incidents",
    ...                  x_label="Month", y_label="Incidents")
    >>> svg.startswith("<svg") and "<title" in svg
    True
    """
    _same_length(labels, values)
    left, right, top, bottom = 60, 16, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [float(v) for v in values if v is not None]
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0] if percent else nice_ticks(max(known, default=0.0))
    y_max = ticks[-1]
    n = len(labels)

    def x_at(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n if n else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = [_y_axis(ticks, y_at, left, width - right, percent)]
    column = plot_w / n if n else 0
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            parts.append(
                f'<rect x="{x_at(i) - column / 2:.1f}" y="{top}" width="{column:.1f}" '
                f'height="{plot_h}" fill="{_GAP}"><title>{_text(label)}: '
                f"{_text(gap_label)}</title></rect>"
            )
    for run in _runs(values):
        points = " ".join(f"{x_at(i):.1f},{y_at(float(v)):.1f}" for i, v in run)
        if len(run) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{_attr(colour)}" stroke-width="2" '
                f'points="{points}"/>'
            )
        for i, v in run:
            shown = _format(float(v), percent)
            parts.append(
                f'<circle cx="{x_at(i):.1f}" cy="{y_at(float(v)):.1f}" r="2.5" '
                f'fill="{_attr(colour)}"><title>{_text(labels[i])}: {_text(shown)}</title>'
                "</circle>"
            )
    parts.append(_x_axis(labels, x_at, top + plot_h))
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="{_AXIS}">{_text(x_label)}</text>'
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{_AXIS}">{_text(y_label)}</text>'
    )
    desc = _line_description(labels, values, percent, gap_label)
    return _svg(chart_id, title, desc, width, height, "".join(parts))


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    x_label: str,
    chart_id: str = "bar-chart",
    percent: bool = True,
    colours: Sequence[str] | None = None,
    gap_label: str = "no value",
    width: int = 640,
) -> str:
    """Horizontal bars, one per label, with the value written after each bar.

    Parameters
    ----------
    labels
        The bars' names, top to bottom.
    values
        One value or ``None`` per bar; ``None`` draws no bar and writes ``gap_label``.
    title
        The chart's accessible name.
    x_label
        The value axis's title.
    chart_id
        Unique on the page (see :func:`line_chart`).
    percent
        Values are shares (0–1) on a 0–100 % axis.
    colours
        One colour per bar (all the same when omitted).
    gap_label
        Written for a ``None`` value (``fewer than 10``).
    width
        The drawing's width in px; the height follows from the number of bars.

    Returns
    -------
    str
        An ``<svg>`` element.

    Raises
    ------
    ValueError
        ``labels``, ``values`` and ``colours`` differ in length.

    Examples
    --------
    >>> "Parks" in bar_chart(["Parks"], [0.25], title="Share", x_label="Share of incidents")
    True
    """
    _same_length(labels, values)
    colours = list(colours) if colours is not None else ["#1d3a5f"] * len(labels)
    _same_length(labels, colours)
    # Room for the longest label at about 6.5 px a character (11 px type), within reason.
    longest = max((len(str(label)) for label in labels), default=0)
    left, right, top, bottom, row = int(min(260, max(80, 6.5 * longest + 14))), 70, 8, 40, 24
    plot_w = width - left - right
    height = top + row * max(len(labels), 1) + bottom
    known = [float(v) for v in values if v is not None]
    scale = 100.0 if percent else 1.0  # shares get ticks at round percentages
    ticks = [t / scale for t in nice_ticks(scale * max(known, default=0.0), 4)]
    x_max = ticks[-1]
    base = top + row * max(len(labels), 1)
    parts = []
    for t in ticks:
        x = left + plot_w * t / x_max
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{base}" stroke="{_GRID}"/>'
            f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle" fill="{_AXIS}">'
            f"{_text(_format(t, percent, tick=True))}</text>"
        )
    for i, (label, value, colour) in enumerate(zip(labels, values, colours, strict=True)):
        y = top + row * i
        shown = gap_label if value is None else _format(float(value), percent)
        length = 0.0 if value is None else plot_w * max(float(value), 0.0) / x_max
        parts.append(
            f'<text x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"{_text(label)}</text>"
        )
        if value is not None:
            parts.append(
                f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" '
                f'fill="{_attr(colour)}"><title>{_text(label)}: {_text(shown)}</title></rect>'
            )
        parts.append(
            f'<text x="{left + length + 6:.1f}" y="{y + row / 2 + 4:.1f}" fill="{_AXIS}">'
            f"{_text(shown)}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{base}" stroke="{_AXIS}"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="{_AXIS}">{_text(x_label)}</text>'
    )
    desc = "; ".join(
        f"{label}: {gap_label if v is None else _format(float(v), percent)}"
        for label, v in zip(labels, values, strict=True)
    )
    return _svg(chart_id, title, desc or "No data.", width, height, "".join(parts))


# -- parts ----------------------------------------------------------------------------------


def _svg(chart_id: str, title: str, desc: str, width: int, height: int, body: str) -> str:
    ident = _attr(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_attr(title)}" aria-describedby="{ident}-desc" {_FONT}>'
        f'<title id="{ident}-title">{_text(title)}</title>'
        f'<desc id="{ident}-desc">{_text(desc)}</desc>{body}</svg>'
    )


def _y_axis(
    ticks: list[float], y_at: Callable[[float], float], x0: float, x1: float, percent: bool
) -> str:
    out = []
    for t in ticks:
        y = y_at(t)
        out.append(
            f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{_AXIS}">'
            f"{_text(_format(t, percent, tick=True))}</text>"
        )
    y0 = y_at(ticks[0])
    out.append(f'<line x1="{x0}" x2="{x1}" y1="{y0:.1f}" y2="{y0:.1f}" stroke="{_AXIS}"/>')
    return "".join(out)


def _x_axis(labels: Sequence[str], x_at: Callable[[int], float], y: float) -> str:
    """Every label when they fit (64 px each), else evenly spaced ones, always the last."""
    n = len(labels)
    step = max(1, math.ceil(n / max(1, int(x_at(n - 1) - x_at(0)) // 64 + 1))) if n else 1
    shown = sorted({*range(n - 1, -1, -step)})
    return "".join(
        f'<line x1="{x_at(i):.1f}" x2="{x_at(i):.1f}" y1="{y:.1f}" y2="{y + 4:.1f}" '
        f'stroke="{_AXIS}"/><text x="{x_at(i):.1f}" y="{y + 16:.1f}" text-anchor="middle" '
        f'fill="{_AXIS}">{_text(labels[i])}</text>'
        for i in shown
    )


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Stretches of consecutive known values, as (position, value) pairs."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, float(v)))
    if current:
        runs.append(current)
    return runs


def _line_description(
    labels: Sequence[str], values: Sequence[float | None], percent: bool, gap_label: str
) -> str:
    known = [(label, float(v)) for label, v in zip(labels, values, strict=True) if v is not None]
    if not labels:
        return "No data."
    text = f"{len(labels)} values from {labels[0]} to {labels[-1]}."
    if known:
        high = max(known, key=lambda pair: pair[1])
        low = min(known, key=lambda pair: pair[1])
        text += (
            f" Highest {_format(high[1], percent)} ({high[0]}),"
            f" lowest {_format(low[1], percent)} ({low[0]}),"
            f" last {_format(known[-1][1], percent)} ({known[-1][0]})."
        )
    missing = len(labels) - len(known)
    if missing:
        text += f" {missing} not shown ({gap_label})."
    return text


def _format(value: float, percent: bool, *, tick: bool = False) -> str:
    if percent:
        return f"{100 * value:.0f}%" if tick else f"{100 * value:.1f}%"
    if value == round(value):
        return f"{int(round(value)):,}"
    return f"{value:,.1f}"


def _same_length(labels: Sequence[object], values: Sequence[object]) -> None:
    if len(labels) != len(values):
        msg = f"{len(labels)} labels but {len(values)} values were given."
        raise ValueError(msg)


def _text(value: object) -> str:
    return html.escape(str(value), quote=False)


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)
