"""The generation ladder from presets/models.yaml (plus an optional user file).

Errors name the file and the key, e.g.
`presets/models.yaml: tiers[2].timeout_s: expected a number > 0, got 'x'`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dse_tui.engine.errors import BadInput

from .base import TierConfig
from .registry import PROVIDER_OPTIONS, provider_names

PRESET_NAME = "models.yaml"
_REPO_PRESET = Path(__file__).resolve().parents[4] / "presets" / PRESET_NAME
_TIER_KEYS = {
    "name",
    "provider",
    "model",
    "temperature",
    "max_tokens",
    "timeout_s",
    "price_in_per_mtok",
    "price_out_per_mtok",
    "options",
}
_TOP_KEYS = {"tiers", "temperature_schedule", "max_attempts", "daily_budget_usd"}
DEFAULT_DAILY_BUDGET_USD = 5.0


class LadderConfigError(BadInput, ValueError):
    """models.yaml (or the user's override) is unusable; the message names file and key."""


@dataclass
class Ladder:
    tiers: list[TierConfig]
    temperature_schedule: list[float] = field(default_factory=list)
    max_attempts: int = 4
    daily_budget_usd: float = DEFAULT_DAILY_BUDGET_USD  # across all asks since local midnight

    def tier(self, name: str) -> TierConfig:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)

    def temperature_for(self, tier: TierConfig, attempt: int) -> float | None:
        """Temperature for the 0-based `attempt`: the schedule's value (its last
        one past the end), the tier's own without a schedule, None if the tier
        takes no temperature."""
        if tier.temperature is None or not self.temperature_schedule:
            return tier.temperature
        return self.temperature_schedule[min(attempt, len(self.temperature_schedule) - 1)]


def preset_path() -> Path:
    """models.yaml shipped as package data, else the repo checkout's."""
    try:
        from importlib.resources import files

        shipped = files("dse_tui.presets") / PRESET_NAME
        if shipped.is_file():
            return Path(str(shipped))
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO_PRESET


def user_path() -> Path:
    """$DSE_MODELS_FILE, else $XDG_CONFIG_HOME/dse/models.yaml."""
    if os.environ.get("DSE_MODELS_FILE"):
        return Path(os.environ["DSE_MODELS_FILE"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "dse" / PRESET_NAME


def load_ladder(
    path: str | os.PathLike | None = None, *, user: str | os.PathLike | None | bool = None
) -> list[TierConfig]:
    return load_ladder_config(path, user=user).tiers


def load_ladder_config(
    path: str | os.PathLike | None = None, *, user: str | os.PathLike | None | bool = None
) -> Ladder:
    """Read the preset (or `path`), then overlay the user file if it exists.

    The user file uses the same layout; its tiers replace fields of preset
    tiers with the same name, new names are appended. `user=False` skips it.
    """
    base_file = Path(path) if path is not None else preset_path()
    raw = _read(base_file)
    where = base_file
    if user is not False:
        ufile = Path(user) if user is not None and user is not True else user_path()
        if ufile.is_file():
            raw = _overlay(raw, _read(ufile), ufile)
            where = ufile
    return _validate(raw, base_file if where == base_file else f"{base_file} + {where}")


def _read(file: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LadderConfigError(f"{file}: file not found") from None
    except yaml.YAMLError as exc:
        raise LadderConfigError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise LadderConfigError(f"{file}: expected a mapping at the top level")
    return data


def _overlay(base: dict, user: dict, ufile: Path) -> dict:
    merged = {**base, **{k: v for k, v in user.items() if k != "tiers"}}
    tiers = [dict(t) if isinstance(t, dict) else t for t in base.get("tiers") or []]
    user_tiers = user.get("tiers") or []
    if not isinstance(user_tiers, list):
        raise LadderConfigError(f"{ufile}: tiers: expected a list")
    for i, ut in enumerate(user_tiers):
        if not isinstance(ut, dict) or "name" not in ut:
            raise LadderConfigError(f"{ufile}: tiers[{i}]: expected a mapping with a name")
        same = next((t for t in tiers if isinstance(t, dict) and t.get("name") == ut["name"]), None)
        if same is not None:
            same.update(ut)
        else:
            tiers.append(dict(ut))
    merged["tiers"] = tiers
    return merged


def _num(where, key, value, *, minimum: float = 0.0, strict: bool = False, integer: bool = False):
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < minimum or (strict and value == minimum):
        want = "an integer" if integer else "a number"
        raise LadderConfigError(f"{where}: {key}: expected {want} {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return value


def _validate(raw: dict, file) -> Ladder:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise LadderConfigError(f"{file}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    max_attempts = _num(file, "max_attempts", raw.get("max_attempts", 4), minimum=1, integer=True)
    schedule = raw.get("temperature_schedule") or []
    if not isinstance(schedule, list):
        raise LadderConfigError(f"{file}: temperature_schedule: expected a list of numbers")
    schedule = [float(_num(file, f"temperature_schedule[{i}]", t)) for i, t in enumerate(schedule)]
    tiers_raw = raw.get("tiers")
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise LadderConfigError(f"{file}: tiers: expected a non-empty list of tiers")
    tiers, seen = [], set()
    for i, t in enumerate(tiers_raw):
        at = f"tiers[{i}]"
        if not isinstance(t, dict):
            raise LadderConfigError(f"{file}: {at}: expected a mapping")
        extra = set(t) - _TIER_KEYS
        if extra:
            raise LadderConfigError(
                f"{file}: {at}.{sorted(extra)[0]}: unknown key (known: {', '.join(sorted(_TIER_KEYS))})"
            )
        for key in ("name", "provider", "model", "temperature", "max_tokens", "timeout_s"):
            if key not in t:
                raise LadderConfigError(f"{file}: {at}.{key}: missing")
        for key in ("name", "provider", "model"):
            if not isinstance(t[key], str) or not t[key].strip():
                raise LadderConfigError(f"{file}: {at}.{key}: expected a non-empty string, got {t[key]!r}")
        at = f"tiers[{i}] ({t['name']})"
        if t["name"] in seen:
            raise LadderConfigError(f"{file}: {at}.name: duplicate tier name")
        seen.add(t["name"])
        if t["provider"] not in provider_names():
            raise LadderConfigError(
                f"{file}: {at}.provider: unknown provider {t['provider']!r} (known: {', '.join(provider_names())})"
            )
        temp = t["temperature"]
        if temp is not None:
            temp = float(_num(file, f"{at}.temperature", temp))
        options = t.get("options") or {}
        if not isinstance(options, dict):
            raise LadderConfigError(f"{file}: {at}.options: expected a mapping")
        known = PROVIDER_OPTIONS[t["provider"]]
        for key in options:
            if key not in known:
                raise LadderConfigError(
                    f"{file}: {at}.options.{key}: not an option of {t['provider']} (known: {', '.join(known)})"
                )
        tiers.append(
            TierConfig(
                name=t["name"],
                provider=t["provider"],
                model=t["model"],
                temperature=temp,
                max_tokens=_num(file, f"{at}.max_tokens", t["max_tokens"], minimum=1, integer=True),
                timeout_s=float(_num(file, f"{at}.timeout_s", t["timeout_s"], strict=True)),
                price_in_per_mtok=float(_num(file, f"{at}.price_in_per_mtok", t.get("price_in_per_mtok", 0))),
                price_out_per_mtok=float(_num(file, f"{at}.price_out_per_mtok", t.get("price_out_per_mtok", 0))),
                options=dict(options),
            )
        )
    daily = float(_num(file, "daily_budget_usd", raw.get("daily_budget_usd", DEFAULT_DAILY_BUDGET_USD)))
    return Ladder(tiers=tiers, temperature_schedule=schedule, max_attempts=max_attempts, daily_budget_usd=daily)
