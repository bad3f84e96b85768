"""Quality is derived from measured test results, never assigned (paper §4.1)."""

from __future__ import annotations

from collections.abc import Iterable

WEIGHTS = {"pass_rate": 0.4, "coverage": 0.3, "performance": 0.2, "robustness": 0.1}

# A behaviour without a time limit is held to this budget for the performance score.
DEFAULT_TIME_BUDGET_MS = 100.0


def quality_score(pass_rate: float, coverage: float, performance: float, robustness: float) -> float:
    score = (
        WEIGHTS["pass_rate"] * pass_rate
        + WEIGHTS["coverage"] * coverage
        + WEIGHTS["performance"] * performance
        + WEIGHTS["robustness"] * robustness
    )
    return round(min(1.0, max(0.0, score)), 4)


def time_score(elapsed_ms: float, limit_ms: float | None) -> float:
    """1.0 within half the limit, falling linearly to 0.0 at the limit and beyond."""
    limit = limit_ms or DEFAULT_TIME_BUDGET_MS
    if elapsed_ms <= limit / 2:
        return 1.0
    return max(0.0, (limit - elapsed_ms) / (limit / 2))


def performance_score(timings: Iterable[tuple[float, float | None]]) -> float:
    """Mean time score over the (elapsed_ms, limit_ms) of the passing calls."""
    scores = [time_score(elapsed, limit) for elapsed, limit in timings]
    return sum(scores) / len(scores) if scores else 0.0


def robustness_score(probe_outcomes: Iterable[bool]) -> float:
    """Share of edge-case and error probes that passed; no probes earns no credit."""
    outcomes = list(probe_outcomes)
    return sum(outcomes) / len(outcomes) if outcomes else 0.0


MERIT_WEIGHTS = {"pass_rate": 0.4, "strength": 0.3, "performance": 0.2, "robustness": 0.1}


def merit(results: dict, strength: float | None) -> float:
    """What automatic decisions rank by (the reuse bar, drift, promotion, value): the paper's
    formula with spec strength in the place of coverage, which the candidate's own process
    reports and so may not decide anything. Unmeasured strength counts as none."""
    score = (
        MERIT_WEIGHTS["pass_rate"] * float(results.get("pass_rate") or 0.0)
        + MERIT_WEIGHTS["strength"] * float(strength or 0.0)
        + MERIT_WEIGHTS["performance"] * float(results.get("performance_score") or 0.0)
        + MERIT_WEIGHTS["robustness"] * float(results.get("robustness_score") or 0.0)
    )
    return round(min(1.0, max(0.0, score)), 4)
