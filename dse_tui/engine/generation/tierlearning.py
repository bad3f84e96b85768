"""Learned start tier (the paper's EscalationPatternLearner).

Every generated artifact records the tier that produced it. A new task starts
at the tier that solved its nearest solved tasks: no point asking a tiny model
what only a large one has managed for similar tasks, nor paying a large one
for what the tiny one does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from dse_tui.engine.library.find import Match

NEIGHBOURS = 5
MIN_SIMILARITY = 0.55
SEARCH_DEPTH = 25


def predict_start_tier(search: Callable[[Any, int], list[Match]], vector: Any, tiers: list[str]) -> dict[str, Any]:
    """{"tier": name or None, "evidence": [{task, tier, similarity}], "votes": {tier: weight}}.

    `search(vector, k)` ranks stored artifacts; neighbours vote with their similarity, and
    only tiers in `tiers` (usable now) count.
    """
    evidence = []
    for match in search(vector, SEARCH_DEPTH):
        artifact, similarity = match.artifact, match.similarity
        prov = artifact.provenance or {}
        if prov.get("source") != "generated" or similarity < MIN_SIMILARITY or prov.get("tier") not in tiers:
            continue
        evidence.append(
            {
                "task": prov.get("task") or artifact.description,
                "artifact_id": artifact.id,
                "tier": prov["tier"],
                "similarity": round(similarity, 4),
            }
        )
        if len(evidence) == NEIGHBOURS:
            break
    votes: dict[str, float] = defaultdict(float)
    for item in evidence:
        votes[item["tier"]] += item["similarity"]
    tier = max(votes, key=lambda name: (votes[name], -tiers.index(name))) if votes else None
    return {"tier": tier, "evidence": evidence, "votes": {k: round(v, 4) for k, v in votes.items()}}
