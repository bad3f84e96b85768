"""What a spec run and a single call produce, as plain records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str | None
    time_ms: float | None  # measured by DSE around the call, outside the candidate's process
    probe: bool = False
    limit_ms: float | None = None
    held_out: bool = False  # never shown to a model: passing it cannot come from copying it


@dataclass
class TestResults:
    checks: list[CheckResult]
    pass_rate: float
    coverage: float  # as reported by the candidate's own process: shown, never decides
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

    def split(self) -> dict[str, dict[str, int]]:
        """Passed/total of the visible and the held-out checks, apart."""
        parts: dict[str, dict[str, int]] = {"visible": {"passed": 0, "total": 0}, "held_out": {"passed": 0, "total": 0}}
        for c in self.checks:
            part = parts["held_out" if c.held_out else "visible"]
            part["total"] += 1
            part["passed"] += c.passed
        return parts

    def failure_summary(self, *, include_held_out: bool = True) -> str:
        """One line per failure: what feedback to a user or an LLM should say. For a model,
        held-out failures are counted, never described (their values would leak)."""
        lines = [f"{c.name}: {c.message}" for c in self.failed if include_held_out or not c.held_out]
        hidden = sum(1 for c in self.failed if c.held_out and not include_held_out)
        if hidden:
            lines.append(f"{hidden} held-out behaviour(s) failed (not shown)")
        if self.error and not lines:
            lines.append(self.error)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["total"] = len(self.checks)
        data["split"] = self.split()
        data["coverage_source"] = "reported by the candidate's process"
        return data


@dataclass
class CallResult:
    ok: bool
    value: Any  # the returned value, rebuilt by DSE from strict plain data
    repr: str | None
    error: str | None
    execution_time_ms: float  # the call, measured by DSE around one request to the candidate's process
    wall_ms: float  # the whole sandboxed run
    cpu_ms: float
    memory_mb: float
    stdout: str = ""
    sandbox: str = ""
    type: str | None = None  # the type the value was returned as
