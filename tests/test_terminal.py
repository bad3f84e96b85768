"""The terminal is restored whatever ends the TUI: a signal, an exception, a kill outright.
Each test runs `dse` on a pseudo-terminal and reads what it wrote there."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import threading
import time

import psutil
import pytest

ALT_ON, ALT_OFF, CURSOR_ON, MOUSE_OFF = b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[?1000l"


class Terminal:
    """`python -c CODE` (which runs dse) on an 80x24 pseudo-terminal, its output collected."""

    def __init__(self, code: str, home: str) -> None:
        env = {**os.environ, "DSE_HOME": home, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, "-c", code], env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.before = termios.tcgetattr(fd)
        self.output = bytearray()
        self._done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                self.output += data
            elif self._done.is_set():
                break

    def wait_for(self, needle: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            assert time.monotonic() < deadline, f"{needle!r} never came; got {bytes(self.output[-400:])!r}"
            time.sleep(0.05)

    def tui_pid(self) -> int:
        """The process drawing the TUI: the guard's child."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = psutil.Process(self.pid).children()
            if children:
                return children[0].pid
            time.sleep(0.05)
        raise AssertionError("the TUI runs in no child process")

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                time.sleep(0.3)  # the reader drains the last bytes
                self._done.set()
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"dse did not end; it wrote {bytes(self.output[-400:])!r}")

    def after_alt_screen(self) -> bytes:
        return bytes(self.output[self.output.rfind(ALT_ON):])


RUN_DSE = "from dse_tui.launcher import main; raise SystemExit(main([]))"


@pytest.fixture
def home(starter_home) -> str:
    return str(starter_home)


def test_sigterm_restores_the_terminal(home):
    term = Terminal(RUN_DSE, home)
    term.wait_for(ALT_ON)
    term.wait_for(b"Library")
    os.kill(term.pid, signal.SIGTERM)  # to `dse` itself, as `kill` would
    assert term.finish() == 128 + signal.SIGTERM
    tail = term.after_alt_screen()
    assert ALT_OFF in tail and CURSOR_ON in tail and MOUSE_OFF in tail
    assert termios.tcgetattr(term.fd)[3] & termios.ECHO  # line discipline as it was (echo on)


def test_an_exception_in_the_app_restores_the_terminal(home):
    code = ("import dse_tui.app as app\n"
            "def boom(self):\n    raise RuntimeError('planted failure')\n"
            "app.DSEApp.on_mount = boom\n" + RUN_DSE)
    term = Terminal(code, home)
    assert term.finish() != 0
    out = bytes(term.output)
    assert b"planted failure" in out
    if ALT_ON in out:
        assert ALT_OFF in term.after_alt_screen()
    assert termios.tcgetattr(term.fd)[3] & termios.ECHO


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV])
def test_a_tui_killed_outright_gets_the_terminal_restored_by_its_guard(home, signum):
    term = Terminal(RUN_DSE, home)
    term.wait_for(ALT_ON)
    term.wait_for(b"Library")
    assert not termios.tcgetattr(term.fd)[3] & termios.ECHO  # raw mode while the TUI runs
    os.kill(term.tui_pid(), signum)
    assert term.finish() == 128 + signum
    tail = term.after_alt_screen()
    assert ALT_OFF in tail and CURSOR_ON in tail and MOUSE_OFF in tail
    assert f"ended by {signal.Signals(signum).name}".encode() in tail
    assert termios.tcgetattr(term.fd)[3] & termios.ECHO
    assert termios.tcgetattr(term.fd)[3] & termios.ICANON
