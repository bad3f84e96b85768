"""Signals end the whole tree: SIGTERM, SIGINT and SIGHUP to `dse add` or `dse ask`, and the
death of DSE itself, leave no sandboxed process and no work directory behind, on both
backends; a signalled ask is recorded as interrupted; a killed DSE's leftovers are swept."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from dse_tui.engine.sandbox import SandboxUnavailable, select_sandbox

from test_cli import write

SLOW_SPEC = """\
function: slow
description: Wait a long time, then answer
behaviors:
  - behavior: answers after a long wait
    given: {x: 1}
    then: {result_equals: 1}
"""
SLOW_CODE = "import time\n\ndef slow(x):\n    time.sleep(60)\n    return x\n"
SLOW_REPLY = f"```python\n{SLOW_CODE}```"


@pytest.fixture(params=["bwrap", "native"])
def backend(request) -> str:
    try:
        select_sandbox(request.param)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    return request.param


def start(home: Path, *args: str, backend: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "DSE_HOME": str(home), "DSE_SANDBOX": backend, **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "dse_tui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def sandboxed(proc: subprocess.Popen) -> list[psutil.Process]:
    """The sandboxed interpreters among the command's descendants."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in family:
        try:
            if "-I" in child.cmdline() and "-S" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


def wait_for_sandbox(proc: subprocess.Popen, timeout: float = 90) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sandboxed(proc)
        if found:
            time.sleep(0.3)  # let it get into the sleeping behaviour
            return psutil.Process(proc.pid).children(recursive=True)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no sandboxed process appeared")


def gone(processes: list[psutil.Process], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def workdirs_of(pid: int) -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"dse-sandbox-{pid}-*"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_add_ends_the_sandbox_and_removes_its_work_dir(starter_home, tmp_path, backend, signum):
    code, spec = write(tmp_path, "slow.py", SLOW_CODE), write(tmp_path, "slow.yaml", SLOW_SPEC)
    proc = start(starter_home, "add", code, "--spec", spec, backend=backend)
    family = wait_for_sandbox(proc)
    assert workdirs_of(proc.pid)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert gone(family), [p.cmdline() for p in family if p.is_running()]
    assert workdirs_of(proc.pid) == []
    listed = subprocess.run([sys.executable, "-m", "dse_tui", "list", "--json", "--limit", "1000"], capture_output=True,
                            text=True, env={**os.environ, "DSE_HOME": str(starter_home)})
    assert "slow" not in {a["name"] for a in json.loads(listed.stdout)}  # nothing half-stored


def test_a_signalled_ask_is_marked_interrupted_and_leaves_nothing(starter_home, tmp_path, backend):
    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({"tiers": [{"name": "fast", "provider": "scripted", "model": "slow-writer",
                                             "temperature": 0.2, "max_tokens": 400, "timeout_s": 10,
                                             "options": {"replies": [SLOW_REPLY] * 4}}]}))
    spec = write(tmp_path, "slow.yaml", SLOW_SPEC)
    proc = start(starter_home, "ask", "Write slow(x): wait, then return x", "--spec", spec, "--json",
                 backend=backend, extra_env={"DSE_MODELS_FILE": str(models)})
    family = wait_for_sandbox(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert gone(family) and workdirs_of(proc.pid) == []
    shown = subprocess.run([sys.executable, "-m", "dse_tui", "transcripts", "--json"], capture_output=True, text=True,
                           env={**os.environ, "DSE_HOME": str(starter_home)})
    (transcript,) = [t for t in json.loads(shown.stdout) if t["task"].startswith("Write slow")]
    assert transcript["outcome"] == "interrupted" and transcript["reason"] == "interrupted by SIGTERM"


def test_when_dse_is_killed_its_sandboxes_die_and_the_next_start_sweeps_its_work_dirs(starter_home, tmp_path,
                                                                                       backend):
    code, spec = write(tmp_path, "slow.py", SLOW_CODE), write(tmp_path, "slow.yaml", SLOW_SPEC)
    proc = start(starter_home, "add", code, "--spec", spec, backend=backend)
    family = wait_for_sandbox(proc)
    proc.kill()  # SIGKILL: no handler runs, only the kernel's tie between parent and children
    proc.communicate(timeout=10)
    assert gone(family), [p.cmdline() for p in family if p.is_running()]
    left = workdirs_of(proc.pid)
    assert left, "a killed process cannot clean up; the next one must"
    subprocess.run([sys.executable, "-m", "dse_tui", "run", "sort_list", "--input", '{"items": [2, 1]}'],
                   capture_output=True, env={**os.environ, "DSE_HOME": str(starter_home), "DSE_SANDBOX": backend},
                   timeout=120, check=True)
    assert workdirs_of(proc.pid) == []


@pytest.mark.slow
def test_the_embedded_worker_does_not_outlive_a_killed_dse():
    from test_embedded_worker import _real_fast_tier

    _real_fast_tier()
    script = (
        "from dse_tui.engine.generation.providers import Message, load_ladder_config, provider_for_tier\n"
        "fast = load_ladder_config(user=False).tier('fast')\n"
        "print('start', flush=True)\n"
        "provider_for_tier(fast).complete([Message('user', 'Write a very long story about the sea.')],\n"
        "    model=fast.model, temperature=0.7, max_tokens=4000, timeout_s=600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while not workers and time.monotonic() < deadline:
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "embedded_worker" in " ".join(c.cmdline())]
        time.sleep(0.05)
    assert workers, "the embedded worker never started"
    time.sleep(1.5)  # loaded and writing
    proc.kill()
    proc.wait(timeout=10)
    assert gone(workers)  # its stdin closed: the worker exits even in the middle of a reply
