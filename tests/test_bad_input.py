"""Every bad input is a clean error: exit 2, one line per problem, no traceback, nothing stored;
and text that is stored anyway is never printed raw to the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dse_tui.engine.limits import MAX_BEHAVIORS, MAX_JSON_DEPTH, MAX_YAML_NODES

from helpers import ADD_CODE, ADD_SPEC
from test_cli import assert_bad_input, dse, store_count, write

ALIAS_BOMB = """\
function: add
description: Add two numbers
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
behaviors:
  - behavior: adds
    given: {a: *i, b: 1}
    then: {result_equals: 2}
"""


def dse_bytes(home: Path, *args: bytes | str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`dse` with raw argv bytes (what a shell passes for invalid UTF-8)."""
    argv = [a if isinstance(a, bytes) else a.encode() for a in args]
    env = {**os.environb, b"DSE_HOME": str(home).encode()}
    return subprocess.run([sys.executable.encode(), b"-m", b"dse_tui", *argv], capture_output=True, env=env,
                          timeout=timeout)


def stderr_lines(proc) -> list[str]:
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    return err.strip().splitlines()


def test_a_yaml_alias_bomb_is_refused_at_once_with_the_limit_named(starter_home, tmp_path):
    before = store_count(starter_home)
    started = time.monotonic()
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "bomb.yaml", ALIAS_BOMB))
    assert time.monotonic() - started < 20  # it used to run for over a minute of CPU
    assert_bad_input(proc, f"expands to more than {MAX_YAML_NODES} values through YAML aliases")
    assert store_count(starter_home) == before


def test_deep_yaml_nesting_is_refused(starter_home, tmp_path):
    deep = "function: add\ndescription: x\nbehaviors:\n  - behavior: b\n    given: {a: " + "[" * 5000 + "]" * 5000 + "}\n    then: {result_equals: 1}\n"
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "deep.yaml", deep))
    assert_bad_input(proc, "nested more than 64 levels deep; the limit is 64")


def test_deep_json_input_is_refused_without_a_recursion_error(starter_home):
    proc = dse(starter_home, "run", "sort_list", "--input", '{"items": ' + "[" * 60000 + "]" * 60000 + "}")
    assert_bad_input(proc, f"--input: JSON nested 60001 levels deep; the limit is {MAX_JSON_DEPTH}")


def test_huge_json_input_is_refused(starter_home, tmp_path):
    text = json.dumps({"items": list(range(300_000))})
    big = write(tmp_path, "big.json", text)  # too long for a command line itself
    proc = dse(starter_home, "run", "sort_list", "--input", f"@{big}")
    assert_bad_input(proc, f"--input: {len(text)} bytes of JSON; the limit is 1000000")
    small = write(tmp_path, "small.json", '{"items": [3, 1, 2]}')
    ran = dse(starter_home, "run", "sort_list", "--input", f"@{small}", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["result"] == [1, 2, 3]


def test_too_many_behaviours_are_refused_with_the_limit_named(starter_home, tmp_path):
    def spec(n: int) -> str:
        lines = ["function: add", "description: add", "behaviors:"]
        return "\n".join(lines + [f"- {{behavior: b{i}, then: {{raises: E}}}}" for i in range(n)])

    code = write(tmp_path, "a.py", ADD_CODE)
    proc = dse(starter_home, "add", code, "--spec", write(tmp_path, "some.yaml", spec(MAX_BEHAVIORS + 100)))
    assert_bad_input(proc, f"{MAX_BEHAVIORS + 100} behaviours; the limit is {MAX_BEHAVIORS} per spec")
    started = time.monotonic()  # 20,000 used to run 10 s and then blame the code for its output
    proc = dse(starter_home, "add", code, "--spec", write(tmp_path, "many.yaml", spec(20_000)))
    assert time.monotonic() - started < 30
    assert_bad_input(proc, "the limit is")


def test_every_spec_problem_is_listed_one_line_each_with_did_you_mean(starter_home, tmp_path):
    spec = """\
function: not an identifier
descripton: typo at the top
behaviors:
  - behavior: first
    given: {a: 1}
    then: {result_equal: 1}
  - behavior: second
    given: {a: 1}
    then: {raises: ValueError, execution_time: soon}
"""
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "s.yaml", spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = stderr_lines(proc)
    assert all(line.startswith("dse: error: ") for line in lines)
    text = "\n".join(lines)
    assert "unknown key 'descripton' (did you mean 'description'?" in text
    assert "'function' must name the entry function" in text
    assert "unknown expectation 'result_equal' (did you mean 'result_equals'?" in text
    assert 'execution_time takes a limit such as "< 200ms"' in text
    assert len(lines) >= 5  # description missing too


def test_invalid_utf8_in_a_query_or_task_is_refused_with_the_field_named(starter_home, tmp_path):
    proc = dse_bytes(starter_home, "find", b"sort \xff numbers")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert stderr_lines(proc) == ["dse: error: the query: not valid UTF-8 (byte 0xff at character 6)"]
    spec = write(tmp_path, "add.yaml", ADD_SPEC)
    proc = dse_bytes(starter_home, "ask", b"Write add(a, b) \xc3", "--spec", spec)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert stderr_lines(proc) == ["dse: error: the task: not valid UTF-8 (byte 0xc3 at character 17)"]


def test_a_lone_surrogate_in_a_spec_is_refused(starter_home, tmp_path):
    spec = ADD_SPEC.replace("description: Add two numbers and return their sum", 'description: "sum \\ud800 of two"')
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "s.yaml", spec))
    assert_bad_input(proc, "description: contains a lone surrogate U+D800")


def test_an_invalid_utf8_spec_file_is_refused(starter_home, tmp_path):
    raw = ADD_SPEC.replace("Add two numbers", "Add two \udcff numbers").encode("utf-8", "surrogateescape")
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "s.yaml", raw))
    assert_bad_input(proc, "spec is not UTF-8 text")


@pytest.mark.parametrize("name", ["two\nlines", "esc\x1b[2Jape", "bidi\u202eevil", "bell\x07"])
def test_control_characters_in_a_name_are_refused(starter_home, tmp_path, name):
    before = store_count(starter_home)
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "s.yaml", ADD_SPEC),
               "--name", name)
    assert_bad_input(proc, "artifact name: contains the control character")
    assert store_count(starter_home) == before


def test_nul_and_escapes_in_spec_names_and_tags_are_refused(starter_home, tmp_path):
    spec = ADD_SPEC.replace("function: add\n", 'function: add\nname: "add\\0"\ntags: ["ok", "bad\\e[31m"]\n').replace(
        "behavior: adds small numbers", 'behavior: "adds \\e]0;owned\\a small"')
    proc = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE), "--spec", write(tmp_path, "s.yaml", spec))
    assert proc.returncode == 2
    text = proc.stderr
    assert "name: contains a NUL character" in text
    assert "tags.1: contains the control character U+001B" in text
    assert "behaviors.0.behavior: contains the control character U+001B" in text


def test_control_characters_in_a_description_are_stored_but_never_printed_raw(starter_home, tmp_path):
    spec = ADD_SPEC.replace("description: Add two numbers and return their sum",
                            'description: "Add two numbers \\e[2J\\e]0;owned\\a and return their sum"')
    ok = dse(starter_home, "add", write(tmp_path, "a.py", ADD_CODE + "# \x1b[31m red\n"), "--spec",
             write(tmp_path, "s.yaml", spec), "--name", "add_escaped")
    assert ok.returncode == 0, ok.stderr
    for args in (("show", "add_escaped"), ("list", "--limit", "100"), ("find", "add two numbers")):
        proc = dse(starter_home, *args)
        assert proc.returncode == 0, proc.stderr
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout, args
    shown = dse(starter_home, "show", "add_escaped").stdout
    assert "\\x1b[2J" in shown and "\\x1b[31m" in shown  # visible, not acted on
    stored = json.loads(dse(starter_home, "show", "add_escaped", "--json").stdout)
    assert "\x1b[2J" in stored["description"]  # the data itself is kept exactly
