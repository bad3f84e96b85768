"""Locate the shipped presets (package data `dse_tui.presets`, or the repo's presets/)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def presets_dir() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("dse_tui.presets")))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "presets"


def starter_library() -> list[tuple[Path, Path]]:
    """(code, spec) file pairs of the starter library, sorted by name."""
    folder = presets_dir() / "library"
    return [
        (code, code.with_suffix(".yaml")) for code in sorted(folder.glob("*.py")) if code.with_suffix(".yaml").exists()
    ]
