"""Ending DSE, whatever ends it: SIGTERM, SIGHUP, SIGINT, a dropped SSH session, the TUI quitting.

`request(reason)` runs once. The mechanisms that start processes register a hook here when
they are imported (the sandbox kills every running process tree and removes its work
directory, the embedded model's worker is killed); running asks see `requested()` and are
recorded as interrupted with the reason. A process killed outright (SIGKILL) cannot do any
of this: its sandboxes die with it (see sandbox/), its work directories are swept by the
next DSE to start, and its asks are marked interrupted once its pid is gone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

_lock = threading.Lock()
_reason: str | None = None
_hooks: list[Callable[[], None]] = []

HANDLED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Interrupted(BaseException):
    """Raised in the main thread of a CLI command by SIGTERM or SIGHUP (SIGINT stays
    KeyboardInterrupt). A BaseException, so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_text(signum))
        self.signum = signum


def signal_text(signum: int) -> str:
    name = signal.Signals(signum).name
    return f"interrupted by {name}" + (" (Ctrl-C)" if signum == signal.SIGINT else "")


def on_shutdown(hook: Callable[[], None]) -> None:
    """Run `hook` when DSE shuts down. Hooks may run inside a signal handler: they only kill
    and remove, never wait on a lock another thread may hold."""
    _hooks.append(hook)


def requested() -> str | None:
    """Why DSE is shutting down, or None while it is not."""
    return _reason


def request(reason: str) -> None:
    global _reason
    with _lock:
        if _reason is not None:
            return
        _reason = reason
    for hook in list(_hooks):
        try:
            hook()
        except Exception:  # noqa: BLE001 - one failing hook must not keep the others from running
            pass


def reset() -> None:
    """Forget a shutdown (tests that request one and go on)."""
    global _reason
    with _lock:
        _reason = None


def install_cli_handlers() -> None:
    """For the CLI's main thread: SIGTERM and SIGHUP end the command as Ctrl-C does, and all
    three end the sandboxes and the model worker at once, in whatever thread they run."""

    def handler(signum: int, _frame) -> None:
        request(signal_text(signum))
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signum)

    for signum in HANDLED:
        signal.signal(signum, handler)
