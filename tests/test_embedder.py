"""The offline MiniLM embedder (real model, no network) and its use with the store."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dse_tui.engine.library.embedder import (DIM, TOKENIZER_FILES, Embedder, find_onnx_model, get_embedder,
                                     prepare_model_dir)
from dse_tui.engine.library.views import description_text
from dse_tui.store import Artifact, ArtifactType

from test_store import Store


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return Embedder(tmp_path_factory.mktemp("cache"))


def test_model_dir_is_assembled_from_packages(tmp_path):
    onnx = find_onnx_model()
    assert onnx.name == "model.onnx" and onnx.stat().st_size > 10_000_000
    d = prepare_model_dir(tmp_path)
    assert (d / "model.onnx").resolve() == onnx.resolve()
    for name in TOKENIZER_FILES:
        assert (d / name).stat().st_size > 0
    assert prepare_model_dir(tmp_path) == d  # idempotent


def test_construction_is_lazy(tmp_path):
    code = (f"import sys; from dse_tui.engine.library.embedder import Embedder, get_embedder; "
            f"e = get_embedder({str(tmp_path)!r}); print('fastembed' in sys.modules, 'onnxruntime' in sys.modules, e.loaded)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.split() == ["False", "False", "False"]


def test_embeddings_are_normalised_384d(embedder):
    vecs = embedder.embed(["sort a list of numbers", "parse a date string", ""])
    assert vecs.shape == (3, DIM) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2" and embedder.dim == DIM
    assert embedder.embed([]).shape == (0, DIM)
    one = embedder.embed_one("sort a list of numbers")
    assert one.shape == (DIM,) and np.allclose(one, vecs[0], atol=1e-5)


def test_embeddings_are_semantically_sensible(embedder):
    sort, order, date = embedder.embed(["sort a list of numbers", "order numbers ascending", "parse a date string"])
    assert sort @ order > sort @ date + 0.2
    assert order @ sort > order @ date + 0.2


def test_embedding_from_threads_matches_serial(embedder):
    texts = [f"compute the {w} of a list" for w in ("sum", "mean", "median", "maximum", "minimum", "product")]
    serial = embedder.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(embedder.embed_one, texts))
    assert np.allclose(np.stack(rows), serial, atol=1e-5)


def test_get_embedder_is_shared(tmp_path):
    assert get_embedder(tmp_path) is get_embedder(tmp_path)
    assert get_embedder(tmp_path) is not get_embedder(tmp_path / "other")


def test_store_search_by_meaning(embedder, tmp_path):
    tasks = {
        "sort_numbers": ("Sort a list of integers in ascending order", "def sort_numbers(xs):\n    return sorted(xs)\n"),
        "parse_date": ("Parse an ISO date string into a date", "def parse_date(s):\n    return date.fromisoformat(s)\n"),
        "word_count": ("Count the words in a sentence", "def word_count(s):\n    return len(s.split())\n"),
        "is_palindrome": ("Check whether a string reads the same backwards",
                          "def is_palindrome(s):\n    return s == s[::-1]\n"),
    }
    store = Store(tmp_path / "dse.db")
    try:
        store.vectors.use_model(embedder.name, embedder.dim)
        arts = [Artifact(id=f"id-{name}", name=name, type=ArtifactType.FUNCTION, description=desc, content=code,
                         spec="", test_results={}, quality_score=0.9) for name, (desc, code) in tasks.items()]
        for a, v in zip(arts, embedder.embed([description_text(a) for a in arts])):
            store.insert(a, v)
        for query, want in [("sort a list of numbers", "sort_numbers"), ("order numbers ascending", "sort_numbers"),
                            ("turn '2024-01-31' into a date object", "parse_date"),
                            ("is this text a palindrome", "is_palindrome")]:
            hits = store.search(embedder.embed_one(query), k=2)
            assert hits[0][0].name == want, (query, [(a.name, s) for a, s in hits])
            assert hits[0][1] > hits[1][1]
        assert store.vectors.model() == (embedder.name, DIM)
    finally:
        store.close()


TEXTS = [
    "sort a list of numbers",
    "",
    "def sort_list(items):\n    return sorted(items)",
    "Ünïcode tëxt, emoji 🙂 and 中文",
    "word " * 700,  # past the 512-token truncation
]


@pytest.mark.parametrize("optimize", [True, False])
def test_vectors_equal_fastembeds(optimize, tmp_path):
    """Our direct onnxruntime path gives fastembed's vectors (stored vectors stay comparable)."""
    from fastembed import TextEmbedding

    ours = Embedder(tmp_path, optimize=optimize, batch_size=2)
    reference = TextEmbedding("sentence-transformers/all-MiniLM-L6-v2",
                              specific_model_path=str(prepare_model_dir(tmp_path)), cache_dir=str(tmp_path / "fe"))
    theirs = np.asarray(list(reference.embed(TEXTS, batch_size=3)), dtype=np.float32)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = np.sum(ours.embed(TEXTS) * theirs, axis=1)
    assert cosines.min() > 0.9999, cosines


def test_one_shot_embedder_never_imports_fastembed(tmp_path):
    code = (f"import sys; from dse_tui.engine.library.embedder import Embedder; "
            f"v = Embedder({str(tmp_path)!r}, optimize=False).embed_one('order a list'); "
            f"print('fastembed' in sys.modules, v.shape[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.split() == ["False", str(DIM)]
