"""The help overlay: what each key does, the shown screen's own keys first.

F1 or `?` opens it over any screen and closes it again, as does Esc. The rows come from the
bindings active under it, so a key remapped in keymap.yaml shows as remapped; keys without a
DSE id (a table's cursor keys) are left to the widgets' own conventions.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


class KeyRow(NamedTuple):
    id: str
    keys: str
    name: str
    what: str


def key_rows(screen: Screen) -> tuple[list[KeyRow], list[KeyRow]]:
    """(the screen's keys, the app's keys) active on `screen`, one row per binding id."""
    app = screen.app
    found: dict[str, tuple[bool, list[str], Binding]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id or not active.enabled:
            continue
        shown = app.get_key_display(Binding(key, binding.action))
        entry = found.setdefault(binding.id, (active.node is app, [], binding))
        if shown not in entry[1]:
            entry[1].append(shown)
    own: list[KeyRow] = []
    shared: list[KeyRow] = []
    jumps: dict[str, list[tuple[str, str]]] = {}  # "library" -> [(key, section)]: one row for all
    for binding_id, (is_app, keys, binding) in found.items():
        area, _, name = binding_id.partition(".")
        if name.startswith("jump_"):
            if area not in jumps:
                own.append(KeyRow(f"{area}.jump", "", "Jump", ""))
            jumps.setdefault(area, []).append((" ".join(keys), binding.description.lower()))
            continue
        row = KeyRow(binding_id, " ".join(keys), binding.description, binding.tooltip or "")
        (shared if is_app else own).append(row)
    for i, row in enumerate(own):
        if row.id.endswith(".jump") and row.id[: -len(".jump")] in jumps:
            pairs = jumps[row.id[: -len(".jump")]]
            own[i] = row._replace(keys=" ".join(k for k, _ in pairs),
                                  what="to the " + ", ".join(f"{what} ({k})" for k, what in pairs))
    return own, shared


def key_display(screen: Screen, binding_id: str) -> str:
    """The key(s) bound to `binding_id` on `screen`, as the help shows them ('' if none)."""
    own, shared = key_rows(screen)
    return next((row.keys for row in [*own, *shared] if row.id == binding_id), "")


def _rows(rows: list[KeyRow], widths: tuple[int, int]) -> ComposeResult:
    """A group of keys, one row each: key, name, and what it does wrapping in its own column;
    every group gets the same column widths, so that they line up."""
    for row in rows:
        with Horizontal(classes="help-row"):
            key = Static(row.keys, classes="help-key", markup=False)
            key.styles.width = widths[0] + 2
            yield key
            name = Static(row.name, classes="help-name", markup=False)
            name.styles.width = widths[1] + 2
            yield name
            yield Static(row.what, classes="help-what", markup=False)


class HelpScreen(ModalScreen[None]):
    """Keys of the screen below, then the keys that work everywhere."""

    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape,f1,question_mark,q", "close", "Close", id="help.close", tooltip="Close this help"),
    ]

    def __init__(self, title: str, own: list[KeyRow], shared: list[KeyRow]) -> None:
        super().__init__()
        self.title_text = title
        self.own = own
        self.shared = shared

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-panel"):
            yield Static(f"Keys: {self.title_text}", id="help-title")
            rows = [*self.own, *self.shared]
            widths = (max(len(r.keys) for r in rows), max(len(r.name) for r in rows))
            yield from _rows(self.own, widths)
            yield Static("Everywhere", classes="help-heading")
            yield from _rows(self.shared, widths)
            yield Static("Ctrl+P opens the command palette: every command, with its key.  Esc, F1 or ? closes this.",
                         classes="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)
