"""Finding tested artifacts by meaning: the query embedded once, every view searched (the
description's and the code's vectors, the words' BM25), the rankings fused."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dse_tui.engine.errors import BadInput
from dse_tui.engine.limits import MAX_QUERY_CHARS
from dse_tui.engine.validation import check_text
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.records import Artifact, ArtifactState
from dse_tui.store.vectors import VectorIndex
from dse_tui.store.words import WordIndex

from .fusion import RetrievalSettings, combine, load_settings
from .views import query_terms


@dataclass
class Match:
    artifact: Artifact
    similarity: float  # the best cosine of the query with any of the artifact's views: absolute
    score: float  # what the ranking sorts by: the fused rank score, merit breaking near-ties

    def to_dict(self) -> dict[str, Any]:
        return {**summary(self.artifact), "similarity": round(self.similarity, 4), "score": round(self.score, 4)}


def summary(artifact: Artifact) -> dict[str, Any]:
    """The short JSON form used by `find` and `list`."""
    return {
        "id": artifact.id,
        "name": artifact.name,
        "type": artifact.type.value,
        "description": artifact.description,
        "quality_score": artifact.quality_score,
        "usage_count": artifact.usage_count,
        "failure_count": artifact.failure_count,
        "avg_execution_time_ms": round(artifact.avg_execution_time_ms, 3),
        "version": artifact.version,
        "state": artifact.state.value,
        "state_reason": artifact.state_reason,
        "strength": artifact.strength,
        "merit": artifact.merit,
        "tags": artifact.tags,
    }


class Finder:
    """Hybrid search: each embedded view's vector index and the word index rank their own
    candidates, the fusion scores their union (merit breaking near-ties before the cut), and
    each match carries the best cosine over its views, the absolute score floors use."""

    def __init__(
        self,
        artifacts: ArtifactRepository,
        vectors: Mapping[str, VectorIndex],
        words: WordIndex,
        embed: Callable[[str], Any],
        ensure_index: Callable[[], None],
        settings: Callable[[], RetrievalSettings] = load_settings,
    ) -> None:
        self.artifacts = artifacts
        self.vectors = vectors
        self.words = words
        self.embed = embed
        self.ensure_index = ensure_index  # views made by the embedder in use (a job fills the rest)
        self.settings = settings

    def find_similar(
        self,
        description: str,
        min_quality: float = 0.0,
        limit: int = 5,
        *,
        type: str | None = None,
        tags: Iterable[str] | None = None,
        states: Sequence[ArtifactState] | None = None,
        min_merit: float = 0.0,
    ) -> list[Match]:
        """Artifacts ranked by every view for `description`. min_quality filters by the shown
        quality score (a user's filter); min_merit by what decisions use (the reuse bar)."""
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
        self.ensure_index()
        return self.search(
            self.embed(query),
            limit,
            text=query,
            min_quality=min_quality,
            type=type,
            tags=tags,
            states=states,
            min_merit=min_merit,
        )

    def search(
        self,
        vector: Any,
        limit: int,
        *,
        text: str | None = None,
        min_quality: float = 0.0,
        type: str | None = None,
        tags: Iterable[str] | None = None,
        states: Sequence[ArtifactState] | None = None,
        min_merit: float = 0.0,
        settings: RetrievalSettings | None = None,
    ) -> list[Match]:
        """The same ranking for a vector already made (the ask path embeds once for several
        uses); `text` adds the word index (without it only the vectors rank)."""
        settings = settings or self.settings()
        pool = max(limit, settings.pool)
        where = {
            "min_quality": min_quality,
            "min_merit": min_merit,
            "type": type,
            "tags": list(tags) if tags else None,
            "states": states,
        }
        ranked: dict[str, list[tuple[int, float]]] = {}
        for view, index in self.vectors.items():
            if settings.weights.get(view, 0) > 0:
                ranked[view] = index.search(vector, k=pool, **where)
        if text and settings.weights.get("words", 0) > 0:
            ranked["words"] = self.words.search(query_terms(text), k=pool, **where)
        return self.rank(vector, ranked, limit, settings)

    def rank(
        self,
        vector: Any,
        ranked: Mapping[str, Sequence[tuple[int, float]]],
        limit: int,
        settings: RetrievalSettings,
    ) -> list[Match]:
        """Fuse per-method rankings into matches (also used by the benchmark on exact rankings)."""
        seqs = sorted({seq for hits in ranked.values() for seq, _ in hits})
        if not seqs:
            return []
        cosines = self.view_cosines(vector, seqs, ranked)
        fused = combine(ranked, cosines, settings)
        loaded = self.artifacts.by_seqs(seqs)
        matches = [
            Match(
                loaded[seq],
                max((cos[seq] for cos in cosines.values() if seq in cos), default=0.0),
                score + settings.merit_weight * loaded[seq].merit,
            )
            for seq, score in fused.items()
            if seq in loaded
        ]
        matches.sort(key=lambda m: (m.score, m.similarity), reverse=True)
        return matches[:limit]

    def view_cosines(
        self, vector: Any, seqs: Sequence[int], ranked: Mapping[str, Sequence[tuple[int, float]]]
    ) -> dict[str, dict[int, float]]:
        """Each embedded view's cosine for each of `seqs` (fetched where its ranking lacks it)."""
        out: dict[str, dict[int, float]] = {}
        wanted = set(seqs)
        for view, index in self.vectors.items():
            known = {seq: cos for seq, cos in ranked.get(view, ()) if seq in wanted}
            known.update(index.cosines(vector, [s for s in seqs if s not in known]))
            out[view] = known
        return out
