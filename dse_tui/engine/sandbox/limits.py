"""Resource limits: one mapping from `Limits` to rlimits, used by every backend."""

from __future__ import annotations

import resource
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Limits

MB = 1024 * 1024


def rlimits(limits: Limits) -> list[tuple[int, int, int]]:
    """(resource, soft, hard). Soft == hard so sandboxed code cannot raise them, except CPU:
    its soft limit delivers SIGXCPU first, telling "CPU limit" apart from other kills."""
    return [
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
        (resource.RLIMIT_AS, limits.memory_mb * MB, limits.memory_mb * MB),
        (resource.RLIMIT_NPROC, limits.max_procs, limits.max_procs),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MB, limits.file_size_mb * MB),
        (resource.RLIMIT_CORE, 0, 0),
    ]


def apply_rlimits(limits: Limits) -> None:
    for which, soft, hard in rlimits(limits):
        resource.setrlimit(which, (soft, hard))


# prlimit's names, also how a zygote is told which limit is which
NAMES = {
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_NPROC: "nproc",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_CORE: "core",
}


def named_rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    return {NAMES[which]: (soft, hard) for which, soft, hard in rlimits(limits)}


def prlimit_argv(prlimit: str, limits: Limits) -> list[str]:
    """The same limits as a `prlimit` command prefix, for backends that set them inside."""
    return [prlimit, *(f"--{NAMES[which]}={soft}:{hard}" for which, soft, hard in rlimits(limits)), "--"]
