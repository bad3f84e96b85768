"""Auto-evolution promotes only on measured evidence. Each way a candidate could get
promoted without being better is kept here as a candidate that tries it."""

import threading
import time
from datetime import timedelta

import pytest

from dse_tui.engine.evolution.evolve import EvolutionSettings
from dse_tui.engine.evolution.generator import Generated
from dse_tui.engine.facade import Engine
from dse_tui.engine.telemetry.batcher import Execution
from dse_tui.store.records import LineageKind, MetricPoint, utcnow

SPEC = """\
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
  - behavior: duplicate at the end
    given: {items: [9, 8, 7, 6, 8]}
    then: {result_equals: true}
    held_out: true
"""

SLOW = """\
def has_duplicate(items):
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if items[i] == items[j]:
                return True
    return False
"""

FAST = "def has_duplicate(items):\n    return len(set(items)) != len(items)\n"
# passes every visible behaviour, fails the held-out ones: written to the examples
ADJACENT_ONLY = "def has_duplicate(items):\n    return any(a == b for a, b in zip(items, items[1:]))\n"
# passes the whole spec (short lists) and is fast, but differs on long recorded inputs
SHORTCUT = "def has_duplicate(items):\n    if len(items) > 100:\n        return False\n    return len(set(items)) != len(items)\n"
# correct and not faster: the same algorithm written again
SAME_SPEED = SLOW.replace("items[i] == items[j]", "items[j] == items[i]")

WEAK_SPEC = """\
function: has_duplicate
description: Tell whether a list holds the same value twice
behaviors:
  - behavior: handles empty list
    given: {items: []}
    then: {result_equals: false}
"""

QUICK = EvolutionSettings(rounds=20, min_rounds=20, attempts=1, timeout_s=120, alpha=0.01, min_gain=0.05)


class Offer:
    """A generator offering fixed candidates, one per attempt; records what it was shown."""

    def __init__(self, *codes, cost=0.0):
        self.codes = list(codes)
        self.cost = cost
        self.prompts = []

    def generate(self, messages, *, attempt, stronger, cancel, budget_usd):
        self.prompts.append("\n".join(m.content for m in messages))
        return Generated(f"```python\n{self.codes[min(attempt, len(self.codes) - 1)]}```", self.cost, "scripted")


class NeverAnswers:
    def __init__(self):
        self.release = threading.Event()

    def generate(self, messages, *, attempt, stronger, cancel, budget_usd):
        self.release.wait(60)
        raise RuntimeError("released")


def _slow_artifact(engine, spec=SPEC):
    artifact = engine.store_artifact(SLOW, spec, name="has_duplicate")
    long_distinct = {"items": list(range(300))}
    long_dup = {"items": list(range(300)) + [150]}
    for inputs in (long_distinct, long_dup, long_distinct, {"items": list(range(250))}):
        assert engine.run(artifact, inputs).success
    engine.flush_metrics()
    assert len(engine.metrics.recorded_inputs(artifact.id)) == 4
    return engine.resolve(artifact.id)


def _step_up(engine, artifact, before_ms=1.0, after_ms=2.0, n_before=300, n_after=150):
    """Usage points with a latency step, as runs would leave them (clock moves forward)."""
    start = utcnow() - timedelta(hours=1)
    for i in range(n_before + n_after):
        ms = (before_ms if i < n_before else after_ms) * (1 + 0.03 * ((i * 7919) % 11 - 5) / 5)
        point = MetricPoint(artifact.id, start + timedelta(seconds=i), "run", True, function_ms=ms, cpu_ms=ms)
        engine.telemetry.submit(Execution(point))
    engine.flush_metrics()


def test_a_latency_step_is_detected_evolved_promoted_and_rolled_back(engine):
    engine.auto_evolve = False  # evolved by hand below, to watch each step
    artifact = _slow_artifact(engine)
    _step_up(engine, artifact)
    report = engine.drift_report()
    [alert] = [e for e in report["open"] if e["artifact_id"] == artifact.id]
    assert alert["type"] == "latency" and alert["action"] == "evolve" and alert["severity"] >= 0.7
    assert len(alert["detectors"]) >= 2
    assert alert["window"]  # the points that raised it are named
    offer = Offer(FAST)
    result = engine.evolve(artifact.id, generator=offer, settings=QUICK)
    assert result.status == "promoted", result.reason
    paired = result.evidence["attempts"][0]["paired"]
    floor = result.evidence["noise_floor"]["gap"]
    assert paired["gain"] > floor + QUICK.min_gain and paired["p"] < QUICK.alpha
    v2 = result.candidate
    assert v2.version == 2 and v2.name == "has_duplicate"
    assert any(e.kind == LineageKind.EVOLVED_FROM and e.parent_id == artifact.id for e in engine.lineage_edges(v2.id))
    assert engine.resolve("has_duplicate").id == v2.id  # the name now serves v2
    assert engine.artifacts.get(artifact.id).superseded_by == v2.id  # v1 kept
    assert engine.drift.get(alert["id"]).status == "resolved"
    # the prompt carried the incumbent's code and figures, never a held-out behaviour
    assert "for j in range" in offer.prompts[0] and "recent mean" in offer.prompts[0]
    assert "[5, 1, 2, 3, 4, 5]" not in offer.prompts[0] and "duplicate far apart" not in offer.prompts[0]
    stored = engine.evolutions.get(result.evolution_id)
    assert stored.status == "promoted" and stored.candidate_id == v2.id and stored.evidence["noise_floor"]
    restored, rolled = engine.rollback("has_duplicate")
    assert restored.id == artifact.id and rolled.id == v2.id
    assert engine.resolve("has_duplicate").id == artifact.id
    assert engine.evolutions.get(result.evolution_id).status == "rolled_back"


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        (ADJACENT_ONLY, "held-out"),
        (SHORTCUT, "differs from the incumbent on"),
        (SAME_SPEED, "not faster beyond the noise floor"),
    ],
    ids=["fails-held-out", "differs-on-recorded-input", "not-faster"],
)
def test_candidates_that_are_not_better_are_rejected_with_the_reason(engine, candidate, why):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    result = engine.evolve(artifact.id, drift="latency", generator=Offer(candidate), settings=QUICK)
    assert result.status == "rejected" and why in result.reason, result.reason
    assert engine.resolve("has_duplicate").id == artifact.id  # nothing changed hands
    assert engine.count_artifacts() == 1
    stored = engine.evolutions.get(result.evolution_id)
    assert stored.status == "rejected" and why in stored.reason


def test_held_out_failures_are_never_described_to_the_next_attempt(engine):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    offer = Offer(ADJACENT_ONLY, FAST)
    result = engine.evolve(
        artifact.id, drift="latency", generator=offer, settings=EvolutionSettings(**{**QUICK.__dict__, "attempts": 2})
    )
    assert result.status == "promoted"
    assert "held-out behaviour" in offer.prompts[1]
    assert "9, 8, 7, 6, 8" not in offer.prompts[1] and "duplicate at the end" not in offer.prompts[1]


def test_a_weak_spec_stops_evolution_before_any_model_is_asked(engine):
    engine.auto_evolve = False
    artifact = engine.store_artifact(SLOW, WEAK_SPEC, name="has_duplicate")
    assert artifact.strength is not None and artifact.strength < QUICK.strong_strength
    offer = Offer(FAST)
    result = engine.evolve(artifact.id, generator=offer, settings=QUICK)
    assert result.status == "rejected" and "the spec is weak" in result.reason and "strengthen" in result.reason
    assert offer.prompts == []


def test_an_evolution_that_never_gets_an_answer_times_out(engine):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    hang = NeverAnswers()
    started = time.monotonic()
    settings = EvolutionSettings(**{**QUICK.__dict__, "timeout_s": 3.0})
    result = engine.evolve(artifact.id, drift="errors", generator=hang, settings=settings)
    took = time.monotonic() - started
    hang.release.set()
    assert result.status == "timeout" and "timeout" in result.reason
    assert took < 10, took
    assert engine.evolutions.get(result.evolution_id).status == "timeout"


def test_the_evolution_queue_survives_a_restart(tmp_home, embedder):
    first = Engine(tmp_home, embedder=embedder)
    artifact = _slow_artifact(first)
    evolution_id = first.evolutions.create(artifact.id, "latency", "drift")
    first.jobs.submit("evolve", {"evolution_id": evolution_id}, key=f"evolve:{artifact.id}")
    first.close()  # DSE stops before the job ran

    second = Engine(tmp_home, embedder=embedder)
    try:
        second.generator_factory = lambda artifact_id, settings: Offer(FAST)
        assert second.jobs.run_pending(kinds=["evolve"]) == 1
        done = second.evolutions.get(evolution_id)
        assert done.status == "promoted", done.reason
        assert second.resolve("has_duplicate").version == 2
    finally:
        second.close()


def test_a_severe_drift_queues_an_evolution_job_by_itself(engine):
    artifact = _slow_artifact(engine)
    _step_up(engine, artifact)
    queued = [j for j in engine.list_jobs() if j.kind == "evolve"]
    assert len(queued) == 1 and queued[0].state == "queued"
    evolution = engine.evolutions.get(queued[0].params["evolution_id"])
    assert evolution.trigger == "drift" and evolution.type == "latency" and evolution.drift_event


def test_a_machine_wide_slowdown_blames_no_artifact(engine):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    clock = engine.monitor.reference
    # a reference history measured on a fast machine, and now everything is twice as slow
    with engine.db.write() as conn:
        for _ in range(5):
            clock.sample(conn)
    normal = clock.measure()
    clock.measure = lambda: normal * 2.2
    _step_up(engine, artifact)
    events = engine.drift.list(artifact_id=artifact.id)
    assert [e.status for e in events] == ["explained"], [e.to_dict() for e in events]
    assert "machine" in events[0].explanation
    assert not [j for j in engine.list_jobs() if j.kind == "evolve"]
