"""Running an artifact once in the sandbox, measured: every run leaves a metric point, moves
the usage counters and offers its inputs to the artifact's reservoir, all queued to the
telemetry batcher (written off the run path, in one transaction per batch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dse_tui.engine.errors import BadInput, DSEError
from dse_tui.engine.events import ArtifactRan, EventBus
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs.compare import jsonable
from dse_tui.engine.specs.judge import call_function
from dse_tui.engine.specs.results import CallResult
from dse_tui.engine.telemetry.batcher import Execution, MetricsBatcher
from dse_tui.store.artifacts import ArtifactRepository
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
        artifacts: ArtifactRepository,
        telemetry: MetricsBatcher,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
        price: Callable[[float | None], float | None],
    ) -> None:
        self.artifacts = artifacts
        self.telemetry = telemetry
        self.sandbox = sandbox
        self.events = events
        self.price = price  # CPU milliseconds -> USD (telemetry.cost)

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
            cost_usd=self.price(call.cpu_ms),
            cache_hit=False,
            tier=call.sandbox,
        )
        # failing calls are kept too: they are what a reliability evolution must learn to answer
        recorded = inputs if source == "run" else None
        self.telemetry.submit(Execution(metric, count_use=True, inputs=recorded))
        self.events.publish(ArtifactRan(artifact.id, call.ok, call.execution_time_ms))
        return RunOutcome(counted(artifact, metric), call, metric)


def counted(artifact: Artifact, metric: MetricPoint) -> Artifact:
    """The artifact with this run counted, as the store will have it once the batch is flushed."""
    if not metric.success:
        return replace(artifact, failure_count=artifact.failure_count + 1, last_used=metric.at)
    avg, uses = artifact.avg_execution_time_ms, artifact.usage_count + 1
    if metric.function_ms is not None:
        avg += (metric.function_ms - avg) / uses
    return replace(artifact, usage_count=uses, avg_execution_time_ms=avg, last_used=metric.at)
