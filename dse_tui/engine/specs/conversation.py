"""DSE's side of the processes a verdict talks to: one for the candidate's code, one for a
spec's tests block. Every answer is parsed strictly; anything unexpected is a Violation.

Both processes run sandboxed.py, compiled here and handed to the sandbox's warm zygotes
(or, where none can start, sent as the first request to a plain sandboxed process).
"""

from __future__ import annotations

import ast
import marshal
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from dse_tui.engine.sandbox import Limits, Sandbox, SandboxResult
from dse_tui.engine.sandbox.runner import ChannelError

from . import sandboxed

MAX_TEST_CALLS = 100_000
# A call shorter than this is timed over a batch: one round trip through a pipe is ~0.1 ms.
BATCH_FLOOR_MS = 1.0
BATCH_TARGET_MS = 2.0
BATCH_MAX = 2000


class Violation(Exception):
    """A sandboxed process said something the protocol does not allow."""


@lru_cache(maxsize=1)
def program() -> bytes:
    """sandboxed.py compiled once per DSE process (marshalled)."""
    path = Path(sandboxed.__file__)
    return marshal.dumps(compile(path.read_text(encoding="utf-8"), "<dse-sandboxed>", "exec"))


def frame_bytes(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def frame(request: Any) -> bytes:
    return frame_bytes(marshal.dumps(request))


def parse(line: bytes) -> tuple:
    """An answer line as a tuple whose first item is its tag; Violation otherwise."""
    try:
        value = ast.literal_eval(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise Violation(f"an answer that is not a literal ({type(exc).__name__})") from None
    if type(value) is not tuple or not value or type(value[0]) is not str:
        raise Violation("an answer without a tag")
    return value


def _strs(values: tuple, optional: tuple[int, ...] = ()) -> bool:
    return all(type(v) is str or (i in optional and v is None) for i, v in enumerate(values))


def value_of(answer: tuple) -> Any:
    """The value an ('ok', tagged) answer stands for; Violation if it is malformed."""
    try:
        return sandboxed.rebuild(answer[1])
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise Violation(f"a malformed value ({exc})") from None


def check_call_answer(answer: tuple) -> tuple:
    """Strict shapes of what a call may answer."""
    tag = answer[0]
    if tag == "ok" and len(answer) == 2:
        value_of(answer)
        return answer
    if tag == "notplain" and len(answer) == 2 and type(answer[1]) is str:
        return answer
    if tag == "raised" and len(answer) == 6 and _strs(answer[1:], optional=(0, 2)):
        if answer[1] is not None and answer[1] not in sandboxed_builtin_exceptions():
            raise Violation(f"an exception claimed to be builtin that is not: {answer[1][:80]}")
        return answer
    if tag == "toolong" and len(answer) == 2:
        raise Violation(f"an answer longer than {sandboxed.MAX_LINE} bytes")
    raise Violation(f"an unexpected answer {tag[:40]!r}")


@lru_cache(maxsize=1)
def sandboxed_builtin_exceptions() -> frozenset[str]:
    return frozenset(c.__name__ for c in sandboxed._BUILTIN_EXCEPTIONS)


class CandidateProcess:
    """The candidate's code in a sandboxed process of its own."""

    def __init__(self, sandbox: Sandbox, limits: Limits) -> None:
        self.session = sandbox.converse(program(), "candidate", limits)
        self.result: SandboxResult | None = None

    def ask(self, request: dict[str, Any]) -> tuple:
        return parse(self.session.request(frame(request)))

    def load(self, code: str, function: str) -> tuple:
        answer = self.ask({"op": "load", "code": code, "function": function})
        tag = answer[0]
        if tag == "loaded" and len(answer) == 1:
            return answer
        if tag == "missing" and len(answer) == 2:
            return answer
        if tag == "loadfailed" and len(answer) == 6 and _strs(answer[1:], optional=(0, 2)):
            return answer
        raise Violation(f"an unexpected answer to loading {tag[:40]!r}")

    def call(self, args: Any, kwargs: Any, *, timed: bool = False) -> tuple[tuple, float]:
        """(answer, milliseconds per call). args/kwargs are token lists (sandboxed.encode)."""
        request = {"op": "call", "args": args, "kwargs": kwargs, "repeat": 1}
        data = frame(request)
        start = time.perf_counter()
        line = self.session.request(data)
        elapsed = (time.perf_counter() - start) * 1000.0
        answer = check_call_answer(parse(line))
        if timed and elapsed < BATCH_FLOOR_MS:
            repeat = min(BATCH_MAX, max(2, int(BATCH_TARGET_MS / max(elapsed, 0.001))))
            batch = frame({**request, "repeat": repeat})
            start = time.perf_counter()
            check_call_answer(parse(self.session.request(batch)))
            elapsed = (time.perf_counter() - start) * 1000.0 / repeat
        return answer, elapsed

    def coverage(self, calls: list[tuple[Any, Any]]) -> float | None:
        answer = self.ask({"op": "coverage", "calls": calls})
        if answer[0] == "coverage" and len(answer) == 2 and type(answer[1]) is float and 0.0 <= answer[1] <= 1.0:
            return answer[1]
        raise Violation("an unexpected answer to coverage")

    def unanswered(self) -> bool:
        return self.session.unanswered()

    def close(self) -> SandboxResult:
        self.result = self.session.close()
        return self.result

    def __enter__(self) -> CandidateProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.__exit__(*exc)
        self.result = self.session.result


def run_tests(sandbox: Sandbox, limits: Limits, source: str, candidate: CandidateProcess) -> tuple[bool, str]:
    """Run a tests block in a process of its own, relaying its `candidate(...)` calls to the
    candidate's process. (passed, message)."""
    with sandbox.converse(program(), "tests", limits) as tests:
        tests.send(frame({"op": "tests", "tests": source}))
        calls = 0
        while True:
            try:
                message = parse(tests.receive())
            except ChannelError as exc:
                result = tests.close(exc.ended)
                return False, "the tests process ended: " + ended_reason(result, limits)
            tag = message[0]
            if tag == "tests" and len(message) == 3 and type(message[1]) is bool and type(message[2]) is str:
                if tests.unanswered():
                    raise Violation("the tests process said more after its verdict")
                return message[1], message[2]
            if tag != "call" or len(message) != 3:
                raise Violation(f"the tests process sent {tag[:40]!r}")
            calls += 1
            if calls > MAX_TEST_CALLS:
                return False, f"the tests called the candidate more than {MAX_TEST_CALLS} times"
            try:
                args = sandboxed.rebuild(message[1], sandboxed.MAX_ARG_DEPTH)
                kwargs = sandboxed.rebuild(message[2], sandboxed.MAX_ARG_DEPTH)
            except (ValueError, TypeError, RecursionError) as exc:
                raise Violation(f"the tests process sent a malformed call ({exc})") from None
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise Violation("the tests process sent a malformed call")
            answer, _ = candidate.call(message[1], message[2])
            tests.send(frame(answer))


def ended_reason(run: SandboxResult, limits: Limits) -> str:
    if run.ended == "timeout":
        return f"timed out after {limits.timeout_s:g} s"
    if run.ended == "interrupted":
        return "interrupted: DSE is shutting down"
    if run.ended == "output_limit":
        return f"printed more than {limits.output_bytes} bytes"
    if run.ended == "overflow":
        return "sent an answer over the size limit"
    if run.signal:
        return f"killed by signal {run.signal} (CPU or memory limit?)"
    tail = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {run.exit_code}"]
    return "the sandboxed process stopped: " + tail[0][:300]
