"""Drift detectors scored on synthetic streams whose change points the generator knows.

    .venv/bin/python bench/drift_eval.py [--seed 7] [--streams 40] [--points 2000] [--throughput 1000000]

Latency streams (lognormal noise, median 10 ms, sigma 0.3; the change at points // 2):
stable; step_1.5x and step_2x; ramp_2x (a linear rise to x2 by the end); spikes (stable, 2% of
points x10: no drift); burst (15 consecutive points x10 at the middle: no drift); variance_3x (the standard deviation x3 at the same mean after the change:
not a slowdown, scored as NO drift). Error streams: errors_stable (1% failures) and
errors_step (1% -> 10%). Each stream is fed point by point into telemetry.detectors and every
method's verdict is read after every point.

Scoring uses the generator's ground truth only. An alert is raised where a method starts
firing (or is firing at the change point: one ongoing from before counts again there). Raised
before the change or on a no-drift stream: false. The first raised at or after the change on
a drift stream: true, its delay = its point - the change; later ones on the same drift
stream are repeats of it, not counted. precision = true / (true + false); recall = drift
streams detected / drift streams; false_alarm_rate = no-drift streams with any alert / no-drift
streams. Methods: the table's rule (ensemble: 2 of 3 for latency, 2 of 2 for errors), each
detector alone, the same rule on the paper's plain means (`_mean`), always_fire, never_fire.
Prints one JSON line per (kind, method), one summary line per (rule, method), then the
update throughput over many artifacts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Callable

from dse_tui.engine.telemetry.detectors import ArtifactDrift, DriftParams

SIGMA = 0.3
MEDIAN_MS = 10.0
NOTES = {
    "variance_3x": "spread x3 at the same mean: not a slowdown, scored as no drift",
    "spikes": "2% of points x10: no drift",
    "burst": "15 consecutive points x10 at the middle, then normal: no drift",
}


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- the streams: (values, change index or None) -------------------------------------------


def latency_stream(kind: str, rng: random.Random, points: int) -> tuple[list[float], int | None]:
    c = points // 2
    # the variance stream keeps the mean: sigma2 with exp(sigma2^2) - 1 = 9 (exp(SIGMA^2) - 1)
    sigma2 = math.sqrt(math.log(1 + 9 * (math.exp(SIGMA**2) - 1)))
    mean = MEDIAN_MS * math.exp(SIGMA**2 / 2)
    out = []
    for i in range(points):
        z = rng.gauss(0.0, 1.0)
        v = MEDIAN_MS * math.exp(SIGMA * z)
        if kind == "step_1.5x" and i >= c:
            v *= 1.5
        elif kind == "step_2x" and i >= c:
            v *= 2.0
        elif kind == "ramp_2x" and i >= c:
            v *= 1.0 + (i - c) / max(1, points - c)
        elif kind == "spikes" and rng.random() < 0.02:
            v *= 10.0
        elif kind == "burst" and c <= i < c + 15:
            v *= 10.0
        elif kind == "variance_3x" and i >= c:
            v = math.exp(math.log(mean) - sigma2**2 / 2 + sigma2 * z)
        out.append(v)
    return out, (c if kind in ("step_1.5x", "step_2x", "ramp_2x") else None)


def error_stream(kind: str, rng: random.Random, points: int) -> tuple[list[bool], int | None]:
    c = points // 2
    rate = [0.10 if kind == "errors_step" and i >= c else 0.01 for i in range(points)]
    return [rng.random() >= r for r in rate], (c if kind == "errors_step" else None)


# -- scoring ---------------------------------------------------------------------------------


def raised(firing: list[bool], change: int | None) -> list[int]:
    return [
        i for i, on in enumerate(firing) if on and (i == 0 or not firing[i - 1] or (change is not None and i == change))
    ]


class Score:
    def __init__(self) -> None:
        self.streams = self.drift = self.detected = self.quiet_bad = self.quiet = 0
        self.true = self.false = 0
        self.delays: list[int] = []

    def add(self, firing: list[bool], change: int | None) -> None:
        alerts = raised(firing, change)
        self.streams += 1
        if change is None:
            self.quiet += 1
            self.false += len(alerts)
            self.quiet_bad += bool(alerts)
            return
        self.drift += 1
        self.false += sum(1 for a in alerts if a < change)
        after = [a for a in alerts if a >= change]
        if after:
            self.true += 1
            self.detected += 1
            self.delays.append(after[0] - change)

    def merge(self, other: Score) -> None:
        for k in ("streams", "drift", "detected", "quiet_bad", "quiet", "true", "false"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.delays += other.delays

    def figures(self) -> dict:
        raised_all = self.true + self.false
        precision = self.true / raised_all if raised_all else None
        recall = self.detected / self.drift if self.drift else None
        f1 = None
        if recall is not None:
            f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
        return {
            "streams": self.streams,
            "alerts": raised_all,
            "true_alerts": self.true,
            "false_alerts": self.false,
            "precision": r(precision),
            "recall": r(recall),
            "f1": r(f1),
            "false_alarm_rate": r(self.quiet_bad / self.quiet) if self.quiet else None,
            "delay_mean": r(statistics.fmean(self.delays)) if self.delays else None,
            "delay_p90": pct(self.delays, 0.9),
        }


# -- the methods: each turns a stream into a verdict per point --------------------------------

Verdicts = dict[str, list[bool]]


def run_latency(values: list[float]) -> Verdicts:
    robust, plain = ArtifactDrift(), ArtifactDrift(DriftParams(stat="mean"))
    out: Verdicts = {
        k: []
        for k in (
            "ensemble",
            "baseline_ratio",
            "recent_vs_before",
            "page_hinkley",
            "ensemble_mean",
            "baseline_ratio_mean",
            "recent_vs_before_mean",
        )
    }
    for v in values:
        robust.update(function_ms=v, success=None)
        plain.update(function_ms=v, success=None)
        a, b = robust.votes("latency"), plain.votes("latency")
        out["ensemble"].append(sum(a.values()) >= 2)
        out["ensemble_mean"].append(sum(b.values()) >= 2)
        for name in ("baseline_ratio", "recent_vs_before", "page_hinkley"):
            out[name].append(a[name])
        out["baseline_ratio_mean"].append(b["baseline_ratio"])
        out["recent_vs_before_mean"].append(b["recent_vs_before"])
    out["always_fire"] = [True] * len(values)
    out["never_fire"] = [False] * len(values)
    return out


def run_errors(values: list[bool]) -> Verdicts:
    d = ArtifactDrift()
    out: Verdicts = {"ensemble": [], "error_threshold": [], "bernoulli_cusum": []}
    for ok in values:
        d.update(function_ms=None, success=ok)
        a = d.votes("errors")
        out["ensemble"].append(all(a.values()))
        out["error_threshold"].append(a["error_threshold"])
        out["bernoulli_cusum"].append(a["bernoulli_cusum"])
    out["always_fire"] = [True] * len(values)
    out["never_fire"] = [False] * len(values)
    return out


def evaluate(
    rule: str,
    kinds: list[str],
    make: Callable[[str, random.Random, int], tuple[list, int | None]],
    run: Callable[[list], Verdicts],
    args: argparse.Namespace,
) -> None:
    totals: dict[str, Score] = {}
    for k_i, kind in enumerate(kinds):
        scores: dict[str, Score] = {}
        started = time.perf_counter()
        for s in range(args.streams):
            values, change = make(kind, random.Random(args.seed * 1_000_003 + k_i * 10_007 + s), args.points)
            for method, firing in run(values).items():
                scores.setdefault(method, Score()).add(firing, change)
        seconds = round(time.perf_counter() - started, 2)
        for method, score in scores.items():
            line = {"bench": "drift_eval", "rule": rule, "kind": kind, "method": method, "drift": score.drift > 0}
            line.update(score.figures())
            if kind in NOTES:
                line["note"] = NOTES[kind]
            emit(**line, seconds=seconds)
            totals.setdefault(method, Score()).merge(score)
    for method, score in totals.items():
        emit(bench="drift_eval", summary=True, rule=rule, method=method, **score.figures())


def throughput(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    pool = [
        (MEDIAN_MS * math.exp(SIGMA * rng.gauss(0, 1)), rng.random() > 0.01, 1e-5 * (1 + rng.random()), 1.0)
        for _ in range(10_007)
    ]
    arts = [ArtifactDrift() for _ in range(args.artifacts)]
    n_art, n_pool = len(arts), len(pool)
    started = time.perf_counter()
    for i in range(args.throughput):
        ms, ok, usd, q = pool[i % n_pool]
        arts[i % n_art].update(function_ms=ms, success=ok, cost=usd, quality=q if i % 10 == 0 else None)
    seconds = time.perf_counter() - started
    t = time.perf_counter()
    for a in arts:
        a.alerts()
    alerts_ms = (time.perf_counter() - t) * 1000 / n_art
    t = time.perf_counter()
    texts = [a.to_json() for a in arts]
    dump_ms = (time.perf_counter() - t) * 1000 / n_art
    t = time.perf_counter()
    for text in texts:
        ArtifactDrift.from_json(text)
    load_ms = (time.perf_counter() - t) * 1000 / n_art
    emit(
        bench="drift_eval",
        phase="throughput",
        points=args.throughput,
        artifacts=n_art,
        fields="function_ms, success, cost every point; quality every 10th",
        seconds=round(seconds, 2),
        points_per_s=round(args.throughput / seconds),
        alerts_ms_per_artifact=round(alerts_ms, 3),
        to_json_ms=round(dump_ms, 3),
        from_json_ms=round(load_ms, 3),
        state_bytes_median=int(statistics.median(len(x) for x in texts)),
        state_bytes_max=max(len(x) for x in texts),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--streams", type=int, default=40, help="streams per kind")
    ap.add_argument("--points", type=int, default=2000, help="points per stream; the change is at the middle")
    ap.add_argument("--throughput", type=int, default=1_000_000, help="points for the update-speed run (0: skip)")
    ap.add_argument("--artifacts", type=int, default=500, help="artifacts the throughput points are spread over")
    args = ap.parse_args()
    latency = ["stable", "step_1.5x", "step_2x", "ramp_2x", "spikes", "burst", "variance_3x"]
    evaluate("latency", latency, latency_stream, run_latency, args)
    evaluate("errors", ["errors_stable", "errors_step"], error_stream, run_errors, args)
    if args.throughput:
        throughput(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
