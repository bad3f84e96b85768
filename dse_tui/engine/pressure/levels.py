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
    "psi_memory_full10": ("memory full stall", "%"),
    "psi_io_some10": ("I/O stall", "%"),
    "memory_percent": ("memory", "%"),
    "temperature_c": ("temperature", " °C"),
    "battery_percent": ("battery", "%"),
}
LOWER_IS_WORSE = ("battery_percent",)  # and it counts only on battery
URGENT = ("urgent", "high")
LEVEL_KEYS = ("allowed_tiers", "min_quality_threshold", "max_latency_ms", "can_reject", "fallback")


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
    low_window: str | None = "22:00-06:00"  # None: no time of day is LOW by itself

    @classmethod
    def load(cls, path: str | None = None) -> PressureConfig:
        """presets/pressure.yaml, with the user's file at `path` (same layout, any part of it)
        laid over it. A bad key or value raises ValueError naming it."""
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
    """`base` with the user's keys laid over it: a level's keys one by one, a high_when reading
    whole (null drops a shipped one), anything else replaced."""
    if not isinstance(user, dict):
        raise ValueError(f"{where}: must be a mapping of the keys of presets/pressure.yaml")
    out = dict(base)
    for key, value in user.items():
        if key not in base:
            raise ValueError(f"{where}: unknown key {key!r}")
        if key in ("levels", "high_when") and not isinstance(value, dict):
            raise ValueError(f"{where}: {key} must be a mapping, got {value!r}")
        if key == "levels":
            merged = dict(base[key])
            for level, settings in value.items():
                if level not in merged:
                    raise ValueError(f"{where}: unknown key levels.{level}")
                if not isinstance(settings, dict):
                    raise ValueError(f"{where}: levels.{level} must be a mapping, got {settings!r}")
                merged[level] = {**merged[level], **settings}
            out[key] = merged
        elif key == "high_when":
            out[key] = {k: v for k, v in {**base[key], **value}.items() if v is not None}
        else:
            out[key] = value
    return out


def _number(where: str, key: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _flag(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _mapping(where: str, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key} must be a mapping, got {value!r}")
    return value


def _parse_level(where: str, level: PressureLevel, raw: Any) -> LevelConfig:
    key = f"levels.{level.value}"
    raw = _mapping(where, key, raw)
    unknown = sorted(set(raw) - set(LEVEL_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {key}.{unknown[0]}")
    tiers = raw.get("allowed_tiers")
    if not isinstance(tiers, list) or not all(t in PROVIDER_KINDS for t in tiers):
        raise ValueError(f"{where}: {key}.allowed_tiers must list some of {', '.join(PROVIDER_KINDS)}, got {tiers!r}")
    quality = _number(where, f"{key}.min_quality_threshold", raw.get("min_quality_threshold"))
    if quality is None or not 0 <= quality <= 1:
        raise ValueError(f"{where}: {key}.min_quality_threshold must be within 0..1, got {quality!r}")
    ceiling = _number(where, f"{key}.max_latency_ms", raw.get("max_latency_ms"), allow_none=True)
    if ceiling is not None and ceiling <= 0:
        raise ValueError(f"{where}: {key}.max_latency_ms must be above 0 or null, got {ceiling:g}")
    fallback = raw.get("fallback")
    if fallback is not None and fallback not in {lv.value for lv in PressureLevel} - {level.value}:
        raise ValueError(f"{where}: {key}.fallback must be another level or null, got {fallback!r}")
    return LevelConfig(
        tuple(tiers),
        quality,
        ceiling,
        _flag(where, f"{key}.can_reject", raw.get("can_reject", True)),
        PressureLevel(fallback) if fallback else None,
    )


def _parse_threshold(where: str, reading: str, bounds: Any) -> tuple[float, float]:
    key = f"high_when.{reading}"
    if reading not in HIGH_READINGS:
        raise ValueError(f"{where}: unknown key {key}; known: {', '.join(HIGH_READINGS)}")
    bounds = _mapping(where, key, bounds)
    if set(bounds) != {"enter", "leave"}:
        odd = sorted(set(bounds) - {"enter", "leave"})
        raise ValueError(f"{where}: " + (f"unknown key {key}.{odd[0]}" if odd else f"{key} needs enter and leave"))
    enter = _number(where, f"{key}.enter", bounds["enter"]) or 0.0
    leave = _number(where, f"{key}.leave", bounds["leave"]) or 0.0
    # leaving sits on the calm side of entering, or a value between them would flap
    if (leave < enter) if reading in LOWER_IS_WORSE else (leave > enter):
        side = "below" if reading in LOWER_IS_WORSE else "above"
        raise ValueError(f"{where}: {key}.leave must not be {side} enter ({leave:g} vs {enter:g})")
    return enter, leave


def _parse(data: dict, where: str) -> PressureConfig:
    raw_levels = _mapping(where, "levels", data.get("levels"))
    levels = {level: _parse_level(where, level, raw_levels.get(level.value)) for level in PressureLevel}
    high_when = {
        reading: _parse_threshold(where, reading, bounds)
        for reading, bounds in _mapping(where, "high_when", data.get("high_when") or {}).items()
    }
    window = data.get("low_window", "22:00-06:00")
    if window is not None:
        try:
            timewindow.parse_window(window)
        except BadInput as exc:
            raise ValueError(f"{where}: low_window: {exc}") from None
    calm_s = _number(where, "calm_s", data.get("calm_s", 30)) or 0.0
    if calm_s < 0:
        raise ValueError(f"{where}: calm_s must not be negative, got {calm_s:g}")
    return PressureConfig(
        levels,
        high_when,
        _flag(where, "throttled_now_is_high", data.get("throttled_now_is_high", True)),
        calm_s,
        None if window is None else str(window),
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

    def _triggers(self, r: Readings) -> tuple[list[str], list[str], int]:
        """(what is over its enter threshold, what is not yet on the calm side of its leave
        threshold, how many readings were judged). Unread readings are skipped."""
        over: list[str] = []
        warm: list[str] = []
        judged = 0
        for key, (enter, leave) in self.config.high_when.items():
            value = getattr(r, key)
            if value is None:
                continue
            label, unit = HIGH_READINGS[key]
            if key == "battery_percent":
                if not r.on_battery:
                    continue
                judged += 1
                if value <= enter:
                    over.append(f"{label} {value:g}{unit} on battery (<= {enter:g}{unit})")
                if value < leave:
                    warm.append(f"{label} {value:g}{unit} (< {leave:g}{unit} to leave)")
                continue
            judged += 1
            if value >= enter:
                over.append(f"{label} {value:g}{unit} (>= {enter:g}{unit})")
            if value > leave:
                warm.append(f"{label} {value:g}{unit} (> {leave:g}{unit} to leave)")
        if self.config.throttled_now_is_high and (r.throttled_now or r.under_voltage_now):
            over.append("throttled now: " + ", ".join(x for x in r.throttle_reasons() if x.endswith("now")))
        return over, warm, judged

    def assess(self, *, urgency: str | None = None, override: PressureLevel | str | None = None) -> Assessment:
        r = self.sensors.read()
        now = self.clock()
        over, warm, judged = self._triggers(r)
        reasons: list[str] = []
        if over:
            self._high, self._calm_since = True, None
            reasons += over
        elif self._high:
            if warm:  # between leave and enter: still high, and the calm clock starts again
                self._calm_since = None
                reasons.append("easing, not yet calm: " + ", ".join(warm))
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
        elif self.config.low_window and timewindow.in_window(self.config.low_window, r.local_hour, r.local_minute):
            # the window makes a calm machine LOW; with nothing read, nothing shows it calm
            if judged:
                level = PressureLevel.LOW
                reasons.append(f"in the low-pressure window {self.config.low_window}")
            else:
                level = PressureLevel.MEDIUM
                reasons.append(f"in the low-pressure window {self.config.low_window}, but no reading shows it calm")
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
