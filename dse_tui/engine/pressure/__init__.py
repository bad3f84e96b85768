"""Pressure (paper §4.3): readings of the machine, levels with hysteresis and a user
override, the tiers each level allows, and quality negotiation."""

from .levels import Assessment, PressureConfig, PressureGauge, PressureLevel, allowed_tiers
from .negotiate import negotiate_quality
from .readings import Readings, Sensors

__all__ = [
    "Assessment",
    "PressureConfig",
    "PressureGauge",
    "PressureLevel",
    "Readings",
    "Sensors",
    "allowed_tiers",
    "negotiate_quality",
]
