"""Paper §6.2 re-run: 1000 review-analysis requests in varied wording, priced like a cloud model.

    .venv/bin/python bench/cost_workload.py [--requests 1000] [--seed 7]

Every request goes through the real ask path (search, spec check of a hit in
the sandbox, else generation). The "LLM" is a scripted provider priced at the
powerful tier's rates that writes correct code for the function it is asked
for. "Without DSE" prices one call per request at the tokens actually used.
A wrong hit is a served artifact that fails that request's spec: each served
answer is re-checked independently. Near-miss tasks (same words, different
behaviour) are in the pool on purpose. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timezone

from dse_tui.engine.generation.ask import AskSettings
from dse_tui.engine.facade import Engine
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig, load_ladder
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.engine.specs.runner import run_spec

TASKS = {
    "review_sentiment": dict(
        phrasings=["Classify the sentiment of a product review", "Is this customer review positive or negative?",
                   "label a review as positive, negative or neutral", "tell me the mood of this review",
                   "sentiment label for review text"],
        description="Label a product review as positive, negative or neutral",
        behaviors=[("positive review", {"text": "Great product, I love it"}, "positive"),
                   ("negative review", {"text": "Terrible, it broke. Awful."}, "negative"),
                   ("neutral review", {"text": "It arrived on Tuesday"}, "neutral")],
        code='''POS = {"great", "love", "excellent", "good", "amazing"}
NEG = {"terrible", "awful", "bad", "broke", "poor"}


def review_sentiment(text):
    words = [w.strip(".,!?").lower() for w in text.split()]
    score = sum(w in POS for w in words) - sum(w in NEG for w in words)
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"
'''),
    "review_sentiment_score": dict(  # near miss of review_sentiment: same words, a number instead of a label
        phrasings=["Score the sentiment of a product review from -1 to 1", "numeric sentiment score of a review",
                   "how positive is this review, as a number"],
        description="Score a product review's sentiment as a number between -1 and 1",
        behaviors=[("positive review", {"text": "Great product, I love it"}, 1.0),
                   ("negative review", {"text": "Terrible, it broke. Awful."}, -1.0),
                   ("neutral review", {"text": "It arrived on Tuesday"}, 0.0)],
        code='''POS = {"great", "love", "excellent", "good", "amazing"}
NEG = {"terrible", "awful", "bad", "broke", "poor"}


def review_sentiment_score(text):
    words = [w.strip(".,!?").lower() for w in text.split()]
    hits = [1 for w in words if w in POS] + [-1 for w in words if w in NEG]
    return max(-1.0, min(1.0, sum(hits) / 2)) if hits else 0.0
'''),
    "star_rating": dict(
        phrasings=["Extract the star rating from a review", "what star rating did the reviewer give",
                   "find the N/5 rating in review text", "get the number of stars from a review"],
        description="Extract the star rating (1-5) written as 'N/5' or 'N out of 5' from a review, or None",
        behaviors=[("slash form", {"text": "Solid. 4/5"}, 4), ("words form", {"text": "I give it 2 out of 5"}, 2),
                   ("no rating", {"text": "No idea"}, None)],
        code='''import re


def star_rating(text):
    match = re.search(r"([1-5])\\s*(?:/|out of)\\s*5", text)
    return int(match.group(1)) if match else None
'''),
    "mentions_refund": dict(
        phrasings=["Does the review ask for a refund?", "detect refund requests in reviews",
                   "check whether a customer mentions getting their money back"],
        description="True if a review mentions a refund or money back",
        behaviors=[("refund", {"text": "I want a refund now"}, True), ("money back", {"text": "Give me my money back"}, True),
                   ("happy", {"text": "Works fine"}, False)],
        code='''def mentions_refund(text):
    lowered = text.lower()
    return "refund" in lowered or "money back" in lowered
'''),
    "review_word_count": dict(
        phrasings=["Count the words in a review", "how many words does this review have", "review length in words"],
        description="Count the words in a review",
        behaviors=[("three words", {"text": "good value overall"}, 3), ("empty review", {"text": ""}, 0),
                   ("extra spaces", {"text": "  a   b "}, 2)],
        code='''def review_word_count(text):
    return len(text.split())
'''),
    "pros_and_cons": dict(
        phrasings=["Split a review into pros and cons", "extract the plus and minus points of a review",
                   "list pros (+) and cons (-) from review lines"],
        description="Collect review lines starting with '+' as pros and '-' as cons",
        behaviors=[("both", {"text": "+ cheap\n- loud\n+ light"}, {"pros": ["cheap", "light"], "cons": ["loud"]}),
                   ("none", {"text": "meh"}, {"pros": [], "cons": []})],
        code='''def pros_and_cons(text):
    pros, cons = [], []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("+"):
            pros.append(line[1:].strip())
        elif line.startswith("-"):
            cons.append(line[1:].strip())
    return {"pros": pros, "cons": cons}
'''),
    "exclamation_intensity": dict(
        phrasings=["How excited is the reviewer: count exclamation marks", "count the ! in a review"],
        description="Count the exclamation marks in a review",
        behaviors=[("three", {"text": "Wow!! Great!"}, 3), ("none", {"text": "ok."}, 0)],
        code='''def exclamation_intensity(text):
    return text.count("!")
'''),
}


def spec_text(name: str, task: dict) -> str:
    behaviors = [{"behavior": b, "given": given, "then": {"result_equals": expected}} for b, given, expected in task["behaviors"]]
    return json.dumps({"function": name, "description": task["description"], "behaviors": behaviors})  # JSON is YAML


def scripted_llm():
    def reply(messages, temperature, model):
        wanted = re.search(r"Write `(\w+)` now", messages[-1].content).group(1)
        return f"Here is the function.\n```python\n{TASKS[wanted]['code']}```\n"

    return ScriptedProvider(reply)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    powerful = next(t for t in load_ladder(user=False) if t.name == "powerful")
    tier = TierConfig(name="cloud", provider="scripted", model=powerful.model, temperature=None, max_tokens=1024, timeout_s=30,
                      price_in_per_mtok=powerful.price_in_per_mtok, price_out_per_mtok=powerful.price_out_per_mtok)
    ladder = Ladder([tier], [], 2)
    llm = scripted_llm()
    engine = Engine(tempfile.mkdtemp(prefix="dse-cost-"))
    engine.embedder
    specs = {name: parse_spec(spec_text(name, task), origin=name) for name, task in TASKS.items()}
    rng = random.Random(args.seed)
    pool = [(name, phrase) for name, task in TASKS.items() for phrase in task["phrasings"]]
    cost_per_call: dict[str, float] = {}
    asked: list[str] = []
    hits = wrong = rejected = 0
    started = time.perf_counter()
    for i in range(args.requests):
        name, phrase = rng.choice(pool)
        asked.append(name)
        before = len(llm.calls)
        result = engine.ask(phrase, specs[name], ladder=ladder, providers={"cloud": llm}, settings=AskSettings(daily_budget_usd=1e9))
        if result.artifact is None:
            print(json.dumps({"error": f"request {i} failed: {result.reason}"}))
            return 1
        if len(llm.calls) > before:
            cost_per_call[name] = result.cost_usd / (len(llm.calls) - before)
        hits += result.reused
        rejected += len(result.reuse_rejected)
        # independent check: the served code must pass THIS request's spec
        fn = result.artifact.function
        code = result.artifact.content if fn == name else f"{result.artifact.content}\n{name} = {fn}\n"
        wrong += not run_spec(code, specs[name], engine.sandbox, coverage=False).all_passed
        print(f"\r{i + 1}/{args.requests} hits {hits} calls {len(llm.calls)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with_dse = engine.ledger.spent_since(datetime.fromtimestamp(0, timezone.utc))
    without_dse = sum(cost_per_call[name] for name in asked)  # one priced call per request
    print(json.dumps({
        "bench": "cost_workload",
        "requests": args.requests,
        "distinct_tasks": len(TASKS),
        "phrasings": len(pool),
        "llm_calls": len(llm.calls),
        "hit_rate": round(hits / args.requests, 4),
        "wrong_hits": wrong,
        "reuse_candidates_rejected_by_spec": rejected,
        "cost_without_dse_usd": round(without_dse, 6),
        "cost_with_dse_usd": round(with_dse, 6),
        "cost_reduction": round(1 - with_dse / without_dse, 4) if without_dse else None,
        "seconds": round(time.perf_counter() - started, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
