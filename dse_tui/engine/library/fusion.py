"""Ranking by several views at once, and the settings it runs with.

Two fusions: `linear` (a weighted sum of each view's cosine and of the BM25 score scaled by
the best BM25 among the candidates) and `rank` (reciprocal-rank fusion, which needs no common
scale). On the evaluation set the linear sum ranked better (bench/retrieval.py --tune).
Neither fused score has an absolute meaning (BM25 is scaled per query), so whether anything
fits is decided on another number: the best cosine between the query and any embedded view
of the artifact (`floors`). Weights and floors come from presets/retrieval.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import yaml

from dse_tui.engine.presets import presets_dir

METHODS = ("description", "code", "words")
KINDS = ("linear", "rank")


@dataclass(frozen=True)
class RetrievalSettings:
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(METHODS, 1.0))
    rank_k: float = 60.0
    pool: int = 30
    merit_weight: float = 0.0
    find_floor: float = 0.45
    reuse_floor: float = 0.45
    kind: str = "linear"

    def but(self, **changes: object) -> RetrievalSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULTS = RetrievalSettings()  # what a key missing from the file means


def _number(data: Mapping, key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"retrieval setting {key!r} must be a number in [{low}, {high}], not {value!r}")
    return float(value)


def parse_settings(data: Mapping) -> RetrievalSettings:
    fusion, floors = data.get("fusion") or {}, data.get("floors") or {}
    raw = fusion.get("weights") or {}
    unknown = set(raw) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown retrieval method(s) {sorted(unknown)}; known: {', '.join(METHODS)}")
    weights = {m: _number(raw, m, 0.0, 0.0, 100.0) for m in METHODS}
    if not any(weights.values()):
        raise ValueError("every retrieval weight is 0: nothing would be searched")
    kind = fusion.get("kind", "linear")
    if kind not in KINDS:
        raise ValueError(f"retrieval fusion kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return RetrievalSettings(
        weights,
        _number(fusion, "rank_k", DEFAULTS.rank_k, 0, 10_000),
        int(_number(fusion, "pool", DEFAULTS.pool, 1, 1000)),
        _number(fusion, "merit_weight", DEFAULTS.merit_weight, 0.0, 1.0),
        _number(floors, "find", DEFAULTS.find_floor, -1.0, 1.0),
        _number(floors, "reuse", DEFAULTS.reuse_floor, -1.0, 1.0),
        kind,
    )


@lru_cache(maxsize=4)
def load_settings(path: Path | None = None) -> RetrievalSettings:
    """presets/retrieval.yaml (or `path`)."""
    source = path or presets_dir() / "retrieval.yaml"
    with open(source, encoding="utf-8") as fh:
        return parse_settings(yaml.safe_load(fh) or {})


def fuse(
    ranked: Mapping[str, Sequence[tuple[int, float]]], weights: Mapping[str, float], rank_k: float
) -> dict[int, float]:
    """seq -> sum over methods of weight / (rank_k + rank), rank counted from 1."""
    scores: dict[int, float] = {}
    for method, hits in ranked.items():
        weight = weights.get(method, 0.0)
        if weight <= 0:
            continue
        for rank, (seq, _) in enumerate(hits, 1):
            scores[seq] = scores.get(seq, 0.0) + weight / (rank_k + rank)
    return scores


def combine(
    ranked: Mapping[str, Sequence[tuple[int, float]]],
    cosines: Mapping[str, Mapping[int, float]],
    settings: RetrievalSettings,
) -> dict[int, float]:
    """seq -> fused score over every candidate any method ranked. `ranked`: each method's own
    candidates, best first; `cosines`: each embedded view's cosine for every candidate."""
    if settings.kind == "rank":
        return fuse(ranked, settings.weights, settings.rank_k)
    seqs = {seq for hits in ranked.values() for seq, _ in hits}
    words = dict(ranked.get("words", ()))
    top = max(words.values(), default=0.0)
    scores = {}
    for seq in seqs:
        score = sum(settings.weights.get(view, 0.0) * cos.get(seq, 0.0) for view, cos in cosines.items())
        if top > 0:
            score += settings.weights.get("words", 0.0) * words.get(seq, 0.0) / top
        scores[seq] = score
    return scores
