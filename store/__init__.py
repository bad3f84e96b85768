"""SQLite + sqlite-vec persistence for DSE (installed as dse_tui.store). Knows nothing of the engine.

One `Database` per store file (connections, transactions, migrations, errors), shared by a
repository per aggregate: artifacts (with tags, versions, states, lineage edges, usage),
vectors (one index per view), words (FTS5), metrics, transcripts, the spend ledger and jobs.
"""

from .artifacts import ArtifactRepository, DuplicateArtifact, NameTaken
from .db import Database, connect, migrate
from .errors import StoreBusy, StoreDamaged, StoreError, StoreFull
from .jobs import Job, JobRepository
from .ledger import Ledger
from .metrics import MetricsRepository, Window
from .records import SOURCES, Artifact, ArtifactState, ArtifactType, LineageEdge, LineageKind, MetricPoint, utcnow
from .transcripts import AttemptRecord, Transcript, TranscriptLog
from .vectors import VIEWS, VectorIndex
from .words import WordIndex

__all__ = [
    "SOURCES",
    "Artifact",
    "ArtifactRepository",
    "ArtifactState",
    "ArtifactType",
    "AttemptRecord",
    "Database",
    "DuplicateArtifact",
    "Job",
    "JobRepository",
    "Ledger",
    "LineageEdge",
    "LineageKind",
    "MetricPoint",
    "MetricsRepository",
    "NameTaken",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "Transcript",
    "TranscriptLog",
    "VIEWS",
    "VectorIndex",
    "Window",
    "WordIndex",
    "connect",
    "migrate",
    "utcnow",
]
