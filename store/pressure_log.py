"""The pressure log: every decision made from pressure, with the readings behind it."""

from __future__ import annotations

import builtins
import json
import time
from typing import Any

from . import db

KEEP = 10_000  # the newest decisions kept


class PressureLog:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    def add(self, level: str, decision: str, readings: dict[str, Any]) -> None:
        with self.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO pressure_log(at, level, decision, readings) VALUES (?, ?, ?, ?)",
                (time.time(), level, decision, json.dumps(readings, default=str)),
            )
            if cur.lastrowid % 500 == 0:  # trim now and then, not on every write
                conn.execute("DELETE FROM pressure_log WHERE id <= ?", (cur.lastrowid - KEEP,))

    def latest(self, limit: int = 50) -> builtins.list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT at, level, decision, readings FROM pressure_log ORDER BY id DESC LIMIT ?", (int(limit),)
            ).fetchall()
        return [{"at": r[0], "level": r[1], "decision": r[2], "readings": json.loads(r[3])} for r in rows]
