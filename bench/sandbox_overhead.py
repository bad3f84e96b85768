"""Per-run cost of each sandbox backend on an empty script, against plain python.

Prints one JSON line per backend: {"backend", "runs", "mean_ms", "p50_ms", "p95_ms"}.
Usage: python bench/sandbox_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from dse_tui.engine.sandbox import available_sandboxes
from dse_tui.engine.sandbox.environment import python_argv

SOURCE = "pass"


def timed(fn, runs: int) -> list[float]:
    fn()  # warm the page cache and the probe
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def figures(name: str, samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "backend": name,
        "runs": len(samples),
        "mean_ms": round(statistics.fmean(samples), 2),
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs

    def plain() -> None:
        subprocess.run(python_argv(SOURCE), check=True, capture_output=True)

    print(json.dumps(figures("python (no sandbox)", timed(plain, runs))), flush=True)
    for box in available_sandboxes():
        def sandboxed(box=box) -> None:
            result = box.run(SOURCE)
            if result.exit_code != 0:
                raise RuntimeError(f"{box.name}: {result.ended} {result.stderr!r}")

        print(json.dumps(figures(box.name, timed(sandboxed, runs))), flush=True)


if __name__ == "__main__":
    main()
