"""The Textual shell: modes, bindings, command palette, and the engine's start-up.

The first frame must come fast, so nothing heavy is imported here: the engine
(and with it SQLite extensions, the embedder, the sandbox) is imported and
opened in a thread worker once the first frame is on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from dse_tui.engine import shutdown
from dse_tui.engine.events import DriftRaised, JobFinished, JobProgress, Progress
from dse_tui.screens.ask import AskScreen
from dse_tui.screens.drift import DriftScreen
from dse_tui.screens.help import HelpScreen, key_display, key_rows
from dse_tui.screens.library import LibraryScreen
from dse_tui.screens.pressure import PressureScreen
from dse_tui.screens.transcripts import TranscriptsScreen
from dse_tui.screens.widgets.glyphs import g
from dse_tui.screens.widgets.host import PaletteCommand, ShellStatus

if TYPE_CHECKING:
    from dse_tui.engine.events import Event
    from dse_tui.engine.facade import Engine

EXIT_GRACE_S = 5.0
JOB_WORDS = {"verify": "verifying artifacts", "reembed": "indexing artifacts", "rollup": "rolling up metrics"}
MODE_NAMES = {
    "library": "Library",
    "ask": "Ask",
    "transcripts": "Log",
    "pressure": "Pressure",
    "drift": "Drift",
}  # as the footer and the palette say
DEFAULT_THEME = "ansi-dark"  # ANSI colours: readable on the Linux console and over any SSH terminal


class ScreenCommands(Provider):
    """Context-aware palette: the commands of the screen it was opened over, then the app's."""

    def _commands(self) -> list[PaletteCommand]:
        screen_commands = getattr(self.screen, "palette_commands", None)
        app_commands = getattr(self.app, "palette_commands", None)
        return [*(screen_commands() if screen_commands else []), *(app_commands() if app_commands else [])]

    def _help(self, command: PaletteCommand) -> str:
        """The command's help, and its key where one is bound (the palette teaches the keys)."""
        keys = key_display(self.screen, command.binding) if command.binding else ""
        return f"{command.help}  ({keys})" if keys else command.help

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.callback, help=self._help(command))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.callback, help=self._help(command))


class DSEApp(App):
    TITLE = "DSE"
    CSS_PATH = "app.tcss"
    # Each top-level area is a mode with its own screen stack.
    MODES = {
        "library": LibraryScreen,
        "ask": AskScreen,
        "transcripts": TranscriptsScreen,
        "pressure": PressureScreen,
        "drift": DriftScreen,
    }
    DEFAULT_MODE = "library"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave DSE", priority=True),
        Binding(
            "f1,question_mark",
            "toggle_help",
            "Keys",
            id="app.keys",
            tooltip="Show or hide what every key of this screen does",
            show=False,
        ),
        # Off the footer (it is full at 80 columns); listed by f1 and in the palette as "app: …".
        # Shown in every footer: the other screens must be discoverable without the palette.
        Binding(
            "f2",
            "switch_mode('library')",
            "Library",
            id="app.library",
            tooltip="Browse, search and run stored artifacts",
        ),
        Binding(
            "f3",
            "switch_mode('ask')",
            "Ask",
            id="app.ask",
            tooltip="Describe a task and its spec; reuse or generate code",
        ),
        Binding(
            "f4",
            "switch_mode('transcripts')",
            "Log",
            id="app.transcripts",
            tooltip="Transcripts: what each ask sent to each model tier, its replies, failures and code diffs",
        ),
        Binding(
            "f6",
            "switch_mode('pressure')",
            "Pressure",
            id="app.pressure",
            show=False,  # no room left in an 80-column footer: F1 and the palette list it
            tooltip="Live pressure gauges: the level, why, and which tiers it allows",
        ),
        Binding(
            "f7",
            "switch_mode('drift')",
            "Drift",
            id="app.drift",
            show=False,  # no room left in an 80-column footer: F1 and the palette list it
            tooltip="Drift alerts: evolve, dismiss, see the evidence, roll back",
        ),
    ]

    class EngineOpened(Message):
        def __init__(self, engine: Engine) -> None:
            super().__init__()
            self.engine = engine

    class EngineEvent(Message):
        """An engine event that arrived on some worker thread, now on the UI thread."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class StatusChanged(Message):
        def __init__(self, status: ShellStatus) -> None:
            super().__init__()
            self.status = status

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        engine: Engine | None = None,
        import_starter: bool = True,
        keymap: dict[str, str] | None = None,
        theme: str | None = None,
        owns_process: bool = False,
        run_jobs: bool = True,
    ) -> None:
        """`engine` lets tests inject an open engine; the app then neither creates nor closes it.
        `owns_process`: the app is the process (`dse`), so its exit ends all of DSE's work.
        `run_jobs`: run the store's background jobs (re-verification...) once the engine is open."""
        super().__init__()
        self._owns_process = owns_process
        self._run_jobs = run_jobs
        self._jobs_stop = threading.Event()
        self._jobs_running = threading.Lock()
        self._jobs_wanted = threading.Event()
        self.animation_level = "none"  # low-resource default: no animation over SSH or on a Pi
        self._home = home
        self._injected = engine
        self._import_starter = import_starter
        self._keymap = keymap or {}
        self._theme_name = theme or os.environ.get("DSE_THEME") or DEFAULT_THEME
        self.engine: Engine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.status = ShellStatus()
        self.status_signal: Signal[ShellStatus] = Signal(self, "status")
        self.engine_signal: Signal[Engine] = Signal(self, "engine")
        self.event_signal: Signal[Any] = Signal(self, "engine-event")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The key of the screen already shown is hidden: the footer keeps room at 80 columns.
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return False
        return True

    def on_mount(self) -> None:
        # A dropped SSH connection (SIGHUP), `kill` (SIGTERM) or SIGINT from outside: leave
        # through the normal exit path (terminal restored) instead of dying mid-write, after
        # ending every sandbox and the model worker and marking a running ask interrupted.
        # The loop's own handler wakes it; signal.signal would wait for the next terminal event.
        loop = asyncio.get_running_loop()
        for signum in shutdown.HANDLED:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.end_by_signal, signum)
        if self._theme_name in self.available_themes:
            self.theme = self._theme_name
        if self._keymap:
            self.set_keymap(self._keymap)
        # After the first frame, so the UI shows before the engine's imports begin.
        self.call_after_refresh(self._open_engine)

    def end_by_signal(self, signum: int) -> None:
        if self._owns_process:
            shutdown.request(shutdown.signal_text(signum))
        self.exit(None, 128 + signum)

    def on_unmount(self) -> None:
        self._jobs_stop.set()
        if self._owns_process:
            # Whatever still runs in a worker thread gets a few seconds to record how it ended:
            # Python waits for those threads at exit, and an HTTP call may not end for minutes.
            shutdown.request(shutdown.requested() or "the TUI was closed")
            exit_after(EXIT_GRACE_S, lambda: int(self.return_code or 0))
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.engine is not None and self._injected is None:
            self.engine.close()

    # -- engine start-up (thread worker; it only posts messages) ------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", name="open the engine")
    def _open_engine(self) -> None:
        engine = self._injected
        if engine is None:
            from dse_tui.engine.facade import Engine

            engine = Engine(self._home, embedder_process=True)  # the model's memory is not the app's
        step = "loading the embedder and the starter library…" if self._import_starter else "opening the store…"
        self.post_message(self.StatusChanged(ShellStatus(step, *self._sandbox_text(engine))))
        # post_message is thread-safe and never blocks the engine's thread (call_from_thread would).
        self._unsubscribe = engine.events.subscribe(lambda event: self.post_message(self.EngineEvent(event)))
        if self._import_starter:
            engine.ensure_starter_library()  # progress arrives as engine events
        engine.background_jobs = self._run_jobs  # a store being re-indexed stays searchable meanwhile
        self.post_message(self.EngineOpened(engine))
        engine.ensure_index()  # warm up now, so the first search does not wait for the model
        engine.embedder.load()
        if self._run_jobs:
            self._drain_jobs(engine)  # e.g. verifying the starter library; progress as events

    @work(thread=True, exit_on_error=False, group="jobs", name="run the queued jobs")
    def _run_queued_jobs(self) -> None:
        assert self.engine is not None
        self._drain_jobs(self.engine)

    def _drain_jobs(self, engine: Engine) -> None:
        """Run queued jobs until none is left, one runner at a time. A request that arrives
        while another thread runs is not lost: that runner looks again before it stops."""
        self._jobs_wanted.set()
        while self._jobs_wanted.is_set() and not self._jobs_stop.is_set():
            if not self._jobs_running.acquire(blocking=False):
                return  # the runner holding it sees the request
            try:
                while self._jobs_wanted.is_set() and not self._jobs_stop.is_set():
                    self._jobs_wanted.clear()
                    engine.run_jobs(self._jobs_stop)
            finally:
                self._jobs_running.release()

    @staticmethod
    def _sandbox_text(engine: Engine) -> tuple[str, str, str]:
        """(sandbox, warning, detail): the sandbox that runs code, one plain line if it is not strong,
        and its full description (for the palette's "app: sandbox" command)."""
        try:
            sandbox = engine.sandbox
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of raised
            return "none", "No sandbox is available: running code will fail. See `dse doctor`.", str(exc)
        strength = getattr(sandbox, "strength", "unknown")
        describe = getattr(sandbox, "describe", None)
        detail = describe() if callable(describe) else ""
        label = f"{sandbox.name} ({strength} isolation)"
        if strength == "strong":
            return label, "", detail
        how = "WEAK" if strength == "weak" else "NO"
        return label, f"Untrusted code runs with {how} isolation. Ctrl+P › app: sandbox for details.", detail

    def on_dseapp_status_changed(self, message: StatusChanged) -> None:
        self._set_status(message.status)

    def on_dseapp_engine_opened(self, message: EngineOpened) -> None:
        self.engine = message.engine
        self._set_status(replace(self.status, message="", ready=True))
        self.engine_signal.publish(message.engine)

    def on_dseapp_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if isinstance(event, Progress) and not self.status.ready:
            detail = f" · {event.detail}" if event.detail else ""
            self._set_status(replace(self.status, message=f"importing {event.task} {event.done}/{event.total}{detail}"))
        elif isinstance(event, JobProgress):
            total = f"/{event.total}" if event.total is not None else ""
            self._set_status(
                replace(self.status, message=f"{JOB_WORDS.get(event.kind, event.kind)} {event.done}{total}")
            )
        elif isinstance(event, JobFinished):
            self._set_status(
                replace(
                    self.status,
                    message=""
                    if event.state in ("done", "queued")
                    else f"{JOB_WORDS.get(event.kind, event.kind)} {event.state}",
                )
            )
        if isinstance(event, DriftRaised) and event.action == "evolve" and self._run_jobs and self.engine is not None:
            self._run_queued_jobs()  # the evolution that drift just queued runs now, not at the next start
        self.event_signal.publish(event)

    def _set_status(self, status: ShellStatus) -> None:
        self.status = status
        self.status_signal.publish(status)

    # -- the one place worker failures become visible -----------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_worker_error(event.worker)

    def report_worker_error(self, worker: Worker) -> None:
        """Worker state messages do not bubble, so screens forward their failed workers here."""
        error = worker.error
        from dse_tui.engine.errors import DSEError  # the engine is loaded by now (or its import failed)
        from dse_tui.store.errors import StoreError

        # Engine and store errors are written for users; anything else is a bug, so name its type.
        text = str(error) if isinstance(error, (DSEError, StoreError)) else f"{type(error).__name__}: {error}"
        self.notify(text, title=f"Could not {worker.name}", severity="error", timeout=8)
        if worker.group == "engine":
            self._set_status(replace(self.status, message="the engine did not start"))

    # -- palette ------------------------------------------------------------------------------------

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "app: library",
                "Browse, search and run stored artifacts",
                lambda: self.switch_mode("library"),
                "app.library",
            ),
            PaletteCommand(
                "app: ask", "Reuse or generate tested code for a task", lambda: self.switch_mode("ask"), "app.ask"
            ),
            PaletteCommand(
                "app: log",
                "Transcripts: prompts, replies, failures and code diffs of every ask",
                lambda: self.switch_mode("transcripts"),
                "app.transcripts",
            ),
            PaletteCommand(
                "app: pressure",
                "Live gauges, the pressure level and the tiers it allows",
                lambda: self.switch_mode("pressure"),
                "app.pressure",
            ),
            PaletteCommand(
                "app: drift",
                "Drift alerts and evolutions with their evidence",
                lambda: self.switch_mode("drift"),
                "app.drift",
            ),
            PaletteCommand("app: keys", "Show what every key of this screen does", self.action_toggle_help, "app.keys"),
            PaletteCommand("app: sandbox", "What isolates the code DSE runs", self.show_sandbox),
        ]

    def action_command_palette(self) -> None:
        super().action_command_palette()
        self.call_after_refresh(self._palette_without_emoji)

    def _palette_without_emoji(self) -> None:
        """Textual's palette shows a magnifier emoji, which a console font may not have."""
        from textual.command import SearchIcon

        for icon in self.screen.query(SearchIcon):
            icon.icon = g("›")

    def switch_mode(self, mode: str) -> Any:
        self.clear_notifications()  # a toast of one screen never covers another's content
        return super().switch_mode(mode)

    def action_toggle_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        screen = self.screen
        name = screen.title or MODE_NAMES.get(self.current_mode, self.current_mode.title())
        self.push_screen(HelpScreen(name, *key_rows(screen)))

    def show_sandbox(self) -> None:
        status = self.status
        text = f"{status.sandbox or 'not known yet'}\n{status.sandbox_detail}".strip()
        self.notify(text, title="Sandbox", severity="warning" if status.warning else "information", timeout=15)


def exit_after(seconds: float, code: Callable[[], int]) -> None:
    """End the process `seconds` from now if it is still here (a daemon thread: it dies
    quietly when the process exits first)."""

    def later() -> None:
        time.sleep(seconds)
        os._exit(code())

    threading.Thread(target=later, name="exit-watchdog", daemon=True).start()


def load_keymap() -> dict[str, str]:
    """Binding id -> keys, from $DSE_KEYMAP or $XDG_CONFIG_HOME/dse/keymap.yaml (e.g. `library.run: ctrl+r`)."""
    path = os.environ.get("DSE_KEYMAP") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "dse", "keymap.yaml"
    )
    if not os.path.isfile(path):
        return {}
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def run_app(home: str | None = None) -> int:
    """`dse` with no arguments: open the TUI on `home` (default: $DSE_HOME or the XDG data dir)."""
    app = DSEApp(home, keymap=load_keymap(), owns_process=True)
    app.run()
    return int(app.return_code or 0)
