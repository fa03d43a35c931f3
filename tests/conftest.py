"""Shared fixtures: paths to the repository, the bundled sample town and the real data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
# Real public data lives beside the repository (../shared/data/real), never inside it.
REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder; tests that use it skip cleanly when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder not present: {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def sample_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample town built once into a study folder for the whole session."""
    from geojtai.settings import load_study_toml
    from geojtai.study import build_study

    settings, inputs = load_study_toml(SAMPLE_DATA / "study.toml")
    out = tmp_path_factory.mktemp("studies") / "sample"
    build_study(settings, inputs, out)
    return out
