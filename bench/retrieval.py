"""Retrieval quality and speed on queries in users' own words (prints JSON lines).

    .venv/bin/python bench/retrieval.py                  # 164 HumanEval + the starter library
    .venv/bin/python bench/retrieval.py --tune           # choose weights and floors on the tuning half
    .venv/bin/python bench/retrieval.py --scale 100000   # the same among generated distractors
    .venv/bin/python bench/retrieval.py --cli            # `dse find` from the shell, cold and warm

The queries (bench/retrieval_queries.yaml) were written as a user would ask, each with
every stored artifact that answers it; some have none. Items alternate between a tuning
half (even positions) and a reporting half (odd): weights and floors are chosen on the
first and reported on the second. Judged by the answer sets, which the search never sees.

Methods: `landed` (what main did before hybrid search: one vector of "name: description
(tags)", merit breaking near-ties after the cut), each single view of the hybrid search
(`description`, `code`, BM25 `words`), and `fusion` (presets/retrieval.yaml). Latency is
the search with the query vector given; `embed_ms` is the query embedding alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dse_tui.engine.library.fusion import METHODS, RetrievalSettings, combine, load_settings  # noqa: E402
from dse_tui.engine.library.views import query_terms  # noqa: E402

QUERIES = ROOT / "bench" / "retrieval_queries.yaml"


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(xs), p)), 3) if xs else float("nan")


# -- the store -------------------------------------------------------------------------------


def build_store(home: Path):
    """The starter library and the 164 HumanEval problems, stored as `dse add` stores them
    (name: the function's, made unique when taken). Reused when `home` holds them already."""
    from humaneval_tasks import load_tasks

    from dse_tui.engine.errors import BadInput
    from dse_tui.engine.facade import Engine
    from dse_tui.engine.specs.spec import parse_spec

    engine = Engine(str(home))
    engine.ensure_starter_library()
    engine.catalog.strength_budget_s = 0.05  # strength is not what this measures
    ids: dict[str, str] = {}
    for a in engine.list_artifacts(limit=10_000):
        key = a.provenance.get("task_id") if a.provenance.get("source") == "humaneval" else f"starter:{a.name}"
        ids[key] = a.id
    tasks = [t for t in load_tasks() if t.task_id not in ids]
    for i, task in enumerate(tasks, 1):
        spec = parse_spec(task.spec_text, origin=task.task_id)
        provenance = {"source": "humaneval", "task_id": task.task_id}
        try:
            artifact = engine.store_artifact(task.code, spec, provenance=provenance)
        except BadInput:  # a second `sort_array`: stored under a name of its own
            artifact = engine.store_artifact(
                task.code, spec, name=f"{task.entry_point}_{task.task_id.split('/')[1]}", provenance=provenance
            )
        ids[task.task_id] = artifact.id
        print(f"\rstoring HumanEval {i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    if tasks:
        print(file=sys.stderr)
    engine.ensure_index()
    return engine, ids


def load_queries(ids: dict[str, str]) -> list[dict]:
    items = yaml.safe_load(QUERIES.read_text(encoding="utf-8"))
    for i, item in enumerate(items):
        unknown = [a for a in item["answers"] if a not in ids]
        if unknown:
            raise SystemExit(f"query {i} names unknown answers {unknown}")
        item["half"] = "tune" if i % 2 == 0 else "report"
        item["right"] = {ids[a] for a in item["answers"]}
    return items


# -- ranking per method ------------------------------------------------------------------------


class Methods:
    """Per query, each method's own ranked candidates, fetched once; fusion recomputed from them
    with any settings (what the engine's Finder.rank does, on the same numbers)."""

    def __init__(self, engine, queries: list[dict], pool: int):
        self.engine = engine
        self.pool = pool
        self.finder = engine.finder
        embedder = engine.embedder
        started = time.perf_counter()
        self.vectors = embedder.embed([q["query"] for q in queries])
        self.embed_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
        self.queries = queries
        self.ranked: list[dict[str, list[tuple[int, float]]]] = []
        self.latency: dict[str, list[float]] = {m: [] for m in METHODS}
        for q, v in zip(queries, self.vectors, strict=True):
            lists = {}
            for view, index in self.finder.vectors.items():
                t = time.perf_counter()
                lists[view] = index.search(v, k=self.pool)
                self.latency[view].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lists["words"] = self.finder.words.search(query_terms(q["query"]), k=self.pool)
            self.latency["words"].append((time.perf_counter() - t) * 1000)
            self.ranked.append(lists)
        all_seqs = {s for lists in self.ranked for hits in lists.values() for s, _ in hits}
        loaded = engine.artifacts.by_seqs(sorted(all_seqs))
        self.id_of = {s: a.id for s, a in loaded.items()}
        self.merit = {s: a.merit for s, a in loaded.items()}
        self.cosines = [self.finder.view_cosines(v, sorted({s for h in lists.values() for s, _ in h}), lists)
                        for v, lists in zip(self.vectors, self.ranked, strict=True)]
        self.best = [{s: max(c[s] for c in cos.values() if s in c) for c in cos.values() for s in c}
                     for cos in self.cosines]

    def order(self, i: int, settings: RetrievalSettings) -> list[tuple[str, float]]:
        """[(artifact id, best cosine)] best first."""
        fused = combine(self.ranked[i], self.cosines[i], settings)
        best = self.best[i]
        keyed = sorted(fused, key=lambda s: (fused[s] + settings.merit_weight * self.merit.get(s, 0), best.get(s, 0)),
                       reverse=True)
        return [(self.id_of[s], best.get(s, 0.0)) for s in keyed if s in self.id_of]


def landed_orders(engine, queries: list[dict]) -> tuple[list[list[str]], float]:
    """Main before this change: one exact cosine over "name: description (tags)", the top
    hits re-sorted with 0.05 x merit after the cut (binary candidates dropped: exact is the
    upper bound of what it could do)."""
    arts = engine.list_artifacts(limit=10_000)
    texts = [f"{a.name.replace('_', ' ')}: {a.description}" + (f" ({', '.join(a.tags)})" if a.tags else "")
             for a in arts]
    mat = engine.embedder.embed(texts)
    qv = engine.embedder.embed([q["query"] for q in queries])
    orders, times = [], []
    for v in qv:
        t = time.perf_counter()
        sims = mat @ v
        top = np.argsort(-sims)[:10]
        top = sorted(top, key=lambda j: sims[j] + 0.05 * arts[j].merit, reverse=True)
        times.append((time.perf_counter() - t) * 1000)
        orders.append([arts[j].id for j in top])
    return orders, statistics.median(times)


def scores(orders: list[list[str]], queries: list[dict], half: str | None) -> dict:
    hit1 = hit5 = rr = n = 0.0
    for order, q in zip(orders, queries, strict=True):
        if not q["right"] or (half and q["half"] != half):
            continue
        n += 1
        rank = next((r for r, a in enumerate(order, 1) if a in q["right"]), None)
        hit1 += rank == 1
        hit5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0
    return {"queries": int(n), "hit@1": round(hit1 / n, 4), "hit@5": round(hit5 / n, 4), "mrr": round(rr / n, 4)}


def floor_rates(methods: Methods, settings: RetrievalSettings, floor: float, half: str) -> dict:
    """False accepts: an unanswerable query whose best match clears the floor; false rejects:
    an answerable one whose best match does not."""
    fa = fr = na = nr = 0
    for i, q in enumerate(methods.queries):
        if q["half"] != half:
            continue
        order = methods.order(i, settings)
        top = max((s for _, s in order[:5]), default=0.0)
        if q["right"]:
            nr += 1
            fr += top < floor
        else:
            na += 1
            fa += top >= floor
    return {"floor": floor, "false_accept": round(fa / max(na, 1), 4), "false_reject": round(fr / max(nr, 1), 4),
            "unanswerable": na, "answerable": nr}


def reuse_miss(methods: Methods, settings: RetrievalSettings, floor: float, half: str, candidates: int = 3) -> float:
    """Share of answerable queries whose right artifact is not among the reuse candidates
    (top 3) at or above `floor`: a reuse that retrieval would have cost."""
    miss = n = 0
    for i, q in enumerate(methods.queries):
        if q["half"] != half or not q["right"]:
            continue
        n += 1
        miss += not any(a in q["right"] and s >= floor for a, s in methods.order(i, settings)[:candidates])
    return round(miss / max(n, 1), 4)


def tune(methods: Methods, base: RetrievalSettings) -> RetrievalSettings:
    """Weights by MRR on the tuning half; the find floor the highest that rejects at most 5% of
    answerable queries (a false "nothing fits" hides the right answer), the reuse floor the
    highest that costs at most 1% of reuses."""
    candidates = []
    for wd, wc in itertools.product([0.0, 0.5, 1.0, 1.5], repeat=2):
        for ww in (0.0, 0.1, 0.2, 0.3, 0.4, 0.6):
            for merit in (0.0, 0.01, 0.03):
                candidates.append(base.but(kind="linear", weights={"description": wd, "code": wc, "words": ww},
                                           merit_weight=merit))
    for wd, wc, ww in itertools.product([0.0, 0.5, 1.0, 2.0], repeat=3):
        for rank_k in (1, 5, 20, 60):
            candidates.append(base.but(kind="rank", weights={"description": wd, "code": wc, "words": ww},
                                       rank_k=rank_k, merit_weight=0.0))
    best, best_key = base, (-1.0, -1.0)
    for s in candidates:
        if not any(s.weights.values()):
            continue
        r = scores([[a for a, _ in methods.order(i, s)] for i in range(len(methods.queries))],
                   methods.queries, "tune")
        key = (r["mrr"], r["hit@1"])
        if key > best_key:
            best, best_key = s, key
    floors = [round(x, 3) for x in np.arange(0.2, 0.9, 0.01)]
    find_floor = max((f for f in floors if floor_rates(methods, best, f, "tune")["false_reject"] <= 0.05),
                     default=floors[0])
    reuse_floor = max((f for f in floors if reuse_miss(methods, best, f, "tune")
                       <= reuse_miss(methods, best, -1.0, "tune") + 0.01), default=floors[0])
    chosen = best.but(find_floor=find_floor, reuse_floor=min(reuse_floor, find_floor))
    emit(metric="tuned", on="tune half", kind=chosen.kind, weights=dict(chosen.weights), rank_k=chosen.rank_k,
         merit_weight=chosen.merit_weight, find_floor=chosen.find_floor, reuse_floor=chosen.reuse_floor,
         tune_mrr=best_key[0], tune_hit1=best_key[1])
    return chosen


def report(engine, queries: list[dict], settings: RetrievalSettings, label: str) -> Methods:
    methods = Methods(engine, queries, settings.pool)
    small = engine.count_artifacts() <= 10_000  # the landed method is recomputed in memory, for the small store
    landed, landed_ms = landed_orders(engine, queries) if small else ([], 0.0)
    for half in ("report", "tune"):
        if small:
            emit(metric="method", n_artifacts=engine.count_artifacts(), half=half, method="landed",
                 **scores(landed, queries, half), p50_ms=round(landed_ms, 3))
        for method in METHODS:
            single = settings.but(kind="rank", weights={m: float(m == method) for m in METHODS}, merit_weight=0.0)
            orders = [[a for a, _ in methods.order(i, single)] for i in range(len(queries))]
            emit(metric="method", n_artifacts=engine.count_artifacts(), half=half, method=method,
                 **scores(orders, queries, half), p50_ms=pct(methods.latency[method], 50),
                 p95_ms=pct(methods.latency[method], 95))
        orders = [[a for a, _ in methods.order(i, settings)] for i in range(len(queries))]
        emit(metric="method", n_artifacts=engine.count_artifacts(), half=half, method=f"fusion ({label})",
             **scores(orders, queries, half))
        emit(metric="floor", half=half, kind="find", **floor_rates(methods, settings, settings.find_floor, half))
        emit(metric="floor", half=half, kind="reuse", floor=settings.reuse_floor,
             right_artifact_missed_by_reuse=reuse_miss(methods, settings, settings.reuse_floor, half))
    fused_ms, whole_ms = [], []
    for q, v in zip(queries, methods.vectors, strict=True):
        t = time.perf_counter()
        engine.finder.search(v, 5, text=q["query"], settings=settings)
        fused_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.finder.find_similar(q["query"], limit=5)
        whole_ms.append((time.perf_counter() - t) * 1000)
    emit(metric="latency", n_artifacts=engine.count_artifacts(), fused_search_p50_ms=pct(fused_ms, 50),
         fused_search_p95_ms=pct(fused_ms, 95), find_similar_p50_ms=pct(whole_ms, 50),
         find_similar_p95_ms=pct(whole_ms, 95), embed_ms_per_query=round(methods.embed_ms, 3))
    return methods


# -- 100k: the same among generated distractors ---------------------------------------------------

VERBS = ["sort", "reverse", "count", "sum", "filter", "group", "merge", "split", "flatten", "parse", "validate",
         "format", "serialize", "compress", "hash", "search", "rank", "normalize", "tokenize", "convert", "round",
         "shuffle", "sample", "cache", "retry", "paginate", "diff", "patch", "transpose", "rotate", "summarize",
         "index", "match", "escape", "truncate", "encode", "decode", "cluster", "interpolate", "deduplicate"]
OBJECTS = ["log lines", "HTTP headers", "a YAML document", "sensor samples", "stock quotes", "GPS points",
           "bank transactions", "markdown headings", "a priority heap", "SQL rows", "environment variables",
           "file paths", "a byte buffer", "polygon coordinates", "a queue of jobs", "hex colours", "user names",
           "phone numbers", "timestamps", "a graph of nodes", "a binary tree", "JSON records", "a CSV file",
           "email headers", "configuration keys", "image pixels", "audio frames", "network packets", "invoices",
           "calendar events"]
MODIFIERS = ["with a custom key", "lazily", "in place", "from a stream", "with a timeout", "by frequency",
             "with error handling for bad input", "for very large inputs", "and log each step", "preserving order",
             "using only the standard library", "with a tolerance", "as a generator", "and report duplicates"]
BODIES = [
    "    out = []\n    for {a} in {b}:\n        if {a} is not None:\n            out.append({a})\n    return out\n",
    "    seen = {{}}\n    for {a} in {b}:\n        seen[{a}] = seen.get({a}, 0) + 1\n    return seen\n",
    "    total = 0\n    for {a} in {b}:\n        total += len(str({a}))\n    return total\n",
    "    return sorted({b}, key=lambda {a}: str({a}))\n",
]
ARG_WORDS = ["records", "items", "rows", "samples", "entries", "values", "frames", "lines", "nodes", "events"]


def distractors(n: int, seed: int = 3):
    from dse_tui.store import Artifact, ArtifactState, ArtifactType

    rng = random.Random(seed)
    # every combination once before any repeats: the ones embedded for real are distinct texts,
    # so exact scoring has no ties for the recall figure to trip on
    combos = list(itertools.product(VERBS, OBJECTS, MODIFIERS))
    rng.shuffle(combos)
    for i in range(n):
        verb, obj, mod = combos[i % len(combos)]
        words = obj.split()[-1].rstrip("s")
        name = f"{verb}_{words}_{i}"
        arg = rng.choice(ARG_WORDS)
        doc = f"{verb.capitalize()} {obj} {mod}."
        body = rng.choice(BODIES).format(a="item", b=arg)
        code = f"def {name}({arg}, limit=None):\n    \"\"\"{doc}\"\"\"\n{body}"
        yield Artifact(id=f"d{i:09d}{rng.getrandbits(64):016x}"[:32], name=name, type=ArtifactType.FUNCTION,
                       description=doc, content=code, spec="", test_results={"passed": 1, "total": 1},
                       quality_score=round(rng.uniform(0.6, 1.0), 3), merit=round(rng.uniform(0.5, 1.0), 3),
                       tags=["bench"], metadata={"function": name}, state=ArtifactState.VERIFIED)


def add_distractors(engine, n: int, real: int) -> None:
    """`real` distractors embedded for real, the rest perturbations of those (sigma 0.03), so
    every view holds 100k vectors; their words are all indexed as text."""
    from dse_tui.engine.library.indexing import Prepared
    from dse_tui.engine.library.views import view_texts

    have = engine.count_artifacts()
    rng = np.random.default_rng(5)
    pool: list[dict] = []
    started = time.perf_counter()
    batch: list = []

    def flush() -> None:
        texts = [view_texts(a) for a in batch]
        real_now = [j for j in range(len(batch)) if len(pool) < real]
        if real_now:
            vecs = engine.embedder.embed([texts[j][v] for j in real_now for v in ("description", "code")])
            for k, _ in enumerate(real_now):
                pool.append({"description": vecs[2 * k], "code": vecs[2 * k + 1]})
        with engine.db.write():
            for j, a in enumerate(batch):
                if j < len(real_now):
                    views = pool[len(pool) - len(real_now) + j]
                else:
                    base = pool[int(rng.integers(0, len(pool)))]
                    views = {}
                    for v, vec in base.items():
                        noisy = vec + rng.normal(0, 0.03, vec.shape).astype(np.float32)
                        views[v] = noisy / np.linalg.norm(noisy)
                stored = engine.artifacts.insert(a)
                engine.indexer.put(stored.seq, Prepared(views, texts[j]["words"]))
        batch.clear()

    for i, a in enumerate(distractors(n - have)):
        batch.append(a)
        if len(batch) == 500:
            flush()
            print(f"\rdistractors {i + 1}/{n - have} ({time.perf_counter() - started:.0f} s)", end="",
                  file=sys.stderr, flush=True)
    if batch:
        flush()
    print(file=sys.stderr)


def scale(engine, queries: list[dict], settings: RetrievalSettings, n: int, real: int) -> None:
    if engine.count_artifacts() < n:
        add_distractors(engine, n, real)
    with engine.db.read() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    methods = report(engine, queries, settings, "presets")
    # recall of the fused top 10 against the same fusion over exact per-view scoring (numpy
    # over every float vector, loaded once; the store's own exact scan is far slower)
    matrices = {}
    for view, index in engine.finder.vectors.items():
        with engine.db.read() as conn:
            rows = conn.execute(f"SELECT seq, embedding FROM {index.view.table}").fetchall()
        matrices[view] = (np.array([r[0] for r in rows]),
                          np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1))
    recalls = []
    for i, (q, v) in enumerate(zip(queries, methods.vectors, strict=True)):
        approx = [m.artifact.id for m in engine.finder.search(v, 10, text=q["query"], settings=settings)]
        exact = {}
        for view, (seqs, mat) in matrices.items():
            sims = mat @ v
            top = np.argsort(-sims)[: settings.pool]
            exact[view] = [(int(seqs[j]), float(sims[j])) for j in top]
        exact["words"] = methods.ranked[i]["words"]  # BM25 is exact already
        truth = [m.artifact.id for m in engine.finder.rank(v, exact, 10, settings)]
        recalls.append(len(set(approx) & set(truth)) / max(len(truth), 1))
    emit(metric="recall", n_artifacts=engine.count_artifacts(), fused_top10_recall_vs_exact=round(float(np.mean(recalls)), 4),
         queries=len(recalls))


# -- the CLI ----------------------------------------------------------------------------------------


def cli_times(runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="dse-find-cli-"))
    dse = [sys.executable, "-m", "dse_tui.cli"]
    env = {**os.environ, "DSE_HOME": str(home)}
    subprocess.run([*dse, "find", "warm up the store"], env=env, capture_output=True, check=False)
    queries = ["order a list of numbers", "is this year a leap year", "roman numeral to int", "count words"]

    def once(q: str) -> tuple[float, str]:
        t = time.perf_counter()
        out = subprocess.run([*dse, "find", q, "--json"], env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t
        first = json.loads(out.stdout)[0]["name"] if out.returncode == 0 and out.stdout.strip() else None
        return elapsed, first

    cold = []
    for q in queries:
        dropped = False
        try:
            subprocess.run(["sync"], check=False)
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            dropped = True
        except OSError:
            pass
        elapsed, first = once(q)
        cold.append(elapsed)
        emit(metric="cli_cold", query=q, seconds=round(elapsed, 3), first=first, page_cache_dropped=dropped)
    warm = [once(queries[i % len(queries)]) for i in range(runs)]
    emit(metric="cli", cold_p50_s=round(statistics.median(cold), 3), cold_max_s=round(max(cold), 3),
         warm_p50_s=round(statistics.median([w for w, _ in warm]), 3),
         warm_max_s=round(max(w for w, _ in warm), 3), first_for_order_a_list=once(queries[0])[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "dse-bench-retrieval",
                    help="DSE home holding the stored problems (built once, reused)")
    ap.add_argument("--tune", action="store_true", help="choose weights and floors on the tuning half")
    ap.add_argument("--scale", type=int, default=0, help="also measure among this many artifacts")
    ap.add_argument("--real", type=int, default=5000, help="distractors embedded for real at --scale")
    ap.add_argument("--cli", action="store_true", help="time `dse find` subprocesses, cold and warm")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    if args.cli:
        cli_times(args.runs)
        return 0
    engine, ids = build_store(args.home)
    queries = load_queries(ids)
    emit(metric="set", queries=len(queries), unanswerable=sum(not q["right"] for q in queries),
         tune=sum(q["half"] == "tune" for q in queries), report=sum(q["half"] == "report" for q in queries))
    settings = load_settings()
    if args.tune:
        methods = Methods(engine, queries, settings.pool)
        settings = tune(methods, settings)
    report(engine, queries, settings, "tuned" if args.tune else "presets")
    if args.scale:
        scale_home = args.home.with_name(args.home.name + f"-{args.scale}")
        if not scale_home.exists():
            import shutil

            shutil.copytree(args.home, scale_home)
        engine.close()
        big = __import__("dse_tui.engine.facade", fromlist=["Engine"]).Engine(str(scale_home))
        big.ensure_index()
        scale(big, queries, settings, args.scale, args.real)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
