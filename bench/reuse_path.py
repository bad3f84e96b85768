"""The reuse path, end to end: query text -> embed -> search -> sandboxed run.

    .venv/bin/python bench/reuse_path.py [--runs 100] [--sandbox auto|bwrap|native]

Uses a fresh home holding the starter library. Prints one JSON line per
sandbox backend with p50/p95 of each stage and of the whole path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from dse_tui.engine.facade import Engine
from dse_tui.engine.sandbox import available_sandboxes, select_sandbox

# (query a user might type, inputs for the function it should find)
QUERIES = [
    ("order a list of numbers", "sort_list", {"items": [5, 3, 9, 1]}),
    ("is this number prime", "is_prime", {"n": 97}),
    ("turn a title into a url slug", "slugify", {"text": "Hello World, again!"}),
    ("how many words are in this text", "word_count", {"text": "one two three"}),
    ("is the year a leap year", "is_leap_year", {"year": 2024}),
    ("check a credit card number with luhn", "luhn_check", {"number": "4539578763621486"}),
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--sandbox", default="all", help="all, or one backend name")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="dse-reuse-")
    setup = Engine(home)
    setup.ensure_starter_library()
    setup.run_jobs()  # verified, as a store in use is
    setup.close()
    backends = [s for s in available_sandboxes() if s.name != "none"] if args.sandbox == "all" else [select_sandbox(args.sandbox)]
    for sandbox in backends:
        engine = Engine(home, sandbox=sandbox)
        engine.embedder
        engine.find_similar("warm up", limit=1)
        stages = {"embed": [], "search": [], "run": [], "total": []}
        wrong = 0
        for i in range(args.runs):
            query, expected, inputs = QUERIES[i % len(QUERIES)]
            t0 = time.perf_counter()
            vector = engine.embedder.embed_one(query)
            t1 = time.perf_counter()
            hits = engine.finder.search(vector, 1, min_quality=0.5)
            t2 = time.perf_counter()
            outcome = engine.run(hits[0].artifact, inputs, source="reuse")
            t3 = time.perf_counter()
            wrong += hits[0].artifact.name != expected or not outcome.success
            for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                stages[key].append(value * 1000)
        print(json.dumps({
            "bench": "reuse_path",
            "sandbox": sandbox.name,
            "runs": args.runs,
            "artifacts": engine.count_artifacts(),
            **{f"{k}_p50_ms": round(statistics.median(v), 2) for k, v in stages.items()},
            **{f"{k}_p95_ms": pct(v, 0.95) for k, v in stages.items()},
            "wrong_or_failed": wrong,
        }), flush=True)
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
