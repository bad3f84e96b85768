"""HumanEval with the embedded model alone, through the real ask path.

    .venv/bin/python bench/escalation_humaneval.py [--start I] [--limit N] [--modes single,examples,escalation]

`--start`/`--limit` take a slice of the 164, so one mode can run in several processes (one core
each; the embedded model uses one thread); `--merge FILE...` adds the slices' JSON lines up.

Modes (each on its own fresh home):
  single      pass@1 single-shot: no store examples, one attempt
  examples    one attempt with the two nearest tested solutions of OTHER problems as examples
              (the 164 canonical solutions are in the store; the problem's own is never shown)
  escalation  as `examples`, with feedback and the temperature schedule, at most 4 attempts
Then a second pass over the tasks `escalation` solved: every answer should be a reuse.
Prints one JSON line per mode. Slow (over half an hour on 2 cores): a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from humaneval_tasks import Task, load_tasks  # noqa: E402

from dse_tui.engine.generation.ask import AskSettings  # noqa: E402
from dse_tui.engine.facade import Engine  # noqa: E402
from dse_tui.engine.generation.providers import load_ladder_config  # noqa: E402
from dse_tui.engine.specs.spec import parse_spec  # noqa: E402

NO_REUSE = 1.01  # a similarity no match reaches


@functools.cache
def preset_ladder():
    """Read once: a run takes hours, and an edit to models.yaml meanwhile must not change it."""
    return load_ladder_config(user=False)


def fast_only(max_attempts: int):
    ladder = preset_ladder()
    return dataclasses.replace(ladder, tiers=[ladder.tier("fast")], max_attempts=max_attempts)


def seed_canonical(engine: Engine, tasks: list[Task]) -> None:
    for task in tasks:
        engine.store_artifact(task.code, parse_spec(task.spec_text, origin=task.task_id), name=task.slug,
                              provenance={"source": "humaneval", "task_id": task.task_id})


def ask_all(engine: Engine, tasks: list[Task], *, attempts: int, examples: int, reuse: bool, label: str) -> dict:
    ladder = fast_only(attempts)
    solved, per_attempt, latencies, tokens, reused = [], Counter(), [], 0, 0
    for i, task in enumerate(tasks, 1):
        settings = AskSettings(
            reuse_min_similarity=AskSettings().reuse_min_similarity if reuse else NO_REUSE,
            examples=examples,
            exclude_examples=frozenset({task.slug}),
        )
        started = time.perf_counter()
        # The task text is the prompt's own docstring: what a user would describe.
        result = engine.ask(task.prompt, parse_spec(task.spec_text, origin=task.task_id), ladder=ladder, settings=settings)
        latencies.append((time.perf_counter() - started) * 1000)
        transcript = engine.transcript(result.transcript_id)
        tokens += sum(a.input_tokens + a.output_tokens for a in transcript.attempt_records)
        if result.artifact is not None:
            solved.append(task)
            reused += result.reused
            if not result.reused:
                per_attempt[result.attempts] += 1
        print(f"\r{label} {i}/{len(tasks)} solved {len(solved)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {
        "mode": label,
        "tasks": len(tasks),
        "solved": len(solved),
        "pass_rate": round(len(solved) / len(tasks), 4),
        "successes_per_attempt": dict(sorted(per_attempt.items())),
        "reused": reused,
        "latency_ms_mean": round(statistics.mean(latencies), 1),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "tokens_total": tokens,
        "solved_ids": [t.task_id for t in solved],
    }


def report_home(home: str, label: str) -> dict:
    """Figures of a run read back from its home's transcripts: for a run cut short."""
    engine = Engine(home)
    transcripts = [engine.transcript(t.id) for t in engine.list_transcripts(limit=10_000)]
    tasks = {t.task_id: t for t in load_tasks()}
    by_prompt = {t.prompt.strip(): t for t in tasks.values()}
    done = [t for t in transcripts if t.outcome in ("generated", "failed")]
    solved = [t for t in done if t.outcome == "generated"]
    per_attempt = Counter(t.attempts for t in solved)
    seconds = [
        (datetime.fromisoformat(t.finished_at) - datetime.fromisoformat(t.started_at)).total_seconds() * 1000
        for t in done if t.finished_at
    ]
    tokens = sum(a.input_tokens + a.output_tokens for t in done for a in t.attempt_records)
    report = {
        "mode": label, "tasks": len(done), "solved": len(solved),
        "pass_rate": round(len(solved) / len(done), 4) if done else None,
        "successes_per_attempt": dict(sorted(per_attempt.items())),
        "latency_ms_mean": round(statistics.mean(seconds), 1) if seconds else None,
        "latency_ms_p50": round(statistics.median(seconds), 1) if seconds else None,
        "tokens_total": tokens,
        "solved_ids": [by_prompt[t.task.strip()].task_id for t in solved if t.task.strip() in by_prompt],
    }
    engine.close()
    return report


def merge_reports(files: list[str]) -> list[dict]:
    """One line per mode from the slices' output lines (means weighted by tasks; p50 not kept)."""
    by_mode: dict[str, list[dict]] = {}
    for name in files:
        for line in Path(name).read_text().splitlines():
            report = json.loads(line)
            if "mode" in report:
                by_mode.setdefault(report["mode"], []).append(report)
    merged = []
    for mode, parts in by_mode.items():
        tasks = sum(p["tasks"] for p in parts)
        solved = sum(p["solved"] for p in parts)
        per_attempt: Counter = Counter()
        for p in parts:
            per_attempt.update({int(k): v for k, v in p["successes_per_attempt"].items()})
        report = {
            "mode": mode, "slices": len(parts), "tasks": tasks, "solved": solved,
            "pass_rate": round(solved / tasks, 4) if tasks else None,
            "successes_per_attempt": dict(sorted(per_attempt.items())),
            "reused": sum(p["reused"] for p in parts),
            "latency_ms_mean": round(sum(p["latency_ms_mean"] * p["tasks"] for p in parts) / tasks, 1) if tasks else None,
            "tokens_total": sum(p["tokens_total"] for p in parts),
            "solved_ids": [i for p in parts for i in p["solved_ids"]],
        }
        if any("hit_rate" in p for p in parts):
            report["hit_rate"] = round(report["reused"] / tasks, 4) if tasks else None
        merged.append(report)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=0, help="first problem (0-based) of the slice")
    parser.add_argument("--limit", type=int, default=164, help="problems in the slice")
    parser.add_argument("--merge", nargs="+", metavar="FILE", help="add up the JSON lines of slice runs and exit")
    parser.add_argument("--modes", default="single,examples,escalation")
    parser.add_argument("--report", metavar="HOME", help="print the figures of a (possibly cut-short) run's home and exit")
    parser.add_argument("--reuse-pass", action="store_true", help="with --report: ask the solved tasks again")
    args = parser.parse_args()
    if args.report:
        report = report_home(args.report, f"{Path(args.report).name} (from transcripts)")
        print(json.dumps(report), flush=True)
        if args.reuse_pass and report["solved_ids"]:
            engine = Engine(args.report)
            solved = [t for t in load_tasks() if t.task_id in set(report["solved_ids"])]
            again = ask_all(engine, solved, attempts=4, examples=2, reuse=True, label="second pass (reuse)")
            again["hit_rate"] = round(again["reused"] / len(solved), 4)
            print(json.dumps(again), flush=True)
        return 0
    if args.merge:
        for report in merge_reports(args.merge):
            print(json.dumps(report))
        return 0
    preset_ladder()
    tasks = load_tasks()[args.start : args.start + args.limit]
    modes = args.modes.split(",")
    escalation_home = None
    for mode in modes:
        home = tempfile.mkdtemp(prefix=f"dse-he-{mode}-")
        engine = Engine(home)
        engine.embedder
        if mode == "single":
            report = ask_all(engine, tasks, attempts=1, examples=0, reuse=False, label=mode)
        else:
            seed_canonical(engine, load_tasks())
            report = ask_all(engine, tasks, attempts=1 if mode == "examples" else 4, examples=2, reuse=False, label=mode)
        print(json.dumps(report), flush=True)
        if mode == "escalation":
            solved = [t for t in tasks if t.task_id in set(report["solved_ids"])]
            if solved:
                again = ask_all(engine, solved, attempts=4, examples=2, reuse=True, label="second pass (reuse)")
                again["hit_rate"] = round(again["reused"] / len(solved), 4)
                print(json.dumps(again), flush=True)
            escalation_home = home
        engine.close()
    if escalation_home:
        print(json.dumps({"note": "escalation home kept for inspection", "home": escalation_home}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
