"""SIGKILL during 500 concurrent adds: nothing committed is lost, the file stays sound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from dse_tui.store import db

WRITER = textwrap.dedent(
    """
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.sandbox import select_sandbox

    engine = Engine(sys.argv[1], sandbox=select_sandbox())
    engine.embedder  # load before the threads start
    spec = open(sys.argv[2]).read()
    lock = threading.Lock()

    def add(i):
        code = f"def add(a, b):\\n    offset = {i} - {i}\\n    return a + b + offset\\n"
        artifact = engine.store_artifact(code, spec, name=f"add_{i}")
        with lock:  # printed only after the commit returned
            sys.stdout.write(artifact.id + "\\n")
            sys.stdout.flush()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, range(500)))
    """
)


def test_sigkill_during_concurrent_adds_loses_nothing_committed(tmp_path):
    from helpers import ADD_SPEC

    home = tmp_path / "home"
    spec = tmp_path / "add.yaml"
    spec.write_text(ADD_SPEC)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed: list[str] = []
    deadline = time.monotonic() + 240
    while len(committed) < 60 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed.append(line.strip())
    assert len(committed) >= 60, proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)  # mid-flight: 8 adds are somewhere between sandbox and commit
    proc.wait()
    committed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]

    conn = db.connect(home / "dse.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in conn.execute("SELECT id FROM artifacts")}
    assert set(committed) <= stored
    vectors = conn.execute("SELECT COUNT(*) FROM artifact_vectors").fetchone()[0]
    assert vectors == len(stored)  # artifact and vector rows commit together
