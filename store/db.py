"""The store's one database: connections, transactions, migrations, and what errors mean.

One database file in WAL mode (readers never block the writer; a committed
transaction survives a killed process). The stdlib driver is used where it
can load extensions; otherwise `sqlean` (same DB-API, bundles a SQLite that
can), because sqlite-vec is a loadable extension. Every repository of the
store borrows its connections from one `Database`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import sqlite_vec

from .errors import StoreError, translate, translate_os_error

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
    """Apply the steps past PRAGMA user_version, each in its own transaction. Returns the version.
    A store that is up to date is only read: opening it never takes the write lock."""
    while True:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= len(steps):
            return len(steps)
        conn.execute("BEGIN IMMEDIATE")  # the write lock, then the version again: another process may have won
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
            _rollback(conn)
            raise


def _rollback(conn: Any) -> None:
    try:
        conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - a failed COMMIT (full disk) may have rolled back already
        pass


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


class Database:
    """The store file for a whole process: a pool of connections that any thread may borrow
    (each used by one thread at a time), migrations on open, write transactions serialised
    in the process (across processes by SQLite's lock and busy timeout), and every SQLite or
    file error turned into a StoreError that says what to do. Closing it closes every
    connection, whichever thread opened it; one borrowed at that moment closes on return."""

    def __init__(self, path: str | os.PathLike[str], *, migrations: Sequence[Migration] | None = MIGRATIONS) -> None:
        self.path = os.fspath(path)
        self._idle: list[Any] = []
        self._count = 0
        self._pool_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        conn = self._connect(migrations)
        self._idle.append(conn)

    def _connect(self, migrations: Sequence[Migration] | None) -> Any:
        with self.translated():
            conn = connect(self.path, migrations=migrations)
        with self._pool_lock:
            self._count += 1
        return conn

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Driver and file errors inside as StoreErrors (IntegrityError passes: the caller's rule)."""
        mod = driver()
        try:
            yield
        except StoreError:
            raise
        except mod.IntegrityError:
            raise
        except mod.DatabaseError as exc:
            raise translate(exc, self.path) from exc
        except OSError as exc:
            raise translate_os_error(exc, self.path) from exc

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A connection for reads (autocommit: each statement sees the latest commit)."""
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect(None)
        try:
            with self.translated():
                yield conn
        finally:
            with self._pool_lock:
                if self._closed:
                    conn.close()
                    self._count -= 1
                else:
                    self._idle.append(conn)

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front (no upgrade
        deadlocks); anything raised inside rolls it back whole."""
        with self._write_lock, self.read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    @property
    def open_connections(self) -> int:
        with self._pool_lock:
            return self._count

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for conn in idle:
            conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
