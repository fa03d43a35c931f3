"""The demo: build the sample town's study once, so ``geojtai demo`` can serve it.

The bundled ``sample_data/`` (a repository checkout) is used when present; otherwise the
town is generated afresh with the same seed into a folder beside the study.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from geojtai.io.studyfolder import CELL_MONTHS, CELLS, MANIFEST
from geojtai.settings import load_study_toml

__all__ = ["SAMPLE_SEED", "bundled_sample", "ensure_sample_study"]

SAMPLE_SEED = 42
STUDY_TOML = "study.toml"


def bundled_sample() -> Path | None:
    """The repository's ``sample_data/`` folder, if this is a checkout that has one."""
    folder = Path(__file__).resolve().parents[1] / "sample_data"
    return folder if (folder / STUDY_TOML).is_file() else None


def ensure_sample_study(
    study: Path, *, echo: Callable[[str], Any] = print
) -> dict[str, Any] | None:
    """Build the sample study into ``study`` unless a complete one is already there.

    Returns
    -------
    dict or None
        The new manifest, or ``None`` when an existing study was kept.
    """
    if all((study / name).is_file() for name in (MANIFEST, CELLS, CELL_MONTHS)):
        echo(f"using the existing sample study in {study}")
        return None
    from geojtai.study import build_study

    inputs_dir = bundled_sample()
    if inputs_dir is None:
        from geojtai.io.sample import write_sample
        from geojtai.synth import generate_town

        inputs_dir = study.parent / f"{study.name}_inputs"
        echo(f"generating the sample town into {inputs_dir}")
        write_sample(generate_town(seed=SAMPLE_SEED), inputs_dir)
    echo(f"building the sample study from {inputs_dir} into {study}")
    settings, inputs = load_study_toml(inputs_dir / STUDY_TOML)
    return build_study(settings, inputs, study).manifest
