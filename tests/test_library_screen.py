"""Pilot tests of the Library screen against a real engine on a temporary home."""

from __future__ import annotations

import asyncio
import json

import pytest
from textual.widgets import DataTable, Input, Label, Select, Static

from dse_tui.app import DSEApp
from dse_tui.screens.library import LibraryScreen
from dse_tui.screens.widgets.detail import ArtifactDetail

SIZE = (100, 30)

# A deliberately thin spec: no edge-case probes (robustness 0) and an untested branch, so quality < 0.9.
THIN_SPEC = """\
function: shout
description: Upper-case a greeting and add an exclamation mark
tags: [text, greeting]
behaviors:
  - behavior: shouts hello
    given: {text: hello}
    then: {result_equals: "HELLO!"}
"""
THIN_CODE = """\
def shout(text):
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    return text.upper() + "!"
"""

TOOL_SPEC = """\
function: word_lengths
type: TOOL
description: Map each word of a sentence to its length
tags: [text, words]
behaviors:
  - behavior: measures each word
    given: {text: "a bb ccc"}
    then: {result_equals: {"a": 1, "bb": 2, "ccc": 3}}
  - behavior: handles empty text
    given: {text: ""}
    then: {result_equals: {}}
"""
TOOL_CODE = "def word_lengths(text):\n    return {w: len(w) for w in text.split()}\n"


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    """Let workers finish: poll `condition` between frames."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def table(app) -> DataTable:
    return app.screen.query_one("#artifacts", DataTable)


def names(app) -> list[str]:
    t = table(app)
    return [str(t.get_row_at(i)[0]) for i in range(t.row_count)]


def pager(app) -> str:
    return str(app.screen.query_one("#pager", Label).content)


def detail_text(app) -> str:
    detail = app.screen.query_one(ArtifactDetail)
    parts = []
    for static in detail.query(Static):
        content = static.content
        parts.append(content.code if hasattr(content, "code") else str(content))
    return "\n".join(parts)


async def opened(pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.engine is not None and pager(pilot.app).startswith("rows"))


async def search(pilot, text: str) -> None:
    await pilot.press("escape", "slash")  # from anywhere: back to the table, then to the search field
    await pilot.press(*text)
    await wait_until(pilot, lambda: "for “" in pager(pilot.app) and pilot.app.screen.query_text == text)


async def test_search_by_meaning_puts_the_best_match_first(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "order a list of numbers")
        assert names(app)[0] == "sort_list"
        assert app.screen.selected.name == "sort_list"
        # Emptying the search returns to the paged list.
        app.screen.query_one("#search", Input).value = ""
        await wait_until(pilot, lambda: pager(app).startswith("rows 1–"))
        assert len(names(app)) == library_engine.count_artifacts()


async def test_filters_reduce_rows(library_engine):
    library_engine.store_artifact(THIN_CODE, THIN_SPEC)
    library_engine.store_artifact(TOOL_CODE, TOOL_SPEC)
    shout = library_engine.resolve("shout")
    assert shout.quality_score < 0.9  # the premise of the min-quality check
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        everything = names(app)
        assert {"shout", "word_lengths"} <= set(everything)

        app.screen.query_one("#min-quality", Select).value = 0.9
        await wait_until(pilot, lambda: "shout" not in names(app) and pager(app).startswith("rows"))
        assert len(names(app)) == library_engine.count_artifacts(min_quality=0.9) == len(everything) - 1

        app.screen.query_one("#type", Select).value = "TOOL"
        await wait_until(pilot, lambda: names(app) == ["word_lengths"])
        assert pager(app) == "rows 1–1 of 1 · by name"

        app.screen.query_one("#min-quality", Select).value = 0.0
        app.screen.query_one("#type", Select).value = ""
        await pilot.click("#tags")
        await pilot.press(*"text")
        expected = sorted(a.name for a in library_engine.list_artifacts(limit=100, tags=["text"], order="name"))
        await wait_until(pilot, lambda: sorted(names(app)) == expected)
        assert "shout" in expected and "sort_list" not in expected

        # Filters also narrow a search.
        await search(pilot, "greeting")
        assert set(names(app)) <= set(expected)


async def test_highlighting_a_row_shows_code_checks_and_quality(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        assert app.focused is table(app)
        await pilot.press(*["down"] * names(app).index("sort_list"))
        await wait_until(pilot, lambda: detail_text(app).startswith("sort_list") and "recent runs" in detail_text(app))
        text = detail_text(app)
        assert "def sort_list(items):" in text
        assert "✓ orders a list of numbers from smallest to largest" in text
        assert "function: sort_list" in text  # the spec
        assert "0.4·pass 1.00 + 0.3·coverage" in text
        assert "used 0×" in text and "lineage: v1" in text
        # The Run field suggests the spec's first example.
        assert app.screen.query_one("#run-args", Input).placeholder.endswith('e.g. {"items": [3, 1, 2]}')


async def test_run_shows_result_and_counts_usage(library_engine):
    before = library_engine.resolve("sort_list").usage_count
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "order a list of numbers")
        await pilot.press("escape", "r")
        assert app.focused.id == "run-args"
        await pilot.press(*json.dumps({"items": [3, 1, 2]}), "enter")
        result = app.screen.query_one("#run-result", Static)
        await wait_until(pilot, lambda: str(result.content).startswith("✓"))
        assert "sort_list → [1, 2, 3]" in str(result.content)
        assert library_engine.resolve("sort_list").usage_count == before + 1
        row = table(app).get_row("".join(library_engine.resolve("sort_list").id))
        assert row[2] == str(before + 1)
        assert f"used {before + 1}×" in detail_text(app)

        # A run that raises is shown as a failure, not a crash.
        app.screen.query_one("#run-args", Input).value = '{"items": null}'
        await pilot.press("enter")
        await wait_until(pilot, lambda: str(result.content).startswith("✗"))
        assert "TypeError" in str(result.content)


async def test_bad_json_is_a_notification(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("r", *"{items: [1]", "enter")
        await wait_until(pilot, lambda: len(app._notifications) > 0)
        note = list(app._notifications)[-1]
        assert note.severity == "error" and "Not valid JSON" in note.message
        await pilot.press("ctrl+a", "ctrl+k", *"[1, 2]", "enter")
        await wait_until(pilot, lambda: len(app._notifications) > 1)
        assert "JSON object" in list(app._notifications)[-1].message
        assert library_engine.resolve("sort_list").usage_count == 0  # nothing ran


async def test_paging_shows_one_page_at_a_time(library_engine, monkeypatch):
    monkeypatch.setattr(LibraryScreen, "PAGE_SIZE", 10)
    total = library_engine.count_artifacts()
    assert total > 20
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        first = names(app)
        assert len(first) == 10 and pager(app) == f"rows 1–10 of {total} · by name"
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: pager(app).startswith("rows 11–20"))
        second = names(app)
        assert len(second) == 10 and not set(first) & set(second)
        assert second == [a.name for a in library_engine.list_artifacts(offset=10, limit=10, order="name")]
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: pager(app).startswith("rows 1–10"))
        assert names(app) == first
        await pilot.press("left_square_bracket")  # no page before the first
        await pilot.pause(0.2)
        assert names(app) == first
        await pilot.press("o")
        await wait_until(pilot, lambda: pager(app).endswith("by quality"))


@pytest.mark.parametrize("size, stacked", [((80, 24), True), ((100, 30), False)])
async def test_layout_stacks_on_narrow_terminals(library_engine, size, stacked):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=size) as pilot:
        await opened(pilot)
        listing = app.screen.query_one("#list-pane").region
        detail = app.screen.query_one(ArtifactDetail).region
        assert app.screen.has_class("-narrow") is stacked
        if stacked:
            assert detail.y >= listing.bottom and detail.width == listing.width
        else:
            assert detail.x >= listing.right and detail.y == listing.y
        assert table(app).row_count > 0 and detail.height >= 5


async def test_engine_errors_in_screen_workers_become_notifications(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        app.screen.query_one("#search", Input).value = "x" * 4001  # longer than the engine accepts
        await wait_until(pilot, lambda: len(app._notifications) > 0)
        note = list(app._notifications)[-1]
        assert note.severity == "error" and note.title == "Could not search"
        assert "the limit is 4000" in note.message
        assert app.is_running


async def test_a_reload_keeps_the_place_in_search_results(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "order a list of numbers")
        await pilot.press("escape", "down", "down")
        third = names(app)[2]
        assert app.screen.selected.name == third
        await pilot.press("ctrl+p")  # a modal screen over the library: it resumes afterwards
        await pilot.press("escape")
        app.screen.reload()
        await pilot.pause(0.5)
        await wait_until(pilot, lambda: "close by meaning" in pager(app))
        assert app.screen.selected.name == third


async def test_a_search_that_nothing_fits_says_so(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "book a table at a restaurant for friday")
        await wait_until(pilot, lambda: "nothing in the library fits" in pager(app))
        assert names(app)  # the nearest are still listed, said to be not close
        await search(pilot, "order a list of numbers")
        await wait_until(pilot, lambda: "close by meaning" in pager(app))
        assert names(app)[0] == "sort_list"


async def test_moving_to_another_artifact_clears_the_last_run(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "order a list of numbers")
        await pilot.press("escape", "r", *json.dumps({"items": [2, 1]}), "enter")
        result = app.screen.query_one("#run-result", Static)
        await wait_until(pilot, lambda: str(result.content).startswith("✓"))
        await pilot.press("escape", "down")
        await wait_until(pilot, lambda: str(result.content) == "")
        assert app.screen.query_one("#run-args", Input).value == ""
        # filtering to nothing leaves no result of an artifact that is not listed
        await search(pilot, "sort")
        await pilot.press("escape", "r", *json.dumps({"items": [2, 1]}), "enter")
        await wait_until(pilot, lambda: str(result.content) != "")
        app.screen.query_one("#tags", Input).value = "no-such-tag-anywhere"
        await wait_until(pilot, lambda: not names(app))
        await wait_until(pilot, lambda: str(result.content) == "")


async def test_zoom_fills_the_screen_with_the_detail_and_esc_restores_it(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        detail = app.screen.query_one(ArtifactDetail)
        small = detail.size.height
        await pilot.press("z")
        await wait_until(pilot, lambda: app.screen.maximized is detail)
        await pilot.pause()
        assert detail.size.height > small and detail.size.width >= 78 and app.focused is detail
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.maximized is None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.screen.maximized is detail)
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.screen.maximized is None)


async def test_copy_sends_the_code_to_the_clipboard_and_save_never_overwrites(library_engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sort_list.py").write_text("# mine, not DSE's\n")
    app = DSEApp(engine=library_engine, import_starter=False)
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "order a list of numbers")
        await pilot.press("escape")
        stored = library_engine.resolve("sort_list").content
        await pilot.press("c")
        await wait_until(pilot, lambda: copied == [stored])
        await pilot.press("w")
        await wait_until(pilot, lambda: (tmp_path / "sort_list-2.py").exists())
    assert (tmp_path / "sort_list.py").read_text() == "# mine, not DSE's\n"
    assert (tmp_path / "sort_list-2.py").read_text() == stored if stored.endswith("\n") else stored + "\n"


def test_saved_code_is_named_from_safe_characters_only(tmp_path):
    from dse_tui.engine.library.files import save_code
    from dse_tui.store.records import Artifact, ArtifactType

    odd = Artifact(id="x" * 32, name="../../etc/passwd", type=ArtifactType.FUNCTION, description="d",
                   content="def f():\n    return 1", spec="", test_results={}, quality_score=1.0)
    path = save_code(odd, tmp_path)
    assert path.parent == tmp_path and path.name == "etc_passwd.py"
    assert path.read_text() == "def f():\n    return 1\n"
    assert save_code(odd, tmp_path).name == "etc_passwd-2.py"


async def test_search_results_page_like_the_list(library_engine, monkeypatch):
    monkeypatch.setattr(LibraryScreen, "PAGE_SIZE", 5)
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await search(pilot, "numbers in a list")
        await wait_until(pilot, lambda: "] for more" in pager(app))
        first = names(app)
        ranking = [m.artifact.name for m in library_engine.find_similar("numbers in a list", limit=11)]
        assert first == ranking[:5]
        await pilot.press("escape", "right_square_bracket")
        await wait_until(pilot, lambda: "results 6–10" in pager(app))
        assert names(app) == ranking[5:10] and not set(first) & set(names(app))
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: names(app) == first)


async def test_jump_keys_bring_a_section_of_the_detail_to_the_top(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        detail = app.screen.query_one(ArtifactDetail)
        for key, section in (("3", "spec"), ("2", "code"), ("4", "history"), ("1", "checks")):
            await pilot.press(key)
            await pilot.pause()
            title = detail.query_one(f"#section-{section}")
            assert app.focused is detail
            top = detail.content_region.y
            offset = title.region.y - top  # its margin may sit above it; the last can only rise as far as the end allows
            assert 0 <= offset <= 1 or (detail.scroll_y == detail.max_scroll_y and title.region.y < detail.region.bottom), (
                section, offset)
            await pilot.press("escape")


async def test_the_sorted_column_is_marked_and_a_header_click_sorts_by_it(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        t = table(app)
        labels = lambda: {str(k.value): str(c.label) for k, c in t.columns.items()}
        assert labels()["name"] == "Name▲" and labels()["quality"] == "Q"
        await pilot.press("o")
        await wait_until(pilot, lambda: pager(app).endswith("by quality"))
        assert labels()["quality"] == "Q▼" and labels()["name"] == "Name"
        uses = next(k for k in t.columns if k.value == "uses")
        t.post_message(DataTable.HeaderSelected(t, uses, 2, t.columns[uses].label))
        await wait_until(pilot, lambda: pager(app).endswith("by usage"))
        assert labels()["uses"] == "Uses▼"
        await search(pilot, "order a list of numbers")
        assert labels()["similarity"] == "Sim▼"  # search results are ranked by meaning


async def test_by_recent_the_artifact_just_run_moves_to_the_top(library_engine):
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        while app.screen.order != "recent":
            await pilot.press("o")
        await wait_until(pilot, lambda: pager(app).endswith("by recent"))
        third = names(app)[2]
        await pilot.press("down", "down")
        await wait_until(pilot, lambda: app.screen.selected is not None and app.screen.selected.name == third)
        await pilot.press("r", "enter")  # {} : a run that may fail is a use all the same for "recent"
        await wait_until(pilot, lambda: names(app)[0] == third)
