"""Store the 164 HumanEval problems through the same path as `dse add`, and show
that each with one line of its solution removed is refused.

    .venv/bin/python bench/humaneval_import.py [--home DIR] [--limit N]

Prints JSON lines: one summary per phase.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from humaneval_tasks import load_tasks, without_one_line  # noqa: E402

from dse_tui.engine.facade import Engine  # noqa: E402
from dse_tui.engine.errors import BadInput, SpecFailed  # noqa: E402
from dse_tui.engine.specs.spec import parse_spec  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="DSE home to use (default: a fresh temporary one)")
    parser.add_argument("--limit", type=int, default=164)
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="dse-humaneval-")
    engine = Engine(home)
    tasks = load_tasks()[: args.limit]
    engine.embedder  # load outside the timings

    stored, failures, times, qualities = 0, [], [], []
    for i, task in enumerate(tasks, 1):
        started = time.perf_counter()
        try:
            artifact = engine.store_artifact(task.code, parse_spec(task.spec_text, origin=task.task_id), name=task.slug,
                                             provenance={"source": "humaneval", "task_id": task.task_id})
            stored += 1
            qualities.append(artifact.quality_score)
        except (SpecFailed, BadInput) as exc:
            failures.append({"task": task.task_id, "error": str(exc).splitlines()[-1][:200]})
        times.append((time.perf_counter() - started) * 1000)
        print(f"\rstore {i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(json.dumps({"phase": "store canonical", "tasks": len(tasks), "stored": stored, "refused": len(failures),
                      "failures": failures[:10], "add_ms_p50": round(statistics.median(times), 1),
                      "add_ms_mean": round(statistics.mean(times), 1),
                      "quality_mean": round(statistics.mean(qualities), 4) if qualities else None}))

    before = engine.count_artifacts()
    refused, accepted, by_reason = 0, [], {"spec failed": 0, "bad input": 0}
    for i, task in enumerate(tasks, 1):
        try:
            engine.store_artifact(without_one_line(task), parse_spec(task.spec_text, origin=task.task_id), name=task.slug + "_mutant")
            accepted.append(task.task_id)
        except SpecFailed:
            refused += 1
            by_reason["spec failed"] += 1
        except BadInput:
            refused += 1
            by_reason["bad input"] += 1
        print(f"\rmutants {i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(json.dumps({"phase": "one line removed", "tasks": len(tasks), "refused": refused, "by_reason": by_reason,
                      "accepted": accepted, "store_unchanged": engine.count_artifacts() == before}))
    engine.close()
    return 0 if stored == len(tasks) and refused == len(tasks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
