"""What every screen that talks to the engine shares: following the app's engine and
events across mode switches, and reporting failed workers in the app's one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine


NARROW_BELOW = 100  # columns; below this a screen's panes stack (its .tcss keys on -narrow)


class EngineScreen(Screen):
    # Selectors of the panes the zoom key can fill the screen with: the one holding the focus,
    # else the first. Esc (Textual's default) or the key again restores the layout.
    ZOOM_PANES: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine: Engine | None = None

    def subscribe_to_engine(self) -> None:
        """Follow the app's engine and events; call on mount. Signals drop subscribers
        while their screen is detached (another mode is shown), so resuming renews them."""
        for name, callback in (("engine_signal", self.engine_ready), ("event_signal", self.engine_event)):
            signal = getattr(self.app, name, None)
            if signal is not None:
                signal.unsubscribe(self)
                signal.subscribe(self, callback)
        if self.engine is None and getattr(self.app, "engine", None) is not None:
            self.engine_ready(self.app.engine)

    def on_screen_resume(self) -> None:
        self.subscribe_to_engine()
        self.resumed()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_BELOW
        self.set_class(narrow, "-narrow")
        self.narrowed(narrow)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_worker_error(event.worker)  # type: ignore[attr-defined]  (see host.EngineHost)
        self.worker_changed(event)

    def action_toggle_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        panes = [pane for selector in self.ZOOM_PANES for pane in self.query(selector)]
        if not panes:
            return
        focused = self.focused
        holding = [p for p in panes if focused is not None and (focused is p or p in focused.ancestors)]
        target = holding[0] if holding else panes[0]
        self.maximized = target  # set directly: Textual's maximize() wants a widget that opts in
        if not holding and target.focusable:
            target.focus()

    # -- hooks ------------------------------------------------------------------------------

    def engine_ready(self, engine: Engine) -> None:
        self.engine = engine

    def engine_event(self, event: Any) -> None:
        """A plain engine event, on the UI thread."""

    def resumed(self) -> None:
        """The screen is shown again (after another mode)."""

    def narrowed(self, narrow: bool) -> None:
        """The screen was laid out, narrow (panes stacked) or wide."""

    def worker_changed(self, event: Worker.StateChanged) -> None:
        """A worker of this screen changed state (errors are already reported)."""
