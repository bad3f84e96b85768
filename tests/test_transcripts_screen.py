"""Pilot tests of the Transcripts screen: asks made with scripted tiers on a temporary home."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from textual.widgets import DataTable, Static

from dse_tui.app import DSEApp
from dse_tui.engine.generation.providers import ScriptedProvider
from dse_tui.screens.transcripts import TranscriptsScreen

from helpers import ADD_SPEC, SORT_CODE, SORT_SPEC
from test_ask_screen import ADD_TASK, RIGHT_ADD, SIZE, WRONG_ADD, fixed_ids, ladder, settle_status, wait_until

SORT_TASK = "Write sort_numbers(items) that sorts numbers ascending"
RIGHT_SORT = f"```python\n{SORT_CODE}```"


def two_asks(engine) -> tuple[str, str]:
    """An ask that escalates (wrong, then right) and one that passes first time: (add id, sort id)."""
    fast = ScriptedProvider([WRONG_ADD, RIGHT_ADD, RIGHT_SORT])
    add = engine.ask(ADD_TASK, ADD_SPEC, ladder=ladder("fast"), providers={"fast": fast})
    sort = engine.ask(SORT_TASK, SORT_SPEC, ladder=ladder("fast"), providers={"fast": fast})
    assert (add.outcome, add.attempts, sort.outcome, sort.attempts) == ("generated", 2, "generated", 1)
    return add.transcript_id, sort.transcript_id


def fixed_clock(monkeypatch) -> None:
    """Transcript times a minute apart from a fixed instant, so the Started column is the same every run."""
    from dse_tui.store import transcripts as generation

    start = datetime(2025, 3, 14, 9, 26, tzinfo=timezone.utc)
    ticks = iter(range(10_000))
    monkeypatch.setattr(generation, "_now", lambda: (start + timedelta(minutes=next(ticks))).isoformat())


def table(screen) -> DataTable:
    return screen.query_one("#transcripts", DataTable)


def rows(screen) -> list[list[str]]:
    t = table(screen)
    return [[str(cell) for cell in t.get_row_at(i)] for i in range(t.row_count)]


def text_of(screen, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return content.code if hasattr(content, "code") else str(content)


async def open_transcripts(pilot, screen: TranscriptsScreen, count: int) -> TranscriptsScreen:
    app = pilot.app
    await wait_until(pilot, lambda: app.engine is not None)
    await app.push_screen(screen)
    await wait_until(pilot, lambda: table(screen).row_count == count and screen.shown is not None)
    return screen


async def test_the_list_shows_each_ask_and_the_detail_its_attempts(engine):
    add_id, sort_id = two_asks(engine)
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_transcripts(pilot, TranscriptsScreen(), 2)
        # Newest first; started time, outcome, attempts, cost, task.
        assert [r[1:] for r in rows(screen)] == [
            ["generated", "1", "$0.0000", SORT_TASK], ["generated", "2", "$0.0000", ADD_TASK]]
        assert str(screen.query_one("#transcripts-pager").content) == "transcripts 1–2 of 2 · newest first"
        assert screen.shown.id == sort_id

        await pilot.press("down")
        await wait_until(pilot, lambda: screen.shown.id == add_id)
        summary = text_of(screen, "#summary")
        assert summary.startswith(f"generated · 2 attempts · $0.0000 · transcript {add_id[:8]}\ntask: {ADD_TASK}")
        assert "start tier: fast (no similar solved task yet" in summary
        strip = screen.query_one("#attempts", DataTable)
        assert [str(cell).strip() for cell in strip.get_row_at(0)] == ["1 fast ✗", "2 fast ✓"]

        # The last attempt is shown first: its prompt carries the first one's failures, its code the fix.
        assert screen.active_attempt == 2
        prompt = text_of(screen, "#prompt")
        assert prompt.startswith("── system ──") and ADD_TASK in prompt and "return a - b" in prompt
        assert "return a + b" in text_of(screen, "#reply")
        result = text_of(screen, "#checks")
        assert result.startswith("✓ passed\nfast · fast-model · T=0.4 · ") and "✓ adds small numbers" in result
        diff = text_of(screen, "#diff").splitlines()
        assert diff[:2] == ["--- attempt 1", "+++ attempt 2"]
        assert "-    return a - b" in diff and "+    return a + b" in diff

        # Attempt 1: its failures, and no diff (nothing came before it).
        await pilot.press("a", "left")
        await wait_until(pilot, lambda: screen.active_attempt == 1)
        result = text_of(screen, "#checks")
        assert result.startswith("✗ failed\nfast · fast-model · T=0.2 · ")
        assert "✗ adds small numbers\n    expected 5, got -1" in result
        assert "return a - b" in text_of(screen, "#reply")
        assert not screen.query_one("#diff-title").display and text_of(screen, "#diff") == ""


async def test_refresh_and_paging_read_from_the_store(engine, monkeypatch):
    two_asks(engine)
    monkeypatch.setattr(TranscriptsScreen, "PAGE_SIZE", 1)
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_transcripts(pilot, TranscriptsScreen(), 1)
        assert rows(screen)[0][4] == SORT_TASK
        # Written behind the screen's back (no engine event): shown after a refresh.
        engine.transcripts.start("a task that is still running", ADD_SPEC)
        await pilot.pause(0.2)
        assert rows(screen)[0][4] == SORT_TASK
        await pilot.press("r")
        await wait_until(pilot, lambda: rows(screen)[0][4] == "a task that is still running")
        assert rows(screen)[0][1:4] == ["running", "0", "—"]
        assert str(screen.query_one("#transcripts-pager").content) == "transcripts 1–1 of 3 · newest first"

        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_until(pilot, lambda: rows(screen)[0][4] == ADD_TASK)
        assert str(screen.query_one("#transcripts-pager").content) == "transcripts 3–3 of 3 · newest first"
        await pilot.press("right_square_bracket")  # no page after the last
        await pilot.pause(0.2)
        assert rows(screen)[0][4] == ADD_TASK
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: rows(screen)[0][4] == SORT_TASK)


async def test_an_ask_made_while_the_screen_is_shown_appears_by_itself(engine):
    two_asks(engine)
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_transcripts(pilot, TranscriptsScreen(), 2)
        fast = ScriptedProvider(["```python\ndef plus(a, b):\n    return a + b\n```"])
        spec = ADD_SPEC.replace("function: add", "function: plus")
        # On a thread, as the Ask screen runs it; its engine events reach this screen through the app.
        await asyncio.to_thread(engine.ask, "Write plus(a, b)", spec, ladder=ladder("fast"), providers={"fast": fast})
        await wait_until(pilot, lambda: table(screen).row_count == 3)
        assert rows(screen)[0][4] == "Write plus(a, b)"


@pytest.mark.parametrize("size, stacked", [((80, 24), True), ((100, 30), False)])
async def test_panes_stack_on_narrow_terminals(engine, size, stacked):
    two_asks(engine)
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=size) as pilot:
        screen = await open_transcripts(pilot, TranscriptsScreen(), 2)

        def laid_out() -> bool:  # the -narrow class is set on resize; the layout follows a frame later
            prompt, reply = screen.query_one("#prompt-pane").region, screen.query_one("#reply-pane").region
            if stacked:
                return reply.y >= prompt.bottom and reply.x == prompt.x
            return reply.x >= prompt.right and reply.y == prompt.y

        await wait_until(pilot, laid_out, timeout=5)
        assert screen.has_class("-narrow") is stacked
        assert table(screen).region.width == size[0]  # the Library's narrow list-pane width must not leak in
        assert screen.query_one("#attempt-panes").region.height >= 8
        # The keyboard reaches what scrolls: the stacked area when narrow, each pane when wide.
        assert screen.query_one("#attempt-panes").can_focus is stacked
        assert all(pane.can_focus is not stacked for pane in screen.query(".pane"))


@pytest.mark.parametrize("size, glyphs", [(SIZE, "unicode"), ((80, 24), "ascii")], ids=["100x30", "80x24-linux"])
def test_snapshot_of_an_escalated_ask(engine, monkeypatch, snap_compare, size, glyphs):
    monkeypatch.setenv("DSE_GLYPHS", glyphs)
    fixed_ids(monkeypatch)
    fixed_clock(monkeypatch)
    two_asks(engine)
    screen = TranscriptsScreen(timings=False)

    async def run_before(pilot) -> None:
        await open_transcripts(pilot, screen, 2)
        await pilot.press("down")
        await wait_until(pilot, lambda: screen.shown is not None and screen.shown.task == ADD_TASK
                         and screen.active_attempt == 2)
        settle_status(pilot.app)
        # Tab underlines slide into place; a loaded machine may otherwise catch them mid-way.
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(DSEApp(engine=engine, import_starter=False), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_jump_keys_go_to_prompt_reply_result_and_diff(engine, size):
    two_asks(engine)
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=size) as pilot:
        screen = await open_transcripts(pilot, TranscriptsScreen(), 2)
        area = screen.query_one("#attempt-panes")
        for key, pane in (("3", "#result-pane"), ("2", "#reply-pane"), ("1", "#prompt-pane")):
            await pilot.press(key)
            await pilot.pause()
            target = screen.query_one(pane)
            assert app.focused in (target, area)
            assert area.region.contains(target.region.x, target.region.y), pane  # its top is in view
        await pilot.press("4")  # the newest ask passed first time: no diff, the result pane instead
        await pilot.pause()
        result = screen.query_one("#result-pane")
        assert area.region.contains(result.region.x, result.region.y)
        await pilot.press("escape", "down")  # the escalated ask: its second attempt has a diff
        await wait_until(pilot, lambda: screen.shown is not None and screen.shown.task == ADD_TASK
                         and screen.active_attempt == 2)
        await pilot.press("4")
        await pilot.pause()
        diff = screen.query_one("#diff-title")
        assert diff.display and area.region.contains(diff.region.x, diff.region.y)
