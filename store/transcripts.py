"""Transcripts: every ask, and every attempt of it, with prompt, reply, code and verdict.

They let a user see what each tier was asked, what it answered and why it failed. What
the calls cost is in the ledger (ledger.py); an attempt and its charge are written in one
transaction by the ask.
"""

from __future__ import annotations

import builtins
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psutil

from .db import Database

# ids are uuid4 hex; a shorter prefix than this is too likely to mean several
MIN_PREFIX = 4

_TRANSCRIPT_COLUMNS = "id, task, spec, started_at, finished_at, outcome, reason, artifact_id, reused, start_tier, prediction, attempts, cost_usd"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class AttemptRecord:
    n: int
    tier: str
    provider: str
    model: str
    temperature: float | None
    prompt: list[dict[str, str]]
    reply: str | None = None
    code: str | None = None
    test_results: dict[str, Any] | None = None
    passed: bool = False
    error: str | None = None
    duration_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Transcript:
    id: str
    task: str
    spec: str
    started_at: str
    finished_at: str | None
    outcome: str
    reason: str | None
    artifact_id: str | None
    reused: bool
    start_tier: str | None
    prediction: dict[str, Any] | None
    attempts: int
    cost_usd: float
    attempt_records: list[AttemptRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "attempt_records"}
        data["attempt_records"] = [a.__dict__ for a in self.attempt_records]
        return data


class TranscriptLog:
    def __init__(self, database: Database) -> None:
        self.db = database

    def start(self, task: str, spec: str) -> str:
        transcript_id = uuid.uuid4().hex
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO transcripts (id, task, spec, started_at, pid) VALUES (?, ?, ?, ?, ?)",
                (transcript_id, task, spec, _now(), os.getpid()),
            )
        return transcript_id

    def close_abandoned(self) -> int:
        """Asks left 'running' by a process that is gone (killed, power cut) become 'interrupted'.
        Their attempts so far, and the spend of every model call made, are already recorded."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, pid FROM transcripts WHERE outcome = 'running'").fetchall()
        gone = [tid for tid, pid in rows if pid is None or not psutil.pid_exists(pid)]
        if gone:  # a read-only command takes the write lock only when there is something to mark
            with self.db.write() as conn:
                for tid in gone:
                    conn.execute(
                        "UPDATE transcripts SET outcome = 'interrupted', reason = 'the process running this ask ended "
                        "before it finished' WHERE id = ? AND outcome = 'running'",
                        (tid,),
                    )
        return len(gone)

    def set_start(self, transcript_id: str, tier: str | None, prediction: dict[str, Any] | None) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE transcripts SET start_tier = ?, prediction = ? WHERE id = ?",
                (tier, json.dumps(prediction) if prediction else None, transcript_id),
            )

    def add_attempt(self, transcript_id: str, a: AttemptRecord) -> None:
        """The attempt and the transcript's totals, at once. Called as soon as the model has
        answered, in the same transaction as the ledger's charge for the call."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO attempts (transcript_id, n, tier, provider, model, temperature, prompt, reply, code,"
                " test_results, passed, error, duration_ms, input_tokens, output_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    transcript_id,
                    a.n,
                    a.tier,
                    a.provider,
                    a.model,
                    a.temperature,
                    json.dumps(a.prompt),
                    a.reply,
                    a.code,
                    json.dumps(a.test_results) if a.test_results is not None else None,
                    int(a.passed),
                    a.error,
                    a.duration_ms,
                    a.input_tokens,
                    a.output_tokens,
                    a.cost_usd,
                ),
            )
            conn.execute(
                "UPDATE transcripts SET attempts = attempts + 1, cost_usd = cost_usd + ? WHERE id = ?",
                (a.cost_usd, transcript_id),
            )

    def update_attempt(self, transcript_id: str, a: AttemptRecord) -> None:
        """What testing the attempt's code found (spend and tokens were fixed by add_attempt)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE attempts SET code = ?, test_results = ?, passed = ?, error = ?, duration_ms = ?"
                " WHERE transcript_id = ? AND n = ?",
                (
                    a.code,
                    json.dumps(a.test_results) if a.test_results is not None else None,
                    int(a.passed),
                    a.error,
                    a.duration_ms,
                    transcript_id,
                    a.n,
                ),
            )

    def finish(
        self,
        transcript_id: str,
        outcome: str,
        *,
        artifact_id: str | None = None,
        reused: bool = False,
        reason: str | None = None,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE transcripts SET finished_at = ?, outcome = ?, artifact_id = ?, reused = ?, reason = ? WHERE id = ?",
                (_now(), outcome, artifact_id, int(reused), reason, transcript_id),
            )

    def tier_latencies(self, recent: int = 50) -> dict[str, float]:
        """The median duration of each tier's latest `recent` attempts, in ms: what a pressure
        level's latency ceiling predicts a tier by."""
        out: dict[str, float] = {}
        with self.db.read() as conn:
            tiers = [r[0] for r in conn.execute("SELECT DISTINCT tier FROM attempts")]
            for tier in tiers:
                values = sorted(
                    r[0]
                    for r in conn.execute(
                        "SELECT duration_ms FROM attempts a JOIN transcripts t ON t.id = a.transcript_id "
                        "WHERE a.tier = ? AND a.duration_ms > 0 ORDER BY t.started_at DESC LIMIT ?",
                        (tier, int(recent)),
                    )
                )
                if values:
                    out[tier] = values[len(values) // 2]
        return out

    def list(self, offset: int = 0, limit: int = 50) -> list[Transcript]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_TRANSCRIPT_COLUMNS} FROM transcripts ORDER BY started_at DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [self._transcript(r) for r in rows]

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0])

    def get(self, transcript_id: str) -> Transcript | None:
        """By id, or by a prefix of at least MIN_PREFIX characters that only one id has."""
        with self.db.read() as conn:
            return self._get(conn, transcript_id)

    def ids_starting(self, prefix: str, limit: int = 5) -> builtins.list[str]:
        """Ids beginning with `prefix` (to say what an ambiguous prefix could mean)."""
        with self.db.read() as conn:
            return [r[0] for r in self._prefixed(conn, prefix, "SELECT id", limit)]

    @staticmethod
    def _prefixed(conn: Any, prefix: str, select: str, limit: int) -> builtins.list[Any]:
        # a range on the primary key, not LIKE: `%` and `_` in a prefix are characters, not wildcards
        return conn.execute(
            f"{select} FROM transcripts WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        ).fetchall()

    def _get(self, conn: Any, transcript_id: str) -> Transcript | None:
        row = conn.execute(f"SELECT {_TRANSCRIPT_COLUMNS} FROM transcripts WHERE id = ?", (transcript_id,)).fetchone()
        if row is None and len(transcript_id) >= MIN_PREFIX:
            rows = self._prefixed(conn, transcript_id, f"SELECT {_TRANSCRIPT_COLUMNS}", 2)
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            return None
        transcript = self._transcript(row)
        cols = [d[0] for d in conn.execute("SELECT * FROM attempts LIMIT 0").description]
        for r in conn.execute("SELECT * FROM attempts WHERE transcript_id = ? ORDER BY n", (transcript.id,)):
            d = dict(zip(cols, r, strict=True))
            transcript.attempt_records.append(
                AttemptRecord(
                    n=d["n"],
                    tier=d["tier"],
                    provider=d["provider"],
                    model=d["model"],
                    temperature=d["temperature"],
                    prompt=json.loads(d["prompt"]),
                    reply=d["reply"],
                    code=d["code"],
                    test_results=json.loads(d["test_results"]) if d["test_results"] else None,
                    passed=bool(d["passed"]),
                    error=d["error"],
                    duration_ms=d["duration_ms"],
                    input_tokens=d["input_tokens"],
                    output_tokens=d["output_tokens"],
                    cost_usd=d["cost_usd"],
                )
            )
        return transcript

    def _transcript(self, row: Any) -> Transcript:
        (
            tid,
            task,
            spec,
            started,
            finished,
            outcome,
            reason,
            artifact_id,
            reused,
            start_tier,
            prediction,
            attempts,
            cost,
        ) = row
        return Transcript(
            id=tid,
            task=task,
            spec=spec,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            reason=reason,
            artifact_id=artifact_id,
            reused=bool(reused),
            start_tier=start_tier,
            prediction=json.loads(prediction) if prediction else None,
            attempts=attempts,
            cost_usd=cost,
        )
