"""The job runner: claims persisted jobs, runs them step by step, commits progress after each."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dse_tui.engine import shutdown
from dse_tui.engine.events import EventBus, JobFinished, JobProgress
from dse_tui.store.jobs import Job, JobRepository


@dataclass
class Step:
    cursor: Any  # where the next step starts; committed with the progress
    done: int  # items finished by this step
    finished: bool
    detail: str = ""


class JobKind(Protocol):
    name: str

    def plan(self, params: dict[str, Any]) -> int | None:
        """How many items the job has (None: not known up front)."""

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        """Do one small batch starting at `cursor` (None the first time). Must be safe to
        repeat: after a kill, the last uncommitted step runs again."""


class JobRunner:
    def __init__(self, jobs: JobRepository, kinds: Mapping[str, JobKind], events: EventBus) -> None:
        self.jobs = jobs
        self.kinds = dict(kinds)
        self.events = events

    def submit(self, kind: str, params: dict[str, Any] | None = None, *, key: str | None = None) -> Job:
        if kind not in self.kinds:
            raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(self.kinds))}")
        return self.jobs.submit(kind, params, key=key)

    def run_pending(self, stop: threading.Event | None = None, kinds: Sequence[str] | None = None) -> int:
        """Run claimable jobs (queued, or left running by a dead process) until none is left
        or `stop` is set; returns how many finished."""
        finished = 0
        wanted = tuple(kinds or self.kinds)
        while not (stop is not None and stop.is_set()) and not shutdown.requested():
            job = self.jobs.claim(os.getpid(), wanted)
            if job is None:
                break
            if self.run(job, stop):
                finished += 1
        return finished

    def run(self, job: Job, stop: threading.Event | None = None) -> bool:
        """Run a claimed job to its end; False if it was handed back (stop, shutdown) or failed."""
        kind = self.kinds[job.kind]
        try:
            total = job.total if job.total is not None else kind.plan(job.params)
            done, cursor = job.done, job.cursor
            self.jobs.progress(job.id, done, total, cursor)
            while True:
                if (stop is not None and stop.is_set()) or shutdown.requested():
                    self.jobs.release(job.id)
                    self.events.publish(JobFinished(job.id, job.kind, "queued"))
                    return False
                step = kind.step(job.params, cursor)
                cursor, done = step.cursor, done + step.done
                if total is not None and done > total:
                    total = done
                self.jobs.progress(job.id, done, total, cursor)
                self.events.publish(JobProgress(job.id, job.kind, done, total, step.detail))
                if step.finished:
                    break
        except Exception as exc:  # noqa: BLE001 - a failed job is recorded with its reason, not raised
            self.jobs.finish(job.id, "failed", f"{type(exc).__name__}: {exc}")
            self.events.publish(JobFinished(job.id, job.kind, "failed", str(exc)))
            return False
        self.jobs.finish(job.id, "done")
        self.events.publish(JobFinished(job.id, job.kind, "done"))
        return True
