"""A report as plain data: sections of headings, paragraphs, tables and figures.

:mod:`geojtai.report` assembles the evidence pack as a :class:`Document`;
:mod:`geojtai.io.reportwriter` renders the same document to a self-contained HTML file and to
a PDF, so both say the same thing. Everything here is already disclosure-controlled: the
renderers print what they are given.

Examples
--------
>>> doc = Document(
...     title="Kingsmere: evidence pack",
...     marking="OFFICIAL",
...     sections=(Section("Summary", (Paragraph("Most incidents happen on streets."),)),),
... )
>>> doc.sections[0].heading
'Summary'
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Block",
    "Bullets",
    "Document",
    "Figure",
    "KeyFigures",
    "Note",
    "Paragraph",
    "Section",
    "Table",
]


@dataclass(frozen=True)
class Paragraph:
    """Plain text (no markup); ``**bold**`` is not interpreted."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """A boxed note (caveat, disclosure rule, "not available for this study")."""

    text: str
    kind: str = "info"  # "info" or "warning"


@dataclass(frozen=True)
class KeyFigures:
    """A row of headline numbers: ``(label, value as text, detail or "")``."""

    items: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Table:
    """A table of text cells.

    Attributes
    ----------
    columns
        Column headings.
    rows
        Rows of cell texts, each as long as ``columns``.
    caption
        Shown above the table.
    numeric
        Per column: right-align it (numbers).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    numeric: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        bad = [i for i, row in enumerate(self.rows) if len(row) != len(self.columns)]
        if bad:
            msg = (
                f"Table {self.caption!r}: rows {bad[:5]} do not have "
                f"{len(self.columns)} cells like the columns."
            )
            raise ValueError(msg)
        if self.numeric and len(self.numeric) != len(self.columns):
            msg = f"Table {self.caption!r}: `numeric` needs one flag per column."
            raise ValueError(msg)


@dataclass(frozen=True)
class Figure:
    """An image (a map or a chart) as PNG bytes.

    Attributes
    ----------
    png
        The image.
    caption
        Shown under the image.
    alt
        Text alternative for screen readers (what the image shows, in a sentence).
    width_fraction
        Share of the text width the image takes (0..1].
    """

    png: bytes
    caption: str
    alt: str
    width_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.width_fraction <= 1.0:
            msg = f"Figure {self.caption!r}: `width_fraction` must be in (0, 1]; {self.width_fraction!r} was given."
            raise ValueError(msg)


Block = Paragraph | Bullets | Note | KeyFigures | Table | Figure


@dataclass(frozen=True)
class Section:
    """A numbered section: a heading and its blocks, in order."""

    heading: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Document:
    """A whole report.

    Attributes
    ----------
    title
        The document title (first page and HTML ``<title>``).
    marking
        The protective marking printed at the top and bottom of every page
        (e.g. ``OFFICIAL`` or ``OFFICIAL-SENSITIVE``).
    subtitle
        Area and period, under the title.
    sections
        The sections, in order.
    metadata
        Key → text written into the file's metadata (HTML ``<meta>``, PDF document info):
        e.g. ``disclosure`` (the rule applied), ``profile``, ``generated``, ``study``.
    """

    title: str
    marking: str
    sections: tuple[Section, ...]
    subtitle: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
