"""The reuse path through the real Asker: task -> two embeddings and two searches -> the
request's spec run on the best candidate -> transcript writes, as `dse ask` does it.

    .venv/bin/python bench/reuse_path.py [--runs 100] [--sandbox all|bwrap|native]

Uses a fresh home holding the verified starter library. Each request carries its own spec,
written like a user would (two behaviours with values of its own, not the stored spec's).
A run counts as wrong when the artifact served is not the one the request is about, or
nothing was served (a miss below the similarity bar is not faster reuse: the served_*
figures count only requests that were served). Prints one JSON line per backend and
mode (cold: DSE_WARM=0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from dse_tui.engine.facade import Engine
from dse_tui.engine.generation.providers import Ladder
from dse_tui.engine.sandbox import available_sandboxes, select_sandbox

# (task a user might type, the artifact that answers it, the user's own spec)
REQUESTS = [
    ("order a list of numbers", "sort_list", "sort_list", [({"items": [9, 4, 7]}, [4, 7, 9]), ({"items": []}, [])]),
    ("is this number prime", "is_prime", "is_prime", [({"n": 89}, True), ({"n": 91}, False)]),
    ("turn a title into a url slug", "slugify", "slugify", [({"text": "Big News Today"}, "big-news-today"),
                                                            ({"text": "a  b"}, "a-b")]),
    ("how many words are in this text", "word_count", "word_count", [({"text": "a b c d"}, 4), ({"text": ""}, 0)]),
    ("is the year a leap year", "is_leap_year", "is_leap_year", [({"year": 1900}, False), ({"year": 2000}, True)]),
    ("write a number in roman numerals", "to_roman", "to_roman", [({"number": 2024}, "MMXXIV"), ({"number": 4}, "IV")]),
]


def spec_text(function: str, description: str, cases) -> str:
    lines = [f"function: {function}", f"description: {description}", "behaviors:"]
    for i, (given, expected) in enumerate(cases):
        lines += [f"  - behavior: case {i}", f"    given: {json.dumps(given)}",
                  f"    then: {{result_equals: {json.dumps(expected)}}}"]
    return "\n".join(lines) + "\n"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


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
    specs = [(task, expected, spec_text(function, task, cases)) for task, expected, function, cases in REQUESTS]
    no_models = Ladder(tiers=[], temperature_schedule=[0.2], max_attempts=1)  # reuse or nothing
    backends = (
        [s for s in available_sandboxes() if s.name != "none"] if args.sandbox == "all" else [select_sandbox(args.sandbox)]
    )
    for sandbox in backends:
        for warm in (False, True):
            os.environ["DSE_WARM"] = "1" if warm else "0"
            engine = Engine(home, sandbox=sandbox)
            engine.find_similar("warm up the embedder", limit=1)
            for task, _, spec in specs:  # first asks: zygotes start, confirmations get queued and measured
                engine.ask(task, spec, ladder=no_models, providers={})
            engine.confirm_pending()
            samples, served, wrong, confirmations = [], [], 0, {}
            for i in range(args.runs):
                task, expected, spec = specs[i % len(specs)]
                started = time.perf_counter()
                result = engine.ask(task, spec, ladder=no_models, providers={})
                samples.append((time.perf_counter() - started) * 1000)
                if result.reused:
                    served.append(samples[-1])
                wrong += not result.reused or result.artifact.name != expected
                confirmations[result.confirmation] = confirmations.get(result.confirmation, 0) + 1
            print(json.dumps({
                "bench": "reuse_path",
                "path": "Engine.ask -> Asker -> Reuser.try_reuse",
                "sandbox": sandbox.name,
                "mode": "warm" if warm else "cold",
                "runs": args.runs,
                "artifacts": engine.count_artifacts(),
                "p50_ms": round(statistics.median(samples), 2),
                "p95_ms": pct(samples, 0.95),
                "served_p50_ms": round(statistics.median(served), 2) if served else None,
                "served_p95_ms": pct(served, 0.95) if served else None,
                "wrong_or_not_reused": wrong,
                "confirmations": confirmations,
            }), flush=True)
            engine.close()
        sandbox.pool.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
