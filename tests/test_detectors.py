"""Drift detectors (telemetry.detectors): real streams in, real verdicts out."""

from __future__ import annotations

import json
import math
import random

import pytest

from dse_tui.engine.telemetry.detectors import (
    DRIFT_TABLE,
    Alert,
    ArtifactDrift,
    DriftParams,
    DriftType,
    action,
)

LATENCY_DETECTORS = {"baseline_ratio", "recent_vs_before", "page_hinkley"}


def times(seed: int, n: int, *, change: int | None = None, factor: float = 2.0, sigma: float = 0.3) -> list[float]:
    rng = random.Random(seed)
    return [
        10.0 * (factor if change is not None and i >= change else 1.0) * math.exp(sigma * rng.gauss(0, 1))
        for i in range(n)
    ]


def feed_latency(d: ArtifactDrift, values: list[float]) -> list[list[Alert]]:
    """Feed point by point; the alerts after each point."""
    out = []
    for v in values:
        d.update(function_ms=v, success=None)
        out.append(d.alerts())
    return out


def first_alert(history: list[list[Alert]], type: DriftType) -> tuple[int, Alert] | None:
    for i, alerts in enumerate(history):
        for a in alerts:
            if a.type is type:
                return i, a
    return None


def kinds(alerts: list[Alert]) -> set[DriftType]:
    return {a.type for a in alerts}


def test_the_table_has_the_four_types_with_their_fields_and_min_samples():
    by_type = {r.type: r for r in DRIFT_TABLE}
    assert set(by_type) == set(DriftType) and len(DRIFT_TABLE) == 4
    assert [t.value for t in DriftType] == ["latency", "errors", "quality", "cost"]
    lat, err, q, cost = (by_type[t] for t in DriftType)
    assert (lat.field, set(lat.detectors), lat.agree) == ("function_ms", LATENCY_DETECTORS, 2)
    assert (err.field, set(err.detectors), err.agree) == ("success", {"error_threshold", "bernoulli_cusum"}, 2)
    assert (q.field, q.detectors, q.agree, q.min_samples) == ("quality", ("quality_threshold",), 1, 10)
    assert (cost.field, cost.detectors, cost.agree) == ("cost", ("cost_ratio",), 1)
    for rule in DRIFT_TABLE:
        assert rule.min_samples >= 10 and rule.description
    # the baseline (100) must be complete before any rule that compares with it can fire
    assert min(lat.min_samples, err.min_samples, cost.min_samples) > DriftParams().baseline
    p = DriftParams()
    assert (p.latency_ratio, p.slower, p.error_margin, p.quality_threshold, p.cost_ratio) == (1.5, 0.2, 0.05, 0.9, 1.3)


@pytest.mark.parametrize("seed", range(5))
def test_a_stable_noisy_stream_never_alerts(seed):
    d = ArtifactDrift()
    history = feed_latency(d, times(seed, 2000))
    assert not any(history)
    assert d.summary()["latency"]["ready"] and not d.summary()["alerts"]


@pytest.mark.parametrize("seed", range(5))
def test_a_2x_step_is_detected_within_150_points_by_two_agreeing_detectors(seed):
    d = ArtifactDrift()
    history = feed_latency(d, times(seed, 1400, change=1000))
    assert not any(history[:1000])  # nothing before the change
    found = first_alert(history, DriftType.LATENCY)
    assert found is not None
    i, alert = found
    assert 1000 <= i <= 1150
    assert len(alert.detectors) >= 2 and set(alert.detectors) <= LATENCY_DETECTORS
    # each detector named is one that fired: replay to that point and read the votes
    replay = ArtifactDrift()
    feed_latency(replay, times(seed, 1400, change=1000)[: i + 1])
    votes = replay.votes("latency")
    assert {name for name, on in votes.items() if on} == set(alert.detectors)
    f = alert.figures
    assert f["baseline_ms"] > 0 and f["recent_ms"] > f["baseline_ms"]
    assert f["level_ratio"] > 1.5  # the level since the located change, not the half-mixed window
    assert alert.window["last"] == i + 1 and alert.window["size"] == 100  # points are counted from 1
    assert alert.window["first"] == alert.window["last"] - 99
    json.dumps(alert.to_dict())  # stored as is


def test_a_burst_of_spikes_does_not_alert():
    values = times(3, 1600)
    for i in range(1000, 1015):  # 15 consecutive runs 10x slower, then back to normal
        values[i] *= 10
    d = ArtifactDrift()
    history = feed_latency(d, values)
    assert DriftType.LATENCY not in set().union(*map(kinds, history))


def test_two_percent_spikes_do_not_alert():
    rng = random.Random(11)
    values = [v * (10 if rng.random() < 0.02 else 1) for v in times(11, 2000)]
    assert not any(feed_latency(ArtifactDrift(), values))


def test_fewer_points_than_min_samples_never_alert():
    rules = {r.type: r for r in DRIFT_TABLE}
    n = rules[DriftType.LATENCY].min_samples
    d = ArtifactDrift()
    for i in range(n - 1):  # x3 slower, failing, dearer and never passing after the first 100
        late = i >= 100
        d.update(function_ms=30.0 if late else 10.0, success=not late, cost=0.03 if late else 0.01, quality=None)
        assert d.alerts() == []
    assert not any(any(d.votes(t).values()) for t in (DriftType.LATENCY, DriftType.ERRORS, DriftType.COST))
    d.update(function_ms=30.0, success=False, cost=0.03)  # the min_samples-th point: now they may
    assert kinds(d.alerts()) == {DriftType.LATENCY, DriftType.ERRORS, DriftType.COST}

    q = ArtifactDrift()
    for _ in range(rules[DriftType.QUALITY].min_samples - 1):
        q.update(function_ms=None, success=None, quality=0.0)
        assert q.alerts() == []
    q.update(function_ms=None, success=None, quality=0.0)
    assert kinds(q.alerts()) == {DriftType.QUALITY}


def test_nan_inf_and_negative_values_are_ignored():
    valid = times(5, 400, change=300)
    dirty, clean = ArtifactDrift(), ArtifactDrift()
    for v in valid:
        for bad in (math.nan, math.inf, -math.inf, -5.0):
            dirty.update(function_ms=bad, success=None, quality=bad, cost=bad)
        dirty.update(function_ms=v, success=True, quality=1.0, cost=0.001)
        clean.update(function_ms=v, success=True, quality=1.0, cost=0.001)
    dirty.update(function_ms=None, success=None, quality=2.0, cost=None)  # a quality outside [0, 1]
    text = dirty.to_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the state"))
    assert dirty.n == 5 * len(valid) + 1 and clean.n == len(valid)
    for t in ("latency", "errors", "quality", "cost"):
        assert dirty.summary()[t] == clean.summary()[t]
    assert [(a.type, a.severity, a.detectors, a.figures) for a in dirty.alerts()] == [
        (a.type, a.severity, a.detectors, a.figures) for a in clean.alerts()
    ]
    assert kinds(clean.alerts()) == {DriftType.LATENCY}


def _mixed_point(rng: random.Random, i: int) -> dict:
    slow = 2.0 if i >= 1000 else 1.0
    return {
        "function_ms": 10 * slow * math.exp(0.3 * rng.gauss(0, 1)),
        "success": rng.random() >= (0.2 if i >= 1000 else 0.01),
        "quality": (1.0 if rng.random() < (0.4 if i >= 1000 else 0.98) else 0.0) if i % 5 == 0 else None,
        "cost": 1e-4 * slow * (1 + 0.1 * rng.random()),
    }


def test_the_json_round_trip_preserves_alerts_and_later_updates():
    rng = random.Random(21)
    d = ArtifactDrift()
    for i in range(1150):
        d.update(**_mixed_point(rng, i))
    text = d.to_json()
    back = ArtifactDrift.from_json(text)
    assert back.to_json() == text
    assert back.alerts() == d.alerts() and kinds(d.alerts()) == set(DriftType)
    assert back.summary() == d.summary()
    for i in range(1150, 3000):
        point = _mixed_point(rng, i)
        d.update(**point)
        back.update(**point)
        if i % 50 == 0:
            assert back.alerts() == d.alerts()
    assert back.to_json() == d.to_json()
    # bounded: the latency ring keeps at most 1000 values, the others a window each
    state = json.loads(d.to_json())
    assert len(state["lat"]["r"]) == 1000 and len(state["err"]["r"]) <= 100 and len(state["cost"]["r"]) <= 100
    assert len(d.to_json()) < 16_000


def test_custom_params_survive_the_round_trip():
    d = ArtifactDrift(DriftParams(latency_ratio=1.3, stat="median"))
    feed_latency(d, times(2, 300))
    back = ArtifactDrift.from_json(d.to_json())
    assert back.params == d.params and back.to_json() == d.to_json()
    with pytest.raises(ValueError):
        ArtifactDrift.from_json('{"v": 1}')
    with pytest.raises(ValueError):
        ArtifactDrift.from_json('{"v": 2, "n": 3}')


def test_rebaseline_stops_the_repeated_alert_and_a_further_step_alerts_again():
    values = times(4, 3400, change=1000)
    for i in range(2200, 3400):  # a second step: x4 the original
        values[i] *= 2
    d = ArtifactDrift()
    rebased_at = None
    for i, v in enumerate(values):
        d.update(function_ms=v, success=None)
        latency = DriftType.LATENCY in kinds(d.alerts())
        if rebased_at is None:
            assert not latency or i >= 1000
            if latency:
                assert i <= 1150
                d.rebaseline(DriftType.LATENCY)  # as a dismissal does, at the first alert
                rebased_at = i
        elif i < 2200:
            assert not latency, f"the same drift raised again at {i}"
        elif latency:
            assert i <= 2350
            break
    else:
        pytest.fail("the second step was not detected")
    assert rebased_at is not None
    assert d.summary()["latency"]["baseline_ms"] > 17  # the baseline moved to the new level (~20 ms)


@pytest.mark.parametrize("seed", range(4))
def test_an_error_rate_step_alerts_errors_and_a_stable_rate_does_not(seed):
    rng = random.Random(seed)
    stable, step = ArtifactDrift(), ArtifactDrift()
    found = None
    for i in range(2000):
        stable.update(function_ms=None, success=rng.random() >= 0.01)
        step.update(function_ms=None, success=rng.random() >= (0.15 if i >= 1000 else 0.01))
        assert not stable.alerts()
        alerts = step.alerts()
        if alerts and found is None:
            found = (i, alerts[0])
    assert found is not None
    i, alert = found
    assert 1000 <= i <= 1200 and alert.type is DriftType.ERRORS
    assert set(alert.detectors) == {"error_threshold", "bernoulli_cusum"}
    assert alert.figures["recent_error_rate"] > alert.figures["baseline_error_rate"] + 0.05
    assert 0.4 <= alert.severity


def test_cost_with_a_zero_baseline_is_skipped_and_a_50_percent_rise_alerts():
    free = ArtifactDrift()
    for i in range(600):
        free.update(function_ms=None, success=None, cost=0.0 if i < 300 else 0.01)
        assert not free.alerts()
    s = free.summary()["cost"]
    assert s["defined"] is False and s["ratio"] is None and s["votes"] == {"cost_ratio": False}

    rng = random.Random(8)
    dear = ArtifactDrift()
    found = None
    for i in range(600):
        dear.update(function_ms=None, success=None, cost=1e-4 * (1.5 if i >= 300 else 1.0) * (1 + 0.2 * rng.random()))
        alerts = dear.alerts()
        assert i >= 300 or not alerts
        if alerts and found is None:
            found = alerts[0]
    assert found is not None and found.type is DriftType.COST and found.detectors == ("cost_ratio",)
    assert found.figures["ratio"] > 1.3 and 0.3 <= found.severity <= 0.7


def test_quality_falling_below_the_threshold_alerts():
    d = ArtifactDrift()
    for _ in range(30):
        d.update(function_ms=None, success=None, quality=1.0)
    assert not d.alerts()
    alert = None
    for i in range(30):
        d.update(function_ms=None, success=None, quality=float(i % 2))  # half of the checks fail now
        alert = alert or next(iter(d.alerts()), None)
    assert alert is not None and alert.type is DriftType.QUALITY
    assert alert.figures["pass_rate"] < 0.9 and alert.severity >= 0.4
    d.rebaseline(DriftType.QUALITY)  # dismissed: this level is accepted, a further fall is not
    assert not d.alerts()
    for _ in range(30):
        d.update(function_ms=None, success=None, quality=0.0)
    assert kinds(d.alerts()) == {DriftType.QUALITY}


@pytest.mark.parametrize("seed", range(4))
def test_severity_of_a_2x_step_is_evolve_and_of_a_1_5x_step_is_schedule(seed):
    for factor, low, high in ((2.0, 0.7, 1.0), (1.5, 0.4, 0.7 - 1e-9)):
        d = ArtifactDrift()
        history = feed_latency(d, times(seed, 1200, change=1000, factor=factor, sigma=0.2))
        found = first_alert(history, DriftType.LATENCY)
        assert found is not None
        assert low <= found[1].severity <= high, (factor, found[1].figures)  # already at the first alert
        [now] = [a for a in history[-1] if a.type is DriftType.LATENCY]  # and 200 points on
        assert low <= now.severity <= high, (factor, now.figures)
        assert action(now.severity) == ("evolve" if factor == 2.0 else "schedule") == now.action


def test_action_thresholds():
    assert [action(s) for s in (0.0, 0.39, 0.4, 0.69, 0.7, 1.0)] == [
        "log",
        "log",
        "schedule",
        "schedule",
        "evolve",
        "evolve",
    ]


def test_latency_with_a_zero_baseline_is_undefined():
    d = ArtifactDrift()
    for i in range(400):
        d.update(function_ms=0.0 if i < 200 else 5.0, success=None)
        assert not d.alerts()
    assert d.summary()["latency"]["defined"] is False


def test_updates_are_cheap():
    import time

    ds = [ArtifactDrift() for _ in range(20)]
    values = times(1, 1000)
    started = time.perf_counter()
    for i in range(40_000):
        ds[i % 20].update(function_ms=values[i % 1000], success=True, cost=1e-4)
    assert time.perf_counter() - started < 4.0  # ~10 us per point here; 1M points take seconds
