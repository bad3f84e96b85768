"""The embedder in a worker process (the TUI's): the same vectors, crashes survived, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from dse_tui.engine.library.embedder import EmbedderUnavailable
from dse_tui.engine.library.embedder_process import EmbedderProcess, live_pids

TEXTS = ["order a list of numbers", "is this number prime", "turn a title into a URL slug"]


@pytest.fixture
def worker(tmp_path):
    w = EmbedderProcess(tmp_path / "cache")
    yield w
    w.close()


def test_the_worker_gives_the_in_process_vectors(worker, embedder):
    assert np.array_equal(worker.embed(TEXTS), embedder.embed(TEXTS))
    assert worker.embed_one(TEXTS[0]).shape == (384,)
    assert worker.embed([]).shape == (0, 384)
    assert worker.pid in live_pids() and worker.pid != os.getpid()


@pytest.mark.parametrize("how", [signal.SIGSEGV, signal.SIGKILL])
def test_a_crashed_worker_is_replaced_and_the_call_retried(worker, embedder, how):
    worker.load()
    first = worker.pid
    os.kill(first, how)  # a native crash in onnxruntime, or the OOM killer
    vectors = worker.embed(TEXTS)
    assert np.array_equal(vectors, embedder.embed(TEXTS))
    assert worker.starts == 2 and worker.pid != first
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE


def test_a_worker_that_keeps_dying_is_reported_with_its_signal(tmp_path):
    crasher = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    w = EmbedderProcess(tmp_path / "cache", command=crasher)
    with pytest.raises(EmbedderUnavailable, match="SIGSEGV"):
        w.embed(TEXTS)
    assert w.pid is None and not live_pids()


def test_the_worker_ends_when_dse_dies(tmp_path):
    """A DSE killed outright (no shutdown hook runs): the worker sees its stdin close and exits."""
    script = textwrap.dedent(f"""
        import os, sys
        from dse_tui.engine.library.embedder_process import EmbedderProcess
        w = EmbedderProcess({str(tmp_path / "cache")!r})
        w.load()
        print(w.pid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"the embedder's worker {pid} outlived DSE"
        time.sleep(0.05)


def test_an_engine_with_the_worker_finds_and_closing_it_ends_the_worker(tmp_path):
    from dse_tui.engine.facade import Engine

    engine = Engine(str(tmp_path / "home"), embedder_process=True)
    engine.ensure_starter_library()
    assert engine.find_similar("order a list of numbers")[0].artifact.name == "sort_list"
    pid = engine.embedder.pid
    assert pid is not None and psutil.pid_exists(pid)
    engine.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
