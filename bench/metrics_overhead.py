"""What measuring every execution costs, and what a kill loses.

1. The run path with metrics on against off: `--runs` sandboxed runs of an artifact each
   way, interleaved in blocks so that a slow patch of the machine falls on both; wall time
   per run measured here, around engine.run (goal: on at most 5% slower than off).
2. A kill: a child process runs the artifact in a loop and prints each finished run; it is
   SIGKILLed mid-way; the points in the store are counted against the runs it reported
   (goal: at most one unflushed batch lost).
3. `dse drift` on a store of `--points` points (1M by default) spread over `--artifacts`
   artifacts, their detector state built by the same flush path as live runs; the command's
   wall time from the shell (goal: within 1 s).

Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CODE = "def add(a, b):\n    return a + b\n"
SPEC = """\
function: add
description: Add two numbers
behaviors:
  - behavior: adds
    given: {a: 2, b: 3}
    then: {result_equals: 5}
  - behavior: negative
    given: {a: -4, b: 1}
    then: {result_equals: -3}
"""


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def overhead(home: str, runs: int, block: int) -> None:
    from dse_tui.engine.facade import Engine

    engine = Engine(home)
    artifact = engine.store_artifact(CODE, SPEC, name="add")
    for _ in range(20):  # warm the sandbox's zygote
        engine.run(artifact, {"a": 1, "b": 2})
    times = {True: [], False: []}
    state = True
    while len(times[True]) < runs or len(times[False]) < runs:
        engine.telemetry.enabled = state
        for i in range(block):
            start = time.perf_counter()
            engine.run(artifact, {"a": i, "b": 1})
            times[state].append((time.perf_counter() - start) * 1000)
        state = not state
    engine.telemetry.enabled = True
    engine.flush_metrics()
    on, off = statistics.median(times[True]), statistics.median(times[False])
    emit(
        bench="run_path",
        runs_each=len(times[True]),
        on_p50_ms=round(on, 3),
        off_p50_ms=round(off, 3),
        on_mean_ms=round(statistics.fmean(times[True]), 3),
        off_mean_ms=round(statistics.fmean(times[False]), 3),
        overhead_p50_pct=round((on / off - 1) * 100, 2),
        goal_pct=5,
        ok=on <= off * 1.05,
    )
    engine.close()


CHILD = """
import sys
from dse_tui.engine.facade import Engine
engine = Engine(sys.argv[1])
artifact = engine.resolve("add")
i = 0
while True:
    engine.run(artifact, {"a": i, "b": 1})
    i += 1
    print(i, flush=True)
"""


def kill_loss(home: str, seconds: float) -> None:
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.telemetry.batcher import BATCH, INTERVAL_S

    engine = Engine(home)
    artifact = engine.resolve("add")
    before = engine.metrics.count(artifact.id)
    engine.close()
    child = subprocess.Popen([sys.executable, "-c", CHILD, home], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    reported = 0
    deadline = time.monotonic() + seconds
    assert child.stdout is not None
    for line in child.stdout:
        reported = int(line)
        if time.monotonic() > deadline:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    engine = Engine(home)
    stored = engine.metrics.count(artifact.id) - before
    engine.close()
    lost = reported - stored
    emit(
        bench="kill",
        runs_reported=reported,
        points_stored=stored,
        lost=lost,
        batch=BATCH,
        interval_s=INTERVAL_S,
        ok=0 <= lost <= BATCH,
    )


def drift_scale(home: str, points: int, artifacts: int) -> None:
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.telemetry.batcher import Execution
    from dse_tui.store.records import Artifact, ArtifactType, MetricPoint, utcnow

    engine = Engine(home)
    engine.auto_evolve = False
    ids = []
    for i in range(artifacts):
        a = Artifact(
            id=uuid.uuid4().hex,
            name=f"f{i}",
            type=ArtifactType.FUNCTION,
            description=f"function {i}",
            content=CODE,
            spec=SPEC,
            test_results={},
            quality_score=0.9,
        )
        ids.append(engine.artifacts.insert(a).id)
    per = points // artifacts
    start = utcnow() - timedelta(days=2)
    built = time.perf_counter()
    chunk = 20_000
    queued = 0
    for k in range(per):
        for j, artifact_id in enumerate(ids):
            slow = 2.0 if (j % 50 == 0 and k > per * 0.8) else 1.0  # 2% of artifacts step up late
            ms = slow * (1.0 + 0.05 * (((k * 31 + j * 17) % 21) - 10) / 10)
            at = start + timedelta(seconds=k * artifacts + j)
            engine.telemetry.submit(
                Execution(MetricPoint(artifact_id, at, "run", True, function_ms=ms), count_use=False)
            )
            queued += 1
            if queued % chunk == 0:
                engine.flush_metrics()
    engine.flush_metrics()
    build_s = time.perf_counter() - built
    total = engine.metrics.count()
    engine.close()
    emit(
        bench="drift_build",
        points=total,
        artifacts=artifacts,
        seconds=round(build_s, 1),
        points_per_s=round(total / build_s),
    )
    walls = []
    for _ in range(5):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "dse_tui.cli", "drift", "--json", "--home", home],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "DSE_PRESSURE": "medium"},
        )
        walls.append(time.perf_counter() - t)
        if out.returncode != 0:
            emit(bench="dse_drift", error=out.stderr[-500:])
            return
    report = json.loads(out.stdout)
    emit(
        bench="dse_drift",
        points=total,
        wall_p50_s=round(statistics.median(walls), 3),
        wall_max_s=round(max(walls), 3),
        open_alerts=len(report["open"]),
        stepped_artifacts=len([j for j in range(artifacts) if j % 50 == 0]),
        goal_s=1.0,
        ok=statistics.median(walls) <= 1.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--kill-after", type=float, default=3.0)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--artifacts", type=int, default=1000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["run_path", "kill", "drift"])
    args = parser.parse_args()
    os.environ.setdefault("DSE_PRESSURE", "medium")
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        if "run_path" not in args.skip:
            overhead(home, args.runs, args.block)
        else:
            from dse_tui.engine.facade import Engine

            e = Engine(home)
            e.store_artifact(CODE, SPEC, name="add")
            e.close()
        if "kill" not in args.skip:
            kill_loss(home, args.kill_after)
        if "drift" not in args.skip:
            drift_scale(os.path.join(tmp, "big"), args.points, args.artifacts)


if __name__ == "__main__":
    main()
