"""DSE's worker processes (the embedded model, the embedder): starting and ending them,
and the frames they speak.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Nothing here
imports more than the standard library: a worker starts with it alone.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
from collections.abc import Sequence

SECRET_ENV = ("ANTHROPIC_API_KEY",)  # no worker needs credentials

MAX_FRAME = 64 * 2**20


def read_frame(stream) -> dict | None:
    """One frame from a binary stream; None at end of stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the {MAX_FRAME} byte limit")
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body.decode("utf-8"))


def encode_frame(message: dict) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(body)) + body


def split_frame(buffer: bytes) -> tuple[dict | None, bytes]:
    """(the first whole frame in `buffer`, the rest); (None, buffer) while it is incomplete.
    Raises ValueError for an oversized or malformed frame."""
    if len(buffer) < 4:
        return None, buffer
    (size,) = struct.unpack(">I", buffer[:4])
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the {MAX_FRAME} byte limit")
    if len(buffer) < 4 + size:
        return None, buffer
    frame = json.loads(buffer[4 : 4 + size].decode("utf-8"))
    if not isinstance(frame, dict):
        raise ValueError("a frame must hold a JSON object")
    return frame, buffer[4 + size :]


def start_worker(command: Sequence[str]) -> subprocess.Popen:
    """A worker with piped stdin/stdout/stderr, without DSE's secrets, leading its own session
    (a terminal's Ctrl-C or hang-up is DSE's to handle, and DSE ends it)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    return subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        close_fds=True,
    )


def kill_group(pid: int) -> None:
    """SIGKILL the process group a worker leads; nothing else (safe inside a signal handler)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_worker(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group, reap it and close the pipes DSE writes and reads
    (stderr is left to the thread draining it, which ends at its EOF: closing it under that
    thread could hand its descriptor number to another file)."""
    kill_group(proc.pid)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
