"""The vector index: one float32 vector per artifact and a binary-quantised copy to scan.

Search is two-stage: a sqlite-vec `vec0` table holds a binary-quantised copy of every
vector (1 bit per dimension, hamming distance: cheap to scan), which yields k x oversample
candidates; those are re-scored exactly with the float32 vectors. Type is a vec0 metadata
column, filtered inside the scan; the quality bar, states and tags are applied while
re-scoring (over a wider pool), and whenever filters leave fewer than k hits the filtered
set is scanned exactly, so a filter never hides a matching artifact. Candidate pool sizes
are tuned in bench/vector_search.py. The index stores vectors; which text an artifact is
embedded by is the engine's business.
"""

from __future__ import annotations

import builtins
import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import db
from .artifacts import search_filters
from .records import ArtifactState, ArtifactType

UNKNOWN_MODEL = "unknown"


@dataclass(frozen=True)
class View:
    """Where one view's vectors live: float rows, their binary vec0 index, the meta key prefix."""

    name: str
    table: str
    index: str
    meta: str


# An artifact is found by several views (what the text of each is, is the engine's business).
VIEWS = {
    "description": View("description", "artifact_vectors", "artifact_vec", "embedding"),
    "code": View("code", "code_vectors", "code_vec", "code_embedding"),
}
# Filtered sets at most this large are scanned exactly: cheaper than a vec0 pass, and exact.
EXACT_SCAN_MAX = 2000
# Binary candidates per resident search (bench/retrieval.py --scale: recall of the fused top 10
# 0.968 at 100k with 500), narrowed by int8 codes in memory to the pool read from SQLite; per
# view at 100k p50 1.5 ms (was 5.5 ms when all 500 float rows were read and scored).
RESIDENT_MIN_CANDIDATES = 500


def as_unit_f32(vector, dim: int | None = None) -> np.ndarray:
    """Validate and L2-normalise one vector (defensive: the embedder already normalises)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and v.shape[0] != dim:
        raise ValueError(f"vector has {v.shape[0]} dimensions, the store's model has {dim}")
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0.0:
        raise ValueError("vector must be finite and non-zero")
    return v / n


def to_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


@dataclass(frozen=True)
class Resident:
    """The index held in memory: packed sign bits to scan and int8 codes to re-score with.

    The bits are stored word-major ([words, n] uint64) so that each of the few passes of a
    scan runs over contiguous memory; the codes are each vector scaled so its largest
    component is 127 (`scale` undoes it), a quarter of the float rows' size."""

    generation: str
    seqs: np.ndarray
    bits: np.ndarray
    codes: np.ndarray
    scale: np.ndarray
    types: np.ndarray


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim; elsewhere nothing): a big
    read frees many small blocks that would otherwise stay in the RSS."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def quantize(v: np.ndarray) -> bytes:
    """1 bit per dimension (sign), packed for a vec0 `bit[dim]` column; same layout as vec_quantize_binary."""
    return np.packbits(np.asarray(v) > 0, bitorder="little").tobytes()


class VectorIndex:
    def __init__(
        self,
        database: db.Database,
        view: str = "description",
        *,
        oversample: int = 5,
        min_candidates: int = 50,
        quality_widen: float = 2.0,
        resident: bool = False,
    ) -> None:
        self.db = database
        self.view = VIEWS[view]
        # resident: a long-lived process scans the binary index in memory with numpy (~1 ms at 100k
        # vectors whatever the pool size, where vec0's top-k grows with it: 6.5 ms for 50 candidates,
        # 27 ms for 150), reloaded when the index's generation moves; it costs ~dim + dim/8 bytes per
        # vector (43 MB per view at 100k). One-shot commands keep vec0: loading costs more than one scan.
        self.resident = resident
        self._resident: Resident | None = None
        # binary candidates per query: max(k * oversample, min_candidates). vec0's top-k
        # selection costs O(rows x k), so the pool size is the latency knob (bench/vector_search.py).
        self.oversample = oversample
        self.min_candidates = min_candidates
        self.quality_widen = quality_widen

    # -- the model the vectors come from ------------------------------------------------

    def _meta(self, conn: Any, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"{self.view.meta}_{key}",)).fetchone()
        return row[0] if row else None

    def _set_meta(self, conn: Any, key: str, value: str) -> None:
        key = f"{self.view.meta}_{key}"
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _model_in(self, conn: Any) -> tuple[str, int] | None:
        name, dim = self._meta(conn, "model"), self._meta(conn, "dim")
        return (name, int(dim)) if name is not None and dim is not None else None

    def model(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with; None for a fresh store."""
        with self.db.read() as conn:
            return self._model_in(conn)

    def _create_index(self, conn: Any, dim: int) -> None:
        conn.execute(f"DROP TABLE IF EXISTS {self.view.index}")
        # metadata columns let vec0 apply the type filter during the scan
        conn.execute(
            f"CREATE VIRTUAL TABLE {self.view.index} USING vec0(embedding bit[{dim}], quality float, type text)"
        )

    def _bump(self, conn: Any) -> None:
        """Every change to the index moves its generation (resident copies reload)."""
        key = f"{self.view.meta}_generation"
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key,),
        )

    def _set_model(self, conn: Any, name: str, dim: int) -> None:
        current = self._model_in(conn)
        if current is None or current[1] != dim:
            self._create_index(conn, dim)
            self._bump(conn)
        self._set_meta(conn, "model", name)
        self._set_meta(conn, "dim", str(dim))

    def use_model(self, name: str, dim: int) -> int:
        """Make `name` the model vectors must come from; returns how many artifacts lack a
        vector of it (the engine's re-embedding job fills them). Vectors of another dimension
        are unusable and dropped. Reads only, when nothing changes."""
        with self.db.read() as conn:
            current = self._model_in(conn)
        if current != (name, dim):
            with self.db.write() as conn:
                current = self._model_in(conn)
                if current != (name, dim):
                    self._set_model(conn, name, dim)
                    if current is not None and current[1] != dim:
                        conn.execute(f"DELETE FROM {self.view.table}")
        return len(self.missing(name, dim, limit=10**9))

    def missing(self, name: str, dim: int, after: int = 0, limit: int = 256) -> builtins.list[int]:
        """Seqs of artifacts with no vector from (name, dim), in order, after `after`."""
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    f"SELECT a.seq FROM artifacts a WHERE a.seq > ? AND NOT EXISTS (SELECT 1 FROM {self.view.table} v "
                    "WHERE v.seq = a.seq AND v.model = ? AND v.dim = ?) ORDER BY a.seq LIMIT ?",
                    (after, name, dim, limit),
                )
            ]

    # -- writes -----------------------------------------------------------------------

    def put(self, seq: int, vector: np.ndarray) -> None:
        """The artifact's vector (float and binary) under the current model. A fresh store adopts
        the vector's dimension under the name "unknown" until use_model() names the model."""
        with self.db.write() as conn:
            model = self._model_in(conn)
            if model is None:
                self._set_model(conn, UNKNOWN_MODEL, int(np.asarray(vector).size))
                model = self._model_in(conn)
            assert model is not None
            v = as_unit_f32(vector, model[1])
            row = conn.execute("SELECT quality_score, type FROM artifacts WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise KeyError(seq)
            conn.execute(
                f"INSERT OR REPLACE INTO {self.view.table}(seq, model, dim, embedding) VALUES (?, ?, ?, ?)",
                (seq, model[0], v.shape[0], to_blob(v)),
            )
            self._bump(conn)
            conn.execute(f"DELETE FROM {self.view.index} WHERE rowid = ?", (seq,))  # vec0 has no upsert
            conn.execute(
                f"INSERT INTO {self.view.index}(rowid, embedding, quality, type) VALUES (?, vec_bit(?), ?, ?)",
                (seq, quantize(v), float(row[0]), row[1]),
            )

    def rebuild_index(self) -> int:
        """The binary index made again from the float vectors (a recovered store has none)."""
        with self.db.write() as conn:
            model = self._model_in(conn)
            if model is None:
                return 0
            self._create_index(conn, model[1])
            self._bump(conn)
            rows = conn.execute(
                f"SELECT v.seq, v.embedding, a.quality_score, a.type FROM {self.view.table} v "
                "JOIN artifacts a ON a.seq = v.seq WHERE v.dim = ?",
                (model[1],),
            ).fetchall()
            for seq, blob, quality, type_ in rows:
                conn.execute(
                    f"INSERT INTO {self.view.index}(rowid, embedding, quality, type) VALUES (?, vec_bit(?), ?, ?)",
                    (seq, quantize(from_blob(blob)), float(quality), type_),
                )
        return len(rows)

    # -- search -----------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        min_quality: float = 0.0,
        min_merit: float = 0.0,
        type: ArtifactType | str | None = None,
        tags: Sequence[str] | None = None,
        states: Sequence[ArtifactState | str] | None = None,
    ) -> builtins.list[tuple[int, float]]:
        """The k most similar artifacts passing the filters, as (seq, cosine), best first."""
        if k <= 0:
            return []
        with self.db.read() as conn:
            model = self._model_in(conn)
            if model is None:
                return []
            q = as_unit_f32(vector, model[1])
            type_value = ArtifactType(type).value if type is not None else None
            where, args = search_filters(type_value, tags, min_quality, states, min_merit)
            if tags:
                # tag filters are not in the index: small filtered sets are cheapest scanned exactly
                n = conn.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM artifacts a WHERE {where} LIMIT ?)",
                    (*args, EXACT_SCAN_MAX + 1),
                ).fetchone()[0]
                if n <= EXACT_SCAN_MAX:
                    return self._exact(conn, q, k, where, args)
            want = max(k * self.oversample, self.min_candidates)
            if min_quality > 0 or min_merit > 0 or states:
                # vec0's metadata filter makes the scan ~2.5x slower (measured); a wider
                # unfiltered pool post-filtered in SQL is cheaper, and the exact fallback
                # below still catches a bar that leaves too few candidates.
                want = int(want * self.quality_widen)
            if self.resident:
                # cheap in memory: many binary candidates (better recall), narrowed by their int8
                # codes to the pool vec0 would have given, which alone are read and scored exactly
                pool = want
                want = max(want, RESIDENT_MIN_CANDIDATES)
                seqs, best = self._resident_candidates(conn, q, want, pool, type_value, model[1])
                hits = self._rescore(conn, q, best, where, args)
                if len(hits) >= k:
                    return hits[:k]
                if len(best) < len(seqs):  # the filters ate the best: score every candidate
                    hits = self._rescore(conn, q, seqs, where, args)
            else:
                sql = f"SELECT rowid FROM {self.view.index} WHERE embedding MATCH vec_bit(?) AND k = ?"
                knn_args: list[Any] = [quantize(q), want]
                if type_value is not None:
                    sql += " AND type = ?"
                    knn_args.append(type_value)
                seqs = [r[0] for r in conn.execute(sql, knn_args)]
                hits = self._rescore(conn, q, seqs, where, args)
            if len(hits) < k and len(seqs) == want:
                # the filters ate the candidates (or vectors are missing): scan the filtered set
                return self._exact(conn, q, k, where, args)
            return hits[:k]

    def _resident_candidates(
        self, conn: Any, q: np.ndarray, want: int, keep: int, type_value: str | None, dim: int
    ) -> tuple[builtins.list[int], builtins.list[int]]:
        """From the in-memory copy: the `want` nearest seqs by hamming distance, and the `keep`
        best of those by their int8 codes' cosine (both best first)."""
        generation = self._meta(conn, "generation") or "0"
        resident = self._resident
        if resident is None or resident.generation != generation:
            resident = self._resident = self._load_resident(conn, generation, dim)
        if not len(resident.seqs):
            return [], []
        query = np.frombuffer(quantize(q), dtype=np.uint8)
        query = np.pad(query, (0, resident.bits.shape[0] * 8 - query.size)).view(np.uint64)
        distance = np.bitwise_count(resident.bits[0] ^ query[0]).astype(np.int32)
        for word in range(1, len(query)):
            distance += np.bitwise_count(resident.bits[word] ^ query[word])
        if type_value is not None:
            distance[resident.types != type_value] = np.iinfo(np.int32).max
        want = min(want, int((distance < np.iinfo(np.int32).max).sum()))
        if want <= 0:
            return [], []
        top = np.argpartition(distance, want - 1)[:want] if want < len(distance) else np.arange(len(distance))
        top = top[np.argsort(distance[top], kind="stable")]
        approx = (resident.codes[top].astype(np.float32) @ q) / resident.scale[top]
        best = top[np.argsort(-approx, kind="stable")[:keep]]
        return [int(s) for s in resident.seqs[top]], [int(s) for s in resident.seqs[best]]

    def _load_resident(self, conn: Any, generation: str, dim: int) -> Resident:
        """Read every vector once into the final arrays, a small chunk at a time: the float
        rows pass through and only the bits and codes stay (a load that collected chunks
        first left ~130 MB in the RSS at 100k vectors for a 43 MB index)."""
        words = -(-dim // 64)
        n = conn.execute(f"SELECT count(*) FROM {self.view.table} WHERE dim = ?", (dim,)).fetchone()[0]
        seqs = np.empty(n, dtype=np.int64)
        types = np.empty(n, dtype=object)
        bits = np.zeros((words, n), dtype=np.uint64)
        codes = np.empty((n, dim), dtype=np.int8)
        scales = np.empty(n, dtype=np.float32)
        cur = conn.execute(
            f"SELECT v.seq, v.embedding, a.type FROM {self.view.table} v JOIN artifacts a ON a.seq = v.seq "
            "WHERE v.dim = ?",
            (dim,),
        )
        i = 0
        while (rows := cur.fetchmany(1024)) and i < n:
            rows = rows[: n - i]
            m = len(rows)
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(m, dim)
            packed = np.packbits(mat > 0, axis=1, bitorder="little")
            packed = np.pad(packed, ((0, 0), (0, words * 8 - packed.shape[1])))
            bits[:, i : i + m] = np.ascontiguousarray(packed).view(np.uint64).T
            scale = 127.0 / np.maximum(np.abs(mat).max(axis=1), 1e-12)
            codes[i : i + m] = np.rint(mat * scale[:, None]).astype(np.int8)
            scales[i : i + m] = scale
            seqs[i : i + m] = [r[0] for r in rows]
            types[i : i + m] = [r[2] for r in rows]
            i += m
        release_freed_memory()
        return Resident(generation, seqs[:i], np.ascontiguousarray(bits[:, :i]), codes[:i], scales[:i], types[:i])

    def cosines(self, vector: np.ndarray, seqs: Sequence[int]) -> dict[int, float]:
        """The exact cosine of each of `seqs` that has a vector in this view."""
        if not seqs:
            return {}
        with self.db.read() as conn:
            model = self._model_in(conn)
            if model is None:
                return {}
            marks = ",".join("?" * len(seqs))
            rows = conn.execute(
                f"SELECT seq, embedding FROM {self.view.table} WHERE seq IN ({marks})", tuple(seqs)
            ).fetchall()
            return dict(self._rank(as_unit_f32(vector, model[1]), rows))

    def _rescore(
        self, conn: Any, q: np.ndarray, seqs: Sequence[int], where: str, args: Sequence[Any]
    ) -> builtins.list[tuple[int, float]]:
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        # unary + keeps the planner on the candidate rowids instead of a quality/type/state index range
        where = (
            where.replace("a.quality_score >=", "+a.quality_score >=")
            .replace("a.merit >=", "+a.merit >=")
            .replace("a.type =", "+a.type =")
            .replace("a.state IN", "+a.state IN")
        )
        rows = conn.execute(
            f"SELECT v.seq, v.embedding FROM {self.view.table} v JOIN artifacts a ON a.seq = v.seq "
            f"WHERE v.seq IN ({marks}) AND {where}",
            (*seqs, *args),
        ).fetchall()
        return self._rank(q, rows)

    def _exact(
        self, conn: Any, q: np.ndarray, k: int, where: str, args: Sequence[Any]
    ) -> builtins.list[tuple[int, float]]:
        hits: list[tuple[int, float]] = []
        cur = conn.execute(
            f"SELECT v.seq, v.embedding FROM {self.view.table} v JOIN artifacts a ON a.seq = v.seq WHERE {where}", args
        )
        while rows := cur.fetchmany(4096):  # bounded memory on big filtered sets
            hits = sorted(hits + self._rank(q, rows), key=lambda h: -h[1])[:k]
        return hits

    @staticmethod
    def _rank(q: np.ndarray, rows: Sequence[tuple[int, bytes]]) -> builtins.list[tuple[int, float]]:
        rows = [r for r in rows if len(r[1]) == q.nbytes]
        if not rows:
            return []
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        sims = mat @ q
        order = np.argsort(-sims, kind="stable")
        return [(rows[i][0], float(sims[i])) for i in order]
