"""Runs code against its spec in the sandbox and derives TestResults.

The harness (harness_child.py) executes inside the sandbox: the payload goes
in marshalled (same interpreter), events come back as nonce-tagged lines of
Python literals read with ast.literal_eval; everything else is ignored.
"""

from __future__ import annotations

import ast
import marshal
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from dse_tui.engine.sandbox import Limits, Sandbox, SandboxResult
from dse_tui.engine.specs import quality
from dse_tui.engine.specs.spec import Spec

SPEC_LIMITS = Limits(timeout_s=15.0, cpu_s=15, memory_mb=1024)
CALL_LIMITS = Limits(timeout_s=10.0, cpu_s=10, memory_mb=1024)


# The child runs the same interpreter as we do, so the harness travels compiled: the bootstrap
# reads its marshalled code object from stdin (the payload follows), sparing every sandboxed
# call the compilation of the harness source.
BOOTSTRAP = (
    "import marshal,sys;_in=sys.stdin.buffer;exec(marshal.loads(_in.read(int.from_bytes(_in.read(4),'little'))))"
)


@lru_cache(maxsize=1)
def harness_code() -> bytes:
    path = Path(__file__).with_name("harness_child.py")
    return marshal.dumps(compile(path.read_text(encoding="utf-8"), "<harness>", "exec"))


def _harness_stdin(payload: dict[str, Any]) -> bytes:
    code = harness_code()
    return len(code).to_bytes(4, "little") + code + marshal.dumps(payload)


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str | None
    time_ms: float | None
    probe: bool = False
    limit_ms: float | None = None


@dataclass
class TestResults:
    checks: list[CheckResult]
    pass_rate: float
    coverage: float
    performance_score: float
    robustness_score: float
    quality_score: float
    all_passed: bool
    error: str | None = None  # a failure before or outside the behaviours (load error, timeout...)
    sandbox: str = ""
    ended: str = ""
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    peak_memory_mb: float = 0.0
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def failure_summary(self) -> str:
        """One line per failure: what feedback to a user or an LLM should say."""
        lines = [f"{c.name}: {c.message}" for c in self.failed]
        if self.error and not lines:
            lines.append(self.error)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["total"] = len(self.checks)
        return data


def _parse_events(stdout: bytes, nonce: str) -> list[dict[str, Any]]:
    events = []
    prefix = nonce + " "
    for raw in stdout.decode("utf-8", "replace").splitlines():
        if raw.startswith(prefix):
            try:
                event = ast.literal_eval(raw[len(prefix) :])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def _ended_reason(run: SandboxResult, limits: Limits) -> str:
    if run.ended == "timeout":
        return f"timed out after {limits.timeout_s:g} s"
    if run.ended == "interrupted":
        return "interrupted: DSE is shutting down"
    if run.ended == "output_limit":
        return f"printed more than {limits.output_bytes} bytes"
    if run.signal:
        return f"killed by signal {run.signal} (CPU or memory limit?)"
    tail = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {run.exit_code}"]
    return "the sandboxed process stopped: " + tail[0][:300]


def run_spec(
    code: str,
    spec: Spec,
    sandbox: Sandbox,
    *,
    limits: Limits = SPEC_LIMITS,
    coverage: bool = True,
    on_check: Callable[[CheckResult], None] | None = None,
) -> TestResults:
    """Run every behaviour and the tests block of `spec` against `code`."""
    nonce = secrets.token_hex(16)
    payload = {
        "nonce": nonce,
        "mode": "spec",
        "code": code,
        "function": spec.function,
        "behaviors": [b.to_payload() for b in spec.behaviors],
        "tests": spec.tests,
        "coverage": coverage,
    }
    run = sandbox.run(BOOTSTRAP, _harness_stdin(payload), limits)
    events = _parse_events(run.stdout, nonce)
    by_name = {b.name: b for b in spec.behaviors}
    checks: list[CheckResult] = []
    cov = 0.0
    error = None
    done = False
    peak_mb = run.peak_memory_mb
    running: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "start":
            running = event["name"]
        elif kind == "behavior":
            b = by_name.get(event["name"])
            if b is None:
                continue
            check = CheckResult(
                b.name, bool(event["passed"]), event.get("message"), event.get("time_ms"), b.probe, b.time_limit_ms
            )
            checks.append(check)
            running = None
            if on_check:
                on_check(check)
        elif kind == "tests":
            check = CheckResult("tests", bool(event["passed"]), event.get("message"), event.get("time_ms"))
            checks.append(check)
            running = None
            if on_check:
                on_check(check)
        elif kind == "coverage":
            cov = float(event["value"])
        elif kind == "fatal":
            error = event["message"]
        elif kind == "done":
            done = True
            peak_mb = event.get("peak_mb") or peak_mb
    if not done and error is None:
        error = _ended_reason(run, limits)
        if running is not None:
            checks.append(
                CheckResult(running, False, error, None, by_name[running].probe if running in by_name else False)
            )
    # Whatever never ran counts as failed, so a crash can never raise the pass rate.
    reported = {c.name for c in checks}
    for b in spec.behaviors:
        if b.name not in reported:
            checks.append(
                CheckResult(b.name, False, f"not run: {error}" if error else "not run", None, b.probe, b.time_limit_ms)
            )
    if spec.tests and "tests" not in reported:
        checks.append(CheckResult("tests", False, f"not run: {error}" if error else "not run", None))
    total = spec.check_count
    passed = sum(c.passed for c in checks)
    pass_rate = passed / total if total else 0.0
    all_passed = passed == total and error is None
    performance = quality.performance_score(
        (c.time_ms, c.limit_ms) for c in checks if c.passed and c.time_ms is not None
    )
    robustness = quality.robustness_score(c.passed for c in checks if c.probe)
    if not all_passed:
        cov = 0.0
    return TestResults(
        checks=checks,
        pass_rate=round(pass_rate, 4),
        coverage=round(cov, 4),
        performance_score=round(performance, 4),
        robustness_score=round(robustness, 4),
        quality_score=quality.quality_score(pass_rate, cov, performance, robustness),
        all_passed=all_passed,
        error=error,
        sandbox=run.backend,
        ended=run.ended,
        wall_ms=round(run.wall_ms, 2),
        cpu_ms=round(run.cpu_ms, 2),
        peak_memory_mb=round(peak_mb, 2),
        stderr_tail=run.stderr.decode("utf-8", "replace")[-2000:],
    )


@dataclass
class CallResult:
    ok: bool
    value: Any
    repr: str | None
    error: str | None
    execution_time_ms: float  # the function call itself, measured inside the sandbox
    wall_ms: float  # the whole sandboxed run
    cpu_ms: float
    memory_mb: float
    stdout: str = ""
    sandbox: str = ""


def call_function(
    code: str, function: str, inputs: dict[str, Any], sandbox: Sandbox, *, limits: Limits = CALL_LIMITS
) -> CallResult:
    """Call `function(**inputs)` from `code` once, in the sandbox."""
    nonce = secrets.token_hex(16)
    payload = {"nonce": nonce, "mode": "call", "code": code, "function": function, "inputs": inputs}
    run = sandbox.run(BOOTSTRAP, _harness_stdin(payload), limits)
    events = [e for e in _parse_events(run.stdout, nonce) if e.get("event") == "result"]
    event = events[-1] if events else {}
    peak_mb = event.get("peak_mb") or run.peak_memory_mb
    wall, cpu, memory = round(run.wall_ms, 2), round(run.cpu_ms, 2), round(peak_mb, 2)
    if not events:
        return CallResult(False, None, None, _ended_reason(run, limits), 0.0, wall, cpu, memory, sandbox=run.backend)
    return CallResult(
        ok=bool(event["ok"]),
        value=event.get("value"),
        repr=event.get("repr"),
        error=event.get("error"),
        execution_time_ms=round(float(event.get("time_ms") or 0.0), 3),
        wall_ms=wall,
        cpu_ms=cpu,
        memory_mb=memory,
        stdout=event.get("stdout", ""),
        sandbox=run.backend,
    )
