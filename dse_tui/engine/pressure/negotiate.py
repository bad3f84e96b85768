"""Quality negotiation (paper §4.3): can a level deliver the quality asked for, and if not,
what to do. A level's min_quality_threshold is read as the paper reads it: the best quality
that level is taken to deliver, so asking above it under that level cannot be met."""

from __future__ import annotations

from .levels import PressureConfig, PressureLevel


def negotiate_quality(
    required: float, level: PressureLevel | str, config: PressureConfig
) -> tuple[bool, str, str | None]:
    """(can_meet, reason, suggestion)."""
    if isinstance(required, bool) or not isinstance(required, (int, float)) or not 0.0 <= required <= 1.0:
        raise ValueError(f"the required quality must be a number within 0..1, got {required!r}")
    level = PressureLevel(level)
    best = config.levels[level].min_quality_threshold
    if required <= best:
        return True, f"quality {required:.2f} can be met under {level.value} pressure (up to {best:.2f})", None
    fallback = config.levels[level].fallback
    if fallback is not None and required <= config.levels[fallback].min_quality_threshold:
        return (
            False,
            f"quality {required:.2f} is not achievable under {level.value} pressure (up to {best:.2f})",
            f"recommend {fallback.value} pressure to reach quality {required:.2f}",
        )
    return (
        False,
        f"quality {required:.2f} is not achievable (up to {best:.2f} under {level.value} pressure)",
        f"accept quality {best:.2f} or increase resources",
    )
