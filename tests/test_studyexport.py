"""Tests of geojtai.studyexport (and ``geojtai export``): the audit line of every export,
filters, refused requests, and the disclosure rule as found in the files written."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from geojtai import grid
from geojtai.cli import main
from geojtai.disclosure import DisclosureRule
from geojtai.errors import ExportError, StudyError
from geojtai.io.auditlog import AUDIT_LOG, read_audit
from geojtai.io.exporters import FORMATS, SUFFIXES
from geojtai.io.studyfolder import Study, load_study
from geojtai.studyexport import MARKINGS, Actor, ExportResult, export_study

ACTOR = Actor("ana", "analyst", "test")
PUBLISHABLE = DisclosureRule()
INTERNAL = DisclosureRule(profile="internal")
ONE_LAYER = ("geojson", "csv", "parquet")


@pytest.fixture
def study(sample_study: Path, tmp_path: Path) -> Study:
    """A fresh copy of the sample study, so each test sees only its own audit lines."""
    folder = tmp_path / "study"
    shutil.copytree(sample_study, folder)
    return load_study(folder)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def export(study: Study, out: Path, fmt: str, *layers: str, **kwargs: Any) -> ExportResult:
    kwargs.setdefault("rule", PUBLISHABLE)
    path = out / f"{'-'.join(layers)}-{kwargs['rule'].profile}{SUFFIXES[fmt][0]}"
    return export_study(study, layers=list(layers), fmt=fmt, out=path, actor=ACTOR, **kwargs)


def read_table(path: Path) -> pd.DataFrame:
    """A one-layer export read back with its own library."""
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return gpd.read_parquet(path)
    return pyogrio.read_dataframe(path)


def count_columns(table: pd.DataFrame) -> list[str]:
    names = ("count", "last_3_months", "previous_3_months")
    return [c for c in table.columns if c in names or c.startswith("count_")]


# -- the audit log -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_export_appends_one_audit_line_with_the_file_hash(
    study: Study, out: Path, fmt: str
) -> None:
    before = read_audit(study.path)
    result = export(study, out, fmt, "counts")
    entries = read_audit(study.path)
    assert entries[: len(before)] == before and len(entries) == len(before) + 1
    entry = entries[-1]
    assert entry == result.audit
    expected = {
        "who": "ana",
        "role": "analyst",
        "via": "test",
        "study": study.name,
        "layers": ["counts"],
        "format": fmt,
        "filters": {},
        "profile": "publishable",
        "rows": {"counts": result.rows["counts"]},
        "file": result.path.name,
        "sha256": hashlib.sha256(result.path.read_bytes()).hexdigest(),
    }
    assert {k: entry[k] for k in expected} == expected
    assert result.rows["counts"] > 0


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_success_leaves_no_temporary_files(study: Study, out: Path, fmt: str) -> None:
    result = export(study, out, fmt, "counts")
    sidecar = [f"{result.path.name}-metadata.json"] if fmt == "csv" else []
    assert sorted(p.name for p in out.iterdir()) == sorted([result.path.name, *sidecar])


def test_two_exports_give_two_lines_in_order(study: Study, out: Path) -> None:
    export(study, out, "geojson", "counts")
    export(study, out, "csv", "risk")
    assert [e["format"] for e in read_audit(study.path)][-2:] == ["geojson", "csv"]


def test_no_file_is_handed_out_without_its_audit_line(study: Study, out: Path) -> None:
    (study.path / AUDIT_LOG).mkdir()  # the log cannot be appended to
    with pytest.raises(StudyError, match="audit log"):
        export(study, out, "geojson", "counts")
    assert list(out.iterdir()) == []


# -- filters -----------------------------------------------------------------------------


def test_filters_reduce_the_counts_to_the_matching_incidents(study: Study, out: Path) -> None:
    months = study.months
    args = {"category": "robbery", "from": months[12], "to": months[23]}
    whole = export(study, out, "parquet", "counts", rule=INTERNAL)
    whole.path.rename(out / "whole.parquet")
    part = export(study, out, "parquet", "counts", rule=INTERNAL, filter_args=args)
    incidents = pd.read_parquet(study.path / "incidents.parquet")
    mine = (
        incidents["in_scope"]
        & (incidents["category"] == "robbery")
        & incidents["month"].between(months[12], months[23])
    )
    shown = gpd.read_parquet(part.path)["count"].sum()
    assert 0 < shown == mine.sum() < gpd.read_parquet(out / "whole.parquet")["count"].sum()
    assert read_audit(study.path)[-1]["filters"] == args


def test_filters_are_described_in_the_metadata(study: Study, out: Path) -> None:
    result = export(study, out, "csv", "counts", filter_args={"category": "robbery"})
    sidecar = result.path.with_name(result.path.name + "-metadata.json").read_text("utf-8")
    assert "robbery" in sidecar and "all incidents" not in sidecar


# -- refused requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "layers", "kwargs", "message"),
    [
        ("geojson", ["counts"], {"filter_args": {"colour": "red"}}, "Unknown filter colour"),
        ("geojson", ["counts"], {"filter_args": {"category": "jaywalking"}}, "'jaywalking'"),
        ("geojson", ["counts"], {"filter_args": {"from": "2030-01"}}, "'2030-01'"),
        ("geojson", ["nope"], {}, "no layer 'nope'"),
        ("geojson", ["risk"], {"filter_args": {"weekday": "mon"}}, "apply to the counts"),
        ("csv", ["incidents"], {}, "--profile internal"),
        ("geojson", ["all"], {}, "--layer all needs a format"),
        ("geojson", ["counts", "risk"], {}, "holds one layer"),
        ("kml", ["counts"], {}, "`format` was 'kml'"),
        ("shp", ["counts"], {"out": "x.shp"}, "ending in .zip"),
        ("gpkg", ["counts"], {"out": "x.geojson"}, "ending in .gpkg"),
    ],
)
def test_bad_requests_raise_and_leave_nothing(
    study: Study, out: Path, fmt: str, layers: list[str], kwargs: dict[str, Any], message: str
) -> None:
    kwargs = dict(kwargs)  # parametrised values are shared between runs: do not pop them
    target = out / kwargs.pop("out", "x" + SUFFIXES.get(fmt, (".kml",))[0])
    before = (study.path / AUDIT_LOG).read_bytes() if (study.path / AUDIT_LOG).exists() else b""
    with pytest.raises(ExportError, match=re.escape(message)):
        export_study(
            study, layers=layers, fmt=fmt, out=target, rule=PUBLISHABLE, actor=ACTOR, **kwargs
        )
    assert list(out.iterdir()) == []
    after = (study.path / AUDIT_LOG).read_bytes() if (study.path / AUDIT_LOG).exists() else b""
    assert after == before


def test_every_problem_with_the_layers_is_named_at_once(study: Study, out: Path) -> None:
    with pytest.raises(ExportError) as caught:
        export(study, out, "gpkg", "nope", "incidents")
    assert len(caught.value.problems) == 2
    assert "'nope'" in str(caught.value) and "incidents" in str(caught.value)


# -- the disclosure rule in the files ----------------------------------------------------


@pytest.mark.parametrize("fmt", ONE_LAYER)
@pytest.mark.parametrize("layer", ["counts", "cells", "gaps"])
def test_publishable_counts_are_withheld_zero_or_rounded(
    study: Study, out: Path, layer: str, fmt: str
) -> None:
    table = read_table(export(study, out, fmt, layer).path)
    columns = count_columns(table)
    assert "count" in columns
    for column in columns:
        values = table[column].to_numpy(dtype=np.float64, na_value=np.nan)
        shown = values[np.isfinite(values) & (values != 0)]
        assert (shown >= PUBLISHABLE.threshold).all(), column
        assert (shown % PUBLISHABLE.rounding == 0).all(), column


def test_internal_counts_add_up_to_the_study(study: Study, out: Path) -> None:
    table = read_table(export(study, out, "geojson", "counts", rule=INTERNAL).path)
    total = pd.read_parquet(study.path / "cells.parquet")["count"].sum()
    assert table["count"].sum() == total == len(study.incidents())
    assert (table["count"] > 0).all() and not table["count"].isna().any()


def test_internal_profile_keeps_exact_cell_counts(study: Study, out: Path) -> None:
    table = read_table(export(study, out, "csv", "cells", rule=INTERNAL).path)
    cells = pd.read_parquet(study.path / "cells.parquet")
    exact = cells.set_index("h3")["count"]
    assert table.set_index("h3")["count"].sort_index().equals(exact.sort_index())
    assert (exact % 5 != 0).any()  # so the rule, had it applied, would show


def _covering_rows(published: pd.DataFrame, cells: pd.Series) -> np.ndarray:
    """For each study cell, the published row holding its incidents: the cell's own row,
    else the finest parent cell with a row."""
    ids = grid.cells_from_hex(cells.to_numpy(dtype=object))
    resolution = int(grid.cell_resolution(ids[:1])[0])
    where = pd.Series(np.arange(len(published)), index=published["h3"].to_numpy())
    row = np.full(len(ids), -1)
    for res in range(resolution, resolution - 3, -1):
        parents = grid.cells_to_hex(grid.cell_parents(ids, res) if res < resolution else ids)
        found = where.reindex(parents).to_numpy()
        todo = (row < 0) & ~np.isnan(found)
        row[todo] = found[todo].astype(int)
    return row


def test_publishable_counts_are_the_exact_ones_within_rounding(study: Study, out: Path) -> None:
    shown = read_table(export(study, out, "parquet", "counts").path)
    exact = read_table(export(study, out, "parquet", "counts", rule=INTERNAL).path)
    row = _covering_rows(shown, exact["h3"])
    assert (row >= 0).all()  # every incident is in some row, shown or withheld
    raw = np.bincount(row, weights=exact["count"].to_numpy(), minlength=len(shown))
    withheld = shown["suppressed"].to_numpy(dtype=bool)
    assert (raw > 0).all()  # no published row without incidents
    assert (raw[withheld] < PUBLISHABLE.threshold).all()
    gap = np.abs(shown["count"].to_numpy()[~withheld] - raw[~withheld])
    assert (raw[~withheld] >= PUBLISHABLE.threshold).all() and (gap <= 2.5).all()
    difference = abs(shown["count"].sum() - exact["count"].sum())
    bound = 2.5 * (~withheld).sum() + (PUBLISHABLE.threshold - 1) * withheld.sum()
    assert 0 < difference <= bound


def test_marking_follows_the_profile_unless_given(study: Study, out: Path) -> None:
    internal = export(study, out, "html", "counts", rule=INTERNAL).path.read_text("utf-8")
    assert f'<meta name="geojtai:marking" content="{MARKINGS["internal"]}">' in internal
    given = export(study, out, "html", "risk", marking="OFFICIAL: TEST").path.read_text("utf-8")
    assert '<meta name="geojtai:marking" content="OFFICIAL: TEST">' in given


# -- the command line --------------------------------------------------------------------


def test_cli_exports_geojson(study: Study, out: Path) -> None:
    target = out / "x.geojson"
    args = ["export", str(study.path), "--layer", "counts", "--format", "geojson"]
    result = CliRunner().invoke(main, [*args, "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {target}")
    assert read_audit(study.path)[-1]["via"] == "cli"
    assert read_audit(study.path)[-1]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_cli_bad_layer_exits_2_with_one_line(study: Study, out: Path) -> None:
    args = ["export", str(study.path), "--layer", "nope", "--format", "gpkg"]
    result = CliRunner().invoke(main, [*args, "--out", str(out / "x.gpkg")])
    assert result.exit_code == 2
    assert result.stderr.startswith("geojtai: error:") and result.stderr.count("\n") == 1
    assert "'nope'" in result.stderr and "Traceback" not in result.output
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(("profile", "code"), [("internal", 0), ("publishable", 2)])
def test_cli_incidents_only_with_the_internal_profile(
    study: Study, out: Path, profile: str, code: int
) -> None:
    target = out / "incidents.csv"
    args = ["export", str(study.path), "--layer", "incidents", "--format", "csv"]
    result = CliRunner().invoke(main, [*args, "--profile", profile, "--out", str(target)])
    assert result.exit_code == code, result.output
    assert target.exists() is (code == 0)
    if code == 0:
        assert len(pd.read_csv(target)) == len(study.incidents())
        assert read_audit(study.path)[-1]["internal_only_layers"] == ["incidents"]
    else:
        assert "--profile internal" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("layer", "columns"),
    [
        ("cells", ["risk", "relative_risk", "gi_z", "gi_p_adj", "first_month", "last_month"]),
        ("risk", ["risk", "relative_risk", "risk_rank"]),
        ("hotspots", ["gi_z", "gi_p_adj"]),
        ("emerging", ["trend_z", "trend_p"]),
        ("gaps", ["risk", "cluster_risk"]),
        ("interventions", ["notes", "cost"]),
    ],
)
def test_publishable_files_leave_out_exact_values(
    study: Study, out: Path, layer: str, columns: list[str]
) -> None:
    internal = read_table(export(study, out, "parquet", layer, rule=INTERNAL).path)
    published = read_table(export(study, out, "parquet", layer).path)
    assert set(columns) <= set(internal.columns)
    assert not set(columns) & set(published.columns)


def test_publishable_harm_is_withheld_with_its_count(study: Study, out: Path) -> None:
    table = read_table(export(study, out, "geojson", "cells").path)
    withheld = table["count"].isna()
    assert withheld.any() and table.loc[withheld, "harm"].isna().all()
    harm = table.loc[~withheld & (table["harm"] > 0), "harm"].to_numpy()
    assert np.array_equal(harm, [float(f"{h:.2g}") for h in harm])  # 2 significant figures
