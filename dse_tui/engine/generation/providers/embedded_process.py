"""The parent's side of the embedded model's worker process (embedded_worker.py).

One warm worker per model file and settings, started on first use and kept for the next
ask. Cancel and a missed deadline kill it at once (prompt evaluation cannot be interrupted
from inside); a worker that dies on its own is reported with the signal that ended it.
Nothing here imports llama_cpp.
"""

from __future__ import annotations

import atexit
import collections
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from dse_tui.engine import shutdown
from dse_tui.engine.ipc import encode_frame, kill_group, kill_worker, split_frame, start_worker

POLL_S = 0.05  # how often a running request looks at its cancel event
LOAD_TIMEOUT_S = 120.0
STDERR_TAIL = 8192


class WorkerDied(Exception):
    """The worker process ended by itself; `signal` is set when a signal killed it."""

    def __init__(self, message: str, signal_number: int | None) -> None:
        super().__init__(message)
        self.signal = signal_number


class WorkerCancelled(Exception):
    pass


class WorkerTimeout(Exception):
    pass


def default_command() -> list[str]:
    return [sys.executable, "-m", "dse_tui.engine.generation.providers.embedded_worker"]


_SIGNAL_WORDS: dict[signal.Signals, str] = {
    signal.SIGILL: "illegal instruction",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGABRT: "aborted",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGKILL: "killed, perhaps for lack of memory",
}


def describe_exit(returncode: int | None, stderr_tail: str) -> tuple[str, int | None]:
    """What ended the worker, as words for a user, and the signal if one did."""
    last = next((line.strip() for line in reversed(stderr_tail.splitlines()) if line.strip()), "")
    detail = f": {last[:200]}" if last else ""
    if returncode is not None and returncode < 0:
        number = -returncode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        words = _SIGNAL_WORDS.get(signal.Signals(number), "") if number in signal.Signals._value2member_map_ else ""
        text = f"the embedded model crashed ({name}{', ' + words if words else ''})"
        if number == signal.SIGILL:
            text += (
                "; llama.cpp was built with instructions this CPU cannot run: rebuild it for this CPU with "
                "./install.sh (see `dse doctor`)"
            )
        return text + detail, number
    return f"the embedded model's process exited with code {returncode}{detail}", None


class ModelWorker:
    """A worker process with one model loaded. Callers hold `lock` around a request."""

    def __init__(self, command: Sequence[str], path: str, n_ctx: int, n_threads: int) -> None:
        self.command = list(command)
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- life cycle ------------------------------------------------------------------------

    def ensure_loaded(self, cancel: threading.Event | None) -> float:
        """Start the worker and load the model unless it already holds it; the load's ms (0 if warm)."""
        if self.alive:
            return 0.0
        if shutdown.requested():
            raise WorkerCancelled()
        # It never outlives DSE: it exits when its stdin closes.
        self.proc = start_worker(self.command)
        _live.add(self)
        self._buffer = b""
        self._stderr.clear()
        self._stderr_size = 0
        threading.Thread(target=self._drain_stderr, args=(self.proc,), name="embedded-stderr", daemon=True).start()
        reply = self.request(
            {"op": "load", "path": self.path, "n_ctx": self.n_ctx, "n_threads": self.n_threads},
            time.monotonic() + LOAD_TIMEOUT_S,
            cancel,
        )
        if reply.get("event") != "loaded":
            self.kill()
            raise RuntimeError(reply.get("message") or f"the worker answered {reply!r} to load")
        return float(reply.get("ms") or 0.0)

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        _live.discard(self)
        if proc is not None:
            kill_worker(proc)

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        fd = proc.stderr.fileno() if proc.stderr is not None else None
        while fd is not None:
            try:
                chunk = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > STDERR_TAIL and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    # -- one request -----------------------------------------------------------------------

    def request(
        self,
        message: dict,
        deadline: float,
        cancel: threading.Event | None,
        on_delta: Callable[[str], None] | None = None,
    ) -> dict:
        """Send `message`, pass streamed text to `on_delta`, return the closing reply.
        Cancel or the deadline kill the worker; its own death raises WorkerDied."""
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(encode_frame(message))
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(proc) from None
        fd = proc.stdout.fileno()
        while True:
            frame = self._take_frame()
            if frame is not None:
                if frame.get("event") == "delta":
                    if on_delta is not None:
                        on_delta(str(frame.get("text", "")))
                    continue
                return frame
            if cancel is not None and cancel.is_set():
                self.kill()
                raise WorkerCancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerTimeout()
            ready, _, _ = select.select([fd], [], [], min(remaining, POLL_S))
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    raise self._died(proc)
                self._buffer += data

    def _take_frame(self) -> dict | None:
        try:
            frame, self._buffer = split_frame(self._buffer)
        except ValueError as exc:  # oversized, not UTF-8 JSON, or not an object
            self.kill()
            raise WorkerDied(f"the embedded model's process sent a malformed frame ({exc})", None) from None
        return frame

    def _died(self, proc: subprocess.Popen) -> WorkerDied:
        try:
            returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            returncode = None
        time.sleep(0.05)  # let the stderr drain catch the last words
        self.kill()
        text, number = describe_exit(returncode, self.stderr_tail())
        return WorkerDied(text, number)


# -- the warm workers of this process ------------------------------------------------------

_workers: dict[tuple, ModelWorker] = {}
_workers_lock = threading.Lock()
_live: set[ModelWorker] = set()


def worker_for(command: Sequence[str], path: str, n_ctx: int, n_threads: int) -> ModelWorker:
    key = (tuple(command), path, n_ctx, n_threads)
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = ModelWorker(command, path, n_ctx, n_threads)
        return worker


def live_pids() -> list[int]:
    return [w.pid for w in list(_live) if w.pid is not None]


def shutdown_workers() -> None:
    """Kill every worker this process started (exit, signals)."""
    for worker in list(_live):
        worker.kill()


def _signal_workers() -> None:
    """The shutdown hook: SIGKILL only (it may run in a signal handler); reaping comes later."""
    for worker in list(_live):
        proc = worker.proc
        if proc is not None:
            kill_group(proc.pid)


atexit.register(shutdown_workers)
shutdown.on_shutdown(_signal_workers)
