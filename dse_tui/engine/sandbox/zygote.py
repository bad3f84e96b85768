"""Warm sandboxes: zygotes started once (lazily), each forking a fresh confined child per
run, so a conversation with sandboxed code starts in milliseconds instead of tens.

A zygote is started by its backend exactly like any sandboxed process (bwrap's namespaces,
or the native confinement), runs zygote_program.py and never runs untrusted code itself.
Each child gets its own work dir, limits and seccomp filters, applied in the child; after
each run its whole process tree is gone and scratch space emptied before the next fork,
so nothing one run writes or leaves in memory is visible to the next (a fork of a zygote
that never ran any of it). Zygotes die with DSE and end on shutdown.

Every conversation goes through a zygote, warm or freshly started, so code sees the same
process whether it is tested, reused or run. Only when no zygote can start at all does a
conversation fall back to a plain sandboxed process (Sandbox.spawn, `COLD_BOOTSTRAP`).
"""

from __future__ import annotations

import itertools
import marshal
import os
import queue
import select
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from dse_tui.engine import shutdown

from .environment import NOBODY, minimal_env
from .limits import named_rlimits
from .model import Limits
from .runner import LIVE, Child, ChildFailed, Ending, Launch, Supervised, _Namespace
from .session import Session


class Host(Protocol):
    """What a zygote needs of its sandbox backend (base.Sandbox provides it)."""

    name: str
    drops_root: bool
    zygote_makes_workdir: bool

    def _workdir(self) -> str: ...

    def _launch(self, source: str, limits: Limits, workdir: str, args: Any = (), *, zygote: bool = False) -> Launch: ...

    def zygote_init(self, base: str) -> dict: ...

    def zygote_filters(self, zygote_pid: int) -> dict: ...

    def zygote_ruleset(self, run_dir: str) -> int | None: ...


# A plain sandboxed process running a marshalled program's main(role, in, out): the program
# arrives as the first request. Used only when no zygote can start.
COLD_BOOTSTRAP = (
    "import marshal,os,sys\n"
    "def _read(n):\n"
    " got=b''\n"
    " while len(got)<n:\n"
    "  chunk=os.read(I,n-len(got))\n"
    "  if not chunk: os._exit(3)\n"
    "  got+=chunk\n"
    " return got\n"
    "I,O,ROLE=int(sys.argv[1]),int(sys.argv[2]),sys.argv[3]\n"
    "g={'__name__':'dse_sandboxed','__builtins__':__builtins__}\n"
    "exec(marshal.loads(_read(int.from_bytes(_read(4),'big'))),g)\n"
    "del _read\n"
    "g['main'](ROLE,I,O)\n"
)

# The zygote's own limits: hard limits its children may only lower.
ZYGOTE_LIMITS = Limits(timeout_s=0, cpu_s=10_000_000, memory_mb=16384, max_procs=64, file_size_mb=64)
START_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 3.0
IDLE_PER_ROLE = 2


@lru_cache(maxsize=1)
def zygote_source() -> str:
    return Path(__file__).with_name("zygote_program.py").read_text(encoding="utf-8")


class ZygoteFailed(Exception):
    pass


class Zygote:
    """One zygote process, DSE's side."""

    _ids = itertools.count(1)

    def __init__(self, sandbox: Host, program: bytes) -> None:
        self.sandbox = sandbox
        self.base = sandbox._workdir()
        self.lock = threading.Lock()
        self.broken = False
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.namespace = _Namespace(None)
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._start(program, theirs)
        except BaseException:
            self.close()
            raise
        finally:
            theirs.close()

    def _start(self, program: bytes, theirs: socket.socket) -> None:
        sandbox = self.sandbox
        launch = sandbox._launch(zygote_source(), ZYGOTE_LIMITS, self.base, (str(theirs.fileno()),), zygote=True)
        self.namespace = _Namespace(launch.info_fd)
        try:
            self.proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.base,
                env=minimal_env(self.base),
                start_new_session=True,
                close_fds=True,
                pass_fds=(*launch.pass_fds, theirs.fileno()),
                preexec_fn=launch.preexec_fn,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ZygoteFailed(f"the zygote did not start: {exc}") from None
        finally:
            for fd in launch.owned_fds:
                os.close(fd)
        if self.namespace.info_fd is not None:
            while self.namespace.info_fd is not None and self._readable(self.namespace.info_fd, START_TIMEOUT_S):
                if not self.namespace.read_info():
                    break
        self.control.send(marshal.dumps({"program": program, **sandbox.zygote_init(self.base)}))
        ready = self._receive(START_TIMEOUT_S)
        if ready[:1] != b"R":
            raise ZygoteFailed("the zygote did not become ready")
        self.pid_inside = marshal.loads(ready[1:])
        self.control.send(b"F" + marshal.dumps(sandbox.zygote_filters(self.pid_inside)))

    @staticmethod
    def _readable(fd: int, timeout: float) -> bool:
        return bool(select.select([fd], [], [], timeout)[0])

    def _receive(self, timeout: float) -> bytes:
        if not self._readable(self.control.fileno(), timeout):
            return b""
        try:
            return self.control.recv(1 << 16)
        except OSError:
            return b""

    # -- runs -------------------------------------------------------------------------------

    def session(self, role: str, limits: Limits, on_end) -> Session:
        run_dir = os.path.join(self.base, f"run-{next(self._ids)}")
        if not self.sandbox.zygote_makes_workdir:
            os.mkdir(run_dir, 0o700)
            if self.sandbox.drops_root and os.geteuid() == 0:
                os.chown(run_dir, NOBODY, NOBODY)
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        child_fds = [requests_read, answers_write]

        def start() -> Child:
            return ZygoteChild(self, role, limits, run_dir, child_fds)

        def unstarted() -> None:
            for fd in child_fds:
                os.close(fd)

        run = Supervised(
            start,
            limits=limits,
            backend=self.sandbox.name,
            channel=(requests_write, answers_read),
            on_unstarted=unstarted,
        )
        session = Session(run, run_dir, on_close=lambda: on_end(self))
        if not run.start():
            session.started = False
        return session

    def kill(self) -> None:
        """End the zygote and everything it forked (its namespace, or its children by the
        death signal they hold)."""
        self.broken = True
        self.namespace.kill()
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.kill()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.wait()
        self.namespace.end(time.monotonic() + 1.0)
        try:
            self.control.close()
        except OSError:
            pass
        LIVE.remove_workdir(self.base)


class ZygoteChild(Child):
    """A run forked by a zygote, as Supervised sees it: the zygote reports its end."""

    def __init__(self, zygote: Zygote, role: str, limits: Limits, run_dir: str, child_fds: list[int]) -> None:
        self.zygote = zygote
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        fds = [*child_fds, out_write, err_write]
        ruleset = zygote.sandbox.zygote_ruleset(run_dir)
        if ruleset is not None:
            fds.append(ruleset)
        params = {
            "role": role,
            "workdir": run_dir,
            "env": minimal_env(run_dir),
            "rlimits": named_rlimits(limits),
            "make_workdir": run_dir if zygote.sandbox.zygote_makes_workdir else None,
        }
        try:
            socket.send_fds(zygote.control, [b"S" + marshal.dumps(params)], fds)
            answer = zygote._receive(REPLY_TIMEOUT_S)
        except OSError:
            answer = b""
        finally:
            for fd in fds:
                os.close(fd)
        if answer[:1] != b"P":
            os.close(out_read)
            os.close(err_read)
            zygote.kill()
            raise ChildFailed("the zygote did not fork a child")
        self.stdout, self.stderr = os.fdopen(out_read, "rb", buffering=0), os.fdopen(err_read, "rb", buffering=0)
        self.exit_fd = zygote.control.fileno()

    def kill(self) -> None:
        try:
            self.zygote.control.send(b"K")
        except OSError:
            self.zygote.kill()

    def end(self, alive: bool) -> Ending:
        zygote = self.zygote
        if alive:
            self.kill()
        answer = zygote._receive(REPLY_TIMEOUT_S)
        if answer[:1] != b"E":
            zygote.kill()  # unresponsive or gone: its whole namespace goes
            return Ending(None, signal.SIGKILL, 0.0, 0.0)
        status, cpu_us, maxrss_kb = marshal.loads(answer[1:])
        zygote.runs += 1
        code = os.waitstatus_to_exitcode(status)
        return Ending(
            None if code < 0 else code, -code if code < 0 else None, cpu_us / 1000.0, maxrss_kb / 1024.0, True
        )


class ZygotePool:
    """The warm zygotes of one sandbox, by program and role; started on first use."""

    def __init__(self, sandbox: Host) -> None:
        self.sandbox = sandbox
        self._lock = threading.Lock()
        self._idle: dict[tuple[int, str], list[Zygote]] = {}
        self._all: set[Zygote] = set()
        self.failure: str | None = None  # why zygotes cannot start here, once known
        self._starts: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._starter, name="zygote starter", daemon=True).start()
        LIVE.on_kill_all(self.kill_all)

    def session(self, program: bytes, role: str, limits: Limits) -> Session | None:
        """A conversation in a zygote's fresh child, or None when no zygote can start. A
        zygote that cannot fork (it died) is replaced once before the run is given up on."""
        if self.failure is not None:
            return None
        key = (hash(program), role)
        for _ in range(2):
            with self._lock:
                idle = self._idle.setdefault(key, [])
                zygote = idle.pop() if idle else None
            while zygote is not None and (zygote.broken or zygote.proc is None or zygote.proc.poll() is not None):
                self._discard(zygote)
                with self._lock:
                    zygote = idle.pop() if idle else None
            if zygote is None:
                try:
                    zygote = self._start(program)
                except (ZygoteFailed, OSError) as exc:
                    self.failure = str(exc)
                    return None
                with self._lock:
                    self._all.add(zygote)
            session = zygote.session(role, limits, lambda z: self._returned(key, z))
            if session.started or shutdown.requested():
                return session
            session.close()  # the zygote is broken now: returned() closes it
        return None

    def _start(self, program: bytes) -> Zygote:
        """Start a zygote from the pool's own thread. Its death signal (bwrap's
        --die-with-parent, the native backend's PR_SET_PDEATHSIG) fires when the *thread*
        that started it ends: a zygote started by a short-lived worker would die with it."""
        done: Future[Zygote] = Future()
        self._starts.put((program, done))
        return done.result()

    def _starter(self) -> None:
        while True:
            program, done = self._starts.get()
            try:
                done.set_result(Zygote(self.sandbox, program))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

    def _returned(self, key: tuple[int, str], z: Zygote) -> None:
        with self._lock:
            spare = self._idle.setdefault(key, [])
            if not z.broken and len(spare) < IDLE_PER_ROLE:
                spare.append(z)
                return
        self._discard(z)

    def _discard(self, z: Zygote) -> None:
        with self._lock:
            self._all.discard(z)
        z.close()

    def kill_all(self) -> None:
        with self._lock:
            zygotes = list(self._all)
        for zygote in zygotes:
            zygote.kill()

    def close(self) -> None:
        with self._lock:
            zygotes = list(self._all)
            self._all.clear()
            self._idle.clear()
        for zygote in zygotes:
            zygote.close()

    def warm(self) -> int:
        """How many zygotes are idle now (for doctor and benchmarks)."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def zygotes(self) -> int:
        """How many zygotes are alive (idle or serving a run)."""
        with self._lock:
            return sum(1 for z in self._all if not z.broken)

    def runs(self) -> int:
        """Runs the live zygotes have served."""
        with self._lock:
            return sum(z.runs for z in self._all if not z.broken)
