"""Vector search benchmark for the artifact store (prints JSON lines).

    python bench/vector_search.py                # 100k artifacts
    python bench/vector_search.py --n 10000      # quick run

Texts are generated combinatorially (task verb x data object x modifier x
language detail), so every artifact has a distinct description. Embeddings
are real MiniLM embeddings when --real >= n (default: all of them); with a
smaller --real, the first `real` texts are embedded and the rest are small
random perturbations of them (the output says which). Embeddings are cached
in --cache so reruns skip the embedding step.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VERBS = [
    "sort", "reverse", "deduplicate", "count", "sum", "average", "filter", "group",
    "merge", "split", "flatten", "parse", "validate", "format", "serialize", "compress",
    "encrypt", "hash", "search", "rank", "normalize", "tokenize", "convert", "round",
    "shuffle", "sample", "cache", "retry", "rate-limit", "paginate", "diff", "patch",
    "transpose", "rotate", "interpolate", "summarize", "index", "match", "escape", "truncate",
]
OBJECTS = [
    "a list of integers", "a list of strings", "dictionary keys", "a CSV file", "JSON records",
    "a date string", "timestamps in UTC", "an IPv4 address", "email addresses", "URLs",
    "a binary tree", "a linked list", "a matrix", "a graph of nodes", "file paths",
    "log lines", "HTTP headers", "a YAML document", "temperature readings", "prices in cents",
    "user names", "phone numbers", "a byte buffer", "unicode text", "a set of intervals",
    "polygon coordinates", "sensor samples", "stock quotes", "words in a sentence", "version strings",
    "hex colours", "roman numerals", "a queue of jobs", "nested lists", "environment variables",
    "SQL rows", "markdown headings", "a priority heap", "bank transactions", "GPS points",
]
MODIFIERS = [
    "in ascending order", "in descending order", "ignoring case", "in place", "lazily",
    "without recursion", "recursively", "using a stable algorithm", "with a custom key",
    "and return the top k", "and drop empty values", "preserving order", "in constant memory",
    "with error handling for bad input", "for very large inputs", "from a stream", "by frequency",
    "with a tolerance", "as a generator", "and report duplicates", "with a timeout",
    "for a Raspberry Pi", "using only the standard library", "and cache the result",
    "with type hints", "and log each step",
]
DETAILS = [
    "", "Return a new list.", "Raise ValueError on invalid input.", "Return None when empty.",
    "The result must be deterministic.", "Handle negative numbers.", "Keep it under 20 lines.",
    "Accept any iterable.", "Return a tuple (result, count).", "Work with Python 3.10.",
]


def corpus(n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct (name, description) pairs."""
    rng = random.Random(seed)
    seen: set[tuple[int, int, int, int]] = set()
    out = []
    while len(out) < n:
        key = (rng.randrange(len(VERBS)), rng.randrange(len(OBJECTS)),
               rng.randrange(len(MODIFIERS)), rng.randrange(len(DETAILS)))
        if key in seen:
            continue
        seen.add(key)
        v, o, m, d = VERBS[key[0]], OBJECTS[key[1]], MODIFIERS[key[2]], DETAILS[key[3]]
        name = f"{v.replace('-', '_')}_{o.split()[-1]}_{len(out)}"
        out.append((name, f"{v.capitalize()} {o} {m}. {d}".strip()))
    return out


def embed_corpus(texts: list[str], real: int, cache: Path | None, cache_dir: Path) -> tuple[np.ndarray, str]:
    note = cache.with_suffix(".json") if cache else None
    if cache and cache.exists() and note.exists():
        vecs, meta = np.load(cache), json.loads(note.read_text())
        if len(vecs) >= len(texts) and meta["real"] >= min(real, len(texts)):
            return vecs[: len(texts)], f"{meta['how']} (cached in {cache})"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dse_tui.engine.library.embedder import Embedder

    emb = Embedder(cache_dir)
    real = min(real, len(texts))
    parts = []
    t0 = time.perf_counter()
    for i in range(0, real, 2048):
        parts.append(emb.embed(texts[i : min(i + 2048, real)]))
        print(json.dumps({"progress": "embedding", "done": min(i + 2048, real), "of": real,
                          "s": round(time.perf_counter() - t0, 1)}), file=sys.stderr, flush=True)
    vecs = np.concatenate(parts)
    how = f"real MiniLM embeddings of {real} generated texts"
    if real < len(texts):
        rng = np.random.default_rng(1)
        base = vecs[rng.integers(0, real, len(texts) - real)]
        noisy = base + rng.normal(0, 0.03, base.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        vecs = np.concatenate([vecs, noisy.astype(np.float32)])
        how += f", {len(texts) - real} derived by Gaussian perturbation (sigma 0.03)"
    if cache:
        np.save(cache, vecs)
        note.write_text(json.dumps({"real": real, "how": how}))
    return vecs, how


def make_artifacts(n: int, seed: int = 0):
    from dse_tui.store import Artifact, ArtifactType

    types = list(ArtifactType)
    rng = random.Random(seed + 7)
    out = []
    for i, (name, desc) in enumerate(corpus(n, seed)):
        out.append(Artifact(
            id=f"{i:08x}-{rng.getrandbits(64):016x}", name=name, type=types[i % len(types)],
            description=desc, content=f"def {name}(items):\n    return items\n", spec="",
            test_results={"passed": 1, "total": 1}, quality_score=round(rng.random(), 3),
            tags=[VERBS[i % len(VERBS)], "bench"] if i % 3 == 0 else ["bench"],
        ))
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def exact_topk(vecs: np.ndarray, mask: np.ndarray | None, q: np.ndarray, k: int) -> list[int]:
    sims = vecs @ q
    if mask is not None:
        sims = np.where(mask, sims, -np.inf)
    top = np.argpartition(-sims, k)[:k]
    return [int(i) for i in top[np.argsort(-sims[top])]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="artifacts in the store")
    ap.add_argument("--real", type=int, default=None, help="texts embedded for real (default: all n)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-quality", type=float, default=0.5)
    ap.add_argument("--candidates", default="30,50,80,100",
                    help="candidate pool sizes to sweep (k x oversample, floor)")
    ap.add_argument("--cache", type=Path, default=None, help=".npy file caching the corpus embeddings")
    ap.add_argument("--db", type=Path, default=None, help="store file (default: a temp dir)")
    ap.add_argument("--reuse-db", action="store_true", help="keep --db if it already holds n artifacts")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dse_tui.engine.library.embedder import Embedder
    from dse_tui.engine.library.views import description_text
    from dse_tui.store import ArtifactRepository, Database, VectorIndex

    def emit(**kw):
        print(json.dumps(kw), flush=True)

    tmp = tempfile.mkdtemp(prefix="dse-bench-")
    cache_dir = Path(tmp) / "cache"
    artifacts = make_artifacts(args.n)
    vecs, how = embed_corpus([description_text(a) for a in artifacts], args.real or args.n, args.cache, cache_dir)
    emit(metric="corpus", n=args.n, embeddings=how)

    db_path = args.db or Path(tmp) / "bench.db"
    if db_path.exists() and not args.reuse_db:
        db_path.unlink()
    db = Database(db_path)
    repo, store = ArtifactRepository(db), VectorIndex(db)
    if repo.count() != args.n:
        store.use_model(Embedder.name, Embedder.dim)
        t0 = time.perf_counter()
        for a, v in zip(artifacts, vecs):
            with db.write():  # one transaction each, as the engine does
                store.put(repo.insert(a).seq, v)
        dt = time.perf_counter() - t0
        emit(metric="insert", n=args.n, seconds=round(dt, 1), artifacts_per_s=round(args.n / dt, 1))
    with db.read() as conn:  # fold the WAL into the file before measuring its size
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seq_of = dict(conn.execute("SELECT id, seq FROM artifacts").fetchall())
    size = repo.stats()["size_bytes"]

    def search(q, k, **kw):
        """What find does below the embedder: the index searched, the hits' artifacts loaded."""
        hits = store.search(q, k, **kw)
        loaded = repo.by_seqs([s for s, _ in hits])
        return [(loaded[s], sim) for s, sim in hits]

    emit(metric="db_size", bytes=size, mb_per_1k_artifacts=round(size / args.n * 1000 / 2**20, 3))

    qtexts = [d for _, d in corpus(args.queries, seed=4242)]  # held-out phrasings
    qvecs = Embedder(cache_dir).embed(qtexts)
    quality = np.array([a.quality_score for a in artifacts])
    mask = quality >= args.min_quality
    truth = {None: [exact_topk(vecs, None, q, args.k) for q in qvecs],
             args.min_quality: [exact_topk(vecs, mask, q, args.k) for q in qvecs]}
    ids = [a.id for a in artifacts]
    assert all(a.id in seq_of for a in artifacts)

    defaults = (store.min_candidates, store.oversample)
    for cand in [int(c) for c in args.candidates.split(",")] + [None]:
        # the last round uses the store's defaults
        store.min_candidates, store.oversample = (cand, max(1, cand // args.k)) if cand else defaults
        cand = cand or max(args.k * defaults[1], defaults[0])
        for mq in (None, args.min_quality):
            times, recalls = [], []
            for q, want in zip(qvecs, truth[mq]):
                t = time.perf_counter()
                hits = search(q, args.k, min_quality=mq or 0.0)
                times.append((time.perf_counter() - t) * 1000)
                got = {h[0].id for h in hits}
                recalls.append(len(got & {ids[i] for i in want}) / args.k)
            emit(metric="find", n=args.n, k=args.k, candidates=cand, min_quality=mq,
                 store_defaults=store.min_candidates == defaults[0] and store.oversample == defaults[1],
                 p50_ms=round(pct(times, 50), 2), p95_ms=round(pct(times, 95), 2),
                 recall_at_k=round(float(np.mean(recalls)), 4), queries=len(qvecs))

    # a rare tag (~1/120 of artifacts): the filtered set is small, so it is scanned exactly
    tag = VERBS[0]
    tag_mask = np.array([tag in a.tags for a in artifacts])
    times, recalls = [], []
    for q in qvecs:
        want = {ids[i] for i in exact_topk(vecs, tag_mask, q, args.k)}
        t = time.perf_counter()
        hits = search(q, args.k, tags=[tag])
        times.append((time.perf_counter() - t) * 1000)
        recalls.append(len({h[0].id for h in hits} & want) / args.k)
    emit(metric="find_tag", n=args.n, k=args.k, tag_share=round(float(tag_mask.mean()), 4),
         p50_ms=round(pct(times, 50), 2), p95_ms=round(pct(times, 95), 2),
         recall_at_k=round(float(np.mean(recalls)), 4))
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
