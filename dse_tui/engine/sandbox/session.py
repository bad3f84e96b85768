"""A conversation with one sandboxed process: requests in, answer lines out."""

from __future__ import annotations

from collections.abc import Callable

from .model import SandboxResult
from .runner import LIVE, ChannelError, Supervised


class Session:
    """A sandboxed process to talk to; `close()` ends it (whole tree) and removes its work dir."""

    def __init__(self, run: Supervised, workdir: str, on_close: Callable[[], None] | None = None) -> None:
        self.run = run
        self.workdir = workdir
        self.started = True
        self.result: SandboxResult | None = None
        self._on_close = on_close

    def request(self, data: bytes) -> bytes:
        """Send one request, return its answer line; ChannelError if none comes (the process
        ended, the clock ran out, it printed too much, or the answer was too long)."""
        if not self.started:
            raise ChannelError(self.run.failure.ended if self.run.failure else "error")
        self.run.send(data)
        return self.run.receive_line()

    def send(self, data: bytes) -> None:
        self.run.send(data)

    def receive(self) -> bytes:
        if not self.started:
            raise ChannelError(self.run.failure.ended if self.run.failure else "error")
        return self.run.receive_line()

    def unanswered(self) -> bool:
        return self.started and self.run.unanswered()

    def close(self, ended: str | None = None) -> SandboxResult:
        if self.result is None:
            try:
                self.result = self.run.finish(ended)
            finally:
                LIVE.remove_workdir(self.workdir)
                if self._on_close is not None:
                    self._on_close()
        return self.result

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and self.result is None:
            try:
                self.close("interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else None)
            except BaseException:  # noqa: BLE001 - the first error is the one to see
                pass
        else:
            self.close()
