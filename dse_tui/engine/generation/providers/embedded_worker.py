"""The embedded model's own process: llama.cpp runs here, never inside DSE.

A native crash (SIGILL from an instruction the CPU cannot run, SIGSEGV) ends this process
alone; the parent turns it into a failed attempt and the ladder goes on. Requests come as
frames on stdin, replies go as frames on a private copy of stdout: fd 1 itself is pointed
at stderr, so nothing llama.cpp prints can corrupt a frame. When stdin closes (DSE exited
or died) the process ends at once, even in the middle of a generation.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
Requests: {"op": "load", "path", "n_ctx", "n_threads"} -> {"event": "loaded", "ms"};
{"op": "complete", "messages", "temperature", "max_tokens", "timeout_s"} -> {"event": "delta",
"text"}... then {"event": "done", "input_tokens", "output_tokens", "timed_out"}; any failure
-> {"event": "error", "kind", "message"}.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import threading
import time
from typing import Any

from dse_tui.engine.ipc import encode_frame, read_frame

# a fenced python block that defines something and has been closed: a small model keeps
# talking after its code, and the rest is prose
CLOSED_BLOCK = re.compile(r"```(?:python3?|py)?[ \t]*\n(?=.*\bdef )(?:.*?)\n[ \t]*```", re.DOTALL)


class Worker:
    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.llm: Any = None  # llama_cpp.Llama once loaded

    def send(self, message: dict) -> None:
        data = encode_frame(message)
        while data:
            data = data[os.write(self.out_fd, data) :]

    def load(self, request: dict) -> None:
        from llama_cpp import Llama

        started = time.perf_counter()
        self.llm = Llama(
            model_path=request["path"], n_ctx=int(request["n_ctx"]), n_threads=int(request["n_threads"]), verbose=False
        )
        self.send({"event": "loaded", "ms": (time.perf_counter() - started) * 1000})

    def complete(self, request: dict) -> None:
        from llama_cpp import LogitsProcessorList

        llm = self.llm
        if llm is None:
            self.send({"event": "error", "kind": "unavailable", "message": "no model is loaded"})
            return
        deadline = time.monotonic() + float(request["timeout_s"])
        eos = llm.token_eos()
        timed_out = False

        def end_at_deadline(_tokens, logits):
            # The chat handler owns the stopping criteria: past the deadline, force the end of
            # the sequence. Checked per generated token; the parent kills a stuck prompt evaluation.
            nonlocal timed_out
            if time.monotonic() > deadline:
                timed_out = True
                logits[:] = -float("inf")
                logits[eos] = 0.0
            return logits

        pieces: list[str] = []
        try:
            stream = llm.create_chat_completion(
                messages=request["messages"],
                temperature=request["temperature"],
                max_tokens=int(request["max_tokens"]),
                logits_processor=LogitsProcessorList([end_at_deadline]),
                stream=True,
            )
            try:
                for chunk in stream:
                    delta = (chunk["choices"][0].get("delta") or {}).get("content")
                    if delta:
                        pieces.append(delta)
                        self.send({"event": "delta", "text": delta})
                        if delta.count("`") and CLOSED_BLOCK.search("".join(pieces)):
                            break
            finally:
                stream.close()
        except ValueError as exc:  # e.g. a prompt longer than the context window
            self.send({"event": "error", "kind": "http", "message": f"llama.cpp refused the request: {exc}"})
            return
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            self.send({"event": "error", "kind": "malformed", "message": f"unexpected llama.cpp output: {exc}"})
            return
        output_tokens = len(pieces)  # one streamed chunk per token
        self.send(
            {
                "event": "done",
                "input_tokens": max(0, int(llm.n_tokens) - output_tokens),
                "output_tokens": output_tokens,
                "timed_out": timed_out,
            }
        )


def main() -> None:
    out_fd = os.dup(1)
    os.dup2(2, 1)
    requests: queue.Queue = queue.Queue()

    def read_requests() -> None:
        stdin = sys.stdin.buffer
        while True:
            try:
                frame = read_frame(stdin)
            except (ValueError, OSError):
                frame = None
            if frame is None:
                os._exit(0)  # DSE is gone or let go of us: never outlive it
            requests.put(frame)

    threading.Thread(target=read_requests, name="requests", daemon=True).start()
    worker = Worker(out_fd)
    while True:
        request = requests.get()
        op = request.get("op")
        try:
            if op == "load":
                worker.load(request)
            elif op == "complete":
                worker.complete(request)
            else:
                worker.send({"event": "error", "kind": "malformed", "message": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
            worker.send({"event": "error", "kind": "unavailable", "message": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
