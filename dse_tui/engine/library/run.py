"""Running an artifact once in the sandbox, measured: every run leaves a metric point, moves
the usage counters at once and offers its inputs to the artifact's reservoir."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dse_tui.engine.errors import BadInput, DSEError
from dse_tui.engine.events import ArtifactRan, EventBus
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs.compare import jsonable
from dse_tui.engine.specs.judge import call_function
from dse_tui.engine.specs.results import CallResult
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.db import Database
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import Artifact, ArtifactState, MetricPoint, utcnow


class NotRunnable(DSEError):
    """A quarantined artifact: kept, shown, never run."""


@dataclass
class RunOutcome:
    artifact: Artifact
    call: CallResult
    metric: MetricPoint

    @property
    def success(self) -> bool:
        return self.call.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_id": self.artifact.id,
            "name": self.artifact.name,
            "success": self.call.ok,
            "result": jsonable(self.call.value),
            "result_type": self.call.type,
            "result_repr": self.call.repr,
            "error": self.call.error,
            "execution_time_ms": self.call.execution_time_ms,
            "wall_ms": self.call.wall_ms,
            "cpu_ms": self.call.cpu_ms,
            "memory_mb": self.call.memory_mb,
            "stdout": self.call.stdout,
            "sandbox": self.call.sandbox,
        }


class Runner:
    def __init__(
        self,
        db: Database,
        artifacts: ArtifactRepository,
        metrics: MetricsRepository,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.metrics = metrics
        self.sandbox = sandbox
        self.events = events

    def run(self, artifact: Artifact, inputs: dict[str, Any], *, source: str = "run") -> RunOutcome:
        if not isinstance(inputs, dict):
            raise BadInput("inputs must be a JSON object of keyword arguments")
        if artifact.state == ArtifactState.QUARANTINED:
            raise NotRunnable(
                f"{artifact.name} is quarantined (it failed re-verification: "
                f"{(artifact.state_reason or '').splitlines()[0][:160]}); it is kept but not run"
            )
        call = call_function(artifact.content, artifact.function, inputs, self.sandbox())
        at = utcnow()
        metric = MetricPoint(
            artifact.id,
            at,
            source,
            call.ok,
            function_ms=call.execution_time_ms if call.ok else None,
            run_ms=call.wall_ms,
            cpu_ms=call.cpu_ms,
            peak_mb=call.memory_mb,
            error=call.error,
        )
        with self.db.write():
            self.metrics.record([metric])
            self.artifacts.count_use(artifact.id, call.ok, metric.function_ms, at)
            if call.ok and source == "run":
                self.metrics.record_inputs(artifact.id, inputs, at)
        refreshed = self.artifacts.get(artifact.id) or artifact
        self.events.publish(ArtifactRan(artifact.id, call.ok, call.execution_time_ms))
        return RunOutcome(refreshed, call, metric)
