"""The values exchanged with a sandbox: its limits, its result, its one error."""

from __future__ import annotations

from dataclasses import dataclass


class SandboxUnavailable(RuntimeError):
    """A sandbox that was asked for by name cannot run on this machine."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock; the whole process tree is killed when exceeded
    cpu_s: int = 10  # RLIMIT_CPU
    memory_mb: int = 1024  # RLIMIT_AS (address space)
    max_procs: int = 16  # RLIMIT_NPROC, set inside the sandbox
    file_size_mb: int = 16  # RLIMIT_FSIZE
    output_bytes: int = 2_000_000  # stdout+stderr kept; beyond it the run is killed ("output_limit")


@dataclass
class SandboxResult:
    exit_code: int | None  # None if killed by a signal
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_ms: float
    cpu_ms: float  # user+sys of the child and its reaped descendants (os.wait4)
    peak_memory_mb: float  # ru_maxrss
    # "exited" | "closed" (DSE ended a conversation) | "timeout" | "output_limit" | "overflow" (an answer
    # over its size limit) | "signal" | "interrupted" (DSE shutting down) | "error"
    ended: str
    backend: str  # "bwrap" | "native" | "none"
