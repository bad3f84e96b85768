"""The drift repository: each artifact's detector state (opaque JSON the engine owns, updated
in the metrics flush's transaction) and the drift events raised from it, with the figures
and the window of points that raised them."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import db

STATUSES = ("open", "evolving", "resolved", "dismissed", "explained")


@dataclass
class DriftEvent:
    id: int
    artifact_id: str
    name: str
    type: str
    severity: float
    action: str
    detectors: list[str]
    figures: dict[str, Any]
    window: dict[str, Any]
    status: str
    explanation: str | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "artifact_id": self.artifact_id,
            "name": self.name,
            "type": self.type,
            "severity": round(self.severity, 3),
            "action": self.action,
            "detectors": self.detectors,
            "figures": self.figures,
            "window": self.window,
            "status": self.status,
            "explanation": self.explanation,
            "at": self.at,
        }


_EVENT_COLUMNS = (
    "e.id, a.id, a.name, e.type, e.severity, e.action, e.detectors, e.figures, e.window, e.status, e.explanation, e.at"
)


def _event(r: Sequence[Any]) -> DriftEvent:
    return DriftEvent(
        r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]), json.loads(r[8]), r[9], r[10], r[11]
    )


class DriftRepository:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    # -- detector state (read and written inside the caller's transaction) ---------------

    @staticmethod
    def states_in(conn: Any, seqs: Iterable[int]) -> dict[int, str]:
        wanted = list(dict.fromkeys(seqs))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        return dict(conn.execute(f"SELECT artifact, state FROM drift_state WHERE artifact IN ({marks})", wanted))

    @staticmethod
    def put_states_in(conn: Any, states: dict[int, tuple[str, int]]) -> None:
        now = time.time()
        conn.executemany(
            "INSERT OR REPLACE INTO drift_state(artifact, state, points, updated_at) VALUES (?, ?, ?, ?)",
            [(seq, text, n, now) for seq, (text, n) in states.items()],
        )

    def state(self, artifact_id: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT s.state FROM drift_state s JOIN artifacts a ON a.seq = s.artifact WHERE a.id = ?",
                (artifact_id,),
            ).fetchone()
        return row[0] if row else None

    def put_state(self, artifact_id: str, text: str, points: int) -> None:
        with self.db.write() as conn:
            seq = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if seq is None:
                raise KeyError(artifact_id)
            self.put_states_in(conn, {seq[0]: (text, points)})

    def all_states(self) -> builtins.list[tuple[str, str, str]]:
        """(artifact id, name, state JSON) of every artifact with detector state."""
        with self.db.read() as conn:
            return [
                (r[0], r[1], r[2])
                for r in conn.execute(
                    "SELECT a.id, a.name, s.state FROM drift_state s JOIN artifacts a ON a.seq = s.artifact "
                    "ORDER BY a.seq"
                )
            ]

    # -- the machine's reference measurement history (see engine telemetry.reference) ------

    @staticmethod
    def reference_in(conn: Any) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'reference_ms'").fetchone()
        return row[0] if row else None

    @staticmethod
    def put_reference_in(conn: Any, text: str) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('reference_ms', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (text,),
        )

    # -- events ----------------------------------------------------------------------------

    @staticmethod
    def open_types_in(conn: Any, seq: int) -> set[str]:
        return {
            r[0]
            for r in conn.execute(
                "SELECT type FROM drift_events WHERE artifact = ? AND status IN ('open', 'evolving')", (seq,)
            )
        }

    @staticmethod
    def add_in(
        conn: Any,
        seq: int,
        type: str,
        severity: float,
        action: str,
        detectors: Sequence[str],
        figures: dict[str, Any],
        window: dict[str, Any],
        *,
        status: str = "open",
        explanation: str | None = None,
        at: float | None = None,
    ) -> int:
        if status not in STATUSES:
            raise ValueError(f"unknown drift status {status!r}")
        cur = conn.execute(
            "INSERT INTO drift_events(artifact, type, severity, action, detectors, figures, window, status, "
            "explanation, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                seq,
                type,
                float(severity),
                action,
                json.dumps(list(detectors)),
                json.dumps(figures, default=float),
                json.dumps(window),
                status,
                explanation,
                time.time() if at is None else at,
            ),
        )
        return int(cur.lastrowid)

    def get(self, event_id: int) -> DriftEvent | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM drift_events e JOIN artifacts a ON a.seq = e.artifact WHERE e.id = ?",
                (int(event_id),),
            ).fetchone()
        return _event(row) if row else None

    def list(
        self,
        *,
        statuses: Sequence[str] | None = None,
        artifact_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[DriftEvent]:
        """Newest first."""
        clauses: list[str] = ["1"]
        args: list[Any] = []
        if statuses:
            clauses.append(f"e.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if artifact_id:
            clauses.append("a.id = ?")
            args.append(artifact_id)
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM drift_events e JOIN artifacts a ON a.seq = e.artifact "
                f"WHERE {' AND '.join(clauses)} ORDER BY e.id DESC LIMIT ?",
                (*args, int(limit)),
            ).fetchall()
        return [_event(r) for r in rows]

    def set_status(self, event_id: int, status: str, explanation: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown drift status {status!r}")
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE drift_events SET status = ?, explanation = coalesce(?, explanation) WHERE id = ?",
                (status, explanation, int(event_id)),
            ).rowcount
        if changed != 1:
            raise KeyError(event_id)

    def close_open(self, artifact_id: str, type: str, status: str, explanation: str) -> int:
        """Every open or evolving event of this artifact and type gets `status`."""
        with self.db.write() as conn:
            return conn.execute(
                "UPDATE drift_events SET status = ?, explanation = ? WHERE type = ? AND status IN ('open', 'evolving') "
                "AND artifact = (SELECT seq FROM artifacts WHERE id = ?)",
                (status, explanation, type, artifact_id),
            ).rowcount
