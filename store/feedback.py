"""Users' verdicts on outputs (accept / reject) and the quality-threshold moves they cause."""

from __future__ import annotations

import builtins
import time
from typing import Any

from . import db


class FeedbackRepository:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    def add(self, artifact_id: str, accepted: bool, quality: float) -> None:
        with self.db.write() as conn:
            seq = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if seq is None:
                raise KeyError(artifact_id)
            conn.execute(
                "INSERT INTO feedback(artifact, accepted, quality, at) VALUES (?, ?, ?, ?)",
                (seq[0], int(bool(accepted)), float(quality), time.time()),
            )

    def recent(self, artifact_id: str, limit: int) -> builtins.list[tuple[bool, float]]:
        """(accepted, quality) of the latest `limit` verdicts, newest first."""
        with self.db.read() as conn:
            return [
                (bool(r[0]), r[1])
                for r in conn.execute(
                    "SELECT accepted, quality FROM feedback WHERE artifact = (SELECT seq FROM artifacts WHERE id = ?) "
                    "ORDER BY id DESC LIMIT ?",
                    (artifact_id, int(limit)),
                )
            ]

    def threshold(self, artifact_id: str) -> float | None:
        """The artifact's threshold after its latest move; None: never moved."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT new FROM threshold_moves WHERE artifact = (SELECT seq FROM artifacts WHERE id = ?) "
                "ORDER BY id DESC LIMIT 1",
                (artifact_id,),
            ).fetchone()
        return row[0] if row else None

    def move(self, artifact_id: str, old: float, new: float, cause: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO threshold_moves(artifact, old, new, cause, at) VALUES "
                "((SELECT seq FROM artifacts WHERE id = ?), ?, ?, ?, ?)",
                (artifact_id, float(old), float(new), cause, time.time()),
            )

    def moves(self, artifact_id: str, limit: int = 20) -> builtins.list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT old, new, cause, at FROM threshold_moves WHERE artifact = (SELECT seq FROM artifacts "
                "WHERE id = ?) ORDER BY id DESC LIMIT ?",
                (artifact_id, int(limit)),
            ).fetchall()
        return [{"old": r[0], "new": r[1], "cause": r[2], "at": r[3]} for r in rows]
