"""Server-side SVG charts: valid XML, accessible, gaps for suppressed values, known geometry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from web.charts import bar_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def line(values: list[float | None], **options: object) -> str:
    defaults: dict[str, object] = {
        "title": "Incidents per month",
        "x_label": "Month",
        "y_label": "Incidents",
    }
    return line_chart(MONTHS[: len(values)], values, **{**defaults, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (412, [0, 100, 200, 300, 400, 500]),
        (5, [0, 1, 2, 3, 4, 5]),
        (0.37, [0, 0.1, 0.2, 0.3, 0.4]),
        (1000, [0, 200, 400, 600, 800, 1000]),
        (0, [0, 1]),
        (float("nan"), [0, 1]),
    ],
)
def test_nice_ticks(top: float, expected: list[float]) -> None:
    assert nice_ticks(top) == pytest.approx(expected)


def test_line_chart_is_accessible_svg() -> None:
    root = parse(line([3, 5, 8, 13, 21, 34], chart_id="monthly"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Incidents per month"
    assert root.find(f"{SVG}title").text == "Incidents per month"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "2024-01 to 2024-06" in desc and "Highest 34 (2024-06)" in desc
    assert root.get("aria-describedby") == "monthly-desc"
    assert {"Month", "Incidents"} <= set(texts(root))


def test_line_chart_draws_one_point_per_value() -> None:
    root = parse(line([3, 5, 8, 13, 21, 34]))
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 6
    assert len(list(root.iter(f"{SVG}polyline"))) == 1
    ys = [float(c.get("cy", "nan")) for c in circles]
    assert ys == sorted(ys, reverse=True)  # rising values sit higher (smaller y)
    assert "2024-03: 8" in ["".join(c.itertext()) for c in circles]


def test_suppressed_values_are_gaps_not_zeros() -> None:
    root = parse(line([12, None, 15, 20, None, None], gap_label="fewer than 10"))
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # 15–20 joined; 12 stands alone
    gaps = ["".join(r.itertext()) for r in root.iter(f"{SVG}rect")]
    assert gaps == ["2024-02: fewer than 10", "2024-05: fewer than 10", "2024-06: fewer than 10"]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "3 not shown (fewer than 10)" in desc


def test_percent_line_chart_has_a_fixed_percent_axis() -> None:
    root = parse(line([0.0, 0.1, 0.25], percent=True))
    assert {"0%", "25%", "50%", "75%", "100%"} <= set(texts(root))
    assert "2024-03: 25.0%" in ["".join(c.itertext()) for c in root.iter(f"{SVG}circle")]


def test_long_series_thin_their_labels_but_keep_the_last() -> None:
    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    root = parse(line_chart(months, list(range(36)), title="t", x_label="Month", y_label="n"))
    shown = [t for t in texts(root) if t in months]
    assert 4 <= len(shown) <= 12
    assert shown[-1] == "2025-12"


def test_empty_line_chart() -> None:
    root = parse(line_chart([], [], title="Nothing", x_label="Month", y_label="Incidents"))
    assert root.find(f"{SVG}desc").text == "No data."  # type: ignore[union-attr]


def test_text_is_escaped() -> None:
    root = parse(line([1, 2], title='Risk <&> "quoted"', y_label="a < b"))
    assert root.get("aria-label") == 'Risk <&> "quoted"'
    assert "a < b" in texts(root)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 labels but 3 values"):
        line_chart(["a", "b"], [1, 2, 3], title="t", x_label="x", y_label="y")
    with pytest.raises(ValueError, match="1 labels but 2 values"):
        bar_chart(["a"], [0.1], title="t", x_label="x", colours=["#000", "#fff"])


def test_bar_chart() -> None:
    svg = bar_chart(
        ["Parks", "Streets", "Elsewhere"],
        [0.25, 0.5, None],
        title="Share of incidents by place type",
        x_label="Share of incidents",
        chart_id="places",
        colours=["#2e7d32", "#555555", "#9e9e9e"],
        gap_label="fewer than 10",
    )
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find(f"{SVG}title").text == "Share of incidents by place type"  # type: ignore[union-attr]
    bars = list(root.iter(f"{SVG}rect"))
    assert len(bars) == 2  # no bar for the suppressed share
    widths = [float(b.get("width", "nan")) for b in bars]
    assert widths[1] == pytest.approx(2 * widths[0], abs=0.2)  # one decimal in the SVG
    assert [b.get("fill") for b in bars] == ["#2e7d32", "#555555"]
    shown = texts(root)
    assert {"Parks", "Streets", "Elsewhere", "25.0%", "50.0%", "fewer than 10"} <= set(shown)
    assert "Share of incidents" in shown
    assert "Elsewhere: fewer than 10" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_bar_chart_of_counts() -> None:
    root = parse(bar_chart(["a", "b"], [40, 10], title="t", x_label="Incidents", percent=False))
    assert {"40", "10", "0"} <= set(texts(root))


def test_long_labels_get_room() -> None:
    short = parse(bar_chart(["Parks"], [0.5], title="t", x_label="x"))
    long = parse(bar_chart(["Licensed and late-night premises"], [0.5], title="t", x_label="x"))
    first = next(short.iter(f"{SVG}rect")).get("x")
    assert float(next(long.iter(f"{SVG}rect")).get("x", "0")) > float(first or "0")
