"""The TUI in a real terminal: tmux at 80x24 with TERM=linux, driven by keys, judged by the screen.

Each wait is a bounded poll for text on the captured screen, never a timing assertion. The
model is a loopback Ollama whose reply waits for the test, so "cancelling" must show while
the call is still out. `.ci/run` installs tmux where apt is available; elsewhere this skips.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes.ollama_server import FakeOllama
from helpers import ADD_CODE

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it where apt is available)"
)

TRIPLE_SPEC = """\
function: triple_it
description: Multiply a number by three
behaviors:
  - behavior: triples a number
    given: {n: 4}
    then: {result_equals: 12}
"""


class Terminal:
    """One tmux session on a private server socket."""

    def __init__(self, name: str) -> None:
        self.socket = f"dse-test-{os.getpid()}-{name}"
        self.name = name

    def tmux(self, *args: str, check: bool = False) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)
        return proc.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        line = "env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(command)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", line, check=True)
        self.tmux("set-option", "-g", "set-clipboard", "on")  # OSC 52 from the app lands in tmux's buffer

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def paste(self, text: str) -> None:
        """As a terminal pastes: bracketed, so an editor takes it verbatim."""
        self.tmux("set-buffer", "-b", "dse-paste", text)
        self.tmux("paste-buffer", "-p", "-b", "dse-paste", "-t", self.name)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", self.name, "-p")

    def wait_for(self, text: str, timeout: float = 30.0, absent: bool = False) -> str:
        end = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < end:
            shown = self.screen()
            if (text in shown) != absent:
                return shown
            time.sleep(0.05)
        raise AssertionError(f"{'still' if absent else 'never'} saw {text!r}; the screen:\n{shown}")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def slow_model():
    release, asked, answered = threading.Event(), threading.Event(), threading.Event()

    def reply(body: dict) -> str:
        asked.set()
        release.wait(60)
        answered.set()
        return f"```python\n{ADD_CODE}```"

    server = FakeOllama(models=["qwen2.5-coder:7b"], reply=reply).start()
    yield server, release, asked, answered
    release.set()
    server.stop()


def test_a_newcomer_at_80x24_on_the_linux_console(starter_home, tmp_path, slow_model):
    server, release, asked, answered = slow_model
    models = tmp_path / "models.yaml"
    models.write_text(
        "tiers:\n"
        "  - name: fast\n"
        "    provider: ollama\n"
        "    model: qwen2.5-coder:7b\n"
        "    timeout_s: 120\n"
        f"    options: {{host: '{server.url}'}}\n"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {
        "TERM": "linux",
        "DSE_HOME": str(starter_home),
        "DSE_MODELS_FILE": str(models),
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OLLAMA_HOST": server.url,
    }
    term = Terminal("newcomer")
    term.start(["sh", "-c", f"cd {shlex.quote(str(workdir))} && exec {shlex.quote(sys.executable)} -m dse_tui"], env)
    try:
        term.wait_for("rows 1", timeout=60)

        # help: F1 opens it, Esc closes it; ? toggles it too
        term.keys("F1")
        term.wait_for("Keys: Library")
        assert "Search by meaning" in term.screen()
        term.keys("Escape")
        term.wait_for("Keys: Library", absent=True)
        term.keys("?")
        term.wait_for("Keys: Library")
        term.keys("?")
        term.wait_for("Keys: Library", absent=True)

        # find, typed fast as a user does
        term.keys("/")
        term.type("order a list of numbers")
        term.keys("Enter")
        shown = term.wait_for("close by meaning")
        rows = [line for line in shown.splitlines() if line.startswith(" ") and "1.00" in line]
        assert rows and rows[0].split()[0] == "sort_list", shown

        # zoom the detail, then back
        term.keys("z")
        zoomed = term.wait_for("Checks")
        assert "Description" not in zoomed  # the list's header is gone: the detail fills the screen
        term.keys("Escape")
        term.wait_for("Description")

        # copy the code (OSC 52 reaches the terminal's clipboard) and save it
        term.keys("c")
        term.wait_for("Copied")
        deadline = time.monotonic() + 10
        while "def sort_list" not in term.tmux("show-buffer") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "def sort_list" in term.tmux("show-buffer")
        term.keys("w")
        term.wait_for("written to")
        assert "def sort_list" in (workdir / "sort_list.py").read_text()

        # run it
        term.keys("r")
        term.type('{"items": [3, 1, 2]}')
        term.keys("Enter")
        term.wait_for("[1, 2, 3]")
        assert "ok sort_list" in term.screen()  # TERM=linux: ASCII marks, not a check glyph

        # the Ask screen's example, as shipped, is served by reuse
        term.keys("F3")
        term.wait_for("Spec (YAML)")
        term.type("Write slugify(text) that turns a title into a URL slug")
        term.keys("C-r")
        term.wait_for("reused slugify", timeout=60)
        assert not asked.is_set()  # no model was called

        # a slow ask: "cancelling" shows while the model's call is still out
        term.keys("Tab", "Tab", "Tab", "Tab")  # task -> max tier -> budget -> Run -> the spec editor
        time.sleep(0.5)  # keys go to the focus of their time: let it arrive first (a settle, not a measure)
        term.keys("F7")  # select all
        term.paste(TRIPLE_SPEC)
        term.wait_for("1  function: triple_it")
        term.keys("C-r")
        assert asked.wait(60), term.screen()
        term.wait_for("running")
        term.keys("Escape")
        # the key is taken at once: "cancelling" shows, and as the call is free it is abandoned,
        # so the ask may already read "cancelled" by the next look; either way, in seconds, while
        # the model still has not answered
        term.wait_for("cancel", timeout=5)
        shown = term.wait_for("x cancelled", timeout=10)
        assert not answered.is_set(), shown
        release.set()
        short = re.search(r"transcript ([0-9a-f]{8})", shown)
        assert short, shown
        recorded = subprocess.run([sys.executable, "-m", "dse_tui", "transcripts", short.group(1), "--json"],
                                  capture_output=True, text=True, env={**os.environ, "DSE_HOME": str(starter_home)})
        (attempt,) = json.loads(recorded.stdout)["attempt_records"]
        assert "abandoned" in attempt["error"]
    finally:
        term.close()


@pytest.mark.parametrize("how", ["hangup", "sigterm"])
def test_closing_the_terminal_leaves_no_process_behind(starter_home, tmp_path, how):
    """The TUI's workers (the embedder's process, the warm sandbox) end with it: a dropped SSH
    session (the terminal hangs up) or a `kill`."""
    import psutil

    env = {"TERM": "linux", "DSE_HOME": str(starter_home), "HOME": str(tmp_path),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    term = Terminal(f"leftovers-{how}")
    term.start([sys.executable, "-m", "dse_tui"], env)
    try:
        term.wait_for("rows 1", timeout=60)
        term.keys("/")
        term.type("order a list of numbers")
        term.keys("Enter")
        term.wait_for("close by meaning")
        pane = psutil.Process(int(term.tmux("display", "-p", "-t", term.name, "#{pane_pid}").strip()))
        family = [pane, *pane.children(recursive=True)]
        commands = [" ".join(p.cmdline()) for p in family]
        assert any("embedder_worker" in c for c in commands), commands  # the model is not in the TUI
        # the embedder leads its own process group: only DSE itself can end it
        if how == "hangup":
            term.tmux("kill-session", "-t", term.name)
        else:
            pane.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        alive = family
        while alive and time.monotonic() < deadline:
            alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.05)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        term.close()
