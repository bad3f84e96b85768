"""The app shell: lazy start-up, status line, worker errors, palette, bindings."""

from __future__ import annotations

import subprocess
import sys

from textual.command import CommandPalette
from textual.widgets import Input, Static

from dse_tui.app import DSEApp
from dse_tui.screens.library import LibraryScreen
from test_library_screen import SIZE, opened, wait_until


class FixedSandbox:
    """Stands in for a weak sandbox in the status line; these tests run no code."""

    name = "rlimits"
    strength = "weak"

    def describe(self) -> str:
        return "resource limits only, no filesystem isolation"


def shown_text(app) -> str:
    """What the terminal shows, as plain text (from the screenshot the app renders)."""
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape(" ".join(re.findall(r">([^<>]+)</text>", svg))).replace("\xa0", " ")


def status_text(app) -> tuple[str, str]:
    main = app.screen.query_one("#status-main", Static)
    warning = app.screen.query_one("#status-warning", Static)
    return str(main.content), (str(warning.content) if warning.display else "")


def test_app_module_imports_no_engine_or_heavy_libraries():
    probe = (
        "import sys, dse_tui.app\n"
        "print(sorted(m for m in sys.modules if m.startswith('dse_tui.engine.facade') or m.startswith('dse_tui.store')"
        " or m.split('.')[0] in ('fastembed', 'onnxruntime', 'numpy', 'sqlite_vec', 'anthropic', 'ollama', 'llama_cpp')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


async def test_engine_opens_after_first_frame_and_imports_starter_library(tmp_home, embedder, monkeypatch):
    """A fresh home: the worker creates the engine and fills the library; progress shows meanwhile."""
    from dse_tui.engine.library import embedder as embedder_module

    # Share the session's loaded model; everything else (store, sandbox, import) is real.
    monkeypatch.setattr(embedder_module, "get_embedder", lambda *args, **kwargs: embedder)
    seen: list[str] = []
    app = DSEApp(tmp_home)
    async with app.run_test(size=SIZE) as pilot:
        assert app.engine is None  # first frame without an engine
        app.status_signal.subscribe(app, lambda status: seen.append(status.message), immediate=True)
        await wait_until(pilot, lambda: app.engine is not None, timeout=120)
        await opened(pilot)
        main, _ = status_text(app)
        assert "sandbox: " in main and "isolation" in main
        assert any(m.startswith("importing starter library") for m in seen)
        assert app.engine.count_artifacts() >= 28
    assert app.return_code in (0, None)


async def test_weak_sandbox_is_a_plain_warning(tmp_home, embedder):
    from dse_tui.engine.facade import Engine

    engine = Engine(tmp_home, embedder=embedder, sandbox=FixedSandbox())
    app = DSEApp(engine=engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.status.ready)
        main, warning = status_text(app)
        assert "sandbox: rlimits (weak isolation)" in main
        assert warning == "⚠ Untrusted code runs with WEAK isolation. Ctrl+P › app: sandbox for details."
        app.show_sandbox()  # what the palette's "app: sandbox" does
        await wait_until(pilot, lambda: len(app._notifications) > 0)
        note = list(app._notifications)[-1]
        assert note.severity == "warning" and "resource limits only, no filesystem isolation" in note.message
    engine.close()


async def test_a_failing_worker_becomes_an_error_notification(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    app = DSEApp(not_a_dir)  # Engine() cannot create its home here
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app._notifications) > 0)
        note = list(app._notifications)[0]
        assert note.severity == "error" and note.title == "Could not open the engine"
        await wait_until(pilot, lambda: "did not start" in status_text(app)[0])
        assert app.is_running  # a failure is shown, not fatal


async def test_low_resource_defaults(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        assert app.animation_level == "none"
        assert app.theme == "ansi-dark"
        assert app.current_mode == "library" and isinstance(app.screen, LibraryScreen)
        assert [i.cursor_blink for i in app.screen.query(Input)] == [False, False, False]


def test_every_binding_has_an_id_and_a_tooltip():
    for binding in [*DSEApp.BINDINGS, *LibraryScreen.BINDINGS]:
        assert binding.id and binding.tooltip, binding


async def test_keymap_remaps_a_binding_by_id(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False, keymap={"library.run": "ctrl+r"})
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r")
        assert app.focused.id == "artifacts"
        await pilot.press("ctrl+r")
        assert app.focused.id == "run-args"


async def test_palette_offers_the_screens_commands(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        titles = [c.title for c in app.screen.palette_commands()]
        assert titles[:3] == ["library: search", "library: run selected", "library: show detail"]
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"library: change order")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen))
        await wait_until(pilot, lambda: app.screen.order == "quality")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"library: search")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "search")


def test_keymap_file_is_read_from_the_config_dir(tmp_path, monkeypatch):
    from dse_tui.app import load_keymap

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_keymap() == {}
    (tmp_path / "dse").mkdir()
    (tmp_path / "dse" / "keymap.yaml").write_text("library.run: ctrl+r\napp.quit: ctrl+c\n")
    assert load_keymap() == {"library.run": "ctrl+r", "app.quit": "ctrl+c"}


async def test_a_dropped_ssh_connection_exits_cleanly(library_engine):
    import os
    import signal

    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        os.kill(os.getpid(), signal.SIGHUP)  # what the SSH daemon sends when the link drops
        await wait_until(pilot, lambda: app.return_code == 129)
    assert app.return_code == 129


async def test_the_footer_offers_the_other_screens_only(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        offered = lambda: {m for m in ("library", "ask", "transcripts") if app.check_action("switch_mode", (m,))}
        assert offered() == {"ask", "transcripts"}
        await pilot.press("f3")
        assert app.current_mode == "ask" and offered() == {"library", "transcripts"}


async def test_help_toggles_with_f1_and_question_mark_and_esc_closes_it(library_engine):
    from dse_tui.screens.help import HelpScreen

    app = DSEApp(engine=library_engine, import_starter=False, keymap={"library.order": "s"})
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        for opener, closer in (("f1", "f1"), ("question_mark", "question_mark"), ("f1", "escape"), ("question_mark", "f1")):
            await pilot.press(opener)
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            text = shown_text(app)
            own, shared = app.screen.own, app.screen.shared
            # the Library's own keys first, with what they do; a remapped key shows as remapped
            assert own and own[0].id.startswith("library.") and all(r.id.startswith("library.") for r in own)
            order = next(r for r in own if r.id == "library.order")
            assert order.keys == "s" and "Sort the list" in order.what
            assert {"app.keys", "app.quit"} <= {r.id for r in shared}
            assert "Search by meaning" in text and "Keys: Library" in text
            assert "1 2 3 4" in text  # the jump keys share one row
            assert app.screen.query(".help-heading")  # "Everywhere" follows (scrolled to at 80x24)
            await pilot.press(closer)
            await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen))
        # `?` typed into the search box is a character, not the help
        await pilot.press("slash", "question_mark")
        assert app.query_one("#search", Input).value == "?" and isinstance(app.screen, LibraryScreen)


async def test_palette_commands_show_their_keys(library_engine):
    from dse_tui.app import ScreenCommands

    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        provider = ScreenCommands(app.screen)
        helps = {c.title: provider._help(c) for c in provider._commands()}
        assert helps["library: search"].endswith("(/)")
        assert helps["library: next page"].endswith("(])")
        assert helps["app: keys"].endswith("(f1 ?)")
        assert helps["app: ask"].endswith("(f3)")


async def test_no_emoji_in_the_palette_and_toasts_stay_with_their_screen(library_engine):
    from textual.command import SearchIcon

    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await wait_until(pilot, lambda: all(i.icon == "›" for i in app.screen.query(SearchIcon)))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen))
        app.notify("something about the Library", timeout=30)
        await pilot.pause()
        assert len(app._notifications) == 1
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.current_mode == "ask")
        assert len(app._notifications) == 0
