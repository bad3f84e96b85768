"""The sandbox contract shared by every backend."""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence

from .environment import NOBODY, minimal_env
from .model import Limits, SandboxResult
from .runner import LIVE, Launch, PopenChild, Supervised, _close_launch, supervise
from .session import Session

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
        workdir = self._workdir()
        try:
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

    def spawn(self, source: str, limits: Limits | None = None, args: Sequence[str] = ()) -> Session:
        """Start `python -I -S -c source REQUESTS_FD ANSWERS_FD *args` for a conversation:
        requests go to it on one pipe, answers come back as lines on another (Session)."""
        limits = limits or Limits()
        workdir = self._workdir()
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        try:
            launch = self._launch(source, limits, workdir, (str(requests_read), str(answers_write), *args))
        except BaseException:
            for fd in (requests_read, requests_write, answers_read, answers_write):
                os.close(fd)
            LIVE.remove_workdir(workdir)
            raise
        launch.pass_fds = (*launch.pass_fds, requests_read, answers_write)
        launch.owned_fds = (*launch.owned_fds, requests_read, answers_write)
        env = minimal_env(workdir)
        run = Supervised(
            lambda: PopenChild(launch, workdir, env, stdin=False),
            limits=limits,
            backend=self.name,
            channel=(requests_write, answers_read),
            on_unstarted=lambda: _close_launch(launch),
        )
        session = Session(run, workdir)
        if not run.start():
            session.started = False
        return session

    def _workdir(self) -> str:
        workdir = tempfile.mkdtemp(prefix=workdir_prefix())
        LIVE.add_workdir(workdir)
        if self.drops_root and os.geteuid() == 0:
            os.chown(workdir, NOBODY, NOBODY)
        return workdir

    def _launch(
        self, source: str, limits: Limits, workdir: str, args: Sequence[str] = (), *, zygote: bool = False
    ) -> Launch:
        """How to start `source`; a zygote (zygote=True) may fork, and confines its children."""
        raise NotImplementedError

    # -- conversations, warm ------------------------------------------------------------------

    def converse(self, program: bytes, role: str, limits: Limits | None = None) -> Session:
        """A conversation with a fresh process running the marshalled `program`'s
        main(role, requests_fd, answers_fd): forked by a warm zygote, or a cold process."""
        limits = limits or Limits()
        session = self.pool.session(program, role, limits) if warm_enabled() else None
        if session is None:
            from .zygote import COLD_BOOTSTRAP

            session = self.spawn(COLD_BOOTSTRAP, limits, args=(role,))
            session.send(len(program).to_bytes(4, "big") + program)
        return session

    @functools.cached_property
    def pool(self):  # -> ZygotePool
        from .zygote import ZygotePool

        return ZygotePool(self)

    # whether a zygote makes each run's work dir itself (when it also empties their parent)
    zygote_makes_workdir = False

    def zygote_init(self, base: str) -> dict:
        """What a zygote must clean after each run and whether it kills all else it sees."""
        return {"clean": [], "kill_all": False}

    def zygote_filters(self, zygote_pid: int) -> dict:
        """Seccomp filters for a zygote's children; `zygote_pid` as the children see it."""
        return {"filters": [], "guard": None}

    def zygote_ruleset(self, run_dir: str) -> int | None:
        """A Landlock ruleset fd for one run in a zygote (passed to the child), if any."""
        return None


def warm_enabled() -> bool:
    """DSE_WARM=0 turns warm sandboxes off (each conversation then starts its own process)."""
    return os.environ.get("DSE_WARM", "1") != "0"
