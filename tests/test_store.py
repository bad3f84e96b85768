"""ArtifactStore: round trips, filters, search, metrics, lineage, model changes, migrations, concurrency."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dse_tui.store import (Artifact, ArtifactStore, ArtifactType, DuplicateArtifact, MetricPoint, connect,
                           embed_text, migrate)
from dse_tui.store import artifacts as artifacts_mod
from dse_tui.store.db import MIGRATIONS

DIM = 384
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def art(i: int, **kw) -> Artifact:
    base = dict(id=f"art-{i:06d}-{'x' * 8}", name=f"fn_{i}", type=ArtifactType.FUNCTION,
                description=f"function number {i}", content=f"def fn_{i}():\n    return {i}\n",
                spec="cases: []", test_results={"passed": 1, "total": 1}, quality_score=0.8,
                created_at=T0 + timedelta(seconds=i))
    base.update(kw)
    return Artifact(**base)


@pytest.fixture
def store(tmp_path):
    s = ArtifactStore(tmp_path / "dse.db")
    yield s
    s.close()


def fill(store: ArtifactStore, n: int, seed: int = 0, **kw) -> tuple[list[Artifact], np.ndarray]:
    rng = np.random.default_rng(seed)
    arts, vecs = [], []
    for i in range(n):
        a = art(i, **{k: (v(i) if callable(v) else v) for k, v in kw.items()})
        v = unit(rng)
        store.insert(a, v)
        arts.append(a)
        vecs.append(v)
    return arts, np.stack(vecs)


def exact(vecs: np.ndarray, q: np.ndarray, keep: list[bool], k: int) -> list[int]:
    sims = vecs @ q
    idx = [i for i in np.argsort(-sims) if keep[i]]
    return idx[:k]


# -- connection and schema -----------------------------------------------------------------

def test_connect_pragmas_and_vec(tmp_path):
    conn = connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_migrations_idempotent_on_reopen(tmp_path):
    path = tmp_path / "a.db"
    with ArtifactStore(path) as s:
        s.insert(art(1), unit(np.random.default_rng(1)))
    for _ in range(2):
        with ArtifactStore(path) as s:
            assert s.count() == 1
            assert s.get(art(1).id) == art(1)
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_migration_steps_apply_in_order_and_failures_roll_back(tmp_path):
    conn = connect(tmp_path / "m.db", migrations=None)
    steps = ["CREATE TABLE a (x INTEGER);", lambda c: c.execute("INSERT INTO a VALUES (42)")]
    assert migrate(conn, steps) == 2
    assert migrate(conn, steps) == 2  # nothing re-applied
    assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 1

    def boom(c):
        c.execute("CREATE TABLE b (y)")
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError):
        migrate(conn, [*steps, boom])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'b'").fetchone()[0] == 0
    conn.close()


def test_store_package_imports_neither_engine_nor_textual():
    code = "import sys, dse_tui.store; print(sorted(m for m in sys.modules if m.startswith(('dse_tui.engine', 'textual'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


# -- records ---------------------------------------------------------------------------------

def test_round_trip_every_field(store):
    parent = art(1)
    store.insert(parent, unit(np.random.default_rng(0)))
    a = art(2, type=ArtifactType.WORKFLOW, tags=["zeta", "alpha", "zeta-2"],
            metadata={"nested": {"list": [1, 2.5, None], "s": "é"}, "flag": True},
            provenance={"tier": "smollm2", "attempts": 3}, test_results={"passed": 4, "total": 5, "cases": [{"ok": False}]},
            quality_score=0.731, usage_count=7, avg_execution_time_ms=12.25, version=2, parent_id=parent.id,
            created_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
            last_used=datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    returned = store.insert(a, unit(np.random.default_rng(1)))
    got = store.get(a.id)
    assert got == a and returned == a
    assert got.created_at.tzinfo == timezone.utc  # normalised to UTC, same instant
    assert got.created_at == datetime(2024, 1, 2, 1, 4, 5, 678901, tzinfo=timezone.utc)
    assert got.tags == ["zeta", "alpha", "zeta-2"]
    assert store.get("nope") is None


def test_duplicate_id_rejected_without_partial_rows(store):
    store.insert(art(1), unit(np.random.default_rng(0)))
    with pytest.raises(DuplicateArtifact):
        store.insert(art(1, name="other", tags=["t"]), unit(np.random.default_rng(1)))
    assert store.count() == 1
    assert store.get_by_name("other") is None
    assert store.count(tags=["t"]) == 0


def test_wrong_dimension_rejected(store):
    store.insert(art(1), unit(np.random.default_rng(0)))
    with pytest.raises(ValueError):
        store.insert(art(2), np.ones(10, dtype=np.float32))
    assert store.count() == 1


def test_get_by_name_and_resolve(store):
    rng = np.random.default_rng(0)
    store.insert(art(1, id="aaaaaa111111", name="sorter", version=1), unit(rng))
    store.insert(art(2, id="aaaaaa222222", name="sorter", version=3), unit(rng))
    store.insert(art(3, id="bbbbbb333333", name="sorter", version=2), unit(rng))
    store.insert(art(4, id="cccccc444444", name="aaaaaa", version=1), unit(rng))
    assert store.get_by_name("sorter").id == "aaaaaa222222"
    assert store.resolve("bbbbbb333333").id == "bbbbbb333333"  # exact id
    assert store.resolve("bbbbbb3").id == "bbbbbb333333"  # unique prefix
    assert store.resolve("bbbbb") is None  # prefix shorter than 6 chars is not a prefix
    assert store.resolve("aaaaaa").id == "cccccc444444"  # ambiguous prefix falls back to the name
    assert store.resolve("sorter").id == "aaaaaa222222"
    assert store.resolve("missing") is None


def test_list_count_filters_orders_and_pages(store):
    types = list(ArtifactType)
    arts, _ = fill(store, 40, type=lambda i: types[i % 4], quality_score=lambda i: (i * 7 % 40) / 40,
                   tags=lambda i: (["even"] if i % 2 == 0 else []) + (["five"] if i % 5 == 0 else []),
                   usage_count=lambda i: i % 6)
    assert store.count() == 40
    assert store.count(type="TOOL") == 10
    assert store.count(tags=["even", "five"]) == 4
    assert store.count(min_quality=0.5) == sum(a.quality_score >= 0.5 for a in arts)

    want = sorted((a for a in arts if a.type == ArtifactType.TOOL and a.quality_score >= 0.25),
                  key=lambda a: -a.quality_score)
    assert [a.id for a in store.list(type=ArtifactType.TOOL, min_quality=0.25)] == [a.id for a in want]

    pages = [store.list(offset=o, limit=7, order="recent") for o in range(0, 42, 7)]
    flat = [a.id for p in pages for a in p]
    assert flat == [a.id for a in sorted(arts, key=lambda a: a.created_at, reverse=True)]
    assert all(len(p) <= 7 for p in pages)

    assert [a.name for a in store.list(limit=3, order="name")] == sorted(a.name for a in arts)[:3]
    assert [a.usage_count for a in store.list(limit=40, order="usage")] == sorted((a.usage_count for a in arts), reverse=True)
    tagged = store.list(limit=100, tags=["five"])
    assert {a.id for a in tagged} == {a.id for a in arts if "five" in a.tags}
    with pytest.raises(ValueError):
        store.list(order="bogus")


# -- search ----------------------------------------------------------------------------------

def test_search_ranks_by_cosine(store):
    arts, vecs = fill(store, 300)
    rng = np.random.default_rng(99)
    for target in (0, 150, 299):
        q = vecs[target] + 0.05 * unit(rng)
        q /= np.linalg.norm(q)
        hits = store.search(q, k=5)
        assert hits[0][0].id == arts[target].id
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True)
        assert sims[0] == pytest.approx(float(vecs[target] @ q), abs=1e-5)
        by_id = {a.id: i for i, a in enumerate(arts)}
        for a, sim in hits:  # scores are exact float cosines, not hamming estimates
            assert sim == pytest.approx(float(vecs[by_id[a.id]] @ q), abs=1e-5)
    # with a candidate pool as large as the store, the ranking is exact
    store.min_candidates = 300
    q = unit(rng)
    assert [h[0].id for h in store.search(q, k=5)] == [arts[i].id for i in exact(vecs, q, [True] * 300, 5)]


def test_search_filters_match_exact_filtered_scan(store):
    types = list(ArtifactType)
    arts, vecs = fill(store, 400, type=lambda i: types[i % 4], quality_score=lambda i: (i % 10) / 10,
                      tags=lambda i: ["py"] + (["rare"] if i % 97 == 0 else []))
    q = unit(np.random.default_rng(5))
    store.min_candidates = 400  # a pool as big as the store: isolates filter logic from approximation
    cases = [
        (dict(min_quality=0.7), [a.quality_score >= 0.7 for a in arts]),
        (dict(type="TEST"), [a.type == ArtifactType.TEST for a in arts]),
        (dict(tags=["rare"]), ["rare" in a.tags for a in arts]),
        (dict(min_quality=0.5, type=ArtifactType.TOOL, tags=["py"]),
         [a.quality_score >= 0.5 and a.type == ArtifactType.TOOL for a in arts]),
    ]
    for kw, keep in cases:
        hits = store.search(q, k=10, **kw)
        want = exact(vecs, q, keep, 10)
        assert [h[0].id for h in hits] == [arts[i].id for i in want], kw
    assert len(store.search(q, k=10, tags=["rare"])) == 5  # ids 0, 97, 194, 291, 388


def test_filters_never_hide_a_match(store, monkeypatch):
    # Force the approximate path to come up short: tiny candidate pool, no small-set shortcut.
    monkeypatch.setattr(artifacts_mod, "EXACT_SCAN_MAX", 0)
    store.oversample, store.min_candidates = 1, 5
    rng = np.random.default_rng(3)
    q = unit(rng)
    for i in range(200):  # close to the query, untagged
        v = q + 0.2 * unit(rng)
        store.insert(art(i, tags=["common"]), v / np.linalg.norm(v))
    far = []
    for i in range(200, 203):  # the only tagged ones, pointing away from the query
        v = -q + 0.2 * unit(rng)
        store.insert(art(i, tags=["common", "needle"], quality_score=0.99), v / np.linalg.norm(v))
        far.append(art(i).id)
    hits = store.search(q, k=5, tags=["needle"])
    assert sorted(h[0].id for h in hits) == sorted(far)
    hits = store.search(q, k=5, min_quality=0.95)  # quality filter applies inside the vec0 scan
    assert sorted(h[0].id for h in hits) == sorted(far)


def test_search_empty_store_and_deleted(store):
    q = unit(np.random.default_rng(0))
    assert store.search(q) == []
    arts, vecs = fill(store, 20)
    assert store.delete(arts[3].id) is True
    assert store.delete(arts[3].id) is False
    assert store.get(arts[3].id) is None
    hits = store.search(vecs[3], k=20)
    assert arts[3].id not in {h[0].id for h in hits} and len(hits) == 19


# -- runs, lineage, stats --------------------------------------------------------------------

def test_record_run_updates_usage_atomically(store):
    a = art(1)
    store.insert(a, unit(np.random.default_rng(0)))
    runs = [(10.0, True), (30.0, True), (1000.0, False)]
    for j, (ms, ok) in enumerate(runs):
        store.record_run(MetricPoint(artifact_id=a.id, at=T0 + timedelta(minutes=j), execution_time_ms=ms,
                                     cpu_time_ms=ms / 2, memory_mb=12.5, success=ok,
                                     error=None if ok else "Timeout", source="run"))
    got = store.get(a.id)
    assert got.usage_count == 3
    assert got.avg_execution_time_ms == pytest.approx(20.0)  # failed run excluded from the mean
    assert got.last_used == T0 + timedelta(minutes=2)
    pts = store.metrics(a.id)
    assert [p.execution_time_ms for p in pts] == [10.0, 30.0, 1000.0]  # oldest first
    assert pts[2].success is False and pts[2].error == "Timeout" and pts[0].at == T0
    assert [p.execution_time_ms for p in store.metrics(a.id, limit=2)] == [30.0, 1000.0]
    with pytest.raises(KeyError):
        store.record_run(MetricPoint(artifact_id="missing", at=T0, execution_time_ms=1, cpu_time_ms=1,
                                     memory_mb=1, success=True))
    store.delete(a.id)
    assert store.metrics(a.id) == []


def test_lineage_and_children(store):
    rng = np.random.default_rng(0)
    v1 = art(1, name="f", version=1)
    v2 = art(2, name="f", version=2, parent_id=v1.id)
    v3 = art(3, name="f", version=3, parent_id=v2.id)
    side = art(4, name="f", version=2, parent_id=v1.id)
    for a in (v1, v2, v3, side):
        store.insert(a, unit(rng))
    assert [a.id for a in store.lineage(v3.id)] == [v1.id, v2.id, v3.id]
    assert [a.id for a in store.lineage(v1.id)] == [v1.id]
    assert store.lineage("missing") == []
    assert [a.id for a in store.children(v1.id)] == [v2.id, side.id]
    assert store.children(v3.id) == []
    assert store.get_by_name("f").id == v3.id


def test_embed_text_is_meaning_not_code():
    a = art(1, name="sort_numbers", description="Sort numbers ascending", tags=["list", "sort"])
    assert embed_text(a) == "sort numbers: Sort numbers ascending (list, sort)"
    assert embed_text(art(2, name="f", description="d")) == "f: d"


def test_stats(store):
    fill(store, 6, type=lambda i: ArtifactType.TOOL if i < 2 else ArtifactType.FUNCTION)
    st = store.stats()
    assert st["count"] == 6 and st["by_type"] == {"TOOL": 2, "FUNCTION": 4}
    assert st["size_bytes"] > 0 and st["embedding_dim"] == DIM


# -- embedding model changes -----------------------------------------------------------------

def test_ensure_embedding_model_reembeds_on_change(store):
    arts, _ = fill(store, 30)
    assert store.embedding_model() == ("unknown", DIM)
    seen: list[str] = []

    def fake_embed(dim):
        def fn(batch):
            seen.extend(a.id for a in batch)
            out = np.zeros((len(batch), dim), dtype=np.float32)
            for r, a in enumerate(batch):  # a vector determined by the artifact's number
                out[r, int(a.name.split("_")[1]) % dim] = 1.0
            return out
        return fn

    progress = []
    n = store.ensure_embedding_model("m1", DIM, fake_embed(DIM), batch_size=8, progress=lambda d, t: progress.append((d, t)))
    assert n == 30 and store.embedding_model() == ("m1", DIM)
    assert sorted(seen) == sorted(a.id for a in arts)
    assert progress[0] == (0, 30) and progress[-1] == (30, 30)
    q = np.zeros(DIM, dtype=np.float32)
    q[17] = 1
    assert store.search(q, k=1)[0][0].id == arts[17].id
    assert store.search(q, k=1)[0][1] == pytest.approx(1.0)

    seen.clear()
    assert store.ensure_embedding_model("m1", DIM, fake_embed(DIM)) == 0 and seen == []

    # a model with another dimension rebuilds the index
    assert store.ensure_embedding_model("m2", 64, fake_embed(64)) == 30
    assert store.embedding_model() == ("m2", 64)
    q = np.zeros(64, dtype=np.float32)
    q[5] = 1
    assert store.search(q, k=1)[0][0].id == arts[5].id
    with pytest.raises(ValueError):
        store.insert(art(99), unit(np.random.default_rng(0)))  # 384-d no longer fits
    store.insert(art(99), np.eye(64, dtype=np.float32)[40])
    assert store.search(np.eye(64, dtype=np.float32)[40], k=1)[0][0].id == art(99).id


# -- concurrency and durability --------------------------------------------------------------

def test_concurrent_inserts_and_reads_from_threads(store):
    rng = np.random.default_rng(0)
    vecs = [unit(rng) for _ in range(400)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                store.search(vecs[0], k=5)
                store.list(limit=10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: store.insert(art(i), vecs[i]), range(400)))
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert store.count() == 400
    assert store.search(vecs[123], k=1)[0][0].id == art(123).id
    with store._conn() as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM artifact_vec").fetchone()[0] == 400


CHILD = textwrap.dedent("""
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    from dse_tui.store import Artifact, ArtifactStore, ArtifactType
    store = ArtifactStore(sys.argv[1])
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 384)).astype(np.float32)
    out = threading.Lock()
    def add(i):
        a = Artifact(id=f"kill-{i:04d}", name=f"f{i}", type=ArtifactType.FUNCTION, description="d" * 200,
                     content="x" * 500, spec="", test_results={}, quality_score=0.5, tags=["a", "b"])
        store.insert(a, vecs[i])
        with out:  # whole lines only; printed once the commit returned
            sys.stdout.write(a.id + "\\n")
            sys.stdout.flush()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(500)))
    print("done", flush=True)
    import time; time.sleep(60)
""")


def test_committed_inserts_survive_sigkill(tmp_path):
    path = tmp_path / "kill.db"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    committed = []
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("kill-"):
            committed.append(line)
        if len(committed) >= 300:  # kill mid-stream, with writers in flight
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert len(committed) >= 300
    with ArtifactStore(path) as s:
        with s._conn() as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            n_art = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM artifact_vectors").fetchone()[0] == n_art
            assert conn.execute("SELECT count(*) FROM artifact_vec").fetchone()[0] == n_art
        for aid in committed:
            a = s.get(aid)
            assert a is not None and a.tags == ["a", "b"]
        assert s.count() >= len(committed)
