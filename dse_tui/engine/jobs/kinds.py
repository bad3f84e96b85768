"""The kinds of job DSE runs today."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dse_tui.engine.events import ConfirmationRecorded, EventBus
from dse_tui.engine.library.assess import reference_ms, verdict
from dse_tui.engine.library.indexing import Indexer
from dse_tui.engine.library.reuse import alias
from dse_tui.engine.library.verify import Verifier
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import strength
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.confirmations import ConfirmationRepository, spec_hash
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import ArtifactState

from .runner import Step


class VerifyKind:
    """Every unverified artifact run against its own spec: verified, or quarantined with why."""

    name = "verify"
    batch = 2

    def __init__(self, artifacts: ArtifactRepository, verifier: Verifier) -> None:
        self.artifacts = artifacts
        self.verifier = verifier

    def plan(self, params: dict[str, Any]) -> int | None:
        return self.artifacts.count(states=[ArtifactState.UNVERIFIED])

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        seqs = self.artifacts.seqs_in_state(ArtifactState.UNVERIFIED, after=cursor or 0, limit=self.batch)
        if not seqs:
            return Step(cursor, 0, True)
        names = []
        for artifact in self.artifacts.by_seqs(seqs).values():
            verdict = self.verifier.verify(artifact)
            names.append(f"{artifact.name} {verdict.state.value}")
        return Step(seqs[-1], len(seqs), False, ", ".join(names))


class ConfirmKind:
    """A reused artifact's confirmation: the strength of the request's spec against the code
    served, measured after the reply and recorded for the Ask screen and later reuses."""

    name = "confirm"
    batch = 1

    def __init__(
        self,
        artifacts: ArtifactRepository,
        confirmations: ConfirmationRepository,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
        strong_at: float,
    ) -> None:
        self.artifacts = artifacts
        self.confirmations = confirmations
        self.sandbox = sandbox
        self.events = events
        self.strong_at = strong_at

    def plan(self, params: dict[str, Any]) -> int | None:
        return 1

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        artifact = self.artifacts.get(params["artifact_id"])
        if artifact is None or cursor:
            return Step(cursor, 0, True)
        spec = parse_spec(params["spec"], origin="the request's spec")
        code = alias(artifact.content, artifact.function, spec.function)
        sandbox = self.sandbox()
        results = run_spec(code, spec, sandbox, coverage=False)
        if not results.all_passed:  # it no longer passes: nothing to confirm, and reuse will see that
            detail = {"error": results.failure_summary()[:500]}
            share: float | None = None
        else:
            measured = strength.measure(code, spec, sandbox, reference_ms=reference_ms(results))
            detail, share = measured.to_dict(), measured.share
        decided = verdict(share, self.strong_at)
        self.confirmations.record(params["spec"], artifact.id, share, decided, detail)
        self.events.publish(ConfirmationRecorded(artifact.id, spec_hash(params["spec"]), decided, share))
        return Step(1, 1, True, f"{artifact.name} {decided}")


class ReembedKind:
    """Every view of every artifact indexed by the embedder and view texts in use: what a
    changed model or an upgraded store lacks is filled here, while searches use what exists."""

    name = "reembed"
    batch = 32

    def __init__(self, artifacts: ArtifactRepository, indexer: Indexer) -> None:
        self.artifacts = artifacts
        self.indexer = indexer

    def plan(self, params: dict[str, Any]) -> int | None:
        self.indexer.use_models()
        return len(self.indexer.missing(limit=10**9))

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        seqs = self.indexer.missing(after=cursor or 0, limit=self.batch)
        if not seqs:
            return Step(cursor, 0, True)
        loaded = self.artifacts.by_seqs(seqs)
        order = [loaded[s] for s in seqs if s in loaded]
        prepared = self.indexer.prepare(order)  # before the write lock
        with self.indexer.db.write():
            for artifact, views in zip(order, prepared, strict=True):
                self.indexer.put(artifact.seq, views)
        return Step(seqs[-1], len(seqs), False)


class RollupKind:
    """Raw metric points older than every artifact's newest ones folded into hourly rows."""

    name = "rollup"

    def __init__(self, metrics: MetricsRepository) -> None:
        self.metrics = metrics

    def plan(self, params: dict[str, Any]) -> int | None:
        return None

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        rolled, last = self.metrics.roll_up(after_seq=cursor or 0)
        return Step(last if last is not None else cursor, rolled, last is None)
