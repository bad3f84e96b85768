"""The kinds of job DSE runs today."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dse_tui.engine.events import ConfirmationRecorded, EventBus
from dse_tui.engine.library.assess import reference_ms, verdict
from dse_tui.engine.library.reuse import alias
from dse_tui.engine.library.verify import Verifier
from dse_tui.engine.library.views import embed_text
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import strength
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.confirmations import ConfirmationRepository, spec_hash
from dse_tui.store.db import Database
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import ArtifactState
from dse_tui.store.vectors import VectorIndex

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
    """A vector from the embedder in use for every artifact that lacks one."""

    name = "reembed"
    batch = 64

    def __init__(
        self, db: Database, artifacts: ArtifactRepository, vectors: VectorIndex, embedder: Callable[[], Any]
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.vectors = vectors
        self.embedder = embedder

    def _model(self) -> tuple[str, int]:
        embedder = self.embedder()
        return embedder.name, embedder.dim

    def plan(self, params: dict[str, Any]) -> int | None:
        return self.vectors.use_model(*self._model())

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        name, dim = self._model()
        seqs = self.vectors.missing(name, dim, after=cursor or 0, limit=self.batch)
        if not seqs:
            return Step(cursor, 0, True)
        loaded = self.artifacts.by_seqs(seqs)
        order = [s for s in seqs if s in loaded]
        vectors = self.embedder().embed([embed_text(loaded[s]) for s in order])
        with self.db.write():
            for seq, vector in zip(order, vectors, strict=True):
                self.vectors.put(seq, vector)
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
