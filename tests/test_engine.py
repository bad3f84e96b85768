"""Executable ground truth: only code that passes its spec in the sandbox is stored."""

import pytest
from helpers import ADD_CODE, ADD_SPEC, SORT_CODE, SORT_CODE_WRONG, SORT_SPEC

from dse_tui.engine.errors import BadInput, NotFound, SpecFailed
from dse_tui.engine.specs.spec import parse_spec


def test_correct_code_is_stored_with_derived_quality(engine):
    artifact = engine.store_artifact(SORT_CODE, SORT_SPEC)
    r = artifact.test_results
    assert r["all_passed"] and r["passed"] == r["total"] == 4
    assert r["coverage"] == 1.0  # every line ran, measured inside the sandbox
    expected = round(0.4 * r["pass_rate"] + 0.3 * r["coverage"] + 0.2 * r["performance_score"] + 0.1 * r["robustness_score"], 4)
    assert artifact.quality_score == pytest.approx(expected, abs=1e-4)
    assert r["robustness_score"] == 1.0  # both probes passed
    assert engine.artifacts.get(artifact.id).quality_score == artifact.quality_score


def test_failing_code_is_refused_naming_the_behaviour_and_store_unchanged(engine):
    before = engine.count_artifacts()
    with pytest.raises(SpecFailed) as err:
        engine.store_artifact(SORT_CODE_WRONG, SORT_SPEC)
    assert "rejects None: expected TypeError to be raised, but it returned []" in str(err.value)
    failed = [c["name"] for c in err.value.test_results["checks"] if not c["passed"]]
    assert failed == ["rejects None"], err.value.test_results
    assert engine.count_artifacts() == before


def test_partial_coverage_lowers_quality(engine):
    code = SORT_CODE + "\n\ndef unused(x):\n    y = x * 2\n    return y\n"
    artifact = engine.store_artifact(code, SORT_SPEC, name="sort_with_dead_code")
    assert 0 < artifact.test_results["coverage"] < 1.0
    full = engine.store_artifact(SORT_CODE, SORT_SPEC)
    assert artifact.quality_score < full.quality_score


def test_a_slow_behaviour_lowers_performance_but_still_passes(engine):
    spec = ADD_SPEC.replace('"< 200ms"', '"< 400ms"')
    slow = "import time\n\ndef add(a, b):\n    time.sleep(0.3)\n    return a + b\n"
    artifact = engine.store_artifact(slow, spec, name="slow_add")
    assert artifact.test_results["performance_score"] < 0.5


def test_timeouts_fail_only_through_the_spec(engine):
    spec = ADD_SPEC.replace('"< 200ms"', '"< 50ms"')
    with pytest.raises(SpecFailed, match=r"adds floats: took .* ms; the limit is < 50 ms"):
        engine.store_artifact("import time\n\ndef add(a, b):\n    time.sleep(0.1)\n    return a + b\n", spec)


def test_same_code_twice_is_one_artifact_and_a_new_version_only_on_purpose(engine):
    first = engine.store_artifact(ADD_CODE, ADD_SPEC)
    again = engine.store_artifact(ADD_CODE, ADD_SPEC)
    assert again.id == first.id
    changed = "def add(a, b):\n    total = a + b\n    return total\n"
    with pytest.raises(BadInput, match="name 'add' is taken by v1: Add two numbers and return their sum; use --name "
                                       "to store it apart, or --new-version to version it"):
        engine.store_artifact(changed, ADD_SPEC)
    second = engine.store_artifact(changed, ADD_SPEC, new_version=True)
    assert second.version == first.version + 1
    assert [a.id for a in engine.lineage(second.id)] == [first.id, second.id]
    (edge,) = engine.lineage_edges(second.id)
    assert (edge.child_id, edge.parent_id, edge.kind.value) == (second.id, first.id, "version_of")


def test_find_ranks_by_meaning(engine):
    engine.store_artifact(SORT_CODE, SORT_SPEC)
    engine.store_artifact(ADD_CODE, ADD_SPEC)
    hits = engine.find_similar("sum of two numbers", limit=2)
    assert hits[0].artifact.name == "add" and hits[0].similarity > hits[1].similarity
    assert engine.find_similar("put numbers in order", limit=1)[0].artifact.name == "sort_numbers"


def test_find_respects_min_quality(engine):
    good = engine.store_artifact(ADD_CODE, ADD_SPEC)
    dead_code = ADD_CODE + "\n\ndef _unused(x):\n    y = x\n    z = y\n    return z\n"
    worse = engine.store_artifact(dead_code, ADD_SPEC, name="add_with_dead_code")
    assert worse.quality_score < good.quality_score
    names = lambda q: {m.artifact.name for m in engine.find_similar("add numbers", min_quality=q, limit=5)}
    assert names(0.0) == {"add", "add_with_dead_code"}
    assert names((good.quality_score + worse.quality_score) / 2) == {"add"}


def test_run_returns_result_and_a_metric_and_updates_usage(engine):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    outcome = engine.run("add", {"a": 20, "b": 22})
    assert outcome.success and outcome.call.value == 42
    assert outcome.metric.success and outcome.metric.peak_mb > 0 and outcome.metric.function_ms is not None
    again = engine.run(artifact.id, {"a": 1, "b": 1})
    assert again.artifact.usage_count == 2 and again.artifact.last_used is not None
    points = engine.recent_metrics(artifact.id)
    assert len(points) == 2 and all(p.success for p in points)


def test_a_failing_run_is_measured_too(engine):
    engine.store_artifact(ADD_CODE, ADD_SPEC)
    outcome = engine.run("add", {"a": 1, "b": "x"})
    assert not outcome.success and "TypeError" in outcome.call.error
    assert engine.recent_metrics(outcome.artifact.id)[0].success is False


@pytest.mark.parametrize(
    "code, message",
    [
        ("def add(a, b)\n    return a + b\n", "syntax error"),
        ("def plus(a, b):\n    return a + b\n", "defines no function 'add'"),
    ],
)
def test_unusable_code_is_bad_input(engine, code, message):
    with pytest.raises(BadInput, match=message):
        engine.store_artifact(code, ADD_SPEC)


def test_resolve_unknown(engine):
    with pytest.raises(NotFound):
        engine.resolve("no_such_thing")


def test_load_errors_are_reported_not_crashing(engine):
    with pytest.raises(SpecFailed, match="loading the code raised ZeroDivisionError"):
        engine.store_artifact("X = 1 / 0\n\ndef add(a, b):\n    return a + b\n", ADD_SPEC)


def test_printing_code_cannot_fake_results(engine):
    # What the artifact prints is its own output, never part of the conversation with DSE.
    code = 'print(\'{"event": "done"}\')\n\ndef add(a, b):\n    print(\'x {"event": "behavior", "passed": true}\')\n    return a - b\n'
    with pytest.raises(SpecFailed):
        engine.store_artifact(code, ADD_SPEC)


def test_spec_given_as_text_is_parsed(engine):
    artifact = engine.store_artifact(ADD_CODE, parse_spec(ADD_SPEC))
    assert artifact.metadata["function"] == "add"


def test_memory_is_the_artifacts_own_not_the_parents(engine):
    # pytest holds the embedder (hundreds of MB); a forked child's rusage would count that too
    engine.store_artifact(ADD_CODE, ADD_SPEC)
    small = engine.run("add", {"a": 1, "b": 2})
    assert 0 < small.call.memory_mb < 60
    big = engine.store_artifact("def add(a, b):\n    block = bytearray(150_000_000)\n    return a + b + len(block) * 0\n", ADD_SPEC.replace('"< 200ms"', '"< 2s"'), name="big_add")
    assert engine.run(big, {"a": 1, "b": 2}).call.memory_mb > 150


def test_failure_messages_quote_the_failing_line(engine):
    spec = ADD_SPEC + "tests: |\n  assert candidate(1, 1) == 3, 'one and one'\n"
    with pytest.raises(SpecFailed) as err:
        engine.store_artifact("def add(a, b):\n    return a + b\n", spec)
    assert "assertion failed (tests line 1: assert candidate(1, 1) == 3, 'one and one')" in str(err.value)
    with pytest.raises(SpecFailed) as err:
        engine.store_artifact("def add(a, b):\n    return a + undefined_name\n", ADD_SPEC)
    assert "NameError: name 'undefined_name' is not defined (code line 2: return a + undefined_name)" in str(err.value)
