"""The embedder's own process, for a long-lived DSE (the TUI): onnxruntime runs here.

The model holds ~160 MB and onnxruntime is native code: in a process of its own, its memory
is not the TUI's and a crash in it ends this process alone (the parent starts another).
Frames (dse_tui.engine.ipc) on stdin; replies on a private copy of stdout, fd 1 itself
pointed at stderr so nothing a library prints can corrupt a frame. Stdin closing (DSE
exited or died) ends it.

Requests: {"op": "load", "cache_dir", "optimize"} -> {"event": "loaded", "name", "dim"};
{"op": "embed", "texts"} -> {"event": "vectors", "n", "dim", "data": base64 of float32 rows};
any failure -> {"event": "error", "kind": "unavailable" | "failed", "message"}.
"""

from __future__ import annotations

import base64
import os
import sys

from dse_tui.engine.ipc import encode_frame, read_frame


def main() -> int:
    out_fd = os.dup(1)
    os.dup2(2, 1)
    stdin = sys.stdin.buffer

    def send(message: dict) -> None:
        data = encode_frame(message)
        while data:
            data = data[os.write(out_fd, data) :]

    embedder = None
    while True:
        try:
            request = read_frame(stdin)
        except ValueError as exc:
            send({"event": "error", "kind": "failed", "message": f"bad request: {exc}"})
            return 2
        if request is None:
            return 0  # DSE closed the pipe: it exited or died
        from dse_tui.engine.library.embedder import Embedder, EmbedderUnavailable

        try:
            if request.get("op") == "load":
                embedder = Embedder(request["cache_dir"], optimize=bool(request.get("optimize", True)))
                embedder.load()
                send({"event": "loaded", "name": embedder.name, "dim": embedder.dim})
            elif request.get("op") == "embed" and embedder is not None:
                vectors = embedder.embed([str(t) for t in request["texts"]])
                data = base64.b64encode(vectors.astype("<f4").tobytes()).decode("ascii")
                send({"event": "vectors", "n": int(vectors.shape[0]), "dim": int(vectors.shape[1]), "data": data})
            else:
                send({"event": "error", "kind": "failed", "message": f"cannot {request.get('op')!r} now"})
        except EmbedderUnavailable as exc:
            send({"event": "error", "kind": "unavailable", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
            send({"event": "error", "kind": "failed", "message": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    raise SystemExit(main())
