"""What an artifact is worth optimizing (paper §4.2), from what was measured:
value = usage x improvement potential x cost per execution.

usage: successful executions in the window; potential: the share of its time or failures
an open drift says could be won back (recent/baseline - 1, capped at 1), 0 without a drift;
cost per execution: the mean recorded cost (priced CPU-seconds plus model spend). When
nothing is priced the cost, and so the value, is undefined (None), never 0/0.
ROI = (savings - optimization cost) / optimization cost, savings = usage x (old - new cost
per execution), new cost from the measured speed-up; undefined when nothing was spent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dse_tui.engine import presets


@dataclass(frozen=True)
class ValueSettings:
    low: float = 0.001
    high: float = 0.10

    @classmethod
    def load(cls) -> ValueSettings:
        return presets.living_settings(cls, "value")

    def tier(self, value: float | None) -> str:
        """The paper's tier by value: local below `low`... cloud up to `high`, deep above."""
        if value is None or value < self.low:
            return "skip"
        return "local" if value < self.high else "cloud"


def potential(figures: dict[str, Any], drift_type: str) -> float:
    if drift_type in ("latency", "cost"):
        ratio = figures.get("ratio")
        if isinstance(ratio, (int, float)) and math.isfinite(ratio):
            return max(0.0, min(1.0, ratio - 1.0))
        return 0.0
    if drift_type == "errors":
        rate = figures.get("recent_error_rate")
        return max(0.0, min(1.0, float(rate))) if isinstance(rate, (int, float)) else 0.0
    return 0.0


def value(usage: int, potential_share: float, cost_per_execution: float | None) -> float | None:
    if cost_per_execution is None or not math.isfinite(cost_per_execution):
        return None
    return usage * potential_share * cost_per_execution


def roi(usage: int, old_cost: float | None, gain: float | None, optimization_cost: float) -> dict[str, Any]:
    """From recorded costs and the measured gain (1 - new/old time); never an assumed 50%."""
    if old_cost is None or gain is None:
        return {"savings_usd": None, "roi": None, "roi_why": "no recorded cost or no measured gain"}
    new_cost = old_cost * (1.0 - gain)
    savings = usage * (old_cost - new_cost)
    if optimization_cost <= 0:
        return {"savings_usd": savings, "roi": None, "roi_why": "nothing was spent: ROI is undefined"}
    return {"savings_usd": savings, "roi": (savings - optimization_cost) / optimization_cost, "roi_why": "measured"}
