"""Escalation transcripts: every ask, and for each attempt what the tier was asked,
what it answered, which checks failed, and how its code changed since the last try.

Transcripts are paged from SQLite (one page in the table); a transcript's
attempts are read only when it is highlighted, in a thread worker.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Static
from textual.worker import get_current_worker

from dse_tui.engine.display import clip, prediction_text, visible
from dse_tui.engine.events import AskFinished, AttemptFinished
from dse_tui.screens.widgets.detail import ArtifactDetail, checks_text
from dse_tui.screens.widgets.glyphs import g
from dse_tui.screens.engine_screen import EngineScreen
from dse_tui.screens.widgets.host import PaletteCommand
from dse_tui.screens.widgets.status import StatusLine

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine
    from dse_tui.store.transcripts import AttemptRecord, Transcript

MODEL_CHARS = 16  # model names like "SmolLM2-135M-Instruct.Q4_1.gguf" would crowd a progress line
# Engine events after which the list is out of date.
REFRESH_ON = (AskFinished, AttemptFinished)

# The same syntax rendering the Library's detail pane uses (ANSI theme, wrapped).
syntax = ArtifactDetail._syntax


# -- formatting shared with the Ask screen ----------------------------------------------------

def short_model(model: str) -> str:
    return clip(model, MODEL_CHARS)


def first_line(failures: str) -> str:
    """The first failure, and how many more there are: one line fits a progress row."""
    lines = [line for line in failures.splitlines() if line.strip()]
    if not lines:
        return ""
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more


def temperature_text(temperature: float | None) -> str:
    return "T=default" if temperature is None else f"T={temperature:g}"


def money(usd: float) -> str:
    return f"${usd:.4f}"


def duration_text(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def code_diff(previous: str | None, current: str | None, n: int) -> str:
    """Unified diff of attempt n-1's code against attempt n's ("" when they are equal)."""
    before = (previous or "").splitlines(keepends=True)
    after = (current or "").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, fromfile=f"attempt {n - 1}", tofile=f"attempt {n}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def started_text(started_at: str) -> str:
    try:
        return datetime.fromisoformat(started_at).strftime("%m-%d %H:%M")
    except ValueError:
        return started_at[:16]


# -- the screen ---------------------------------------------------------------------------------

class TranscriptsScreen(EngineScreen):
    CSS_PATH = "transcripts.tcss"
    PAGE_SIZE = 50

    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="transcripts.refresh", tooltip="Read the transcripts again from the store"),
        Binding("left_square_bracket", "page(-1)", "Prev", id="transcripts.prev_page", tooltip="Previous page of transcripts",
                group=Binding.Group("Page")),
        Binding("right_square_bracket", "page(1)", "Next", id="transcripts.next_page", tooltip="Next page of transcripts",
                group=Binding.Group("Page")),
        Binding("a", "focus_attempts", "Attempts", id="transcripts.attempts",
                tooltip="Choose an attempt with ← →; tab moves on to its prompt, reply and result"),
        Binding("escape", "back", "Back", id="transcripts.back",
                tooltip="Back to the list of transcripts, or to the previous screen", show=False),
        Binding("1", "jump('prompt')", "Prompt", id="transcripts.jump_prompt", show=False,
                tooltip="Go to the selected attempt's prompt"),
        Binding("2", "jump('reply')", "Reply", id="transcripts.jump_reply", show=False,
                tooltip="Go to the model's reply"),
        Binding("3", "jump('result')", "Result", id="transcripts.jump_result", show=False,
                tooltip="Go to the attempt's result: the checks that failed"),
        Binding("4", "jump('diff')", "Diff", id="transcripts.jump_diff", show=False,
                tooltip="Go to the code's diff against the previous attempt"),
        Binding("z,f5", "toggle_zoom", "Zoom", id="transcripts.zoom", show=False,
                tooltip="Fill the screen with the prompt, reply or result pane in focus (else all three); again to go back"),
    ]
    ZOOM_PANES = ("#prompt-pane", "#reply-pane", "#result-pane", "#attempt-panes")

    class RowsLoaded(Message):
        def __init__(self, request: int, transcripts: list[Transcript], total: int, offset: int) -> None:
            super().__init__()
            self.request, self.transcripts, self.total, self.offset = request, transcripts, total, offset

    class DetailLoaded(Message):
        def __init__(self, transcript: Transcript) -> None:
            super().__init__()
            self.transcript = transcript

    def __init__(self, select: str | None = None, *, timings: bool = True) -> None:
        """`select`: a transcript id to highlight first (the Ask screen opens its last ask this way;
        being the newest, it is on the first page).
        `timings=False` hides durations, which differ run to run (snapshot tests)."""
        super().__init__()
        self.select_id = select
        self.timings = timings
        self.page_offset = 0
        self.row_total = 0
        self.shown: Transcript | None = None
        self._request = 0  # stale worker results carry an older number and are dropped
        self._detail_wanted: str | None = None
        self._pending: Transcript | None = None  # the newest transcript waiting for the tabs
        self._rebuilding = False

    def compose(self) -> ComposeResult:
        yield StatusLine("Log")  # F4 "Log" in every footer and "app: log" in the palette: one name
        with Vertical(id="transcript-list"):
            yield DataTable(id="transcripts", cursor_type="row")
            yield Label("", id="transcripts-pager")
        yield Static(id="summary", markup=False)
        yield DataTable(id="attempts", cursor_type="cell", show_header=False)
        with ScrollableContainer(id="attempt-panes"):
            with VerticalScroll(id="prompt-pane", classes="pane"):
                yield Static("Prompt", classes="pane-title")
                yield Static(id="prompt", markup=False)
            with VerticalScroll(id="reply-pane", classes="pane"):
                yield Static("Reply", classes="pane-title")
                yield Static(id="reply")
            with VerticalScroll(id="result-pane", classes="pane"):
                yield Static("Result", classes="pane-title")
                yield Static(id="checks", markup=False)
                yield Static("Code vs previous attempt", id="diff-title", classes="pane-title")
                yield Static(id="diff")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#transcripts", DataTable)
        table.add_column("Started (UTC)", key="started")
        table.add_column("Outcome", key="outcome")
        table.add_column("Att.", key="attempts")
        table.add_column("Cost", key="cost")
        table.add_column("Task", key="task")
        self._set_pager("starting the engine…")
        self._show_empty("no transcript selected")
        self.subscribe_to_engine()
        table.focus()

    def resumed(self) -> None:
        if self.engine is not None:
            self.reload()

    def narrowed(self, narrow: bool) -> None:
        # Wide, each pane scrolls by itself; narrow, they stack and the area around them scrolls,
        # so that is what the keyboard must reach.
        self.query_one("#attempt-panes").can_focus = narrow
        for pane in self.query(".pane"):
            pane.can_focus = not narrow

    def engine_ready(self, engine: Engine) -> None:
        if self.engine is not engine:
            self.engine = engine
            self.reload()

    def engine_event(self, event: Any) -> None:
        # An ask (on the Ask screen or elsewhere in this process) wrote to the log: show it.
        if isinstance(event, REFRESH_ON) and self.engine is not None and self.is_current:
            self.reload()

    # -- the list ----------------------------------------------------------------------------------

    def show_transcript(self, transcript_id: str) -> None:
        """Highlight `transcript_id` (the newest ones are on the first page)."""
        self.select_id = transcript_id
        self.page_offset = 0
        self.reload()

    def reload(self) -> None:
        if self.engine is None:
            return
        self._request += 1
        self._load_page(self._request, self.page_offset)

    @work(thread=True, exclusive=True, exit_on_error=False, group="transcripts-rows", name="list transcripts")
    def _load_page(self, request: int, offset: int) -> None:
        assert self.engine is not None
        total = self.engine.count_transcripts()
        if offset >= total > 0:  # the log shrank under us: show the last page
            offset = (total - 1) // self.PAGE_SIZE * self.PAGE_SIZE
        rows = self.engine.list_transcripts(offset=offset, limit=self.PAGE_SIZE)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RowsLoaded(request, rows, total, offset))

    def on_transcripts_screen_rows_loaded(self, message: RowsLoaded) -> None:
        if message.request != self._request:
            return
        table = self.query_one("#transcripts", DataTable)
        keep = self.select_id or self._highlighted_id()
        self.row_total, self.page_offset = message.total, message.offset
        table.clear()
        for t in message.transcripts:
            cost = money(t.cost_usd) if t.attempts else "—"
            task = visible(t.task.splitlines()[0], one_line=True) if t.task else ""
            table.add_row(started_text(t.started_at), t.outcome or "running", str(t.attempts), cost, task, key=t.id)
        ids = [t.id for t in message.transcripts]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0, animate=False)
        self.select_id = None
        self._show_selected()  # the cursor may not have moved, so no RowHighlighted would come
        if self.row_total:
            last = self.page_offset + len(message.transcripts)
            self._set_pager(f"transcripts {self.page_offset + 1}–{last} of {self.row_total} · newest first")
        else:
            self._set_pager("no transcripts yet: each ask (reuse or generation) leaves one")
            self._show_empty("nothing to show")

    def _set_pager(self, text: str) -> None:
        self.query_one("#transcripts-pager", Label).update(g(text))

    def _highlighted_id(self) -> str | None:
        table = self.query_one("#transcripts", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    # -- the detail --------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#transcripts")
    def _show_selected(self) -> None:
        transcript_id = self._highlighted_id()
        if transcript_id is None:
            return
        # A reload of the same list must refresh the detail too: an attempt may have been added.
        self._request_detail(transcript_id)

    def _request_detail(self, transcript_id: str) -> None:
        self._detail_wanted = transcript_id  # a slower, older load must not replace it
        self._load_detail(transcript_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="transcripts-detail", name="load the transcript")
    def _load_detail(self, transcript_id: str) -> None:
        assert self.engine is not None
        transcript = self.engine.transcript(transcript_id)
        if transcript is not None and not get_current_worker().is_cancelled:
            self.post_message(self.DetailLoaded(transcript))

    def on_transcripts_screen_detail_loaded(self, message: DetailLoaded) -> None:
        t = message.transcript
        if t.id != self._detail_wanted:
            return
        same = self.shown is not None and self.shown.id == t.id
        keep = self.active_attempt if same else None
        self.shown = t
        self.set_class(False, "-empty")
        self._show_summary(t)
        # One row, one column per attempt: a tab strip whose rebuild is synchronous (Tabs mounts
        # its tabs asynchronously, which races with the next transcript or with leaving the screen).
        strip = self.query_one("#attempts", DataTable)
        strip.clear(columns=True)
        numbers = [a.n for a in t.attempt_records]
        cells = [Text(g(f" {a.n} {a.tier} {'✓' if a.passed else '✗'} ")) for a in t.attempt_records]
        for a, cell in zip(t.attempt_records, cells):
            # A fixed width: auto-sized columns came out a cell wider now and then.
            strip.add_column(f"attempt {a.n}", key=str(a.n), width=cell.cell_len)
        if numbers:
            strip.add_row(*cells)
        self.query_one("#attempt-panes").display = bool(numbers)
        if numbers:
            # The last attempt by default: it shows how the final code differs from the one before.
            n = keep if keep in numbers else numbers[-1]
            strip.move_cursor(row=0, column=numbers.index(n), animate=False)
            self.show_attempt(n)

    @property
    def active_attempt(self) -> int | None:
        """The attempt under the strip's cursor."""
        strip = self.query_one("#attempts", DataTable)
        if not strip.row_count:
            return None
        _, column_key = strip.coordinate_to_cell_key(strip.cursor_coordinate)
        return int(column_key.value)

    @on(DataTable.CellHighlighted, "#attempts")
    def _attempt_chosen(self) -> None:
        n = self.active_attempt
        if n is not None:
            self.show_attempt(n)

    def _show_summary(self, t: Transcript) -> None:
        outcome = t.outcome or "running"
        head = f"{outcome}: {visible(t.reason)}" if t.reason else outcome
        parts = [head, f"{t.attempts} attempt{'s' if t.attempts != 1 else ''}", money(t.cost_usd), f"transcript {t.id[:8]}"]
        lines = [" · ".join(parts), f"task: {visible(t.task.splitlines()[0], one_line=True) if t.task else ''}"]
        predicted = prediction_text(t.start_tier, t.prediction)
        if predicted:
            lines.append(predicted)
        summary = self.query_one("#summary", Static)
        summary.update("\n".join(lines))
        summary.set_classes(f"-{outcome}")

    def show_attempt(self, n: int) -> None:
        t = self.shown
        if t is None:
            return
        records = {a.n: a for a in t.attempt_records}
        a = records.get(n)
        if a is None:
            return
        self.query_one("#prompt", Static).update(self._prompt_text(a))
        self.query_one("#reply", Static).update(syntax(a.reply, "markdown") if a.reply else Text("no reply", style="dim"))
        self.query_one("#checks", Static).update(self._result_text(a))
        previous = records.get(n - 1)
        diff = self.query_one("#diff", Static)
        self.query_one("#diff-title", Static).display = previous is not None
        if previous is None:
            diff.update("")
        elif not (previous.code or a.code):
            diff.update(Text("neither attempt produced code", style="dim"))
        else:
            changes = code_diff(previous.code, a.code, n)
            diff.update(syntax(changes, "diff") if changes else Text("same code as the previous attempt", style="dim"))
        # Each pane scrolls alone when wide; the whole area scrolls when narrow: reset both.
        for pane in [self.query_one("#attempt-panes"), *self.query(".pane")]:
            pane.scroll_home(animate=False)

    def _prompt_text(self, a: AttemptRecord) -> Text:
        text = Text()
        for message in a.prompt:
            text.append(f"── {message.get('role', '?')} ──\n", style="bold")
            text.append(visible(message.get("content", "").rstrip()) + "\n\n")
        text.rstrip()
        return text

    def _result_text(self, a: AttemptRecord) -> Text:
        facts = [a.tier, short_model(a.model), temperature_text(a.temperature),
                 f"{a.input_tokens}→{a.output_tokens} tokens", money(a.cost_usd)]
        if self.timings:
            facts.append(duration_text(a.duration_ms))
        text = Text(g("✓ passed" if a.passed else "✗ failed"), style="bold green" if a.passed else "bold red")
        text.append("\n" + " · ".join(facts) + "\n\n", style="dim")
        if a.test_results:
            text.append_text(checks_text(a.test_results))
        elif a.error:
            text.append(visible(a.error), style="red")
        return text

    def _show_empty(self, message: str) -> None:
        self.shown = None
        self.set_class(True, "-empty")
        self.query_one("#summary", Static).update(message)
        self.query_one("#summary", Static).set_classes("")  # -empty hides the tabs and panes

    # -- actions ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.reload()

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * self.PAGE_SIZE
        if 0 <= offset < self.row_total:
            self.page_offset = offset
            self.reload()

    def action_focus_attempts(self) -> None:
        self.set_focus(self.query_one("#attempts", DataTable))  # at once: keys typed next go there

    def action_jump(self, where: str) -> None:
        """The pane (or, for the diff, its part of the result pane) to the top, and the focus
        where the keys scroll it: the pane itself when wide, the stacked area when narrow."""
        pane = self.query_one("#result-pane" if where == "diff" else f"#{where}-pane", VerticalScroll)
        diff = self.query_one("#diff-title")
        target = diff if where == "diff" and diff.display else pane  # a first attempt has no diff
        area = self.query_one("#attempt-panes", ScrollableContainer)
        self.set_focus(pane if pane.can_focus else area)
        area.scroll_to_widget(pane, top=True, animate=False)
        if target is not pane:
            pane.scroll_to_widget(target, top=True, animate=False)
            area.scroll_to_widget(target, top=True, animate=False)

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        table = self.query_one("#transcripts", DataTable)
        if self.focused is not table:
            table.focus()
        elif len(self.app.screen_stack) > 1 and self.app.screen is self:
            self.dismiss()  # opened over another screen (e.g. from Ask): go back to it

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("transcripts: refresh", "Read the transcripts again from the store", self.action_refresh, "transcripts.refresh"),
            PaletteCommand("transcripts: attempts", "Step through the attempts of the selected transcript",
                           self.action_focus_attempts, "transcripts.attempts"),
            PaletteCommand("transcripts: next page", "Show the next page of transcripts", lambda: self.action_page(1), "transcripts.next_page"),
            PaletteCommand("transcripts: previous page", "Show the previous page of transcripts",
                           lambda: self.action_page(-1), "transcripts.prev_page"),
        ]
