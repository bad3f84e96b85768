"""ArtifactStore: artifacts, their vectors, run metrics and lineage in one SQLite file.

Search is two-stage: a sqlite-vec `vec0` table holds a binary-quantised copy
of every vector (1 bit per dimension, hamming distance: cheap to scan), which
yields k x oversample candidates; those are re-scored exactly with the float32
vectors. Type is a vec0 metadata column, filtered inside the scan; the
quality bar and tags are applied while re-scoring (over a wider pool), and
whenever filters leave fewer than k hits the filtered set is scanned exactly, so a filter never hides a
matching artifact. Candidate pool sizes are tuned in bench/vector_search.py.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import db
from .records import Artifact, ArtifactType, MetricPoint
from .vectors import as_unit_f32, from_blob, quantize, to_blob

ORDERS = {
    "quality": "a.quality_score DESC, a.usage_count DESC, a.seq DESC",
    "recent": "a.created_at DESC, a.seq DESC",
    "name": "a.name ASC, a.version DESC, a.seq ASC",
    "usage": "a.usage_count DESC, a.quality_score DESC, a.seq DESC",
}
UNKNOWN_MODEL = "unknown"
MIN_PREFIX = 6
# Filtered sets at most this large are scanned exactly: cheaper than a vec0 pass, and exact.
EXACT_SCAN_MAX = 2000

_COLUMNS = (
    "a.seq, a.id, a.name, a.type, a.description, a.content, a.spec, a.test_results, a.quality_score, "
    "a.usage_count, a.avg_execution_time_ms, a.created_at, a.last_used, a.tags, a.metadata, "
    "a.version, a.parent_id, a.provenance"
)


class DuplicateArtifact(ValueError):
    """An artifact with this id is already stored."""


def _ts(dt: datetime | None) -> str | None:
    """Fixed-width ISO 8601 UTC so text order is time order. Naive datetimes are taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _row_to_artifact(r: Sequence[Any]) -> Artifact:
    return Artifact(
        id=r[1], name=r[2], type=ArtifactType(r[3]), description=r[4], content=r[5], spec=r[6],
        test_results=json.loads(r[7]), quality_score=r[8], usage_count=r[9],
        avg_execution_time_ms=r[10], created_at=_dt(r[11]), last_used=_dt(r[12]),
        tags=json.loads(r[13]), metadata=json.loads(r[14]), version=r[15], parent_id=r[16],
        provenance=json.loads(r[17]),
    )


class ArtifactStore:
    """Artifacts, their vectors, tags, run metrics and lineage. Thread-safe: every call borrows
    a connection from the Database; writes are transactions."""

    def __init__(self, database: db.Database | str | os.PathLike[str], *, oversample: int = 5,
                 min_candidates: int = 50, quality_widen: float = 2.0) -> None:
        """`database`: the shared Database, or a path (then this store owns and closes its own)."""
        self._owns_db = not isinstance(database, db.Database)
        self.db = db.Database(database) if self._owns_db else database
        self.path = self.db.path
        # binary candidates per query: max(k * oversample, min_candidates). vec0's top-k
        # selection costs O(rows x k), so the pool size is the latency knob (bench/vector_search.py).
        self.oversample = oversample
        self.min_candidates = min_candidates
        self.quality_widen = quality_widen

    def _conn(self):
        return self.db.read()

    def _tx(self):
        return self.db.write()

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- embedding model --------------------------------------------------------------

    @staticmethod
    def _meta(conn: Any, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _set_meta(conn: Any, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def _model_in(self, conn: Any) -> tuple[str, int] | None:
        name, dim = self._meta(conn, "embedding_model"), self._meta(conn, "embedding_dim")
        return (name, int(dim)) if name is not None and dim is not None else None

    def embedding_model(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with; None for a fresh store."""
        with self._conn() as conn:
            return self._model_in(conn)

    def _set_model(self, conn: Any, name: str, dim: int) -> None:
        """Record the model; (re)create the binary index when the dimension changes."""
        current = self._model_in(conn)
        if current is None or current[1] != dim:
            self._create_index(conn, dim)
        self._set_meta(conn, "embedding_model", name)
        self._set_meta(conn, "embedding_dim", str(dim))

    @staticmethod
    def _create_index(conn: Any, dim: int) -> None:
        conn.execute("DROP TABLE IF EXISTS artifact_vec")
        # metadata columns let vec0 apply the quality/type filters during the scan
        conn.execute(f"CREATE VIRTUAL TABLE artifact_vec USING vec0(embedding bit[{dim}], quality float, type text)")

    def rebuild_vector_index(self) -> int:
        """The binary index made again from the float vectors (a recovered store has none)."""
        with self._tx() as conn:
            model = self._model_in(conn)
            if model is None:
                return 0
            self._create_index(conn, model[1])
            rows = conn.execute("SELECT v.seq, v.embedding, a.quality_score, a.type FROM artifact_vectors v "
                                "JOIN artifacts a ON a.seq = v.seq WHERE v.dim = ?", (model[1],)).fetchall()
            for seq, blob, quality, type_ in rows:
                conn.execute("INSERT INTO artifact_vec(rowid, embedding, quality, type) VALUES (?, vec_bit(?), ?, ?)",
                             (seq, quantize(from_blob(blob)), float(quality), type_))
        return len(rows)

    def ensure_embedding_model(self, name: str, dim: int,
                               embed_fn: Callable[[builtins.list[Artifact]], np.ndarray], *,
                               batch_size: int = 256,
                               progress: Callable[[int, int], None] | None = None) -> int:
        """Make every stored vector come from `name`; re-embeds the others. Returns how many.

        embed_fn gets a batch of Artifacts and returns one row per artifact, so the caller
        decides what text an artifact is embedded by (e.g. `embed_text`).
        Resumable: vectors carry their model, so an interrupted run continues where it stopped.
        """
        with self._tx() as conn:
            current = self._model_in(conn)
            if current != (name, dim):
                self._set_model(conn, name, dim)
                if current is not None and current[1] != dim:
                    conn.execute("DELETE FROM artifact_vectors")  # other dimension: unusable
            total = conn.execute("SELECT count(*) FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM "
                                 "artifact_vectors v WHERE v.seq = a.seq AND v.model = ? AND v.dim = ?)",
                                 (name, dim)).fetchone()[0]
        done = 0
        if progress:
            progress(0, total)
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM artifact_vectors v "
                    "WHERE v.seq = a.seq AND v.model = ? AND v.dim = ?) ORDER BY a.seq LIMIT ?",
                    (name, dim, batch_size)).fetchall()
            if not rows:
                return done
            vecs = np.asarray(embed_fn([_row_to_artifact(r) for r in rows]), dtype=np.float32)
            if vecs.shape != (len(rows), dim):
                raise ValueError(f"embed_fn returned {vecs.shape}, expected {(len(rows), dim)}")
            with self._tx() as conn:
                for r, v in zip(rows, vecs):
                    self._put_vector(conn, r[0], name, as_unit_f32(v, dim), r[8], r[3])
            done += len(rows)
            if progress:
                progress(done, total)

    @staticmethod
    def _put_vector(conn: Any, seq: int, model: str, v: np.ndarray, quality: float, type_: str) -> None:
        conn.execute("INSERT OR REPLACE INTO artifact_vectors(seq, model, dim, embedding) VALUES (?, ?, ?, ?)",
                     (seq, model, v.shape[0], to_blob(v)))
        # vec0 has no upsert
        conn.execute("DELETE FROM artifact_vec WHERE rowid = ?", (seq,))
        conn.execute("INSERT INTO artifact_vec(rowid, embedding, quality, type) VALUES (?, vec_bit(?), ?, ?)",
                     (seq, quantize(v), float(quality), type_))

    # -- writes -----------------------------------------------------------------------

    def insert(self, artifact: Artifact, vector: np.ndarray) -> Artifact:
        """Store the artifact and its vector in one transaction.

        A fresh store adopts the vector's dimension under the model name "unknown" until
        ensure_embedding_model() names it (which then re-embeds those vectors).
        """
        a = artifact
        with self._tx() as conn:
            model = self._model_in(conn)
            if model is None:
                self._set_model(conn, UNKNOWN_MODEL, int(np.asarray(vector).size))
                model = self._model_in(conn)
            v = as_unit_f32(vector, model[1])
            try:
                cur = conn.execute(
                    "INSERT INTO artifacts(id, name, type, description, content, spec, test_results, "
                    "quality_score, usage_count, avg_execution_time_ms, created_at, last_used, tags, "
                    "metadata, version, parent_id, provenance) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (a.id, a.name, ArtifactType(a.type).value, a.description, a.content, a.spec,
                     json.dumps(a.test_results), float(a.quality_score), a.usage_count,
                     float(a.avg_execution_time_ms), _ts(a.created_at), _ts(a.last_used),
                     json.dumps(list(a.tags)), json.dumps(a.metadata), a.version, a.parent_id,
                     json.dumps(a.provenance)))
            except db.driver().IntegrityError as exc:
                raise DuplicateArtifact(a.id) from exc
            seq = cur.lastrowid
            conn.executemany("INSERT OR IGNORE INTO artifact_tags(seq, tag) VALUES (?, ?)",
                             [(seq, t) for t in a.tags])
            self._put_vector(conn, seq, model[0], v, a.quality_score, ArtifactType(a.type).value)
        return a

    def delete(self, artifact_id: str) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM artifact_vec WHERE rowid = ?", (row[0],))
            conn.execute("DELETE FROM artifacts WHERE seq = ?", (row[0],))  # cascades to tags/vectors/metrics
            return True

    def record_run(self, metric: MetricPoint) -> None:
        """Log one execution and fold it into the artifact's usage figures, atomically."""
        m = metric
        with self._tx() as conn:
            row = conn.execute("SELECT success_count, avg_execution_time_ms FROM artifacts WHERE id = ?",
                               (m.artifact_id,)).fetchone()
            if row is None:
                raise KeyError(m.artifact_id)
            n, avg = row
            if m.success:  # failed runs often stop early; they would flatter the mean
                n += 1
                avg += (float(m.execution_time_ms) - avg) / n
            conn.execute("INSERT INTO metrics(artifact_id, at, execution_time_ms, cpu_time_ms, memory_mb, "
                         "success, error, source) VALUES (?,?,?,?,?,?,?,?)",
                         (m.artifact_id, _ts(m.at), float(m.execution_time_ms), float(m.cpu_time_ms),
                          float(m.memory_mb), int(bool(m.success)), m.error, m.source))
            conn.execute("UPDATE artifacts SET usage_count = usage_count + 1, success_count = ?, "
                         "avg_execution_time_ms = ?, last_used = max(coalesce(last_used, ''), ?) WHERE id = ?",
                         (n, avg, _ts(m.at), m.artifact_id))

    # -- reads ------------------------------------------------------------------------

    def _one(self, where: str, args: Sequence[Any], order: str = "") -> Artifact | None:
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM artifacts a WHERE {where} {order} LIMIT 1",
                               tuple(args)).fetchone()
        return _row_to_artifact(row) if row else None

    def get(self, artifact_id: str) -> Artifact | None:
        return self._one("a.id = ?", (artifact_id,))

    def get_by_name(self, name: str) -> Artifact | None:
        """The highest version of `name` (newest insert wins a tie)."""
        return self._one("a.name = ?", (name,), "ORDER BY a.version DESC, a.seq DESC")

    def resolve(self, name_or_id: str) -> Artifact | None:
        """Exact id, else a unique id prefix of at least 6 characters, else a name."""
        key = name_or_id.strip()
        if not key:
            return None
        found = self.get(key)
        if found:
            return found
        if len(key) >= MIN_PREFIX:
            with self._conn() as conn:
                # a range on the unique index; LIKE would need escaping and skip the index
                rows = conn.execute(f"SELECT {_COLUMNS} FROM artifacts a WHERE a.id >= ? AND a.id < ? LIMIT 2",
                                    (key, key + "\U0010ffff")).fetchall()
            if len(rows) == 1:
                return _row_to_artifact(rows[0])
        return self.get_by_name(key)

    @staticmethod
    def _filters(type: ArtifactType | str | None, tags: Sequence[str] | None,
                 min_quality: float | None) -> tuple[str, list[Any]]:
        clauses, args = ["1"], []
        if type is not None:
            clauses.append("a.type = ?")
            args.append(ArtifactType(type).value)
        if min_quality is not None:
            clauses.append("a.quality_score >= ?")
            args.append(float(min_quality))
        for tag in dict.fromkeys(tags or ()):  # every tag must be present
            # IN (subquery) lets SQLite drive the query from the tag index when the tag is rare
            clauses.append("a.seq IN (SELECT t.seq FROM artifact_tags t WHERE t.tag = ?)")
            args.append(tag)
        return " AND ".join(clauses), args

    def list(self, offset: int = 0, limit: int = 50, *, type: ArtifactType | str | None = None,
             tags: Sequence[str] | None = None, min_quality: float | None = None,
             order: str = "quality") -> builtins.list[Artifact]:
        """One page of artifacts. tags: all must be present."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {sorted(ORDERS)}")
        where, args = self._filters(type, tags, min_quality)
        with self._conn() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM artifacts a WHERE {where} ORDER BY {ORDERS[order]} "
                                "LIMIT ? OFFSET ?", (*args, int(limit), int(offset))).fetchall()
        return [_row_to_artifact(r) for r in rows]

    def count(self, *, type: ArtifactType | str | None = None, tags: Sequence[str] | None = None,
              min_quality: float | None = None) -> int:
        where, args = self._filters(type, tags, min_quality)
        with self._conn() as conn:
            return conn.execute(f"SELECT count(*) FROM artifacts a WHERE {where}", args).fetchone()[0]

    def metrics(self, artifact_id: str, limit: int = 100) -> builtins.list[MetricPoint]:
        """The latest `limit` metric points, oldest first."""
        with self._conn() as conn:
            rows = conn.execute("SELECT artifact_id, at, execution_time_ms, cpu_time_ms, memory_mb, success, "
                                "error, source FROM metrics WHERE artifact_id = ? ORDER BY id DESC LIMIT ?",
                                (artifact_id, int(limit))).fetchall()
        return [MetricPoint(artifact_id=r[0], at=_dt(r[1]), execution_time_ms=r[2], cpu_time_ms=r[3],
                            memory_mb=r[4], success=bool(r[5]), error=r[6], source=r[7])
                for r in reversed(rows)]

    def lineage(self, artifact_id: str) -> builtins.list[Artifact]:
        """The parent chain ending with the artifact itself, oldest first; [] if unknown."""
        with self._conn() as conn:
            rows = conn.execute(
                f"""WITH RECURSIVE chain(id, depth) AS (
                        SELECT ?, 0
                        UNION ALL
                        SELECT p.parent_id, chain.depth + 1 FROM artifacts p JOIN chain ON p.id = chain.id
                        WHERE p.parent_id IS NOT NULL AND chain.depth < 10000)
                    SELECT {_COLUMNS}, chain.depth FROM chain JOIN artifacts a ON a.id = chain.id
                    ORDER BY chain.depth DESC""", (artifact_id,)).fetchall()
        out, seen = [], set()
        for r in rows:  # a corrupt cycle would repeat ids; keep the first (oldest) sighting
            if r[1] not in seen:
                seen.add(r[1])
                out.append(_row_to_artifact(r))
        return out

    def children(self, artifact_id: str) -> builtins.list[Artifact]:
        """Direct descendants, oldest first."""
        with self._conn() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM artifacts a WHERE a.parent_id = ? "
                                "ORDER BY a.version, a.seq", (artifact_id,)).fetchall()
        return [_row_to_artifact(r) for r in rows]

    def stats(self) -> dict[str, Any]:
        with self._conn() as conn:
            count = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
            by_type = dict(conn.execute("SELECT type, count(*) FROM artifacts GROUP BY type").fetchall())
            runs = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
            model = self._model_in(conn)
        size = sum(os.path.getsize(p) for p in (self.path, self.path + "-wal") if os.path.exists(p))
        return {"count": count, "size_bytes": size, "by_type": by_type, "runs": runs,
                "embedding_model": model[0] if model else None, "embedding_dim": model[1] if model else None}

    # -- search -----------------------------------------------------------------------

    def search(self, vector: np.ndarray, k: int = 10, *, min_quality: float = 0.0,
               type: ArtifactType | str | None = None,
               tags: Sequence[str] | None = None) -> builtins.list[tuple[Artifact, float]]:
        """The k most similar artifacts passing the filters, as (artifact, cosine), best first."""
        if k <= 0:
            return []
        with self._conn() as conn:
            model = self._model_in(conn)
            if model is None:
                return []
            q = as_unit_f32(vector, model[1])
            type_value = ArtifactType(type).value if type is not None else None
            where, args = self._filters(type_value, tags, min_quality if min_quality > 0 else None)
            if tags:
                # tag filters are not in the index: small filtered sets are cheapest scanned exactly
                n = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM artifacts a WHERE {where} LIMIT ?)",
                                 (*args, EXACT_SCAN_MAX + 1)).fetchone()[0]
                if n <= EXACT_SCAN_MAX:
                    return self._exact(conn, q, k, where, args)
            want = max(k * self.oversample, self.min_candidates)
            if min_quality > 0:
                # vec0's metadata filter makes the scan ~2.5x slower (measured); a wider
                # unfiltered pool post-filtered in SQL is cheaper, and the exact fallback
                # below still catches a quality bar that leaves too few candidates.
                want = int(want * self.quality_widen)
            sql = "SELECT rowid FROM artifact_vec WHERE embedding MATCH vec_bit(?) AND k = ?"
            knn_args: list[Any] = [quantize(q), want]
            if type_value is not None:
                sql += " AND type = ?"
                knn_args.append(type_value)
            seqs = [r[0] for r in conn.execute(sql, knn_args)]
            hits = self._rescore(conn, q, seqs, where, args)
            if len(hits) < k and len(seqs) == want:
                # the filters ate the candidates (or vectors are missing): scan the filtered set
                return self._exact(conn, q, k, where, args)
            return self._load(conn, hits[:k])

    def _rescore(self, conn: Any, q: np.ndarray, seqs: Sequence[int], where: str,
                 args: Sequence[Any]) -> builtins.list[tuple[int, float]]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        # unary + keeps the planner on the candidate rowids instead of a quality/type index range
        where = where.replace("a.quality_score >=", "+a.quality_score >=").replace("a.type =", "+a.type =")
        rows = conn.execute(f"SELECT v.seq, v.embedding FROM artifact_vectors v JOIN artifacts a ON a.seq = v.seq "
                            f"WHERE v.seq IN ({marks}) AND {where}", (*seqs, *args)).fetchall()
        return self._rank(q, rows)

    def _exact(self, conn: Any, q: np.ndarray, k: int, where: str,
               args: Sequence[Any]) -> builtins.list[tuple[Artifact, float]]:
        hits: list[tuple[int, float]] = []
        cur = conn.execute(f"SELECT v.seq, v.embedding FROM artifact_vectors v JOIN artifacts a ON a.seq = v.seq "
                           f"WHERE {where}", args)
        while rows := cur.fetchmany(4096):  # bounded memory on big filtered sets
            hits = sorted(hits + self._rank(q, rows), key=lambda h: -h[1])[:k]
        return self._load(conn, hits)

    @staticmethod
    def _rank(q: np.ndarray, rows: Sequence[tuple[int, bytes]]) -> builtins.list[tuple[int, float]]:
        rows = [r for r in rows if len(r[1]) == q.nbytes]
        if not rows:
            return []
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        sims = mat @ q
        order = np.argsort(-sims, kind="stable")
        return [(rows[i][0], float(sims[i])) for i in order]

    @staticmethod
    def _load(conn: Any, hits: Sequence[tuple[int, float]]) -> builtins.list[tuple[Artifact, float]]:
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        rows = conn.execute(f"SELECT {_COLUMNS} FROM artifacts a WHERE a.seq IN ({marks})",
                            [s for s, _ in hits]).fetchall()
        by_seq = {r[0]: _row_to_artifact(r) for r in rows}
        return [(by_seq[s], sim) for s, sim in hits if s in by_seq]
