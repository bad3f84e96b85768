"""Finding tested artifacts by meaning: the query embedded, the vector index searched, the
hits loaded, similarity ranked with quality breaking near-ties."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dse_tui.engine.errors import BadInput
from dse_tui.engine.limits import MAX_QUERY_CHARS
from dse_tui.engine.validation import check_text
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.records import Artifact, ArtifactState
from dse_tui.store.vectors import VectorIndex


@dataclass
class Match:
    artifact: Artifact
    similarity: float
    score: float  # what the ranking sorts by: similarity, with quality breaking near-ties

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
    def __init__(
        self,
        artifacts: ArtifactRepository,
        vectors: VectorIndex,
        embed: Callable[[str], Any],
        ensure_index: Callable[[], None],
    ) -> None:
        self.artifacts = artifacts
        self.vectors = vectors
        self.embed = embed
        self.ensure_index = ensure_index  # vectors made by the embedder in use (re-embeds once if not)

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
        """Artifacts ranked by similarity to `description`, merit breaking near-ties.
        min_quality filters by the shown quality score (a user's filter); min_merit by what
        decisions use (the reuse bar)."""
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
            self.embed(query), limit, min_quality=min_quality, type=type, tags=tags, states=states, min_merit=min_merit
        )

    def search(
        self,
        vector: Any,
        limit: int,
        *,
        min_quality: float = 0.0,
        type: str | None = None,
        tags: Iterable[str] | None = None,
        states: Sequence[ArtifactState] | None = None,
        min_merit: float = 0.0,
    ) -> list[Match]:
        """The same ranking for a vector already made (the ask path embeds once for several uses)."""
        hits = self.vectors.search(
            vector,
            k=limit,
            min_quality=min_quality,
            min_merit=min_merit,
            type=type,
            tags=list(tags) if tags else None,
            states=states,
        )
        loaded = self.artifacts.by_seqs([seq for seq, _ in hits])
        matches = [Match(loaded[seq], sim, sim + 0.05 * loaded[seq].merit) for seq, sim in hits if seq in loaded]
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches[:limit]
