"""Verification: an artifact run against its own spec in the sandbox, through the same path
that admitted it. A pass makes it verified (with the fresh proof); a failure quarantines it
with the reason, never deletes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dse_tui.engine.errors import BadInput
from dse_tui.engine.events import ArtifactStateChanged, EventBus
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import quality
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec, parse_spec
from dse_tui.engine.telemetry.batcher import Execution
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.records import Artifact, ArtifactState, MetricPoint, utcnow

from .assess import assess


@dataclass
class Verdict:
    artifact: Artifact
    state: ArtifactState
    reason: str | None
    results: TestResults | None


class Verifier:
    def __init__(
        self,
        artifacts: ArtifactRepository,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
        record: Callable[[Execution], None] | None = None,
    ) -> None:
        self.artifacts = artifacts
        self.sandbox = sandbox
        self.events = events
        self.record = record  # the telemetry batcher's submit: each re-verification is a quality point

    def verify(self, artifact: Artifact) -> Verdict:
        try:
            spec = parse_spec(artifact.spec, origin=f"{artifact.name} v{artifact.version}")
        except BadInput as exc:
            return self._record(artifact, ArtifactState.QUARANTINED, f"its spec no longer parses: {exc}", None)
        results = run_spec(artifact.content, spec, self.sandbox())
        if results.ended == "interrupted":  # DSE is stopping: no verdict either way
            return Verdict(artifact, artifact.state, artifact.state_reason, results)
        if self.record is not None and results.checks:
            point = MetricPoint(
                artifact.id,
                utcnow(),
                "spec",
                results.all_passed,
                run_ms=results.wall_ms,
                cpu_ms=results.cpu_ms,
                peak_mb=results.peak_memory_mb,
                quality=results.passed / len(results.checks),
            )
            self.record(Execution(point, count_use=False))
        if results.all_passed:
            return self._record(artifact, ArtifactState.VERIFIED, None, results, spec)
        return self._record(
            artifact, ArtifactState.QUARANTINED, results.failure_summary() or "failed its spec", results
        )

    def _record(
        self,
        artifact: Artifact,
        state: ArtifactState,
        reason: str | None,
        results: TestResults | None,
        spec: Spec | None = None,
    ) -> Verdict:
        proof = merit = None
        if results is not None and results.all_passed and spec is not None:
            proof = results.to_dict()
            known = artifact.test_results.get("strength")
            if artifact.strength is not None and known:  # the code and spec are unchanged: so is it
                proof["strength"], share = known, artifact.strength
                merit = quality.merit(proof, share)
            else:
                proof["strength"], share, merit = assess(artifact.content, spec, results, self.sandbox())
            artifact.test_results, artifact.quality_score = proof, results.quality_score
            artifact.strength, artifact.merit = share, merit
        self.artifacts.set_state(
            artifact.id,
            state,
            reason,
            test_results=proof,
            quality_score=results.quality_score if proof is not None and results is not None else None,
            strength=artifact.strength if proof is not None else None,
            merit=merit,
        )
        artifact.state, artifact.state_reason = state, reason
        self.events.publish(ArtifactStateChanged(artifact.id, artifact.name, state.value, reason))
        return Verdict(artifact, state, reason, results)
