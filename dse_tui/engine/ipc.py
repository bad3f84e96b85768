"""Frames between DSE and its worker processes (the embedded model, the embedder).

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Nothing here
imports more than the standard library: a worker starts with it alone.
"""

from __future__ import annotations

import json
import struct

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
