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
    usage_count: int = 0
    avg_execution_time_ms: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    last_used: datetime | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    parent_id: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # what produced it: tier, model, import, user...

    @property
    def function(self) -> str:
        """The entry point to call: the spec's function, recorded when the artifact was stored."""
        return self.metadata.get("function") or self.name

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
            "avg_execution_time_ms": self.avg_execution_time_ms,
            "created_at": self.created_at.isoformat(),
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "tags": list(self.tags),
            "metadata": self.metadata,
            "version": self.version,
            "parent_id": self.parent_id,
            "provenance": self.provenance,
        }


@dataclass
class MetricPoint:
    """One measured execution of an artifact."""

    artifact_id: str
    at: datetime
    execution_time_ms: float
    cpu_time_ms: float
    memory_mb: float
    success: bool
    error: str | None = None
    source: str = "run"  # run | spec | reuse
