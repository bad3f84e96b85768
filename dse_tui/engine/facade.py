"""The engine facade: store tested code, find it by meaning, run it.

Everything a CLI command or a screen does goes through `Engine`. It never
imports Textual; progress and results leave it as plain events.
"""

from __future__ import annotations

import ast
import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from dse_tui.engine import paths, shutdown
from dse_tui.engine.errors import BadInput, NotFound, SpecFailed
from dse_tui.engine.limits import MAX_CODE_BYTES, MAX_NAME_CHARS, MAX_QUERY_CHARS, MAX_TAGS
from dse_tui.engine.validation import check_name, check_text
from dse_tui.engine.events import ArtifactRan, ArtifactStored, CheckFinished, EventBus, Progress
from dse_tui.engine.presets import starter_library
from dse_tui.engine.sandbox import Sandbox, select_sandbox
from dse_tui.engine.specs.spec import Spec, load_spec_file, parse_spec
from dse_tui.engine.specs.runner import CallResult, TestResults, call_function, run_spec
from dse_tui.store.artifacts import ArtifactStore
from dse_tui.store.db import Database
from dse_tui.store.generation import GenerationLog
from dse_tui.store.records import Artifact, ArtifactType, MetricPoint, utcnow
from dse_tui.store.vectors import embed_text  # what an artifact is found by: its meaning, not its code



@dataclass
class Match:
    artifact: Artifact
    similarity: float
    score: float  # what the ranking sorts by: similarity, with quality breaking near-ties

    def to_dict(self) -> dict[str, Any]:
        return {**summary(self.artifact), "similarity": round(self.similarity, 4), "score": round(self.score, 4)}


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
            "result": self.call.value,
            "result_repr": self.call.repr,
            "error": self.call.error,
            "execution_time_ms": self.call.execution_time_ms,
            "wall_ms": self.call.wall_ms,
            "cpu_ms": self.call.cpu_ms,
            "memory_mb": self.call.memory_mb,
            "stdout": self.call.stdout,
            "sandbox": self.call.sandbox,
        }


def summary(artifact: Artifact) -> dict[str, Any]:
    """The short JSON form used by `find` and `list`."""
    return {
        "id": artifact.id,
        "name": artifact.name,
        "type": artifact.type.value,
        "description": artifact.description,
        "quality_score": artifact.quality_score,
        "usage_count": artifact.usage_count,
        "avg_execution_time_ms": round(artifact.avg_execution_time_ms, 3),
        "version": artifact.version,
        "tags": artifact.tags,
    }


def check_code(code: str, function: str, origin: str = "code") -> None:
    """Reject code that cannot be a candidate before spending a sandbox run on it."""
    check_text(code, origin)
    if len(code.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
        raise BadInput(f"{origin}: code is larger than {MAX_CODE_BYTES // 1000} kB")
    try:
        tree = ast.parse(code, filename=origin)
    except SyntaxError as exc:
        raise BadInput(f"{origin}: line {exc.lineno}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes
        raise BadInput(f"{origin}: cannot parse code: {exc}") from None
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
    if function not in defined:
        raise BadInput(f"{origin}: defines no function '{function}' (the spec's 'function')")


def read_code_file(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read code: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: code is not UTF-8 text (byte {exc.start})") from None


class Engine:
    """One DSE home: its store, embedder and sandbox."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        sandbox: Sandbox | None = None,
        embedder: Any | None = None,
    ) -> None:
        self.home = paths.resolve_home(home)
        self.events = EventBus()
        self.db = Database(paths.store_path(self.home))  # one connection manager for every repository
        self.store = ArtifactStore(self.db)
        self._sandbox = sandbox
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._model_checked = False
        self._generation: GenerationLog | None = None

    # -- collaborators, created lazily so that opening the TUI stays fast ---------------

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = select_sandbox()
        return self._sandbox

    @property
    def embedder(self) -> Any:
        with self._embedder_lock:
            if self._embedder is None:
                from dse_tui.engine.library.embedder import get_embedder

                self._embedder = get_embedder(paths.cache_dir(self.home))
            if not self._model_checked:
                # A changed embedding model re-embeds the whole store before any search.
                self.store.ensure_embedding_model(self._embedder.name, self._embedder.dim, self._embed_texts_of)
                self._model_checked = True
            return self._embedder

    def _embed_texts_of(self, artifacts: list[Artifact]):
        return self._embedder.embed([embed_text(a) for a in artifacts])

    @property
    def generation(self) -> GenerationLog:
        if self._generation is None:
            self._generation = GenerationLog(self.db)
            self._generation.close_abandoned()
        return self._generation

    def close(self) -> None:
        self.db.close()

    # -- storing -----------------------------------------------------------------------

    def test(self, code: str, spec: Spec, *, on_check: Callable | None = None) -> TestResults:
        """Run `code` against `spec` in the sandbox without storing anything."""
        check_code(code, spec.function)

        def forward(check) -> None:
            self.events.publish(CheckFinished(check.name, check.passed, check.message))
            if on_check:
                on_check(check)

        return run_spec(code, spec, self.sandbox, on_check=forward)

    def store_artifact(
        self,
        code: str,
        spec: Spec | str,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        provenance: dict[str, Any] | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        on_check: Callable | None = None,
    ) -> Artifact:
        """Store `code` with the proof that it passes `spec`; refuse it otherwise.

        Raises BadInput for unusable input and SpecFailed (naming each failed
        behaviour) when the code runs but does not pass. Storing code and spec
        identical to the newest version of that name returns that version.
        """
        if isinstance(spec, str):
            spec = parse_spec(spec)
        name = (name or spec.name or spec.function).strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise BadInput(f"artifact name must be 1-{MAX_NAME_CHARS} characters")
        check_name(name, "artifact name")
        tags = list(tags)
        if len(tags) > MAX_TAGS:
            raise BadInput(f"{len(tags)} tags; the limit is {MAX_TAGS}")
        for tag in tags:
            check_name(tag, "tag")
        results = self.test(code, spec, on_check=on_check)
        if not results.all_passed:
            raise SpecFailed(f"{name} failed its spec:\n{results.failure_summary()}", results.to_dict())
        return self.persist(code, spec, results, name=name, tags=tags, provenance=provenance, parent_id=parent_id, metadata=metadata)

    def persist(
        self,
        code: str,
        spec: Spec,
        results: TestResults,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        provenance: dict[str, Any] | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store code whose passing `results` were just measured by `test`."""
        if not results.all_passed:
            raise SpecFailed("refusing to store code that failed its spec", results.to_dict())
        name = (name or spec.name or spec.function).strip()
        previous = self.store.get_by_name(name)
        if previous is not None and previous.content == code and previous.spec == spec.source:
            return previous
        all_tags = sorted({t.strip() for t in [*spec.tags, *tags] if t and t.strip()})
        artifact = Artifact(
            id=uuid.uuid4().hex,
            name=name,
            type=ArtifactType(spec.type),
            description=spec.description,
            content=code,
            spec=spec.source,
            test_results=results.to_dict(),
            quality_score=results.quality_score,
            tags=all_tags,
            metadata={"function": spec.function, **(metadata or {})},
            version=previous.version + 1 if previous else 1,
            parent_id=parent_id or (previous.id if previous else None),
            provenance=provenance or {"source": "user"},
        )
        vector = self.embedder.embed_one(embed_text(artifact))
        stored = self.store.insert(artifact, vector)
        self.events.publish(ArtifactStored(stored.id, stored.name, stored.quality_score))
        return stored

    def add_files(self, code_path: str, spec_path: str, *, name: str | None = None, tags: Iterable[str] = ()) -> Artifact:
        spec = load_spec_file(spec_path)
        code = read_code_file(code_path)
        check_code(code, spec.function, origin=code_path)
        return self.store_artifact(code, spec, name=name, tags=tags, provenance={"source": "user", "file": Path(code_path).name})

    def ensure_starter_library(self, on_progress: Callable[[Progress], None] | None = None) -> int:
        """Import the shipped starter artifacts that are not in the store yet; returns how many.
        Two processes starting on one empty home import them once: the second waits for the
        first and then finds nothing missing."""
        if not self._missing_starters():
            return 0
        with paths.home_lock(self.home, "starter-import"):
            return self._import_starters(self._missing_starters(), on_progress)

    def _missing_starters(self) -> list[tuple[Path, Path]]:
        return [(c, s) for c, s in starter_library() if self.store.get_by_name(c.stem) is None]

    def _import_starters(self, missing: list[tuple[Path, Path]], on_progress: Callable[[Progress], None] | None) -> int:
        if not missing:
            return 0
        done = 0
        lock = threading.Lock()

        def add(pair: tuple[Path, Path]) -> None:
            nonlocal done
            if shutdown.requested():
                return
            code_path, spec_path = pair
            self.store_artifact(
                code_path.read_text(encoding="utf-8"),
                load_spec_file(str(spec_path)),
                name=code_path.stem,
                provenance={"source": "starter"},
            )
            with lock:
                done += 1
                event = Progress("starter library", done, len(missing), code_path.stem)
            self.events.publish(event)
            if on_progress:
                on_progress(event)

        self.embedder  # load once before the threads race for it
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(add, missing))
        return done

    # -- finding -------------------------------------------------------------------------

    def find_similar(
        self,
        description: str,
        min_quality: float = 0.0,
        limit: int = 5,
        *,
        type: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Match]:
        """Artifacts ranked by similarity to `description`, quality breaking near-ties."""
        query = (description or "").strip()
        if not query:
            raise BadInput("the query is empty")
        check_text(query, "the query")
        if len(query) > MAX_QUERY_CHARS:
            raise BadInput(f"the query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 0.0 <= min_quality <= 1.0:
            raise BadInput("min quality must be between 0 and 1")
        if limit < 1:
            raise BadInput("limit must be at least 1")
        vector = self.embedder.embed_one(query)
        hits = self.store.search(vector, k=limit, min_quality=min_quality, type=type, tags=list(tags) if tags else None)
        matches = [Match(a, sim, sim + 0.05 * a.quality_score) for a, sim in hits]
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches[:limit]

    def resolve(self, name_or_id: str) -> Artifact:
        ref = (name_or_id or "").strip()
        if not ref:
            raise BadInput("name or id is empty")
        artifact = self.store.resolve(ref)
        if artifact is None:
            raise NotFound(f"no artifact named or with id '{ref}'")
        return artifact

    def list_artifacts(self, offset: int = 0, limit: int = 50, **filters: Any) -> list[Artifact]:
        return self.store.list(offset=offset, limit=limit, **filters)

    def count_artifacts(self, **filters: Any) -> int:
        return self.store.count(**filters)

    # -- running -------------------------------------------------------------------------

    def run(self, ref: str | Artifact, inputs: dict[str, Any], *, source: str = "run") -> RunOutcome:
        """Call the artifact once in the sandbox; every run leaves a metric point."""
        artifact = ref if isinstance(ref, Artifact) else self.resolve(ref)
        if not isinstance(inputs, dict):
            raise BadInput("inputs must be a JSON object of keyword arguments")
        call = call_function(artifact.content, artifact.function, inputs, self.sandbox)
        metric = MetricPoint(
            artifact_id=artifact.id,
            at=utcnow(),
            execution_time_ms=call.execution_time_ms,
            cpu_time_ms=call.cpu_ms,
            memory_mb=call.memory_mb,
            success=call.ok,
            error=call.error,
            source=source,
        )
        self.store.record_run(metric)
        refreshed = self.store.get(artifact.id) or artifact
        self.events.publish(ArtifactRan(artifact.id, call.ok, call.execution_time_ms))
        return RunOutcome(refreshed, call, metric)

    # -- generating ----------------------------------------------------------------------

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
        from dse_tui.engine.generation.ask import Asker, AskSettings

        if isinstance(spec, str):
            spec = parse_spec(spec)
        if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd >= 0):
            raise BadInput(f"the budget must be a number of USD >= 0, got {budget_usd}")
        asker = Asker(
            self, task, spec, max_tier=max_tier, budget_usd=budget_usd, settings=settings or AskSettings(),
            ladder=ladder, providers=providers, cancel=cancel, on_event=on_event,
        )
        return asker.run()

    # -- reporting -----------------------------------------------------------------------

    def doctor(self) -> dict[str, Any]:
        from dse_tui.engine.doctor import report

        return report(self.home, self)
