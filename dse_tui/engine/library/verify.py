"""Verification: an artifact run against its own spec in the sandbox, through the same path
that admitted it. A pass makes it verified (with the fresh proof); a failure quarantines it
with the reason, never deletes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dse_tui.engine.errors import BadInput
from dse_tui.engine.events import ArtifactStateChanged, EventBus
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs.runner import TestResults, run_spec
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.records import Artifact, ArtifactState


@dataclass
class Verdict:
    artifact: Artifact
    state: ArtifactState
    reason: str | None
    results: TestResults | None


class Verifier:
    def __init__(self, artifacts: ArtifactRepository, sandbox: Callable[[], Sandbox], events: EventBus) -> None:
        self.artifacts = artifacts
        self.sandbox = sandbox
        self.events = events

    def verify(self, artifact: Artifact) -> Verdict:
        try:
            spec = parse_spec(artifact.spec, origin=f"{artifact.name} v{artifact.version}")
        except BadInput as exc:
            return self._record(artifact, ArtifactState.QUARANTINED, f"its spec no longer parses: {exc}", None)
        results = run_spec(artifact.content, spec, self.sandbox())
        if results.ended == "interrupted":  # DSE is stopping: no verdict either way
            return Verdict(artifact, artifact.state, artifact.state_reason, results)
        if results.all_passed:
            return self._record(artifact, ArtifactState.VERIFIED, None, results)
        return self._record(
            artifact, ArtifactState.QUARANTINED, results.failure_summary() or "failed its spec", results
        )

    def _record(
        self, artifact: Artifact, state: ArtifactState, reason: str | None, results: TestResults | None
    ) -> Verdict:
        self.artifacts.set_state(
            artifact.id,
            state,
            reason,
            test_results=results.to_dict() if results and results.all_passed else None,
            quality_score=results.quality_score if results and results.all_passed else None,
        )
        artifact.state, artifact.state_reason = state, reason
        if results is not None and results.all_passed:
            artifact.test_results, artifact.quality_score = results.to_dict(), results.quality_score
        self.events.publish(ArtifactStateChanged(artifact.id, artifact.name, state.value, reason))
        return Verdict(artifact, state, reason, results)
