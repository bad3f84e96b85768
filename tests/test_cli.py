"""The CLI contract: --json everywhere; exit 0 yes, 1 no, 2 bad input with one line and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ADD_CODE, ADD_SPEC, SORT_CODE, SORT_CODE_WRONG, SORT_SPEC


def dse(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "dse_tui", *args], capture_output=True, text=True, env=env, timeout=timeout)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def store_count(home: Path) -> int:
    return len(json.loads(dse(home, "list", "--json", "--limit", "1000").stdout))


def assert_bad_input(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: error: "), proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_find_puts_the_sorting_artifact_first(starter_home):
    proc = dse(starter_home, "find", "order a list of numbers", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert hits[0]["name"] == "sort_list"
    assert {"id", "name", "quality_score", "similarity"} <= set(hits[0])


def test_add_stores_correct_code_and_refuses_failing_code(starter_home, tmp_path):
    before = store_count(starter_home)
    ok = dse(starter_home, "add", write(tmp_path, "s.py", SORT_CODE), "--spec", write(tmp_path, "s.yaml", SORT_SPEC), "--json", "--tags", "demo")
    assert ok.returncode == 0, ok.stderr
    stored = json.loads(ok.stdout)
    assert stored["name"] == "sort_numbers" and "demo" in stored["tags"]
    assert 0 < stored["quality_score"] <= 1 and stored["test_results"]["all_passed"]
    assert store_count(starter_home) == before + 1

    bad = dse(starter_home, "add", write(tmp_path, "w.py", SORT_CODE_WRONG), "--spec", write(tmp_path, "s.yaml", SORT_SPEC), "--json", "--name", "wrong_sort")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert [f["name"] for f in report["failures"]] == ["rejects None"]
    assert "expected TypeError to be raised" in report["failures"][0]["message"]
    assert store_count(starter_home) == before + 1


def test_run_prints_result_time_and_memory(starter_home):
    proc = dse(starter_home, "run", "sort_list", "--input", '{"items": [3, 1]}', "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"] == [1, 3] and out["success"] is True
    assert out["execution_time_ms"] >= 0 and out["memory_mb"] > 0
    shown = json.loads(dse(starter_home, "show", "sort_list", "--json").stdout)
    assert shown["usage_count"] == 1


def test_a_failing_run_exits_1(starter_home):
    proc = dse(starter_home, "run", "sort_list", "--input", '{"items": null}', "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["success"] is False


def test_list_show_and_unknown(starter_home):
    listing = json.loads(dse(starter_home, "list", "--json").stdout)
    assert len(listing) >= 25 and {"id", "name", "quality_score"} <= set(listing[0])
    assert dse(starter_home, "show", "no_such_artifact").returncode == 1


def test_doctor_reports_sandbox_embedder_store_and_tiers(starter_home):
    report = json.loads(dse(starter_home, "doctor", "--json").stdout)
    assert report["sandbox"]["selected"] in {"bwrap", "native", "none"}
    assert report["embedder"]["dim"] == 384
    assert report["store"]["count"] >= 25
    assert [t["name"] for t in report["llm"]["tiers"]][:3] == ["fast", "balanced", "powerful"]


@pytest.mark.parametrize(
    "files, fragment",
    [
        ({"c.py": ADD_CODE, "s.yaml": "function: add\nbehaviors: [\n"}, "malformed YAML"),
        ({"c.py": ADD_CODE, "s.yaml": ADD_SPEC.replace("function: add", "function: plus")}, "defines no function 'plus'"),
        ({"c.py": b"def add(a, b):\n    return a + b  # \xff\xfe\n", "s.yaml": ADD_SPEC}, "not UTF-8"),
        ({"c.py": "def add(a, b)\n    return a + b\n", "s.yaml": ADD_SPEC}, "syntax error"),
        ({"c.py": ADD_CODE, "s.yaml": ADD_SPEC.replace("Add two numbers and return their sum", "x" * 10_000_000)}, "the limit is"),
        ({"c.py": ADD_CODE, "s.yaml": ADD_SPEC.replace("result_equals: 5", "result_equal: 5")}, "unknown expectation"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_stores_nothing(starter_home, tmp_path, files, fragment):
    before = store_count(starter_home)
    paths = {name: write(tmp_path, name, text) for name, text in files.items()}
    assert_bad_input(dse(starter_home, "add", paths["c.py"], "--spec", paths["s.yaml"]), fragment)
    assert store_count(starter_home) == before


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["find", ""], "query is empty"),
        (["find", "   "], "query is empty"),
        (["find", "x" * 5000], "the limit is"),
        (["run", "sort_list", "--input", "{not json"], "not valid JSON"),
        (["run", "sort_list", "--input", "[1, 2]"], "must be a JSON object"),
        (["find", "q", "--min-quality", "7"], "between 0 and 1"),
        (["add", "missing.py", "--spec", "missing.yaml"], "cannot read spec"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments(starter_home, args, fragment):
    assert_bad_input(dse(starter_home, *args), fragment)


def test_json_error_shape(starter_home):
    proc = dse(starter_home, "find", "", "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout) == {"error": "the query is empty"}


def test_stored_text_that_looks_like_markup_prints_as_written(tmp_path):
    from dse_tui.engine.facade import Engine

    home = tmp_path / "home"
    engine = Engine(home)
    tid = engine.transcripts.start("quote [/quote] and [bold]x", ADD_SPEC)
    engine.transcripts.finish(tid, "failed", reason="no tier [/red] left")
    engine.close()
    listing = dse(home, "transcripts")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr and "[/quote]" in listing.stdout
    detail = dse(home, "transcripts", tid)
    assert detail.returncode == 0 and "[bold]x" in detail.stdout and "no tier [/red] left" in detail.stdout


def test_plain_ask_says_where_the_climb_started_and_why(tmp_path, monkeypatch, capsys):
    from dse_tui.cli import main

    models = tmp_path / "models.yaml"
    models.write_text(
        "tiers:\n  - name: fast\n    provider: scripted\n    model: s\n"
        "    options: {replies: [\"```python\\ndef add(a, b):\\n    return a + b\\n```\"]}\n"
    )
    monkeypatch.setenv("DSE_MODELS_FILE", str(models))
    spec = write(tmp_path, "add.yaml", ADD_SPEC)
    assert main(["--home", str(tmp_path / "home"), "ask", "Write add(a, b) returning the sum", "--spec", spec]) == 0
    out = capsys.readouterr().out
    assert "start tier: fast (no similar solved task yet: the bottom of the ladder)" in out
    assert "generated add" in out


# -- output a user pastes back: never cut -----------------------------------------------------

LONG_NAME = "count_distinct_characters_ignoring_case_and_spaces"
LONG_CODE = f'''\
def {LONG_NAME}(text):
    """Count the distinct characters of a text, ignoring case and spaces; a deliberately long line follows."""
    letters = {{c.lower() for c in text if not c.isspace()}}  # {"padding " * 12}
    return len(letters)
'''
LONG_SPEC = f"""\
function: {LONG_NAME}
description: Count the distinct characters of a text ignoring case and spaces, a description long enough to be cut
behaviors:
  - behavior: counts distinct letters
    given: {{text: "Aa b"}}
    then: {{result_equals: 2}}
  - behavior: empty text has none
    given: {{text: ""}}
    then: {{result_equals: 0}}
"""


def on_a_terminal(home: Path, *args: str, columns: int = 80) -> str:
    """`dse ARGS` with a pseudo-terminal as stdout, COLUMNS wide: what a user sees."""
    import pty
    import re

    master, slave = pty.openpty()
    env = {**os.environ, "DSE_HOME": str(home), "COLUMNS": str(columns), "TERM": "linux"}
    proc = subprocess.Popen([sys.executable, "-m", "dse_tui", *args], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode()).replace("\r", "")


@pytest.fixture
def long_home(starter_home, tmp_path):
    added = dse(starter_home, "add", write(tmp_path, "long.py", LONG_CODE), "--spec", write(tmp_path, "long.yaml", LONG_SPEC), "--json")
    assert added.returncode == 0, added.stderr
    return starter_home, json.loads(added.stdout)["id"]


@pytest.mark.parametrize("columns", [80, 50])
def test_names_and_ids_are_whole_on_an_80_column_terminal(long_home, columns):
    home, artifact_id = long_home
    listing = on_a_terminal(home, "list", "--order", "name", "--limit", "100", columns=columns)
    found = on_a_terminal(home, "find", "how many different characters are in a text", columns=columns)
    for out in (listing, found):
        assert LONG_NAME in out and artifact_id[:12] in out, out
        assert all(len(line) <= columns for line in out.splitlines()), out
    assert "sort_list" in listing and "add_business_days" in listing


def test_in_a_pipe_nothing_is_cut_and_nothing_is_coloured(long_home):
    home, artifact_id = long_home
    env_columns = {"COLUMNS": "40"}
    listing = subprocess.run([sys.executable, "-m", "dse_tui", "list", "--limit", "100"], capture_output=True,
                             text=True, env={**os.environ, "DSE_HOME": str(home), **env_columns}, timeout=120)
    assert listing.returncode == 0 and "\x1b[" not in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if LONG_NAME in line)
    assert artifact_id[:12] in row and "a description long enough to be cut" in row  # one line, whole
    shown = dse(home, "show", LONG_NAME)
    assert "\x1b[" not in shown.stdout and "padding " * 12 in shown.stdout  # the long code line, whole
    for section in ("-- proof --", "-- code --", "-- spec --", "-- provenance --"):
        assert section in shown.stdout


def test_show_code_gives_code_that_passes_its_spec_when_added_back(long_home, tmp_path):
    home, _ = long_home
    proc = dse(home, "show", "--code", LONG_NAME)
    assert proc.returncode == 0 and proc.stdout == LONG_CODE
    copied = tmp_path / "copied.py"
    copied.write_text(proc.stdout)
    again = dse(home, "add", str(copied), "--spec", write(tmp_path, "again.yaml", LONG_SPEC), "--name", "copied_back", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["test_results"]["all_passed"]


def test_a_transcript_is_found_by_any_unique_prefix_and_wildcards_are_characters(tmp_path):
    from dse_tui.engine.facade import Engine

    home = tmp_path / "home"
    engine = Engine(str(home))
    first = engine.transcripts.start("sort a list", "spec: 1")
    second = engine.transcripts.start("reverse a list", "spec: 2")
    engine.close()
    short = first[: max(len(os.path.commonprefix([first, second])) + 1, 4)]
    proc = dse(home, "transcripts", short, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["id"] == first
    assert dse(home, "transcripts", "%%%%").returncode == 1  # LIKE's wildcard is only a character
    assert dse(home, "transcripts", first[:3]).returncode == 1  # too short to mean one
