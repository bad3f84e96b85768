"""Reuse before generate: a similar tested artifact serves a request only if it passes the
request's own spec now, in the sandbox. Only verified artifacts are served; a candidate
still unverified is verified against its own spec first, inline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dse_tui.engine.limits import MAX_QUERY_CHARS
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec
from dse_tui.engine.specs.strength import STRONG_AT
from dse_tui.engine.telemetry.batcher import Execution
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.confirmations import ConfirmationRepository
from dse_tui.store.records import Artifact, ArtifactState, MetricPoint, utcnow

from .assess import verdict
from .find import Finder, Match
from .run import counted
from .verify import Verifier


@dataclass
class ReuseSettings:
    # on the best cosine over an artifact's views; None: presets/retrieval.yaml floors.reuse. A hit
    # must still pass the spec, so the bar can be generous; each candidate costs one sandboxed run
    min_similarity: float | None = None
    min_merit: float = 0.5  # pass rate, spec strength, measured time, robustness (quality.merit)
    candidates: int = 3
    strong_strength: float = STRONG_AT  # a confirmation at or above this share of mutants killed is strong


@dataclass
class ReuseOutcome:
    artifact: Artifact | None
    rejected: list[str] = field(default_factory=list)  # candidates that failed this spec
    verified_inline: list[str] = field(default_factory=list)  # unverified candidates checked on the way
    results: TestResults | None = None  # the request's spec run on the artifact served
    # what the pass means: strong | weak (the request's spec against the served code, measured
    # earlier), or pending (measured after the reply, by a confirm job)
    confirmation: str | None = None
    strength: float | None = None


def query_text(text: str) -> str:
    """Search text within the query limit; the embedder reads only the first few hundred
    tokens anyway, so a longer task loses nothing by the cut."""
    return text[:MAX_QUERY_CHARS]


def alias(code: str, stored_function: str, wanted: str) -> str:
    """Let a stored artifact answer a spec that names its function differently."""
    return code if stored_function == wanted else f"{code.rstrip()}\n\n{wanted} = {stored_function}\n"


class Reuser:
    def __init__(
        self,
        finder: Finder,
        verifier: Verifier,
        artifacts: ArtifactRepository,
        record: Callable[[Execution], None],
        sandbox: Callable[[], Sandbox],
        confirmations: ConfirmationRepository,
        queue_confirmation: Callable[[str, str], None],
        threshold: Callable[[Artifact], float] | None = None,
    ) -> None:
        self.finder = finder
        self.verifier = verifier
        self.artifacts = artifacts
        self.record = record  # the telemetry batcher's submit
        self.threshold = threshold  # the artifact's adaptive quality threshold (users' verdicts)
        self.sandbox = sandbox
        self.confirmations = confirmations
        self.queue_confirmation = queue_confirmation  # (spec text, artifact id): measured after the reply

    def candidates(self, task: str, spec: Spec, settings: ReuseSettings) -> list[Match]:
        # The spec's description and the task's wording are searched apart: a long task (code,
        # a paragraph) dilutes the description. Any extra candidate costs one sandboxed spec run.
        best: dict[str, Match] = {}
        servable = (ArtifactState.VERIFIED, ArtifactState.UNVERIFIED)
        for query in dict.fromkeys([query_text(spec.description), query_text(task)]):
            for match in self.finder.find_similar(
                query, min_merit=settings.min_merit, limit=settings.candidates, states=servable
            ):
                known = best.get(match.artifact.id)
                if known is None or match.score > known.score:
                    best[match.artifact.id] = match
        ranked = sorted(best.values(), key=lambda m: m.score, reverse=True)[: settings.candidates]
        floor = settings.min_similarity if settings.min_similarity is not None else self.finder.settings().reuse_floor
        return [
            m
            for m in ranked
            if m.similarity >= floor
            and m.artifact.superseded_by is None  # an evolved version serves in its place
            and (self.threshold is None or m.artifact.quality_score >= self.threshold(m.artifact))
        ]

    def try_reuse(self, task: str, spec: Spec, settings: ReuseSettings) -> ReuseOutcome:
        outcome = ReuseOutcome(None)
        for match in self.candidates(task, spec, settings):
            artifact = match.artifact
            if artifact.state == ArtifactState.UNVERIFIED:
                outcome.verified_inline.append(artifact.id)
                if self.verifier.verify(artifact).state != ArtifactState.VERIFIED:
                    continue
            started = time.perf_counter()
            results = run_spec(
                alias(artifact.content, artifact.function, spec.function), spec, self.sandbox(), coverage=False
            )
            if results.all_passed:
                point = MetricPoint(
                    artifact.id,
                    utcnow(),
                    "reuse",
                    True,
                    run_ms=(time.perf_counter() - started) * 1000,
                    cpu_ms=results.cpu_ms,
                    peak_mb=results.peak_memory_mb,
                    cache_hit=True,
                    tier="reuse",
                    quality=1.0,
                )
                self.record(Execution(point))
                outcome.artifact = counted(artifact, point)
                outcome.results = results
                outcome.confirmation, outcome.strength = self.confirmation(spec, outcome.artifact, settings)
                return outcome
            outcome.rejected.append(artifact.id)
        return outcome

    def confirmation(self, spec: Spec, artifact: Artifact, settings: ReuseSettings) -> tuple[str, float | None]:
        """What this pass means. Never measured here, on the reply path: the artifact's own
        spec has its strength stored; another spec's was measured by an earlier reuse, or
        is queued to be measured now."""
        if spec.source == artifact.spec and artifact.strength is not None:
            return verdict(artifact.strength, settings.strong_strength), artifact.strength
        known = self.confirmations.get(spec.source, artifact.id)
        if known is not None:
            return known.verdict, known.strength
        self.queue_confirmation(spec.source, artifact.id)
        return "pending", None
