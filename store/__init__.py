"""SQLite + sqlite-vec persistence for DSE (installed as dse_tui.store). Knows nothing of the engine."""

from .artifacts import ArtifactStore, DuplicateArtifact
from .db import connect, migrate
from .records import Artifact, ArtifactType, MetricPoint, utcnow
from .vectors import embed_text

__all__ = ["Artifact", "ArtifactStore", "ArtifactType", "DuplicateArtifact", "MetricPoint", "connect",
           "embed_text", "migrate", "utcnow"]
