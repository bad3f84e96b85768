"""Step definitions shared by the features; fixtures come from the root conftest.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import ADD_CODE, ADD_SPEC, SORT_CODE, SORT_CODE_WRONG, SORT_SPEC  # noqa: E402

from dse_tui.engine.errors import SpecFailed  # noqa: E402
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig  # noqa: E402


@pytest.fixture
def ctx() -> dict:
    return {}


@given("an empty library")
def _empty(ctx, engine):
    ctx["engine"] = engine


@given("the starter library")
def _starter(ctx, library_engine):
    ctx["engine"] = library_engine


@when("I add code that sorts numbers with its spec")
def _add_good(ctx):
    ctx["artifact"] = ctx["engine"].store_artifact(SORT_CODE, SORT_SPEC)


@when("I add code that returns an empty list for None with the sorting spec")
def _add_bad(ctx):
    with pytest.raises(SpecFailed) as err:
        ctx["engine"].store_artifact(SORT_CODE_WRONG, SORT_SPEC)
    ctx["error"] = err.value


@then(parsers.parse("the library holds {count:d} artifact"))
@then(parsers.parse("the library holds {count:d} artifacts"))
def _holds(ctx, count):
    assert ctx["engine"].count_artifacts() == count


@then("its quality is derived from pass rate, coverage, performance and robustness")
def _derived(ctx):
    r = ctx["artifact"].test_results
    expected = 0.4 * r["pass_rate"] + 0.3 * r["coverage"] + 0.2 * r["performance_score"] + 0.1 * r["robustness_score"]
    assert ctx["artifact"].quality_score == pytest.approx(expected, abs=1e-4)


@then(parsers.parse('it is refused naming the behaviour "{name}"'))
def _refused(ctx, name):
    failed = [c["name"] for c in ctx["error"].test_results["checks"] if not c["passed"]]
    assert failed == [name] and name in str(ctx["error"])


@when(parsers.parse('I search for "{query}"'))
def _search(ctx, query):
    ctx["hits"] = ctx["engine"].find_similar(query, limit=5)


@then(parsers.parse('the first result is "{name}"'))
def _first(ctx, name):
    assert ctx["hits"][0].artifact.name == name


@given("a ladder where the fast tier writes wrong code and the balanced tier writes right code")
def _ladder(ctx):
    def tier(name):
        return TierConfig(name=name, provider="scripted", model=name, temperature=0.2, max_tokens=300, timeout_s=5)

    ctx["ladder"] = Ladder([tier("fast"), tier("balanced")], [0.2, 0.6], 4)
    ctx["providers"] = {
        "fast": ScriptedProvider(["```python\ndef add(a, b):\n    return a - b\n```"]),
        "balanced": ScriptedProvider([f"```python\n{ADD_CODE}```"]),
    }
    ctx["answers"] = []


@when(parsers.parse('I ask for "{task}" with the add spec'))
def _ask(ctx, task):
    ctx["answers"].append(ctx["engine"].ask(task, ADD_SPEC, ladder=ctx["ladder"], providers=ctx["providers"]))


@then(parsers.parse('the artifact was generated on the "{tier}" tier in {attempts:d} attempts'))
def _generated(ctx, tier, attempts):
    answer = ctx["answers"][-1]
    assert answer.outcome == "generated" and answer.tier == tier and answer.attempts == attempts


@then(parsers.parse("the balanced tier's prompt names the failure \"{failure}\""))
def _feedback(ctx, failure):
    assert failure in ctx["providers"]["balanced"].calls[0].messages[-1].content


@then("the second answer was reused at no cost")
def _reused(ctx):
    answer = ctx["answers"][1]
    assert answer.reused and answer.cost_usd == 0 and answer.artifact.id == ctx["answers"][0].artifact.id


@then(parsers.parse("the models were called {count:d} times in all"))
def _calls(ctx, count):
    assert sum(len(p.calls) for p in ctx["providers"].values()) == count
