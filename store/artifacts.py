"""The artifacts repository: artifacts, their tags, versions, states, lineage edges and usage.

Versions are per name and unique (UNIQUE(name, version)); a name gets a new version only
when the caller asks for one (`new_version=True`), allocated inside the write transaction
so concurrent stores can never share a number. Lineage is a set of explicit edges with a
kind; nothing is inferred from names.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from . import db
from .records import Artifact, ArtifactState, ArtifactType, LineageEdge, LineageKind

ORDERS = {
    "quality": "a.quality_score DESC, a.usage_count DESC, a.seq DESC",
    "recent": "coalesce(a.last_used, a.created_at) DESC, a.seq DESC",
    "name": "a.name ASC, a.version DESC, a.seq ASC",
    "usage": "a.usage_count DESC, a.quality_score DESC, a.seq DESC",
}
MIN_PREFIX = 6

COLUMNS = (
    "a.seq, a.id, a.name, a.type, a.description, a.content, a.spec, a.test_results, a.quality_score, "
    "a.usage_count, a.avg_execution_time_ms, a.created_at, a.last_used, a.tags, a.metadata, "
    "a.version, a.provenance, a.state, a.state_reason, a.failure_count, a.strength, a.merit, "
    "a.superseded_by"
)


class DuplicateArtifact(ValueError):
    """An artifact with this id is already stored."""


class NameTaken(ValueError):
    """Storing under a name that exists without asking for a new version."""

    def __init__(self, existing: Artifact) -> None:
        super().__init__(existing.name)
        self.existing = existing


def ts(dt: datetime | None) -> str | None:
    """Fixed-width ISO 8601 UTC so text order is time order. Naive datetimes are taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def row_to_artifact(r: Sequence[Any]) -> Artifact:
    return Artifact(
        seq=r[0],
        id=r[1],
        name=r[2],
        type=ArtifactType(r[3]),
        description=r[4],
        content=r[5],
        spec=r[6],
        test_results=json.loads(r[7]),
        quality_score=r[8],
        usage_count=r[9],
        avg_execution_time_ms=r[10],
        created_at=_dt(r[11]) or datetime.now(timezone.utc),
        last_used=_dt(r[12]),
        tags=json.loads(r[13]),
        metadata=json.loads(r[14]),
        version=r[15],
        provenance=json.loads(r[16]),
        state=ArtifactState(r[17]),
        state_reason=r[18],
        failure_count=r[19],
        strength=r[20],
        merit=r[21],
        superseded_by=r[22],
    )


def filters(
    type: ArtifactType | str | None = None,
    tags: Sequence[str] | None = None,
    min_quality: float | None = None,
    states: Sequence[ArtifactState | str] | None = None,
    min_merit: float | None = None,
) -> tuple[str, list[Any]]:
    """A WHERE clause over `artifacts a` and its arguments. tags: all must be present."""
    clauses: list[str] = ["1"]
    args: list[Any] = []
    if type is not None:
        clauses.append("a.type = ?")
        args.append(ArtifactType(type).value)
    if min_quality is not None:
        clauses.append("a.quality_score >= ?")
        args.append(float(min_quality))
    if min_merit is not None:
        clauses.append("a.merit >= ?")
        args.append(float(min_merit))
    if states:
        clauses.append(f"a.state IN ({', '.join('?' * len(states))})")
        args.extend(ArtifactState(s).value for s in states)
    for tag in dict.fromkeys(tags or ()):
        # IN (subquery) lets SQLite drive the query from the tag index when the tag is rare
        clauses.append("a.seq IN (SELECT t.seq FROM artifact_tags t WHERE t.tag = ?)")
        args.append(tag)
    return " AND ".join(clauses), args


def search_filters(
    type: ArtifactType | str | None = None,
    tags: Sequence[str] | None = None,
    min_quality: float = 0.0,
    states: Sequence[ArtifactState | str] | None = None,
    min_merit: float = 0.0,
) -> tuple[str, list[Any]]:
    """filters() as the searches take them: a bar of 0 is no bar."""
    return filters(type, tags, min_quality if min_quality > 0 else None, states, min_merit if min_merit > 0 else None)


class ArtifactRepository:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    # -- writes -----------------------------------------------------------------------

    def insert(
        self, artifact: Artifact, *, new_version: bool = False, lineage: Sequence[tuple[LineageKind, str]] = ()
    ) -> Artifact:
        """Store `artifact`; returns it with its seq and version. Under a name that exists,
        `new_version=True` makes it the next version (with a version_of edge to the latest),
        otherwise NameTaken. `lineage`: further (kind, parent artifact id) edges."""
        a = artifact
        with self.db.write() as conn:
            latest = conn.execute(
                f"SELECT {COLUMNS} FROM artifacts a WHERE a.name = ? ORDER BY a.version DESC LIMIT 1", (a.name,)
            ).fetchone()
            previous = row_to_artifact(latest) if latest else None
            if previous is not None and not new_version:
                raise NameTaken(previous)
            a.version = previous.version + 1 if previous else 1
            try:
                cur = conn.execute(
                    "INSERT INTO artifacts(id, name, type, description, content, spec, test_results, "
                    "quality_score, usage_count, failure_count, avg_execution_time_ms, created_at, last_used, tags, "
                    "metadata, version, provenance, state, state_reason, strength, merit) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        a.id,
                        a.name,
                        ArtifactType(a.type).value,
                        a.description,
                        a.content,
                        a.spec,
                        json.dumps(a.test_results),
                        float(a.quality_score),
                        a.usage_count,
                        a.failure_count,
                        float(a.avg_execution_time_ms),
                        ts(a.created_at),
                        ts(a.last_used),
                        json.dumps(list(a.tags)),
                        json.dumps(a.metadata),
                        a.version,
                        json.dumps(a.provenance),
                        ArtifactState(a.state).value,
                        a.state_reason,
                        a.strength,
                        float(a.merit),
                    ),
                )
            except db.driver().IntegrityError as exc:
                raise DuplicateArtifact(a.id) from exc
            a.seq = cur.lastrowid
            conn.executemany(
                "INSERT OR IGNORE INTO artifact_tags(seq, tag) VALUES (?, ?)", [(a.seq, t) for t in a.tags]
            )
            edges = ([(LineageKind.VERSION_OF, previous.id)] if previous else []) + list(lineage)
            for kind, parent_id in edges:
                self._add_edge(conn, a.seq, parent_id, kind, a.created_at)
        return a

    def add_edge(self, child_id: str, parent_id: str, kind: LineageKind) -> None:
        with self.db.write() as conn:
            child = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (child_id,)).fetchone()
            if child is None:
                raise KeyError(child_id)
            self._add_edge(conn, child[0], parent_id, kind, datetime.now(timezone.utc))

    @staticmethod
    def _add_edge(conn: Any, child_seq: int, parent_id: str, kind: LineageKind, at: datetime) -> None:
        parent = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (parent_id,)).fetchone()
        if parent is None:
            raise KeyError(parent_id)
        conn.execute(
            "INSERT OR IGNORE INTO lineage(child, parent, kind, at) VALUES (?, ?, ?, ?)",
            (child_seq, parent[0], LineageKind(kind).value, ts(at)),
        )

    def set_state(
        self,
        artifact_id: str,
        state: ArtifactState,
        reason: str | None = None,
        *,
        test_results: dict[str, Any] | None = None,
        quality_score: float | None = None,
        strength: float | None = None,
        merit: float | None = None,
    ) -> None:
        """Move an artifact between states; re-verification also replaces its proof."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE artifacts SET state = ?, state_reason = ?, "
                "test_results = coalesce(?, test_results), quality_score = coalesce(?, quality_score), "
                "strength = coalesce(?, strength), merit = coalesce(?, merit) WHERE id = ?",
                (
                    ArtifactState(state).value,
                    reason,
                    json.dumps(test_results) if test_results else None,
                    quality_score,
                    strength,
                    merit,
                    artifact_id,
                ),
            )

    @staticmethod
    def _derived_tables(conn: Any) -> list[str]:
        """Virtual tables keyed by seq that do not cascade (vec0 indexes, the word index)."""
        return [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE name IN ('artifact_vec', 'code_vec', 'artifact_words')"
            )
        ]

    def count_use(self, artifact_id: str, success: bool, function_ms: float | None, at: datetime) -> None:
        """Usage counters, at once: successful runs and failures apart, last used, and the mean
        function time of the successful runs (failed runs often stop early)."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT usage_count, avg_execution_time_ms, success_count FROM artifacts WHERE id = ?", (artifact_id,)
            ).fetchone()
            if row is None:
                raise KeyError(artifact_id)
            uses, avg, timed = row
            if success:
                uses += 1
                if function_ms is not None:
                    timed += 1
                    avg += (float(function_ms) - avg) / timed
                conn.execute(
                    "UPDATE artifacts SET usage_count = ?, success_count = ?, avg_execution_time_ms = ?, "
                    "last_used = max(coalesce(last_used, ''), ?) WHERE id = ?",
                    (uses, timed, avg, ts(at), artifact_id),
                )
            else:
                conn.execute(
                    "UPDATE artifacts SET failure_count = failure_count + 1, "
                    "last_used = max(coalesce(last_used, ''), ?) WHERE id = ?",
                    (ts(at), artifact_id),
                )

    def delete(self, artifact_id: str) -> bool:
        with self.db.write() as conn:
            row = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if row is None:
                return False
            for table in self._derived_tables(conn):
                conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (row[0],))
            conn.execute("DELETE FROM artifacts WHERE seq = ?", (row[0],))  # cascades to tags, vectors, points, edges
            return True

    # -- reads ------------------------------------------------------------------------

    def _one(self, where: str, args: Sequence[Any], order: str = "") -> Artifact | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM artifacts a WHERE {where} {order} LIMIT 1", tuple(args)
            ).fetchone()
        return row_to_artifact(row) if row else None

    def get(self, artifact_id: str) -> Artifact | None:
        return self._one("a.id = ?", (artifact_id,))

    def get_by_name(self, name: str) -> Artifact | None:
        """The version of `name` that serves: the highest not superseded, else the highest."""
        return self._one("a.name = ?", (name,), "ORDER BY a.superseded_by IS NOT NULL, a.version DESC")

    def find_identical(self, name: str, content: str, spec: str) -> Artifact | None:
        """A version of `name` with exactly this code and spec."""
        return self._one(
            "a.name = ? AND a.content = ? AND a.spec = ?", (name, content, spec), "ORDER BY a.version DESC"
        )

    def name_taken(self, name: str) -> bool:
        with self.db.read() as conn:
            return conn.execute("SELECT 1 FROM artifacts WHERE name = ? LIMIT 1", (name,)).fetchone() is not None

    def by_seqs(self, seqs: Sequence[int]) -> dict[int, Artifact]:
        if not seqs:
            return {}
        marks = ",".join("?" * len(seqs))
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM artifacts a WHERE a.seq IN ({marks})", list(seqs)).fetchall()
        return {r[0]: row_to_artifact(r) for r in rows}

    def resolve(self, name_or_id: str) -> Artifact | None:
        """Exact id, else a unique id prefix of at least 6 characters, else a name."""
        key = name_or_id.strip()
        if not key:
            return None
        found = self.get(key)
        if found:
            return found
        if len(key) >= MIN_PREFIX:
            with self.db.read() as conn:
                # a range on the unique index; LIKE would need escaping and skip the index
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM artifacts a WHERE a.id >= ? AND a.id < ? LIMIT 2", (key, key + "\U0010ffff")
                ).fetchall()
            if len(rows) == 1:
                return row_to_artifact(rows[0])
        return self.get_by_name(key)

    def list(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        type: ArtifactType | str | None = None,
        tags: Sequence[str] | None = None,
        min_quality: float | None = None,
        states: Sequence[ArtifactState | str] | None = None,
        order: str = "quality",
    ) -> builtins.list[Artifact]:
        """One page of artifacts."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {sorted(ORDERS)}")
        where, args = filters(type, tags, min_quality, states)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM artifacts a WHERE {where} ORDER BY {ORDERS[order]} LIMIT ? OFFSET ?",
                (*args, int(limit), int(offset)),
            ).fetchall()
        return [row_to_artifact(r) for r in rows]

    def count(
        self,
        *,
        type: ArtifactType | str | None = None,
        tags: Sequence[str] | None = None,
        min_quality: float | None = None,
        states: Sequence[ArtifactState | str] | None = None,
    ) -> int:
        where, args = filters(type, tags, min_quality, states)
        with self.db.read() as conn:
            return conn.execute(f"SELECT count(*) FROM artifacts a WHERE {where}", args).fetchone()[0]

    def seqs_in_state(self, state: ArtifactState, after: int = 0, limit: int = 100) -> builtins.list[int]:
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM artifacts WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (ArtifactState(state).value, after, limit),
                )
            ]

    def supersede(self, artifact_id: str, by: str | None) -> None:
        """Mark `artifact_id` as served in place of by `by` (None: it serves again)."""
        with self.db.write() as conn:
            if conn.execute("UPDATE artifacts SET superseded_by = ? WHERE id = ?", (by, artifact_id)).rowcount != 1:
                raise KeyError(artifact_id)

    # -- lineage ----------------------------------------------------------------------

    def edges(self, artifact_id: str) -> builtins.list[LineageEdge]:
        """Every edge touching the artifact, as child or parent, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT c.id, p.id, l.kind, l.at FROM lineage l JOIN artifacts c ON c.seq = l.child "
                "JOIN artifacts p ON p.seq = l.parent WHERE c.id = ? OR p.id = ? ORDER BY l.at, l.child",
                (artifact_id, artifact_id),
            ).fetchall()
        return [LineageEdge(r[0], r[1], LineageKind(r[2]), _dt(r[3]) or datetime.now(timezone.utc)) for r in rows]

    def lineage(self, artifact_id: str, kinds: Sequence[LineageKind] = tuple(LineageKind)) -> builtins.list[Artifact]:
        """The chain of ancestors along `kinds` ending with the artifact itself, oldest first;
        [] if unknown. Where an artifact has several parents the earliest edge is followed."""
        marks = ",".join("?" * len(kinds))
        with self.db.read() as conn:
            rows = conn.execute(
                f"""WITH RECURSIVE chain(seq, depth) AS (
                        SELECT seq, 0 FROM artifacts WHERE id = ?
                        UNION
                        SELECT (SELECT l.parent FROM lineage l WHERE l.child = chain.seq AND l.kind IN ({marks})
                                ORDER BY l.at LIMIT 1), chain.depth + 1
                        FROM chain WHERE chain.depth < 10000)
                    SELECT {COLUMNS}, chain.depth FROM chain JOIN artifacts a ON a.seq = chain.seq
                    ORDER BY chain.depth DESC""",
                (artifact_id, *[LineageKind(k).value for k in kinds]),
            ).fetchall()
        out, seen = [], set()
        for r in rows:  # a corrupt cycle would repeat seqs; keep the oldest sighting
            if r[0] not in seen:
                seen.add(r[0])
                out.append(row_to_artifact(r))
        return out

    def children(self, artifact_id: str) -> builtins.list[Artifact]:
        """Direct descendants along any edge, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM lineage l JOIN artifacts a ON a.seq = l.child "
                "WHERE l.parent = (SELECT seq FROM artifacts WHERE id = ?) ORDER BY a.seq",
                (artifact_id,),
            ).fetchall()
        return [row_to_artifact(r) for r in rows]

    def stats(self) -> dict[str, Any]:
        with self.db.read() as conn:
            count = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
            by_type = dict(conn.execute("SELECT type, count(*) FROM artifacts GROUP BY type").fetchall())
            by_state = dict(conn.execute("SELECT state, count(*) FROM artifacts GROUP BY state").fetchall())
            runs = conn.execute("SELECT count(*) FROM points").fetchone()[0]
        size = sum(os.path.getsize(p) for p in (self.db.path, self.db.path + "-wal") if os.path.exists(p))
        return {"count": count, "size_bytes": size, "by_type": by_type, "by_state": by_state, "runs": runs}
