"""What a pass is worth: spec strength (mutants killed) and merit, measured after a verdict.
Merit is what automatic decisions rank by: pass rate, strength, measured time, robustness;
never the coverage the candidate's own process reports."""

from __future__ import annotations

from typing import Any

from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import quality, strength
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec


def reference_ms(results: TestResults) -> float:
    """The original's time in its checks, as DSE measured it: what a mutant's timeout scales."""
    return sum(c.time_ms or 0.0 for c in results.checks)


def assess(
    code: str, spec: Spec, results: TestResults, sandbox: Sandbox, *, budget_s: float = strength.BUDGET_S
) -> tuple[dict[str, Any], float | None, float]:
    """(the strength record for test_results["strength"], its share, merit)."""
    measured = strength.measure(code, spec, sandbox, reference_ms=reference_ms(results), budget_s=budget_s)
    share = measured.share
    return measured.to_dict(), share, quality.merit(results.to_dict(), share)


def verdict(share: float | None, strong_at: float) -> str:
    return "strong" if share is not None and share >= strong_at else "weak"
