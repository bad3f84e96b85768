"""The sandbox contract shared by every backend."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence

from .environment import NOBODY, minimal_env
from .model import Limits, SandboxResult
from .runner import Launch, supervise


class Sandbox:
    """Runs `python -I -S -c source` with the base interpreter in a fresh private work dir
    (also HOME and TMPDIR, removed afterwards) and a minimal environment."""

    name: str
    strength: str  # "strong" | "weak" | "none"
    # Whether the code runs as 'nobody' when we are root (the work dir is then handed over).
    drops_root: bool = True

    def describe(self) -> str:
        raise NotImplementedError

    def run(
        self, source: str, stdin: bytes = b"", limits: Limits = Limits(), extra_fds: Sequence[int] = ()
    ) -> SandboxResult:
        """extra_fds are inherited under the same numbers (e.g. a memfd for a result channel)."""
        workdir = tempfile.mkdtemp(prefix="dse-sandbox-")
        try:
            if self.drops_root and os.geteuid() == 0:
                os.chown(workdir, NOBODY, NOBODY)
            return supervise(self._launch(source, limits, workdir), cwd=workdir, env=minimal_env(workdir),
                             stdin=stdin, limits=limits, extra_fds=extra_fds, backend=self.name)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _launch(self, source: str, limits: Limits, workdir: str) -> Launch:
        raise NotImplementedError
