"""The jobs repository: long work over the whole store, persisted so it can resume.

A job has a kind, parameters, progress (done of total) and a cursor, all committed after
every step; a process that dies mid-job leaves it 'running' under a pid that is gone, and
the next runner takes it over from its last cursor. At most one unfinished job per key
(a UNIQUE index), so asking twice for the same work queues it once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import psutil

from .db import Database

STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class Job:
    id: int
    kind: str
    params: dict[str, Any]
    key: str | None
    state: str
    done: int
    total: int | None
    cursor: Any
    owner_pid: int | None
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_COLUMNS = "id, kind, params, key, state, done, total, cursor, owner_pid, error, created_at, updated_at, finished_at"


def _job(row: Any) -> Job:
    return Job(
        row[0],
        row[1],
        json.loads(row[2]),
        row[3],
        row[4],
        row[5],
        row[6],
        json.loads(row[7]) if row[7] is not None else None,
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
    )


class JobRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    def submit(self, kind: str, params: dict[str, Any] | None = None, *, key: str | None = None) -> Job:
        """Queue a job; with a key already queued or running, that job is returned instead."""
        now = time.time()
        with self.db.write() as conn:
            if key is not None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE key = ? AND state IN ('queued', 'running')", (key,)
                ).fetchone()
                if row is not None:
                    return _job(row)
            cur = conn.execute(
                "INSERT INTO jobs(kind, params, key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (kind, json.dumps(params or {}), key, now, now),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _job(row)

    def get(self, job_id: int) -> Job | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, *, states: tuple[str, ...] = STATES, limit: int = 50) -> list[Job]:
        marks = ",".join("?" * len(states))
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY id DESC LIMIT ?", (*states, limit)
            ).fetchall()
        return [_job(r) for r in rows]

    def claim(self, pid: int, kinds: tuple[str, ...]) -> Job | None:
        """The oldest queued job of these kinds, or one whose runner died, now owned by `pid`."""
        if not kinds:
            return None
        marks = ",".join("?" * len(kinds))
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') AND kind IN ({marks}) ORDER BY id",
                kinds,
            ).fetchall()
        for row in rows:
            job = _job(row)
            if job.state == "running" and job.owner_pid is not None and psutil.pid_exists(job.owner_pid):
                continue  # another live process is on it
            with self.db.write() as conn:
                taken = conn.execute(
                    "UPDATE jobs SET state = 'running', owner_pid = ?, updated_at = ? WHERE id = ? AND "
                    "(state = 'queued' OR (state = 'running' AND coalesce(owner_pid, -1) = ?))",
                    (pid, time.time(), job.id, job.owner_pid if job.owner_pid is not None else -1),
                ).rowcount
            if taken:
                return self.get(job.id)
        return None

    def progress(self, job_id: int, done: int, total: int | None, cursor: Any) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET done = ?, total = ?, cursor = ?, updated_at = ? WHERE id = ?",
                (done, total, json.dumps(cursor), time.time(), job_id),
            )

    def finish(self, job_id: int, state: str, error: str | None = None) -> None:
        if state not in ("done", "failed", "cancelled"):
            raise ValueError(state)
        now = time.time()
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                (state, error, now, now, job_id),
            )

    def release(self, job_id: int) -> None:
        """Give a running job back to the queue (its runner is stopping, not failing)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET state = 'queued', owner_pid = NULL, updated_at = ? WHERE id = ? AND state = 'running'",
                (time.time(), job_id),
            )
