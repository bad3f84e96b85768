"""The Library: browse, search by meaning, inspect and run stored artifacts.

Rows are paged from SQLite (one page in the table, never the whole store);
every engine call runs in a thread worker that only posts a message back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from dse_tui.engine.display import visible
from dse_tui.engine.events import ArtifactStateChanged, ArtifactStored
from dse_tui.screens.engine_screen import EngineScreen
from dse_tui.screens.widgets.detail import ArtifactDetail
from dse_tui.screens.widgets.glyphs import g
from dse_tui.screens.widgets.host import PaletteCommand
from dse_tui.screens.widgets.status import StatusLine

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine, RunOutcome
    from dse_tui.store.records import Artifact

QUALITY_CHOICES = [("any", 0.0), ("≥ 0.5", 0.5), ("≥ 0.75", 0.75), ("≥ 0.9", 0.9)]
TYPE_CHOICES = [("any", ""), ("function", "FUNCTION"), ("workflow", "WORKFLOW"), ("tool", "TOOL"), ("test", "TEST")]
STATE_CHOICES = [("any", ""), ("verified", "verified"), ("unverified", "unverified"), ("quarantined", "quarantined")]
ORDERS = ["name", "quality", "usage", "recent"]
NAME_WIDTH = 26
NAME_MIN = 14
DESCRIPTION_MIN = 12
ORDER_COLUMNS = {"name": "name", "quality": "quality", "usage": "uses"}  # "recent" has no column: the pager says it
# key -> (label, width); the name's and the description's widths follow the terminal (_fit_columns)
COLUMNS = {"name": ("Name", NAME_WIDTH), "quality": ("Q", 4), "uses": ("Uses", 5), "similarity": ("Sim", 4),
           "description": ("Description", DESCRIPTION_MIN)}  # Uses: room for its arrow
FIXED_WIDTH = sum(width for key, (_, width) in COLUMNS.items() if key not in ("name", "description"))
DEBOUNCE_S = 0.3


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run_example(spec_text: str) -> str | None:
    """The first behaviour's `given` as JSON: a ready example of what to type in the Run field."""
    import yaml  # off the UI thread, in the history worker

    try:
        spec = yaml.safe_load(spec_text)
        given = spec["behaviors"][0]["given"]
        return json.dumps(given, ensure_ascii=False) if isinstance(given, dict) else None
    except Exception:  # noqa: BLE001 - an example is a nicety; a spec we cannot read just has none
        return None


class LibraryScreen(EngineScreen):
    CSS_PATH = "library.tcss"
    PAGE_SIZE = 50
    ZOOM_PANES = ("#detail",)

    BINDINGS = [
        # priority: these move the focus before the keys typed next are handed out, so "/order"
        # typed fast lands whole in the search box (check_action leaves them to a focused field)
        Binding("slash", "focus_search", "Search", id="library.search", tooltip="Search by meaning (type a description)",
                priority=True),
        Binding("r", "focus_run", "Run", id="library.run", tooltip="Type JSON keyword arguments and run the highlighted artifact",
                priority=True),
        Binding("left_square_bracket", "page(-1)", "Prev", id="library.prev_page", tooltip="Previous page of rows",
                group=Binding.Group("Page")),
        Binding("right_square_bracket", "page(1)", "Next", id="library.next_page", tooltip="Next page of rows",
                group=Binding.Group("Page")),
        Binding("o", "cycle_order", "Order", id="library.order", tooltip="Sort the list by name, quality, usage or recency"),
        Binding("d", "focus_detail", "Detail", id="library.detail", tooltip="Move focus to the detail pane to scroll it",
                show=False),
        Binding("escape", "focus_table", "Table", id="library.table", tooltip="Back to the list of artifacts", show=False),
        Binding("z,f5", "toggle_zoom", "Zoom", id="library.zoom",
                tooltip="Fill the screen with the detail pane; again (or Esc) to go back", show=False),
        Binding("1", "jump('checks')", "Checks", id="library.jump_checks", show=False,
                tooltip="Show the detail's checks (the spec's behaviours and how the code did)"),
        Binding("2", "jump('code')", "Code", id="library.jump_code", show=False, tooltip="Show the detail's code"),
        Binding("3", "jump('spec')", "Spec", id="library.jump_spec", show=False, tooltip="Show the detail's spec"),
        Binding("4", "jump('history')", "History", id="library.jump_history", show=False,
                tooltip="Show the detail's history: lineage and recent runs"),
        Binding("c", "copy_code", "Copy", id="library.copy",
                tooltip="Copy the highlighted artifact's code to the clipboard (OSC 52: works over SSH)", show=False),
        Binding("w", "save_code", "Save", id="library.save",
                tooltip="Write the highlighted artifact's code to NAME.py in the directory DSE was started in", show=False),
        Binding("plus", "judge(True)", "Accept", id="library.accept", show=False,
                tooltip="Say the highlighted artifact's output was right: its quality threshold follows"),
        Binding("minus", "judge(False)", "Reject", id="library.reject", show=False,
                tooltip="Say the highlighted artifact's output was wrong: its quality threshold follows"),
    ]

    # -- messages from workers ------------------------------------------------------------

    class RowsLoaded(Message):
        def __init__(self, request: int, artifacts: list[Artifact], total: int, offset: int,
                     similarity: dict[str, float] | None, floor: float | None = None) -> None:
            super().__init__()
            self.request, self.artifacts, self.total, self.offset = request, artifacts, total, offset
            self.similarity = similarity  # set for search results, None for the paged list
            self.floor = floor  # search results: the score below which nothing is a match

    class HistoryLoaded(Message):
        def __init__(self, artifact: Artifact, lineage: list[Artifact], metrics: list[Any], example: str | None,
                     edges: list[Any]) -> None:
            super().__init__()
            self.artifact, self.lineage, self.metrics, self.example = artifact, lineage, metrics, example
            self.edges = edges

    class RunFinished(Message):
        def __init__(self, outcome: RunOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    # -- state ----------------------------------------------------------------------------

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.row_total = 0
        self.order = "name"
        self.query_text = ""
        self.min_quality = 0.0
        self.type_filter = ""
        self.state_filter = ""
        self.tags: list[str] = []
        self._rows: dict[str, Artifact] = {}  # the page on screen, by id
        self._request = 0  # stale worker results carry an older number and are dropped
        self._view: tuple = ()  # what the latest request asks for
        self._shown_view: tuple = ()  # what the table shows
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusLine("Library")
        with Horizontal(id="filters"):
            yield Label("Search", classes="field-label", id="search-label")
            yield Input(placeholder=g("describe what it does…"), id="search", compact=True)
            yield Label("Min Q", classes="field-label", id="quality-label")
            yield Select([(g(label), value) for label, value in QUALITY_CHOICES], value=0.0, allow_blank=False,
                         id="min-quality", compact=True)
            yield Label("Type", classes="field-label")
            yield Select(TYPE_CHOICES, value="", allow_blank=False, id="type", compact=True)
            yield Label("State", classes="field-label")
            yield Select(STATE_CHOICES, value="", allow_blank=False, id="state", compact=True)
            yield Label("Tags", classes="field-label")
            yield Input(placeholder=g("tag, …"), id="tags", compact=True)
        with Horizontal(id="main"):
            with Vertical(id="list-pane"):
                yield DataTable(id="artifacts", cursor_type="row", zebra_stripes=False)
                yield Label("", id="pager")
            yield ArtifactDetail(id="detail")
        with Horizontal(id="run-bar"):
            yield Label("Run", classes="field-label")
            yield Input(placeholder='{"arg": value}', id="run-args", compact=True)
        yield Static("", id="run-result", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False  # low-resource default: no blink timers
        table = self.query_one("#artifacts", DataTable)
        self._add_columns(table, NAME_WIDTH, DESCRIPTION_MIN)
        self._set_pager("starting the engine…")
        self.subscribe_to_engine()
        table.focus()

    def resumed(self) -> None:
        if self.engine is not None:
            self.reload()

    # Widths fixed per terminal size, not per page: the layout does not jump as pages change.
    # The name gets up to NAME_WIDTH while the description keeps DESCRIPTION_MIN, which then
    # takes what is left.
    def _add_columns(self, table: DataTable, name: int, description: int) -> None:
        widths = {"name": name, "description": description}
        for key, (label, width) in COLUMNS.items():
            table.add_column(label, key=key, width=widths.get(key, width))
        self._mark_order()

    def _mark_order(self) -> None:
        """The column the list is sorted by carries an arrow (a search is sorted by Sim)."""
        table = self.query_one("#artifacts", DataTable)
        by = "similarity" if self.query_text else ORDER_COLUMNS.get(self.order)
        arrow = "▲" if by == "name" else "▼"
        for key, column in table.columns.items():
            label = COLUMNS[str(key.value)][0]
            column.label = Text(g(label + arrow) if key.value == by else label)
        table.refresh()

    @on(DataTable.HeaderSelected, "#artifacts")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        order = {column: order for order, column in ORDER_COLUMNS.items()}.get(str(event.column_key.value))
        if order is not None and not self.query_text:
            self.order = order
            self.page_offset = 0
            self.reload()

    def narrowed(self, narrow: bool) -> None:
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        table = self.query_one("#artifacts", DataTable)
        inner = table.scrollable_content_region.width - 2 * 5  # one cell of padding either side of each column
        name = max(NAME_MIN, min(NAME_WIDTH, inner - FIXED_WIDTH - DESCRIPTION_MIN))
        description = max(DESCRIPTION_MIN, inner - name - FIXED_WIDTH)
        columns = {str(key.value): column.width for key, column in table.columns.items()}
        if columns.get("name") == name and columns.get("description") == description:
            return
        table.clear(columns=True)
        self._add_columns(table, name, description)
        self._shown_view = ()  # the rows come back at the top of the same view
        self.reload()

    # -- engine link ------------------------------------------------------------------------

    def engine_ready(self, engine: Engine) -> None:
        if self.engine is engine:
            return
        self.engine = engine
        self.reload()

    def engine_event(self, event: Any) -> None:
        # Something new was stored (e.g. by another screen): show it. Runs refresh themselves.
        if isinstance(event, (ArtifactStored, ArtifactStateChanged)) and self.engine is not None:
            self.reload()

    # -- loading rows ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the rows for the current search, filters and page."""
        if self.engine is None:
            return
        self._request += 1
        self._mark_order()
        filters = self._filters()
        self._view = (self.query_text, repr(filters), self.order, self.page_offset)
        if self.query_text:
            self._set_pager(f"searching “{self.query_text}”…")
            self._search(self._request, self.query_text, filters, self.page_offset)
        else:
            self._load_page(self._request, self.page_offset, self.order, filters)

    def _filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        if self.min_quality:
            filters["min_quality"] = self.min_quality
        if self.type_filter:
            filters["type"] = self.type_filter
        if self.state_filter:
            filters["states"] = [self.state_filter]
        if self.tags:
            filters["tags"] = self.tags
        return filters

    @work(thread=True, exclusive=True, exit_on_error=False, group="library-rows", name="list artifacts")
    def _load_page(self, request: int, offset: int, order: str, filters: dict[str, Any]) -> None:
        assert self.engine is not None
        total = self.engine.count_artifacts(**filters)
        if offset >= total > 0:  # the store shrank under us: show the last page
            offset = (total - 1) // self.PAGE_SIZE * self.PAGE_SIZE
        rows = self.engine.list_artifacts(offset=offset, limit=self.PAGE_SIZE, order=order, **filters)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RowsLoaded(request, rows, total, offset, None))

    @work(thread=True, exclusive=True, exit_on_error=False, group="library-rows", name="search")
    def _search(self, request: int, query: str, filters: dict[str, Any], offset: int = 0) -> None:
        """One page of the ranking: the first offset + a page + 1 matches are ranked, so that
        the next page is known to exist (search results page like the list)."""
        assert self.engine is not None
        matches = self.engine.find_similar(query, limit=offset + self.PAGE_SIZE + 1, **filters)
        if not get_current_worker().is_cancelled:
            page = matches[offset : offset + self.PAGE_SIZE]
            similarity = {m.artifact.id: m.similarity for m in page}
            self.post_message(self.RowsLoaded(request, [m.artifact for m in page], len(matches), offset, similarity,
                                              self.engine.find_floor()))

    def on_library_screen_rows_loaded(self, message: RowsLoaded) -> None:
        if message.request != self._request:
            return
        table = self.query_one("#artifacts", DataTable)
        keep = self._highlighted_id()
        self.row_total, self.page_offset = message.total, message.offset
        self._rows = {a.id: a for a in message.artifacts}
        table.clear()
        for a in message.artifacts:
            sim = f"{message.similarity[a.id]:.2f}" if message.similarity else ""
            name = visible(a.name, one_line=True) + ("" if a.servable else f" ({a.state.value})")
            table.add_row(name, f"{a.quality_score:.2f}", str(a.usage_count), sim,
                          visible(a.description, one_line=True), key=a.id)
        # A reload of the same view keeps the user's place; a new search, filter or page starts at the top.
        if keep in self._rows and self._view == self._shown_view:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        else:
            table.move_cursor(row=0, animate=False)
            table.scroll_home(animate=False)
        self._shown_view = self._view
        self._show_selected()  # the cursor may not have moved, so no RowHighlighted would come
        if message.similarity is not None:
            found = len(message.artifacts)
            fits = sum(s >= (message.floor or 0.0) for s in message.similarity.values())
            more = self.row_total > self.page_offset + found
            where = (f" · results {self.page_offset + 1}–{self.page_offset + found}" if self.page_offset or more else "")
            where += " · ] for more" if more else ""
            if fits:
                self._set_pager(f"{fits} close by meaning for “{self.query_text}”"
                                + (" · the rest are not close" if found > fits else "") + where)
            elif self.page_offset:
                self._set_pager(f"no more close matches for “{self.query_text}”" + where)
            else:
                self._set_pager(f"nothing in the library fits: no close match for “{self.query_text}”"
                                + (" · the nearest are listed" if found else "") + where)
        elif self.row_total:
            last = self.page_offset + len(message.artifacts)
            self._set_pager(f"rows {self.page_offset + 1}–{last} of {self.row_total} · by {self.order}")
        else:
            self._set_pager("no artifacts match these filters" if self._filters() else "the library is empty")
        if not message.artifacts:
            self.query_one(ArtifactDetail).show_empty("nothing to show")
            self._clear_run()

    def _set_pager(self, text: str) -> None:
        self.query_one("#pager", Label).update(g(text))

    def _highlighted_id(self) -> str | None:
        table = self.query_one("#artifacts", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    @property
    def selected(self) -> Artifact | None:
        """The highlighted artifact, if any."""
        artifact_id = self._highlighted_id()
        return self._rows.get(artifact_id) if artifact_id else None

    # -- search and filters (debounced where the user types) ----------------------------------------

    @on(Input.Changed, "#search, #tags")
    def _typed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_S, self.apply_filters)

    @on(Input.Submitted, "#search, #tags")
    def _submitted(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self.apply_filters()
        self.query_one("#artifacts", DataTable).focus()

    @on(Select.Changed, "#min-quality, #type, #state")
    def _selected(self) -> None:
        self.apply_filters()

    def apply_filters(self) -> None:
        """Read the filter widgets and reload from the first page."""
        self._debounce = None
        self.query_text = self.query_one("#search", Input).value.strip()
        self.tags = _split_tags(self.query_one("#tags", Input).value)
        self.min_quality = float(self.query_one("#min-quality", Select).value)  # type: ignore[arg-type]
        self.type_filter = str(self.query_one("#type", Select).value)
        self.state_filter = str(self.query_one("#state", Select).value)
        self.page_offset = 0
        self.reload()

    # -- detail ------------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#artifacts")
    def _show_selected(self) -> None:
        artifact = self.selected
        detail = self.query_one(ArtifactDetail)
        if artifact is None or (detail.artifact_id == artifact.id and detail.shown is artifact):
            return
        if detail.artifact_id != artifact.id:
            self._clear_run()  # the last run's result and arguments were another artifact's
        detail.show_artifact(artifact)
        self._load_history(artifact)

    @work(thread=True, exclusive=True, exit_on_error=False, group="library-detail", name="load history")
    def _load_history(self, artifact: Artifact) -> None:
        assert self.engine is not None
        lineage = self.engine.lineage(artifact.id)
        edges = self.engine.lineage_edges(artifact.id)
        metrics = self.engine.recent_metrics(artifact.id, 20)
        example = run_example(artifact.spec)
        if not get_current_worker().is_cancelled:
            self.post_message(self.HistoryLoaded(artifact, list(lineage), list(metrics), example, list(edges)))

    def on_library_screen_history_loaded(self, message: HistoryLoaded) -> None:
        self.query_one(ArtifactDetail).show_history(message.artifact, message.lineage, message.metrics, message.edges)
        if message.artifact.id == self._highlighted_id():
            hint = f"keyword arguments as JSON, e.g. {message.example}" if message.example else '{"arg": value}'
            self.query_one("#run-args", Input).placeholder = hint

    # -- running -----------------------------------------------------------------------------------

    @on(Input.Submitted, "#run-args")
    def _run_submitted(self) -> None:
        self.action_run_selected()

    def action_run_selected(self) -> None:
        artifact = self.selected
        if artifact is None or self.engine is None:
            self.notify("Highlight an artifact to run first.", severity="warning")
            return
        raw = self.query_one("#run-args", Input).value.strip() or "{}"
        try:
            inputs = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.notify(f"Not valid JSON: {exc.msg} at column {exc.colno}.", title="Run", severity="error")
            return
        if not isinstance(inputs, dict):
            self.notify('Give a JSON object of keyword arguments, e.g. {"items": [3, 1, 2]}.', title="Run",
                        severity="error")
            return
        self.app.clear_notifications()  # an earlier error toast must not sit over this result
        self.query_one("#run-result", Static).update(g(f"running {artifact.name}…"))
        self._run(artifact, inputs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="library-run", name="run")
    def _run(self, artifact: Artifact, inputs: dict[str, Any]) -> None:
        assert self.engine is not None
        outcome = self.engine.run(artifact, inputs)
        self.engine.flush_metrics()  # a person ran it: the listing and history show it at once
        self.post_message(self.RunFinished(outcome))

    def _clear_run(self) -> None:
        self.query_one("#run-result", Static).update("")
        self.query_one("#run-result", Static).set_classes("")
        self.query_one("#run-args", Input).value = ""

    def on_library_screen_run_finished(self, message: RunFinished) -> None:
        outcome = message.outcome
        call, artifact = outcome.call, outcome.artifact
        if artifact.id == self._highlighted_id():  # moved on meanwhile: the line stays clear
            result = self.query_one("#run-result", Static)
            if outcome.success:
                result.update(g(f"✓ {visible(artifact.name)} → {visible(call.repr or '', one_line=True)}   "
                                f"({call.execution_time_ms:.2f} ms, {call.memory_mb:.1f} MB)"))
                result.set_classes("-ok")
            else:
                result.update(g(f"✗ {visible(artifact.name)} failed: {visible(call.error or '', one_line=True)}"))
                result.set_classes("-failed")
        if self.order == "recent" and not self.query_text:
            self.reload()  # by last use: the artifact just run moves to the top now
            return
        # The store counted the run: show the new usage without reloading the page.
        if artifact.id in self._rows:
            self._rows[artifact.id] = artifact
            self.query_one("#artifacts", DataTable).update_cell(artifact.id, "uses", str(artifact.usage_count))
            detail = self.query_one(ArtifactDetail)
            if detail.artifact_id == artifact.id:
                detail.show_usage(artifact)
                self._load_history(artifact)

    # -- actions -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("focus_search", "focus_run") and isinstance(self.focused, Input):
            return False  # the key is a character typed into the field
        return True

    # Focus moves at once (set_focus), not after the queued events as Widget.focus() does.
    def action_focus_search(self) -> None:
        self.set_focus(self.query_one("#search", Input))

    def action_focus_run(self) -> None:
        self.set_focus(self.query_one("#run-args", Input))

    def action_focus_table(self) -> None:
        self.set_focus(self.query_one("#artifacts", DataTable))

    def action_focus_detail(self) -> None:
        self.set_focus(self.query_one(ArtifactDetail))

    def action_jump(self, section: str) -> None:
        detail = self.query_one(ArtifactDetail)
        self.set_focus(detail)
        detail.jump(section)

    def action_copy_code(self) -> None:
        artifact = self.selected
        if artifact is None:
            self.notify("Highlight an artifact first.", severity="warning")
            return
        self.app.copy_to_clipboard(artifact.content)
        lines = artifact.content.count("\n") + 1
        self.notify(f"{artifact.name}: {lines} lines of code sent to the terminal's clipboard (OSC 52). "
                    "w writes them to a file instead.", title="Copied")

    def action_save_code(self) -> None:
        artifact = self.selected
        if artifact is None:
            self.notify("Highlight an artifact first.", severity="warning")
            return
        from dse_tui.engine.library.files import save_code

        try:
            path = save_code(artifact, Path.cwd())
        except OSError as exc:
            self.notify(f"Could not write the code: {exc.strerror or exc}", title="Save", severity="error")
            return
        self.notify(f"{artifact.name} written to {path}", title="Saved")

    def action_judge(self, accepted: bool) -> None:
        artifact = self.selected
        if artifact is None or self.engine is None:
            self.notify("Highlight an artifact first.", severity="warning")
            return
        self._judge(artifact.id, accepted)

    @work(thread=True, exit_on_error=False, group="library-judge", name="record the verdict")
    def _judge(self, artifact_id: str, accepted: bool) -> None:
        assert self.engine is not None
        out = self.engine.judge_output(artifact_id, accepted)
        verdict = "accepted" if accepted else "rejected"
        moved = f"threshold {out['old']:.2f} → {out['threshold']:.2f}: {out['why']}" if out["moved"] else out["why"]
        self.app.call_from_thread(self.notify, g(visible(moved)), title=f"Output {verdict}")

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * self.PAGE_SIZE
        if 0 <= offset < self.row_total:
            self.page_offset = offset
            self.reload()

    def action_cycle_order(self) -> None:
        self.order = ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)]
        self.page_offset = 0
        self.reload()

    def action_clear_filters(self) -> None:
        self.query_one("#search", Input).value = ""
        self.query_one("#tags", Input).value = ""
        self.query_one("#min-quality", Select).value = 0.0
        self.query_one("#type", Select).value = ""
        self.query_one("#state", Select).value = ""
        self.apply_filters()

    def palette_commands(self) -> list[PaletteCommand]:
        """What the command palette offers while this screen is shown."""
        commands = [
            PaletteCommand("library: search", "Search artifacts by meaning", self.action_focus_search, "library.search"),
            PaletteCommand("library: next page", "Show the next page of rows", lambda: self.action_page(1), "library.next_page"),
            PaletteCommand("library: previous page", "Show the previous page of rows", lambda: self.action_page(-1), "library.prev_page"),
            PaletteCommand("library: change order", f"Sort by the next of {', '.join(ORDERS)}", self.action_cycle_order, "library.order"),
            PaletteCommand("library: clear filters", "Empty the search and reset the filters", self.action_clear_filters),
            PaletteCommand("library: reload", "Read the rows again from the store", self.reload),
        ]
        if self.selected is not None:
            name = self.selected.name
            commands.insert(1, PaletteCommand("library: run selected", f"Run {name} with the JSON in the Run field",
                                              self.action_run_selected))
            commands.insert(2, PaletteCommand("library: show detail", f"Scroll through {name}'s code, spec and checks",
                                              self.action_focus_detail, "library.detail"))
            commands[3:3] = [
                PaletteCommand("library: zoom detail", f"Fill the screen with {name}'s detail; again to go back",
                               self.action_toggle_zoom, "library.zoom"),
                PaletteCommand("library: copy code", f"Copy {name}'s code to the clipboard (OSC 52, works over SSH)",
                               self.action_copy_code, "library.copy"),
                PaletteCommand("library: save code", f"Write {name}'s code to {name}.py here",
                               self.action_save_code, "library.save"),
                PaletteCommand("library: accept output", f"{name}'s output was right (its quality threshold follows)",
                               lambda: self.action_judge(True), "library.accept"),
                PaletteCommand("library: reject output", f"{name}'s output was wrong (its quality threshold follows)",
                               lambda: self.action_judge(False), "library.reject"),
            ]
        return commands
