"""Metric windows at scale: 1M points, window queries per artifact, a drift-style scan of all.

    .venv/bin/python bench/metrics_window.py [--points 1000000] [--artifacts 500] [--queries 100]

Points are generated with numpy (a known distribution per artifact), stored through the
metrics repository, and every figure the store answers is checked against numpy over the
same generated arrays (which the store never sees): a wrong count or mean is counted, a
percentile is wrong if it is not the exact order statistic (raw) or further than one
histogram bucket (rolled up). Prints JSON lines; goals on these machines: a window query
per artifact <= 50 ms, the scan of all artifacts <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from dse_tui.store import Artifact, ArtifactRepository, ArtifactType, Database, MetricsRepository


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--artifacts", type=int, default=500)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    per = args.points // args.artifacts
    rng = np.random.default_rng(7)
    home = Path(tempfile.mkdtemp(prefix="dse-metrics-"))
    db = Database(home / "dse.db")
    artifacts, metrics = ArtifactRepository(db), MetricsRepository(db)

    ids, seqs = [], []
    with db.write():
        for i in range(args.artifacts):
            a = artifacts.insert(Artifact(id=uuid.uuid4().hex, name=f"f{i}", type=ArtifactType.FUNCTION,
                                          description="d", content="c", spec="s", test_results={}, quality_score=0.9))
            ids.append(a.id)
            seqs.append(a.seq)
    end = datetime(2026, 11, 30, tzinfo=timezone.utc).timestamp()
    truth: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    started = time.perf_counter()
    rows = []
    for aid, seq in zip(ids, seqs, strict=True):
        scale = float(rng.uniform(0.5, 50))  # each artifact its own typical time
        times = end - np.sort(rng.uniform(0, 30 * 86400, per))[::-1]  # the last 30 days
        function_ms = rng.lognormal(np.log(scale), 0.4, per)
        success = rng.random(per) > 0.03
        truth[aid] = (times, function_ms, success)
        rows.extend(zip([seq] * per, times.tolist(), ["run"] * per, success.astype(int).tolist(),
                        function_ms.tolist(), strict=True))
    with db.write() as conn:
        conn.executemany("INSERT INTO points(artifact, at, source, success, function_ms) VALUES (?,?,?,?,?)", rows)
    emit(bench="metrics_window", phase="load", points=len(rows), artifacts=args.artifacts,
         seconds=round(time.perf_counter() - started, 1))

    def check(phase: str, rolled: bool) -> None:
        sample = [ids[i] for i in rng.choice(len(ids), size=min(args.queries, len(ids)), replace=False)]
        timings = {"window_all": [], "window_day": [], "last_vs_before": []}
        wrong = 0
        for aid in sample:
            times, values, success = truth[aid]
            t = time.perf_counter()
            w = metrics.window(aid)
            timings["window_all"].append((time.perf_counter() - t) * 1000)
            exact_p50 = float(np.sort(values)[int(0.5 * (len(values) - 1))])
            wrong += w.count != len(values) or w.failures != int((~success).sum())
            wrong += abs(w.mean_ms - float(values.mean())) > 1e-6 * max(1.0, float(values.mean()))
            wrong += (abs(w.p50_ms - exact_p50) > 0.13 * exact_p50) if rolled else (w.p50_ms != exact_p50)
            day = datetime.fromtimestamp(end - 86400, timezone.utc)
            t = time.perf_counter()
            d = metrics.window(aid, since=day, until=datetime.fromtimestamp(end + 1, timezone.utc))
            timings["window_day"].append((time.perf_counter() - t) * 1000)
            in_day = int((times >= end - 86400).sum())
            # rolled-up hours are counted whole: the day's window may take in the hour it starts in
            wrong += (d.count < in_day) if rolled else (d.count != in_day)
            t = time.perf_counter()
            recent, before = metrics.last_against_before(aid, recent=100, before=900)
            timings["last_vs_before"].append((time.perf_counter() - t) * 1000)
            newest = values[np.argsort(times)[::-1]]
            wrong += recent.count != 100 or abs(recent.mean_ms - float(newest[:100].mean())) > 1e-6 * float(newest[:100].mean())
            wrong += before.count != min(900, len(values) - 100)
        for name, values in timings.items():
            emit(bench="metrics_window", phase=phase, query=name, queries=len(sample), p50_ms=pct(values, 0.5),
                 p95_ms=pct(values, 0.95), max_ms=round(max(values), 2))
        t = time.perf_counter()
        scanned = metrics.scan(recent=100, before=900)
        scan_s = time.perf_counter() - t
        scan_wrong = sum(1 for aid in ids if scanned[aid][0].count != 100 or scanned[aid][1].count != min(900, per - 100))
        emit(bench="metrics_window", phase=phase, query="scan_all", artifacts=len(scanned), seconds=round(scan_s, 3),
             wrong=scan_wrong + wrong)

    check("raw", rolled=False)
    started = time.perf_counter()
    rolled, after = 0, 0
    while True:
        n, last = metrics.roll_up(after_seq=after, artifacts=50, now=datetime.fromtimestamp(end, timezone.utc) + timedelta(hours=2))
        rolled += n
        if last is None:
            break
        after = last
    emit(bench="metrics_window", phase="roll_up", points_rolled=rolled, raw_left=metrics.count(),
         seconds=round(time.perf_counter() - started, 1))
    check("rolled_up", rolled=True)
    size = sum(p.stat().st_size for p in home.glob("dse.db*"))
    emit(bench="metrics_window", phase="size", mb=round(size / 2**20, 1), median_points_per_artifact=statistics.median([per]))
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
