"""Interleaved paired timing of two versions of a function, in the sandbox.

Each version runs in a sandboxed process of its own, loaded once (warm). A round times every
input once on each side, in an order drawn at random per round (A then B, or B then A), so a
slow patch of the machine falls on both; each call is timed by DSE from outside the process,
in batches when it is shorter than a pipe round trip (specs.conversation). One round gives
one figure per side: the sum of its per-call times over the inputs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dse_tui.engine.sandbox import Limits, Sandbox
from dse_tui.engine.sandbox.runner import ChannelError
from dse_tui.engine.specs.conversation import CandidateProcess, Violation
from dse_tui.engine.specs.judge import tagged

PAIRED_LIMITS = Limits(timeout_s=600.0, cpu_s=600, memory_mb=1024)


class MeasureFailed(Exception):
    """A side could not be timed (it raised on an input, or its process ended)."""


@dataclass
class Side:
    code: str
    function: str


@dataclass
class PairedTimes:
    a_ms: list[float] = field(default_factory=list)
    b_ms: list[float] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # "AB" or "BA" per round
    stopped: str | None = None  # why fewer rounds than asked were run

    def to_dict(self) -> dict[str, Any]:
        return {
            "a_ms": [round(v, 5) for v in self.a_ms],
            "b_ms": [round(v, 5) for v in self.b_ms],
            "order": self.order,
            "stopped": self.stopped,
        }


def _load(sandbox: Sandbox, side: Side) -> CandidateProcess:
    process = CandidateProcess(sandbox, PAIRED_LIMITS)
    try:
        answer = process.load(side.code, side.function)
    except (ChannelError, Violation) as exc:
        process.close()
        raise MeasureFailed(f"the code did not load: {exc}") from None
    if answer[0] != "loaded":
        process.close()
        raise MeasureFailed(f"the code did not load ({answer[0]})")
    return process


def _round(process: CandidateProcess, calls: Sequence[tuple[Any, Any]]) -> float:
    total = 0.0
    for args, kwargs in calls:
        answer, ms = process.call(args, kwargs, timed=True)
        if answer[0] != "ok":
            raise MeasureFailed(f"a timed input answered {answer[0]}")
        total += ms
    return total


def paired_times(
    sandbox: Sandbox,
    a: Side,
    b: Side,
    inputs: Sequence[dict[str, Any]],
    *,
    rounds: int,
    rng: random.Random | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PairedTimes:
    """`rounds` interleaved rounds over `inputs` (keyword arguments). Stops early, saying why,
    when `deadline` (a `clock` value) passes."""
    if not inputs:
        raise MeasureFailed("no inputs to time")
    draw = rng or random.Random()
    calls = [(tagged([]), tagged(dict(kwargs))) for kwargs in inputs]
    out = PairedTimes()
    first = _load(sandbox, a)
    try:
        second = _load(sandbox, b)
        try:
            for _ in range(rounds):
                if deadline is not None and clock() > deadline:
                    out.stopped = "the evolution's timeout"
                    break
                order = "AB" if draw.random() < 0.5 else "BA"
                for name in order:
                    ms = _round(first if name == "A" else second, calls)
                    (out.a_ms if name == "A" else out.b_ms).append(ms)
                out.order.append(order)
        except (ChannelError, Violation) as exc:
            raise MeasureFailed(f"a timed process ended or broke the protocol: {exc}") from None
        finally:
            second.close()
    finally:
        first.close()
    return out
