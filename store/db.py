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
import time
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
    # 4: artifact states; lineage as explicit edges with a kind (parent_id is no longer read);
    # versions unique per name (duplicates from old races renumbered in insertion order).
    """
    ALTER TABLE artifacts ADD COLUMN state TEXT NOT NULL DEFAULT 'verified'
        CHECK (state IN ('unverified', 'verified', 'quarantined'));
    ALTER TABLE artifacts ADD COLUMN state_reason TEXT;
    CREATE INDEX artifacts_state ON artifacts(state, seq);
    CREATE TABLE lineage (
        child INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        parent INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('version_of', 'evolved_from', 'fixed_from', 'variant_of', 'generated_for')),
        at TEXT NOT NULL,
        PRIMARY KEY (child, parent, kind)
    ) WITHOUT ROWID;
    CREATE INDEX lineage_parent ON lineage(parent, kind);
    INSERT OR IGNORE INTO lineage(child, parent, kind, at)
        SELECT c.seq, p.seq, 'version_of', c.created_at FROM artifacts c JOIN artifacts p ON p.id = c.parent_id;
    UPDATE artifacts SET version = (SELECT count(*) FROM artifacts b WHERE b.name = artifacts.name AND b.seq <= artifacts.seq);
    CREATE UNIQUE INDEX artifacts_name_version ON artifacts(name, version);
    """,
    # 5: metric points with one meaning per field, by integer artifact key and numeric time;
    # hourly roll-ups keeping histograms; a reservoir of recorded inputs; failures counted apart.
    """
    CREATE TABLE points (
        id INTEGER PRIMARY KEY,
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        at REAL NOT NULL,                 -- unix seconds, UTC
        source TEXT NOT NULL CHECK (source IN ('run', 'reuse', 'spec', 'evolution', 'workflow', 'tool')),
        success INTEGER NOT NULL,
        function_ms REAL,                 -- around the call itself, inside the sandbox
        run_ms REAL,                      -- wall time of the whole sandboxed run, outside it
        cpu_ms REAL,
        peak_mb REAL,
        error TEXT
    );
    CREATE INDEX points_artifact_at ON points(artifact, at);
    CREATE INDEX points_at ON points(at);
    INSERT INTO points(artifact, at, source, success, function_ms, run_ms, cpu_ms, peak_mb, error)
        SELECT a.seq, (julianday(m.at) - 2440587.5) * 86400.0,
               CASE m.source WHEN 'reuse' THEN 'reuse' WHEN 'spec' THEN 'spec' ELSE 'run' END, m.success,
               CASE WHEN m.source = 'reuse' THEN NULL ELSE m.execution_time_ms END,
               CASE WHEN m.source = 'reuse' THEN m.execution_time_ms ELSE NULL END,
               m.cpu_time_ms, m.memory_mb, m.error
        FROM metrics m JOIN artifacts a ON a.id = m.artifact_id ORDER BY m.id;
    DROP TABLE metrics;
    CREATE TABLE point_hours (
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        hour INTEGER NOT NULL,            -- unix seconds // 3600
        source TEXT NOT NULL,
        count INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        function_n INTEGER NOT NULL,
        function_sum REAL NOT NULL,
        function_hist BLOB NOT NULL,      -- counts per log-spaced bucket (telemetry histogram)
        run_n INTEGER NOT NULL,
        run_sum REAL NOT NULL,
        run_hist BLOB NOT NULL,
        cpu_sum REAL NOT NULL,
        peak_mb_max REAL,
        PRIMARY KEY (artifact, hour, source)
    ) WITHOUT ROWID;
    CREATE TABLE recorded_inputs (
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        slot INTEGER NOT NULL,
        at REAL NOT NULL,
        inputs TEXT NOT NULL,             -- JSON: the keyword arguments of one call
        PRIMARY KEY (artifact, slot)
    ) WITHOUT ROWID;
    ALTER TABLE artifacts ADD COLUMN failure_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE artifacts ADD COLUMN inputs_seen INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: the job runner's persisted jobs (re-verification, re-embedding, roll-ups...).
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,             -- JSON
        key TEXT,                         -- at most one unfinished job per key
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        cursor TEXT,                      -- JSON: where a resumed run picks up
        owner_pid INTEGER,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE UNIQUE INDEX jobs_open_key ON jobs(key) WHERE key IS NOT NULL AND state IN ('queued', 'running');
    CREATE INDEX jobs_state ON jobs(state, id);
    """,
    # 7: verdicts judged outside the candidate's process. What older versions stored was judged
    # inside it, where the code could fake its pass: every artifact is re-verified (a job), and
    # spec strength and merit (what decisions rank by; coverage was self-reported) are measured.
    """
    ALTER TABLE artifacts ADD COLUMN strength REAL;
    ALTER TABLE artifacts ADD COLUMN merit REAL NOT NULL DEFAULT 0;
    CREATE INDEX artifacts_merit ON artifacts(state, merit DESC);
    UPDATE artifacts SET state = 'unverified',
        state_reason = 're-verifying: stored before verdicts were judged outside the candidate''s process';
    INSERT OR IGNORE INTO jobs(kind, params, key, created_at, updated_at)
        SELECT 'verify', '{}', 'verify', strftime('%s', 'now'), strftime('%s', 'now')
        WHERE EXISTS (SELECT 1 FROM artifacts);
    CREATE TABLE confirmations (
        spec_hash TEXT NOT NULL,          -- sha256 of the request's spec text
        artifact_id TEXT NOT NULL,
        strength REAL,                    -- share of the served code's mutants that spec kills
        verdict TEXT NOT NULL CHECK (verdict IN ('strong', 'weak')),
        detail TEXT NOT NULL,             -- JSON: killed, total, survivors
        at TEXT NOT NULL,
        PRIMARY KEY (spec_hash, artifact_id)
    );
    """,
    # 8: several views of an artifact. Its code gets a vector of its own beside the description's,
    # and its words an FTS5 index (rowid = artifacts.seq; identifiers arrive split into words).
    # Both are derived data: a job fills them, and searches use whatever exists meanwhile.
    """
    CREATE TABLE code_vectors (
        seq INTEGER PRIMARY KEY REFERENCES artifacts(seq) ON DELETE CASCADE,
        model TEXT NOT NULL,
        dim INTEGER NOT NULL,
        embedding BLOB NOT NULL
    );
    CREATE INDEX code_vectors_model ON code_vectors(model);
    CREATE VIRTUAL TABLE artifact_words USING fts5(words, tokenize = 'porter unicode61');
    CREATE TABLE artifact_words_made (
        seq INTEGER PRIMARY KEY REFERENCES artifacts(seq) ON DELETE CASCADE,
        version TEXT NOT NULL
    );
    """,
    # 9: the living system. Points carry cost, cache hit, the tier or backend that served them
    # and a spec check's pass (quality); drift detector state per artifact, updated as points are
    # flushed; drift events; evolutions with their evidence; pressure decisions with their
    # readings; users' accept/reject and the threshold moves they cause; a version that an
    # evolved one serves in place of is marked superseded (a rollback swaps the mark back).
    """
    ALTER TABLE points ADD COLUMN cost_usd REAL;
    ALTER TABLE points ADD COLUMN cache_hit INTEGER;
    ALTER TABLE points ADD COLUMN tier TEXT;
    ALTER TABLE points ADD COLUMN quality REAL;
    ALTER TABLE artifacts ADD COLUMN superseded_by TEXT;
    CREATE TABLE drift_state (
        artifact INTEGER PRIMARY KEY REFERENCES artifacts(seq) ON DELETE CASCADE,
        state TEXT NOT NULL,              -- JSON: telemetry.detectors.ArtifactDrift
        points INTEGER NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE drift_events (
        id INTEGER PRIMARY KEY,
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        type TEXT NOT NULL,
        severity REAL NOT NULL,
        action TEXT NOT NULL,             -- evolve | schedule | log
        detectors TEXT NOT NULL,          -- JSON list of the detectors that agreed
        figures TEXT NOT NULL,            -- JSON
        window TEXT NOT NULL,             -- JSON: the points that raised it
        status TEXT NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'evolving', 'resolved', 'dismissed', 'explained')),
        explanation TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX drift_events_artifact ON drift_events(artifact, type, status);
    CREATE INDEX drift_events_status ON drift_events(status, id);
    CREATE TABLE evolutions (
        id INTEGER PRIMARY KEY,
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        drift_event INTEGER REFERENCES drift_events(id) ON DELETE SET NULL,
        type TEXT NOT NULL,
        trigger TEXT NOT NULL,            -- drift | user | optimizer
        status TEXT NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'promoted', 'rejected', 'failed', 'timeout', 'rolled_back')),
        reason TEXT,
        candidate_id TEXT,                -- the promoted version's id
        evidence TEXT,                    -- JSON: paired runs, noise floor, p-value, checks, diff
        cost_usd REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX evolutions_artifact ON evolutions(artifact, id);
    CREATE TABLE pressure_log (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        level TEXT NOT NULL,
        decision TEXT NOT NULL,           -- what was decided, in words
        readings TEXT NOT NULL            -- JSON: the readings and reasons behind it
    );
    CREATE INDEX pressure_log_at ON pressure_log(at);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        accepted INTEGER NOT NULL,
        quality REAL NOT NULL,            -- the artifact's quality when it was judged
        at REAL NOT NULL
    );
    CREATE INDEX feedback_artifact ON feedback(artifact, id);
    CREATE TABLE threshold_moves (
        id INTEGER PRIMARY KEY,
        artifact INTEGER NOT NULL REFERENCES artifacts(seq) ON DELETE CASCADE,
        old REAL NOT NULL,
        new REAL NOT NULL,
        cause TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE optimizer_runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        budget_usd REAL NOT NULL,
        spent_usd REAL NOT NULL DEFAULT 0,
        forced INTEGER NOT NULL,
        summary TEXT                      -- JSON: candidates, evolutions, savings, ROI
    );
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


def _set_wal(conn: Any, mod: ModuleType) -> None:
    """Switch to WAL. On a new file another process may be doing the same: SQLite then answers
    'locked' at once, without its busy handler, so this waits here instead (bounded)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except mod.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def connect(
    path: str | os.PathLike[str], *, migrations: Sequence[Migration] | None = MIGRATIONS, mmap_bytes: int = MMAP_BYTES
) -> Any:
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
    _set_wal(conn, mod)
    # NORMAL in WAL mode: a commit survives a killed process (only power loss may drop the last ones)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # vec0 scans every bit-vector chunk per query: read them through mmap (shared OS page
    # cache, no copies) instead of SQLite's 2 MB per-connection page cache. A long-lived
    # process searching its in-memory index passes 0: each page it ever touched would stay
    # in its RSS (measured at 100k artifacts: +265 MB, for no speed).
    conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
    if migrations:
        migrate(conn, migrations)
    return conn


class Database:
    """The store file for a whole process: a pool of connections that any thread may borrow
    (each used by one thread at a time), migrations on open, write transactions serialised
    in the process (across processes by SQLite's lock and busy timeout), and every SQLite or
    file error turned into a StoreError that says what to do. Closing it closes every
    connection, whichever thread opened it; one borrowed at that moment closes on return.

    Transactions nest: a `write()` inside a `write()` of the same thread joins it, and a
    `read()` there reads through it, so repositories compose into one unit of work:
    `with db.write(): artifacts.insert(...); vectors.put(...)` commits both or neither."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] | None = MIGRATIONS,
        mmap_bytes: int = MMAP_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.mmap_bytes = mmap_bytes
        self._idle: list[Any] = []
        self._count = 0
        self._pool_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._local = threading.local()  # the connection of this thread's open transaction
        self._closed = False
        conn = self._connect(migrations)
        self._idle.append(conn)

    def _connect(self, migrations: Sequence[Migration] | None) -> Any:
        with self.translated():
            conn = connect(self.path, migrations=migrations, mmap_bytes=self.mmap_bytes)
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
    def _borrow(self) -> Iterator[Any]:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect(None)
        try:
            yield conn
        finally:
            with self._pool_lock:
                if self._closed:
                    conn.close()
                    self._count -= 1
                else:
                    self._idle.append(conn)

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A connection for reads (autocommit: each statement sees the latest commit); inside
        this thread's write transaction, that transaction's connection."""
        current = getattr(self._local, "tx", None)
        if current is not None:
            with self.translated():
                yield current
            return
        with self._borrow() as conn, self.translated():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction, or the one this thread already has open. BEGIN IMMEDIATE
        takes the write lock up front (no upgrade deadlocks); anything raised inside rolls
        the whole transaction back."""
        current = getattr(self._local, "tx", None)
        if current is not None:
            with self.translated():
                yield current
            return
        with self._write_lock, self._borrow() as conn, self.translated():
            conn.execute("BEGIN IMMEDIATE")
            self._local.tx = conn
            try:
                yield conn
            except BaseException:
                self._local.tx = None
                _rollback(conn)
                raise
            self._local.tx = None
            try:
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "tx", None) is not None

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
