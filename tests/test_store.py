"""The store's repositories: round trips, filters, search, versions, lineage, model changes,
migrations, concurrency."""

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

from dse_tui.engine.library.views import description_text
from dse_tui.store import (
    Artifact,
    ArtifactRepository,
    ArtifactState,
    ArtifactType,
    Database,
    DuplicateArtifact,
    LineageKind,
    MetricsRepository,
    NameTaken,
    VectorIndex,
    connect,
    migrate,
)
from dse_tui.store import vectors as vectors_mod
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


class Store:
    """The repositories over one Database, as the engine wires them (test shorthand)."""

    def __init__(self, path) -> None:
        self.db = Database(path)
        self.artifacts = ArtifactRepository(self.db)
        self.vectors = VectorIndex(self.db)
        self.metrics = MetricsRepository(self.db)

    def insert(self, a: Artifact, v: np.ndarray, **kw) -> Artifact:
        with self.db.write():
            stored = self.artifacts.insert(a, **kw)
            self.vectors.put(stored.seq, v)
        return stored

    def search(self, q: np.ndarray, k: int = 10, **kw) -> list[tuple[Artifact, float]]:
        hits = self.vectors.search(q, k, **kw)
        loaded = self.artifacts.by_seqs([s for s, _ in hits])
        return [(loaded[s], sim) for s, sim in hits]

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "dse.db")
    yield s
    s.close()


def fill(store: Store, n: int, seed: int = 0, **kw) -> tuple[list[Artifact], np.ndarray]:
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
    s = Store(path)
    s.insert(art(1), unit(np.random.default_rng(1)))
    s.close()
    for _ in range(2):
        s = Store(path)
        assert s.artifacts.count() == 1
        assert s.artifacts.get(art(1).id).name == "fn_1"
        s.close()
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
    a = art(2, type=ArtifactType.WORKFLOW, tags=["zeta", "alpha", "zeta-2"],
            metadata={"nested": {"list": [1, 2.5, None], "s": "é"}, "flag": True},
            provenance={"tier": "smollm2", "attempts": 3}, test_results={"passed": 4, "total": 5, "cases": [{"ok": False}]},
            quality_score=0.731, usage_count=7, failure_count=2, avg_execution_time_ms=12.25,
            state=ArtifactState.UNVERIFIED, state_reason="shipped",
            created_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
            last_used=datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    returned = store.insert(a, unit(np.random.default_rng(1)))
    got = store.artifacts.get(a.id)
    assert got == a and returned == a and got.seq is not None and got.version == 1
    assert got.created_at.tzinfo == timezone.utc  # normalised to UTC, same instant
    assert got.created_at == datetime(2024, 1, 2, 1, 4, 5, 678901, tzinfo=timezone.utc)
    assert got.tags == ["zeta", "alpha", "zeta-2"]
    assert store.artifacts.get("nope") is None


def test_duplicate_id_rejected_without_partial_rows(store):
    store.insert(art(1), unit(np.random.default_rng(0)))
    with pytest.raises(DuplicateArtifact):
        store.insert(art(1, name="other", tags=["t"]), unit(np.random.default_rng(1)))
    assert store.artifacts.count() == 1
    assert store.artifacts.get_by_name("other") is None
    assert store.artifacts.count(tags=["t"]) == 0


def test_wrong_dimension_rejected_with_nothing_stored(store):
    store.insert(art(1), unit(np.random.default_rng(0)))
    with pytest.raises(ValueError):
        store.insert(art(2), np.ones(10, dtype=np.float32))
    assert store.artifacts.count() == 1  # the artifact and its vector are one transaction


def test_a_taken_name_is_refused_unless_a_new_version_is_asked_for(store):
    rng = np.random.default_rng(0)
    first = store.insert(art(1, id="aaaaaa111111", name="sorter"), unit(rng))
    with pytest.raises(NameTaken) as info:
        store.insert(art(2, id="aaaaaa222222", name="sorter"), unit(rng))
    assert info.value.existing.id == first.id and store.artifacts.count() == 1
    second = store.insert(art(2, id="aaaaaa222222", name="sorter"), unit(rng), new_version=True)
    third = store.insert(art(3, id="bbbbbb333333", name="sorter", version=99), unit(rng), new_version=True)
    assert (first.version, second.version, third.version) == (1, 2, 3)  # numbers are the store's, not the caller's
    edges = store.artifacts.edges(third.id)
    assert [(e.child_id, e.parent_id, e.kind) for e in edges] == [(third.id, second.id, LineageKind.VERSION_OF)]


def test_get_by_name_and_resolve(store):
    rng = np.random.default_rng(0)
    store.insert(art(1, id="aaaaaa111111", name="sorter"), unit(rng))
    store.insert(art(2, id="aaaaaa222222", name="sorter"), unit(rng), new_version=True)
    store.insert(art(3, id="bbbbbb333333", name="sorter"), unit(rng), new_version=True)
    store.insert(art(4, id="cccccc444444", name="aaaaaa"), unit(rng))
    repo = store.artifacts
    assert repo.get_by_name("sorter").id == "bbbbbb333333"
    assert repo.resolve("bbbbbb333333").id == "bbbbbb333333"  # exact id
    assert repo.resolve("bbbbbb3").id == "bbbbbb333333"  # unique prefix
    assert repo.resolve("bbbbb") is None  # prefix shorter than 6 chars is not a prefix
    assert repo.resolve("aaaaaa").id == "cccccc444444"  # ambiguous prefix falls back to the name
    assert repo.resolve("sorter").id == "bbbbbb333333"
    assert repo.resolve("missing") is None


def test_list_count_filters_orders_and_pages(store):
    types = list(ArtifactType)
    arts, _ = fill(store, 40, type=lambda i: types[i % 4], quality_score=lambda i: (i * 7 % 40) / 40,
                   tags=lambda i: (["even"] if i % 2 == 0 else []) + (["five"] if i % 5 == 0 else []),
                   usage_count=lambda i: i % 6,
                   state=lambda i: ArtifactState.QUARANTINED if i % 8 == 0 else ArtifactState.VERIFIED)
    repo = store.artifacts
    assert repo.count() == 40
    assert repo.count(type="TOOL") == 10
    assert repo.count(tags=["even", "five"]) == 4
    assert repo.count(min_quality=0.5) == sum(a.quality_score >= 0.5 for a in arts)
    assert repo.count(states=[ArtifactState.QUARANTINED]) == 5

    want = sorted((a for a in arts if a.type == ArtifactType.TOOL and a.quality_score >= 0.25),
                  key=lambda a: -a.quality_score)
    assert [a.id for a in repo.list(type=ArtifactType.TOOL, min_quality=0.25)] == [a.id for a in want]

    pages = [repo.list(offset=o, limit=7, order="recent") for o in range(0, 42, 7)]
    flat = [a.id for p in pages for a in p]
    assert flat == [a.id for a in sorted(arts, key=lambda a: a.created_at, reverse=True)]
    assert all(len(p) <= 7 for p in pages)

    assert [a.name for a in repo.list(limit=3, order="name")] == sorted(a.name for a in arts)[:3]
    assert [a.usage_count for a in repo.list(limit=40, order="usage")] == sorted((a.usage_count for a in arts), reverse=True)
    tagged = repo.list(limit=100, tags=["five"])
    assert {a.id for a in tagged} == {a.id for a in arts if "five" in a.tags}
    with pytest.raises(ValueError):
        repo.list(order="bogus")


def test_recent_means_last_used_first(store):
    arts, _ = fill(store, 5)
    store.artifacts.count_use(arts[1].id, True, 1.0, T0 + timedelta(days=1))
    assert store.artifacts.list(limit=2, order="recent")[0].id == arts[1].id


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
    store.vectors.min_candidates = 300
    q = unit(rng)
    assert [h[0].id for h in store.search(q, k=5)] == [arts[i].id for i in exact(vecs, q, [True] * 300, 5)]


def test_search_filters_match_exact_filtered_scan(store):
    types = list(ArtifactType)
    arts, vecs = fill(store, 400, type=lambda i: types[i % 4], quality_score=lambda i: (i % 10) / 10,
                      tags=lambda i: ["py"] + (["rare"] if i % 97 == 0 else []),
                      state=lambda i: ArtifactState.VERIFIED if i % 3 else ArtifactState.UNVERIFIED)
    q = unit(np.random.default_rng(5))
    store.vectors.min_candidates = 400  # a pool as big as the store: isolates filter logic from approximation
    cases = [
        (dict(min_quality=0.7), [a.quality_score >= 0.7 for a in arts]),
        (dict(type="TEST"), [a.type == ArtifactType.TEST for a in arts]),
        (dict(tags=["rare"]), ["rare" in a.tags for a in arts]),
        (dict(states=[ArtifactState.VERIFIED]), [a.state == ArtifactState.VERIFIED for a in arts]),
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
    monkeypatch.setattr(vectors_mod, "EXACT_SCAN_MAX", 0)
    store.vectors.oversample, store.vectors.min_candidates = 1, 5
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
    hits = store.search(q, k=5, min_quality=0.95)
    assert sorted(h[0].id for h in hits) == sorted(far)


def test_search_empty_store_and_deleted(store):
    q = unit(np.random.default_rng(0))
    assert store.search(q) == []
    arts, vecs = fill(store, 20)
    assert store.artifacts.delete(arts[3].id) is True
    assert store.artifacts.delete(arts[3].id) is False
    assert store.artifacts.get(arts[3].id) is None
    hits = store.search(vecs[3], k=20)
    assert arts[3].id not in {h[0].id for h in hits} and len(hits) == 19


# -- usage, lineage, stats -------------------------------------------------------------------

def test_usage_counts_successes_and_failures_apart(store):
    a = store.insert(art(1), unit(np.random.default_rng(0)))
    for j, (ms, ok) in enumerate([(10.0, True), (30.0, True), (1000.0, False)]):
        store.artifacts.count_use(a.id, ok, ms if ok else None, T0 + timedelta(minutes=j))
    got = store.artifacts.get(a.id)
    assert (got.usage_count, got.failure_count) == (2, 1)
    assert got.avg_execution_time_ms == pytest.approx(20.0)  # failed run excluded from the mean
    assert got.last_used == T0 + timedelta(minutes=2)
    with pytest.raises(KeyError):
        store.artifacts.count_use("missing", True, 1.0, T0)


def test_lineage_follows_explicit_edges_only(store):
    rng = np.random.default_rng(0)
    v1 = store.insert(art(1, name="f"), unit(rng))
    v2 = store.insert(art(2, name="f"), unit(rng), new_version=True)
    evolved = store.insert(art(3, name="f_fast"), unit(rng), lineage=[(LineageKind.EVOLVED_FROM, v2.id)])
    stranger = store.insert(art(4, name="f_other"), unit(rng))
    assert [a.id for a in store.artifacts.lineage(evolved.id)] == [v1.id, v2.id, evolved.id]
    assert [a.id for a in store.artifacts.lineage(v1.id)] == [v1.id]
    assert [a.id for a in store.artifacts.lineage(stranger.id)] == [stranger.id]
    assert store.artifacts.lineage("missing") == []
    assert [a.id for a in store.artifacts.children(v2.id)] == [evolved.id]
    kinds = {(e.child_id, e.kind) for e in store.artifacts.edges(v2.id)}
    assert kinds == {(v2.id, LineageKind.VERSION_OF), (evolved.id, LineageKind.EVOLVED_FROM)}


def test_the_description_view_is_meaning_not_code():
    # name and tags blurred this view (bench/retrieval.py): they go to the code and word views
    a = art(1, name="sort_numbers", description="Sort numbers ascending.", tags=["list", "sort"])
    assert description_text(a) == "Sort numbers ascending"
    assert description_text(art(2, name="f", description="d")) == "d"


def test_stats(store):
    fill(store, 6, type=lambda i: ArtifactType.TOOL if i < 2 else ArtifactType.FUNCTION)
    st = store.artifacts.stats()
    assert st["count"] == 6 and st["by_type"] == {"TOOL": 2, "FUNCTION": 4} and st["by_state"] == {"verified": 6}
    assert st["size_bytes"] > 0 and store.vectors.model() == ("unknown", DIM)


# -- embedding model changes -----------------------------------------------------------------

def test_a_new_model_leaves_every_artifact_missing_its_vector_until_refilled(store):
    arts, _ = fill(store, 30)
    assert store.vectors.model() == ("unknown", DIM)
    assert store.vectors.use_model("m1", DIM) == 30  # vectors of "unknown" are not m1's
    assert store.vectors.model() == ("m1", DIM)
    for a in arts:
        v = np.zeros(DIM, dtype=np.float32)
        v[int(a.name.split("_")[1]) % DIM] = 1.0
        store.vectors.put(a.seq, v)
    assert store.vectors.use_model("m1", DIM) == 0 and store.vectors.missing("m1", DIM) == []
    q = np.zeros(DIM, dtype=np.float32)
    q[17] = 1
    assert store.search(q, k=1)[0][0].id == arts[17].id

    # a model with another dimension rebuilds the index and drops the unusable vectors
    assert store.vectors.use_model("m2", 64) == 30
    with pytest.raises(ValueError):
        store.vectors.put(arts[0].seq, unit(np.random.default_rng(0)))  # 384-d no longer fits
    store.vectors.put(arts[5].seq, np.eye(64, dtype=np.float32)[40])
    assert store.search(np.eye(64, dtype=np.float32)[40], k=1)[0][0].id == arts[5].id


def test_rebuilding_the_index_from_the_float_vectors(store):
    arts, vecs = fill(store, 50)
    with store.db.write() as conn:
        conn.execute("DELETE FROM artifact_vec")
    assert store.search(vecs[7], k=1) == []  # the binary index finds the candidates: without it, none
    assert store.vectors.rebuild_index() == 50
    assert store.search(vecs[7], k=1)[0][0].id == arts[7].id


# -- transactions, concurrency and durability ------------------------------------------------

def test_nested_writes_are_one_transaction(store):
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError):
        with store.db.write():
            store.insert(art(1), unit(rng))
            store.insert(art(2), unit(rng))
            raise RuntimeError("the unit of work fails")
    assert store.artifacts.count() == 0  # both inner writes rolled back with the outer one


def test_closing_the_database_closes_every_threads_connection(tmp_path):
    db = Database(tmp_path / "c.db")
    repo = ArtifactRepository(db)
    started, release = threading.Barrier(4), threading.Event()
    holding = []

    def hold():
        with db.read() as conn:
            holding.append(conn)
            started.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait()
    assert db.open_connections == 3  # three borrowed at once (the first is among them)
    repo.count()  # a fourth, from this thread
    assert db.open_connections == 4
    db.close()
    release.set()
    for t in threads:
        t.join()
    assert db.open_connections == 0
    for conn in holding:
        with pytest.raises(Exception):
            conn.execute("SELECT 1")
    with pytest.raises(RuntimeError, match="closed"):
        repo.count()


def test_concurrent_inserts_and_reads_from_threads(store):
    rng = np.random.default_rng(0)
    vecs = [unit(rng) for _ in range(400)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                store.search(vecs[0], k=5)
                store.artifacts.list(limit=10)
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
    assert store.artifacts.count() == 400
    assert store.search(vecs[123], k=1)[0][0].id == art(123).id
    with store.db.read() as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM artifact_vec").fetchone()[0] == 400


CHILD = textwrap.dedent("""
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    from dse_tui.store import Artifact, ArtifactRepository, ArtifactType, Database, VectorIndex
    db = Database(sys.argv[1])
    artifacts, vectors = ArtifactRepository(db), VectorIndex(db)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 384)).astype(np.float32)
    out = threading.Lock()
    def add(i):
        a = Artifact(id=f"kill-{i:04d}", name=f"f{i}", type=ArtifactType.FUNCTION, description="d" * 200,
                     content="x" * 500, spec="", test_results={}, quality_score=0.5, tags=["a", "b"])
        with db.write():
            stored = artifacts.insert(a)
            vectors.put(stored.seq, vecs[i])
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
    s = Store(path)
    try:
        with s.db.read() as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            n_art = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM artifact_vectors").fetchone()[0] == n_art
            assert conn.execute("SELECT count(*) FROM artifact_vec").fetchone()[0] == n_art
        for aid in committed:
            a = s.artifacts.get(aid)
            assert a is not None and a.tags == ["a", "b"]
        assert s.artifacts.count() >= len(committed)
    finally:
        s.close()


def test_the_resident_index_finds_what_vec0_finds_and_follows_writes(store):
    arts, vecs = fill(store, 600, type=lambda i: [ArtifactType.FUNCTION, ArtifactType.TOOL][i % 2])
    resident = VectorIndex(store.db, resident=True)
    rng = np.random.default_rng(9)
    recall: dict[str, list[float]] = {"resident": [], "vec0": [], "resident tools": []}
    is_tool = np.array([a.type == ArtifactType.TOOL for a in arts])
    for _ in range(20):
        q = unit(rng)
        exact = {arts[i].seq for i in np.argsort(-(vecs @ q))[:10]}
        recall["resident"].append(len(exact & {s for s, _ in resident.search(q, 10)}) / 10)
        recall["vec0"].append(len(exact & {s for s, _ in store.vectors.search(q, 10)}) / 10)
        tools = {arts[i].seq for i in np.argsort(-np.where(is_tool, vecs @ q, -np.inf))[:5]}
        found = resident.search(q, 5, type="TOOL")
        assert all(store.artifacts.by_seqs([s])[s].type == ArtifactType.TOOL for s, _ in found)
        recall["resident tools"].append(len(tools & {s for s, _ in found}) / 5)
    mean = {k: sum(v) / len(v) for k, v in recall.items()}
    # random 384-d vectors are the binary code's worst case; more candidates in memory do better
    assert mean["resident"] >= max(mean["vec0"], 0.8) and mean["resident tools"] >= 0.8, mean
    # a vector stored after the copy was loaded is found at once (the generation moved)
    newcomer = unit(rng)
    added = store.insert(art(10_000), newcomer)
    assert resident.search(newcomer, 1)[0][0] == added.seq
    # and a vector replaced under the same seq is searched by its new value
    store.vectors.put(added.seq, -newcomer)
    assert resident.search(-newcomer, 1)[0][0] == added.seq
    assert store.artifacts.delete(added.id)
    assert all(s != added.seq for s, _ in resident.search(-newcomer, 5))  # deleted: never returned


def test_the_resident_index_still_fills_k_when_a_filter_eats_the_nearest(store):
    """The resident path re-scores only the int8-best candidates first; when a quality bar
    removes all of them, it must go on to the other candidates and the exact scan."""
    rng = np.random.default_rng(4)
    q = unit(rng)
    arts, vecs = [], []
    for i in range(300):
        near = i < 100  # the 100 nearest are all below the bar
        v = q + rng.normal(0, 0.3 if near else 3.0, q.shape).astype(np.float32)
        v /= np.linalg.norm(v)
        a = art(i, quality_score=0.1 if near else 0.9)
        store.insert(a, v)
        arts.append(a)
        vecs.append(v)
    resident = VectorIndex(store.db, resident=True)
    keep = [a.quality_score >= 0.5 for a in arts]
    truth = {arts[i].seq for i in exact(np.stack(vecs), q, keep, 10)}
    found = resident.search(q, 10, min_quality=0.5)
    assert len(found) == 10 and {s for s, _ in found} == truth
    assert {s for s, _ in resident.search(q, 10)} <= {a.seq for a in arts[:100]}  # unfiltered: the near ones


def test_word_search_drops_only_terms_too_common_to_afford(tmp_path):
    from dse_tui.store.words import WordIndex, affordable

    database = Database(tmp_path / "w.db")
    repo, words = ArtifactRepository(database), WordIndex(database)
    for i in range(40):
        stored = repo.insert(art(i))
        text = "items handled " + ("luhn checksum" if i == 7 else f"other thing {i}")
        words.put(stored.seq, text, "1")
    with database.read() as conn:
        # the stem is what the index counts: "items" is the stored "item", in all 40 rows
        assert affordable(conn, ["items", "luhn"], budget=1000) == ["items", "luhn"]
        assert affordable(conn, ["items", "luhn"], budget=20) == ["luhn"]
        assert affordable(conn, ["items", "unseen"], budget=20) == ["unseen"]  # absent terms cost nothing
    # the rare term still finds its artifact first, whatever the budget drops
    assert words.search(["items", "luhn"], k=3)[0][0] == repo.get(art(7).id).seq
    database.close()
