"""What an execution costs: its CPU-seconds at the configured price, plus model spend."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dse_tui.engine import presets


@dataclass(frozen=True)
class CostSettings:
    cpu_usd_per_s: float = 0.0

    @classmethod
    def load(cls) -> CostSettings:
        price = float(presets.living("cost").get("cpu_usd_per_s", 0.0))
        if not (math.isfinite(price) and price >= 0):
            raise ValueError(f"cost.cpu_usd_per_s must be a price >= 0, got {price}")
        return cls(price)

    def execution(self, cpu_ms: float | None, model_usd: float = 0.0) -> float | None:
        """USD for one execution; None when nothing is priced (cost is then undefined, not 0)."""
        cpu = (cpu_ms / 1000.0) * self.cpu_usd_per_s if cpu_ms is not None and self.cpu_usd_per_s > 0 else None
        if cpu is None and not model_usd:
            return None
        return (cpu or 0.0) + model_usd
