"""A stand-in for the embedded model's worker process, speaking its frame protocol.

`python model_worker.py MODE`: ok (answers with an add function), sigill_on_load,
sigsegv_on_complete, exit_on_complete (code 3, a last line on stderr), garbage (a frame
that is not JSON), hang (never answers a completion).
"""
import os
import signal
import sys
import time

from dse_tui.engine.generation.providers.embedded_worker import encode_frame, read_frame

REPLY = "```python\ndef add(a, b):\n    return a + b\n```"


def send(message):
    sys.stdout.buffer.write(encode_frame(message))
    sys.stdout.buffer.flush()


def main(mode):
    while True:
        request = read_frame(sys.stdin.buffer)
        if request is None:
            return
        if request["op"] == "load":
            if mode == "sigill_on_load":
                os.kill(os.getpid(), signal.SIGILL)
            send({"event": "loaded", "ms": 1.0})
        elif request["op"] == "complete":
            if mode == "sigsegv_on_complete":
                send({"event": "delta", "text": "```python\n"})
                os.kill(os.getpid(), signal.SIGSEGV)
            if mode == "exit_on_complete":
                sys.stderr.write("ggml: out of cheese\n")
                sys.stderr.flush()
                os._exit(3)
            if mode == "garbage":
                sys.stdout.buffer.write(b"\x00\x00\x00\x05nope!")
                sys.stdout.buffer.flush()
                continue
            if mode == "hang":
                time.sleep(3600)
            for piece in REPLY.split(" "):
                send({"event": "delta", "text": piece + " "})
            send({"event": "done", "input_tokens": 10, "output_tokens": len(REPLY.split(" ")), "timed_out": False})


if __name__ == "__main__":
    main(sys.argv[1])
