"""End to end: ``geojtai sample`` → ``geojtai build`` → the web app's map page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from web import create_app

EXTERNAL_URL = re.compile(r"https?://(?!(?:localhost|127\.0\.0\.1)[:/])[^\s\"'<>)]+")


def geojtai(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "geojtai", *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sample_build_serve(tmp_path: Path) -> None:
    town = tmp_path / "town"
    geojtai("sample", str(town), "--seed", "7")
    assert (town / "study.toml").is_file()
    out = tmp_path / "study"
    summary = geojtai("build", str(town / "study.toml"), "--out", str(out))
    assert "rejected" in summary
    # The place question is answered on the terminal: shares per place type, top places.
    assert "where incidents happened" in summary
    for title in ("Parks and open spaces", "Streets", "Shopping centres", "Elsewhere"):
        assert title in summary
    assert "top parks:" in summary

    app = create_app(
        {
            "TESTING": True,
            "STUDY_DIR": str(out),
            "LOGIN_REQUIRED": False,
            "ANONYMOUS_ROLE": "editor",
            "DATABASE_URL": "sqlite://",
        }
    )
    page = app.test_client().get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    table = pd.read_parquet(out / "cells.parquet", columns=["h3", "count", "place_type"])
    cells = table.loc[table["count"] > 0, "h3"]
    assert len(cells) > 50
    assert all(h in html for h in cells)
    assert {"parks", "streets", "shopping_centres"} <= set(table["place_type"])
    assert EXTERNAL_URL.findall(html) == []
