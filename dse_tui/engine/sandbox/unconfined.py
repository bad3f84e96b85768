"""The last resort: limits and a scrubbed environment, but no isolation at all."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Sandbox
from .environment import python_argv
from .limits import apply_rlimits
from .model import Limits
from .runner import Launch


class UnconfinedSandbox(Sandbox):
    name = "none"
    strength = "none"
    drops_root = False

    def describe(self) -> str:
        return (
            "none: code is NOT isolated - it runs as you and can read and change your files, use "
            "the network and signal your processes; only time, CPU, memory and output are limited "
            "(install bubblewrap for a real sandbox)"
        )

    def _launch(
        self, source: str, limits: Limits, workdir: str, args: Sequence[str] = (), *, zygote: bool = False
    ) -> Launch:
        return Launch(python_argv(source, args), preexec_fn=lambda: apply_rlimits(limits))
