"""Drift alerts: what the detectors raised, the metric series around each drift with its
window marked, and a person's answer: evolve it (the result with its evidence: before and
after, the noise floor, the p-value, the diff), dismiss it, or roll an evolution back."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from dse_tui.engine.display import visible
from dse_tui.engine.events import DriftRaised, EvolutionFinished
from dse_tui.screens.engine_screen import EngineScreen
from dse_tui.screens.widgets.gauges import spark
from dse_tui.screens.widgets.glyphs import g
from dse_tui.screens.widgets.host import PaletteCommand
from dse_tui.screens.widgets.status import StatusLine

SERIES = 120  # points of the metric series shown around a drift
SHOWN_FIGURES = (
    "ratio",
    "baseline_ms",
    "recent_ms",
    "before_ms",
    "ph_statistic",
    "baseline_error_rate",
    "recent_error_rate",
    "pass_rate",
    "baseline_usd",
    "recent_usd",
)


class DriftScreen(EngineScreen):
    CSS_PATH = "drift.tcss"
    ZOOM_PANES = ("#drift-detail",)
    BINDINGS = [
        Binding("e", "evolve", "Evolve", id="drift.evolve", tooltip="Evolve the artifact of the highlighted alert now"),
        Binding(
            "x",
            "dismiss_alert",
            "Dismiss",
            id="drift.dismiss",
            tooltip="Dismiss the highlighted alert: its level becomes the artifact's normal",
        ),
        Binding(
            "b",
            "rollback",
            "Rollback",
            id="drift.rollback",
            tooltip="Give the evolved version's place back to the one it evolved from",
        ),
        Binding("a", "toggle_all", "All", id="drift.all", tooltip="Show every drift event, or only the open ones"),
        Binding("r", "refresh", "Refresh", id="drift.refresh", tooltip="Read the alerts again"),
        Binding(
            "z,f5",
            "toggle_zoom",
            "Zoom",
            id="drift.zoom",
            show=False,
            tooltip="Fill the screen with the alert's detail; again (or Esc) to go back",
        ),
    ]

    class Loaded(Message):
        def __init__(self, report: dict[str, Any]) -> None:
            super().__init__()
            self.report = report

    class SeriesLoaded(Message):
        def __init__(self, event_id: int, values: list[float | None]) -> None:
            super().__init__()
            self.event_id, self.values = event_id, values

    class Evolved(Message):
        def __init__(self, event_id: int, result: dict[str, Any]) -> None:
            super().__init__()
            self.event_id, self.result = event_id, result

    class RolledBack(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.events: dict[int, dict[str, Any]] = {}
        self.results: dict[int, dict[str, Any]] = {}  # evolution results by drift event
        self.series: dict[int, list[float | None]] = {}
        self.points_now: dict[str, int] = {}  # each artifact's points seen by its detectors
        self.last_result: dict[str, Any] | None = None
        self.busy: str | None = None

    def compose(self) -> ComposeResult:
        yield StatusLine("Drift")
        yield Static("Drift alerts", id="drift-title")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="drift-detail"):
            yield Static("", id="drift-figures")
            yield Static("", id="drift-series")
            yield Static("", id="drift-result")
            yield Static("", id="drift-diff")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#alerts", DataTable)
        for key, label in (
            ("id", "ID"),
            ("name", "Name"),
            ("type", "Type"),
            ("severity", "Sev"),
            ("action", "Action"),
            ("status", "Status"),
        ):
            table.add_column(label, key=key)
        self.subscribe_to_engine()

    def engine_ready(self, engine: Any) -> None:
        super().engine_ready(engine)
        self.reload()

    def resumed(self) -> None:
        self.reload()

    def engine_event(self, event: Any) -> None:
        if isinstance(event, (DriftRaised, EvolutionFinished)):
            self.reload()

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        if self.engine is not None:
            self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="drift-load", name="read the drift alerts")
    def _load(self) -> None:
        assert self.engine is not None
        self.post_message(self.Loaded(self.engine.drift_report()))

    def on_drift_screen_loaded(self, message: Loaded) -> None:
        report = message.report
        shown = report["events"] if self.show_all else report["open"]
        self.points_now = {a["artifact_id"]: int(a["summary"].get("points", 0) or 0) for a in report["artifacts"]}
        self.series.clear()  # new runs may have arrived
        self.events = {e["id"]: e for e in shown}
        table = self.query_one("#alerts", DataTable)
        keep = self._highlighted()
        table.clear()
        for e in shown:
            table.add_row(
                str(e["id"]),
                visible(e["name"]),
                e["type"],
                f"{e['severity']:.2f}",
                e["action"],
                e["status"],
                key=str(e["id"]),
            )
        which = "events" if self.show_all else "open alerts"
        self.query_one("#drift-title", Static).update(
            f"Drift: {len(shown)} {which} · {report['watched']} artifact(s) watched"
            + ("" if shown else f" {g('—')} nothing has drifted")
        )
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
        self._show_detail()

    def _highlighted(self) -> int | None:
        table = self.query_one("#alerts", DataTable)
        if not table.row_count:
            return None
        try:
            return int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)
        except Exception:  # noqa: BLE001 - an empty or moving table has no highlighted row
            return None

    @on(DataTable.RowHighlighted, "#alerts")
    def _row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        event_id = self._highlighted()
        event = self.events.get(event_id) if event_id is not None else None
        figures = self.query_one("#drift-figures", Static)
        if event is None:
            for pane in ("#drift-figures", "#drift-series", "#drift-result", "#drift-diff"):
                self.query_one(pane, Static).update("")
            if self.last_result is not None:  # an evolved alert leaves the open list: its evidence stays
                figures.update(Text(f"last evolution: {visible(self.last_result['name'])}", style="bold"))
                self._show_result(self.last_result)
            return
        shown = ", ".join(
            f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
            for k, v in event["figures"].items()
            if k in SHOWN_FIGURES and v is not None
        )
        window = event["window"]
        lines = [
            Text.assemble(
                (f"{visible(event['name'])} ", "bold"),
                f"{event['type']} drift, severity {event['severity']:.2f}"
                f" ({event['action']}), by {', '.join(event['detectors'])}",
            ),
            Text(visible(shown)),
            Text(f"window: points {window.get('first')}..{window.get('last')} of the artifact's series"),
        ]
        if event.get("explanation"):
            lines.append(Text(visible(event["explanation"]), style="italic"))
        figures.update(Text("\n").join(lines))
        if event_id in self.series:
            self._show_series(event_id)
        else:
            self.query_one("#drift-series", Static).update("")
            self._load_series(event_id, event["artifact_id"])
        self._show_result(self.results.get(event_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="drift-series", name="read the metric series")
    def _load_series(self, event_id: int, artifact_id: str) -> None:
        assert self.engine is not None
        points = self.engine.recent_metrics(artifact_id, SERIES)
        self.post_message(self.SeriesLoaded(event_id, [p.function_ms for p in points]))

    def on_drift_screen_series_loaded(self, message: SeriesLoaded) -> None:
        self.series[message.event_id] = message.values
        if message.event_id == self._highlighted():
            self._show_series(message.event_id)

    def _show_series(self, event_id: int) -> None:
        values = self.series[event_id]
        event = self.events[event_id]
        width = max(20, min(len(values), self.size.width - 4))
        line = spark(values, width, low=0)
        window = event["window"]
        size = int(window.get("size") or 0)
        # the window's points were the latest when the alert was raised; later runs push it left
        later = max(0, self.points_now.get(event["artifact_id"], 0) - int(window.get("last") or 0))
        marked = min(size, len(line))
        start = max(0, len(line) - later - marked)
        marker = " " * start + "^" * marked
        self.query_one("#drift-series", Static).update(
            Text.assemble(
                ("function ms, latest runs\n", "dim"), line, "\n", (marker[: len(line)], "bold"), ("  window", "dim")
            )
        )

    def _show_result(self, result: dict[str, Any] | None) -> None:
        panel = self.query_one("#drift-result", Static)
        diff = self.query_one("#drift-diff", Static)
        if result is None:
            panel.update("evolving…" if self.busy == "evolve" else "")
            diff.update("")
            return
        style = {"promoted": "green", "rejected": "yellow"}.get(result["status"], "red")
        lines = [Text.assemble((result["status"], f"bold {style}"), f": {visible(result['reason'])}")]
        evidence = result.get("evidence") or {}
        floor = evidence.get("noise_floor")
        if floor:
            lines.append(Text(f"noise floor (A/A): {floor['gap'] * 100:.1f}% over {floor['rounds']} paired rounds"))
        last_diff = ""
        for attempt in evidence.get("attempts", []):
            paired = attempt.get("paired")
            text = f"attempt {attempt['attempt']} ({attempt.get('tier')}): "
            text += "promoted" if attempt.get("promoted") else attempt.get("rejected", "")
            lines.append(Text(visible(text)))
            if paired:
                lines.append(
                    Text(
                        f"  before {paired['incumbent_median_ms']:.4g} ms {g('→')} after {paired['candidate_median_ms']:.4g} ms"
                        f" (median of {paired['rounds']} rounds), gain {paired['gain'] * 100:+.1f}%, p={paired['p']:.2g}"
                    )
                )
            last_diff = attempt.get("diff") or last_diff
        if result.get("candidate_id"):
            lines.append(Text(f"v{result['candidate_version']} serves now; b rolls back", style="dim"))
        panel.update(Text("\n").join(lines))
        diff.update(Syntax(last_diff, "diff", theme="ansi_dark", background_color="default") if last_diff else "")

    # -- actions ------------------------------------------------------------------------------

    def _event(self) -> dict[str, Any] | None:
        event_id = self._highlighted()
        return self.events.get(event_id) if event_id is not None else None

    def action_evolve(self) -> None:
        event = self._event()
        if event is None or self.engine is None:
            self.notify("no alert highlighted", timeout=3)
            return
        if self.busy:
            self.notify(f"already {self.busy}ing", timeout=3)
            return
        self.busy = "evolve"
        self._show_result(None)
        self._evolve(event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="drift-evolve", name="evolve the artifact")
    def _evolve(self, event: dict[str, Any]) -> None:
        assert self.engine is not None
        try:
            result = self.engine.evolve(event["artifact_id"], drift=event["type"], event_id=event["id"])
            self.post_message(self.Evolved(event["id"], result.to_dict()))
        finally:
            self.busy = None

    def on_drift_screen_evolved(self, message: Evolved) -> None:
        self.results[message.event_id] = message.result
        self.last_result = {**message.result, "name": self.events.get(message.event_id, {}).get("name", "")}
        self._show_result(message.result)
        self.notify(f"evolution {message.result['status']}", timeout=4)
        self.reload()

    def action_dismiss_alert(self) -> None:
        event = self._event()
        if event is None or self.engine is None:
            return
        self._dismiss(event["id"])

    @work(thread=True, exit_on_error=False, group="drift-dismiss", name="dismiss the alert")
    def _dismiss(self, event_id: int) -> None:
        assert self.engine is not None
        self.engine.dismiss_drift(event_id)
        self.reload()

    def action_rollback(self) -> None:
        event = self._event()
        result = self.results.get(event["id"]) if event else self.last_result
        if not result or not result.get("candidate_id"):
            self.notify("nothing evolved here to roll back", timeout=3)
            return
        self._rollback(result["candidate_id"])

    @work(thread=True, exit_on_error=False, group="drift-rollback", name="roll back")
    def _rollback(self, candidate_id: str) -> None:
        assert self.engine is not None
        restored, rolled = self.engine.rollback(candidate_id)
        self.post_message(self.RolledBack(f"{restored.name} v{restored.version} serves again (v{rolled.version} kept)"))

    def on_drift_screen_rolled_back(self, message: RolledBack) -> None:
        self.notify(visible(message.text), timeout=5)
        self.reload()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "drift: evolve", "Evolve the highlighted alert's artifact", self.action_evolve, "drift.evolve"
            ),
            PaletteCommand(
                "drift: dismiss", "Dismiss the highlighted alert", self.action_dismiss_alert, "drift.dismiss"
            ),
            PaletteCommand("drift: rollback", "Roll back the evolution shown", self.action_rollback, "drift.rollback"),
            PaletteCommand(
                "drift: all", "Every drift event, or only the open ones", self.action_toggle_all, "drift.all"
            ),
        ]
