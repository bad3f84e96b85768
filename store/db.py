"""SQLite connection factory and schema migrations.

One database file in WAL mode (readers never block the writer; a committed
transaction survives a killed process). The stdlib driver is used where it
can load extensions; otherwise `sqlean` (same DB-API, bundles a SQLite that
can), because sqlite-vec is a loadable extension.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import sqlite_vec

BUSY_TIMEOUT_MS = 10_000
MMAP_BYTES = 256 * 2**20

_driver: ModuleType | None = None
_driver_lock = threading.Lock()


def _can_load_vec(mod: ModuleType) -> bool:
    try:
        conn = mod.connect(":memory:")
    except Exception:
        return False
    try:
        if not hasattr(conn, "enable_load_extension"):
            return False
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.execute("SELECT vec_version()").fetchone()
        return True
    except Exception:
        return False
    finally:
        conn.close()


def driver() -> ModuleType:
    """The DB-API module in use: stdlib sqlite3 if it can load sqlite-vec, else sqlean."""
    global _driver
    with _driver_lock:
        if _driver is None:
            import sqlite3

            if _can_load_vec(sqlite3):
                _driver = sqlite3
            else:
                import sqlean

                if not _can_load_vec(sqlean):
                    raise RuntimeError("neither sqlite3 nor sqlean can load the sqlite-vec extension")
                _driver = sqlean
        return _driver


# A step is SQL text (run as a script inside the migration transaction) or a callable(conn).
Migration = str | Callable[[Any], None]

MIGRATIONS: list[Migration] = [
    # 1: artifacts, tags, float vectors, metrics, key/value meta.
    """
    CREATE TABLE artifacts (
        seq INTEGER PRIMARY KEY,            -- rowid; also the vec0 rowid
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        description TEXT NOT NULL,
        content TEXT NOT NULL,
        spec TEXT NOT NULL,
        test_results TEXT NOT NULL,         -- JSON
        quality_score REAL NOT NULL,
        usage_count INTEGER NOT NULL DEFAULT 0,
        success_count INTEGER NOT NULL DEFAULT 0,  -- for the running mean of execution time
        avg_execution_time_ms REAL NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,           -- ISO 8601 UTC, fixed width so it sorts as text
        last_used TEXT,
        tags TEXT NOT NULL,                 -- JSON list, exact order; artifact_tags indexes it
        metadata TEXT NOT NULL,
        version INTEGER NOT NULL,
        parent_id TEXT,                     -- no FK: imported lineages may be partial
        provenance TEXT NOT NULL
    );
    CREATE INDEX artifacts_name ON artifacts(name, version DESC);
    CREATE INDEX artifacts_quality ON artifacts(quality_score DESC);
    CREATE INDEX artifacts_created ON artifacts(created_at DESC);
    CREATE INDEX artifacts_usage ON artifacts(usage_count DESC);
    CREATE INDEX artifacts_type ON artifacts(type, quality_score DESC);
    CREATE INDEX artifacts_parent ON artifacts(parent_id);

    CREATE TABLE artifact_tags (
        seq INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (seq, tag)
    ) WITHOUT ROWID;
    CREATE INDEX artifact_tags_tag ON artifact_tags(tag, seq);

    CREATE TABLE artifact_vectors (
        seq INTEGER PRIMARY KEY REFERENCES artifacts(seq) ON DELETE CASCADE,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        embedding BLOB NOT NULL             -- float32 little-endian, unit length
    );
    CREATE INDEX artifact_vectors_model ON artifact_vectors(model);

    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        artifact_id TEXT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        execution_time_ms REAL NOT NULL,
        cpu_time_ms REAL NOT NULL,
        memory_mb REAL NOT NULL,
        success INTEGER NOT NULL,
        error TEXT,
        source TEXT NOT NULL
    );
    CREATE INDEX metrics_artifact ON metrics(artifact_id, id);

    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: generation transcripts (every attempt) and the spend ledger behind budgets.
    """
    CREATE TABLE transcripts (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        spec TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',   -- running | generated | reused | failed | cancelled | interrupted
        reason TEXT,
        artifact_id TEXT,
        reused INTEGER NOT NULL DEFAULT 0,
        start_tier TEXT,
        prediction TEXT,                            -- JSON: learned start tier and its evidence
        attempts INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX transcripts_started ON transcripts(started_at DESC);

    CREATE TABLE attempts (
        transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        tier TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        temperature REAL,
        prompt TEXT NOT NULL,                       -- JSON list of {role, content}
        reply TEXT,
        code TEXT,
        test_results TEXT,                          -- JSON
        passed INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        duration_ms REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (transcript_id, n)
    );

    CREATE TABLE spend (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        transcript_id TEXT,
        tier TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL
    );
    CREATE INDEX spend_at ON spend(at);
    """,
    # 3: which process runs an ask, so one left 'running' by a killed process can be told apart.
    """
    ALTER TABLE transcripts ADD COLUMN pid INTEGER;
    """,
]


def migrate(conn: Any, steps: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the steps past PRAGMA user_version, each in its own transaction. Returns the version."""
    while True:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading the version
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(steps):
                conn.execute("COMMIT")
                return version
            step = steps[version]
            if callable(step):
                step(conn)
            else:
                for stmt in _split_sql(step):
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _split_sql(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; split on statement ends instead.
    out, buf = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out


def connect(path: str | os.PathLike[str], *, migrations: Sequence[Migration] | None = MIGRATIONS) -> Any:
    """Open (and migrate) the store database. Autocommit mode: callers use explicit BEGIN/COMMIT."""
    mod = driver()
    path = os.fspath(path)
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    conn = mod.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a commit survives a killed process (only power loss may drop the last ones)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # vec0 scans every bit-vector chunk per query: read them through mmap (shared OS page
    # cache, no copies) instead of SQLite's 2 MB per-connection page cache.
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    if migrations:
        migrate(conn, migrations)
    return conn
