"""What every `dse` command prints with: JSON, Rich on a terminal, uncut text in a pipe, and
the one way a command opens the engine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# Output to a pipe or a file is never cut: names, ids and code get pasted back.
PIPE_WIDTH = 10_000


def _to_terminal() -> bool:
    return sys.stdout.isatty()


def _console():
    from rich.console import Console

    if _to_terminal():
        return Console(highlight=False)
    return Console(highlight=False, width=PIPE_WIDTH, no_color=True, color_system=None, soft_wrap=True)


def _heading(console, title: str) -> None:
    """A section heading: a rule across a terminal, a short line in a pipe."""
    if _to_terminal():
        from rich.markup import escape

        console.rule(escape(title), align="left")
    else:
        console.print(f"-- {title} --", markup=False)


def _table(*headers: str, title: str | None = None):
    """A listing: no outer edge (room at 80 columns), a rule under the header."""
    from rich import box
    from rich.table import Table

    return Table(*headers, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def _hanging(console, label: str, text: str, *, width: int = 9, markup: bool = True) -> None:
    """`label` then `text`, whose wrapped lines stay under its first (a hanging indent)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, min_width=width)
    grid.add_column()
    grid.add_row(Text(label), Text.from_markup(text) if markup else Text(text))
    console.print(grid)


def _print_listing(console, table, keys: tuple[str, ...] = ("name", "id")) -> None:
    """Every column but the last (names, ids and short figures a user may paste back) is
    never wrapped or cut; on a terminal the last one (a description: `show` has it whole)
    takes the room that is left, on one line, cut with an ellipsis. A terminal too narrow for
    that gets each row as lines of its own: the `keys` first, the rest below them."""
    from rich.text import Text

    *fixed, last = table.columns
    for col in fixed:
        col.no_wrap = True
        col.width = max(Text.from_markup(str(c)).cell_len for c in [col.header, *col._cells])
    if not _to_terminal():
        with console.capture() as captured:
            console.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        return
    used = sum(col.width or 0 for col in fixed) + 3 * len(fixed)  # padding and divider per column
    if console.width - used >= 12:
        last.no_wrap, last.overflow, last.width = True, "ellipsis", console.width - used
        console.print(table)
        return
    if table.title:
        console.print(table.title, markup=False)
    for row in range(table.row_count):
        cells = {str(col.header): str(col._cells[row]) for col in table.columns}
        console.print("  ".join(cells.pop(k) for k in keys if k in cells))
        console.print("  " + " · ".join(f"{h} {v}" for h, v in cells.items() if h != str(last.header)), overflow="fold")
        console.print("  " + cells.get(str(last.header), ""), no_wrap=True, overflow="ellipsis")


def _e(value: Any) -> str:
    """Stored text (tasks, names, model replies, error messages) shown inside Rich markup:
    a `[/x]` in it must print as written, not be read as a tag, and a control character
    (an ESC sequence) as a visible escape, never acted on by the terminal."""
    from rich.markup import escape

    return escape(_v(value))


def _v(value: Any) -> str:
    """Stored text printed without markup: control characters made visible."""
    from dse_tui.engine.display import visible

    return visible(str(value))


def _open_engine(args: argparse.Namespace, *, starter: bool = True):
    from dse_tui.engine.facade import Engine

    engine = Engine(args.home, one_shot=True)
    if starter:

        def progress(event) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\rimporting starter library {event.done}/{event.total} ")
                sys.stderr.flush()

        if engine.ensure_starter_library(progress) and sys.stderr.isatty():
            sys.stderr.write("\n")
    return engine
