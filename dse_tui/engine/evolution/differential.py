"""The differential check: on the artifact's recorded inputs (real calls its users made), a
candidate must return what the incumbent returned. Inputs on which the incumbent failed are
where a candidate may differ (that is what a reliability evolution is for); they are listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import compare
from dse_tui.engine.specs.judge import call_function
from dse_tui.engine.specs.results import CallResult


@dataclass
class Differential:
    checked: int = 0
    differing: list[dict[str, Any]] = field(default_factory=list)  # input, incumbent, candidate
    incumbent_failed: list[dict[str, Any]] = field(default_factory=list)  # input, error
    candidate_fixed: int = 0  # of those, inputs the candidate answers without failing

    @property
    def agrees(self) -> bool:
        return not self.differing

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "differing": self.differing[:5],
            "differing_count": len(self.differing),
            "incumbent_failed": len(self.incumbent_failed),
            "candidate_fixed": self.candidate_fixed,
        }


def _same(a: CallResult, b: CallResult) -> bool:
    if a.ok != b.ok:
        return False
    if a.ok:
        return a.type == b.type and compare.equal(b.value, a.value)
    return (a.error or "").split(":")[0] == (b.error or "").split(":")[0]


def incumbent_outcomes(
    code: str, function: str, inputs: Sequence[dict[str, Any]], sandbox: Sandbox
) -> list[CallResult]:
    return [call_function(code, function, dict(kwargs), sandbox) for kwargs in inputs]


def differential(
    incumbent: Sequence[CallResult],
    code: str,
    function: str,
    inputs: Sequence[dict[str, Any]],
    sandbox: Sandbox,
) -> Differential:
    out = Differential()
    for kwargs, before in zip(inputs, incumbent, strict=True):
        after = call_function(code, function, dict(kwargs), sandbox)
        if not before.ok:
            out.incumbent_failed.append({"input": kwargs, "error": before.error})
            out.candidate_fixed += int(after.ok)
            continue
        out.checked += 1
        if not _same(before, after):
            out.differing.append(
                {
                    "input": kwargs,
                    "incumbent": before.repr if before.ok else before.error,
                    "candidate": after.repr if after.ok else after.error,
                }
            )
    return out
