"""Snapshots of the Library at 100x30 and 80x24 on a fixed, deterministic home.

The home holds three small artifacts stored with fixed ids; the status line's
sandbox is a stand-in so the picture does not depend on the machine; nothing
shown comes from a clock. Regenerate with `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from dse_tui.app import DSEApp
from test_library_screen import THIN_CODE, THIN_SPEC, TOOL_CODE, TOOL_SPEC, detail_text, opened, wait_until

# No time limits in these specs: every check is far inside the default budget, so quality is stable.
CLAMP_SPEC = """\
function: clamp_value
description: Keep a number between a lower and an upper bound
tags: [math, numbers]
behaviors:
  - behavior: keeps a number inside the range
    given: {x: 5, low: 0, high: 10}
    then: {result_equals: 5}
  - behavior: raises a number below the range to the lower bound
    given: {x: -3, low: 0, high: 10}
    then: {result_equals: 0}
  - behavior: lowers a number above the range to the upper bound
    given: {x: 42, low: 0, high: 10}
    then: {result_equals: 10}
  - behavior: rejects an empty range
    given: {x: 1, low: 5, high: 0}
    then: {raises: ValueError}
"""
CLAMP_CODE = """\
def clamp_value(x, low, high):
    # clamp x into [low, high]
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(x, high))
"""


class StandInSandbox:
    def __init__(self, strength: str) -> None:
        self.name, self.strength = "test-sandbox", strength

    def describe(self) -> str:
        return "a stand-in for snapshots"


@pytest.fixture
def snapshot_home(tmp_path, embedder, monkeypatch):
    from dse_tui.engine.facade import Engine

    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=(next(counter) * 0x1111_1111) << 96))
    home = tmp_path / "snapshot_home"
    engine = Engine(home, embedder=embedder)
    for code, spec in ((CLAMP_CODE, CLAMP_SPEC), (THIN_CODE, THIN_SPEC), (TOOL_CODE, TOOL_SPEC)):
        engine.store_artifact(code, spec)
    engine.close()
    return home


def make_app(home, embedder, strength: str) -> DSEApp:
    from dse_tui.engine.facade import Engine

    engine = Engine(home, embedder=embedder, sandbox=StandInSandbox(strength))
    return DSEApp(engine=engine, import_starter=False)


async def settled(pilot) -> None:
    await opened(pilot)
    await wait_until(pilot, lambda: "recent runs" in detail_text(pilot.app))
    await pilot.pause(0.1)


def test_library_100x30(snap_compare, snapshot_home, embedder):
    app = make_app(snapshot_home, embedder, "strong")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settled)


def test_library_80x24_weak_sandbox(snap_compare, snapshot_home, embedder):
    app = make_app(snapshot_home, embedder, "weak")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)


def test_library_80x24_linux_console_with_help_open(snap_compare, snapshot_home, embedder, monkeypatch):
    monkeypatch.setenv("DSE_GLYPHS", "ascii")
    app = make_app(snapshot_home, embedder, "strong")

    async def with_help(pilot) -> None:
        from dse_tui.screens.help import HelpScreen

        await settled(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=with_help)
