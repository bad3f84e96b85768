"""Pressure levels from readings (presets/pressure.yaml), with hysteresis, a user override,
and the tiers each level allows."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dse_tui.engine import timewindow
from dse_tui.engine.errors import BadInput
from dse_tui.engine.presets import presets_dir

from .readings import Readings, Sensors

PROVIDER_KINDS = ("reuse", "embedded", "ollama", "anthropic", "scripted")
HIGH_READINGS = {
    "cpu_percent": ("CPU", "%"),
    "load_per_core": ("load", " per core"),
    "psi_cpu_some10": ("CPU stall", "%"),
    "psi_memory_some10": ("memory stall", "%"),
    "memory_percent": ("memory", "%"),
    "temperature_c": ("temperature", " °C"),
    "battery_percent": ("battery", "%"),
}
URGENT = ("urgent", "high")


class PressureLevel(str, enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    TRAINING = "training"


@dataclass(frozen=True)
class LevelConfig:
    allowed_tiers: tuple[str, ...]
    min_quality_threshold: float
    max_latency_ms: float | None
    can_reject: bool
    fallback: PressureLevel | None


@dataclass(frozen=True)
class PressureConfig:
    levels: dict[PressureLevel, LevelConfig]
    high_when: dict[str, tuple[float, float]]  # reading -> (enter, leave)
    throttled_now_is_high: bool = True
    calm_s: float = 30.0
    low_window: str = "22:00-06:00"

    @classmethod
    def load(cls, path: str | None = None) -> PressureConfig:
        shipped = yaml.safe_load((presets_dir() / "pressure.yaml").read_text(encoding="utf-8"))
        data = shipped
        if path:
            try:
                user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"{path}: cannot be read ({exc})") from None
            data = _overlay(shipped, user, path)
        return _parse(data, path or "presets/pressure.yaml")


def _overlay(base: dict, user: Any, where: str) -> dict:
    if not isinstance(user, dict):
        raise ValueError(f"{where}: must be a mapping")
    out = dict(base)
    for key, value in user.items():
        if key not in base:
            raise ValueError(f"{where}: unknown key {key!r}")
        if isinstance(base[key], dict) and isinstance(value, dict) and key != "high_when":
            merged = dict(base[key])
            for inner, inner_value in value.items():
                if inner not in base[key]:
                    raise ValueError(f"{where}: unknown key {key}.{inner}")
                merged[inner] = {**merged[inner], **inner_value} if isinstance(inner_value, dict) else inner_value
            out[key] = merged
        else:
            out[key] = value
    return out


def _number(where: str, key: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _parse(data: dict, where: str) -> PressureConfig:
    levels: dict[PressureLevel, LevelConfig] = {}
    raw_levels = data.get("levels") or {}
    for level in PressureLevel:
        raw = raw_levels.get(level.value)
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: levels.{level.value} is missing")
        unknown = set(raw) - {"allowed_tiers", "min_quality_threshold", "max_latency_ms", "can_reject", "fallback"}
        if unknown:
            raise ValueError(f"{where}: unknown key levels.{level.value}.{sorted(unknown)[0]}")
        tiers = raw.get("allowed_tiers")
        if not isinstance(tiers, list) or not all(t in PROVIDER_KINDS for t in tiers):
            raise ValueError(
                f"{where}: levels.{level.value}.allowed_tiers must list some of {', '.join(PROVIDER_KINDS)}"
            )
        quality = _number(where, f"levels.{level.value}.min_quality_threshold", raw.get("min_quality_threshold"))
        if not 0 <= (quality or 0) <= 1:
            raise ValueError(f"{where}: levels.{level.value}.min_quality_threshold must be within 0..1")
        fallback = raw.get("fallback")
        if fallback is not None and fallback not in {lv.value for lv in PressureLevel}:
            raise ValueError(f"{where}: levels.{level.value}.fallback must be a level or null, got {fallback!r}")
        levels[level] = LevelConfig(
            tuple(tiers),
            float(quality or 0),
            _number(where, f"levels.{level.value}.max_latency_ms", raw.get("max_latency_ms"), allow_none=True),
            bool(raw.get("can_reject", True)),
            PressureLevel(fallback) if fallback else None,
        )
    high_when = {}
    for key, bounds in (data.get("high_when") or {}).items():
        if key not in HIGH_READINGS:
            raise ValueError(f"{where}: unknown key high_when.{key}")
        if not isinstance(bounds, dict) or set(bounds) != {"enter", "leave"}:
            raise ValueError(f"{where}: high_when.{key} needs enter and leave")
        high_when[key] = (
            float(_number(where, f"high_when.{key}.enter", bounds["enter"]) or 0),
            float(_number(where, f"high_when.{key}.leave", bounds["leave"]) or 0),
        )
    window = str(data.get("low_window", "22:00-06:00"))
    try:
        timewindow.parse_window(window)
    except BadInput as exc:
        raise ValueError(f"{where}: low_window: {exc}") from None
    return PressureConfig(
        levels,
        high_when,
        bool(data.get("throttled_now_is_high", True)),
        float(_number(where, "calm_s", data.get("calm_s", 30)) or 0),
        window,
    )


@dataclass(frozen=True)
class Assessment:
    level: PressureLevel
    reasons: list[str]
    readings: Readings
    allowed_tiers: tuple[str, ...]
    max_latency_ms: float | None
    min_quality: float
    overridden: bool = False
    triggers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "reasons": self.reasons,
            "allowed_tiers": list(self.allowed_tiers),
            "max_latency_ms": self.max_latency_ms,
            "min_quality": self.min_quality,
            "overridden": self.overridden,
            "readings": self.readings.to_dict(),
        }


class PressureGauge:
    def __init__(
        self, config: PressureConfig, sensors: Sensors, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.sensors = sensors
        self.clock = clock
        self._high = False
        self._calm_since: float | None = None

    def _triggers(self, r: Readings) -> tuple[list[str], bool]:
        """(what is over its enter threshold, whether everything is under its leave threshold)."""
        over, calm = [], True
        for key, (enter, leave) in self.config.high_when.items():
            value = getattr(r, key)
            if value is None:
                continue
            label, unit = HIGH_READINGS[key]
            if key == "battery_percent":
                if not r.on_battery:
                    continue
                if value <= enter:
                    over.append(f"{label} {value:g}{unit} on battery (<= {enter:g}{unit})")
                if value < leave:
                    calm = False
                continue
            if value >= enter:
                over.append(f"{label} {value:g}{unit} (>= {enter:g}{unit})")
            if value > leave:
                calm = False
        if self.config.throttled_now_is_high and r.throttled_now:
            over.append("throttled now: " + ", ".join(x for x in r.throttle_reasons() if x.endswith("now")))
            calm = False
        return over, calm

    def assess(self, *, urgency: str | None = None, override: PressureLevel | str | None = None) -> Assessment:
        r = self.sensors.read()
        now = self.clock()
        over, calm = self._triggers(r)
        reasons: list[str] = []
        if over:
            self._high, self._calm_since = True, None
            reasons += over
        elif self._high:
            if not calm:
                self._calm_since = None
                reasons.append("easing, not yet under every leave threshold")
            else:
                self._calm_since = self._calm_since if self._calm_since is not None else now
                if now - self._calm_since >= self.config.calm_s:
                    self._high, self._calm_since = False, None
                else:
                    reasons.append(f"calm for {now - self._calm_since:.0f} of {self.config.calm_s:g} s")
        if urgency and urgency.lower() in URGENT:
            level = PressureLevel.HIGH
            reasons.append("the user says it is urgent")
        elif self._high:
            level = PressureLevel.HIGH
        elif timewindow.in_window(self.config.low_window, r.local_hour, r.local_minute):
            level = PressureLevel.LOW
            reasons.append(f"in the low-pressure window {self.config.low_window}")
        else:
            level = PressureLevel.MEDIUM
            reasons.append(
                "normal load" if r.cpu_percent is not None or r.psi_cpu_some10 is not None else "no load readings"
            )
        if r.platform == "raspberry_pi" and r.throttled_since_boot and not r.throttled_now:
            reasons.append("throttled earlier since boot (not now)")
        overridden = False
        if override:
            try:
                chosen = PressureLevel(str(override).lower())
            except ValueError:
                raise ValueError(f"unknown pressure level {override!r}; known: high, medium, low, training") from None
            if chosen != level:
                reasons.insert(0, f"override: {chosen.value} (measured {level.value})")
            else:
                reasons.insert(0, f"override: {chosen.value}")
            level, overridden = chosen, True
        config = self.config.levels[level]
        return Assessment(
            level,
            reasons,
            r,
            config.allowed_tiers,
            config.max_latency_ms,
            config.min_quality_threshold,
            overridden,
            over,
        )


def allowed_tiers(assessment: Assessment, tiers: list[tuple[str, str, float | None]]) -> tuple[list[str], list[str]]:
    """(names allowed, a reason per tier refused) for (name, provider, predicted latency ms)."""
    allowed, refused = [], []
    ceiling = assessment.max_latency_ms
    for name, provider, predicted in tiers:
        if provider not in assessment.allowed_tiers:
            refused.append(f"{name} ({provider}): not allowed under {assessment.level.value} pressure")
        elif ceiling is not None and predicted is not None and predicted > ceiling:
            refused.append(
                f"{name}: predicted {predicted / 1000:.1f} s over the {ceiling / 1000:g} s ceiling of "
                f"{assessment.level.value} pressure"
            )
        else:
            allowed.append(name)
    return allowed, refused
