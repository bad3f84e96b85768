"""The sandbox API: results, limits plumbing, selection. Hostile code: test_sandbox_containment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from dse_tui.engine import sandbox as sb
from dse_tui.engine.sandbox import Limits, SandboxUnavailable, available_sandboxes, select_sandbox


@pytest.fixture(params=sb.BACKENDS)
def box(request) -> sb.Sandbox:
    try:
        return select_sandbox(request.param)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))


def test_normal_run_returns_output_exit_code_and_usage(box):
    result = box.run("import sys\nprint('hello')\nprint('warn', file=sys.stderr)\nsum(range(10**6))")
    assert (result.ended, result.exit_code, result.signal) == ("exited", 0, None)
    assert result.stdout == b"hello\n"
    assert result.stderr == b"warn\n"
    assert result.backend == box.name
    assert result.wall_ms > 0 and result.cpu_ms > 0 and result.peak_memory_mb > 1


def test_stdin_is_delivered_and_exit_code_reported(box):
    code = "import json, sys\nd = json.load(sys.stdin)\nprint(d['a'] + d['b'])\nsys.exit(3)"
    result = box.run(code, stdin=json.dumps({"a": 2, "b": 40}).encode())
    assert result.stdout == b"42\n"
    assert (result.exit_code, result.ended) == (3, "exited")


def test_large_stdin_does_not_deadlock(box):
    payload = b"x" * 3_000_000  # far beyond a pipe buffer, while the child also writes
    result = box.run("import sys\nprint(len(sys.stdin.buffer.read()))", stdin=payload)
    assert result.stdout == b"3000000\n"


def test_uncaught_exception_lands_in_stderr(box):
    result = box.run("raise ValueError('boom')")
    assert result.exit_code == 1
    assert b"ValueError: boom" in result.stderr


def test_only_the_stdlib_and_a_minimal_environment(box, monkeypatch):
    monkeypatch.setenv("DSE_SOMETHING_PRIVATE", "visible?")
    code = (
        "import os, sys, json\n"
        "print(json.dumps({'env': dict(os.environ), 'path': sys.path, 'cwd': os.getcwd(),"
        " 'prefix': sys.prefix, 'version': sys.version}))\n"
        "try:\n    import textual\nexcept ImportError:\n    print('no textual')\n"
    )
    result = box.run(code)
    lines = result.stdout.decode().splitlines()
    seen = json.loads(lines[0])
    assert lines[1] == "no textual"  # installed in our venv, invisible to sandboxed code
    assert set(seen["env"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE",
                                "PYTHONHASHSEED", "PYTHONIOENCODING", "PWD"}
    assert seen["env"]["HOME"] == seen["cwd"] == seen["env"]["TMPDIR"]
    assert (seen["prefix"], seen["version"]) == (sys.base_prefix, sys.version)  # our interpreter
    assert not any("site-packages" in p for p in seen["path"])
    assert not os.path.exists(seen["cwd"]), "the private work dir must be removed"


def test_work_dir_is_writable_and_private_per_run(box):
    first = box.run("open('state.txt', 'w').write('x')\nimport os\nprint(os.listdir('.'))")
    second = box.run("import os\nprint(os.listdir('.'))")
    assert first.stdout == b"['state.txt']\n"
    assert second.stdout == b"[]\n"


def test_file_size_limit(box):
    result = box.run("open('big', 'wb').write(b'x' * (3 * 1024 * 1024))", limits=Limits(file_size_mb=1))
    assert result.exit_code != 0 or result.signal is not None


def test_cpu_limit_ends_the_run_with_a_signal(box):
    result = box.run("while True:\n    pass", limits=Limits(cpu_s=1, timeout_s=8))
    assert result.ended == "signal"
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)  # SIGKILL: pid 1 in bwrap
    assert result.cpu_ms >= 900


def test_memory_and_cpu_are_measured_for_the_code_itself(box):
    result = box.run("x = bytearray(150 * 1024 * 1024)\nsum(range(3 * 10**6))")
    assert result.exit_code == 0, result.stderr
    assert result.peak_memory_mb >= 150
    assert result.cpu_ms >= 20


def test_result_channel_through_an_inherited_fd(box):
    channel = os.memfd_create("result")
    try:
        code = "import json, os, sys\nfd = json.load(sys.stdin)['fd']\nos.write(fd, b'{\"ok\": true}')"
        result = box.run(code, stdin=json.dumps({"fd": channel}).encode(), extra_fds=[channel])
        assert result.exit_code == 0, result.stderr
        os.lseek(channel, 0, os.SEEK_SET)
        assert json.loads(os.read(channel, 1000)) == {"ok": True}
    finally:
        os.close(channel)


def test_available_sandboxes_strongest_first():
    found = available_sandboxes()
    order = {"strong": 0, "weak": 1, "none": 2}
    assert [order[s.strength] for s in found] == sorted(order[s.strength] for s in found)
    assert found[-1].name == "none" and found[0] is select_sandbox("auto")
    assert all(s.describe() for s in found)
    assert "NOT isolated" in found[-1].describe()


def test_select_by_name_and_environment(monkeypatch):
    names = [s.name for s in available_sandboxes()]
    monkeypatch.setenv("DSE_SANDBOX", names[-1])
    assert select_sandbox("auto").name == names[-1]
    monkeypatch.delenv("DSE_SANDBOX")
    assert select_sandbox(names[0]).name == names[0]
    with pytest.raises(ValueError):
        select_sandbox("docker")


def test_named_but_unavailable_sandbox_raises(monkeypatch):
    monkeypatch.setattr(sb, "_probe", lambda name: "bwrap sandbox unavailable: bwrap not found")
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        select_sandbox("bwrap")


def test_engine_sandbox_does_not_import_textual():
    code = "import sys, dse_tui.engine.sandbox; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
