"""Pilot tests of the Ask screen: a real engine on a temporary home, scripted model tiers, no network."""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest
from textual.widgets import Input, Select, Static, TextArea

from dse_tui.app import DSEApp
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig
from dse_tui.screens.ask import AskScreen
from dse_tui.screens.transcripts import TranscriptsScreen
from dse_tui.screens.widgets.host import ShellStatus

from helpers import ADD_CODE, ADD_SPEC, OTHER_ADD_SPEC
from test_library_screen import wait_until

SIZE = (100, 30)
ADD_TASK = "Write a function add(a, b) that returns their sum"
WRONG_ADD = "```python\ndef add(a, b):\n    return a - b\n```"
RIGHT_ADD = f"Here it is:\n```python\n{ADD_CODE}```"
# Close enough in meaning to ADD_TASK for the learned start tier to use it as evidence.
ADD3_TASK = "Write a function add3(a, b, c) that returns their sum"
ADD3_SPEC = """\
function: add3
description: Add three numbers and return their sum
behaviors:
  - behavior: adds small numbers
    given: {a: 1, b: 2, c: 3}
    then: {result_equals: 6}
"""
RIGHT_ADD3 = "```python\ndef add3(a, b, c):\n    return a + b + c\n```"


def tier(name: str) -> TierConfig:
    return TierConfig(name=name, provider="scripted", model=f"{name}-model", temperature=0.2, max_tokens=400,
                      timeout_s=5, price_in_per_mtok=0.0, price_out_per_mtok=0.0)


def ladder(*names: str) -> Ladder:
    return Ladder(tiers=[tier(n) for n in names], temperature_schedule=[0.2, 0.4, 0.6, 0.8], max_attempts=4)


def offline() -> ScriptedProvider:
    return ScriptedProvider([], available=(False, "no server at 127.0.0.1:9"))


async def open_ask(pilot, screen: AskScreen) -> AskScreen:
    """Show `screen` over the app's first screen once the engine and the ladder are ready."""
    app = pilot.app
    await wait_until(pilot, lambda: app.engine is not None)
    await app.push_screen(screen)
    await wait_until(pilot, lambda: screen.engine is not None and screen.ladder is not None
                     and len(screen.query_one("#max-tier", Select)._options) > 1)
    return screen


async def fill(pilot, screen: AskScreen, task: str, spec: str) -> None:
    await pilot.click("#task")
    await pilot.press(*task)
    screen.query_one("#spec", TextArea).load_text(spec)


def result_text(screen: AskScreen) -> str:
    return str(screen.query_one("#result", Static).content)


def notes(app) -> list:
    return list(app._notifications)


async def test_a_scripted_run_is_shown_attempt_by_attempt(engine):
    fast = ScriptedProvider([WRONG_ADD, RIGHT_ADD])
    screen = AskScreen(ladder=ladder("fast", "balanced"), providers={"fast": fast, "balanced": offline()})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        # The tier picker lists the ladder and says which tiers cannot answer now.
        options = [str(label) for label, _ in screen.query_one("#max-tier", Select)._options]
        assert options == ["no limit", "fast", "balanced (unavailable)"]
        assert "✗ balanced: scripted balanced-model — no server at 127.0.0.1:9" in result_text(screen)

        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-generated"))

        lines = screen.progress_lines()
        assert lines[0] == "no stored artifact passes this spec: generating"
        assert "skipped balanced: unavailable: no server at 127.0.0.1:9" in lines
        assert "start tier: fast (no similar solved task yet: the bottom of the ladder)" in lines
        attempts = [line for line in lines if line.startswith("attempt")]
        assert len(attempts) == 2
        assert attempts[0].startswith("attempt 1: fast (fast-model) T=0.2 ✗ failed: adds small numbers: expected 5, got -1")
        assert attempts[0].endswith("(+2 more) · " + attempts[0].rsplit(" · ", 1)[1])  # the duration follows
        assert attempts[1].startswith("attempt 2: fast (fast-model) T=0.4 ✓ passed")
        assert result_text(screen).startswith("✓ generated add with fast\n2 attempts · $0.0000 · transcript ")
        assert "return a + b" in screen.query_one("#code", Static).content.code
        assert len(fast.calls) == 2

        # ctrl+t opens the Log on this ask's transcript; switching back finds this very screen
        # (the test shows it over the Library's mode, so F2 returns to it; in the app it is F3).
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, TranscriptsScreen) and app.screen.shown is not None
                         and app.screen.shown.id == screen.transcript_id)
        assert app.current_mode == "transcripts" and app.screen.shown.outcome == "generated"
        await pilot.press("a", "escape")
        assert isinstance(app.screen, TranscriptsScreen) and app.focused.id == "transcripts"
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.current_mode == "library")
        assert app.screen is screen


async def test_a_second_ask_starts_at_the_tier_learned_from_similar_tasks(engine):
    cheap = ScriptedProvider([WRONG_ADD])
    strong = ScriptedProvider([RIGHT_ADD, RIGHT_ADD3])
    screen = AskScreen(ladder=ladder("fast", "balanced"), providers={"fast": cheap, "balanced": strong})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-generated"))
        assert result_text(screen).startswith("✓ generated add with balanced")

        screen.query_one("#task", Input).value = ADD3_TASK
        screen.query_one("#spec", TextArea).load_text(ADD3_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-generated"))
        lines = screen.progress_lines()
        prediction = next(line for line in lines if line.startswith("start tier"))
        assert prediction.startswith("start tier: balanced, learned from 1 solved task: "
                                     "“Write a function add(a, b) that returns…” balanced 0.")
        assert [line.split(" ✓")[0] for line in lines if line.startswith("attempt")] == [
            "attempt 1: balanced (balanced-model) T=0.2"]
        assert len(cheap.calls) == 1  # the second ask never asked the tier that failed at this kind of task


async def test_max_tier_stops_the_climb(engine):
    fast, balanced = ScriptedProvider([WRONG_ADD] * 4), ScriptedProvider([RIGHT_ADD])
    screen = AskScreen(ladder=ladder("fast", "balanced"), providers={"fast": fast, "balanced": balanced})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        select = screen.query_one("#max-tier", Select)
        assert select.value == "" and str(select.query_one("SelectCurrent #label", Static).content) == "no limit"
        select.value = "fast"
        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-failed"))
        assert result_text(screen).startswith("✗ failed: no attempt passed the spec in 4 attempts\n4 attempts")
        assert len(fast.calls) == 4 and balanced.calls == []


async def test_cancel_stops_after_the_attempt_under_way(engine):
    release, called = threading.Event(), threading.Event()

    def slow_wrong(messages, temperature, model):
        called.set()
        release.wait(20)
        return WRONG_ADD

    fast = ScriptedProvider(slow_wrong)
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": fast})
    app = DSEApp(engine=engine, import_starter=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_ask(pilot, screen)
            await fill(pilot, screen, ADD_TASK, ADD_SPEC)
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: called.is_set() and any(
                "… running" in line for line in screen.progress_lines()))
            assert str(screen.query_one("#run-button").label) == "Cancel"
            await pilot.press("escape")  # focus is in the task field: the binding still cancels
            # the scripted call is free: abandoned at once, while it still waits for `release`
            await wait_until(pilot, lambda: screen.query_one("#result").has_class("-cancelled"))
            lines = screen.progress_lines()
            assert lines[-1] == "cancelled" and any(line.startswith(
                "cancelling… (a model call is stopped or abandoned at once; a paid one ends at its reply)") for line in lines)
            assert any(line.startswith("attempt 1: fast (fast-model) T=0.2 ✗ failed: the model call failed") and "abandoned" in line
                       for line in lines), lines
            release.set()
            assert result_text(screen).startswith("✗ cancelled: cancelled by the user\n1 attempt · ")
            assert len(fast.calls) == 1
            assert engine.transcript(screen.transcript_id).outcome == "cancelled"
            assert str(screen.query_one("#run-button").label) == "Run"
    finally:
        release.set()


async def test_empty_task_or_invalid_spec_is_a_notification_and_nothing_runs(engine):
    fast = ScriptedProvider([RIGHT_ADD])
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": fast})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(notes(app)) == 1)
        assert notes(app)[0].message == "Describe the task first." and notes(app)[0].severity == "error"

        await fill(pilot, screen, ADD_TASK, "function: add\nbehaviors: [\n")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(notes(app)) == 2)
        note = notes(app)[1]
        assert note.severity == "error" and note.title == "The spec is not valid"
        assert note.message.startswith("spec: line ")
        assert app.focused is screen.query_one("#spec", TextArea)

        screen.query_one("#spec", TextArea).load_text(ADD_SPEC)
        screen.query_one("#budget", Input).value = "-1"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(notes(app)) == 3)
        assert "budget" in notes(app)[2].message
        await pilot.pause(0.2)
        assert fast.calls == [] and engine.count_transcripts() == 0 and not screen.running


class BreaksAfterTheLadderLoads(ScriptedProvider):
    """Available when the screen asks, broken when the engine asks: an unexpected failure mid-ask."""

    def available(self):
        if self.checked:
            raise RuntimeError("the provider broke")
        self.checked = True
        return True, "scripted"

    checked = False


async def test_a_failing_ask_is_an_error_notification_and_the_screen_recovers(engine):
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": BreaksAfterTheLadderLoads([RIGHT_ADD])})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(notes(app)) == 1 and not screen.running)
        note = notes(app)[0]
        assert note.title == "Could not ask" and note.message == "RuntimeError: the provider broke"
        assert screen.progress_lines()[-1] == "stopped: the ask did not finish (see the notification)"
        assert str(screen.query_one("#run-button").label) == "Run"


async def test_the_app_opens_ask_and_transcripts_as_modes(engine):
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine is not None)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.engine is engine)
        assert app.current_mode == "ask" and app.focused.id == "task"
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, TranscriptsScreen) and app.current_mode == "transcripts")
        await wait_until(pilot, lambda: "no transcripts yet" in str(app.screen.query_one("#transcripts-pager").content))
        await pilot.press("f2")
        assert app.current_mode == "library"


def test_every_binding_has_an_id_and_a_tooltip():
    for binding in [*AskScreen.BINDINGS, *TranscriptsScreen.BINDINGS]:
        assert binding.id and binding.tooltip, binding


@pytest.mark.parametrize("size, stacked", [((80, 24), True), ((100, 30), False)])
async def test_layout_stacks_on_narrow_terminals(engine, size, stacked):
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": ScriptedProvider([])})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=size) as pilot:
        await open_ask(pilot, screen)

        def laid_out() -> bool:  # the -narrow class is set on resize; the layout follows a frame later
            spec, output = screen.query_one("#spec-pane").region, screen.query_one("#output").region
            if stacked:
                return output.y >= spec.bottom and output.width == spec.width
            return output.x >= spec.right and output.y == spec.y

        await wait_until(pilot, laid_out, timeout=5)
        assert screen.has_class("-narrow") is stacked
        spec, output = screen.query_one("#spec-pane").region, screen.query_one("#output").region
        assert spec.height >= 8 and output.height >= 6
        assert screen.query_one("#run-button").region.right <= size[0]


# -- snapshot --------------------------------------------------------------------------------------

def fixed_ids(monkeypatch) -> None:
    """Transcript ids from a counter, so the id shown on screen is the same every run."""
    from dse_tui.store import transcripts as generation

    counter = iter(range(1, 1000))
    monkeypatch.setattr(generation, "uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(counter) << 96)))


def settle_status(app) -> None:
    """The sandbox differs between machines; the snapshot shows a fixed one."""
    app.status_signal.publish(ShellStatus("", "bwrap (strong isolation)", "", ready=True))


@pytest.mark.parametrize("size, glyphs", [(SIZE, "unicode"), ((80, 24), "ascii")], ids=["100x30", "80x24-linux"])
def test_snapshot_after_a_scripted_run(engine, monkeypatch, snap_compare, size, glyphs):
    fixed_ids(monkeypatch)
    monkeypatch.setenv("DSE_GLYPHS", glyphs)  # 80x24 as on the Linux console: ASCII marks
    fast = ScriptedProvider([WRONG_ADD, RIGHT_ADD])
    screen = AskScreen(ladder=ladder("fast", "balanced"), providers={"fast": fast, "balanced": offline()},
                       timings=False)

    async def run_before(pilot) -> None:
        await open_ask(pilot, screen)
        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-generated"))
        settle_status(pilot.app)
        # Tab underlines slide into place; a loaded machine may otherwise catch them mid-way.
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(DSEApp(engine=engine, import_starter=False), terminal_size=size, run_before=run_before)


async def test_the_screen_stays_up_when_the_embedded_model_crashes(engine, tmp_path):
    import sys

    from dse_tui.engine.generation.providers.embedded import EmbeddedProvider
    from test_embedded_worker import FAKE

    gguf = tmp_path / "stand-in.gguf"
    gguf.write_bytes(b"GGUF")
    crashing = EmbeddedProvider(model_path=str(gguf), worker_command=[sys.executable, FAKE, "sigsegv_on_complete"])
    fast = TierConfig(name="fast", provider="embedded", model="stand-in", temperature=0.2, max_tokens=100, timeout_s=30)
    screen = AskScreen(ladder=Ladder(tiers=[fast, tier("balanced")], temperature_schedule=[0.2], max_attempts=3),
                       providers={"fast": crashing, "balanced": ScriptedProvider([RIGHT_ADD])})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        await fill(pilot, screen, ADD_TASK, ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-generated"))
        lines = screen.progress_lines()
        crashed = next(line for line in lines if line.startswith("attempt 1"))
        assert "✗ failed: the model call failed" in crashed and "SIGSEGV" in crashed
        assert any(line.startswith("skipped fast: crashed:") for line in lines)
        assert result_text(screen).startswith("✓ generated add with balanced")




async def test_a_reuse_is_shown_at_once_and_its_confirmation_follows(engine):
    """Served as soon as it passes; what the pass means (this spec's strength against the
    code) arrives after, in the same summary."""
    engine.store_artifact(ADD_CODE, ADD_SPEC, name="add")
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": ScriptedProvider([])})
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_ask(pilot, screen)
        await fill(pilot, screen, "add two numbers", OTHER_ADD_SPEC)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.query_one("#result").has_class("-reused"))
        await wait_until(pilot, lambda: "confirmation weak (67% of mutants killed)" in result_text(screen))
        assert result_text(screen).startswith("✓ reused add")


async def test_a_waiting_attempt_shows_a_spinner_and_its_seconds_and_idle_has_no_timer(engine, monkeypatch):
    import re

    release, called = threading.Event(), threading.Event()

    def slow_right(messages, temperature, model):
        called.set()
        release.wait(20)
        return ADD_CODE

    monkeypatch.setenv("DSE_GLYPHS", "ascii")  # the Linux console: an ASCII spinner
    screen = AskScreen(ladder=ladder("fast"), providers={"fast": ScriptedProvider(slow_right)})
    app = DSEApp(engine=engine, import_starter=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_ask(pilot, screen)
            assert screen._ticker is None  # nothing redraws while nothing runs
            await fill(pilot, screen, ADD_TASK, ADD_SPEC)
            await pilot.press("ctrl+r")
            waiting = re.compile(r"attempt 1: .* \.\.\. running [|/\\-] (\d+) s$")
            await wait_until(pilot, lambda: called.is_set() and any(waiting.search(x) for x in screen.progress_lines()))
            await wait_until(pilot, lambda: any(int(m.group(1)) >= 1 for x in screen.progress_lines()
                                                if (m := waiting.search(x))), timeout=10)
            release.set()
            await wait_until(pilot, lambda: not screen.running)
            assert screen._ticker is None
            assert any(x.startswith("attempt 1: fast (fast-model) T=0.2 ok passed") for x in screen.progress_lines())
    finally:
        release.set()
