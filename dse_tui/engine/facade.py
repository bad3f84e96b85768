"""The engine's facade and composition root: it opens one DSE home, wires the mechanisms
together and delegates to them. No rule lives here; each sub-package owns its own.

Everything a CLI command or a screen does goes through `Engine`. It never imports
Textual; progress and results leave it as plain events.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dse_tui.engine import paths
from dse_tui.engine.errors import BadInput, NotFound
from dse_tui.engine.events import EventBus, Progress
from dse_tui.engine.jobs import ConfirmKind, JobRunner, ReembedKind, RollupKind, VerifyKind
from dse_tui.engine.library.find import Finder, Match
from dse_tui.engine.library.indexing import Indexer
from dse_tui.engine.library.reuse import Reuser, ReuseSettings
from dse_tui.engine.library.run import Runner, RunOutcome
from dse_tui.engine.library.starter import StarterImport
from dse_tui.engine.library.storing import Catalog
from dse_tui.engine.library.verify import Verdict, Verifier
from dse_tui.engine.sandbox import Sandbox, select_sandbox
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec, parse_spec
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
        self.transcripts = TranscriptLog(self.db)
        self.ledger = Ledger(self.db)
        self._sandbox = sandbox
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._index_ready = False
        self.background_jobs = False  # the TUI sets it: it runs queued jobs itself, off the UI thread
        self._abandoned_closed = False

        self.indexer = Indexer(self.db, self.indexes, self.words, self._model, lambda texts: self.embedder.embed(texts))
        self.catalog = Catalog(self.db, self.artifacts, self.indexer, self._get_sandbox, self.events)
        self.finder = Finder(self.artifacts, self.indexes, self.words, self.embed, self.ensure_index)
        self.verifier = Verifier(self.artifacts, self._get_sandbox, self.events)
        self.runner = Runner(self.db, self.artifacts, self.metrics, self._get_sandbox, self.events)
        self.confirmations = ConfirmationRepository(self.db)
        self.reuser = Reuser(
            self.db,
            self.finder,
            self.verifier,
            self.artifacts,
            self.metrics,
            self._get_sandbox,
            self.confirmations,
            self._queue_confirmation,
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
        return self.metrics.latest(artifact_id, limit)

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
            settings=settings or AskSettings(),
            ladder=ladder,
            providers=providers,
            cancel=cancel,
            on_event=on_event,
        )
        return asker.run()

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

    # -- reporting -----------------------------------------------------------------------

    def doctor(self) -> dict[str, Any]:
        from dse_tui.engine.doctor import report

        return report(self.home, self)
