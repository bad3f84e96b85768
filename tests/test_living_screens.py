"""The Pressure and Drift screens: snapshots with injected readings, and the flow from a drift
alert to an evolution's evidence on screen."""

from __future__ import annotations

import time

from test_evolution import FAST, Offer, _slow_artifact, _step_up
from test_library_screen import wait_until
from test_pressure import FakePsutil, machine
from test_snapshots import StandInSandbox

from dse_tui.app import DSEApp
from dse_tui.engine.pressure import PressureConfig, Sensors
from dse_tui.engine.pressure.service import PressureService

NOON = time.struct_time((2026, 12, 2, 12, 0, 0, 2, 336, 0))
PI = "Raspberry Pi 5 Model B Rev 1.0"


def pressure_app(tmp_path, embedder, monkeypatch, *, temp_c=85.0, throttled=0x50000):
    from dse_tui.engine.facade import Engine

    monkeypatch.delenv("DSE_PRESSURE", raising=False)
    engine = Engine(tmp_path / "home", embedder=embedder, sandbox=StandInSandbox("strong"))
    root = machine(tmp_path, model=PI, temp_c=temp_c, throttled=throttled, psi_cpu=12.5, load=1.2)
    sensors = Sensors(root, FakePsutil(cpu=37.0, memory=41.0), clock=lambda: 1_800_000_000.0, localtime=lambda: NOON,
                      cpu_interval=0.0)
    engine._pressure = PressureService(engine.db, sensors=sensors, config=PressureConfig.load())
    return DSEApp(engine=engine, import_starter=False, run_jobs=False)


async def on_pressure(pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.engine is not None)
    await pilot.press("f6")
    await wait_until(pilot, lambda: "Level" in str(pilot.app.screen.query_one("#pressure-level").render()))
    await pilot.pause(0.2)


def test_pressure_100x30(snap_compare, tmp_path, embedder, monkeypatch):
    app = pressure_app(tmp_path, embedder, monkeypatch)
    assert snap_compare(app, terminal_size=(100, 30), run_before=on_pressure)


def test_pressure_80x24_linux_console(snap_compare, tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("DSE_GLYPHS", "ascii")
    app = pressure_app(tmp_path, embedder, monkeypatch, temp_c=48.0, throttled=0x0)
    assert snap_compare(app, terminal_size=(80, 24), run_before=on_pressure)


async def test_pressure_polls_stop_while_hidden_and_the_override_wins(tmp_path, embedder, monkeypatch):
    app = pressure_app(tmp_path, embedder, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_pressure(pilot)
        screen = pilot.app.screen
        assert screen.last.level.value == "high"  # 85 °C
        await pilot.press("l")  # override: high
        await pilot.press("l")  # override: medium
        await wait_until(pilot, lambda: screen.last.level.value == "medium" and screen.last.overridden)
        assert "override: medium" in str(screen.query_one("#pressure-level").render())
        sensors = pilot.app.engine._pressure.gauge.sensors.psutil
        before = sensors.calls
        await pilot.pause(4.5)  # two poll periods while shown: read
        assert sensors.calls >= before + 2
        await pilot.press("f2")
        await pilot.pause(0.3)
        hidden = sensors.calls
        await pilot.pause(4.5)  # two poll periods while hidden: not read
        assert sensors.calls == hidden


async def test_a_drift_alert_shows_and_evolving_it_shows_the_evidence(engine):
    engine.auto_evolve = False
    artifact = _slow_artifact(engine)
    _step_up(engine, artifact)
    offer = Offer(FAST)
    engine.generator_factory = lambda artifact_id, settings: offer
    app = DSEApp(engine=engine, import_starter=False, run_jobs=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: pilot.app.engine is not None)
        await pilot.press("f7")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: getattr(screen, "events", None))
        figures = str(screen.query_one("#drift-figures").render())
        assert "has_duplicate" in figures and "latency drift" in figures
        await wait_until(pilot, lambda: "window" in str(screen.query_one("#drift-series").render()))
        await pilot.press("e")
        await wait_until(pilot, lambda: "promoted" in str(screen.query_one("#drift-result").render()), timeout=90)
        result = str(screen.query_one("#drift-result").render())
        assert "noise floor (A/A)" in result and "before" in result and "after" in result and "p=" in result
        assert offer.prompts  # the scripted tier was asked
        await wait_until(pilot, lambda: not screen.events)  # the alert is resolved: no longer open
        assert engine.resolve("has_duplicate").version == 2


async def test_accept_and_reject_keys_in_the_library_record_verdicts(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False, run_jobs=False)
    async with app.run_test(size=(100, 30)) as pilot:
        from test_library_screen import opened

        await opened(pilot)
        artifact = pilot.app.screen.selected
        await pilot.press("plus", "minus")
        await wait_until(pilot, lambda: len(library_engine.feedback.recent(artifact.id, 10)) == 2)
        assert [a for a, _ in library_engine.feedback.recent(artifact.id, 10)] == [False, True]


async def test_an_evolution_queued_by_drift_runs_while_the_tui_is_open(engine):
    artifact = _slow_artifact(engine)
    engine.generator_factory = lambda artifact_id, settings: Offer(FAST)
    app = DSEApp(engine=engine, import_starter=False, run_jobs=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: pilot.app.engine is not None)
        _step_up(engine, artifact)  # the flush raises a severe drift: an evolve job is queued
        await wait_until(pilot, lambda: engine.resolve("has_duplicate").version == 2, timeout=120)
        assert engine.evolutions.list(artifact_id=artifact.id)[0].status == "promoted"
