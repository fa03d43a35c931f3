"""The evidence pack and the overview (geojtai.report), rendered and read back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader

from geojtai.cli import main
from geojtai.disclosure import DisclosureRule
from geojtai.document import Document, Figure, KeyFigures, Table
from geojtai.io.auditlog import read_audit
from geojtai.io.studyfolder import Study, load_study
from geojtai.report import evidence_pack, overview, write_evidence
from geojtai.studyexport import Actor

from .conftest import REAL_DATA

SECTIONS = [
    "Summary",
    "Where incidents happen: parks, streets and shopping centres",
    "Hot spots and emerging trends",
    "Contextual risk and what drives it",
    "Coverage and gaps by agency",
    "Impact of interventions",
    "Data quality",
    "Methods and caveats",
]
COUNT_COLUMNS = {"Incidents", "Before", "After", "Rows read", "Valid", "Rejected", "Rows"}
ACTOR = Actor("tester", "analyst", "cli")


@pytest.fixture(scope="module")
def study(sample_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Study:
    copy = tmp_path_factory.mktemp("report") / "sample"
    shutil.copytree(sample_study, copy)
    return load_study(copy)


@pytest.fixture(scope="module")
def pack(study: Study) -> Document:
    return evidence_pack(study, DisclosureRule())


def _artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GEOJTAI_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _blocks(doc: Document, kind: type) -> list:
    return [b for s in doc.sections for b in s.blocks if isinstance(b, kind)]


def test_pack_answers_every_question(pack: Document, study: Study) -> None:
    assert [s.heading for s in pack.sections] == SECTIONS
    assert pack.marking == "OFFICIAL"
    assert pack.metadata["profile"] == "publishable"
    assert "Counts of 1 to 9" in pack.metadata["disclosure"]
    figures = _blocks(pack, Figure)
    assert len(figures) >= 7  # place chart, trend, three maps, coverage chart, impact chart
    for figure in figures:
        assert Image.open(__import__("io").BytesIO(figure.png)).format == "PNG"
    tables = {t.caption for t in _blocks(pack, Table)}
    assert {
        "Incidents by place type, whole period",
        "Coverage of high-risk cells by agency",
    } <= tables
    assert "Impact estimates" in tables and "Why rows were rejected" in tables


def test_published_pack_shows_no_small_count(pack: Document) -> None:
    seen = 0
    for table in _blocks(pack, Table):
        for i, column in enumerate(table.columns):
            if column not in COUNT_COLUMNS:
                continue
            for row in table.rows:
                text = row[i].replace(",", "")
                if re.fullmatch(r"\d+", text):
                    value = int(text)
                    seen += 1
                    assert value == 0 or (value >= 10 and value % 5 == 0), (table.caption, row)
                else:
                    assert text in ("withheld", "fewer than 10", "–"), (table.caption, row)
    headline = _blocks(pack, KeyFigures)[0].items[0]
    assert headline[0] == "Incidents" and int(headline[1].replace(",", "")) % 5 == 0
    assert seen > 40


def test_internal_pack_is_exact_and_marked(study: Study) -> None:
    doc = evidence_pack(study, DisclosureRule(profile="internal"))
    assert doc.marking == "OFFICIAL-SENSITIVE"
    headline = _blocks(doc, KeyFigures)[0].items[0]
    assert int(headline[1].replace(",", "")) == int(study.cells["count"].sum())


def _pages(pdf: Path, out: Path) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(out / pdf.stem)], check=True)
    return sorted(out.glob(f"{pdf.stem}-*.png"))


def _not_blank(page: Path) -> None:
    pixels = np.asarray(Image.open(page).convert("L"))
    assert (pixels < 128).mean() > 0.002, page.name


def test_pack_written_as_pdf_and_html_and_audited(study: Study, tmp_path: Path) -> None:
    artefacts = _artefacts(tmp_path)
    pdf = write_evidence([study], artefacts / "sample-pack.pdf", DisclosureRule(), actor=ACTOR)
    html = write_evidence([study], artefacts / "sample-pack.html", DisclosureRule(), actor=ACTOR)
    reader = PdfReader(pdf.path)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert all(heading.split(":")[0] in text for heading in SECTIONS)
    assert reader.metadata is not None and "Counts of 1 to 9" in str(reader.metadata.subject)
    pages = _pages(pdf.path, artefacts)
    assert len(pages) == len(reader.pages) >= len(SECTIONS)
    for page in pages:
        _not_blank(page)
    page = html.path.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 7
    assert not re.search(r'(src|href)="https?://', page)
    entries = read_audit(study.path)[-2:]
    assert [e["action"] for e in entries] == ["report", "report"]
    assert [e["format"] for e in entries] == ["pdf", "html"]
    assert entries[0]["sha256"] == pdf.sha256 and entries[0]["who"] == "tester"


def test_overview_compares_areas(study: Study, tmp_path: Path) -> None:
    other_path = tmp_path / "other"
    shutil.copytree(study.path, other_path)
    doc = overview([study, load_study(other_path)], DisclosureRule())
    (table,) = _blocks(doc, Table)
    assert len(table.rows) == 2 and table.columns[0] == "Area"
    assert table.rows[0][2] == table.rows[1][2]  # the same incidents, published alike
    assert len(_blocks(doc, Figure)) == 1
    written = write_evidence(
        [study, load_study(other_path)], tmp_path / "overview.pdf", DisclosureRule(), actor=ACTOR
    )
    assert len(PdfReader(written.path).pages) >= 2
    assert read_audit(other_path)[-1]["action"] == "overview"


def test_report_command(study: Study, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "pack.html"
    result = runner.invoke(main, ["report", str(study.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "evidence pack" in result.output and out.is_file()
    bad = runner.invoke(main, ["report", str(study.path), "--out", str(tmp_path / "pack.docx")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "use one of .html" in bad.output


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Study:
    city = REAL_DATA / "city-of-london"
    greenspace = city / "greenspace_non_osm" / "os_open_greenspace_london_city_plus_1km.geojson"
    pois = city / "osm" / "geofabrik_osm_pois_london_2019_city_plus_1km.geojson.gz"
    area = city / "boundaries" / "city_of_london_lad2022_gen20.geojson"
    for path in (city / "crime", greenspace, pois, area):
        if not path.exists():
            pytest.skip(f"real data not present: {path}")
    out = tmp_path_factory.mktemp("real") / "city"
    args = ["build", "--incidents", f"police={city / 'crime'}", "--places", f"parks={greenspace}",
            "--places", str(pois), "--area", str(area), "--resolution", "10",
            "--name", "City of London", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return load_study(out)


def test_city_of_london_pack_rendered(city: Study, tmp_path: Path) -> None:
    artefacts = _artefacts(tmp_path)
    written = write_evidence([city], artefacts / "city-pack.pdf", DisclosureRule(), actor=ACTOR)
    reader = PdfReader(written.path)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "City of London" in text and "Streets" in text
    assert "This study was built without interventions." in text
    pages = _pages(written.path, artefacts)
    assert len(pages) >= len(SECTIONS)
    for page in pages:
        _not_blank(page)


def test_pack_reports_the_last_backtest(study: Study, tmp_path: Path) -> None:
    copy = tmp_path / "evaluated"
    shutil.copytree(study.path, copy)
    result = CliRunner().invoke(main, ["evaluate", str(copy), "--test-months", "2"])
    assert result.exit_code == 0, result.output
    doc = evidence_pack(load_study(copy), DisclosureRule())
    (table,) = [t for t in _blocks(doc, Table) if t.caption.startswith("Backtest over 2 months")]
    methods = [row[0] for row in table.rows]
    assert {"rtm", "boosted", "last period"} <= set(methods)
    assert all(float(row[2]) > 0 for row in table.rows)  # PAI
    assert any(
        f.caption.startswith("Share of next month's incidents") for f in _blocks(doc, Figure)
    )
