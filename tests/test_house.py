"""The house's promises: read-only commands take no write lock, versions and lineage mean one
thing, metrics roll up and still answer percentiles, jobs resume after a kill, old stores
are carried over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
from helpers import ADD_CODE, ADD_SPEC
from test_cli import dse, write

from dse_tui.engine.facade import Engine
from dse_tui.store import Database, MetricPoint
from dse_tui.store.db import MIGRATIONS, connect, migrate

SOLVE_REVERSE = """\
function: solve
description: Reverse a string
behaviors:
  - behavior: reverses
    given: {s: "abc"}
    then: {result_equals: "cba"}
"""
SOLVE_SQUARE = """\
function: solve
description: Square a number
behaviors:
  - behavior: squares
    given: {x: 3}
    then: {result_equals: 9}
"""

HOLD_WRITE_LOCK = textwrap.dedent("""
    import sys, time
    from dse_tui.store.db import connect
    conn = connect(sys.argv[1], migrations=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE meta SET value = value")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
""")


def test_read_only_commands_take_no_write_lock_while_another_process_writes(starter_home):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(starter_home / "dse.db"), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for args in (("list", "--json"), ("find", "order a list of numbers", "--json"), ("show", "sort_list", "--json"),
                     ("transcripts", "--json")):
            started = time.monotonic()
            proc = dse(starter_home, *args, timeout=60)
            # The busy timeout is 10 s: a command waiting for the lock would take that long, then fail.
            assert time.monotonic() - started < 8, args
            assert proc.returncode in (0, 1) and "busy" not in proc.stderr, (args, proc.stderr)
        assert holder.poll() is None  # the writer still holds its transaction
    finally:
        holder.kill()
        holder.wait()


def test_unrelated_artifacts_named_solve_never_become_versions_of_each_other(starter_home, tmp_path):
    first = dse(starter_home, "add", write(tmp_path, "r.py", "def solve(s):\n    return s[::-1]\n"), "--spec",
                write(tmp_path, "r.yaml", SOLVE_REVERSE), "--json")
    assert first.returncode == 0, first.stderr
    second = dse(starter_home, "add", write(tmp_path, "q.py", "def solve(x):\n    return x * x\n"), "--spec",
                 write(tmp_path, "q.yaml", SOLVE_SQUARE))
    assert second.returncode == 2
    assert second.stderr.strip() == ("dse: error: name 'solve' is taken by v1: Reverse a string; use --name to store it "
                                     "apart, or --new-version to version it")
    apart = dse(starter_home, "add", write(tmp_path, "q.py", "def solve(x):\n    return x * x\n"), "--spec",
                write(tmp_path, "q.yaml", SOLVE_SQUARE), "--name", "square", "--json")
    assert apart.returncode == 0, apart.stderr
    for stored in (json.loads(first.stdout), json.loads(apart.stdout)):
        shown = json.loads(dse(starter_home, "show", stored["id"], "--json").stdout)
        assert shown["version"] == 1 and shown["edges"] == [] and shown["lineage"] == [stored["id"]]


def test_generated_artifacts_get_names_of_their_own(engine):
    from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig

    engine.store_artifact("def solve(s):\n    return s[::-1]\n", SOLVE_REVERSE)
    fast = TierConfig(name="fast", provider="scripted", model="m", temperature=0.2, max_tokens=100, timeout_s=5)
    reply = "```python\ndef solve(x):\n    return x * x\n```"
    result = engine.ask("square a number", SOLVE_SQUARE, ladder=Ladder([fast]), providers={"fast": ScriptedProvider([reply])})
    assert result.outcome == "generated" and result.artifact.name == "solve_square_number"
    assert result.artifact.version == 1 and engine.lineage_edges(result.artifact.id) == []
    assert engine.resolve("solve").description == "Reverse a string"


CONCURRENT_ADD = textwrap.dedent("""
    import json, sys
    from dse_tui.engine.facade import Engine
    engine = Engine(sys.argv[1])
    i = int(sys.argv[2])
    code = f"def add(a, b):\\n    offset = {i} - {i}\\n    return a + b + offset\\n"
    print(engine.store_artifact(code, open(sys.argv[3]).read(), new_version=True).version)
""")


def test_twenty_concurrent_new_versions_are_numbered_one_to_twenty(starter_home, tmp_path):
    spec = write(tmp_path, "add.yaml", ADD_SPEC)
    env = {**os.environ, "DSE_HOME": str(starter_home)}
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_ADD, str(starter_home), str(i), spec],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(20)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-400:] for o in outs if o[1]]
    versions = sorted(int(o[0]) for o in outs)
    assert versions == list(range(1, 21))
    engine = Engine(starter_home)
    try:
        latest = engine.resolve("add")
        assert latest.version == 20 and len(engine.lineage(latest.id)) == 20  # one version_of chain, no gap
    finally:
        engine.close()


def test_hourly_rollups_still_answer_counts_means_and_percentiles(engine):
    artifact = engine.store_artifact(ADD_CODE, ADD_SPEC)
    engine.metrics.keep_raw = 10
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    points = [MetricPoint(artifact.id, base + timedelta(minutes=i), "run", i % 10 != 0, function_ms=float(1 + i % 100))
              for i in range(600)]  # ten hours of a point a minute
    engine.metrics.record(points)
    before = engine.metrics.window(artifact.id)
    rolled, last = engine.metrics.roll_up(now=base + timedelta(days=2))
    assert rolled == 590 and last is None
    assert engine.metrics.count(artifact.id) == 10  # the newest stay raw
    after = engine.metrics.window(artifact.id)
    assert (after.count, after.failures, after.timed) == (before.count, before.failures, before.timed) == (600, 60, 600)
    assert after.mean_ms == pytest.approx(before.mean_ms)
    assert not after.exact and before.exact
    assert after.p50_ms == pytest.approx(before.p50_ms, rel=0.15)  # within one histogram bucket
    assert after.p95_ms == pytest.approx(before.p95_ms, rel=0.15)
    hour3 = engine.metrics.window(artifact.id, since=base + timedelta(hours=3), until=base + timedelta(hours=4))
    assert hour3.count == 60
    recent, older = engine.metrics.last_against_before(artifact.id, recent=5, before=5)
    assert recent.count == 5 and older.count == 5 and recent.exact
    assert engine.metrics.scan(recent=5, before=5)[artifact.id][0].count == 5


SLOW_JOB = textwrap.dedent("""
    import sys, time
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.jobs import Step

    class Counting:
        name = "count"
        def plan(self, params): return 10
        def step(self, params, cursor):
            n = (cursor or 0) + 1
            with open(sys.argv[2], "a") as fh:
                fh.write(f"{n}\\n")
            time.sleep(float(sys.argv[3]))
            return Step(n, 1, n >= 10)

    engine = Engine(sys.argv[1])
    engine.jobs.kinds["count"] = Counting()
    if sys.argv[4] == "submit":
        engine.jobs.submit("count", key="count")
    print("running", flush=True)
    engine.run_jobs()
    print("finished", flush=True)
""")


def test_the_job_runner_resumes_a_killed_job_where_it_stopped(tmp_path):
    home, steps = tmp_path / "home", tmp_path / "steps.txt"
    first = subprocess.Popen([sys.executable, "-c", SLOW_JOB, str(home), str(steps), "0.3", "submit"],
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 30
    while (not steps.exists() or len(steps.read_text().split()) < 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = [int(x) for x in steps.read_text().split()]
    second = subprocess.run([sys.executable, "-c", SLOW_JOB, str(home), str(steps), "0", "resume"],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "finished" in second.stdout, second.stderr
    all_steps = [int(x) for x in steps.read_text().split()]
    resumed = all_steps[len(done_before):]
    # It went on from its last committed step (one step may run twice: the one the kill cut short).
    assert resumed[0] in (done_before[-1], done_before[-1] + 1) and resumed[-1] == 10
    assert sorted(set(all_steps)) == list(range(1, 11))
    engine = Engine(home)
    try:
        (job,) = engine.list_jobs()
        assert (job.kind, job.state, job.done, job.total) == ("count", "done", 10, 10)
    finally:
        engine.close()


def test_a_store_made_before_the_house_is_carried_over(tmp_path):
    """Stores of migration 3: parent_id lineage, two versions with one number (an old race),
    metrics with one time field whose meaning depended on its source."""
    path = tmp_path / "old.db"
    conn = connect(path, migrations=None)
    migrate(conn, MIGRATIONS[:3])
    row = ("{}", '{"checks": []}', 0.9, 2, 0, 5.0, "2024-01-01T00:00:00.000000+00:00", None, "[]", "{}")
    for seq, (aid, name, version, parent) in enumerate([("a1" * 16, "f", 1, None), ("a2" * 16, "f", 1, "a1" * 16),
                                                        ("b1" * 16, "g", 1, None)], start=1):
        conn.execute("INSERT INTO artifacts(seq, id, name, type, description, content, spec, test_results, quality_score, "
                     "usage_count, success_count, avg_execution_time_ms, created_at, last_used, tags, metadata, version, "
                     "parent_id, provenance) VALUES (?,?,?,'FUNCTION','d','c',?,?,?,?,?,?,?,?,?,?,?,?,'{}')",
                     (seq, aid, name, *row, version, parent))
    conn.execute("INSERT INTO metrics(artifact_id, at, execution_time_ms, cpu_time_ms, memory_mb, success, error, source) "
                 "VALUES (?, '2024-01-01T00:00:00.000000+00:00', 1.5, 1, 10, 1, NULL, 'run'), "
                 "(?, '2024-01-01T00:00:01.000000+00:00', 30.0, 2, 11, 1, NULL, 'reuse')", ("a1" * 16, "a1" * 16))
    conn.close()
    db = Database(path)
    try:
        with db.read() as c:
            versions = c.execute("SELECT id, version, state FROM artifacts ORDER BY seq").fetchall()
            edges = c.execute("SELECT child, parent, kind FROM lineage").fetchall()
            points = c.execute("SELECT source, function_ms, run_ms, at FROM points ORDER BY id").fetchall()
        # every one re-verified through today's verdict path before it is served again (migration 7)
        assert versions == [("a1" * 16, 1, "unverified"), ("a2" * 16, 2, "unverified"), ("b1" * 16, 1, "unverified")]
        assert edges == [(2, 1, "version_of")]
        assert points == [("run", 1.5, None, pytest.approx(1704067200.0)), ("reuse", None, 30.0, pytest.approx(1704067201.0))]
    finally:
        db.close()


async def test_events_reach_screens_by_type_not_by_name(library_engine):
    """The Library reloads on the engine's ArtifactStored, not on a look-alike class of the same name."""
    from dataclasses import dataclass

    from test_library_screen import wait_until

    from dse_tui.app import DSEApp
    from dse_tui.engine.events import ArtifactStored, Event
    from dse_tui.screens.library import LibraryScreen

    @dataclass(frozen=True)
    class ArtifactStoredLookAlike(Event):  # what name-based dispatch would mistake for the real one
        artifact_id: str
        name: str
        quality_score: float

    ArtifactStoredLookAlike.__name__ = ArtifactStoredLookAlike.__qualname__ = "ArtifactStored"
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen) and app.screen.row_total > 0)
        screen = app.screen
        before = screen._request
        library_engine.events.publish(ArtifactStoredLookAlike("x", "y", 0.5))
        await pilot.pause()
        await pilot.pause()
        assert screen._request == before
        library_engine.events.publish(ArtifactStored("x", "y", 0.5))
        await wait_until(pilot, lambda: screen._request == before + 1)
