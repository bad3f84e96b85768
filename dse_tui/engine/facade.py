"""The engine's facade and composition root: it opens one DSE home, wires the mechanisms
together and delegates to them. No rule lives here; each sub-package owns its own.

Everything a CLI command or a screen does goes through `Engine`. It never imports
Textual; progress and results leave it as plain events.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dse_tui.engine import paths
from dse_tui.engine.errors import BadInput, NotFound
from dse_tui.engine.events import EventBus, Notice, Progress
from dse_tui.engine.evolution.evolve import EvolutionResult, EvolutionSettings, Evolver
from dse_tui.engine.evolution.generator import Generator, LadderGenerator
from dse_tui.engine.evolution.jobs import EvolveKind
from dse_tui.engine.evolution.optimizer import OptimizeKind, Optimizer
from dse_tui.engine.jobs import ConfirmKind, JobRunner, ReembedKind, RollupKind, VerifyKind
from dse_tui.engine.library.find import Finder, Match
from dse_tui.engine.library.indexing import Indexer
from dse_tui.engine.library.reuse import Reuser, ReuseSettings
from dse_tui.engine.library.run import Runner, RunOutcome
from dse_tui.engine.library.starter import StarterImport
from dse_tui.engine.library.storing import Catalog
from dse_tui.engine.library.threshold import AdaptiveThreshold
from dse_tui.engine.library.verify import Verdict, Verifier
from dse_tui.engine.sandbox import Sandbox, select_sandbox
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec, parse_spec
from dse_tui.engine.telemetry.batcher import MetricsBatcher
from dse_tui.engine.telemetry.cost import CostSettings
from dse_tui.engine.telemetry.monitor import DriftMonitor
from dse_tui.engine.telemetry.reference import ReferenceClock
from dse_tui.store import (
    Artifact,
    ArtifactRepository,
    ArtifactState,
    Database,
    Job,
    JobRepository,
    Ledger,
    LineageEdge,
    LineageKind,
    MetricPoint,
    MetricsRepository,
    Transcript,
    TranscriptLog,
    VectorIndex,
    WordIndex,
)
from dse_tui.store.confirmations import ConfirmationRepository, spec_hash
from dse_tui.store.db import MMAP_BYTES
from dse_tui.store.drift import DriftRepository
from dse_tui.store.evolutions import EvolutionRepository
from dse_tui.store.feedback import FeedbackRepository
from dse_tui.store.vectors import VIEWS


class Engine:
    """One DSE home: its store, embedder, sandbox and the mechanisms over them."""

    def __init__(
        self,
        home: str | None = None,
        *,
        sandbox: Sandbox | None = None,
        embedder: Any | None = None,
        one_shot: bool = False,
        embedder_process: bool = False,
    ) -> None:
        """`one_shot`: a command that embeds a query or two and exits (the CLI): the embedder
        opens its model unoptimised, which is ~10x faster to open.
        `embedder_process`: run the embedder in a worker process (the TUI: its ~160 MB and
        onnxruntime's native code stay out of the app's process)."""
        self.embedder_process = embedder_process
        self.home = paths.resolve_home(home)
        self.one_shot = one_shot
        self.events = EventBus()
        # one connection manager for every repository; a long-lived engine searches in memory
        # and reads SQLite without mmap (see store.db.connect)
        self.db = Database(paths.store_path(self.home), mmap_bytes=MMAP_BYTES if one_shot else 0)
        self.artifacts = ArtifactRepository(self.db)
        # a process that searches many times keeps the binary indexes in memory (store/vectors.py)
        self.indexes = {view: VectorIndex(self.db, view, resident=not one_shot) for view in VIEWS}
        self.vectors = self.indexes["description"]
        self.words = WordIndex(self.db)
        self.metrics = MetricsRepository(self.db)
        self.drift = DriftRepository(self.db)
        self.evolutions = EvolutionRepository(self.db)
        self.feedback = FeedbackRepository(self.db)
        self.transcripts = TranscriptLog(self.db)
        self.ledger = Ledger(self.db)
        self._sandbox = sandbox
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._index_ready = False
        self.background_jobs = False  # the TUI sets it: it runs queued jobs itself, off the UI thread
        self._abandoned_closed = False
        self._pressure: Any = None

        self.cost = CostSettings.load()
        self.monitor = DriftMonitor(
            self.drift,
            ReferenceClock(DriftRepository.reference_in, DriftRepository.put_reference_in),
            self.events,
            pressure=lambda: self.pressure(log=False),  # read only when latency drifts
            on_evolve=self._queue_drift_evolution,
        )
        # every execution's metrics leave the run path here; a long-lived engine flushes them in
        # the background, a one-shot command when it closes
        self.telemetry = MetricsBatcher(
            self.db, self.metrics, self.artifacts, background=not one_shot, on_flush=[self.monitor.absorb]
        )
        # an engine dropped without close() (a one-shot command returning) still writes its
        # queued points: when it is collected, or at the latest at interpreter exit
        self._flush_on_exit = weakref.finalize(self, self.telemetry.close_unowned)
        self.auto_evolve = True  # drift with severity >= evolve_at queues an evolution job
        self.threshold = AdaptiveThreshold(self.feedback)
        self.indexer = Indexer(self.db, self.indexes, self.words, self._model, lambda texts: self.embedder.embed(texts))
        self.catalog = Catalog(self.db, self.artifacts, self.indexer, self._get_sandbox, self.events)
        self.finder = Finder(self.artifacts, self.indexes, self.words, self.embed, self.ensure_index)
        self.verifier = Verifier(self.artifacts, self._get_sandbox, self.events, self.telemetry.submit)
        self.runner = Runner(
            self.artifacts, self.telemetry, self._get_sandbox, self.events, lambda cpu_ms: self.cost.execution(cpu_ms)
        )
        self.confirmations = ConfirmationRepository(self.db)
        self.reuser = Reuser(
            self.finder,
            self.verifier,
            self.artifacts,
            self.telemetry.submit,
            self._get_sandbox,
            self.confirmations,
            self._queue_confirmation,
            self.threshold.current,
        )
        self.evolver = Evolver(
            self.artifacts, self.metrics, self.drift, self.evolutions, self.catalog, self._get_sandbox, self.events
        )
        self.generator_factory: Callable[[str, EvolutionSettings], Generator] = self._ladder_generator
        self.optimizer = Optimizer(
            self.artifacts,
            self.metrics,
            self.drift,
            self.evolutions,
            self.evolver.evolve,
            lambda artifact_id, settings: self.generator_factory(artifact_id, settings),
        )
        self.jobs = JobRunner(
            JobRepository(self.db),
            {
                "verify": VerifyKind(self.artifacts, self.verifier),
                "reembed": ReembedKind(self.artifacts, self.indexer),
                "rollup": RollupKind(self.metrics),
                "confirm": ConfirmKind(
                    self.artifacts, self.confirmations, self._get_sandbox, self.events, ReuseSettings().strong_strength
                ),
                "evolve": EvolveKind(
                    self.evolver,
                    self.evolutions,
                    lambda artifact_id, settings: self.generator_factory(artifact_id, settings),
                    EvolutionSettings.load,
                ),
                "optimize": OptimizeKind(self.optimizer, EvolutionSettings.load),
            },
            self.events,
        )

    # -- collaborators, created lazily so that opening the TUI stays fast ---------------

    @property
    def sandbox(self) -> Sandbox:
        return self._get_sandbox()

    def _get_sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = select_sandbox()
        return self._sandbox

    @property
    def embedder(self) -> Any:
        """The embedder (loaded on first embed); it never touches the store."""
        with self._embedder_lock:
            if self._embedder is None:
                if self.embedder_process:
                    from dse_tui.engine.library.embedder_process import EmbedderProcess

                    self._embedder = EmbedderProcess(paths.cache_dir(self.home), optimize=not self.one_shot)
                else:
                    from dse_tui.engine.library.embedder import get_embedder

                    self._embedder = get_embedder(paths.cache_dir(self.home), optimize=not self.one_shot)
            return self._embedder

    def embed(self, text: str) -> Any:
        return self.embedder.embed_one(text)

    def _model(self) -> tuple[str, int]:
        """(name, dim) of the embedder in use, without loading it."""
        if self._embedder is not None:
            return self._embedder.name, self._embedder.dim
        return self._default_model()

    def ensure_index(self) -> None:
        """Make every view come from the embedder and view texts in use, once per process.
        What is missing is filled by the re-index job; searches use what exists meanwhile
        (the TUI runs the job in the background, the CLI before its first search)."""
        if self._index_ready:
            return
        if self.indexer.use_models():
            self.jobs.submit("reembed", key="reembed")
            if not self.background_jobs:
                self.jobs.run_pending(kinds=["reembed"])
        self._index_ready = True

    def close(self) -> None:
        self.telemetry.close()  # a clean exit loses no metric point
        if self.embedder_process and self._embedder is not None:
            self._embedder.close()
        self.db.close()

    # -- storing -----------------------------------------------------------------------

    def test(self, code: str, spec: Spec, *, on_check: Callable | None = None) -> TestResults:
        return self.catalog.test(code, spec, on_check=on_check)

    def store_artifact(
        self,
        code: str,
        spec: Spec | str,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        provenance: dict[str, Any] | None = None,
        new_version: bool = False,
        lineage: Sequence[tuple[LineageKind, str]] = (),
        metadata: dict[str, Any] | None = None,
        on_check: Callable | None = None,
    ) -> Artifact:
        return self.catalog.store(
            code,
            spec,
            name=name,
            tags=tags,
            provenance=provenance,
            new_version=new_version,
            lineage=lineage,
            metadata=metadata,
            on_check=on_check,
        )

    def add_files(
        self,
        code_path: str,
        spec_path: str,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        new_version: bool = False,
    ) -> Artifact:
        return self.catalog.add_files(code_path, spec_path, name=name, tags=tags, new_version=new_version)

    def ensure_starter_library(self, on_progress: Callable[[Progress], None] | None = None) -> int:
        """Import the shipped starter artifacts not in the store yet (returns how many) and queue
        their verification. Two processes starting on one empty home import them once."""
        starter = StarterImport(self.db, self.artifacts, self.indexer, self.catalog, self.events)
        if not starter.missing():
            return 0
        with paths.home_lock(self.home, "starter-import"):
            done = starter.run(starter.missing(), on_progress)
        if self.artifacts.count(states=[ArtifactState.UNVERIFIED]):
            self.jobs.submit("verify", key="verify")
        return done

    @staticmethod
    def _default_model() -> tuple[str, int]:
        from dse_tui.engine.library.embedder import DIM, MODEL_NAME  # constants: nothing is loaded

        return MODEL_NAME, DIM

    # -- finding -----------------------------------------------------------------------

    def find_similar(
        self,
        description: str,
        min_quality: float = 0.0,
        limit: int = 5,
        *,
        type: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Match]:
        return self.finder.find_similar(description, min_quality, limit, type=type, tags=tags)

    def find_floor(self) -> float:
        """The best-cosine score below which nothing found is called a match."""
        return self.finder.settings().find_floor

    def resolve(self, name_or_id: str) -> Artifact:
        self.flush_metrics()  # what this process ran is counted in what it reads back
        ref = (name_or_id or "").strip()
        if not ref:
            raise BadInput("name or id is empty")
        artifact = self.artifacts.resolve(ref)
        if artifact is None:
            raise NotFound(f"no artifact named or with id '{ref}'")
        return artifact

    def list_artifacts(self, offset: int = 0, limit: int = 50, **filters: Any) -> list[Artifact]:
        return self.artifacts.list(offset=offset, limit=limit, **filters)

    def count_artifacts(self, **filters: Any) -> int:
        return self.artifacts.count(**filters)

    def lineage(self, artifact_id: str) -> list[Artifact]:
        return self.artifacts.lineage(artifact_id)

    def lineage_edges(self, artifact_id: str) -> list[LineageEdge]:
        return self.artifacts.edges(artifact_id)

    def recent_metrics(self, artifact_id: str, limit: int = 20) -> list[MetricPoint]:
        self.flush_metrics()
        return self.metrics.latest(artifact_id, limit)

    def flush_metrics(self) -> int:
        """Write the queued metric points now (readers in this process see their own runs)."""
        return self.telemetry.flush() if self.telemetry.pending() else 0

    def store_stats(self) -> dict[str, Any]:
        return {"path": str(self.db.path), **self.artifacts.stats(), **self._model_stats()}

    def _model_stats(self) -> dict[str, Any]:
        model = self.vectors.model()
        return {"embedding_model": model[0] if model else None, "embedding_dim": model[1] if model else None}

    # -- running and verifying ---------------------------------------------------------

    def run(self, ref: str | Artifact, inputs: dict[str, Any], *, source: str = "run") -> RunOutcome:
        """Call the artifact once in the sandbox; every run leaves a metric point."""
        artifact = ref if isinstance(ref, Artifact) else self.resolve(ref)
        return self.runner.run(artifact, inputs, source=source)

    def verify(self, ref: str | Artifact) -> Verdict:
        return self.verifier.verify(ref if isinstance(ref, Artifact) else self.resolve(ref))

    def run_jobs(self, stop: threading.Event | None = None) -> int:
        """Run the queued background jobs (verification, re-embedding, roll-ups, confirmations)."""
        return self.jobs.run_pending(stop)

    def _queue_confirmation(self, spec_text: str, artifact_id: str) -> None:
        key = f"confirm:{spec_hash(spec_text)[:16]}:{artifact_id}"
        self.jobs.submit("confirm", {"spec": spec_text, "artifact_id": artifact_id}, key=key)

    def confirm_pending(self, stop: threading.Event | None = None) -> int:
        """Measure the confirmations reuse queued (after its reply was given)."""
        return self.jobs.run_pending(stop, kinds=["confirm"])

    def confirmation(self, spec_text: str, artifact_id: str):
        return self.confirmations.get(spec_text, artifact_id)

    def list_jobs(self, limit: int = 20) -> list[Job]:
        return self.jobs.jobs.list(limit=limit)

    # -- generating --------------------------------------------------------------------

    def ask(
        self,
        task: str,
        spec: Spec | str,
        *,
        max_tier: str | None = None,
        budget_usd: float | None = None,
        settings: Any = None,
        ladder: Any = None,
        providers: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
        on_event: Callable | None = None,
    ):
        """Reuse a tested artifact that passes `spec`, else generate one up the model ladder."""
        from dse_tui.engine.generation.ask import Asker, AskServices, AskSettings

        if isinstance(spec, str):
            spec = parse_spec(spec)
        if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd >= 0):
            raise BadInput(f"the budget must be a number of USD >= 0, got {budget_usd}")
        self.close_abandoned_asks()
        settings = self._under_pressure(settings or AskSettings())
        services = AskServices(
            self.reuser,
            self.finder,
            self.catalog,
            self.transcripts,
            self.ledger,
            self.events,
            self.embed,
            self.db.write,
        )
        asker = Asker(
            services,
            task,
            spec,
            max_tier=max_tier,
            budget_usd=budget_usd,
            settings=settings,
            ladder=ladder,
            providers=providers,
            cancel=cancel,
            on_event=on_event,
        )
        try:
            return asker.run()
        finally:
            self.flush_metrics()  # an ask is not the hot run path: its reuse is counted at once

    def _under_pressure(self, settings: Any) -> Any:
        """The ask's settings with the pressure now and each tier's recorded latency; the
        decision is logged with its readings. Sensors that fail leave the ask unconstrained."""
        import dataclasses

        if settings.pressure is not None:
            return settings
        try:
            assessment = self.pressure(log=False)
        except (OSError, ValueError) as exc:
            self.events.publish(Notice("pressure unavailable: " + str(exc)))
            return settings
        latencies = self.transcripts.tier_latencies()
        self._pressure.decide(
            assessment,
            f"ask under {assessment.level.value}: providers allowed {', '.join(assessment.allowed_tiers)}; "
            f"latency ceiling {assessment.max_latency_ms} ms",
        )
        return dataclasses.replace(settings, pressure=assessment, tier_latency_ms=latencies)

    def close_abandoned_asks(self) -> int:
        """Asks left running by a process that is gone become 'interrupted' (once per engine)."""
        if self._abandoned_closed:
            return 0
        self._abandoned_closed = True
        return self.transcripts.close_abandoned()

    def list_transcripts(self, offset: int = 0, limit: int = 50) -> list[Transcript]:
        self.close_abandoned_asks()
        return self.transcripts.list(offset, limit)

    def count_transcripts(self) -> int:
        return self.transcripts.count()

    def transcript(self, transcript_id: str) -> Transcript | None:
        self.close_abandoned_asks()
        return self.transcripts.get(transcript_id)

    def spent_today(self) -> float:
        return self.ledger.spent_today()

    # -- the living system: drift, evolution, the batch optimizer, feedback ------------------

    def drift_report(self) -> dict[str, Any]:
        """Detector state per artifact and the drift events, read from state (no point scan)."""
        from dse_tui.engine.telemetry.report import drift_report

        self.flush_metrics()
        return drift_report(self.drift)

    def dismiss_drift(self, event_id: int) -> None:
        from dse_tui.engine.telemetry.report import dismiss

        dismiss(self.drift, event_id)

    def _queue_drift_evolution(self, artifact_id: str, event_id: int) -> None:
        if not self.auto_evolve:
            return
        if self.evolutions.list(artifact_id=artifact_id, statuses=["queued", "running"], limit=1):
            return  # one evolution of an artifact at a time; the queued one will see this drift too
        event_type = self.drift.get(event_id)
        evolution_id = self.evolutions.create(
            artifact_id, event_type.type if event_type else "latency", "drift", event_id
        )
        self.jobs.submit("evolve", {"evolution_id": evolution_id}, key=f"evolve:{artifact_id}")

    def evolve(
        self,
        ref: str | Artifact,
        *,
        drift: str | None = None,
        generator: Generator | None = None,
        settings: EvolutionSettings | None = None,
        event_id: int | None = None,
    ) -> EvolutionResult:
        """Evolve the artifact now (`dse evolve`), for its open drift or, without one, for speed."""
        artifact = ref if isinstance(ref, Artifact) else self.resolve(ref)
        if drift is None:
            open_events = self.drift.list(statuses=["open"], artifact_id=artifact.id, limit=1)
            drift, event_id = (open_events[0].type, open_events[0].id) if open_events else ("user", event_id)
        settings = settings or EvolutionSettings.load()
        evolution_id = self.evolutions.create(artifact.id, drift, "user", event_id)
        if event_id is not None:
            self.drift.set_status(event_id, "evolving")
        result = self.evolver.evolve(evolution_id, generator or self.generator_factory(artifact.id, settings), settings)
        if event_id is not None and result.status != "promoted":
            self.drift.set_status(event_id, "open")
        return result

    def _ladder_generator(self, artifact_id: str, settings: EvolutionSettings) -> Generator:
        from dse_tui.engine.generation.providers import load_ladder_config

        artifact = self.artifacts.get(artifact_id)
        allowed = None
        assessment = self.pressure(log=False)
        if assessment is not None:
            allowed = set(assessment.allowed_tiers) - {"reuse"}
        start = (artifact.provenance or {}).get("tier") if artifact else None
        return LadderGenerator(load_ladder_config(), self.ledger, start_tier=start, allowed_providers=allowed)

    def rollback(self, ref: str) -> tuple[Artifact, Artifact]:
        return self.evolver.rollback(self.resolve(ref))

    def optimize(self, *, budget_usd: float | None = None, force: bool = False, now: Any = None) -> dict[str, Any]:
        """Start (or resume) a batch optimization run and run it to its end."""
        from datetime import datetime

        now = now or datetime.now().astimezone()
        budget = self.optimizer.settings.daily_budget_usd if budget_usd is None else budget_usd
        if not (math.isfinite(budget) and budget >= 0):
            raise BadInput(f"the budget must be a number of USD >= 0, got {budget}")
        refusal = self.optimizer.refusal(force, now)
        if refusal:
            return {"ran": False, "why": refusal}
        self.flush_metrics()
        resumed = [
            j for j in self.jobs.jobs.list(limit=50) if j.kind == "optimize" and j.state in ("queued", "running")
        ]
        if resumed:
            job = resumed[0]
        else:
            run_id = self.evolutions.start_run(budget, force)
            ranked = self.optimizer.ranked()
            self.evolutions.update_run(run_id, 0.0, {"ranked": ranked, "results": []}, finished=False)
            job = self.jobs.submit(
                "optimize", {"run_id": run_id, "budget_usd": budget, "ranked": ranked}, key="optimize"
            )
        self.jobs.run_pending(kinds=["optimize"])
        run = self.evolutions.run(int(job.params["run_id"])) or {}
        return {"ran": True, "resumed": bool(resumed), **run}

    def metrics_report(self, ref: str) -> dict[str, Any]:
        from dse_tui.engine.telemetry.report import metrics_report

        artifact = self.resolve(ref)
        return metrics_report(artifact, self.metrics, self.drift, self.threshold)

    def judge_output(self, ref: str, accepted: bool) -> dict[str, Any]:
        """A user's accept or reject of an artifact's output; moves its quality threshold."""
        return self.threshold.judge(self.resolve(ref), accepted)

    def pressure(self, *, urgency: str | None = None, override: str | None = None, log: bool = True) -> Any:
        """The pressure assessment now (readings, level and why, tiers allowed)."""
        from dse_tui.engine.pressure.service import PressureService

        if self._pressure is None:
            self._pressure = PressureService(self.db, one_shot=self.one_shot)
        return self._pressure.assess(urgency=urgency, override=override, log=log)

    # -- reporting -----------------------------------------------------------------------

    def doctor(self) -> dict[str, Any]:
        from dse_tui.engine.doctor import report

        return report(self.home, self)
