"""What `dse drift`, `dse metrics` and the Drift screen show, read from detector state and
stored events (never a scan of the points)."""

from __future__ import annotations

from typing import Any

from dse_tui.engine.errors import BadInput, NotFound
from dse_tui.store.drift import DriftRepository
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import Artifact

from .detectors import DRIFT_TABLE, DriftType
from .monitor import load_state


def table() -> list[dict[str, Any]]:
    return [
        {
            "type": DriftType(rule.type).value,
            "field": rule.field,
            "detectors": list(rule.detectors),
            "agree": rule.agree,
            "min_samples": rule.min_samples,
        }
        for rule in DRIFT_TABLE
    ]


def drift_report(drift: DriftRepository, *, limit: int = 200) -> dict[str, Any]:
    events = drift.list(limit=limit)
    watched = []
    for artifact_id, name, text in drift.all_states():
        summary = load_state(text).summary()
        watched.append({"artifact_id": artifact_id, "name": name, "summary": summary})
    return {
        "open": [e.to_dict() for e in events if e.status in ("open", "evolving")],
        "events": [e.to_dict() for e in events],
        "watched": len(watched),
        "artifacts": watched,
        "table": table(),
    }


def dismiss(drift: DriftRepository, event_id: int) -> None:
    """A person says this drift needs no evolution: its level becomes the artifact's baseline."""
    event = drift.get(event_id)
    if event is None:
        raise NotFound(f"no drift event {event_id}")
    if event.status not in ("open", "evolving"):
        raise BadInput(f"drift event {event_id} is {event.status}, not open")
    drift.set_status(event_id, "dismissed", "dismissed by the user")
    text = drift.state(event.artifact_id)
    if text:
        state = load_state(text)
        state.rebaseline(DriftType(event.type))
        drift.put_state(event.artifact_id, state.to_json(), int(state.summary().get("points", 0)))


def metrics_report(
    artifact: Artifact, metrics: MetricsRepository, drift: DriftRepository, threshold: Any
) -> dict[str, Any]:
    recent, before = metrics.last_against_before(artifact.id)
    whole = metrics.window(artifact.id)
    usage, cost = metrics.usage_and_cost(artifact.id)
    text = drift.state(artifact.id)
    return {
        "artifact_id": artifact.id,
        "name": artifact.name,
        "version": artifact.version,
        "points": metrics.count(artifact.id),
        "all": whole.to_dict(),
        "recent": recent.to_dict(),
        "before": before.to_dict(),
        "successful_runs": usage,
        "cost_per_execution_usd": cost,
        "quality_threshold": threshold.current(artifact),
        "threshold_moves": threshold.feedback.moves(artifact.id),
        "drift": load_state(text).summary() if text else None,
        "latest": [
            {
                "at": p.at.isoformat(),
                "source": p.source,
                "success": p.success,
                "function_ms": p.function_ms,
                "run_ms": p.run_ms,
                "cpu_ms": p.cpu_ms,
                "peak_mb": p.peak_mb,
                "cost_usd": p.cost_usd,
                "cache_hit": p.cache_hit,
                "tier": p.tier,
                "quality": p.quality,
                "error": p.error,
            }
            for p in metrics.latest(artifact.id, 20)
        ],
    }
