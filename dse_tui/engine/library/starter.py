"""The starter library: tested artifacts shipped with DSE, with their proofs and vectors.

presets/library holds each artifact's code and spec, and starter.json the proof (the test
results they got in a sandbox when the file was built) and the view vectors and words of each, keyed by the
hashes of its code and spec. A first start imports them at once, as `unverified`: this
machine has not run them yet. A verification job then runs each against its spec here;
reuse verifies one inline if asked before the job got to it. A preset whose code or spec
changed since starter.json was built is tested and embedded on import instead.

    python -m dse_tui.engine.library.starter --build    # rewrite starter.json (maintainers)
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dse_tui.engine import shutdown
from dse_tui.engine.events import EventBus, Progress
from dse_tui.engine.presets import presets_dir, starter_library
from dse_tui.engine.specs.spec import load_spec_file
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.db import Database
from dse_tui.store.records import Artifact, ArtifactState, ArtifactType
from dse_tui.store.vectors import VIEWS, VectorIndex
from dse_tui.store.words import WordIndex

from .indexing import EMBEDDED_VIEWS, Indexer, Prepared
from .storing import Catalog
from .views import VIEW_VERSION

SHIPPED = "starter.json"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_path() -> Path:
    return presets_dir() / "library" / SHIPPED


def load_shipped(path: Path | None = None) -> dict[str, Any]:
    try:
        data = json.loads((path or shipped_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"embedding_model": None, "artifacts": {}}
    return data if isinstance(data, dict) and isinstance(data.get("artifacts"), dict) else {"artifacts": {}}


def vector_from(text: str, dim: int) -> np.ndarray | None:
    try:
        v = np.frombuffer(base64.b64decode(text), dtype="<f4")
    except (ValueError, TypeError):
        return None
    return v if v.shape == (dim,) else None


class StarterImport:
    def __init__(
        self,
        db: Database,
        artifacts: ArtifactRepository,
        indexer: Indexer,
        catalog: Catalog,
        events: EventBus,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.indexer = indexer  # its model (name, dim) is known without loading the embedder
        self.catalog = catalog
        self.events = events

    def missing(self) -> list[tuple[Path, Path]]:
        return [(c, s) for c, s in starter_library() if self.artifacts.get_by_name(c.stem) is None]

    def run(self, missing: list[tuple[Path, Path]], on_progress: Callable[[Progress], None] | None = None) -> int:
        """Import `missing`; returns how many. Shipped proofs arrive at once as unverified;
        the rest are tested and embedded here (two at a time)."""
        shipped = load_shipped()
        model = self.indexer.model()
        same_model = (shipped.get("embedding_model"), shipped.get("dim"), shipped.get("view_version")) == (
            *model,
            VIEW_VERSION,
        )
        if same_model:
            self.indexer.use_models()
        done = 0
        lock = threading.Lock()
        fresh: list[tuple[Path, Path]] = []
        for code_path, spec_path in missing:
            code, spec_text = code_path.read_text(encoding="utf-8"), spec_path.read_text(encoding="utf-8")
            entry = shipped["artifacts"].get(code_path.stem)
            if not entry or entry.get("code_sha256") != digest(code) or entry.get("spec_sha256") != digest(spec_text):
                fresh.append((code_path, spec_path))
                continue
            self._insert_shipped(code_path.stem, code, spec_path, entry, same_model)
            done += 1
            self._progress(done, len(missing), code_path.stem, on_progress)

        def test_and_store(pair: tuple[Path, Path]) -> None:
            nonlocal done
            if shutdown.requested():
                return
            code_path, spec_path = pair
            self.catalog.store(
                code_path.read_text(encoding="utf-8"),
                load_spec_file(str(spec_path)),
                name=code_path.stem,
                provenance={"source": "starter"},
            )
            with lock:
                done += 1
                count = done
            self._progress(count, len(missing), code_path.stem, on_progress)

        if fresh:
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(test_and_store, fresh))
        return done

    def _insert_shipped(self, name: str, code: str, spec_path: Path, entry: dict[str, Any], same_model: bool) -> None:
        spec = load_spec_file(str(spec_path))
        artifact = Artifact(
            id=uuid.uuid4().hex,
            name=name,
            type=ArtifactType(spec.type),
            description=spec.description,
            content=code,
            spec=spec.source,
            test_results=entry["test_results"],
            quality_score=entry["quality_score"],
            strength=entry.get("strength"),
            merit=entry.get("merit", 0.0),
            tags=sorted(set(spec.tags)),
            metadata={"function": spec.function},
            provenance={"source": "starter"},
            state=ArtifactState.UNVERIFIED,
            state_reason="shipped with DSE; not yet run on this machine",
        )
        dim = self.indexer.model()[1]
        shipped = entry.get("vectors") or {}
        vectors = {v: vector_from(shipped.get(v, ""), dim) for v in EMBEDDED_VIEWS} if same_model else {}
        with self.db.write():
            stored = self.artifacts.insert(artifact)
            if vectors and all(v is not None for v in vectors.values()):
                self.indexer.put(stored.seq, Prepared(vectors, entry.get("words", "")))  # type: ignore[arg-type]
            else:
                self.indexer.put_words(stored)  # the vectors come from the re-index job

    def _progress(self, done: int, total: int, name: str, on_progress: Callable[[Progress], None] | None) -> None:
        event = Progress("starter library", done, total, name)
        self.events.publish(event)
        if on_progress:
            on_progress(event)


def build(out: Path | None = None) -> Path:
    """Test and embed every preset in a scratch store, and write their proofs and vectors."""
    import tempfile

    from dse_tui.engine.sandbox import select_sandbox

    from .embedder import get_embedder

    out = out or shipped_path()
    scratch = Path(tempfile.mkdtemp(prefix="dse-starter-build-"))
    embedder, sandbox, events = get_embedder(scratch / "cache"), select_sandbox(), EventBus()
    db = Database(scratch / "dse.db")
    try:
        artifacts = ArtifactRepository(db)
        indexer = Indexer(
            db,
            {v: VectorIndex(db, v) for v in VIEWS},
            WordIndex(db),
            lambda: (embedder.name, embedder.dim),
            embedder.embed,
        )
        indexer.use_models()
        catalog = Catalog(db, artifacts, indexer, lambda: sandbox, events)
        catalog.strength_budget_s = 120.0  # shipped strengths are measured over every mutant
        entries: dict[str, Any] = {}
        for code_path, spec_path in starter_library():
            code, spec_text = code_path.read_text(encoding="utf-8"), spec_path.read_text(encoding="utf-8")
            artifact = catalog.store(
                code, load_spec_file(str(spec_path)), name=code_path.stem, provenance={"source": "starter"}
            )
            [views] = indexer.prepare([artifact])
            entries[code_path.stem] = {
                "code_sha256": digest(code),
                "spec_sha256": digest(spec_text),
                "test_results": artifact.test_results,
                "quality_score": artifact.quality_score,
                "strength": artifact.strength,
                "merit": artifact.merit,
                "vectors": {
                    view: base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
                    for view, v in views.vectors.items()
                },
                "words": views.words,
            }
            print(
                f"{code_path.stem}: quality {artifact.quality_score:.2f}, strength {artifact.strength}", file=sys.stderr
            )
        data = {
            "embedding_model": embedder.name,
            "dim": embedder.dim,
            "view_version": VIEW_VERSION,
            "artifacts": entries,
        }
        out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    finally:
        db.close()
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["--build"]:
        raise SystemExit("usage: python -m dse_tui.engine.library.starter --build")
    print(build())
