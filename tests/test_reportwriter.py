"""Tests for geojtai.io.reportwriter: the evidence pack as HTML and as PDF."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader

from geojtai.document import (
    Bullets,
    Document,
    Figure,
    KeyFigures,
    Note,
    Paragraph,
    Section,
    Table,
)
from geojtai.io import reportwriter
from geojtai.io.reportwriter import report_html, report_pdf, write_report

MARKING = "OFFICIAL-SENSITIVE"
LONG_WORD = "Kingsmere" * 12  # 108 letters, wider than any column
HEADINGS = ("Summary", "Hot spots & <script>alert(1)</script>", "Cells")
COLUMNS = ("Cell", "Incidents", "Description")


def _png(width: int, height: int) -> bytes:
    """A small PNG: a dark diagonal on a pale background."""
    image = Image.new("RGB", (width, height), (235, 240, 250))
    ImageDraw.Draw(image).line((0, 0, width, height), fill=(20, 30, 60), width=8)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _long_table(rows: int = 80) -> Table:
    body = tuple(
        (f"cell-{i:03d}", str(i * 7), "street & park" if i % 2 else f"≥ 10 × {i}")
        for i in range(1, rows + 1)
    )
    return Table(COLUMNS, body, caption="Incidents per cell", numeric=(False, True, False))


def make_document() -> Document:
    """A document with every block type and awkward text."""
    summary = Section(
        HEADINGS[0],
        (
            Paragraph("Most incidents (≥ 10 per cell) happen on streets – not in parks ≈ 2×."),
            Paragraph(f"A very long word: {LONG_WORD}."),
            Bullets(("Gi* hot spots at 95%", "Fewer than 10 < shown as <10", "A & B")),
            KeyFigures((("Incidents", "1,234", "2023–2024"), ("Cells", "80", ""))),
            Note("Counts under 10 are suppressed.", kind="info"),
            Note("Small numbers: do not identify anyone.", kind="warning"),
        ),
    )
    maps = Section(
        HEADINGS[1],
        (
            Paragraph("<script>alert('x')</script> & more"),
            Figure(_png(400, 200), "Map of hot spots", "A map with one diagonal band."),
            Figure(_png(200, 400), "Tall chart", "A tall chart.", width_fraction=0.4),
        ),
    )
    cells = Section(HEADINGS[2], (_long_table(), Paragraph(LONG_WORD)))
    metadata = {
        "disclosure": "Counts below 10 suppressed (≥ 10 shown)",
        "profile": "police",
        "generated": "2024-05-01T12:00:00Z",
        "study": "Kingsmere & Vale",
    }
    return Document(
        title="Kingsmere: evidence pack",
        marking=MARKING,
        sections=(summary, maps, cells),
        subtitle="Kingsmere, 2023–2024",
        metadata=metadata,
    )


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def page() -> _Collector:
    parser = _Collector()
    parser.feed(report_html(make_document()))
    parser.close()
    return parser


def test_html_sections_are_numbered_and_contents_links_resolve(page: _Collector) -> None:
    ids = {attrs.get("id") for _, attrs in page.tags}
    sections = [attrs["id"] for attrs in page.find("section")]
    links = [attrs["href"] for attrs in page.find("a")]
    assert sections == ["s1", "s2", "s3"]
    assert links == ["#s1", "#s2", "#s3"]
    assert all(link is not None and link[1:] in ids for link in links)
    text = "".join(page.text)
    for number, heading in enumerate(HEADINGS, start=1):
        assert f"{number}. {heading}" in text


def test_html_images_are_inline_pngs(page: _Collector) -> None:
    images = page.find("img")
    assert [img["alt"] for img in images] == ["A map with one diagonal band.", "A tall chart."]
    for img in images:
        src = img["src"] or ""
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :]))) as opened:
            assert opened.format == "PNG"
    assert len(page.find("figure")) == 2
    assert len(page.find("figcaption")) == 2


def test_html_escapes_markup_so_no_script_runs(page: _Collector) -> None:
    text = "".join(page.text)
    assert page.find("script") == []
    assert "<script>alert('x')</script> & more" in text
    assert "Hot spots & <script>alert(1)</script>" in text
    assert "≥ 10" in text


def test_html_metadata_becomes_meta_tags(page: _Collector) -> None:
    metas = {m.get("name"): m.get("content") for m in page.find("meta") if m.get("name")}
    doc = make_document()
    for key, value in doc.metadata.items():
        assert metas[f"geojtai:{key}"] == value
    assert metas["description"] == doc.metadata["disclosure"]
    title_text = "".join(page.text)
    assert doc.title in title_text and doc.subtitle in title_text


def test_html_makes_no_external_request(page: _Collector) -> None:
    for _, attrs in page.tags:
        for name in ("src", "href"):
            value = (attrs.get(name) or "").lower()
            assert not value.startswith(("http://", "https://", "//")), value
    assert page.find("link") == [] and page.find("script") == []
    html = report_html(make_document())
    assert "http://" not in html and "https://" not in html
    assert "@media print" in html and "break-before: page" in html


def test_html_marking_at_top_and_bottom(page: _Collector) -> None:
    banners = [attrs for attrs in page.find("p") if "marking" in (attrs.get("class") or "")]
    assert len(banners) == 2
    html = report_html(make_document())
    assert html.index(MARKING) < html.index("<main>") < html.rindex(MARKING)


def test_html_tables_notes_and_cards(page: _Collector) -> None:
    numeric = [a for a in page.find("td") if a.get("class") == "num"]
    assert len(numeric) == 80  # the Incidents column of every row
    assert len(page.find("tr")) == 81
    assert [a.get("class") for a in page.find("aside")] == ["note", "note warning"]
    assert [a.get("class") for a in page.find("div")].count("card") == 2


def test_html_empty_document() -> None:
    html = report_html(Document("Empty", "OFFICIAL", ()))
    assert "<section" not in html and "Contents" not in html and "Empty" in html


def test_html_attribute_values_are_escaped() -> None:
    fig = Figure(_png(10, 10), "c", alt='say "hi" <b>')
    html = report_html(Document("T", "O", (Section("S", (fig,)),), metadata={"k": '"x"'}))
    assert 'alt="say &quot;hi&quot; &lt;b&gt;"' in html
    assert 'content="&quot;x&quot;"' in html


def test_html_marking_cannot_break_out_of_the_style_sheet() -> None:
    marking = 'X"; } </style><script>alert(1)</script>'
    parser = _Collector()
    parser.feed(report_html(Document("T", marking, (Section("S"),))))
    assert parser.find("script") == [] and len(parser.find("style")) == 1
    assert "".join(parser.text).count(marking) == 2  # the two banners


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return report_pdf(make_document())


@pytest.fixture(scope="module")
def pages(pdf_bytes: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages]


def test_pdf_has_pages_with_headings(pages: list[str]) -> None:
    assert len(pages) > 4  # title page, three sections, the long table spills over
    text = "\n".join(pages)
    for number, heading in enumerate(HEADINGS, start=1):
        assert f"{number}. {heading}" in text
    assert "Contents" in pages[0] and "Kingsmere: evidence pack" in pages[0]
    assert "Disclosure rule: Counts below 10 suppressed (≥ 10 shown)" in pages[0]


def test_pdf_sections_start_on_new_pages(pages: list[str]) -> None:
    starts = [
        next(i for i, text in enumerate(pages[1:], start=1) if f"{n}. {h}" in text)
        for n, h in enumerate(HEADINGS, start=1)
    ]
    assert len(set(starts)) == 3 and starts == sorted(starts)


def test_pdf_every_page_has_marking_and_page_number(pages: list[str]) -> None:
    for number, text in enumerate(pages, start=1):
        assert text.count(MARKING) >= 2, number
        assert f"page {number} of {len(pages)}" in text
    assert "page 1 of" in pages[0]


def test_pdf_prints_symbols_beyond_latin_1(pages: list[str]) -> None:
    text = "\n".join(pages)
    for symbol in ("≥ 10", "–", "×", "≈", "Gi*", "<script>", "A & B"):
        assert symbol in text, symbol


def test_pdf_long_table_repeats_its_header(pages: list[str]) -> None:
    spanned = [text for text in pages if "cell-0" in text]
    assert len(spanned) >= 2
    for text in spanned:
        assert all(column in text for column in COLUMNS)
    assert "cell-080" in spanned[-1]


def test_pdf_metadata_round_trips(pdf_bytes: bytes) -> None:
    info = PdfReader(io.BytesIO(pdf_bytes)).metadata
    assert info is not None
    doc = make_document()
    assert info.title == doc.title
    assert info.subject == doc.metadata["disclosure"]
    assert info.creator == "geojtai"
    assert "police" in (info.get("/Keywords") or "") and MARKING in info["/Keywords"]
    for key, value in doc.metadata.items():
        assert info[f"/geojtai_{key}"] == value


def test_pdf_is_reproducible(pdf_bytes: bytes) -> None:
    assert report_pdf(make_document()) == pdf_bytes


def test_pdf_pages_render_with_ink(pdf_bytes: bytes, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("poppler's pdftoppm is not installed")
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf_bytes)
    cmd = [pdftoppm, "-r", "50", "-png", str(source), str(tmp_path / "page")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    rendered = sorted(tmp_path.glob("page*.png"))
    assert len(rendered) == len(PdfReader(source).pages)
    for png in rendered:
        with Image.open(png) as image:
            dark = sum(image.convert("L").histogram()[:100])  # pixels darker than 100/255
        assert dark > 50, png.name


def test_pdf_empty_document_is_one_page() -> None:
    data = report_pdf(Document("Empty", "OFFICIAL", ()))
    [page] = PdfReader(io.BytesIO(data)).pages
    assert "page 1 of 1" in page.extract_text()


def test_pdf_unreadable_figure_names_its_caption() -> None:
    doc = Document("T", "O", (Section("S", (Figure(b"not a png", "Broken map", "x"),)),))
    with pytest.raises(ValueError, match="Broken map"):
        report_pdf(doc)


def test_pdf_falls_back_to_helvetica_without_dejavu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(matplotlib, "get_data_path", lambda: str(tmp_path))
    assert reportwriter._register_fonts() == ("Helvetica", "Helvetica-Bold")
    data = report_pdf(Document("Plain title", "OFFICIAL", (Section("One"),)))
    assert "Plain title" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


@pytest.mark.parametrize(
    "table",
    [
        Table(("a", "b"), (("1", "2"),)),
        Table(("Name", "Text"), (("x", LONG_WORD), ("y", "word " * 200))),
        Table(("only",), ()),
        _long_table(5),
    ],
)
def test_table_columns_fit_the_frame(table: Table) -> None:
    frame = reportwriter._FRAME_W
    widths = reportwriter._column_widths(table, "Helvetica", "Helvetica-Bold", 8.5)
    assert frame / 2 <= sum(widths) <= frame + 1e-6
    assert all(w > 0 for w in widths)


def test_table_with_long_text_fills_the_frame_and_keeps_short_columns_whole() -> None:
    table = Table(("Name", "Text"), (("Kingsmere", "word " * 200),))
    name, text = reportwriter._column_widths(table, "Helvetica", "Helvetica-Bold", 8.5)
    assert name + text == pytest.approx(reportwriter._FRAME_W)
    assert name > 45 and text > 5 * name


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "magic"), [("r.html", b"<!DOCTYPE"), ("r.HTM", b"<!DOCTYPE")])
def test_write_report_html_returns_sha256(tmp_path: Path, name: str, magic: bytes) -> None:
    target = tmp_path / name
    digest = write_report(make_document(), target)
    data = target.read_bytes()
    assert data.startswith(magic)
    assert digest == hashlib.sha256(data).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_write_report_pdf_returns_sha256(tmp_path: Path, pdf_bytes: bytes) -> None:
    target = tmp_path / "out" / "report.pdf"
    digest = write_report(make_document(), str(target))
    assert target.read_bytes() == pdf_bytes
    assert digest == hashlib.sha256(pdf_bytes).hexdigest()
    assert [p.name for p in target.parent.iterdir()] == ["report.pdf"]


@pytest.mark.parametrize("name", ["report.docx", "report", "report.pdf.tmp"])
def test_write_report_rejects_unknown_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.html, \.htm, \.pdf") as caught:
        write_report(make_document(), tmp_path / name)
    assert name in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_write_report_failure_leaves_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"previous")
    broken = Document("T", "O", (Section("S", (Figure(b"junk", "Broken", "x"),)),))
    with pytest.raises(ValueError, match="Broken"):
        write_report(broken, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
