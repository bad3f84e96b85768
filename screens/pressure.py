"""Pressure: live gauges of the machine, the level and why, the tiers it allows, and today's
spend. Polls every POLL_S seconds in a thread worker; a poll still running is not joined
by another (they coalesce), and polling stops while the screen is hidden."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Static

from dse_tui.engine.display import visible
from dse_tui.screens.engine_screen import EngineScreen
from dse_tui.screens.widgets.gauges import bar, spark
from dse_tui.screens.widgets.glyphs import g
from dse_tui.screens.widgets.host import PaletteCommand
from dse_tui.screens.widgets.status import StatusLine

POLL_S = 2.0
HISTORY = 60
OVERRIDES = [None, "high", "medium", "low", "training"]
# reading -> (label, unit, the value a full bar stands for)
GAUGES = [
    ("cpu_percent", "CPU", "%", 100.0),
    ("memory_percent", "memory", "%", 100.0),
    ("load_per_core", "load/core", "", 2.0),
    ("psi_cpu_some10", "CPU stall", "%", 100.0),
    ("psi_memory_some10", "mem stall", "%", 100.0),
    ("psi_io_some10", "IO stall", "%", 100.0),
    ("temperature_c", "temp", " °C", 100.0),
    ("battery_percent", "battery", "%", 100.0),
]


class PressureScreen(EngineScreen):
    CSS_PATH = "pressure.tcss"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="pressure.refresh", tooltip="Read the sensors now"),
        Binding(
            "l",
            "cycle_override",
            "Level",
            id="pressure.override",
            tooltip="Override the level: measured, high, medium, low, training (the override wins)",
        ),
        Binding("u", "toggle_urgent", "Urgent", id="pressure.urgent", tooltip="Say the work is urgent: HIGH pressure"),
    ]

    class Polled(Message):
        def __init__(self, assessment: Any, spent: float, daily: float | None) -> None:
            super().__init__()
            self.assessment, self.spent, self.daily = assessment, spent, daily

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, deque[float | None]] = {key: deque(maxlen=HISTORY) for key, *_ in GAUGES}
        self.override: str | None = None
        self.urgent = False
        self._timer: Timer | None = None
        self._polling = False
        self.last: Any = None

    def compose(self) -> ComposeResult:
        yield StatusLine("Pressure")
        yield Static("reading the sensors…", id="pressure-level")
        yield Static("", id="pressure-tiers")
        yield Static("", id="pressure-gauges")
        yield Static("", id="pressure-unavailable")
        yield Footer()

    def on_mount(self) -> None:
        self.subscribe_to_engine()
        self._start()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()  # hidden: no sensor reads

    def resumed(self) -> None:
        self._start()

    def _start(self) -> None:
        if self._timer is None:
            self._timer = self.set_interval(POLL_S, self.poll)
        else:
            self._timer.resume()
        self.poll()

    def engine_ready(self, engine: Any) -> None:
        super().engine_ready(engine)
        self.poll()

    def poll(self) -> None:
        if self.engine is None or self._polling:
            return  # coalesce: a poll still reading is not joined by another
        self._polling = True
        self._read()

    @work(thread=True, exit_on_error=False, group="pressure", name="read the pressure sensors")
    def _read(self) -> None:
        assert self.engine is not None
        try:
            assessment = self.engine.pressure(urgency="urgent" if self.urgent else None, override=self.override)
            daily = None
            try:
                from dse_tui.engine.generation.providers import load_ladder_config

                daily = load_ladder_config().daily_budget_usd
            except Exception:  # noqa: BLE001 - a broken models.yaml shows as no daily budget here
                daily = None
            self.post_message(self.Polled(assessment, self.engine.spent_today(), daily))
        finally:
            self._polling = False

    def on_pressure_screen_polled(self, message: Polled) -> None:
        a = message.assessment
        fresh = self.last is None or a.readings.at != self.last.readings.at  # one reading, one history point
        self.last = a
        if fresh:
            for key, *_ in GAUGES:
                self.history[key].append(getattr(a.readings, key))
        with self.app.batch_update():
            self._show(a, message.spent, message.daily)

    def _show(self, a: Any, spent: float, daily: float | None) -> None:
        level = self.query_one("#pressure-level", Static)
        why = "; ".join(a.reasons)
        level.update(Text(f"Level {a.level.value.upper()}  {g('—')}  {visible(why)}"))
        level.set_classes(f"-{a.level.value}")
        ceiling = "none" if a.max_latency_ms is None else f"{a.max_latency_ms / 1000:g} s"
        left = "" if daily is None else f" of ${daily:.2f} (left ${max(daily - spent, 0):.2f})"
        self.query_one("#pressure-tiers", Static).update(
            f"Tiers allowed: {', '.join(a.allowed_tiers)} · latency ceiling {ceiling} · spent today ${spent:.4f}{left}"
        )
        width = max(10, min(30, (self.size.width - 40) // 2))
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, min_width=9)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, min_width=11)
        table.add_column(no_wrap=True)
        r = a.readings
        for key, label, unit, full in GAUGES:
            value = getattr(r, key)
            shown = "unavailable" if value is None else f"{value:.1f}{unit}" if unit != "%" else f"{value:.0f}%"
            table.add_row(
                label,
                bar(None if value is None else value / full, width),
                shown.ljust(12),
                spark(list(self.history[key]), width, low=0),
            )
        throttle = "unavailable" if r.throttled is None else (", ".join(r.throttle_reasons()) or "none")
        lines = Table.grid(padding=(0, 1))
        lines.add_column(no_wrap=True, min_width=9)
        lines.add_column()
        lines.add_row("throttle", visible(throttle))
        lines.add_row("platform", visible(r.platform + (f" ({r.model})" if r.model else "")))
        self.query_one("#pressure-gauges", Static).update(Group(table, Text(""), lines))
        missing = r.unavailable()
        self.query_one("#pressure-unavailable", Static).update(
            ("unavailable here: " + ", ".join(missing)) if missing else ""
        )

    def action_refresh(self) -> None:
        self.poll()

    def action_cycle_override(self) -> None:
        self.override = OVERRIDES[(OVERRIDES.index(self.override) + 1) % len(OVERRIDES)]
        self.notify(f"level: {self.override or 'measured'}", timeout=2)
        self.poll()

    def action_toggle_urgent(self) -> None:
        self.urgent = not self.urgent
        self.notify("urgent: HIGH pressure" if self.urgent else "not urgent", timeout=2)
        self.poll()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("pressure: refresh", "Read the sensors now", self.action_refresh, "pressure.refresh"),
            PaletteCommand(
                "pressure: level", "Override the pressure level", self.action_cycle_override, "pressure.override"
            ),
            PaletteCommand("pressure: urgent", "Say the work is urgent", self.action_toggle_urgent, "pressure.urgent"),
        ]
