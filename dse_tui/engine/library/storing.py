"""Storing code with the proof that it passed its spec, under a name that means one thing.

A name is versioned only on purpose: storing under a name that exists is refused unless a
new version is asked for (identical code and spec return the stored artifact). Generated
artifacts get a name of their own derived from the task. Every lineage edge is set here by
what produced the artifact.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from dse_tui.engine.errors import BadInput, SpecFailed
from dse_tui.engine.events import ArtifactStored, CheckFinished, EventBus
from dse_tui.engine.library.assess import assess
from dse_tui.engine.limits import MAX_CODE_BYTES, MAX_NAME_CHARS, MAX_TAGS
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs import strength
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.results import TestResults
from dse_tui.engine.specs.spec import Spec, load_spec_file, parse_spec
from dse_tui.engine.validation import check_name, check_text
from dse_tui.store.artifacts import ArtifactRepository, NameTaken
from dse_tui.store.db import Database
from dse_tui.store.records import Artifact, ArtifactState, ArtifactType, LineageKind

from .indexing import Indexer

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "a",
    "an",
    "the",
    "that",
    "which",
    "and",
    "or",
    "of",
    "to",
    "for",
    "in",
    "on",
    "with",
    "write",
    "function",
    "returns",
    "return",
    "given",
    "def",
    "it",
    "its",
    "is",
    "be",
    "by",
    "from",
    "as",
    "python",
    "code",
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


def name_taken_message(existing: Artifact) -> str:
    what = existing.description.splitlines()[0][:60] if existing.description else ""
    return (
        f"name '{existing.name}' is taken by v{existing.version}: {what}; use --name to store it apart, "
        "or --new-version to version it"
    )


def task_words(task: str, limit: int = 3) -> list[str]:
    return [w for w in _WORD.findall(task.lower()) if w not in _STOP and not w.isdigit()][:limit]


class Catalog:
    """Tests code against specs in the sandbox and stores what passes, with its views indexed."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactRepository,
        indexer: Indexer,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.indexer = indexer  # every view of what is stored (the embedder loads on first use)
        self.sandbox = sandbox
        self.events = events
        self.strength_budget_s = strength.BUDGET_S  # per store; the starter build measures in full

    def test(self, code: str, spec: Spec, *, on_check: Callable | None = None) -> TestResults:
        """Run `code` against `spec` in the sandbox without storing anything."""
        check_code(code, spec.function)

        def forward(check) -> None:
            self.events.publish(CheckFinished(check.name, check.passed, check.message))
            if on_check:
                on_check(check)

        return run_spec(code, spec, self.sandbox(), on_check=forward)

    def store(
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
        """Store `code` with the proof that it passes `spec`; refuse it otherwise.

        Raises BadInput for unusable input (a taken name among them) and SpecFailed (naming
        each failed behaviour) when the code runs but does not pass. Code and spec identical
        to a stored version of that name return that version."""
        if isinstance(spec, str):
            spec = parse_spec(spec)
        name = self._name(name or spec.name or spec.function)
        tags = self._tags(tags)
        identical = self.artifacts.find_identical(name, code, spec.source)
        if identical is not None:
            return identical
        existing = self.artifacts.get_by_name(name)
        if existing is not None and not new_version:  # refused before spending a sandbox run
            raise BadInput(name_taken_message(existing))
        results = self.test(code, spec, on_check=on_check)
        if not results.all_passed:
            raise SpecFailed(f"{name} failed its spec:\n{results.failure_summary()}", results.to_dict())
        return self.persist(
            code,
            spec,
            results,
            name=name,
            tags=tags,
            provenance=provenance,
            new_version=new_version,
            lineage=lineage,
            metadata=metadata,
        )

    def persist(
        self,
        code: str,
        spec: Spec,
        results: TestResults,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        provenance: dict[str, Any] | None = None,
        new_version: bool = False,
        lineage: Sequence[tuple[LineageKind, str]] = (),
        metadata: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store code whose passing `results` were just measured by `test`: the artifact, its
        tags, edges and vector in one transaction."""
        if not results.all_passed:
            raise SpecFailed("refusing to store code that failed its spec", results.to_dict())
        name = self._name(name or spec.name or spec.function)
        identical = self.artifacts.find_identical(name, code, spec.source)
        if identical is not None:
            return identical
        proof = results.to_dict()
        proof["strength"], share, merit = assess(code, spec, results, self.sandbox(), budget_s=self.strength_budget_s)
        artifact = Artifact(
            id=uuid.uuid4().hex,
            name=name,
            type=ArtifactType(spec.type),
            description=spec.description,
            content=code,
            spec=spec.source,
            test_results=proof,
            quality_score=results.quality_score,
            strength=share,
            merit=merit,
            tags=sorted({t.strip() for t in [*spec.tags, *tags] if t and t.strip()}),
            metadata={"function": spec.function, **(metadata or {})},
            provenance=provenance or {"source": "user"},
            state=ArtifactState.VERIFIED,
        )
        [views] = self.indexer.prepare([artifact])  # before the write lock: embedding takes milliseconds
        with self.db.write():
            try:
                stored = self.artifacts.insert(artifact, new_version=new_version, lineage=lineage)
            except NameTaken as exc:
                raise BadInput(name_taken_message(exc.existing)) from None
            self.indexer.put(stored.seq, views)
        self.events.publish(ArtifactStored(stored.id, stored.name, stored.quality_score))
        return stored

    def add_files(
        self,
        code_path: str,
        spec_path: str,
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
        new_version: bool = False,
    ) -> Artifact:
        spec = load_spec_file(spec_path)
        code = read_code_file(code_path)
        check_code(code, spec.function, origin=code_path)
        return self.store(
            code,
            spec,
            name=name,
            tags=tags,
            new_version=new_version,
            provenance={"source": "user", "file": Path(code_path).name},
        )

    def unique_name(self, base: str, task: str) -> str:
        """A free name for a generated artifact: the function's name if free, else the function
        with words of the task, else with a number."""
        base = self._name(base)
        if not self.artifacts.name_taken(base):
            return base
        words = task_words(task)
        candidate = self._name("_".join([base, *[w for w in words if w not in base.split("_")]])[:MAX_NAME_CHARS])
        if candidate != base and not self.artifacts.name_taken(candidate):
            return candidate
        n = 2
        while self.artifacts.name_taken(f"{candidate}_{n}"):
            n += 1
        return f"{candidate}_{n}"

    @staticmethod
    def _name(name: str) -> str:
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise BadInput(f"artifact name must be 1-{MAX_NAME_CHARS} characters")
        return check_name(name, "artifact name")

    @staticmethod
    def _tags(tags: Iterable[str]) -> list[str]:
        tags = list(tags)
        if len(tags) > MAX_TAGS:
            raise BadInput(f"{len(tags)} tags; the limit is {MAX_TAGS}")
        for tag in tags:
            check_name(tag, "tag")
        return tags
