"""Cost of a mixed workload with and without DSE, and how often reuse serves the wrong code.

    .venv/bin/python bench/cost_workload.py [--requests 1000] [--seed 7]

Every request goes through the real ask path (search, the request's spec run on a hit in
the sandbox, else generation). Each request carries its own spec: two examples drawn with
values of their own from the task's reference implementation. The "LLM" is a scripted
provider priced at the powerful tier's rates that writes correct code for the function
it is asked for.

What DSE never sees judges it: after each answer, the code served is compared with the
task's reference implementation on ten fresh random inputs (in the sandbox, through a
spec the system is never given). A served artifact that disagrees is a wrong hit. The
pool holds near misses whose examples can overlap: ascending vs descending sort, reverse
a list vs sort descending (half the reverse requests show an already sorted list, where
both agree), prime vs not prime, Celsius to Fahrenheit vs back, a sentiment label vs a
score. Confirmations (the request spec's strength against the code served, measured
after the reply) are counted by verdict, and wrong hits among each.

Without DSE: one call per request with a plain prompt, the task alone, priced at the same
rates for the same reply. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone

from dse_tui.engine.facade import Engine
from dse_tui.engine.library.fusion import load_settings
from dse_tui.engine.generation.ask import AskSettings
from dse_tui.engine.generation.prompting import SYSTEM_PROMPT
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig, load_ladder
from dse_tui.engine.generation.providers.scripted import estimate_tokens
from dse_tui.engine.library.reuse import alias
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.spec import parse_spec


def _prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def _ints(rng: random.Random) -> list[int]:
    return [rng.randint(-20, 20) for _ in range(rng.randint(2, 6))]


def _sorted_ints(rng: random.Random) -> list[int]:
    return sorted(_ints(rng))


POS, NEG = ("great", "love", "excellent", "good"), ("terrible", "awful", "bad", "broke")


def _review(rng: random.Random) -> str:
    words = rng.sample(POS, rng.randint(0, 2)) + rng.sample(NEG, rng.randint(0, 2)) + ["it", "arrived"]
    rng.shuffle(words)
    return " ".join(words)


def _score(text: str) -> int:
    words = text.lower().split()
    return sum(w in POS for w in words) - sum(w in NEG for w in words)


# name: phrasings, description, parameter, input generator (a request's examples),
# reference implementation (the oracle), the code the scripted model writes.
TASKS: dict[str, dict] = {
    "sort_ascending": dict(
        phrasings=["sort numbers from smallest to largest", "order a list of numbers ascending",
                   "put these numbers in increasing order"],
        description="Sort a list of numbers in ascending order", param="items", gen=_ints, ref=sorted,
        code="def sort_ascending(items):\n    return sorted(items)\n"),
    "sort_descending": dict(
        phrasings=["sort numbers from largest to smallest", "order a list of numbers descending",
                   "biggest numbers first"],
        description="Sort a list of numbers in descending order", param="items", gen=_ints,
        ref=lambda items: sorted(items, reverse=True),
        code="def sort_descending(items):\n    return sorted(items, reverse=True)\n"),
    "reverse_list": dict(
        phrasings=["reverse a list", "flip the order of a list back to front", "list in reverse order"],
        description="Return the items of a list in reverse order", param="items",
        gen=lambda rng: _sorted_ints(rng) if rng.random() < 0.5 else _ints(rng),  # sorted: looks like sort desc
        ref=lambda items: items[::-1], code="def reverse_list(items):\n    return items[::-1]\n"),
    "is_prime": dict(
        phrasings=["is this number prime", "check whether a number is a prime", "primality test"],
        description="True if a number is prime", param="n", gen=lambda rng: rng.randint(0, 300), ref=_prime,
        code="def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n"),
    "is_not_prime": dict(
        phrasings=["is this number not a prime", "check that a number is not prime", "true unless the number is prime"],
        description="True if a number is not prime", param="n", gen=lambda rng: rng.randint(0, 300),
        ref=lambda n: not _prime(n),
        code="def is_not_prime(n):\n    return not (n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1)))\n"),
    "celsius_to_fahrenheit": dict(
        phrasings=["convert celsius to fahrenheit", "temperature from C to F", "degrees celsius in fahrenheit"],
        description="Convert a temperature in degrees Celsius to Fahrenheit", param="degrees",
        gen=lambda rng: rng.randint(-40, 120), ref=lambda d: d * 9 / 5 + 32,
        code="def celsius_to_fahrenheit(degrees):\n    return degrees * 9 / 5 + 32\n"),
    "fahrenheit_to_celsius": dict(
        phrasings=["convert fahrenheit to celsius", "temperature from F to C", "degrees fahrenheit in celsius"],
        description="Convert a temperature in degrees Fahrenheit to Celsius", param="degrees",
        gen=lambda rng: rng.randint(-40, 220), ref=lambda d: (d - 32) * 5 / 9,
        code="def fahrenheit_to_celsius(degrees):\n    return (degrees - 32) * 5 / 9\n"),
    "review_sentiment": dict(
        phrasings=["classify the sentiment of a product review", "is this review positive or negative",
                   "sentiment label for a review"],
        description="Label a product review as positive, negative or neutral", param="text", gen=_review,
        ref=lambda t: "positive" if _score(t) > 0 else "negative" if _score(t) < 0 else "neutral",
        code=f"POS, NEG = {POS!r}, {NEG!r}\n\n\ndef review_sentiment(text):\n    words = text.lower().split()\n"
             "    score = sum(w in POS for w in words) - sum(w in NEG for w in words)\n"
             "    return 'positive' if score > 0 else 'negative' if score < 0 else 'neutral'\n"),
    "review_sentiment_score": dict(
        phrasings=["score the sentiment of a review as a number", "how positive is this review, as a number",
                   "numeric sentiment of a review"],
        description="Score a product review: positive words minus negative words", param="text", gen=_review,
        ref=_score,
        code=f"POS, NEG = {POS!r}, {NEG!r}\n\n\ndef review_sentiment_score(text):\n    words = text.lower().split()\n"
             "    return sum(w in POS for w in words) - sum(w in NEG for w in words)\n"),
}


def spec_for(name: str, task: dict, inputs: list) -> str:
    behaviors = [
        {"behavior": f"example {i}", "given": {task["param"]: x}, "then": {"result_equals": task["ref"](x)}}
        for i, x in enumerate(inputs)
    ]
    return json.dumps({"function": name, "description": task["description"], "behaviors": behaviors})  # JSON is YAML


def fresh_inputs(task: dict, rng: random.Random, n: int) -> list:
    return [task["gen"](rng) for _ in range(n)]


def scripted_llm() -> ScriptedProvider:
    def reply(messages, temperature, model):
        wanted = re.search(r"Write `(\w+)` now", messages[-1].content).group(1)
        return f"Here is the function.\n```python\n{TASKS[wanted]['code']}```\n"

    return ScriptedProvider(reply)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse-min-similarity", type=float, default=None,
                        help="the reuse bar (default: presets/retrieval.yaml floors.reuse); lower it to let near misses compete")
    args = parser.parse_args()
    if args.reuse_min_similarity is None:
        args.reuse_min_similarity = load_settings().reuse_floor
    powerful = next(t for t in load_ladder(user=False) if t.name == "powerful")
    tier = TierConfig(name="cloud", provider="scripted", model=powerful.model, temperature=None, max_tokens=1024,
                      timeout_s=30, price_in_per_mtok=powerful.price_in_per_mtok,
                      price_out_per_mtok=powerful.price_out_per_mtok)
    ladder = Ladder([tier], [], 2)
    llm = scripted_llm()
    engine = Engine(tempfile.mkdtemp(prefix="dse-cost-"))
    engine.embedder
    rng, oracle_rng = random.Random(args.seed), random.Random(args.seed + 1)
    settings = AskSettings(daily_budget_usd=1e9, reuse_min_similarity=args.reuse_min_similarity)
    # The oracle must be able to say "wrong": sort-descending code for a reverse-list task
    # passes an example with a sorted input, and must fail the oracle's fresh inputs.
    ambiguous = parse_spec(spec_for("reverse_list", TASKS["reverse_list"], [[1, 2, 3]]))
    impostor = alias(TASKS["sort_descending"]["code"], "sort_descending", "reverse_list")
    oracle_self_check = (
        run_spec(impostor, ambiguous, engine.sandbox).all_passed
        and not run_spec(impostor, parse_spec(spec_for("reverse_list", TASKS["reverse_list"],
                                                       fresh_inputs(TASKS["reverse_list"], random.Random(1), 10))),
                         engine.sandbox).all_passed
    )
    pool = [(name, phrase) for name, task in TASKS.items() for phrase in task["phrasings"]]
    baseline = hits = wrong = rejected = 0.0
    confirmations: Counter = Counter()
    wrong_by_confirmation: Counter = Counter()
    served_for: Counter = Counter()
    started = time.perf_counter()
    for i in range(args.requests):
        name, phrase = rng.choice(pool)
        task = TASKS[name]
        spec = spec_for(name, task, fresh_inputs(task, rng, 2))
        result = engine.ask(phrase, spec, ladder=ladder, providers={"cloud": llm}, settings=settings)
        if result.artifact is None:
            print(json.dumps({"error": f"request {i} failed: {result.reason}"}))
            return 1
        engine.confirm_pending()  # after the reply, as `dse ask` does
        # without DSE: the task alone, one call, the same reply
        reply_tokens = estimate_tokens(f"Here is the function.\n```python\n{task['code']}```\n")
        baseline += (estimate_tokens(SYSTEM_PROMPT + phrase) * tier.price_in_per_mtok
                     + reply_tokens * tier.price_out_per_mtok) / 1e6
        rejected += len(result.reuse_rejected)
        if not result.reused:
            continue
        hits += 1
        confirmation = result.confirmation
        if confirmation == "pending":
            known = engine.confirmation(parse_spec(spec).source, result.artifact.id)
            confirmation = known.verdict if known else "pending"
        confirmations[confirmation] += 1
        # the oracle: ten fresh inputs, expectations from the reference implementation
        oracle = parse_spec(spec_for(name, task, fresh_inputs(task, oracle_rng, 10)))
        code = alias(result.artifact.content, result.artifact.function, name)
        if not run_spec(code, oracle, engine.sandbox, coverage=False).all_passed:
            wrong += 1
            wrong_by_confirmation[confirmation] += 1
            served_for[f"{result.artifact.function} for {name}"] += 1
        print(f"\r{i + 1}/{args.requests} hits {int(hits)} wrong {int(wrong)} calls {len(llm.calls)}", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with_dse = engine.ledger.spent_since(datetime.fromtimestamp(0, timezone.utc))
    print(json.dumps({
        "bench": "cost_workload",
        "requests": args.requests,
        "reuse_min_similarity": args.reuse_min_similarity,
        "oracle_self_check": "detects a wrong hit" if oracle_self_check else "FAILED",
        "distinct_tasks": len(TASKS),
        "phrasings": len(pool),
        "llm_calls": len(llm.calls),
        "hit_rate": round(hits / args.requests, 4),
        "wrong_hits_by_oracle": int(wrong),
        "wrong_hits_served_as": dict(served_for),
        "confirmations_of_hits": dict(confirmations),
        "wrong_hits_by_confirmation": dict(wrong_by_confirmation),
        "reuse_candidates_rejected_by_spec": int(rejected),
        "cost_without_dse_usd": round(baseline, 6),
        "cost_with_dse_usd": round(with_dse, 6),
        "cost_reduction": round(1 - with_dse / baseline, 4) if baseline else None,
        "seconds": round(time.perf_counter() - started, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
