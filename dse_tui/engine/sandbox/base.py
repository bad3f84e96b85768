"""The sandbox contract shared by every backend."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence

from .environment import NOBODY, minimal_env
from .model import Limits, SandboxResult
from .runner import LIVE, Launch, supervise

WORKDIR_PREFIX = "dse-sandbox-"
_OWNED = re.compile(rf"^{WORKDIR_PREFIX}(\d+)-")
_UNOWNED_AFTER_S = 3600  # work dirs of older versions (no pid in the name) left by a kill


def workdir_prefix() -> str:
    """Work dirs carry the pid of the DSE that made them, so a later one can tell what a
    killed process left behind."""
    return f"{WORKDIR_PREFIX}{os.getpid()}-"


def sweep_stale_workdirs(tmp: str | None = None) -> int:
    """Remove the work dirs of DSE processes that are gone (killed outright); returns how many."""
    tmp = tmp or tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(tmp)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(WORKDIR_PREFIX):
            continue
        path = os.path.join(tmp, name)
        match = _OWNED.match(name)
        if match:
            stale = not _pid_alive(int(match.group(1)))
        else:
            try:
                stale = time.time() - os.stat(path).st_mtime > _UNOWNED_AFTER_S
            except OSError:
                continue
        if stale and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        self, source: str, stdin: bytes = b"", limits: Limits | None = None, extra_fds: Sequence[int] = ()
    ) -> SandboxResult:
        """extra_fds are inherited under the same numbers (e.g. a memfd for a result channel)."""
        limits = limits or Limits()
        workdir = tempfile.mkdtemp(prefix=workdir_prefix())
        LIVE.add_workdir(workdir)
        try:
            if self.drops_root and os.geteuid() == 0:
                os.chown(workdir, NOBODY, NOBODY)
            return supervise(
                self._launch(source, limits, workdir),
                cwd=workdir,
                env=minimal_env(workdir),
                stdin=stdin,
                limits=limits,
                extra_fds=extra_fds,
                backend=self.name,
            )
        finally:
            LIVE.remove_workdir(workdir)

    def _launch(self, source: str, limits: Limits, workdir: str) -> Launch:
        raise NotImplementedError
