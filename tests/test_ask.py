"""The ask path with scripted tiers: reuse, escalation with feedback, schedules, budgets, learning."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import pytest

from dse_tui.engine.facade import Engine
from dse_tui.engine.errors import BadInput

from dse_tui.engine.generation.ask import AskSettings, AttemptFinished
from dse_tui.engine.generation.providers import Ladder, ProviderError, ScriptedProvider, TierConfig

from helpers import ADD_CODE, ADD_SPEC

WRONG_ADD = "```python\ndef add(a, b):\n    return a - b\n```"
RIGHT_ADD = f"Here it is:\n```python\n{ADD_CODE}```"


def ladder(*tiers: TierConfig, schedule=(0.2, 0.4, 0.6, 0.8), attempts=4) -> Ladder:
    return Ladder(tiers=list(tiers), temperature_schedule=list(schedule), max_attempts=attempts)


def tier(name: str, price_in: float = 0.0, price_out: float = 0.0, temperature: float | None = 0.2) -> TierConfig:
    return TierConfig(name=name, provider="scripted", model=f"{name}-model", temperature=temperature, max_tokens=400,
                      timeout_s=5, price_in_per_mtok=price_in, price_out_per_mtok=price_out)


def user_prompt(call) -> str:
    return call.messages[-1].content


def test_failures_of_one_attempt_are_in_the_next_prompt(engine):
    fast = ScriptedProvider([WRONG_ADD, RIGHT_ADD])
    result = engine.ask("Write a function add(a, b) that returns their sum", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert result.outcome == "generated" and result.attempts == 2 and not result.reused
    first, second = fast.calls
    assert "previous attempt failed" not in user_prompt(first)
    assert "return a - b" in user_prompt(second)
    assert "adds small numbers: expected 5, got -1" in user_prompt(second)
    stored = engine.artifacts.get(result.artifact.id)
    assert stored.provenance["tier"] == "fast" and stored.provenance["attempt"] == 2
    assert stored.provenance["temperature"] == 0.4 and stored.provenance["input_tokens"] > 0


def test_temperature_schedule_is_applied_per_attempt(engine):
    fast = ScriptedProvider([WRONG_ADD] * 3)
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast"), schedule=(0.1, 0.5, 0.9), attempts=3), providers={"fast": fast})
    assert result.outcome == "failed" and result.attempts == 3
    assert [c.temperature for c in fast.calls] == [0.1, 0.5, 0.9]


def test_escalation_climbs_one_tier_per_failure_and_provider_errors_escalate(engine):
    fast = ScriptedProvider([WRONG_ADD])
    balanced = ScriptedProvider([ProviderError("http", "HTTP 500 from server", provider="ollama")])
    powerful = ScriptedProvider([RIGHT_ADD])
    result = engine.ask(
        "add two numbers", ADD_SPEC, ladder=ladder(tier("fast"), tier("balanced"), tier("powerful", 3.0, 15.0)),
        providers={"fast": fast, "balanced": balanced, "powerful": powerful}, budget_usd=1.0,
    )
    assert result.outcome == "generated" and result.tier == "powerful" and result.attempts == 3
    # The failed call taught nothing: the top tier is shown fast's code and its exact failures.
    assert "return a - b" in user_prompt(powerful.calls[0]) and "expected 5, got -1" in user_prompt(powerful.calls[0])
    assert "HTTP 500" not in user_prompt(powerful.calls[0])
    assert result.cost_usd > 0
    transcript = engine.transcript(result.transcript_id)
    assert [a.tier for a in transcript.attempt_records] == ["fast", "balanced", "powerful"]
    assert transcript.attempt_records[1].error.startswith("the model call failed")
    assert transcript.attempt_records[2].passed and transcript.attempt_records[2].code.strip() == ADD_CODE.strip()
    assert engine.spent_today() == pytest.approx(result.cost_usd)


def test_max_tier_stops_the_climb(engine):
    fast = ScriptedProvider([WRONG_ADD] * 4)
    powerful = ScriptedProvider([RIGHT_ADD])
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast"), tier("powerful", 3, 15)),
                        providers={"fast": fast, "powerful": powerful}, max_tier="fast")
    assert result.outcome == "failed" and len(fast.calls) == 4 and powerful.calls == []


def test_a_paid_tier_is_skipped_when_the_budget_is_short(engine):
    fast = ScriptedProvider([WRONG_ADD] * 4)
    powerful = ScriptedProvider([RIGHT_ADD])
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast"), tier("powerful", 3.0, 15.0)),
                        providers={"fast": fast, "powerful": powerful}, budget_usd=0.001)
    assert powerful.calls == []
    assert any(s["tier"] == "powerful" and s["reason"].startswith("request budget") for s in result.skipped)
    assert result.cost_usd == 0


def test_the_daily_budget_is_enforced_from_the_ledger(engine):
    powerful = ScriptedProvider([WRONG_ADD] * 10)
    priced = ladder(tier("powerful", 3.0, 15.0))
    first = engine.ask("add two numbers", ADD_SPEC, ladder=priced, providers={"powerful": powerful}, settings=AskSettings(daily_budget_usd=1.0))
    assert first.attempts == 4 and first.cost_usd > 0
    spent = engine.spent_today()
    assert spent == pytest.approx(first.cost_usd)
    # a daily limit just above what was spent leaves less than one call's worst case
    tight = AskSettings(daily_budget_usd=spent + 0.001)
    second = engine.ask("add two numbers", ADD_SPEC, ladder=priced, providers={"powerful": powerful}, settings=tight)
    assert second.attempts == 0 and "budget" in second.reason
    assert any(s["reason"].startswith("daily budget") for s in second.skipped)
    assert len(powerful.calls) == 4


def test_asking_again_is_a_reuse_with_no_model_call(engine):
    fast = ScriptedProvider([RIGHT_ADD])
    first = engine.ask("Write a function add(a, b) that returns their sum", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert first.outcome == "generated"
    again = engine.ask("Write a function add(a, b) that returns their sum", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert again.reused and again.cost_usd == 0 and again.attempts == 0
    assert again.artifact.id == first.artifact.id
    assert len(fast.calls) == 1  # no second model call
    assert engine.artifacts.get(first.artifact.id).usage_count == 1


def test_a_similar_artifact_that_fails_the_new_spec_is_never_served(engine):
    engine.store_artifact(ADD_CODE, ADD_SPEC)
    spec = ADD_SPEC.replace("result_equals: 5", "result_equals: 6").replace("result_equals: -3", "result_equals: -2").replace("result_equals: 0.75", "result_equals: 1.75")
    plus_one = "```python\ndef add(a, b):\n    return a + b + 1\n```"
    fast = ScriptedProvider([plus_one])
    result = engine.ask("add two numbers and one", spec, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert not result.reused and result.outcome == "generated" and len(fast.calls) == 1
    assert "return a + b + 1" in result.artifact.content


SORT_DOWN = """\
function: sort_down
description: Sort a list of numbers from largest to smallest
behaviors:
  - behavior: orders numbers from largest to smallest
    given: {items: [1, 3, 2]}
    then: {result_equals: [3, 2, 1]}
"""


def test_store_examples_that_fit_are_in_the_prompt(library_engine):
    fast = ScriptedProvider(["```python\ndef sort_down(items):\n    return sorted(items, reverse=True)\n```"])
    library_engine.ask("sort numbers from largest to smallest", SORT_DOWN, ladder=ladder(tier("fast")),
                       providers={"fast": fast}, settings=AskSettings(reuse_min_similarity=1.1))
    prompt = user_prompt(fast.calls[0])
    assert "Tested functions from our library" in prompt
    assert library_engine.resolve("sort_list").content.strip() in prompt


def test_examples_that_do_not_fit_the_task_are_left_out(library_engine):
    # nothing in the starter library adds two numbers: moving_average or add_business_days
    # shown as examples made the embedded model fail this task four times
    fast = ScriptedProvider([RIGHT_ADD])
    spec = ADD_SPEC.replace("Add two numbers", "Sum two numbers")
    library_engine.ask("sum two numbers", spec, ladder=ladder(tier("fast")), providers={"fast": fast},
                       settings=AskSettings(reuse_min_similarity=1.1))
    assert "Tested functions from our library" not in user_prompt(fast.calls[0])


MUL_SPEC = """\
function: {name}
description: Multiply {n} numbers together
behaviors:
  - behavior: multiplies
    given: {given}
    then: {{result_equals: {product}}}
"""


def mul_spec(n: int) -> tuple[str, str, str]:
    names = "abcdef"[:n]
    name = f"product{n}"
    given = "{" + ", ".join(f"{c}: {i + 2}" for i, c in enumerate(names)) + "}"
    product = 1
    for i in range(n):
        product *= i + 2
    code = f"```python\ndef {name}({', '.join(names)}):\n    return {' * '.join(names)}\n```"
    return MUL_SPEC.format(name=name, n=n, given=given, product=product), code, name


def test_after_similar_successes_a_new_task_starts_at_the_learned_tier(engine):
    def run(n: int, fast_replies: list[str], balanced_replies: list[str]):
        spec, code, _ = mul_spec(n)
        fast = ScriptedProvider([code if r == "RIGHT" else r for r in fast_replies])
        balanced = ScriptedProvider([code if r == "RIGHT" else r for r in balanced_replies])
        result = engine.ask(f"multiply {n} numbers together", spec, ladder=ladder(tier("fast"), tier("balanced")),
                            providers={"fast": fast, "balanced": balanced})
        return result, fast, balanced

    result, fast, _ = run(2, ["I can't."], ["RIGHT"])  # nothing learned yet: start at the bottom
    assert result.prediction["tier"] is None and len(fast.calls) == 1 and result.tier == "balanced"
    result, fast, _ = run(3, ["I can't."], ["RIGHT"])  # one similar success on balanced already steers
    assert result.prediction["tier"] == "balanced" and fast.calls == [] and result.tier == "balanced"
    result, fast, balanced = run(4, ["RIGHT"], ["RIGHT"])
    assert result.prediction["tier"] == "balanced"
    assert len(result.prediction["evidence"]) == 2 and all(e["tier"] == "balanced" for e in result.prediction["evidence"])
    assert fast.calls == [] and len(balanced.calls) == 1 and result.tier == "balanced"
    assert engine.transcript(result.transcript_id).start_tier == "balanced"


def test_cancel_stops_between_attempts(engine):
    cancel = threading.Event()
    fast = ScriptedProvider([WRONG_ADD] * 4)

    def on_event(event):
        if isinstance(event, AttemptFinished):
            cancel.set()

    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast}, cancel=cancel, on_event=on_event)
    assert result.outcome == "cancelled" and len(fast.calls) == 1
    assert engine.transcript(result.transcript_id).outcome == "cancelled"


def test_unavailable_tiers_are_skipped_with_their_reason(engine):
    down = ScriptedProvider([], available=(False, "no server at 127.0.0.1:11434"))
    fast = ScriptedProvider([RIGHT_ADD])
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("balanced"), tier("fast")), providers={"balanced": down, "fast": fast})
    assert result.tier == "fast"
    assert {"tier": "balanced", "reason": "unavailable: no server at 127.0.0.1:11434"} in result.skipped


def test_a_missing_entry_function_is_fed_back(engine):
    fast = ScriptedProvider(["```python\ndef plus(a, b):\n    return a + b\n```", RIGHT_ADD])
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert result.outcome == "generated"
    assert "does not define the entry function `add`" in user_prompt(fast.calls[1])


def test_a_paid_call_is_in_the_ledger_even_if_testing_never_ends(engine, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.catalog, "test", interrupted)
    powerful = ScriptedProvider([RIGHT_ADD])
    with pytest.raises(KeyboardInterrupt):
        engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("powerful", 3.0, 15.0)), providers={"powerful": powerful})
    transcript = engine.list_transcripts(limit=1)[0]
    transcript = engine.transcript(transcript.id)
    assert transcript.outcome == "interrupted" and transcript.reason == "interrupted by SIGINT (Ctrl-C)"
    assert transcript.cost_usd > 0
    assert engine.spent_today() == pytest.approx(transcript.cost_usd)
    (record,) = transcript.attempt_records
    assert record.reply == RIGHT_ADD and record.error.startswith("interrupted while testing: KeyboardInterrupt")


def test_an_unaffordable_rung_above_means_retrying_on_the_free_one(engine):
    fast = ScriptedProvider([WRONG_ADD, RIGHT_ADD])
    powerful = ScriptedProvider([RIGHT_ADD])
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast"), tier("powerful", 3.0, 15.0)),
                        providers={"fast": fast, "powerful": powerful}, budget_usd=0)
    assert result.outcome == "generated" and result.tier == "fast" and result.attempts == 2
    assert powerful.calls == [] and result.cost_usd == 0
    assert any(s["tier"] == "powerful" and s["reason"].startswith("request budget") for s in result.skipped)


def test_a_learned_paid_start_tier_over_budget_starts_on_a_free_rung(engine):
    spec, code, _ = mul_spec(2)
    engine.ask("multiply 2 numbers together", spec, ladder=ladder(tier("fast"), tier("powerful", 3.0, 15.0)),
               providers={"fast": ScriptedProvider(["no"]), "powerful": ScriptedProvider([code])})
    spec, code, _ = mul_spec(3)
    fast, powerful = ScriptedProvider([code]), ScriptedProvider([code])
    result = engine.ask("multiply 3 numbers together", spec, ladder=ladder(tier("fast"), tier("powerful", 3.0, 15.0)),
                        providers={"fast": fast, "powerful": powerful}, budget_usd=0)
    assert result.prediction["tier"] == "powerful"
    assert result.outcome == "generated" and result.tier == "fast" and powerful.calls == []


def test_a_task_longer_than_a_search_query_still_asks(engine):
    fast = ScriptedProvider([RIGHT_ADD])
    task = "Write add(a, b) returning the sum. " + "Context: " + "x " * 3000
    result = engine.ask(task, ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert len(task) > 4000 and result.outcome == "generated"


@pytest.mark.parametrize("budget", [math.nan, math.inf, -1.0])
def test_a_budget_must_be_a_finite_amount(engine, budget):
    with pytest.raises(BadInput, match="budget"):
        engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": ScriptedProvider([])}, budget_usd=budget)


def test_an_unknown_max_tier_is_refused_even_when_reuse_would_answer(engine):
    engine.store_artifact(ADD_CODE, ADD_SPEC)
    with pytest.raises(BadInput, match="unknown tier 'huge'"):
        engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": ScriptedProvider([])}, max_tier="huge")


def test_provenance_names_the_model_that_answered_and_the_predicted_tier(engine):
    result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": ScriptedProvider([RIGHT_ADD])})
    provenance = engine.artifacts.get(result.artifact.id).provenance
    assert provenance["model"] == "fast-model" and "predicted_tier" in provenance


def test_an_ask_left_running_by_a_dead_process_is_marked_interrupted(engine):
    log = engine.transcripts
    tid = log.start("add two numbers", ADD_SPEC)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with log.db.write() as conn:
        conn.execute("UPDATE transcripts SET pid = ? WHERE id = ?", (dead.pid, tid))
    alive = log.start("still running here", ADD_SPEC)  # this process: left alone
    reopened = Engine(engine.home, embedder=engine.embedder)
    try:
        assert reopened.transcript(tid).outcome == "interrupted"
        assert "ended before it finished" in reopened.transcript(tid).reason
        assert reopened.transcript(alive).outcome == "running"
    finally:
        reopened.close()
