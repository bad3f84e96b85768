"""Drift monitoring: as each metrics batch is flushed, every artifact in it has its detectors
updated (telemetry.detectors) in the same transaction, and an alert not already open becomes
a drift event, stored with the figures and window that raised it. `dse drift` then reads
state, never the points.

A latency alert is first held against the machine: when a reference measurement of DSE's
own process has slowed too, or the pressure readings show load, stall, heat or throttling,
the machine explains it, the event is stored as `explained` and nothing is evolved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dse_tui.engine import presets
from dse_tui.engine.events import DriftRaised, EventBus
from dse_tui.store.drift import DriftRepository
from dse_tui.store.records import MetricPoint

from .detectors import Alert, ArtifactDrift, DriftType
from .reference import ReferenceClock

# Sources whose points say how the artifact behaves for its users; evolution's paired runs
# and a spec's own timing runs are measurements about candidates, not usage.
USAGE_SOURCES = ("run", "reuse", "workflow", "tool")
REFERENCE_EVERY_S = 600.0  # keep the machine's reference history fresh in long-lived processes


@dataclass(frozen=True)
class DriftSettings:
    recent: int = 100
    before: int = 900
    machine_slowdown: float = 1.3
    blame_beyond_machine: float = 1.5
    machine_stall_pct: float = 20.0
    evolve_at: float = 0.7
    schedule_at: float = 0.4

    @classmethod
    def load(cls) -> DriftSettings:
        settings = presets.living_settings(cls, "drift")
        if not 0 < settings.schedule_at <= settings.evolve_at <= 1:
            raise ValueError("drift: need 0 < schedule_at <= evolve_at <= 1")
        return settings

    def action(self, severity: float) -> str:
        if severity >= self.evolve_at:
            return "evolve"
        if severity >= self.schedule_at:
            return "schedule"
        return "log"


class DriftMonitor:
    def __init__(
        self,
        repo: DriftRepository,
        reference: ReferenceClock,
        events: EventBus,
        *,
        settings: DriftSettings | None = None,
        pressure: Callable[[], Any] | None = None,
        on_evolve: Callable[[str, int], None] | None = None,
    ) -> None:
        self.repo = repo
        self.reference = reference
        self.events = events
        self.settings = settings or DriftSettings.load()
        self.pressure = pressure  # () -> pressure Assessment (or None): read when latency drifts
        self.on_evolve = on_evolve  # (artifact id, drift event id): queue an evolution
        self.raised: list[int] = []

    def absorb(self, conn: Any, points: list[MetricPoint]) -> None:
        """The batcher's flush hook: update detectors, raise new alerts (inside its transaction)."""
        usage = [p for p in points if p.source in USAGE_SOURCES or p.quality is not None]
        if not usage:
            return
        ids = list(dict.fromkeys(p.artifact_id for p in usage))
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT id, seq, name FROM artifacts WHERE id IN ({marks})", ids).fetchall()
        seqs = {r[0]: r[1] for r in rows}
        names = {r[0]: r[2] for r in rows}
        known = self.repo.states_in(conn, seqs.values())
        states: dict[str, ArtifactDrift] = {}
        counts: dict[str, int] = {}
        for artifact_id in ids:
            states[artifact_id] = load_state(known.get(seqs[artifact_id]))
        for p in usage:
            state = states[p.artifact_id]
            timed = p.source in USAGE_SOURCES
            state.update(
                function_ms=p.function_ms if timed else None,
                success=p.success if timed else None,
                quality=p.quality,
                cost=p.cost_usd if timed else None,
            )
            counts[p.artifact_id] = counts.get(p.artifact_id, 0) + 1
        machine: dict[str, Any] | None = None
        for artifact_id, state in states.items():
            seq = seqs[artifact_id]
            open_types = self.repo.open_types_in(conn, seq)
            for alert in state.alerts():
                kind = DriftType(alert.type).value
                if kind in open_types:
                    continue
                explanation = None
                if kind in (DriftType.LATENCY.value, DriftType.COST.value):  # both follow CPU time
                    if machine is None:
                        machine = self._machine(conn)
                    explanation = self._explained(alert, machine)
                self._raise(conn, seq, artifact_id, names[artifact_id], alert, machine, explanation, state)
        if self.reference.due(conn, REFERENCE_EVERY_S):
            self.reference.sample(conn)
        self.repo.put_states_in(conn, {seqs[a]: (s.to_json(), s.summary().get("points", 0)) for a, s in states.items()})

    def _machine(self, conn: Any) -> dict[str, Any]:
        figures: dict[str, Any] = dict(self.reference.slowdown(conn))
        if self.pressure is not None:
            try:
                assessment = self.pressure()
            except Exception:  # noqa: BLE001 - a sensor failing must not stop metrics from landing
                assessment = None
            if assessment is not None:
                figures["pressure"] = assessment.level.value
                figures["pressure_reasons"] = list(assessment.reasons)
                figures["cpu_stall_pct"] = assessment.readings.psi_cpu_some10
        return figures

    def _explained(self, alert: Alert, machine: dict[str, Any]) -> str | None:
        factor = machine.get("factor")
        ratio = alert.figures.get("ratio")
        if factor is not None and factor >= self.settings.machine_slowdown:
            if not (isinstance(ratio, (int, float)) and math.isfinite(ratio)):
                return f"the machine is {factor:.2f}x slower (reference measurement)"
            if ratio / factor < self.settings.blame_beyond_machine:
                return (
                    f"the machine is {factor:.2f}x slower (reference measurement); "
                    f"{ratio:.2f}x is {ratio / factor:.2f}x beyond it"
                )
        if machine.get("pressure") == "high":
            reasons = "; ".join(machine.get("pressure_reasons") or []) or "high pressure"
            return f"the machine is under high pressure: {reasons}"
        stall = machine.get("cpu_stall_pct")
        if isinstance(stall, (int, float)) and stall >= self.settings.machine_stall_pct:
            return f"the machine is contended: tasks waited for a CPU {stall:.0f}% of the last 10 s"
        return None

    def _raise(
        self,
        conn: Any,
        seq: int,
        artifact_id: str,
        name: str,
        alert: Alert,
        machine: dict[str, Any] | None,
        explanation: str | None,
        state: ArtifactDrift,
    ) -> None:
        action = "explained" if explanation else self.settings.action(alert.severity)
        figures = dict(alert.figures)
        if machine is not None:
            figures["machine"] = machine
        event_id = self.repo.add_in(
            conn,
            seq,
            DriftType(alert.type).value,
            alert.severity,
            action,
            alert.detectors,
            figures,
            alert.window,
            status="explained" if explanation else "open",
            explanation=explanation,
        )
        if explanation:  # the machine's slowdown becomes the new normal for this artifact
            state.rebaseline(alert.type)
        self.raised.append(event_id)
        self.events.publish(
            DriftRaised(event_id, artifact_id, name, DriftType(alert.type).value, alert.severity, action)
        )
        if action == "evolve" and self.on_evolve is not None:
            self.on_evolve(artifact_id, event_id)


def load_state(text: str | None) -> ArtifactDrift:
    """The stored detector state; a fresh one where there is none or it cannot be read (an
    older state format, a damaged row): detection starts again, metrics still land."""
    if not text:
        return ArtifactDrift()
    try:
        return ArtifactDrift.from_json(text)
    except (ValueError, KeyError, TypeError):
        return ArtifactDrift()
