"""Ask: describe a task and its spec; DSE reuses a tested artifact or climbs the model ladder.

The ask runs in one thread worker; the engine's events arrive on that thread and
are posted here as messages, so progress shows attempt by attempt. Cancel sets a
threading.Event the engine checks between attempts.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea
from textual.worker import Worker, WorkerState

from dse_tui.engine.display import confirmation_text, prediction_text, visible
from dse_tui.engine.events import AttemptFinished, AttemptStarted, ConfirmationRecorded, StartTierChosen, TierSkipped
from dse_tui.screens.transcripts import (
    TranscriptsScreen,
    duration_text,
    first_line,
    money,
    short_model,
    syntax,
    temperature_text,
)
from dse_tui.screens.engine_screen import EngineScreen
from dse_tui.screens.widgets.glyphs import g, spinner_frame
from dse_tui.screens.widgets.host import PaletteCommand
from dse_tui.screens.widgets.status import StatusLine

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.generation.ask import AskResult
    from dse_tui.engine.generation.providers import Ladder, Provider, TierConfig

SPEC_TEMPLATE = """\
# Checked in the sandbox; only code that passes is kept.
function: slugify
description: Turn a title into a lower-case URL slug
behaviors:
  - behavior: joins words with dashes
    given: {text: "Hello World"}
    then: {result_equals: "hello-world"}
  - behavior: drops punctuation
    given: {text: "Tea, please!"}
    then: {result_equals: "tea-please"}
  - behavior: keeps digits
    given: {text: "Top 10 Tips"}
    held_out: true  # never shown to a model; the code must pass it all the same
    then: {result_equals: "top-10-tips"}
"""


class ProgressLine(Static):
    """One row of the live log; its class (-running, -failed, …) picks the colour in ask.tcss."""


class AskScreen(EngineScreen):
    CSS_PATH = "ask.tcss"

    BINDINGS = [
        # Not priority: no field here uses these keys, so they reach the screen from any of them,
        # after the keys typed before them (a priority ctrl+r ran before a fast-typed task had
        # reached its field, seen in tmux). Escape is priority: the spec editor takes it otherwise.
        Binding("ctrl+r", "run", "Run", id="ask.run", tooltip="Reuse a tested artifact or generate one for this task"),
        Binding("escape", "cancel", "Cancel", id="ask.cancel",
                tooltip="Stop the ask: a model call is stopped or abandoned at once (a paid one ends at its reply); no new attempt starts", priority=True),
        Binding("ctrl+t", "open_transcript", "Transcript", id="ask.transcript",
                tooltip="Open the last ask's transcript: prompts, replies, failures, code diffs"),
        Binding("f5", "toggle_zoom", "Zoom", id="ask.zoom", show=False,
                tooltip="Fill the screen with the result and code (or the spec, when editing it); again to go back"),
    ]
    ZOOM_PANES = ("#output", "#spec-pane")

    class LadderLoaded(Message):
        def __init__(self, ladder: Ladder, providers: dict[str, Provider],
                     availability: list[tuple[TierConfig, bool, str]]) -> None:
            super().__init__()
            self.ladder, self.providers, self.availability = ladder, providers, availability

    class Progress(Message):
        """An engine event of the running ask (TierSkipped, StartTierChosen, AttemptStarted, AttemptFinished...)."""

        def __init__(self, event: Any) -> None:
            super().__init__()
            self.event = event

    class Finished(Message):
        def __init__(self, result: AskResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, *, ladder: Ladder | None = None, providers: dict[str, Provider] | None = None,
                 timings: bool = True) -> None:
        """`ladder`/`providers` replace the configured model ladder (tests use scripted tiers).
        `timings=False` hides durations, which differ run to run (snapshot tests)."""
        super().__init__()
        self.ladder = ladder
        self.providers: dict[str, Provider] = dict(providers or {})
        self.timings = timings
        self.running = False
        self.transcript_id: str | None = None  # of the last ask, for ctrl+t
        self._result: AskResult | None = None  # the last ask's, until its confirmation arrives
        self._facts = ""
        self._cancel: threading.Event | None = None
        self._attempts: dict[int, Any] = {}  # n -> AttemptStarted, to finish its line
        self._rows: dict[str, ProgressLine] = {}  # the log's rows by key, in order
        self._ladder_ready = False  # the ladder's providers are made (they may be injected earlier)
        self._run_when_ready = False  # ctrl+r came before the engine or the ladder: run once both are here
        self._live: dict[str, tuple[str, float]] = {}  # rows still waiting: their text and start time
        self._ticker: Timer | None = None  # redraws the waiting rows; runs only while an ask does
        self._tick = 0

    def compose(self) -> ComposeResult:
        yield StatusLine("Ask")
        with Horizontal(id="task-bar"):
            yield Label("Task", classes="field-label")
            yield Input(placeholder="e.g. Write slugify(text) that turns a title into a URL slug", id="task",
                        compact=True)
        with Horizontal(id="options-bar"):
            yield Label("Max tier", classes="field-label")
            # value "" = no limit: the ladder may climb to its top tier (a distinct placeholder value, so
            # that loading the real options changes the value and with it the label shown)
            yield Select([("loading tiers…", "loading")], allow_blank=False, id="max-tier", compact=True)
            yield Label("Budget $", classes="field-label")
            yield Input(placeholder="none", id="budget", type="number", compact=True)
            yield Button("Run", id="run-button", compact=True)
        with Horizontal(id="body"):
            with Vertical(id="spec-pane"):
                yield Label("Spec (YAML)", classes="pane-title")
                # theme "css": backgrounds and cursor follow the app's ANSI theme, not monokai's truecolour
                yield TextArea.code_editor(SPEC_TEMPLATE, language="yaml", id="spec", theme="css", soft_wrap=True)
            # The answer above the log of how it was reached: when an ask ends, its outcome and
            # code are at the top, with no scrolling to wait for the layout of long code.
            with VerticalScroll(id="output"):
                yield Static(id="result", markup=False)
                yield Static(id="code")
                yield Vertical(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False  # low-resource default: no blink timers
        spec = self.query_one("#spec", TextArea)
        spec.cursor_blink = False
        spec.indent_width = 2  # YAML's usual indent
        self.subscribe_to_engine()
        self._show_hint(["loading the model ladder…"])
        self._load_ladder()
        self.query_one("#task", Input).focus()

    def engine_ready(self, engine: Engine) -> None:
        super().engine_ready(engine)
        if self._run_when_ready and self._ladder_ready:
            self.call_later(self.action_run)

    # -- the ladder: tiers for the Select, and which of them can answer now -------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="ask-ladder", name="load the model ladder")
    def _load_ladder(self) -> None:
        from dse_tui.engine.generation.providers import load_ladder_config, provider_for_tier

        ladder = self.ladder or load_ladder_config()
        providers = dict(self.providers)
        availability = []
        for tier in ladder.tiers:
            if tier.name not in providers:  # injected ones (tests) are kept
                providers[tier.name] = provider_for_tier(tier)
            provider = providers[tier.name]
            ok, reason = provider.available()  # at most one short local request (ollama)
            availability.append((tier, ok, reason))
        self.post_message(self.LadderLoaded(ladder, providers, availability))

    def on_ask_screen_ladder_loaded(self, message: LadderLoaded) -> None:
        self.ladder, self.providers = message.ladder, message.providers
        self._ladder_ready = True
        if self._run_when_ready and self.engine is not None:
            self.call_later(self.action_run)
        options = [("no limit", "")] + [(tier.name if ok else f"{tier.name} (unavailable)", tier.name)
                                        for tier, ok, _ in message.availability]
        select = self.query_one("#max-tier", Select)
        select.set_options(options)
        select.value = ""
        if not self.running and self.transcript_id is None:
            lines = ["Describe the task, make the spec say what it must do, then ctrl+r.", "", "Model ladder:"]
            for tier, ok, reason in message.availability:
                mark = "✓" if ok else "✗"
                lines.append(f"  {mark} {tier.name}: {tier.provider} {short_model(tier.model)}"
                             + ("" if ok else f" — {reason}"))
            self._show_hint(lines)

    def _show_hint(self, lines: list[str]) -> None:
        self._clear_output()
        self.query_one("#result", Static).update(g("\n".join(lines)))
        self.query_one("#result", Static).set_classes("-hint")

    # -- running --------------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.running:
            self.notify("An ask is already running; press escape to cancel it.", severity="warning")
            return
        task = self.query_one("#task", Input).value.strip()
        if not task:
            self.notify("Describe the task first.", title="Ask", severity="error")
            self.query_one("#task", Input).focus()
            return
        if self.engine is None or self.ladder is None or not self._ladder_ready:
            # pressed while the engine or the ladder is still loading: run as soon as they are
            self._run_when_ready = True
            self._show_hint(["waiting for the engine and the model ladder; the ask starts as soon as they are ready…"])
            return
        self._run_when_ready = False
        from dse_tui.engine.specs.spec import SpecError, parse_spec

        try:
            spec = parse_spec(self.query_one("#spec", TextArea).text, "spec")
        except SpecError as exc:
            self.notify(str(exc), title="The spec is not valid", severity="error", timeout=8)
            self.query_one("#spec", TextArea).focus()
            return
        raw_budget = self.query_one("#budget", Input).value.strip()
        try:
            budget = float(raw_budget) if raw_budget else None
        except ValueError:
            budget = -1.0
        if budget is not None and not (math.isfinite(budget) and budget >= 0):
            self.notify("The budget is an amount in USD, e.g. 0.05, or empty for none.", title="Ask", severity="error")
            return
        self._start(task, spec, str(self.query_one("#max-tier", Select).value) or None, budget)

    def _start(self, task: str, spec: Any, max_tier: str | None, budget: float | None) -> None:
        self.app.clear_notifications()  # an earlier toast must not sit over this ask's result
        self._cancel = threading.Event()
        self._attempts.clear()
        self.transcript_id = None
        self._set_running(True)
        self._clear_output()
        self._line("reuse", "looking for a tested artifact that passes this spec…", "-running", live=True)
        self._ask(task, spec, max_tier, budget, self._cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ask", name="ask")
    def _ask(self, task: str, spec: Any, max_tier: str | None, budget: float | None, cancel: threading.Event) -> None:
        assert self.engine is not None

        def on_event(event: Any) -> None:  # on this worker thread
            self.post_message(self.Progress(event))

        result = self.engine.ask(task, spec, max_tier=max_tier, budget_usd=budget, ladder=self.ladder,
                                 providers=self.providers, cancel=cancel, on_event=on_event)
        self.post_message(self.Finished(result))
        if result.confirmation == "pending":  # the reply is shown: now measure what its pass means
            self.engine.confirm_pending()

    def on_ask_screen_progress(self, message: Progress) -> None:
        event = message.event
        self.transcript_id = getattr(event, "transcript_id", None) or self.transcript_id
        if isinstance(event, (TierSkipped, StartTierChosen, AttemptStarted)):
            self._line("reuse", "no stored artifact passes this spec: generating", "-done")
        if isinstance(event, TierSkipped):
            self._line(f"skip-{event.tier}", f"skipped {event.tier}: {visible(event.reason, one_line=True)}", "-skipped")
        elif isinstance(event, StartTierChosen):
            text = prediction_text(event.start_tier, event.prediction)
            if text:
                self._line("prediction", text, "-info")
        elif isinstance(event, AttemptStarted):
            self._attempts[event.n] = event
            self._line(f"attempt-{event.n}", f"{self._attempt_head(event)} … running", "-running", live=True)
        elif isinstance(event, AttemptFinished):
            started = self._attempts.get(event.n)
            head = self._attempt_head(started) if started else f"attempt {event.n}: {event.tier}"
            extra = "".join([f" · {money(event.cost_usd)}" if event.cost_usd else "",
                             f" · {duration_text(event.duration_ms)}" if self.timings else ""])
            if event.passed:
                self._line(f"attempt-{event.n}", f"{head} ✓ passed{extra}", "-passed")
            else:
                failed = visible(first_line(event.failures), one_line=True) or "no reason given"
                self._line(f"attempt-{event.n}", f"{head} ✗ failed: {failed}{extra}", "-failed")

    def on_ask_screen_finished(self, message: Finished) -> None:
        result = message.result
        self._set_running(False)
        self.transcript_id = result.transcript_id
        if result.outcome == "reused":
            self._line("reuse", f"reused {visible(result.artifact.name)}: it passes this spec", "-passed")
        elif result.outcome == "cancelled":
            # a row of its own: the "cancelling…" row stays, showing the key was taken at once
            self._line("cancelled", "cancelled", "-cancelled")
        plural = "s" if result.attempts != 1 else ""
        facts = [f"{result.attempts} attempt{plural}", money(result.cost_usd), f"transcript {result.transcript_id[:8]}"]
        if result.outcome == "generated":
            head = f"✓ generated {visible(result.artifact.name)} with {result.tier}"
        elif result.outcome == "reused":
            head = f"✓ reused {visible(result.artifact.name)} (quality {result.artifact.quality_score:.2f}): no model call"
        else:
            head = f"✗ {result.outcome}" + (f": {visible(result.reason)}" if result.reason else "")
        self._result, self._facts = result, f"{head}\n{' · '.join(facts)} — ctrl+t opens the transcript"
        summary = self.query_one("#result", Static)
        summary.update(g(self._summary(result.confirmation, result.strength)))
        summary.set_classes(f"-{result.outcome}")
        code = self.query_one("#code", Static)
        code.update(syntax(result.artifact.content, "python", line_numbers=True) if result.artifact else "")
        code.display = result.artifact is not None
        # Deferred like the log's scroll_end calls, and queued after them, so the top wins.
        self.query_one("#output", VerticalScroll).scroll_home(animate=False)

    def _summary(self, confirmation: str | None, strength: float | None) -> str:
        text = self._facts
        if confirmation is not None and self._result is not None and self._result.artifact is not None:
            text += "\n" + confirmation_text(confirmation, strength)
        return text

    def engine_event(self, event: Any) -> None:
        result = self._result
        if (isinstance(event, ConfirmationRecorded) and result is not None and result.artifact is not None
                and event.artifact_id == result.artifact.id and result.confirmation == "pending"):
            self.query_one("#result", Static).update(g(self._summary(event.verdict, event.strength)))

    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "ask" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._set_running(False)
            self._line("cancel", "stopped: the ask did not finish (see the notification)", "-failed")

    def _attempt_head(self, started: Any) -> str:
        return f"attempt {started.n}: {started.tier} ({short_model(started.model)}) {temperature_text(started.temperature)}"

    # -- cancelling -----------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if not self.running or self._cancel is None or self._cancel.is_set():
            return
        self._cancel.set()
        self._line("cancel", "cancelling… (a model call is stopped or abandoned at once; a paid one ends at its reply)",
                   "-cancelling", live=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hidden unless useful; a hidden priority binding lets escape reach the editor and fields.
        if action == "cancel":
            return self.running
        if action == "open_transcript":
            return self.transcript_id is not None and not self.running
        return True

    def _set_running(self, running: bool) -> None:
        self.running = running
        if running and self.timings and self._ticker is None:
            self._ticker = self.set_interval(0.25, self._redraw_live)
        elif not running:
            if self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
            for key in list(self._live):  # what still waits has stopped waiting: drop the spinner
                text, _ = self._live.pop(key)
                if key in self._rows:
                    self._rows[key].update(Text(g(text)))
        button = self.query_one("#run-button", Button)
        button.label = "Cancel" if running else "Run"
        button.set_class(running, "-running")
        self.refresh_bindings()

    @on(Button.Pressed, "#run-button")
    def _button(self) -> None:
        if self.running:
            self.action_cancel()
        else:
            self.action_run()

    @on(Input.Submitted, "#task")
    def _task_submitted(self) -> None:
        self.query_one("#spec", TextArea).focus()  # the spec comes next; running is an explicit ctrl+r

    # -- the output log -------------------------------------------------------------------------

    def _clear_output(self) -> None:
        self._rows.clear()
        self._live.clear()
        self.query_one("#progress", Vertical).remove_children()
        self.query_one("#result", Static).update("")
        self.query_one("#result", Static).set_classes("-empty")
        self.query_one("#code", Static).update("")
        self.query_one("#code", Static).display = False

    def _line(self, key: str, text: str, state: str, *, live: bool = False) -> None:
        """Add the row `key`, or rewrite it in place (an attempt goes from running to passed/failed).
        A `live` row shows a spinner and the seconds it has waited until it is rewritten."""
        if live:
            self._live[key] = (text, time.monotonic())
        else:
            self._live.pop(key, None)
        shown = self._live_text(key) if live else g(text)
        row = self._rows.get(key)
        if row is not None:
            row.update(Text(shown))
            row.set_classes(f"progress-line {state}")
        else:
            # Rows are found by key, not DOM id: a cleared log may still be leaving the DOM.
            row = self._rows[key] = ProgressLine(Text(shown), classes=f"progress-line {state}", markup=False)
            self.query_one("#progress", Vertical).mount(row)
        if self.running:
            self.query_one("#output", VerticalScroll).scroll_end(animate=False)  # follow the live log

    def _live_text(self, key: str) -> str:
        text, since = self._live[key]
        if not self.timings:
            return g(text)
        return g(f"{text} {spinner_frame(self._tick)} {time.monotonic() - since:.0f} s")

    def _redraw_live(self) -> None:
        self._tick += 1
        for key in self._live:
            row = self._rows.get(key)
            if row is not None:
                row.update(Text(self._live_text(key)))

    def progress_lines(self) -> list[str]:
        """The log as plain text, row by row (what a user reads; tests assert on it)."""
        return [str(row.content) for row in self._rows.values()]

    # -- elsewhere ------------------------------------------------------------------------------

    def action_open_transcript(self) -> None:
        if self.transcript_id is None:
            self.notify("No ask has run here yet.", severity="warning")
            return
        # The Log itself, not a copy stacked over Ask: F3 comes back here, F4 finds it again.
        transcript_id = self.transcript_id
        self.app.switch_mode("transcripts")

        def select() -> None:
            log = self.app.screen
            if isinstance(log, TranscriptsScreen):
                log.show_transcript(transcript_id)

        self.app.call_after_refresh(select)

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.set()  # the thread outlives the screen otherwise; stop it between attempts

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand("ask: run", "Reuse or generate code for the task and spec", self.action_run, "ask.run"),
            PaletteCommand("ask: edit spec", "Move to the spec editor", lambda: self.query_one("#spec").focus()),
            PaletteCommand("ask: reset spec", "Put the spec template back in the editor",
                           lambda: self.query_one("#spec", TextArea).load_text(SPEC_TEMPLATE)),
        ]
        if self.running:
            commands.insert(0, PaletteCommand("ask: cancel", "Stop the ask (a paid call ends at its reply)", self.action_cancel, "ask.cancel"))
        if self.transcript_id is not None:
            commands.append(PaletteCommand("ask: open transcript", "Prompts, replies, failures and code diffs of the "
                                           "last ask", self.action_open_transcript, "ask.transcript"))
        return commands
