"""Pressure for one DSE home: one gauge (so hysteresis holds across polls in a long-lived
process), the user's override from the environment, and the log of decisions made from it.
A level is logged when it changes and whenever a decision names it."""

from __future__ import annotations

import os
import threading
from typing import Any

from dse_tui.store.db import Database
from dse_tui.store.pressure_log import PressureLog

from .levels import PressureConfig, PressureGauge
from .readings import Sensors

OVERRIDE_ENV = "DSE_PRESSURE"  # high | medium | low | training: the user's override


class PressureService:
    def __init__(
        self,
        db: Database,
        *,
        sensors: Sensors | None = None,
        config: PressureConfig | None = None,
        one_shot: bool = False,
    ) -> None:
        self.log = PressureLog(db)
        self.config = config or PressureConfig.load(os.environ.get("DSE_PRESSURE_FILE") or None)
        self.gauge = PressureGauge(self.config, sensors or Sensors(cpu_interval=0.2 if one_shot else None))
        self._lock = threading.Lock()
        self._last_logged: str | None = None

    def assess(self, *, urgency: str | None = None, override: str | None = None, log: bool = True) -> Any:
        with self._lock:
            assessment = self.gauge.assess(urgency=urgency, override=override or os.environ.get(OVERRIDE_ENV) or None)
            level = assessment.level.value
            if log and level != self._last_logged:
                self.decide(assessment, f"level {level}: " + "; ".join(assessment.reasons))
            return assessment

    def decide(self, assessment: Any, decision: str) -> None:
        """Log a decision made from `assessment`, with the readings behind it."""
        self._last_logged = assessment.level.value
        self.log.add(assessment.level.value, decision, assessment.to_dict())
