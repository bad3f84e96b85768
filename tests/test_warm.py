"""Warm sandboxes: a zygote forks each run fresh. Nothing one run writes or leaves in memory
is visible to the next, a run cannot leave processes behind, a run gone wrong does not
take the zygote's next run with it, and the zygote never outlives DSE."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from dse_tui.engine.sandbox import Limits, SandboxUnavailable, select_sandbox
from dse_tui.engine.specs.judge import call_function

MARK = "warm-run-marker-51c3"

# Leaves everything it can: files in every directory it may write to, state in modules and
# the environment, a thread and (if it could) a child process, then reports what it found
# of a previous run. The second run of the same code must find nothing.
LEAVE_AND_LOOK = textwrap.dedent(
    f"""
    import builtins, os, sys, threading, time

    def _writable_dirs():
        found = []
        for top in ("/", os.getcwd(), os.environ.get("HOME", "/"), os.environ.get("TMPDIR", "/tmp")):
            for root, dirs, files in os.walk(top):
                if root.startswith(("/proc", "/sys")):
                    dirs[:] = []
                    continue
                if os.access(root, os.W_OK):
                    found.append(root)
                if len(found) > 50:
                    return found
        return found

    def look(n):
        seen = []
        if getattr(builtins, "{MARK.replace('-', '_')}", None):
            seen.append("builtins")
        if os.environ.get("{MARK}"):
            seen.append("environ")
        if getattr(sys.modules["os"], "marker", None):
            seen.append("module")
        for top in ["/tmp", "/dev/shm", os.getcwd(), os.path.dirname(os.getcwd())]:
            for root, dirs, files in os.walk(top):
                if any("{MARK}" in f for f in files + dirs):
                    seen.append(root)
        for d in _writable_dirs():
            try:
                with open(os.path.join(d, "{MARK}"), "w") as fh:
                    fh.write("x")
            except OSError:
                pass
        setattr(builtins, "{MARK.replace('-', '_')}", True)
        os.environ["{MARK}"] = "1"
        sys.modules["os"].marker = True

        def linger():
            while True:
                try:
                    open("/tmp/{MARK}-thread", "w").close()
                except OSError:
                    pass
                time.sleep(0.01)

        threading.Thread(target=linger, daemon=True).start()
        try:
            forked = os.fork()
            if forked == 0:
                time.sleep(30)
                os._exit(0)
            seen.append("could fork")
        except OSError:
            pass
        time.sleep(0.05)
        return sorted(set(seen))
    """
)


@pytest.fixture(params=["bwrap", "native"])
def box(request):
    try:
        sandbox = select_sandbox(request.param)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    sandbox.pool.close()  # a pool of its own: each test counts its zygote's runs
    yield sandbox
    sandbox.pool.close()


def test_nothing_a_warm_run_leaves_is_seen_by_the_next(box):
    first = call_function(LEAVE_AND_LOOK, "look", {"n": 1}, box)
    assert first.ok, first.error
    runs_after_first = box.pool.runs()
    second = call_function(LEAVE_AND_LOOK, "look", {"n": 2}, box)
    assert second.ok, second.error
    assert box.pool.runs() == runs_after_first + 1 and box.pool.zygotes() == 1  # the same zygote, warm
    assert first.value == [] and second.value == []


def test_a_warm_run_gone_wrong_is_killed_and_the_next_one_is_clean(box):
    hang = "import time\ndef f(x):\n    while True:\n        time.sleep(0.01)\n"
    ended = call_function(hang, "f", {"x": 1}, box, limits=Limits(timeout_s=1, cpu_s=2))
    assert not ended.ok and "timed out" in ended.error
    after = call_function("def f(x):\n    return x + 1\n", "f", {"x": 1}, box)
    assert after.ok and after.value == 2


def test_a_run_cannot_signal_its_zygote(box):
    code = textwrap.dedent(
        """
        import os, signal
        def f(x):
            out = {}
            for label, target in (("zygote", os.getppid()), ("everyone", -1)):
                try:
                    os.kill(target, signal.SIGKILL)
                    out[label] = "sent"
                except OSError as exc:
                    out[label] = type(exc).__name__
            try:
                os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
                out["zygote's group"] = "sent"
            except OSError as exc:
                out["zygote's group"] = type(exc).__name__
            return out
        """
    )
    before = box.pool.runs()
    result = call_function(code, "f", {"x": 1}, box)
    assert result.ok, result.error
    assert result.value == {"zygote": "PermissionError", "everyone": "PermissionError",
                            "zygote's group": "PermissionError"}
    again = call_function("def f(x):\n    return x\n", "f", {"x": 7}, box)
    assert again.ok and again.value == 7
    assert box.pool.zygotes() == 1 and box.pool.runs() == before + 2  # the same zygote served both


def test_zygotes_die_with_dse(box):
    script = textwrap.dedent(
        f"""
        import os, sys, time
        os.environ["DSE_SANDBOX"] = "{box.name}"
        from dse_tui.engine.sandbox import select_sandbox
        from dse_tui.engine.specs.judge import call_function
        box = select_sandbox("{box.name}")
        print(call_function("def f(x):\\n    return x\\n", "f", {{"x": 1}}, box).ok, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "True"
    family = psutil.Process(proc.pid).children(recursive=True)
    zygotes = [p for p in family if "Zygote(socket.socket(" in " ".join(p.cmdline())]
    assert zygotes, [p.cmdline()[:3] for p in family]
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family):
        time.sleep(0.05)
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_zygote_started_by_a_worker_thread_outlives_the_thread(box):
    """The death signal of a child fires when the thread that started it ends: zygotes
    are started from the pool's own thread, so a TUI worker finishing does not kill them."""
    import threading

    first: list = []
    worker = threading.Thread(target=lambda: first.append(call_function("def f(x):\n    return x\n", "f", {"x": 1}, box)))
    worker.start()
    worker.join()
    assert first[0].ok
    time.sleep(0.2)  # a death signal would have arrived by now
    before = box.pool.runs()
    again = call_function("def f(x):\n    return x\n", "f", {"x": 2}, box)
    assert again.ok and again.value == 2
    assert box.pool.zygotes() == 1 and box.pool.runs() == before + 1
