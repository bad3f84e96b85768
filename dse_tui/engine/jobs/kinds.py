"""The kinds of job DSE runs today."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dse_tui.engine.library.verify import Verifier
from dse_tui.engine.library.views import embed_text
from dse_tui.store.artifacts import ArtifactRepository
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
