"""A reference measurement of the machine itself: a fixed pure-Python workload timed in
DSE's own process. When every artifact slows down together (a throttling Pi, a loaded
host), the reference slows with them, and no artifact is blamed for the machine."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

HISTORY = 50
REPEAT = 5
META_KEY = "reference_ms"


def workload() -> int:
    """~12 ms of interpreter work on these machines: loops, arithmetic, a dict, a sort. Long
    enough that a process just woken up does not run it whole on the scheduler's wake-up
    bonus: a loaded machine shows in it."""
    total, seen = 0, {}
    for i in range(80_000):
        total = (total * 31 + i) % 1_000_003
        seen[i & 255] = total
    return total + len(sorted(seen.values()))


def measure(repeat: int = REPEAT, clock: Callable[[], float] = time.perf_counter) -> float:
    """The median of `repeat` timings of the workload, in ms."""
    times = []
    for _ in range(repeat):
        start = clock()
        workload()
        times.append((clock() - start) * 1000.0)
    return statistics.median(times)


class ReferenceClock:
    """Keeps the reference's history in the store's meta table; `slowdown()` is now against
    the history's lower quartile (the machine at its usual best, not one lucky run)."""

    def __init__(self, read_meta: Callable[[Any], str | None], write_meta: Callable[[Any, str], None]) -> None:
        self.read_meta, self.write_meta = read_meta, write_meta
        self.measure: Callable[[], float] = measure

    def history(self, conn: Any) -> list[list[float]]:
        text = self.read_meta(conn)
        try:
            data = json.loads(text) if text else []
            return [[float(t), float(ms)] for t, ms in data][-HISTORY:]
        except (ValueError, TypeError):
            return []

    def baseline(self, conn: Any) -> float | None:
        values = [ms for _, ms in self.history(conn)]
        if len(values) < 3:
            return None
        return statistics.quantiles(values, n=4)[0]

    def sample(self, conn: Any) -> float:
        now_ms = self.measure()
        history = [*self.history(conn), [time.time(), round(now_ms, 4)]][-HISTORY:]
        self.write_meta(conn, json.dumps(history))
        return now_ms

    def due(self, conn: Any, every_s: float) -> bool:
        history = self.history(conn)
        return not history or time.time() - history[-1][0] >= every_s

    def slowdown(self, conn: Any) -> dict[str, float | None]:
        """{"reference_ms", "baseline_ms", "factor"} measured now; factor None without a baseline."""
        baseline = self.baseline(conn)
        now_ms = self.sample(conn)
        return {
            "reference_ms": round(now_ms, 4),
            "baseline_ms": None if baseline is None else round(baseline, 4),
            "factor": None if not baseline else round(now_ms / baseline, 3),
        }
