"""Running one sandboxed process: feed stdin, capture capped output, enforce the wall clock,
and make sure nothing of it survives the run."""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dse_tui.engine import shutdown

from .accounting import read_record
from .model import Limits, SandboxResult

_CHUNK = 65536
# After the main process is gone: how long leftovers may take to die and pipes to drain,
# and how long their zombies may wait for pid 1 (it polls every ~2 s on some machines).
_GRACE_S = 1.0
_REAP_GRACE_S = 3.0


@dataclass
class Launch:
    """How a backend starts its process. The process always leads a new session, so the whole
    tree shares its process group (backends forbid leaving it)."""

    argv: list[str]
    preexec_fn: Callable[[], None] | None = None
    pass_fds: Sequence[int] = ()  # inherited by the child under the same numbers
    owned_fds: Sequence[int] = ()  # opened for this run: closed once the child has started
    info_fd: int | None = None  # read end of bwrap's --info-fd (its PID namespace's init)
    # bwrap exits with 128+N when the sandboxed process died of signal N
    exit_128_means_signal: bool = False
    account_fd: int | None = None  # memfd the accounting wrapper writes the code's rusage to (bwrap)


def supervise(
    launch: Launch,
    *,
    cwd: str,
    env: dict[str, str],
    stdin: bytes,
    limits: Limits,
    extra_fds: Sequence[int],
    backend: str,
) -> SandboxResult:
    started = time.monotonic()
    namespace = _Namespace(launch.info_fd)
    if shutdown.requested():  # no new process once DSE is ending
        namespace.close()
        for fd in (*launch.owned_fds, *((launch.account_fd,) if launch.account_fd is not None else ())):
            os.close(fd)
        return SandboxResult(None, None, b"", b"", 0.0, 0.0, 0.0, "interrupted", backend)
    try:
        proc = subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            pass_fds=(*launch.pass_fds, *extra_fds),
            preexec_fn=launch.preexec_fn,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        namespace.close()
        if launch.account_fd is not None:
            os.close(launch.account_fd)
        return SandboxResult(
            None,
            None,
            b"",
            f"sandbox failed to start: {exc}".encode(),
            (time.monotonic() - started) * 1000,
            0.0,
            0.0,
            "error",
            backend,
        )
    finally:
        for fd in launch.owned_fds:
            os.close(fd)

    output = _Output(limits.output_bytes)
    LIVE.add(proc.pid, namespace)
    try:
        ended = _pump(proc, stdin, output, namespace, deadline=started + limits.timeout_s)
    except BaseException:
        # Interrupted here (Ctrl-C, a signal's exception): nothing of the run may outlive it.
        LIVE.discard(proc.pid)
        _killpg(proc.pid)
        os.waitpid(proc.pid, 0)
        proc.returncode = -signal.SIGKILL
        namespace.end(time.monotonic() + _GRACE_S)
        _end_group(proc.pid, time.monotonic() + _REAP_GRACE_S)
        raise
    if LIVE.discard(proc.pid):
        ended = "interrupted"  # killed by a shutdown from another thread
    if ended != "exited":
        _killpg(proc.pid)  # the leader is not reaped yet, so its pid cannot have been reused
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status  # tells Popen the child was reaped
    wall_ms = (time.monotonic() - started) * 1000
    namespace.end(time.monotonic() + _GRACE_S)
    _end_group(proc.pid, time.monotonic() + _REAP_GRACE_S)
    output.drain(proc, time.monotonic() + _GRACE_S)

    cpu_ms, peak_mb = (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss / 1024  # kilobytes on Linux
    if launch.account_fd is not None:
        measured = read_record(launch.account_fd)
        os.close(launch.account_fd)
        if measured is not None:
            cpu_ms, peak_mb = measured

    exit_code = os.waitstatus_to_exitcode(status)
    sig = -exit_code if exit_code < 0 else None
    if launch.exit_128_means_signal and 128 < exit_code <= 128 + signal.SIGRTMAX:
        sig = exit_code - 128
    if ended == "exited" and sig is not None:
        ended = "signal"
    return SandboxResult(
        exit_code=None if sig is not None else exit_code,
        signal=sig,
        stdout=output.text(proc.stdout),
        stderr=output.text(proc.stderr),
        wall_ms=wall_ms,
        cpu_ms=cpu_ms,
        peak_memory_mb=peak_mb,
        ended=ended,
        backend=backend,
    )


def _pump(proc: subprocess.Popen, stdin: bytes, output: _Output, namespace: _Namespace, deadline: float) -> str:
    """Until the leader exits: write stdin, read stdout/stderr. Returns why it stopped."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None  # all three are pipes
    pidfd = os.pidfd_open(proc.pid)
    sel = selectors.DefaultSelector()
    try:
        sel.register(pidfd, selectors.EVENT_READ)
        if namespace.info_fd is not None:
            sel.register(namespace.info_fd, selectors.EVENT_READ)
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)
        pending = memoryview(stdin)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            for key, _ in sel.select(remaining):
                if key.fileobj == pidfd:
                    return "exited"
                if key.fileobj == namespace.info_fd:
                    if not namespace.read_info():
                        sel.unregister(namespace.info_fd)
                    continue
                if key.fileobj is proc.stdin:
                    try:
                        pending = pending[os.write(proc.stdin.fileno(), pending[:_CHUNK]) :]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                elif not output.read(key.fileobj):
                    sel.unregister(key.fileobj)
                elif output.exceeded:
                    return "output_limit"
    finally:
        sel.close()
        os.close(pidfd)
        if not proc.stdin.closed:
            proc.stdin.close()


class _Live:
    """Every sandboxed process tree running now and every work directory in use, so that a
    shutdown (a signal, the TUI quitting) can end them from any thread. Re-entrant: the
    shutdown hook may run in a signal handler that interrupted a thread holding the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[int, _Namespace] = {}
        self._killed: set[int] = set()
        self._workdirs: set[str] = set()
        self._idle = threading.Condition(self._lock)

    def add(self, pid: int, namespace: _Namespace) -> None:
        with self._lock:
            self._runs[pid] = namespace

    def discard(self, pid: int) -> bool:
        """Forget a run; True if a shutdown killed it."""
        with self._lock:
            self._runs.pop(pid, None)
            killed = pid in self._killed
            self._killed.discard(pid)
            return killed

    def add_workdir(self, path: str) -> None:
        with self._lock:
            self._workdirs.add(path)

    def remove_workdir(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            self._workdirs.discard(path)
            self._idle.notify_all()

    def kill_all(self) -> None:
        with self._lock:
            runs = list(self._runs.items())
            self._killed.update(pid for pid, _ in runs)
        for pid, namespace in runs:
            namespace.kill()
            _killpg(pid)

    def wait_idle(self, timeout_s: float) -> None:
        """Until every run's thread removed its work directory; then remove what is left."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._workdirs and (remaining := deadline - time.monotonic()) > 0:
                self._idle.wait(remaining)
            left = list(self._workdirs)
        for path in left:
            shutil.rmtree(path, ignore_errors=True)


LIVE = _Live()
shutdown.on_shutdown(LIVE.kill_all)


def _killpg(pgid: int) -> bool:
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def _end_group(pgid: int, deadline: float) -> None:
    """Kill whatever is left in the group (e.g. a background child) and wait until it is gone,
    zombies included: until pid 1 reaps them (some inits take seconds) they still count
    against the next run's RLIMIT_NPROC. The leader is reaped already, but the group id
    cannot be reused while members remain."""
    if not _killpg(pgid):
        return
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)


class _Namespace:
    """bwrap's PID namespace, known by its init's pid (from --info-fd). Our child is bwrap's
    monitor, outside the namespace; killing the init kills everything inside, and the init
    only exits once they are all gone."""

    def __init__(self, info_fd: int | None) -> None:
        self.info_fd = info_fd
        self._info = b""
        self._pidfd: int | None = None

    def read_info(self) -> bool:
        """Read bwrap's report; at its end (False) hold the init by a pidfd, race-free."""
        assert self.info_fd is not None
        data = os.read(self.info_fd, 4096)
        if data:
            self._info += data
            return True
        try:
            self._pidfd = os.pidfd_open(json.loads(self._info)["child-pid"])
        except (ValueError, KeyError, ProcessLookupError):
            pass  # bwrap failed before creating it, or it is already gone
        return False

    def kill(self) -> None:
        pidfd = self._pidfd
        if pidfd is not None:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except (ProcessLookupError, OSError):
                pass

    def end(self, deadline: float) -> None:
        if self._pidfd is not None:
            self.kill()
            select.select([self._pidfd], [], [], max(0.0, deadline - time.monotonic()))
        self.close()

    def close(self) -> None:
        for fd in (self.info_fd, self._pidfd):
            if fd is not None:
                os.close(fd)
        self.info_fd = self._pidfd = None


class _Output:
    """stdout and stderr share one byte budget; bytes beyond it are counted, not kept."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._kept: dict[object, list[bytes]] = {}
        self.total = 0

    @property
    def exceeded(self) -> bool:
        return self.total > self._budget

    def read(self, stream) -> bool:
        """Read what is available; False at end of stream (the stream is then closed)."""
        data = os.read(stream.fileno(), _CHUNK)
        if not data:
            stream.close()
            return False
        room = max(0, self._budget - self.total)
        self._kept.setdefault(stream, []).append(data[:room])
        self.total += len(data)
        return True

    def drain(self, proc: subprocess.Popen, deadline: float) -> None:
        """Collect what is left in the pipes once every writer is dead (bounded in time)."""
        streams = [s for s in (proc.stdout, proc.stderr) if s is not None and not s.closed]
        with selectors.DefaultSelector() as sel:
            for stream in streams:
                sel.register(stream, selectors.EVENT_READ)
            while sel.get_map() and not self.exceeded and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in sel.select(remaining):
                    if not self.read(key.fileobj):
                        sel.unregister(key.fileobj)
        for stream in streams:
            if not stream.closed:
                stream.close()

    def text(self, stream) -> bytes:
        return b"".join(self._kept.get(stream, []))
