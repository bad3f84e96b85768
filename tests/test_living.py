"""The living system around evolution: metrics batching, the batch optimizer and its budget,
value and ROI, the adaptive threshold, pressure in the ask path, and their CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from helpers import ADD_CODE, ADD_SPEC
from test_ask import ladder, tier
from test_cli import dse
from test_evolution import FAST, QUICK, Offer, _slow_artifact, _step_up

from dse_tui.engine.evolution import value as values
from dse_tui.engine.evolution.evolve import EvolutionSettings
from dse_tui.engine.evolution.optimizer import OptimizerSettings
from dse_tui.engine.facade import Engine
from dse_tui.engine.generation.providers import ScriptedProvider
from dse_tui.engine.telemetry.batcher import Execution, MetricsBatcher
from dse_tui.store.errors import StoreFull
from dse_tui.store.records import MetricPoint, utcnow

# -- metrics batching -------------------------------------------------------------------------


def test_runs_are_batched_and_a_clean_close_loses_none(tmp_home, embedder):
    engine = Engine(tmp_home, embedder=embedder)
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    engine.telemetry.interval_s = 3600  # nothing flushes by itself during the test
    for i in range(5):
        assert engine.run(artifact, {"a": i, "b": 1}).success
    assert engine.telemetry.pending() == 5
    assert engine.metrics.count(artifact.id) == 0  # not written on the run path
    engine.close()
    again = Engine(tmp_home, embedder=embedder)
    try:
        assert again.metrics.count(artifact.id) == 5
        stored = again.artifacts.get(artifact.id)
        assert stored.usage_count == 5 and len(again.metrics.recorded_inputs(artifact.id)) == 5
        point = again.metrics.latest(artifact.id, 1)[0]
        assert point.tier and point.cache_hit is False and point.cpu_ms is not None
    finally:
        again.close()


def test_a_full_queue_flushes_on_the_submitting_thread_and_drops_nothing(engine):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    batcher = MetricsBatcher(engine.db, engine.metrics, engine.artifacts, batch=4, capacity=8, background=False)
    for i in range(20):
        batcher.submit(Execution(MetricPoint(artifact.id, utcnow(), "run", True, function_ms=1.0 + i)))
    assert batcher.pending() < 8  # back-pressure flushed whole batches
    batcher.close()
    assert engine.metrics.count(artifact.id) == 20


def test_a_failed_flush_keeps_the_batch_for_the_next(engine, monkeypatch):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    batcher = MetricsBatcher(engine.db, engine.metrics, engine.artifacts, background=False)
    batcher.submit(Execution(MetricPoint(artifact.id, utcnow(), "run", True, function_ms=1.0)))
    real = engine.metrics.record
    def full(points):
        raise StoreFull("disk full", "dse.db")

    monkeypatch.setattr(engine.metrics, "record", full)
    with pytest.raises(StoreFull):
        batcher.flush()
    assert batcher.pending() == 1
    monkeypatch.setattr(engine.metrics, "record", real)
    assert batcher.flush() == 1 and engine.metrics.count(artifact.id) == 1


def test_points_of_an_artifact_deleted_before_the_flush_are_dropped_alone(engine):
    keep = engine.store_artifact(ADD_CODE, ADD_SPEC)
    gone = engine.store_artifact(FAST, QUICK_SPEC, name="gone")
    engine.telemetry.interval_s = 3600
    engine.run(keep, {"a": 1, "b": 2})
    engine.run(gone, {"items": [1, 2]})
    engine.artifacts.delete(gone.id)
    engine.flush_metrics()
    assert engine.metrics.count(keep.id) == 1


QUICK_SPEC = """\
function: has_duplicate
description: Tell whether a list holds a value twice
behaviors:
  - behavior: distinct
    given: {items: [1, 2]}
    then: {result_equals: false}
"""

# -- the batch optimizer ------------------------------------------------------------------------


def _drifting(engine):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    _step_up(engine, artifact)
    # price the runs so that value is defined: 1 ms of CPU per run at $1 per CPU-second
    with engine.db.write() as conn:
        conn.execute("UPDATE points SET cost_usd = 0.001 WHERE artifact = ?", (artifact.seq,))
    return artifact


class Priced(Offer):
    """Offers FAST at a price; refuses a call the budget cannot pay, as the ladder does."""

    def generate(self, messages, *, attempt, stronger, cancel, budget_usd):
        from dse_tui.engine.evolution.generator import GenerationRefused

        if self.cost > budget_usd:
            raise GenerationRefused(f"budget: ${budget_usd:.4f} left, a call costs ${self.cost}")
        return super().generate(messages, attempt=attempt, stronger=stronger, cancel=cancel, budget_usd=budget_usd)


def test_the_optimizer_does_nothing_outside_its_window_unless_forced(engine):
    artifact = _drifting(engine)
    engine.optimizer.settings = OptimizerSettings("22:00-06:00", 1.0, 20)
    noon = datetime(2026, 12, 2, 12, 0).astimezone()
    report = engine.optimize(force=False, now=noon)
    assert not report["ran"] and "outside the optimization window" in report["why"]
    assert engine.evolutions.list() == []
    offer = Priced(FAST, cost=0.01)
    engine.generator_factory = lambda artifact_id, settings: offer
    report = engine.optimize(force=True, now=noon, budget_usd=0.05)
    assert report["ran"]
    [result] = report["summary"]["results"]
    assert result["name"] == artifact.name and result["status"] == "promoted", result
    attempts = EvolutionSettings.load().attempts  # a speed-up is sought with every attempt the budget allows
    assert result["cost_usd"] == pytest.approx(0.01 * attempts)
    # ROI from the recorded cost per execution and the measured gain, never an assumed 50%
    assert result["savings_usd"] > 0 and result["roi"] is not None
    usage, cost = result["usage"], result["cost_per_execution"]
    assert result["savings_usd"] < usage * cost  # a real gain is below 100%
    assert report["spent_usd"] == pytest.approx(0.01 * attempts) and report["spent_usd"] <= report["budget_usd"]


def test_the_optimizer_never_spends_beyond_its_budget(engine):
    _drifting(engine)
    offer = Priced(FAST, cost=0.30)
    engine.generator_factory = lambda artifact_id, settings: offer
    report = engine.optimize(force=True, budget_usd=0.25)
    [result] = report["summary"]["results"]
    assert result["status"] == "failed" and "budget" in result["why"]
    assert report["spent_usd"] == 0.0
    assert offer.prompts == []  # the call was never made


def test_a_killed_optimizer_run_resumes_where_it_stopped(engine):
    _drifting(engine)
    offer = Offer(FAST)
    engine.generator_factory = lambda artifact_id, settings: offer
    run_id = engine.evolutions.start_run(1.0, True)
    ranked = engine.optimizer.ranked()
    engine.evolutions.update_run(run_id, 0.0, {"ranked": ranked, "results": []}, finished=False)
    job = engine.jobs.submit("optimize", {"run_id": run_id, "budget_usd": 1.0, "ranked": ranked}, key="optimize")
    claimed = engine.jobs.jobs.claim(99999999, ("optimize",))  # a process that died holding it
    assert claimed.id == job.id
    report = engine.optimize(force=True)
    assert report["resumed"] and report["id"] == run_id
    assert [r["status"] for r in report["summary"]["results"]] == ["promoted"]


def test_value_is_undefined_without_a_price_and_roi_without_spend():
    assert values.value(100, 0.5, None) is None
    assert values.value(100, 0.5, 0.02) == pytest.approx(1.0)
    assert values.roi(100, 0.05, 0.5, 0.0)["roi"] is None
    assert values.roi(100, 0.05, 0.5, 0.5)["roi"] == pytest.approx((100 * 0.025 - 0.5) / 0.5)
    assert values.roi(100, None, 0.5, 0.5)["savings_usd"] is None


# -- the adaptive threshold ------------------------------------------------------------------------


def test_the_threshold_moves_on_verdicts_as_the_paper_says(engine):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    assert artifact.quality_score > 0.85  # well above the initial 0.75
    outs = [engine.judge_output(artifact.id, True) for _ in range(5)]
    assert not any(o["moved"] for o in outs[:4])  # fewer verdicts than min_feedback
    assert outs[4]["moved"] and outs[4]["threshold"] == pytest.approx(artifact.quality_score - 0.05, abs=1e-4)
    lowered = outs[4]["threshold"]
    out = engine.judge_output(artifact.id, False)  # 5 of 6 accepted: under 85%
    assert out["moved"] and out["threshold"] == pytest.approx(min(1.0, lowered + 0.05), abs=1e-4)
    moves = engine.feedback.moves(artifact.id)
    assert len(moves) == 2 and "rejected too often" in moves[0]["cause"] and "acceptance 100%" in moves[1]["cause"]


def test_reuse_skips_an_artifact_below_its_threshold(engine):
    dead_code = ADD_CODE + "\n\ndef unused(x):\n    y = x * 2\n    return y\n"  # coverage < 1: quality < 1
    artifact = engine.store_artifact(dead_code, ADD_SPEC)
    assert artifact.quality_score < 0.99
    engine.feedback.move(artifact.id, 0.75, 0.99, "test: raised by hand")
    fast = ScriptedProvider([f"```python\n{ADD_CODE}```"])
    result = engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert result.outcome == "generated"  # not reused: its quality is under its threshold


# -- pressure in the ask path ------------------------------------------------------------------------


def test_under_high_pressure_only_reuse_and_the_embedded_tier_may_run(engine, monkeypatch):
    monkeypatch.setenv("DSE_PRESSURE", "high")
    fast = ScriptedProvider([f"```python\n{ADD_CODE}```"])
    result = engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast})
    assert result.outcome == "failed" and fast.calls == []
    assert any("not allowed under high pressure" in s["reason"] for s in result.skipped)
    logged = engine._pressure.log.latest(1)[0]
    assert logged["level"] == "high" and "ask under high" in logged["decision"] and logged["readings"]["readings"]
    monkeypatch.setenv("DSE_PRESSURE", "medium")
    assert engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast}).outcome == "generated"
    # and reuse still serves under high pressure
    monkeypatch.setenv("DSE_PRESSURE", "high")
    assert engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(tier("fast")), providers={"fast": fast}).outcome == "reused"


def test_the_latency_ceiling_refuses_a_tier_recorded_as_slow(engine, monkeypatch):
    monkeypatch.setenv("DSE_PRESSURE", "high")  # embedded may run, under a 15 s ceiling
    monkeypatch.setattr(engine.transcripts, "tier_latencies", lambda: {"fast": 60_000.0})
    fast = ScriptedProvider([f"```python\n{ADD_CODE}```"])
    embedded = replace(tier("fast"), provider="embedded")  # the kind pressure judges; answered by the script
    result = engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(embedded), providers={"fast": fast})
    assert result.outcome == "failed" and fast.calls == []
    assert any("predicted 60.0 s over the 15 s ceiling" in s["reason"] for s in result.skipped)
    monkeypatch.setattr(engine.transcripts, "tier_latencies", lambda: {"fast": 2_000.0})
    assert engine.ask("Add two numbers", ADD_SPEC, ladder=ladder(embedded), providers={"fast": fast}).outcome == "generated"


# -- the CLI -------------------------------------------------------------------------------------------


def test_cli_metrics_accept_reject_pressure_and_drift(starter_home):
    run = dse(starter_home, "run", "sort_list", "--input", '{"items": [3, 1, 2]}')
    assert run.returncode == 0, run.stderr
    metrics = dse(starter_home, "metrics", "sort_list", "--json")
    assert metrics.returncode == 0, metrics.stderr
    data = json.loads(metrics.stdout)
    assert data["name"] == "sort_list" and data["points"] >= 1 and data["latest"][-1]["source"] == "run"
    accepted = json.loads(dse(starter_home, "accept", "sort_list", "--json").stdout)
    assert accepted["accepted"] is True and accepted["verdicts"] == 1
    rejected = dse(starter_home, "reject", "sort_list")
    assert rejected.returncode == 0 and "rejected; threshold" in rejected.stdout
    pressure = json.loads(dse(starter_home, "pressure", "--json").stdout)
    assert pressure["level"] == "medium" and "readings" in pressure  # DSE_PRESSURE=medium in the suite
    drift = json.loads(dse(starter_home, "drift", "--json").stdout)
    assert drift["open"] == [] and {row["type"] for row in drift["table"]} == {"latency", "errors", "quality", "cost"}
    bad = dse(starter_home, "evolve", "no_such_thing")
    assert bad.returncode == 1 and "no artifact" in bad.stderr
    weak = dse(starter_home, "rollback", "sort_list")
    assert weak.returncode == 2 and "was not made by evolution" in weak.stderr
    outside = dse(starter_home, "optimize", "--batch", "--budget", "-1")
    assert outside.returncode == 2 and "budget" in outside.stderr


def test_the_optimizer_window_is_read_from_config_and_checked(tmp_path, monkeypatch):
    bad = tmp_path / "living.yaml"
    bad.write_text("optimizer:\n  window: '25:00-06:00'\n")
    monkeypatch.setenv("DSE_LIVING_FILE", str(bad))
    with pytest.raises(Exception, match="22:00-06:00"):
        OptimizerSettings.load()
    bad.write_text("optimizer:\n  windw: '22:00-06:00'\n")
    with pytest.raises(ValueError, match="windw"):
        OptimizerSettings.load()


def test_a_run_after_midnight_counts_against_the_new_day(engine):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    evolution = engine.evolutions.create(artifact.id, "latency", "optimizer")
    engine.evolutions.finish(evolution, "rejected", "x", evidence={}, cost_usd=0.4)
    now = datetime.now().astimezone()
    assert engine.optimizer.budget_left(1.0, 0.0, now) == pytest.approx(min(1.0, engine.optimizer.settings.daily_budget_usd - 0.4))
    tomorrow = now + timedelta(days=1)
    assert engine.optimizer.budget_left(1.0, 0.0, tomorrow.replace(hour=0, minute=5)) == pytest.approx(
        min(1.0, engine.optimizer.settings.daily_budget_usd)
    )


def test_the_ladder_generator_checks_tiers_once_and_never_calls_past_the_budget(engine):
    import threading

    from dse_tui.engine.evolution.generator import GenerationRefused, LadderGenerator
    from dse_tui.engine.generation.providers import Message

    class Counting(ScriptedProvider):
        checks = 0

        def available(self):
            Counting.checks += 1
            return super().available()

    free = Counting([f"```python\n{ADD_CODE}```"] * 3)
    paid = Counting([f"```python\n{ADD_CODE}```"] * 3, name="paid")
    ladder_ = ladder(tier("free"), tier("paid", price_in=1000.0, price_out=1000.0))
    generator = LadderGenerator(ladder_, engine.ledger, providers={"free": free, "paid": paid})
    messages = [Message("user", "x" * 400)]
    stop = threading.Event()
    assert generator.generate(messages, attempt=0, stronger=False, cancel=stop, budget_usd=0.0).tier == "free"
    with pytest.raises(GenerationRefused, match="budget"):  # attempt 1 climbs to the paid tier: $0 left
        generator.generate(messages, attempt=1, stronger=False, cancel=stop, budget_usd=0.0)
    assert paid.calls == [] and Counting.checks == 2  # each tier's availability asked once
