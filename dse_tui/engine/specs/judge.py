"""Verdicts: a spec run and a single call, judged here, in DSE's process.

The candidate's code runs in a sandboxed process of its own and only ever sees arguments;
what it answers is rebuilt here from strict plain data and compared with expectations it
never receives. Time is measured here, around each request. A tests block runs in a
second sandboxed process, in a namespace of its own, calling the candidate through DSE.
Anything unexpected from either process fails the run; nothing it says can pass one.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from typing import Any

from dse_tui.engine.sandbox import Limits, Sandbox, SandboxResult
from dse_tui.engine.sandbox.runner import ChannelError

from . import compare, quality, sandboxed
from .conversation import CandidateProcess, Violation, ended_reason, run_tests, value_of
from .results import CallResult, CheckResult, TestResults
from .spec import Spec

SPEC_LIMITS = Limits(timeout_s=15.0, cpu_s=15, memory_mb=1024)
CALL_LIMITS = Limits(timeout_s=10.0, cpu_s=10, memory_mb=1024)


def tagged(value: Any) -> Any:
    """A trusted value (from a spec) as the token list the candidate's process rebuilds."""
    return ast.literal_eval(sandboxed.encode(value, sandboxed.MAX_ARG_DEPTH))


def _load_error(answer: tuple, function: str) -> str | None:
    if answer[0] == "loaded":
        return None
    if answer[0] == "missing":
        return f"the code defines no function named '{function}'"
    return "loading the code raised " + compare.describe_raised(answer)


def run_spec(
    code: str,
    spec: Spec,
    sandbox: Sandbox,
    *,
    limits: Limits = SPEC_LIMITS,
    coverage: bool = True,
    on_check: Callable[[CheckResult], None] | None = None,
    first_failure: bool = False,
) -> TestResults:
    """Run every behaviour and the tests block of `spec` against `code` (with first_failure,
    stop at the first failing check: all a mutant needs to be killed)."""
    checks: list[CheckResult] = []
    error: str | None = None
    running: str | None = None
    cov = 0.0
    lines = compare.line_count(code)
    by_name = {b.name: b for b in spec.behaviors}

    def record(check: CheckResult) -> None:
        checks.append(check)
        if on_check:
            on_check(check)

    with CandidateProcess(sandbox, limits) as candidate:
        try:
            error = _load_error(candidate.load(code, spec.function), spec.function)
            calls = []
            for b in spec.behaviors if error is None else ():
                running = b.name
                args, kwargs = tagged([]), tagged(b.given)
                calls.append((args, kwargs))
                answer, ms = candidate.call(args, kwargs, timed="execution_time" in b.then)
                value = value_of(answer) if answer[0] == "ok" else None
                message = compare.check(b.then, answer, value, ms, lines)
                record(
                    CheckResult(b.name, message is None, message, round(ms, 4), b.probe, b.time_limit_ms, b.held_out)
                )
                running = None
                if first_failure and message is not None:
                    break
            if spec.tests and error is None and not (first_failure and any(not c.passed for c in checks)):
                running = "tests"
                start = time.perf_counter()
                passed, message = run_tests(sandbox, limits, spec.tests, candidate)
                record(CheckResult("tests", passed, message or None, round((time.perf_counter() - start) * 1000, 3)))
                running = None
            if error is None and candidate.unanswered():
                raise Violation("answers nobody asked for")
            if coverage and error is None and all(c.passed for c in checks):
                cov = candidate.coverage(calls) or 0.0
        except ChannelError as exc:
            result = candidate.session.close(exc.ended)
            error = ended_reason(result, limits)
        except Violation as exc:
            error = f"the sandboxed process broke the protocol: {exc}"
            # the answers before it may have been forged as well: none of them counts
            checks[:] = [CheckResult(c.name, False, error, c.time_ms, c.probe, c.limit_ms, c.held_out) for c in checks]
    run = candidate.result
    assert run is not None
    if running is not None:
        stopped = by_name.get(running)
        record(
            CheckResult(
                running,
                False,
                error,
                None,
                stopped.probe if stopped else False,
                stopped.time_limit_ms if stopped else None,
                stopped.held_out if stopped else False,
            )
        )
    return _results(spec, checks, error, cov, run)


def _results(spec: Spec, checks: list[CheckResult], error: str | None, cov: float, run: SandboxResult) -> TestResults:
    # Whatever never ran counts as failed, so a crash can never raise the pass rate.
    reported = {c.name for c in checks}
    for b in spec.behaviors:
        if b.name not in reported:
            checks.append(
                CheckResult(
                    b.name,
                    False,
                    f"not run: {error}" if error else "not run",
                    None,
                    b.probe,
                    b.time_limit_ms,
                    b.held_out,
                )
            )
    if spec.tests and "tests" not in reported:
        checks.append(CheckResult("tests", False, f"not run: {error}" if error else "not run", None))
    total = spec.check_count
    passed = sum(c.passed for c in checks)
    pass_rate = passed / total if total else 0.0
    all_passed = passed == total and error is None
    if not all_passed:
        checks = [
            c
            if c.passed or c.message
            else CheckResult(c.name, False, error or "failed", c.time_ms, c.probe, c.limit_ms, c.held_out)
            for c in checks
        ]
    performance = quality.performance_score(
        (c.time_ms, c.limit_ms) for c in checks if c.passed and c.time_ms is not None and c.name != "tests"
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
        peak_memory_mb=round(run.peak_memory_mb, 2),
        stderr_tail=run.stderr.decode("utf-8", "replace")[-2000:],
    )


def call_function(
    code: str, function: str, inputs: dict[str, Any], sandbox: Sandbox, *, limits: Limits = CALL_LIMITS
) -> CallResult:
    """Call `function(**inputs)` from `code` once, the way its spec was judged."""
    ok, value, text, error, kind, ms = False, None, None, None, None, 0.0
    with CandidateProcess(sandbox, limits) as candidate:
        try:
            error = _load_error(candidate.load(code, function), function)
            if error is None:
                answer, ms = candidate.call(tagged([]), tagged(inputs))
                if answer[0] == "ok":
                    ok, value, kind = True, value_of(answer), sandboxed.kind_of(answer[1])
                    text = compare.short(value)
                elif answer[0] == "raised":
                    error = compare.describe_raised(answer)
                else:
                    error = "returned " + answer[1]
        except ChannelError as exc:
            error = ended_reason(candidate.session.close(exc.ended), limits)
        except Violation as exc:
            error = f"the sandboxed process broke the protocol: {exc}"
    run = candidate.result
    assert run is not None
    return CallResult(
        ok=ok and error is None,
        value=value,
        repr=text,
        error=error,
        execution_time_ms=round(ms, 3),
        wall_ms=round(run.wall_ms, 2),
        cpu_ms=round(run.cpu_ms, 2),
        memory_mb=round(run.peak_memory_mb, 2),
        stdout=run.stdout.decode("utf-8", "replace")[-4000:],
        sandbox=run.backend,
        type=kind,
    )
