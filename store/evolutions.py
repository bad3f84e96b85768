"""The evolutions repository: every evolution asked for (by a drift, a user or the batch
optimizer), its state, its reason, its evidence and what it cost; and the batch optimizer's
runs with their budget and what they spent."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import db

FINAL = ("promoted", "rejected", "failed", "timeout", "rolled_back")


@dataclass
class Evolution:
    id: int
    artifact_id: str
    name: str
    drift_event: int | None
    type: str
    trigger: str
    status: str
    reason: str | None
    candidate_id: str | None
    evidence: dict[str, Any]
    cost_usd: float
    created_at: float
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "artifact_id": self.artifact_id,
            "name": self.name,
            "drift_event": self.drift_event,
            "type": self.type,
            "trigger": self.trigger,
            "status": self.status,
            "reason": self.reason,
            "candidate_id": self.candidate_id,
            "evidence": self.evidence,
            "cost_usd": self.cost_usd,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


_COLUMNS = (
    "e.id, a.id, a.name, e.drift_event, e.type, e.trigger, e.status, e.reason, e.candidate_id, e.evidence, "
    "e.cost_usd, e.created_at, e.finished_at"
)


def _row(r: Sequence[Any]) -> Evolution:
    return Evolution(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9] or "{}"), r[10], r[11], r[12]
    )


class EvolutionRepository:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    def create(self, artifact_id: str, type: str, trigger: str, drift_event: int | None = None) -> int:
        with self.db.write() as conn:
            seq = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if seq is None:
                raise KeyError(artifact_id)
            cur = conn.execute(
                "INSERT INTO evolutions(artifact, drift_event, type, trigger, created_at) VALUES (?, ?, ?, ?, ?)",
                (seq[0], drift_event, type, trigger, time.time()),
            )
            return int(cur.lastrowid)

    def start(self, evolution_id: int) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE evolutions SET status = 'running' WHERE id = ?", (int(evolution_id),))

    def finish(
        self,
        evolution_id: int,
        status: str,
        reason: str,
        *,
        evidence: dict[str, Any],
        cost_usd: float,
        candidate_id: str | None = None,
    ) -> None:
        if status not in FINAL:
            raise ValueError(f"not a final evolution status: {status!r}")
        with self.db.write() as conn:
            conn.execute(
                "UPDATE evolutions SET status = ?, reason = ?, evidence = ?, cost_usd = ?, candidate_id = ?, "
                "finished_at = ? WHERE id = ?",
                (
                    status,
                    reason,
                    json.dumps(evidence, default=str),
                    float(cost_usd),
                    candidate_id,
                    time.time(),
                    evolution_id,
                ),
            )

    def mark(self, evolution_id: int, status: str, reason: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE evolutions SET status = ?, reason = ? WHERE id = ?", (status, reason, evolution_id))

    def get(self, evolution_id: int) -> Evolution | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM evolutions e JOIN artifacts a ON a.seq = e.artifact WHERE e.id = ?",
                (int(evolution_id),),
            ).fetchone()
        return _row(row) if row else None

    def list(
        self, *, artifact_id: str | None = None, statuses: Sequence[str] | None = None, limit: int = 50
    ) -> builtins.list[Evolution]:
        """Newest first."""
        clauses, args = ["1"], []
        if artifact_id:
            clauses.append("a.id = ?")
            args.append(artifact_id)
        if statuses:
            clauses.append(f"e.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM evolutions e JOIN artifacts a ON a.seq = e.artifact "
                f"WHERE {' AND '.join(clauses)} ORDER BY e.id DESC LIMIT ?",
                (*args, int(limit)),
            ).fetchall()
        return [_row(r) for r in rows]

    def promoted_to(self, candidate_id: str) -> Evolution | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM evolutions e JOIN artifacts a ON a.seq = e.artifact "
                "WHERE e.candidate_id = ? AND e.status = 'promoted' ORDER BY e.id DESC LIMIT 1",
                (candidate_id,),
            ).fetchone()
        return _row(row) if row else None

    def spent_since(self, since: float) -> float:
        with self.db.read() as conn:
            return float(
                conn.execute(
                    "SELECT coalesce(sum(cost_usd), 0) FROM evolutions WHERE created_at >= ?", (since,)
                ).fetchone()[0]
            )

    # -- the batch optimizer's runs ----------------------------------------------------------

    def start_run(self, budget_usd: float, forced: bool) -> int:
        with self.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO optimizer_runs(started_at, budget_usd, forced) VALUES (?, ?, ?)",
                (time.time(), float(budget_usd), int(forced)),
            )
            return int(cur.lastrowid)

    def update_run(self, run_id: int, spent_usd: float, summary: dict[str, Any], *, finished: bool) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE optimizer_runs SET spent_usd = ?, summary = ?, finished_at = ? WHERE id = ?",
                (float(spent_usd), json.dumps(summary, default=str), time.time() if finished else None, run_id),
            )

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT id, started_at, finished_at, budget_usd, spent_usd, forced, summary FROM optimizer_runs "
                "WHERE id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "started_at": row[1],
            "finished_at": row[2],
            "budget_usd": row[3],
            "spent_usd": row[4],
            "forced": bool(row[5]),
            "summary": json.loads(row[6] or "{}"),
        }
