"""The parent's side of the embedder's worker process (embedder_worker.py).

Same face as Embedder (name, dim, loaded, load, embed, embed_one). The worker starts on
first use and is kept; one that dies (a crash in onnxruntime, the OOM killer) is started
again for the next call, and a call it died in is retried once in the new one, so a search
survives a crash. A second death in a row is reported as the embedder being unavailable,
with the signal that ended it. It never outlives DSE: it leads its own process group (a
terminal's Ctrl-C is DSE's to handle), DSE's shutdown kills it, and it exits when its stdin
closes.
"""

from __future__ import annotations

import atexit
import base64
import collections
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dse_tui.engine import shutdown
from dse_tui.engine.ipc import encode_frame, kill_group, kill_worker, split_frame, start_worker

from .embedder import DIM, MODEL_NAME, EmbedderUnavailable

LOAD_TIMEOUT_S = 120.0
PER_TEXT_S = 0.5  # on top of a base: a batch of long texts on a loaded Pi is slow
BATCH = 256  # texts per request: bounded frames


def default_command() -> list[str]:
    return [sys.executable, "-m", "dse_tui.engine.library.embedder_worker"]


class _Died(Exception):
    pass


class EmbedderProcess:
    name = MODEL_NAME
    dim = DIM

    def __init__(
        self, cache_dir: str | os.PathLike[str], *, optimize: bool = True, command: Sequence[str] | None = None
    ) -> None:
        self.cache_dir = str(Path(cache_dir))
        self.optimize = optimize
        self.command = list(command or default_command())
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=64)
        self._lock = threading.Lock()
        self.starts = 0  # workers started: more than one means one died and was replaced

    @property
    def loaded(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.loaded and self.proc is not None else None

    def load(self) -> None:
        with self._lock:
            self._start()

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length (computed in the worker)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            parts = [self._embed_batch(list(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        return np.concatenate(parts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        with self._lock:
            self._kill()

    # -- inside the lock -----------------------------------------------------------------------

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        for attempt in (1, 2):
            self._start()
            try:
                reply = self._request({"op": "embed", "texts": texts}, 30.0 + PER_TEXT_S * len(texts))
            except _Died as died:
                if attempt == 2:
                    raise EmbedderUnavailable(f"the embedder's process died twice in a row ({died})") from None
                continue
            if reply.get("event") == "vectors":
                data = base64.b64decode(reply["data"])
                return np.frombuffer(data, dtype="<f4").reshape(int(reply["n"]), int(reply["dim"])).copy()
            raise EmbedderUnavailable(str(reply.get("message") or reply))
        raise AssertionError("unreachable")  # pragma: no cover

    def _start(self) -> None:
        if self.loaded:
            return
        if shutdown.requested():
            raise EmbedderUnavailable("DSE is shutting down")
        if self.proc is not None:
            self._kill()
        self.starts += 1
        self.proc = start_worker(self.command)
        _live.add(self)
        self._buffer = b""
        self._stderr.clear()
        threading.Thread(target=self._drain, args=(self.proc,), name="embedder-stderr", daemon=True).start()
        try:
            reply = self._request(
                {"op": "load", "cache_dir": self.cache_dir, "optimize": self.optimize}, LOAD_TIMEOUT_S
            )
        except _Died as died:
            raise EmbedderUnavailable(f"the embedder's process could not start ({died})") from None
        if reply.get("event") != "loaded":
            self._kill()
            raise EmbedderUnavailable(str(reply.get("message") or reply))

    def _request(self, message: dict, timeout: float) -> dict:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(encode_frame(message))
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(proc) from None
        fd, deadline = proc.stdout.fileno(), time.monotonic() + timeout
        while True:
            try:
                frame, self._buffer = split_frame(self._buffer)
            except ValueError as exc:
                self._kill()
                raise _Died(f"it sent a bad frame: {exc}") from None
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                raise _Died(f"no answer in {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                data = os.read(fd, 1 << 20)
                if not data:
                    raise self._died(proc)
                self._buffer += data

    def _died(self, proc: subprocess.Popen) -> _Died:
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        time.sleep(0.05)  # the last words on stderr
        tail = b"".join(self._stderr).decode("utf-8", "replace").strip().splitlines()
        self._kill()
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
            what = f"ended by {name}"
        else:
            what = f"exited with code {code}"
        return _Died(what + (f": {tail[-1][:200]}" if tail else ""))

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        _live.discard(self)
        if proc is not None:
            kill_worker(proc)

    def _drain(self, proc: subprocess.Popen) -> None:
        stream = proc.stderr
        while stream is not None:
            try:
                chunk = os.read(stream.fileno(), 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self._stderr.append(chunk)


_live: set[EmbedderProcess] = set()


def live_pids() -> list[int]:
    return [p for p in (w.pid for w in list(_live)) if p is not None]


def _kill_all() -> None:
    for worker in list(_live):
        proc = worker.proc
        if proc is not None:
            kill_group(proc.pid)  # only a signal: this may run in a handler


atexit.register(_kill_all)
shutdown.on_shutdown(_kill_all)
