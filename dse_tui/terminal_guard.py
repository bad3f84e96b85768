"""The terminal comes back whatever ends the TUI.

Textual restores the terminal when the app exits, on an exception too, and the app turns
SIGTERM, SIGHUP and SIGINT into that same exit. A process killed outright (SIGKILL, an
out-of-memory kill) or dying in native code (SIGSEGV) restores nothing, and leaves the
user's shell in the alternate screen with mouse reporting on and no cursor. So `dse`
forks before anything is loaded: the child runs the TUI, the parent only waits, forwards
signals, and if the child died of a signal puts the terminal back as it found it. Nothing
here imports Textual.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

# The inverse of what Textual's Linux driver switches on: mouse modes, bracketed paste,
# focus events, the kitty keyboard protocol, the alternate screen, the hidden cursor.
RESTORE = (
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l"
    "\x1b[?2004l\x1b[?2048l\x1b[?1004l\x1b[<u"
    "\x1b[?7h\x1b[?1049l\x1b[?25h\x1b[0m"
)
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def run_guarded(run: Callable[[], int]) -> int:
    """Run `run` (the TUI) in a child process; restore the terminal if it dies of a signal."""
    fd = _terminal_fd()
    if fd is None or not hasattr(os, "fork") or os.environ.get("DSE_NO_TERMINAL_GUARD"):
        return run()
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return run()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = int(run() or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - printed like the interpreter would, then exit
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
        os._exit(code)

    def forward(signum: int, _frame) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    _, status = os.waitpid(pid, 0)  # retried by Python when a forwarded signal interrupts it
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        restore(fd, saved)
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        sys.stderr.write(f"dse: the TUI was ended by {name}; the terminal was restored\n")
        return 128 + number
    return os.waitstatus_to_exitcode(status)


def restore(fd: int, saved: list) -> None:
    """Terminal modes as saved before the TUI started, and the screen modes it switched on, off."""
    import termios

    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    except termios.error:
        pass
    for stream in (sys.__stderr__, sys.__stdout__):  # Textual draws on stderr
        try:
            if stream is not None and stream.isatty():
                os.write(stream.fileno(), RESTORE.encode())
                return
        except (ValueError, OSError):
            continue


def _terminal_fd() -> int | None:
    """stdin, whose modes Textual changes (raw input), when it is a terminal."""
    try:
        if sys.__stdin__ is not None and sys.__stdin__.isatty():
            return sys.__stdin__.fileno()
    except (ValueError, OSError):
        pass
    return None
