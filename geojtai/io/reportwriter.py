"""Render a :class:`~geojtai.document.Document` to a self-contained HTML file and to a PDF.

Both renderers print the same things in the same order: the protective marking, the title,
subtitle and key metadata, a numbered contents list, then each section with its blocks. They
add nothing and leave nothing out, so the HTML and the PDF of one document say the same thing.

HTML: one file with inline CSS, images as ``data:`` URIs, no JavaScript and a
Content-Security-Policy that forbids every external request, so it opens offline and prints
cleanly (each section on a new page, the marking in every page margin).

PDF: A4 portrait built with reportlab's platypus, in DejaVu Sans (bundled with matplotlib) so
that ``≥``, ``–``, ``×`` and ``≈`` print; the marking at the top and bottom of every page and
"page N of M" in the footer. Output is byte-reproducible (reportlab's ``invariant`` mode).

Examples
--------
>>> from geojtai.document import Document, Paragraph, Section
>>> doc = Document("Kingsmere", "OFFICIAL", (Section("Summary", (Paragraph("a < b"),)),))
>>> "a &lt; b" in report_html(doc)
True
>>> report_pdf(doc)[:5]
b'%PDF-'
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFInfo, PDFString
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus import Paragraph as PdfParagraph

from geojtai import document as d
from geojtai.errors import SettingsError
from geojtai.io.writers import atomic_write_bytes

__all__ = ["report_html", "report_pdf", "write_report"]

# Metadata shown on the first page, in this order, with these labels (when present).
_FRONT_MATTER = (
    ("study", "Study"),
    ("generated", "Generated"),
    ("profile", "Profile"),
    ("disclosure", "Disclosure rule"),
)
_NOTE_LABELS = {"warning": "Warning"}  # any other kind is an ordinary note
_HTML_SUFFIXES = (".html", ".htm")
_PDF_SUFFIXES = (".pdf",)


# --------------------------------------------------------------------------------------------
# Shared between the two formats
# --------------------------------------------------------------------------------------------


def _front_matter(doc: d.Document) -> list[tuple[str, str]]:
    """The ``(label, value)`` metadata lines printed under the title."""
    return [(label, doc.metadata[key]) for key, label in _FRONT_MATTER if doc.metadata.get(key)]


def _note_label(note: d.Note) -> str:
    return _NOTE_LABELS.get(note.kind, "Note")


def _fraction(value: float) -> float:
    """A figure's width fraction, clamped to (0, 1]."""
    return min(max(value, 0.05), 1.0)


def _numbered(doc: d.Document) -> list[tuple[int, d.Section]]:
    return list(enumerate(doc.sections, start=1))


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4f57; --rule: #c9ced6;
  --zebra: #f3f5f8; --info: #1d4ed8; --info-bg: #eff4ff; --warn: #9a3412; --warn-bg: #fff4e8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 60em; margin: 0 auto; padding: 1.5em 1.25em 3em; }
.marking { margin: 0; padding: .35em 1em; text-align: center; font-weight: 700;
  letter-spacing: .08em; background: #1a1a1a; color: #fff; }
h1 { font-size: 2em; line-height: 1.2; margin: .4em 0 .2em; }
.subtitle { font-size: 1.2em; color: var(--muted); margin: 0 0 1em; }
.front-matter { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em;
  margin: 0 0 1.5em; }
.front-matter dt { font-weight: 700; }
.front-matter dd { margin: 0; }
nav.toc { border-top: 1px solid var(--rule); border-bottom: 1px solid var(--rule);
  padding: .5em 0 .8em; margin-bottom: 2em; }
nav.toc h2 { font-size: 1.2em; margin: .4em 0; }
a { color: #1d4ed8; }
a:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
section { margin-top: 2.5em; }
h2 { font-size: 1.5em; line-height: 1.25; border-bottom: 2px solid var(--ink);
  padding-bottom: .2em; }
p { white-space: pre-line; overflow-wrap: anywhere; }
.note { border: 1px solid var(--info); border-left-width: 6px; background: var(--info-bg);
  padding: .6em 1em; margin: 1em 0; border-radius: 4px; }
.note p { margin: 0; }
.note.warning { border-color: var(--warn); background: var(--warn-bg); }
.key-figures { display: flex; flex-wrap: wrap; gap: .75em; margin: 1em 0; padding: 0; }
.key-figures .card { flex: 1 1 10em; border: 1px solid var(--rule); border-radius: 6px;
  padding: .6em .8em; background: var(--zebra); }
.key-figures dd { margin: 0; }
.key-figures .value { font-size: 1.6em; font-weight: 700; line-height: 1.2; order: -1; }
.key-figures .card { display: flex; flex-direction: column; }
.key-figures dt { font-weight: 600; }
.key-figures .detail { color: var(--muted); font-size: .9em; }
.table-wrap { overflow-x: auto; margin: 1em 0; }
table { border-collapse: collapse; width: auto; min-width: 50%; font-size: .95em; }
caption { caption-side: top; text-align: left; font-weight: 700; padding: .3em 0; }
th, td { border-bottom: 1px solid var(--rule); padding: .3em .6em; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid var(--ink); background: #e6e9ee; }
tbody tr:nth-child(even) { background: var(--zebra); }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; text-align: center; }
figure img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .95em; margin-top: .4em; }
@media print {
  @page { size: A4; margin: 18mm 15mm;
    @top-center { content: __MARKING__; font: 700 10pt system-ui, sans-serif; }
    @bottom-center { content: __MARKING__; font: 700 10pt system-ui, sans-serif; } }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  .marking { background: none; color: #000; border: 1px solid #000; }
  a { color: inherit; text-decoration: none; }
  section { break-before: page; margin-top: 0; }
  h2, caption { break-after: avoid; }
  figure, table, tr, .note, .key-figures { break-inside: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
}
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal; every non-alphanumeric character as a hex escape."""
    body = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x}" for c in text)
    return f'"{body}"'


def _html_head(doc: d.Document) -> list[str]:
    # The policy lets nothing load from outside the file and no script run.
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    lines = [
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="geojtai">',
        f"<title>{_esc(doc.title)}</title>",
    ]
    if doc.metadata.get("disclosure"):
        lines.append(f'<meta name="description" content="{_esc(doc.metadata["disclosure"])}">')
    lines += [
        f'<meta name="geojtai:{_esc(key)}" content="{_esc(value)}">'
        for key, value in doc.metadata.items()
    ]
    css = _CSS.replace("__MARKING__", _css_string(doc.marking))
    lines.append(f"<style>{css}</style>")
    return lines


def _html_marking(doc: d.Document, where: str) -> str:
    label = f"Protective marking ({where} of page)"
    return f'<p class="marking marking-{where}" aria-label="{label}">{_esc(doc.marking)}</p>'


def _html_front(doc: d.Document) -> list[str]:
    """Title, subtitle, key metadata and the contents list."""
    out = [f"<h1>{_esc(doc.title)}</h1>"]
    if doc.subtitle:
        out.append(f'<p class="subtitle">{_esc(doc.subtitle)}</p>')
    front = _front_matter(doc)
    if front:
        items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in front)
        out.append(f'<dl class="front-matter">{items}</dl>')
    if doc.sections:
        links = "".join(
            f'<li><a href="#s{n}">{_esc(section.heading)}</a></li>' for n, section in _numbered(doc)
        )
        out.append(
            '<nav class="toc" aria-labelledby="toc-heading">'
            f'<h2 id="toc-heading">Contents</h2><ol>{links}</ol></nav>'
        )
    return out


def _html_table(table: d.Table) -> str:
    numeric = table.numeric or (False,) * len(table.columns)
    cls = ['class="num"' if flag else "" for flag in numeric]

    def row(cells: Iterable[str], tag: str, extra: str = "") -> str:
        tds = "".join(
            f"<{tag}{' ' + c if c else ''}{extra}>{_esc(text)}</{tag}>"
            for c, text in zip(cls, cells, strict=True)
        )
        return f"<tr>{tds}</tr>"

    caption = f"<caption>{_esc(table.caption)}</caption>" if table.caption else ""
    head = row(table.columns, "th", ' scope="col"')
    body = "".join(row(cells, "td") for cells in table.rows)
    return (
        f'<div class="table-wrap"><table>{caption}<thead>{head}</thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _html_figure(figure: d.Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    width = f"{100 * _fraction(figure.width_fraction):.0f}%"
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(figure.alt)}" '
        f'style="width: {width}"><figcaption>{_esc(figure.caption)}</figcaption></figure>'
    )


def _html_block(block: d.Block) -> str:
    match block:
        case d.Paragraph(text=text):
            return f"<p>{_esc(text)}</p>"
        case d.Bullets(items=items):
            return "<ul>" + "".join(f"<li>{_esc(item)}</li>" for item in items) + "</ul>"
        case d.Note():
            kind = " warning" if block.kind == "warning" else ""
            label = _esc(_note_label(block))
            return (
                f'<aside class="note{kind}" role="note"><p><strong>{label}:</strong> '
                f"{_esc(block.text)}</p></aside>"
            )
        case d.KeyFigures(items=items):
            cards = "".join(
                f'<div class="card"><dt>{_esc(label)}</dt><dd class="value">{_esc(value)}</dd>'
                + (f'<dd class="detail">{_esc(detail)}</dd>' if detail else "")
                + "</div>"
                for label, value, detail in items
            )
            return f'<dl class="key-figures">{cards}</dl>'
        case d.Table():
            return _html_table(block)
        case d.Figure():
            return _html_figure(block)
    msg = f"Cannot render a {type(block).__name__} block; expected one of {d.__all__}."
    raise TypeError(msg)


def _html_section(number: int, section: d.Section) -> str:
    blocks = "\n".join(_html_block(block) for block in section.blocks)
    return (
        f'<section id="s{number}" aria-labelledby="s{number}-h">\n'
        f'<h2 id="s{number}-h">{number}. {_esc(section.heading)}</h2>\n{blocks}\n</section>'
    )


def report_html(doc: d.Document) -> str:
    """Render ``doc`` as one self-contained, offline, print-friendly HTML5 page.

    CSS is inline, images are ``data:`` URIs, there is no JavaScript, and a
    Content-Security-Policy forbids loading anything from outside the file. Each metadata item
    becomes ``<meta name="geojtai:KEY">``; ``metadata["disclosure"]`` is also the page
    description. Every text is HTML-escaped.

    Parameters
    ----------
    doc
        The document.

    Returns
    -------
    str
        The HTML text.

    Examples
    --------
    >>> from geojtai.document import Document, Section
    >>> page = report_html(Document("T", "OFFICIAL", (Section("Intro"),)))
    >>> '<section id="s1"' in page and 'href="#s1"' in page
    True
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en-GB">',
        "<head>",
        *_html_head(doc),
        "</head>",
        "<body>",
        _html_marking(doc, "top"),
        "<main>",
        *_html_front(doc),
        *(_html_section(number, section) for number, section in _numbered(doc)),
        "</main>",
        _html_marking(doc, "bottom"),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------

_PAGE_W, _PAGE_H = A4
_MARGIN_X = 20 * mm
_MARGIN_TOP = 26 * mm
_MARGIN_BOTTOM = 24 * mm
_FRAME_PAD = 6  # reportlab's default padding inside SimpleDocTemplate's frame
_LEFT = _MARGIN_X + _FRAME_PAD  # where text starts and ends across the page
_RIGHT = _PAGE_W - _LEFT
_FRAME_W = _RIGHT - _LEFT
_FRAME_H = _PAGE_H - _MARGIN_TOP - _MARGIN_BOTTOM - 2 * _FRAME_PAD
_MIN_TABLE_SHARE = 0.5  # a narrow table still takes half the text width
_CELL_PAD = 4  # points either side of a table cell's text
_KEY_FIGURES_PER_ROW = 4
_GREY = colors.HexColor("#4a4f57")
_RULE = colors.HexColor("#c9ced6")
_ZEBRA = colors.HexColor("#f3f5f8")
_HEAD_BG = colors.HexColor("#e6e9ee")
_NOTE_COLOURS = {  # kind -> (border, background)
    "info": (colors.HexColor("#1d4ed8"), colors.HexColor("#eff4ff")),
    "warning": (colors.HexColor("#9a3412"), colors.HexColor("#fff4e8")),
}
_FONT_FILES = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}


@dataclass(frozen=True)
class _Kit:
    """Fonts and paragraph styles for one PDF."""

    regular: str
    bold: str
    styles: dict[str, ParagraphStyle]


def _register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans with reportlab; ``(regular, bold)`` font names.

    Helvetica (built into every PDF reader) lacks ``≥``, ``≈`` and ``×``, so it is only the
    fallback when matplotlib's copy of DejaVu Sans is missing.
    """
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    if not all((folder / name).is_file() for name in _FONT_FILES.values()):
        return "Helvetica", "Helvetica-Bold"
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, filename in _FONT_FILES.items():
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
    regular, bold = _FONT_FILES
    pdfmetrics.registerFontFamily(
        regular, normal=regular, bold=bold, italic=regular, boldItalic=bold
    )
    return regular, bold


def _kit() -> _Kit:
    regular, bold = _register_fonts()
    base = ParagraphStyle(
        "body",
        fontName=regular,
        fontSize=10,
        leading=13.5,
        spaceAfter=6,
        bulletFontName=regular,
    )

    def style(name: str, **changes: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **changes)

    styles = {
        "body": base,
        "title": style("title", fontName=bold, fontSize=24, leading=29, spaceAfter=8),
        "subtitle": style("subtitle", fontSize=14, leading=18, textColor=_GREY, spaceAfter=14),
        "meta": style("meta", spaceAfter=3),
        "contents": style("contents", fontName=bold, fontSize=14, leading=18, spaceBefore=18),
        "toc": style("toc", leftIndent=12, spaceAfter=3),
        "heading": style("heading", fontName=bold, fontSize=17, leading=21, spaceAfter=10),
        "bullet": style("bullet", leftIndent=14, bulletIndent=3, spaceAfter=3),
        "caption": style("caption", fontName=bold, spaceBefore=4, spaceAfter=4),
        "figcaption": style(
            "figcaption",
            fontSize=9,
            leading=12,
            textColor=_GREY,
            alignment=TA_CENTER,
            spaceBefore=4,
        ),
        "note": style("note", fontSize=9.5, leading=12.5, spaceAfter=0),
        "cell": style("cell", fontSize=8.5, leading=10.5, spaceAfter=0),
        "cell_num": style("cell_num", fontSize=8.5, leading=10.5, spaceAfter=0, alignment=TA_RIGHT),
        "kf_value": style("kf_value", fontName=bold, fontSize=17, leading=21, spaceAfter=2),
        "kf_label": style("kf_label", fontName=bold, fontSize=9, leading=11.5, spaceAfter=1),
        "kf_detail": style("kf_detail", fontSize=8.5, leading=11, textColor=_GREY),
    }
    return _Kit(regular, bold, styles)


def _markup(text: str) -> str:
    """Plain text as reportlab paragraph markup (escaped; line breaks kept)."""
    return html.escape(text, quote=False).replace("\n", "<br/>")


def _para(kit: _Kit, text: str, style: str = "body", **kwargs: Any) -> PdfParagraph:
    return PdfParagraph(_markup(text), kit.styles[style], **kwargs)


def _pdf_front(doc: d.Document, kit: _Kit) -> list[Flowable]:
    """First page: title, subtitle, key metadata lines and the contents list."""
    out: list[Flowable] = [Spacer(1, 18 * mm), _para(kit, doc.title, "title")]
    if doc.subtitle:
        out.append(_para(kit, doc.subtitle, "subtitle"))
    for label, value in _front_matter(doc):
        text = f"<b>{_markup(label)}:</b> {_markup(value)}"
        out.append(PdfParagraph(text, kit.styles["meta"]))
    if doc.sections:
        out.append(PdfParagraph("Contents", kit.styles["contents"]))
        for number, section in _numbered(doc):
            link = f'<a href="#s{number}">{number}. {_markup(section.heading)}</a>'
            out.append(PdfParagraph(link, kit.styles["toc"]))
    return out


def _pdf_note(note: d.Note, kit: _Kit) -> Table:
    border, background = _NOTE_COLOURS.get(note.kind, _NOTE_COLOURS["info"])
    text = f"<b>{_markup(_note_label(note))}:</b> {_markup(note.text)}"
    box = Table([[PdfParagraph(text, kit.styles["note"])]], colWidths=[_FRAME_W])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("BOX", (0, 0), (-1, -1), 0.75, border),
                ("LINEBEFORE", (0, 0), (0, -1), 4, border),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
            ]
        )
    )
    box.spaceBefore = box.spaceAfter = 6
    return box


def _pdf_key_figures(block: d.KeyFigures, kit: _Kit) -> Table:
    """Cards in rows of up to four, separated by white gutters."""
    cards: list[list[Flowable]] = [
        [_para(kit, value, "kf_value"), _para(kit, label, "kf_label")]
        + ([_para(kit, detail, "kf_detail")] if detail else [])
        for label, value, detail in block.items
    ]
    per_row = min(_KEY_FIGURES_PER_ROW, max(len(cards), 1))
    rows = [cards[i : i + per_row] for i in range(0, len(cards), per_row)] or [[[]]]
    rows[-1] += [[]] * (per_row - len(rows[-1]))
    grid = Table(rows, colWidths=[_FRAME_W / per_row] * per_row)
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), _ZEBRA),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("INNERGRID", (0, 0), (-1, -1), 5, colors.white),
                ("TOPPADDING", (0, 0), (-1, -1), 7),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        )
    )
    grid.spaceBefore = grid.spaceAfter = 6
    return grid


def _column_needs(
    table: d.Table, col: int, font: str, bold: str, size: float
) -> tuple[float, float]:
    """Column ``col``'s width for its longest word and for its longest cell, in points."""
    cells = [row[col] for row in table.rows]
    words = [w for text in (table.columns[col], *cells) for w in text.split()] or [""]
    head = pdfmetrics.stringWidth(table.columns[col], bold, size)
    full = max([head, *(pdfmetrics.stringWidth(c, font, size) for c in cells)])
    word = max(pdfmetrics.stringWidth(w, bold, size) for w in words)
    return word + 2 * _CELL_PAD, full + 2 * _CELL_PAD


def _column_widths(table: d.Table, font: str, bold: str, size: float) -> list[float]:
    """Column widths within the frame width.

    A table whose cells fit on one line keeps its natural widths (widened to at least half
    the frame); a wider one fills the frame, each column getting at least its longest word
    (or an equal share, if less) and the rest in proportion to what its longest cell lacks.
    """
    needs = [_column_needs(table, col, font, bold, size) for col in range(len(table.columns))]
    natural = sum(full for _, full in needs)
    if natural <= _FRAME_W:
        scale = max(1.0, _MIN_TABLE_SHARE * _FRAME_W / natural)
        return [full * scale for _, full in needs]
    fair = _FRAME_W / len(needs)
    floor = [min(word, fair) for word, _ in needs]
    lack = [full - low for low, (_, full) in zip(floor, needs, strict=True)]
    # natural > frame >= sum(floor), so sum(lack) > 0 and the widths add up to the frame
    share = (_FRAME_W - sum(floor)) / sum(lack)
    return [low + gap * share for low, gap in zip(floor, lack, strict=True)]


def _pdf_table(table: d.Table, kit: _Kit) -> list[Flowable]:
    """Caption and table; the header row repeats on every page the table spans."""
    out: list[Flowable] = [_para(kit, table.caption, "caption")] if table.caption else []
    if not table.columns:
        return out
    numeric = table.numeric or (False,) * len(table.columns)
    styles = ["cell_num" if flag else "cell" for flag in numeric]
    head = [
        PdfParagraph(f"<b>{_markup(text)}</b>", kit.styles[style])
        for text, style in zip(table.columns, styles, strict=True)
    ]
    body = [
        [_para(kit, text, style) for text, style in zip(row, styles, strict=True)]
        for row in table.rows
    ]
    size = kit.styles["cell"].fontSize
    widths = _column_widths(table, kit.regular, kit.bold, size)
    grid = Table([head, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), _HEAD_BG),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ZEBRA]),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, _RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD),
                ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PAD),
            ]
        )
    )
    grid.spaceAfter = 10
    return [*out, grid]


def _pdf_figure(figure: d.Figure, kit: _Kit) -> KeepTogether:
    """The image scaled to its share of the frame width (aspect kept), caption underneath."""
    try:
        with PILImage.open(io.BytesIO(figure.png)) as im:
            px_w, px_h = im.size
    except (OSError, ValueError) as exc:
        msg = f"Figure {figure.caption!r}: the png bytes are not a readable image ({exc})."
        raise ValueError(msg) from exc
    width = _FRAME_W * _fraction(figure.width_fraction)
    height = width * px_h / px_w
    limit = _FRAME_H * 0.8  # leave room for the caption on the same page
    if height > limit:
        width, height = width * limit / height, limit
    image = Image(io.BytesIO(figure.png), width=width, height=height)
    image.hAlign = "CENTER"
    return KeepTogether([Spacer(1, 4), image, _para(kit, figure.caption, "figcaption")])


def _pdf_block(block: d.Block, kit: _Kit) -> list[Flowable]:
    match block:
        case d.Paragraph(text=text):
            return [_para(kit, text)]
        case d.Bullets(items=items):
            return [_para(kit, item, "bullet", bulletText="•") for item in items]
        case d.Note():
            return [_pdf_note(block, kit)]
        case d.KeyFigures():
            return [_pdf_key_figures(block, kit)]
        case d.Table():
            return _pdf_table(block, kit)
        case d.Figure():
            return [_pdf_figure(block, kit)]
    msg = f"Cannot render a {type(block).__name__} block; expected one of {d.__all__}."
    raise TypeError(msg)


def _pdf_story(doc: d.Document, kit: _Kit) -> list[Flowable]:
    story = _pdf_front(doc, kit)
    for number, section in _numbered(doc):
        heading = f'<a name="s{number}"/>{number}. {_markup(section.heading)}'
        story += [PageBreak(), PdfParagraph(heading, kit.styles["heading"])]
        for block in section.blocks:
            story += _pdf_block(block, kit)
    return story


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` points."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _page_decorator(doc: d.Document, kit: _Kit, total: int) -> Callable[[Canvas, Any], None]:
    """Draw the marking (top and bottom), the title and "page N of M" on each page."""
    marking = " ".join(doc.marking.split())
    title = _fit(" ".join(doc.title.split()), kit.regular, 7.5, _FRAME_W)

    def decorate(canvas: Canvas, _template: Any) -> None:
        canvas.saveState()
        canvas.setFont(kit.bold, 10)
        canvas.drawCentredString(_PAGE_W / 2, _PAGE_H - 11 * mm, marking)
        canvas.drawCentredString(_PAGE_W / 2, 9 * mm, marking)
        canvas.setFont(kit.regular, 7.5)
        canvas.setFillColor(_GREY)
        canvas.drawString(_LEFT, _PAGE_H - 17 * mm, title)
        canvas.drawRightString(_RIGHT, 15 * mm, _page_label(canvas, total))
        canvas.setStrokeColor(_RULE)
        canvas.setLineWidth(0.5)
        canvas.line(_LEFT, _PAGE_H - 19 * mm, _RIGHT, _PAGE_H - 19 * mm)
        canvas.line(_LEFT, 19 * mm, _RIGHT, 19 * mm)
        canvas.restoreState()

    return decorate


def _page_label(canvas: Canvas, total: int) -> str:
    return f"page {canvas.getPageNumber()} of {total or '?'}"


class _Info(PDFInfo):
    """Document information with extra ``/geojtai_KEY`` entries after the standard ones."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        super().__init__()
        self.extra = dict(extra or {})

    def format(self, document: Any) -> bytes:
        standard: bytes = super().format(document)
        if not self.extra or not standard.endswith(b"\n>>"):
            return standard
        entries = {key: PDFString(value) for key, value in self.extra.items()}
        more: bytes = PDFDictionary(entries).format(document)
        # Both are b"<<\n ... \n>>": join their entries into one dictionary.
        return standard[: -len(b"\n>>")] + b"\n" + more[len(b"<<\n") :]


def _canvas_maker(extra: dict[str, str]) -> Callable[..., Canvas]:
    """A canvas factory whose PDF carries ``extra`` in its document information."""

    def make(*args: Any, **kwargs: Any) -> Canvas:
        canvas = Canvas(*args, **kwargs)
        # reportlab has no public hook for custom info keys; the title, subject etc. are set
        # on this object right after the canvas is made, so replacing it here keeps them.
        canvas._doc.info = _Info(extra)
        return canvas

    return make


def _info_keys(doc: d.Document) -> dict[str, str]:
    """Metadata as PDF info entries: ``generated`` → ``geojtai_generated``."""
    return {"geojtai_" + re.sub(r"[^A-Za-z0-9_]", "_", k): v for k, v in doc.metadata.items()}


def _build_pdf(doc: d.Document, kit: _Kit, total: int) -> tuple[bytes, int]:
    """One rendering pass; the PDF bytes and its number of pages."""
    buffer = io.BytesIO()
    keywords = ["geojtai", doc.metadata.get("profile", ""), doc.marking]
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=doc.title,
        subject=doc.metadata.get("disclosure", ""),
        author=doc.metadata.get("author", ""),
        creator="geojtai",
        keywords=[k for k in keywords if k],
        lang="en-GB",
        invariant=1,
    )
    decorate = _page_decorator(doc, kit, total)
    template.build(
        _pdf_story(doc, kit),
        onFirstPage=decorate,
        onLaterPages=decorate,
        canvasmaker=_canvas_maker(_info_keys(doc)),
    )
    return buffer.getvalue(), int(template.page)


def report_pdf(doc: d.Document) -> bytes:
    """Render ``doc`` as an A4 portrait PDF.

    Every page shows the protective marking centred in bold at the top and bottom, the title
    in the header and "page N of M" in the footer. The first page holds the title, subtitle,
    key metadata and contents; each section starts on a new page. The document information
    has ``Title``, ``Subject`` (the disclosure rule), ``Keywords`` (profile and marking),
    ``Creator`` ``geojtai`` and one ``/geojtai_KEY`` entry per metadata item.

    Parameters
    ----------
    doc
        The document.

    Returns
    -------
    bytes
        The PDF; the same document always gives the same bytes.

    Raises
    ------
    ValueError
        A figure's ``png`` is not a readable image.
    """
    kit = _kit()
    # Two passes: the first counts the pages so that the second can print "page N of M".
    data, pages = _build_pdf(doc, kit, 0)
    for _ in range(3):
        data, again = _build_pdf(doc, kit, pages)
        if again == pages:
            break
        pages = again
    return data


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _render_for(path: Path) -> Callable[[d.Document], bytes]:
    suffix = path.suffix.lower()
    if suffix in _HTML_SUFFIXES:
        return lambda doc: report_html(doc).encode("utf-8")
    if suffix in _PDF_SUFFIXES:
        return report_pdf
    valid = ", ".join(_HTML_SUFFIXES + _PDF_SUFFIXES)
    msg = f"{path}: cannot tell the report format from the suffix {suffix!r}; use one of {valid}."
    raise SettingsError(msg)


def write_report(doc: d.Document, path: Path | str) -> str:
    """Write ``doc`` as HTML (``.html``, ``.htm``) or PDF (``.pdf``), atomically.

    The document is rendered in memory first, then written to a temporary file beside
    ``path`` and moved over it; on any failure no file is created or changed.

    Parameters
    ----------
    doc
        The document.
    path
        Where to write; the suffix picks the format.

    Returns
    -------
    str
        The SHA-256 of the bytes written, as 64 hex digits.

    Raises
    ------
    SettingsError
        The suffix is none of ``.html``, ``.htm``, ``.pdf`` (also a :class:`ValueError`).
    """
    path = Path(path)
    data = _render_for(path)(doc)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()
