"""What a screen may expect from the app that hosts it.

Screens sit below the app in the dependency order (`screens` <- `dse_tui.app`),
so they never import it; they rely on this small contract instead. The app
implements it; tests can implement it with a stub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Protocol

if TYPE_CHECKING:
    from textual.signal import Signal
    from textual.worker import Worker

    from dse_tui.engine.facade import Engine


@dataclass(frozen=True)
class ShellStatus:
    """The shell's one-line state: engine start-up and the sandbox in use."""

    message: str = "starting the engine…"
    sandbox: str = ""  # e.g. "bwrap (strong isolation)"
    warning: str = ""  # plain words when isolation is not strong; empty otherwise
    sandbox_detail: str = ""  # the sandbox's own full description
    ready: bool = False


class PaletteCommand(NamedTuple):
    """A command a screen offers to the command palette ("area: verb")."""

    title: str
    help: str
    callback: Callable[[], Any]
    binding: str = ""  # the id of the binding that does the same, whose key the palette shows


class EngineHost(Protocol):
    engine: Engine | None  # None until the start-up worker has opened it
    engine_signal: Signal[Engine]  # published once, when the engine is ready
    event_signal: Signal[Any]  # the engine's plain events, re-published on the UI thread
    status: ShellStatus
    status_signal: Signal[ShellStatus]

    def report_worker_error(self, worker: Worker) -> None:
        """The one place a failed worker becomes an error notification."""
