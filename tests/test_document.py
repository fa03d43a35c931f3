"""Tests for geojtai.document: the report as plain data."""

from __future__ import annotations

import dataclasses

import pytest

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


@pytest.mark.parametrize(
    "rows",
    [
        (("a", "1"), ("b",)),  # short
        (("a", "1", "extra"),),  # long
        ((),),  # empty row
    ],
)
def test_table_row_of_wrong_length_names_the_caption(rows: tuple[tuple[str, ...], ...]) -> None:
    with pytest.raises(ValueError, match=r"Table 'Incidents by ward'.*2 cells"):
        Table(columns=("Ward", "Count"), rows=rows, caption="Incidents by ward")


def test_table_error_lists_the_bad_rows() -> None:
    rows = (("a", "1"), ("b",), ("c", "3"), ("d", "4", "5"))
    with pytest.raises(ValueError, match=r"rows \[1, 3\]"):
        Table(columns=("Ward", "Count"), rows=rows, caption="x")


@pytest.mark.parametrize("numeric", [(True,), (False, True, True)])
def test_numeric_flags_need_one_per_column(numeric: tuple[bool, ...]) -> None:
    with pytest.raises(ValueError, match=r"Table 'Counts'.*one flag per column"):
        Table(columns=("Ward", "Count"), rows=(("a", "1"),), caption="Counts", numeric=numeric)


@pytest.mark.parametrize("numeric", [(), (False, True)])
def test_valid_table(numeric: tuple[bool, ...]) -> None:
    table = Table(columns=("Ward", "Count"), rows=(("a", "1"),), numeric=numeric)
    assert table.rows == (("a", "1"),)
    assert table.numeric == numeric
    assert table.caption == ""


def test_table_without_rows_is_fine() -> None:
    assert Table(columns=("Ward",), rows=()).rows == ()


def test_document_keeps_sections_and_blocks_in_order() -> None:
    table = Table(columns=("A",), rows=(("1",),))
    sections = (
        Section("Summary", (Paragraph("One."), Bullets(("x", "y")))),
        Section("Method", (Note("Caveat", kind="warning"), table)),
        Section("Key figures", (KeyFigures((("Incidents", "1,234", "2023"),)),)),
        Section("Empty"),
    )
    doc = Document(title="T", marking="OFFICIAL", sections=sections)
    assert [s.heading for s in doc.sections] == ["Summary", "Method", "Key figures", "Empty"]
    assert doc.sections[1].blocks == (Note("Caveat", kind="warning"), table)
    assert doc.sections[3].blocks == ()
    assert doc.subtitle == "" and doc.metadata == {}
    assert Note("x").kind == "info"


def test_document_metadata_is_not_shared_between_documents() -> None:
    a = Document(title="A", marking="OFFICIAL", sections=())
    b = Document(title="B", marking="OFFICIAL", sections=())
    a.metadata["study"] = "kingsmere"
    assert b.metadata == {}


def test_figure_fields() -> None:
    png = b"\x89PNG\r\n\x1a\n"
    figure = Figure(png=png, caption="Map 1", alt="Incidents cluster in the centre.")
    assert (figure.png, figure.caption, figure.alt, figure.width_fraction) == (
        png,
        "Map 1",
        "Incidents cluster in the centre.",
        1.0,
    )
    assert Figure(png, "c", "a", width_fraction=0.5).width_fraction == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        figure.caption = "changed"  # type: ignore[misc]
