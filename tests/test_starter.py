"""The starter library ships with its proofs and vectors, arrives unverified at once, and is
verified by a job; reuse serves only verified artifacts and verifies a candidate inline."""

from __future__ import annotations

import time

import numpy as np

from dse_tui.engine.facade import Engine
from dse_tui.engine.library.starter import digest, load_shipped, vector_from
from dse_tui.engine.library.views import VIEW_VERSION, view_texts
from dse_tui.engine.presets import starter_library
from dse_tui.store import ArtifactState


def test_the_shipped_proofs_and_vectors_are_current(embedder):
    shipped = load_shipped()
    assert shipped["embedding_model"] == embedder.name and shipped["dim"] == embedder.dim
    assert shipped["view_version"] == VIEW_VERSION, "run: python -m dse_tui.engine.library.starter --build"
    pairs = starter_library()
    assert set(shipped["artifacts"]) == {c.stem for c, _ in pairs}, "run: python -m dse_tui.engine.library.starter --build"
    for code_path, spec_path in pairs:
        entry = shipped["artifacts"][code_path.stem]
        assert entry["code_sha256"] == digest(code_path.read_text(encoding="utf-8")), code_path.stem
        assert entry["spec_sha256"] == digest(spec_path.read_text(encoding="utf-8")), code_path.stem
        assert entry["test_results"]["all_passed"] and 0 < entry["quality_score"] <= 1


def test_shipped_vectors_are_what_the_embedder_makes(tmp_home, embedder):
    engine = Engine(tmp_home, embedder=embedder)
    try:
        engine.ensure_starter_library()
        shipped = load_shipped()["artifacts"]
        assert not engine.indexer.missing(), "every view arrives with the starter library"
        for artifact in engine.list_artifacts(limit=100):
            texts = view_texts(artifact)
            assert shipped[artifact.name]["words"] == texts["words"], artifact.name
            for view in ("description", "code"):
                vector = vector_from(shipped[artifact.name]["vectors"][view], embedder.dim)
                assert float(np.dot(vector, embedder.embed_one(texts[view]))) > 0.999, (artifact.name, view)
    finally:
        engine.close()


def test_a_first_start_imports_at_once_unverified_and_a_job_verifies(tmp_home, embedder):
    engine = Engine(tmp_home, embedder=embedder)
    try:
        started = time.perf_counter()
        assert engine.ensure_starter_library() == 36
        assert time.perf_counter() - started < 5  # no sandbox run, no embedding: the proofs ship
        assert engine.count_artifacts(states=[ArtifactState.UNVERIFIED]) == 36
        (job,) = engine.list_jobs()
        assert (job.kind, job.state) == ("verify", "queued")
        assert engine.find_similar("order a list of numbers", limit=1)[0].artifact.name == "sort_list"
        assert engine.run_jobs() == 1
        assert engine.count_artifacts(states=[ArtifactState.VERIFIED]) == 36
        verified = engine.resolve("sort_list")
        assert verified.state_reason is None and verified.test_results["sandbox"] == engine.sandbox.name
        assert engine.list_jobs()[0].state == "done" and engine.ensure_starter_library() == 0
    finally:
        engine.close()


def tamper(engine: Engine, name: str, code: str | None = None) -> None:
    """Unverified again, as after an upgrade; with `code`, what an attacker with write access
    to the file, or a bug, might leave behind."""
    with engine.db.write() as conn:
        conn.execute("UPDATE artifacts SET content = coalesce(?, content), state = 'unverified' WHERE name = ?",
                     (code, name))


def test_reuse_serves_only_verified_artifacts_and_verifies_inline(library_engine):
    spec = open("presets/library/sort_list.yaml", encoding="utf-8").read()
    tamper(library_engine, "sort_list")
    result = library_engine.ask("sort numbers ascending", spec)
    assert result.outcome == "reused" and result.artifact.name == "sort_list"
    assert library_engine.resolve("sort_list").state == ArtifactState.VERIFIED  # verified on the way


def test_an_unverified_artifact_that_fails_its_spec_is_quarantined_and_never_served(library_engine):
    spec = open("presets/library/sort_list.yaml", encoding="utf-8").read()
    # Passes the request's spec below, fails its own (it accepts None): reuse must not serve it.
    tamper(library_engine, "sort_list", "def sort_list(items):\n    return sorted(items or [])\n")
    request = "function: sort_list\ndescription: Sort a list of numbers ascending\nbehaviors:\n" \
              "  - behavior: sorts\n    given: {items: [2, 1]}\n    then: {result_equals: [1, 2]}\n"
    result = library_engine.ask("sort numbers ascending", request, ladder=_no_tiers())
    assert result.outcome == "failed" and not result.reused
    quarantined = library_engine.resolve("sort_list")
    assert quarantined.state == ArtifactState.QUARANTINED and "rejects None" in quarantined.state_reason
    assert spec  # the shipped spec is what it failed
    listed = {a.name for a in library_engine.list_artifacts(limit=100, states=[ArtifactState.QUARANTINED])}
    assert listed == {"sort_list"}


def _no_tiers():
    from dse_tui.engine.generation.providers import Ladder, TierConfig

    offline = TierConfig(name="fast", provider="embedded", model="no-such-model.gguf", temperature=0.2, max_tokens=10,
                         timeout_s=1)
    return Ladder([offline])
