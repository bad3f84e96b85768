"""Metric writes off the run path: executions are queued in memory and flushed in one
transaction per batch (points, usage counters, recorded inputs and the drift detectors'
state together), by a background thread in a long-lived engine and on close in any.

Nothing is dropped: a full queue makes the submitting thread flush (back-pressure), a clean
exit flushes what is left, and a kill loses at most the batch not yet flushed (at most
`batch` executions or `interval_s` seconds of them; bench/metrics_overhead.py measures it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.db import Database
from dse_tui.store.errors import StoreError
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import MetricPoint

BATCH = 256
INTERVAL_S = 0.5
CAPACITY = 8192

# (connection, the points just written) -> None; runs inside the flush's write transaction
FlushHook = Callable[[Any, list[MetricPoint]], None]


@dataclass
class Execution:
    """One measured execution, as it is persisted."""

    point: MetricPoint
    count_use: bool = True  # moves the artifact's usage counters
    inputs: dict[str, Any] | None = None  # offered to the artifact's reservoir of recorded inputs
    extra: dict[str, Any] = field(default_factory=dict)


class MetricsBatcher:
    def __init__(
        self,
        db: Database,
        metrics: MetricsRepository,
        artifacts: ArtifactRepository,
        *,
        batch: int = BATCH,
        interval_s: float = INTERVAL_S,
        capacity: int = CAPACITY,
        background: bool = True,
        on_flush: list[FlushHook] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.db, self.metrics, self.artifacts = db, metrics, artifacts
        self.batch, self.interval_s, self.capacity = batch, interval_s, max(batch, capacity)
        self.background = background
        self.on_flush: list[FlushHook] = list(on_flush or [])
        self.on_error = on_error
        self.enabled = True  # off: executions are not recorded at all (the overhead bench's baseline)
        self._pending: list[Execution] = []
        self._lock = threading.Lock()  # guards _pending
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushed = 0
        self.failed_flushes = 0

    # -- the run path: cheap --------------------------------------------------------------

    def submit(self, execution: Execution) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._pending.append(execution)
            n = len(self._pending)
        if n >= self.capacity or self._closed.is_set() or not self.background:
            if n >= self.capacity:
                self.flush()  # back-pressure: never drop a point
            return
        if self._thread is None:
            self._start()
        if n >= self.batch:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- flushing -------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything queued in one transaction; returns how many executions. On a store
        error the batch goes back to the front of the queue and the error is raised."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return 0
            try:
                self._write(taken)
            except (StoreError, OSError) as exc:
                with self._lock:
                    self._pending[:0] = taken
                self.failed_flushes += 1
                raise exc
            self.flushed += len(taken)
            return len(taken)

    def _write(self, taken: list[Execution]) -> None:
        with self.db.write() as conn:
            ids = {e.point.artifact_id for e in taken}
            marks = ",".join("?" * len(ids))
            # an artifact deleted since its run takes its points with it
            alive = {r[0] for r in conn.execute(f"SELECT id FROM artifacts WHERE id IN ({marks})", tuple(ids))}
            kept = [e for e in taken if e.point.artifact_id in alive]
            points = [e.point for e in kept]
            self.metrics.record(points)
            for e in kept:
                p = e.point
                if e.count_use:
                    self.artifacts.count_use(p.artifact_id, p.success, p.function_ms, p.at)
                if e.inputs is not None:
                    self.metrics.record_inputs(p.artifact_id, e.inputs, p.at)
            for hook in self.on_flush:
                hook(conn, points)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dse-metrics", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - kept queued and retried; the owner is told
                if self.on_error is not None:
                    self.on_error(exc)
                self._closed.wait(self.interval_s)

    def close(self) -> None:
        """Stop the thread and flush what is left (a clean exit loses nothing)."""
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()

    def close_unowned(self) -> None:
        """close() for an engine collected or left open at exit: a store its owner already
        closed cannot take the points, and there is no one left to tell."""
        try:
            self.close()
        except (RuntimeError, StoreError, OSError):
            pass
