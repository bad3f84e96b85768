"""The top line of every screen: what the engine is doing and which sandbox runs code."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from dse_tui.screens.widgets.host import ShellStatus
from dse_tui.screens.widgets.glyphs import g


class StatusLine(Vertical):
    """Title, start-up progress and sandbox; a second line only for a weak-sandbox warning.

    It follows the app's `status_signal`, so every screen shows the same state
    without the app knowing which screens exist.
    """

    def __init__(self, area: str) -> None:
        super().__init__()
        self.area = area

    def compose(self) -> ComposeResult:
        yield Static(id="status-main", markup=False)
        yield Static(id="status-warning", markup=False)

    def on_mount(self) -> None:
        self.show(getattr(self.app, "status", ShellStatus()))
        signal = getattr(self.app, "status_signal", None)
        if signal is not None:
            signal.subscribe(self, self.show)

    def show(self, status: ShellStatus) -> None:
        parts = [f"DSE · {self.area}"]
        if status.sandbox:
            parts.append(f"sandbox: {status.sandbox}")
        if status.message:
            parts.append(status.message)
        self.query_one("#status-main", Static).update(g("  │  ".join(parts)))
        warning = self.query_one("#status-warning", Static)
        warning.update(g(f"⚠ {status.warning}") if status.warning else "")
        warning.display = bool(status.warning)
