"""A spec run of a small function, cold and warm, per sandbox backend.

    .venv/bin/python bench/spec_run.py [--runs 100]

Cold: every conversation starts its own sandboxed process (DSE_WARM=0, today's fallback).
Warm: conversations are forked by pre-started zygotes. Each run is judged against what the
spec expects, so a fast but wrong verdict counts in "wrong" (it must stay 0): a correct
`add` must pass and a wrong one must fail, alternately.
Prints one JSON line per backend and mode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from dse_tui.engine.sandbox import available_sandboxes
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.spec import parse_spec

SPEC = parse_spec(
    "function: add\ndescription: add two numbers\nbehaviors:\n"
    "  - behavior: adds small numbers\n    given: {a: 2, b: 3}\n    then: {result_equals: 5}\n"
    "  - behavior: adds negatives\n    given: {a: -4, b: 1}\n    then: {result_equals: -3}\n"
    "  - behavior: rejects text\n    given: {a: x, b: 1}\n    then: {raises: TypeError}\n"
)
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def measure(sandbox, runs: int, warm: bool) -> dict:
    os.environ["DSE_WARM"] = "1" if warm else "0"
    run_spec(RIGHT, SPEC, sandbox)  # the first warm run starts the zygote: not a warm run
    samples, wrong = [], 0
    for i in range(runs):
        code, should_pass = (RIGHT, True) if i % 2 == 0 else (WRONG, False)
        started = time.perf_counter()
        results = run_spec(code, SPEC, sandbox, coverage=False)
        samples.append((time.perf_counter() - started) * 1000)
        wrong += results.all_passed != should_pass
    return {
        "bench": "spec_run",
        "backend": sandbox.name,
        "mode": "warm" if warm else "cold",
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": pct(samples, 0.95),
        "mean_ms": round(statistics.fmean(samples), 2),
        "wrong": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    for sandbox in [s for s in available_sandboxes() if s.name != "none"]:
        for warm in (False, True):
            print(json.dumps(measure(sandbox, args.runs, warm)), flush=True)
        sandbox.pool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
