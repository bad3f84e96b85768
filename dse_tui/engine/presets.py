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


def living(section: str) -> dict:
    """One section of presets/living.yaml, with the keys of $DSE_LIVING_FILE laid over it.
    Unknown keys in the override are errors (a typo must not silently keep a default)."""
    import os

    import yaml

    shipped = yaml.safe_load((presets_dir() / "living.yaml").read_text(encoding="utf-8")) or {}
    values = dict(shipped.get(section) or {})
    override_path = os.environ.get("DSE_LIVING_FILE")
    if override_path:
        try:
            override = yaml.safe_load(Path(override_path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{override_path}: cannot be read ({exc})") from None
        given = override.get(section) or {}
        if not isinstance(given, dict):
            raise ValueError(f"{override_path}: {section} must be a mapping")
        unknown = set(given) - set(values)
        if unknown:
            raise ValueError(f"{override_path}: unknown keys in {section}: {', '.join(sorted(unknown))}")
        values.update(given)
    return values


def living_settings(cls: type, section: str, **overrides: object):
    """A settings dataclass (every field with a default) from a living.yaml section, each
    value coerced to its default's type (`1` for a float field is 1.0; a bad value raises)."""
    values = {**living(section), **overrides}
    try:
        return cls(**{key: type(getattr(cls, key))(value) for key, value in values.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"living.yaml {section}: {exc}") from None
