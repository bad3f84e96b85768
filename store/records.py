"""Plain records the store persists. No engine or UI knowledge lives here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class ArtifactType(str, enum.Enum):
    FUNCTION = "FUNCTION"
    WORKFLOW = "WORKFLOW"
    TOOL = "TOOL"
    TEST = "TEST"


class ArtifactState(str, enum.Enum):
    """Only verified artifacts are served. Unverified ones (shipped, or from an older store)
    wait for re-verification; quarantined ones failed it and are kept, never served."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    QUARANTINED = "quarantined"


class LineageKind(str, enum.Enum):
    """Why one artifact descends from another, set by what produced it, never inferred."""

    VERSION_OF = "version_of"  # stored on purpose as the next version of the same name
    EVOLVED_FROM = "evolved_from"  # promoted by evolution over its incumbent
    FIXED_FROM = "fixed_from"  # a repair of an artifact that failed
    VARIANT_OF = "variant_of"  # a platform variant
    GENERATED_FOR = "generated_for"  # generated for a request a similar artifact did not pass


# Where a metric point was measured; the closed set the points table accepts.
SOURCES = ("run", "reuse", "spec", "evolution", "workflow", "tool")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Artifact:
    """An executable artifact with the proof that it passed its spec (paper §3.2).

    `test_results` is the TestResults dict produced by the spec runner;
    `quality_score` is derived from it and never set by hand.
    """

    id: str
    name: str
    type: ArtifactType
    description: str
    content: str  # the code
    spec: str  # the behaviour spec as YAML text
    test_results: dict[str, Any]
    quality_score: float
    usage_count: int = 0  # successful runs
    failure_count: int = 0  # runs that failed, counted apart
    avg_execution_time_ms: float = 0.0  # mean function_ms of the successful runs
    created_at: datetime = field(default_factory=utcnow)
    last_used: datetime | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    provenance: dict[str, Any] = field(default_factory=dict)  # what produced it: tier, model, import, user...
    state: ArtifactState = ArtifactState.VERIFIED
    state_reason: str | None = None  # why it is unverified or quarantined
    strength: float | None = None  # share of the code's mutants its spec kills; None: not measured
    merit: float = 0.0  # what automatic decisions rank by (never the self-reported coverage)
    superseded_by: str | None = None  # the version serving in its place (evolution); None: current
    seq: int | None = None  # the store's integer key, once stored

    @property
    def function(self) -> str:
        """The entry point to call: the spec's function, recorded when the artifact was stored."""
        return self.metadata.get("function") or self.name

    @property
    def servable(self) -> bool:
        return self.state == ArtifactState.VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type.value,
            "description": self.description,
            "content": self.content,
            "spec": self.spec,
            "test_results": self.test_results,
            "quality_score": self.quality_score,
            "usage_count": self.usage_count,
            "failure_count": self.failure_count,
            "avg_execution_time_ms": self.avg_execution_time_ms,
            "created_at": self.created_at.isoformat(),
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "tags": list(self.tags),
            "metadata": self.metadata,
            "version": self.version,
            "provenance": self.provenance,
            "state": ArtifactState(self.state).value,
            "state_reason": self.state_reason,
            "strength": self.strength,
            "merit": self.merit,
            "superseded_by": self.superseded_by,
        }


@dataclass(frozen=True)
class LineageEdge:
    child_id: str
    parent_id: str
    kind: LineageKind
    at: datetime


@dataclass
class MetricPoint:
    """One measured execution of an artifact. Each time field means one thing: function_ms
    is measured around the call inside the sandbox, run_ms is the wall time of the whole
    sandboxed run measured outside it; either may be unknown (None)."""

    artifact_id: str
    at: datetime
    source: str  # one of SOURCES
    success: bool
    function_ms: float | None = None
    run_ms: float | None = None
    cpu_ms: float | None = None
    peak_mb: float | None = None
    error: str | None = None
    cost_usd: float | None = None  # priced CPU-seconds plus model spend; None: not priced
    cache_hit: bool | None = None  # served from a cache (a tool's, a reuse) rather than computed
    tier: str | None = None  # the tier or backend that served it
    quality: float | None = None  # 1/0: a spec check run on reuse or re-verification passed
