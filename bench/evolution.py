"""Evolution on named, injected drifts, judged by an oracle the system never sees.

Scenarios (each on a fresh home, with real sandboxed runs):
  quadratic     has_duplicate written as a double loop; the workload moves from short to long
                lists, so its latency steps up. Candidates: slower, wrong-but-fast (right on
                the spec's short lists, wrong past 100 items), and fast.
  new_shape     to_int(text) parses "12"; users start sending " 12 " and it fails. Candidates:
                still failing, fixing it but changing other answers, and a right fix.
  machine_wide  an unchanged artifact while two CPU hogs load every core: everything slows,
                nothing may be blamed or evolved.

Each evolution is set against "resample the same generator N times, keep the best" at equal
budget (N = the evolution's attempts): every sample must pass the incumbent's spec and the
fastest one is kept, timed once, as a naive evaluator would. The oracle then scores both:
correctness on fresh inputs (with the reference answers), and speed-up in paired runs.
With --embedded the quadratic scenario also runs with the embedded SmolLM2 tier.

Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DUP_SPEC = """\
function: has_duplicate
description: Tell whether a list holds the same value twice
behaviors:
  - behavior: distinct values
    given: {items: [1, 2, 3, 4]}
    then: {result_equals: false}
  - behavior: adjacent duplicate
    given: {items: [1, 2, 2, 3]}
    then: {result_equals: true}
  - behavior: handles empty list
    given: {items: []}
    then: {result_equals: false}
  - behavior: single value
    given: {items: [7]}
    then: {result_equals: false}
  - behavior: duplicate far apart
    given: {items: [5, 1, 2, 3, 4, 5]}
    then: {result_equals: true}
    held_out: true
"""
DUP_SLOW = """\
def has_duplicate(items):
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if items[i] == items[j]:
                return True
    return False
"""
DUP_CANDIDATES = {
    "slower": "def has_duplicate(items):\n    pairs = [(a, b) for i, a in enumerate(items) for j, b in enumerate(items) if i != j]\n    return any(a == b for a, b in pairs)\n",
    "wrong": "def has_duplicate(items):\n    if len(items) > 100:\n        return False\n    return len(set(items)) != len(items)\n",
    "fast": "def has_duplicate(items):\n    return len(set(items)) != len(items)\n",
}

INT_SPEC = """\
function: to_int
description: Read a whole number written in decimal digits
behaviors:
  - behavior: reads digits
    given: {text: "12"}
    then: {result_equals: 12}
  - behavior: reads a negative number
    given: {text: "-7"}
    then: {result_equals: -7}
  - behavior: reads zero
    given: {text: "0"}
    then: {result_equals: 0}
  - behavior: rejects words
    given: {text: "ten"}
    then: {raises: ValueError}
  - behavior: reads a long number
    given: {text: "123456"}
    then: {result_equals: 123456}
    held_out: true
"""
INT_OLD = """\
def to_int(text):
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        raise ValueError("not a number: " + text)
    return int(text)
"""
INT_CANDIDATES = {
    "still_failing": INT_OLD.replace("raise ValueError(\"not a number: \" + text)", "raise ValueError(\"bad: \" + text)"),
    # passes the spec (its numbers are short or positive), loses the sign of longer negatives
    "wrong": "def to_int(text):\n    text = text.strip()\n    if not text or not (text.isdigit() or (text[0] == '-' and text[1:].isdigit())):\n        raise ValueError('not a number: ' + text)\n    return int(text) if len(text) < 3 else abs(int(text))\n",
    "fix": "def to_int(text):\n    text = text.strip()\n    if not text or not (text.isdigit() or (text[0] == '-' and text[1:].isdigit())):\n        raise ValueError('not a number: ' + text)\n    return int(text)\n",
}


def emit(**fields) -> None:
    print(json.dumps(fields, default=str), flush=True)


class Pool:
    """A scripted tier: each call draws one candidate at random (seeded), as a model would."""

    def __init__(self, candidates: dict[str, str], seed: int, weights: dict[str, float] | None = None) -> None:
        self.candidates = candidates
        self.rng = random.Random(seed)
        self.weights = weights or {k: 1.0 for k in candidates}
        self.drawn: list[str] = []

    def draw(self) -> str:
        names = list(self.candidates)
        name = self.rng.choices(names, weights=[self.weights[n] for n in names])[0]
        self.drawn.append(name)
        return name

    def generate(self, messages, *, attempt, stronger, cancel, budget_usd):
        from dse_tui.engine.evolution.generator import Generated

        return Generated(f"```python\n{self.candidates[self.draw()]}```", 0.0, "scripted")


def _outcome(attempt: dict) -> str:
    if attempt.get("promoted"):
        return "promoted"
    if attempt.get("contender"):
        return f"contender ({attempt['paired']['gain'] * 100:.0f}% faster, not the fastest)"
    return attempt.get("rejected", "?")


def _engine(home: str):
    from dse_tui.engine.facade import Engine

    engine = Engine(home)
    engine.auto_evolve = False  # the bench drives each evolution itself, to compare them
    return engine


def _drive(engine, artifact, inputs, *, start_index: int = 0) -> tuple[int | None, list]:
    """Run the artifact on each input; the first run after which a drift is open, and the events."""
    first = None
    for i, kwargs in enumerate(inputs):
        engine.run(artifact, kwargs)
        if i % 10 == 9:
            engine.flush_metrics()
            if first is None and engine.drift.list(artifact_id=artifact.id):
                first = start_index + i + 1
    engine.flush_metrics()
    if first is None and engine.drift.list(artifact_id=artifact.id):
        first = start_index + len(inputs)
    return first, engine.drift.list(artifact_id=artifact.id)


def _oracle_correct(engine, code: str, function: str, cases: list[tuple[dict, object]]) -> float:
    from dse_tui.engine.specs.judge import call_function

    right = 0
    for kwargs, expected in cases:
        got = call_function(code, function, kwargs, engine.sandbox)
        if isinstance(expected, type) and issubclass(expected, Exception):
            right += (not got.ok) and (got.error or "").startswith(expected.__name__)
        else:
            right += got.ok and got.value == expected
    return right / len(cases)


def _oracle_speedup(engine, old: str, new: str, function: str, inputs: list[dict]) -> float:
    from dse_tui.engine.evolution.paired import Side, paired_times

    times = paired_times(engine.sandbox, Side(old, function), Side(new, function), inputs, rounds=30, rng=random.Random(9))
    return statistics.median(times.a_ms) / statistics.median(times.b_ms)


def _resample_baseline(engine, pool: Pool, spec_text: str, function: str, inputs: list[dict], n: int) -> dict:
    """N samples; keep the fastest that passes the spec, timed once (no paired runs, no
    differential check, no noise floor): what plain resampling at equal budget gives."""
    from dse_tui.engine.generation.codeextract import extract_code
    from dse_tui.engine.specs.judge import call_function, run_spec
    from dse_tui.engine.specs.spec import parse_spec

    spec = parse_spec(spec_text)
    best, best_ms, drawn = None, float("inf"), []
    for _ in range(n):
        name = pool.draw()
        drawn.append(name)
        code = extract_code(f"```python\n{pool.candidates[name]}```", function)
        if not run_spec(code, spec, engine.sandbox).all_passed:
            continue
        ms = sum(call_function(code, function, kw, engine.sandbox).execution_time_ms for kw in inputs[:5])
        if ms < best_ms:
            best, best_ms = (name, code), ms
    return {"drawn": drawn, "kept": best[0] if best else None, "code": best[1] if best else None}


def quadratic(tmp: str, seed: int, attempts: int, embedded: bool) -> None:
    from dse_tui.engine.evolution.evolve import EvolutionSettings

    rng = random.Random(seed)
    short = [{"items": rng.sample(range(1000), 20)} for _ in range(250)]
    long_ = []
    for _ in range(150):
        items = rng.sample(range(100_000), 400)
        if rng.random() < 0.5:  # half the long lists hold a duplicate somewhere
            items[rng.randrange(200, 400)] = items[rng.randrange(0, 200)]
        long_.append({"items": items})
    oracle_cases = []
    for _ in range(40):
        items = rng.sample(range(10_000), rng.choice([5, 50, 300, 800]))
        if rng.random() < 0.5:
            items.append(items[rng.randrange(len(items))])
        oracle_cases.append(({"items": items}, len(set(items)) != len(items)))
    settings = EvolutionSettings.load(attempts=attempts)
    runs = [("scripted", None)] + ([("embedded", "fast")] if embedded else [])
    for label, tier in runs:
        engine = _engine(os.path.join(tmp, f"quadratic-{label}"))
        artifact = engine.store_artifact(DUP_SLOW, DUP_SPEC, name="has_duplicate", provenance={"source": "user", "tier": tier})
        _drive(engine, artifact, short)
        detected, events = _drive(engine, artifact, long_, start_index=len(short))
        open_latency = [e for e in events if e.type == "latency" and e.status == "open"]
        started = time.monotonic()
        if label == "scripted":
            pool = Pool(DUP_CANDIDATES, seed, {"slower": 1, "wrong": 1, "fast": 1})
            result = engine.evolve(artifact.id, drift="latency", generator=pool, settings=settings)
        else:
            from dse_tui.engine.evolution.generator import LadderGenerator
            from dse_tui.engine.generation.providers import load_ladder_config

            ladder = load_ladder_config()
            ladder = replace(ladder, tiers=[t for t in ladder.tiers if t.provider == "embedded"])
            result = engine.evolve(
                artifact.id, drift="latency", generator=LadderGenerator(ladder, engine.ledger, start_tier="fast"), settings=settings
            )
            pool = None
        seconds = time.monotonic() - started
        evolved = result.candidate.content if result.candidate else None
        timing = [kw for kw, _ in oracle_cases if len(kw["items"]) >= 300][:6]
        row = {
            "bench": "evolution",
            "scenario": "quadratic",
            "generator": label,
            "drift_detected_at_run": detected,
            "drift_started_at_run": len(short) + 1,
            "detected": bool(open_latency),
            "status": result.status,
            "reason": result.reason,
            "seconds": round(seconds, 1),
            "noise_floor": result.evidence.get("noise_floor", {}).get("gap"),
            "attempts": [_outcome(a) for a in result.evidence.get("attempts", [])],
            "oracle_correct": _oracle_correct(engine, evolved, "has_duplicate", oracle_cases) if evolved else None,
            "oracle_speedup": round(_oracle_speedup(engine, DUP_SLOW, evolved, "has_duplicate", timing), 2) if evolved else 1.0,
        }
        if pool is not None:
            row["drawn"] = pool.drawn
            baseline = _resample_baseline(engine, Pool(DUP_CANDIDATES, seed), DUP_SPEC, "has_duplicate", [kw for kw, _ in oracle_cases], attempts)
            code = baseline["code"]
            row["resample_baseline"] = {
                "drawn": baseline["drawn"],
                "kept": baseline["kept"],
                "oracle_correct": _oracle_correct(engine, code, "has_duplicate", oracle_cases) if code else None,
                "oracle_speedup": round(_oracle_speedup(engine, DUP_SLOW, code, "has_duplicate", timing), 2) if code else 1.0,
            }
        emit(**row)
        engine.close()


def new_shape(tmp: str, seed: int, attempts: int) -> None:
    from dse_tui.engine.evolution.evolve import EvolutionSettings

    rng = random.Random(seed)
    engine = _engine(os.path.join(tmp, "new_shape"))
    artifact = engine.store_artifact(INT_OLD, INT_SPEC, name="to_int")
    plain = [{"text": str(rng.randint(-999, 999))} for _ in range(250)]
    spaced = [{"text": f" {rng.randint(-999, 999)} "} if rng.random() < 0.3 else {"text": str(rng.randint(0, 99))} for _ in range(150)]
    _drive(engine, artifact, plain)
    detected, events = _drive(engine, artifact, spaced, start_index=len(plain))
    oracle = [({"text": t}, int(t.strip())) for t in (" 5", "-12 ", " 0 ", "77", "-3", "-450", " -78 ")]
    oracle.append(({"text": "x1"}, ValueError))
    pool = Pool(INT_CANDIDATES, seed)
    result = engine.evolve(artifact.id, drift="errors", generator=pool, settings=EvolutionSettings.load(attempts=attempts))
    evolved = result.candidate.content if result.candidate else None
    # the baseline keeps any sample that passes the spec (reliability has no time to rank by)
    baseline = _resample_baseline(engine, Pool(INT_CANDIDATES, seed), INT_SPEC, "to_int", [kw for kw, _ in oracle[:5]], attempts)
    emit(
        bench="evolution",
        scenario="new_shape",
        generator="scripted",
        drift_detected_at_run=detected,
        drift_started_at_run=len(plain) + 1,
        detected=any(e.type == "errors" for e in events),
        status=result.status,
        reason=result.reason,
        drawn=pool.drawn,
        attempts=[_outcome(a) for a in result.evidence.get("attempts", [])],
        oracle_correct=_oracle_correct(engine, evolved, "to_int", oracle) if evolved else _oracle_correct(engine, INT_OLD, "to_int", oracle),
        resample_baseline={
            "drawn": baseline["drawn"],
            "kept": baseline["kept"],
            "oracle_correct": _oracle_correct(engine, baseline["code"], "to_int", oracle) if baseline["code"] else None,
        },
    )
    engine.close()


def machine_wide(tmp: str, seed: int) -> None:
    rng = random.Random(seed)
    engine = _engine(os.path.join(tmp, "machine_wide"))
    engine.auto_evolve = True  # here the drift path itself must decide not to evolve
    artifact = engine.store_artifact(DUP_SLOW, DUP_SPEC, name="has_duplicate")
    # ~8 ms a call: longer than a scheduler slice, so the hogs' load shows in the artifact's times
    inputs = [{"items": rng.sample(range(10_000), 600)} for _ in range(400)]
    with engine.db.write() as conn:  # the reference's history on the quiet machine
        for _ in range(5):
            engine.monitor.reference.sample(conn)
    _drive(engine, artifact, inputs[:250])
    # each hog in a session of its own: Linux's autogroup shares the CPU between sessions, and
    # the sandbox runs in one of its own, so hogs inside the bench's session would not touch it
    hog = "while True:\n    sum(i * i for i in range(10_000))\n"
    hogs = [
        subprocess.Popen([sys.executable, "-c", hog], start_new_session=True)
        for _ in range(max(2, (os.cpu_count() or 2) * 2))
    ]
    try:
        _, events = _drive(engine, artifact, inputs[250:], start_index=250)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    recent, before = engine.metrics.last_against_before(artifact.id, recent=150, before=250)
    queued = [j for j in engine.list_jobs() if j.kind == "evolve"]
    emit(
        bench="evolution",
        scenario="machine_wide",
        slowdown=round((recent.p50_ms or 0) / (before.p50_ms or 1), 2),
        before_p50_ms=before.p50_ms,
        hogged_p50_ms=recent.p50_ms,
        events=[
            {"type": e.type, "status": e.status, "explanation": e.explanation, "machine": e.figures.get("machine")}
            for e in events
        ],
        blamed=[e.type for e in events if e.status == "open"],
        evolutions_queued=len(queued),
        exercised=(recent.p50_ms or 0) >= 1.3 * (before.p50_ms or 0),  # did the load slow it at all?
        ok=not queued and not [e for e in events if e.status == "open"],
    )
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--embedded", action="store_true", help="also evolve with the embedded SmolLM2 tier")
    parser.add_argument("--only", choices=["quadratic", "new_shape", "machine_wide"])
    args = parser.parse_args()
    os.environ.setdefault("DSE_PRESSURE", "medium")  # the hogs must not stop the tiers; the monitor reads the machine
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "quadratic"):
            quadratic(tmp, args.seed, args.attempts, args.embedded)
        if args.only in (None, "new_shape"):
            new_shape(tmp, args.seed, args.attempts)
        if args.only in (None, "machine_wide"):
            os.environ.pop("DSE_PRESSURE", None)  # the pressure readings are one of the machine's witnesses
            machine_wide(tmp, args.seed)


if __name__ == "__main__":
    main()
