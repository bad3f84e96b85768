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
from typing import IO

from dse_tui.engine import shutdown

from .accounting import read_record
from .model import Limits, SandboxResult

_CHUNK = 65536
# After the main process is gone: how long leftovers may take to die and pipes to drain,
# and how long their zombies may wait for pid 1 (it polls every ~2 s on some machines).
_GRACE_S = 1.0
_REAP_GRACE_S = 3.0
# How long a conversation's process may take to exit by itself once its requests end.
_CLOSE_GRACE_S = 0.5


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


class ChannelError(Exception):
    """The conversation with a sandboxed process ended: `ended` says how ("exited", "timeout",
    "output_limit", "interrupted", "overflow" for an answer over the line limit)."""

    def __init__(self, ended: str) -> None:
        super().__init__(ended)
        self.ended = ended


@dataclass
class Ending:
    """How a sandboxed process ended, as measured from outside it."""

    exit_code: int | None  # None if killed by a signal
    signal: int | None
    cpu_ms: float
    peak_mb: float
    measured: bool = False  # by a trusted parent inside the sandbox (not rusage seen from here)


class Child:
    """A started sandboxed process as Supervised sees it: pipes, a file descriptor readable
    once it has ended, a way to kill all of it and a way to collect what it left."""

    stdin: IO[bytes] | None = None
    stdout: IO[bytes]
    stderr: IO[bytes]
    exit_fd: int

    def watch(self) -> list[tuple[int, Callable[[], bool]]]:
        """Extra fds to read while it runs, each with a reader (False: stop watching it)."""
        return []

    def kill(self) -> None:
        raise NotImplementedError

    def peak_mb(self) -> float | None:
        """Its peak memory so far, if it can be read from outside while it runs."""
        return None

    def end(self, alive: bool) -> Ending:
        """Kill what is left, reap it and measure it (alive: it was still running)."""
        raise NotImplementedError


class ChildFailed(Exception):
    """The process could not be started; the message says why."""


class PopenChild(Child):
    """A process started from a Launch: it leads a new session, so the whole tree shares its
    process group; bwrap's PID namespace, if any, is held by its init's pid."""

    def __init__(self, launch: Launch, cwd: str, env: dict[str, str], stdin: bool) -> None:
        self.launch = launch
        self.namespace = _Namespace(launch.info_fd)
        try:
            self.proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=tuple(launch.pass_fds),
                preexec_fn=launch.preexec_fn,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self.close_unstarted()
            raise ChildFailed(f"sandbox failed to start: {exc}") from None
        finally:
            for fd in launch.owned_fds:
                os.close(fd)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stdin, self.stdout, self.stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        self.exit_fd = os.pidfd_open(self.proc.pid)

    def close_unstarted(self) -> None:
        """Popen failed: close what the launch opened (its owned fds are closed in any case)."""
        self.namespace.close()
        if self.launch.account_fd is not None:
            os.close(self.launch.account_fd)

    def watch(self) -> list[tuple[int, Callable[[], bool]]]:
        return [(self.namespace.info_fd, self.namespace.read_info)] if self.namespace.info_fd is not None else []

    def kill(self) -> None:
        self.namespace.kill()
        _killpg(self.proc.pid)

    def peak_mb(self) -> float | None:
        return _peak_rss_mb(self.proc.pid) if self.launch.account_fd is None else None

    def end(self, alive: bool) -> Ending:
        proc = self.proc
        peak_mb = _peak_rss_mb(proc.pid) if alive and self.launch.account_fd is None else None
        _killpg(proc.pid)  # the leader is not reaped yet, so its pid cannot have been reused
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status  # tells Popen the child was reaped
        os.close(self.exit_fd)
        self.namespace.end(time.monotonic() + _GRACE_S)
        _end_group(proc.pid, time.monotonic() + _REAP_GRACE_S)
        # ru_maxrss keeps the high-water mark of the parent that forked it: read /proc while alive
        cpu_ms, peak = (usage.ru_utime + usage.ru_stime) * 1000, peak_mb or usage.ru_maxrss / 1024
        measured = None
        if self.launch.account_fd is not None:
            measured = read_record(self.launch.account_fd)
            os.close(self.launch.account_fd)
            if measured is not None:
                cpu_ms, peak = measured
        exit_code = os.waitstatus_to_exitcode(status)
        sig = -exit_code if exit_code < 0 else None
        if self.launch.exit_128_means_signal and 128 < exit_code <= 128 + signal.SIGRTMAX:
            sig = exit_code - 128
        return Ending(None if sig is not None else exit_code, sig, cpu_ms, peak, measured is not None)


class Supervised:
    """One sandboxed process from its start to its end: stdin fed, stdout and stderr kept
    within one budget, the wall clock enforced, and nothing of it left behind.

    With a channel it is also a conversation: requests written to one pipe, answers read as
    lines from another, while output and the clock are watched as before. `channel` holds
    our ends; the child's are passed to it by whoever starts it (`start_child`)."""

    def __init__(
        self,
        start_child: Callable[[], Child],
        *,
        limits: Limits,
        backend: str,
        stdin: bytes = b"",
        channel: tuple[int, int] | None = None,
        max_line: int = 9_000_000,
        on_unstarted: Callable[[], None] | None = None,
    ) -> None:
        self._start_child, self.limits, self.backend = start_child, limits, backend
        self._on_unstarted = on_unstarted
        self.started = time.monotonic()
        self.deadline = self.started + limits.timeout_s
        self.output = _Output(limits.output_bytes)
        self._stdin = memoryview(stdin)
        self._requests: int | None = channel[0] if channel is not None else None
        self._answers: int | None = channel[1] if channel is not None else None
        self._outgoing = bytearray()
        self._incoming = bytearray()
        self._max_line = max_line
        self.child: Child | None = None
        self.failure: SandboxResult | None = None
        self._sel: selectors.BaseSelector | None = None
        self.ended: str | None = None

    # -- start ------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the process; False (and `failure` set) if it could not, or DSE is ending."""
        if shutdown.requested():  # no new process once DSE is ending
            self._unstarted()
            self.failure = SandboxResult(None, None, b"", b"", 0.0, 0.0, 0.0, "interrupted", self.backend)
            return False
        try:
            child = self.child = self._start_child()
        except ChildFailed as exc:
            self._close_channel()
            wall = (time.monotonic() - self.started) * 1000
            self.failure = SandboxResult(None, None, b"", str(exc).encode(), wall, 0.0, 0.0, "error", self.backend)
            return False
        LIVE.add(child)
        sel = self._sel = selectors.DefaultSelector()
        sel.register(child.exit_fd, selectors.EVENT_READ, "exit")
        for fd, reader in child.watch():
            sel.register(fd, selectors.EVENT_READ, reader)
        sel.register(child.stdout, selectors.EVENT_READ, "output")
        sel.register(child.stderr, selectors.EVENT_READ, "output")
        if child.stdin is not None:
            if self._stdin:
                os.set_blocking(child.stdin.fileno(), False)
                sel.register(child.stdin, selectors.EVENT_WRITE, "stdin")
            else:
                child.stdin.close()
        if self._answers is not None:
            sel.register(self._answers, selectors.EVENT_READ, "answers")
        if self._requests is not None:
            os.set_blocking(self._requests, False)
        return True

    def _unstarted(self) -> None:
        if self._on_unstarted is not None:
            self._on_unstarted()
        self._close_channel()

    def _close_channel(self) -> None:
        for fd in (self._requests, self._answers):
            if fd is not None:
                os.close(fd)
        self._requests = self._answers = None

    # -- the loop ---------------------------------------------------------------------------

    def _pump(self, want_line: bool) -> str | None:
        """Move bytes until the process exits, the clock runs out, the output overflows, or (with
        want_line) an answer line is complete; returns the reason (None: a line is ready)."""
        assert self.child is not None and self._sel is not None
        sel, child = self._sel, self.child
        while True:
            if want_line and b"\n" in self._incoming:
                return None
            if self._outgoing and self._requests is not None:
                self._write_requests()
                if self._outgoing and not self._registered(self._requests):  # the pipe is full: wait for room
                    sel.register(self._requests, selectors.EVENT_WRITE, "requests")
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            for key, _ in sel.select(remaining):
                what = key.data
                if what == "exit":
                    # it may have answered just before it ended: those answers still count
                    self._drain_answers()
                    if want_line and b"\n" in self._incoming:
                        return None
                    return "exited"
                if callable(what):
                    if not what():
                        sel.unregister(key.fileobj)
                elif what == "stdin":
                    assert child.stdin is not None
                    try:
                        self._stdin = self._stdin[os.write(child.stdin.fileno(), self._stdin[:_CHUNK]) :]
                    except BrokenPipeError:
                        self._stdin = self._stdin[:0]
                    if not self._stdin:
                        sel.unregister(key.fileobj)
                        child.stdin.close()
                elif what == "requests":
                    self._write_requests()
                    if not self._outgoing:
                        sel.unregister(key.fileobj)
                elif what == "answers":
                    assert self._answers is not None
                    data = os.read(self._answers, _CHUNK)
                    if not data:
                        sel.unregister(key.fileobj)
                        return "exited"  # it closed its end: no answer will come
                    self._incoming += data
                    if len(self._incoming) > self._max_line and b"\n" not in self._incoming:
                        return "overflow"
                elif not self.output.read(key.fileobj):
                    sel.unregister(key.fileobj)
                elif self.output.exceeded:
                    return "output_limit"

    def _drain_answers(self) -> None:
        """Read what is left in the answers pipe once its writer is gone (bounded by max_line)."""
        if self._answers is None:
            return
        os.set_blocking(self._answers, False)
        try:
            while len(self._incoming) <= self._max_line and (data := os.read(self._answers, _CHUNK)):
                self._incoming += data
        except BlockingIOError:
            pass

    def _registered(self, fd: int) -> bool:
        assert self._sel is not None
        try:
            self._sel.get_key(fd)
            return True
        except KeyError:
            return False

    def _write_requests(self) -> None:
        assert self._requests is not None
        try:
            written = os.write(self._requests, self._outgoing[:_CHUNK])
        except BlockingIOError:
            return
        except BrokenPipeError:
            self._outgoing.clear()
            return
        del self._outgoing[:written]

    def run_to_end(self) -> str:
        """Until the process exits (batch use); returns why it stopped."""
        return self._pump(want_line=False) or "exited"

    # -- the conversation ----------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._outgoing += data

    def receive_line(self) -> bytes:
        """The next answer line (without its newline); ChannelError when none will come."""
        ended = self._pump(want_line=True)
        if ended is not None:
            self.ended = ended
            raise ChannelError(ended)
        line, _, rest = bytes(self._incoming).partition(b"\n")
        self._incoming = bytearray(rest)
        return line

    def unanswered(self) -> bool:
        """Whether answers arrived that no request asked for (they are a protocol violation)."""
        if self._incoming:
            return True
        if self._answers is None:
            return False
        ready, _, _ = select.select([self._answers], [], [], 0)
        if ready:
            data = os.read(self._answers, _CHUNK)
            self._incoming += data
            return bool(data)
        return False

    # -- the end ----------------------------------------------------------------------------

    def finish(self, ended: str | None = None) -> SandboxResult:
        """Kill the whole tree (unless it exited), reap it, and say what it did."""
        if self.failure is not None:
            return self.failure
        child = self.child
        assert child is not None
        alive = not select.select([child.exit_fd], [], [], 0)[0]
        peak_mb = child.peak_mb() if alive else None
        if alive and ended is None and self.ended is None and self._requests is not None:
            # a conversation over: the end of its requests lets it exit by itself, measured
            os.close(self._requests)
            self._requests = None
            alive = not select.select([child.exit_fd], [], [], _CLOSE_GRACE_S)[0]
            ended = "closed"
        ended = ended or self.ended or ("closed" if alive else "exited")
        if LIVE.discard(child):
            ended = "interrupted"  # killed by a shutdown from another thread
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for fd in (self._requests, self._answers):
            if fd is not None:
                os.close(fd)
        self._requests = self._answers = None
        if child.stdin is not None and not child.stdin.closed:
            child.stdin.close()
        ending = child.end(alive)
        if peak_mb is not None and ending.peak_mb > peak_mb and not ending.measured:
            ending.peak_mb = peak_mb
        wall_ms = (time.monotonic() - self.started) * 1000
        self.output.drain(child, time.monotonic() + _GRACE_S)
        if ended == "exited" and ending.signal is not None:
            ended = "signal"
        return SandboxResult(
            exit_code=ending.exit_code,
            signal=ending.signal,
            stdout=self.output.text(child.stdout),
            stderr=self.output.text(child.stderr),
            wall_ms=wall_ms,
            cpu_ms=ending.cpu_ms,
            peak_memory_mb=ending.peak_mb,
            ended=ended,
            backend=self.backend,
        )

    def abort(self) -> None:
        """Interrupted (Ctrl-C, a signal's exception): nothing of the run may outlive it."""
        if self.child is None:
            return
        try:
            self.finish("interrupted")
        except BaseException:  # noqa: BLE001 - already on the way out
            self.child.kill()


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
    """Run a process to its end (batch use)."""
    launch.pass_fds = (*launch.pass_fds, *extra_fds)
    run = Supervised(
        lambda: PopenChild(launch, cwd, env, stdin=bool(stdin)),
        limits=limits,
        backend=backend,
        stdin=stdin,
        on_unstarted=lambda: _close_launch(launch),
    )
    if not run.start():
        assert run.failure is not None
        return run.failure
    try:
        ended = run.run_to_end()
    except BaseException:
        run.abort()
        raise
    return run.finish(ended)


def _close_launch(launch: Launch) -> None:
    """A launch that will never start: close what was opened for it."""
    for fd in (
        *launch.owned_fds,
        *((launch.account_fd,) if launch.account_fd is not None else ()),
        *((launch.info_fd,) if launch.info_fd is not None else ()),
    ):
        os.close(fd)


class _Live:
    """Every sandboxed process running now and every work directory in use, so that a
    shutdown (a signal, the TUI quitting) can end them from any thread. Re-entrant: the
    shutdown hook may run in a signal handler that interrupted a thread holding the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[int, Child] = {}
        self._killed: set[int] = set()
        self._workdirs: set[str] = set()
        self._idle = threading.Condition(self._lock)
        self._hooks: list[Callable[[], None]] = []

    def add(self, child: Child) -> None:
        with self._lock:
            self._runs[id(child)] = child

    def discard(self, child: Child) -> bool:
        """Forget a run; True if a shutdown killed it."""
        with self._lock:
            self._runs.pop(id(child), None)
            killed = id(child) in self._killed
            self._killed.discard(id(child))
            return killed

    def on_kill_all(self, hook: Callable[[], None]) -> None:
        """Also run `hook` on shutdown (the warm pools end their zygotes)."""
        with self._lock:
            self._hooks.append(hook)

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
            self._killed.update(key for key, _ in runs)
            hooks = list(self._hooks)
        for _, child in runs:
            try:
                child.kill()
            except OSError:
                pass
        for hook in hooks:
            hook()

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


def _peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


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

    def drain(self, child: Child, deadline: float) -> None:
        """Collect what is left in the pipes once every writer is dead (bounded in time)."""
        streams = [s for s in (child.stdout, child.stderr) if s is not None and not s.closed]
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
