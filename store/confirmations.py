"""Confirmations: how strong a request's spec is against the artifact reuse served for it,
measured after the reply, so later reuses of the same spec know what its pass meant."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .artifacts import ts
from .db import Database
from .records import utcnow

VERDICTS = ("strong", "weak")


def spec_hash(spec_text: str) -> str:
    return hashlib.sha256(spec_text.encode("utf-8")).hexdigest()


@dataclass
class Confirmation:
    spec_hash: str
    artifact_id: str
    strength: float | None
    verdict: str
    detail: dict[str, Any]
    at: str


class ConfirmationRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    def record(self, spec_text: str, artifact_id: str, strength: float | None, verdict: str, detail: dict) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO confirmations(spec_hash, artifact_id, strength, verdict, detail, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (spec_hash(spec_text), artifact_id, strength, verdict, json.dumps(detail), ts(utcnow())),
            )

    def get(self, spec_text: str, artifact_id: str) -> Confirmation | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT spec_hash, artifact_id, strength, verdict, detail, at FROM confirmations "
                "WHERE spec_hash = ? AND artifact_id = ?",
                (spec_hash(spec_text), artifact_id),
            ).fetchone()
        return Confirmation(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5]) if row else None
