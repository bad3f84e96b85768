"""Keeping every view of every artifact indexed: a vector per embedded view, the words in FTS5.

The model name recorded for a view carries the view version, so a store made before a
view's text changed (or with another embedder) reports its artifacts as missing, and the
re-index job fills them while searches keep using whatever is there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dse_tui.store.db import Database
from dse_tui.store.records import Artifact
from dse_tui.store.vectors import VIEWS, VectorIndex
from dse_tui.store.words import WordIndex

from .views import VIEW_VERSION, view_texts

EMBEDDED_VIEWS = tuple(VIEWS)  # every view the store keeps vectors for


def view_model(embedder_name: str, view: str) -> str:
    """The model name stored for a view's vectors: the embedder and the view's text version."""
    return f"{embedder_name}#{view}-v{VIEW_VERSION}"


@dataclass
class Prepared:
    """An artifact's views made ready outside the write lock (embedding takes milliseconds)."""

    vectors: dict[str, np.ndarray]
    words: str


class Indexer:
    def __init__(
        self,
        db: Database,
        vectors: dict[str, VectorIndex],
        words: WordIndex,
        model: Callable[[], tuple[str, int]],
        embed_many: Callable[[list[str]], Any],
    ) -> None:
        self.db = db
        self.vectors = vectors
        self.words = words
        self.model = model  # (embedder name, dim): known without loading the embedder
        self.embed_many = embed_many

    def prepare(self, artifacts: Sequence[Artifact]) -> list[Prepared]:
        texts = [view_texts(a) for a in artifacts]
        flat = [t[view] for t in texts for view in EMBEDDED_VIEWS]
        rows = np.asarray(self.embed_many(flat)) if flat else np.zeros((0, 0))
        n = len(EMBEDDED_VIEWS)
        return [
            Prepared({view: rows[i * n + j] for j, view in enumerate(EMBEDDED_VIEWS)}, t["words"])
            for i, t in enumerate(texts)
        ]

    def put(self, seq: int, prepared: Prepared) -> None:
        """Inside the caller's write transaction, or in one of its own."""
        with self.db.write():
            for view, vector in prepared.vectors.items():
                self.vectors[view].put(seq, vector)
            self.words.put(seq, prepared.words, VIEW_VERSION)

    def put_words(self, artifact: Artifact) -> None:
        self.words.put(artifact.seq, view_texts(artifact)["words"], VIEW_VERSION)

    def use_models(self) -> int:
        """Name the models every view must come from; how many (artifact, view) pairs lack one."""
        name, dim = self.model()
        missing = sum(self.vectors[v].use_model(view_model(name, v), dim) for v in EMBEDDED_VIEWS)
        return missing + self.words.count_missing(VIEW_VERSION)

    def missing(self, after: int = 0, limit: int = 64) -> list[int]:
        """Seqs after `after` lacking a view, in order."""
        name, dim = self.model()
        seqs = set(self.words.missing(VIEW_VERSION, after, limit))
        for view in EMBEDDED_VIEWS:
            seqs.update(self.vectors[view].missing(view_model(name, view), dim, after, limit))
        return sorted(seqs)[:limit]
