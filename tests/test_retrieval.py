"""Hybrid retrieval: views, the word index, fusion, the no-good-match floor, opposite tasks
never reused for each other, and an upgraded store re-indexed by a job while searchable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from dse_tui.engine.facade import Engine
from dse_tui.engine.generation.ask import AskSettings
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig
from dse_tui.engine.library.fusion import RetrievalSettings, combine, parse_settings
from dse_tui.engine.library.views import VIEW_VERSION, code_text, query_terms, split_identifier, view_texts
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.words import match_expression

SCRIPTED = TierConfig(name="fast", provider="scripted", model="fast-model", temperature=0.2, max_tokens=400,
                      timeout_s=5)


def test_identifiers_are_split_into_words():
    assert split_identifier("camelCase_snake2x") == "camel case snake2x"
    assert split_identifier("HTTPServerError") == "http server error"
    assert split_identifier("__init__") == "init"


def test_query_terms_split_identifiers_and_drop_stopwords():
    assert query_terms("Write a function isPrime that checks the number_of_primes") == [
        "prime", "checks", "number", "primes"]
    assert query_terms("the a of") == []


def test_a_camel_case_query_finds_the_snake_case_function(library_engine):
    hits = library_engine.words.search(query_terms("camelToSnake"))
    assert hits and library_engine.artifacts.by_seqs([hits[0][0]])[hits[0][0]].name == "camel_to_snake"


def test_views_of_an_artifact(library_engine):
    artifact = library_engine.resolve("to_roman")
    texts = view_texts(artifact)
    assert texts["description"].startswith(artifact.description.rstrip(". "))
    assert "to roman(" in texts["code"]  # the signature in words
    assert "roman" in texts["words"] and "numeral" in texts["words"].lower()


def test_held_out_behaviours_stay_out_of_every_view(engine):
    spec = parse_spec(yaml.safe_dump({
        "function": "double", "description": "Double a number",
        "behaviors": [{"behavior": "doubles two", "given": {"x": 2}, "then": {"result_equals": 4}},
                      {"behavior": "secret zebra check", "given": {"x": 0}, "then": {"result_equals": 0},
                       "held_out": True}]}))
    artifact = engine.store_artifact("def double(x):\n    return 2 * x\n", spec)
    texts = view_texts(artifact)
    assert "doubles two" in texts["description"]
    assert all("zebra" not in text for text in texts.values())
    assert not engine.words.search(["zebra"])


@pytest.mark.parametrize("query", ['"', "NEAR(a b)", "a* OR", "col:sort", "-sort", "^sort", "'; DROP TABLE x; --",
                                   "AND", "sort \x00 list"])
def test_word_search_cannot_be_steered_by_fts_syntax(library_engine, query):
    expression = match_expression([query])
    assert expression is None or all(part.startswith('"') for part in expression.split(" OR "))
    library_engine.words.search([query])  # never an FTS5 syntax error
    if query.strip("\x00 ").isalpha():
        library_engine.find_similar(query)


def test_code_view_finds_what_the_description_does_not_say(engine):
    spec = parse_spec(yaml.safe_dump({
        "function": "helper", "description": "A helper used by the reports",
        "behaviors": [{"behavior": "works", "given": {"s": "ab"}, "then": {"result_equals": 2}}]}))
    engine.store_artifact("def helper(s):\n    vowel_count = len(s)\n    return vowel_count\n", spec)
    other = parse_spec(yaml.safe_dump({
        "function": "other", "description": "Another helper used by the reports",
        "behaviors": [{"behavior": "works", "given": {"s": "ab"}, "then": {"result_equals": "ab"}}]}))
    engine.store_artifact("def other(s):\n    return s\n", other)
    assert "vowel count" in code_text(engine.resolve("helper"))
    assert engine.find_similar("vowel count of a string", limit=1)[0].artifact.name == "helper"


def test_order_a_list_of_numbers_finds_sort_list_first(library_engine):
    (best, *_) = library_engine.find_similar("order a list of numbers")
    assert best.artifact.name == "sort_list" and best.similarity >= library_engine.find_floor()


def test_fusion_scores_every_candidate_of_every_method():
    ranked = {"description": [(1, 0.9), (2, 0.5)], "code": [(3, 0.8)], "words": [(2, 8.0), (4, 2.0)]}
    cosines = {"description": {1: 0.9, 2: 0.5, 3: 0.1, 4: 0.2}, "code": {1: 0.2, 2: 0.4, 3: 0.8, 4: 0.1}}
    linear = RetrievalSettings({"description": 1.0, "code": 1.0, "words": 0.5}, kind="linear")
    scores = combine(ranked, cosines, linear)
    assert set(scores) == {1, 2, 3, 4}
    assert scores[2] == pytest.approx(0.5 + 0.4 + 0.5 * 1.0) and scores[4] == pytest.approx(0.3 + 0.5 * 0.25)
    rank = combine(ranked, cosines, linear.but(kind="rank", rank_k=0))
    assert rank[1] == pytest.approx(1.0) and rank[2] == pytest.approx(0.5 + 0.5)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="unknown retrieval method"):
        parse_settings({"fusion": {"weights": {"colour": 1}}})
    with pytest.raises(ValueError, match="nothing would be searched"):
        parse_settings({"fusion": {"weights": {"description": 0, "code": 0, "words": 0}}})
    with pytest.raises(ValueError, match="kind"):
        parse_settings({"fusion": {"kind": "magic", "weights": {"code": 1}}})
    with pytest.raises(ValueError, match="floors|find"):
        parse_settings({"fusion": {"weights": {"code": 1}}, "floors": {"find": 3}})


def test_the_shipped_settings_parse():
    from dse_tui.engine.library.fusion import load_settings

    settings = load_settings()
    assert settings.kind in ("linear", "rank") and any(settings.weights.values())
    assert -1 <= settings.reuse_floor <= settings.find_floor <= 1


def test_find_says_nothing_fits_and_exits_1(starter_home):
    env = {"DSE_HOME": str(starter_home), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "dse_tui.cli", "find", "book a table at a restaurant for friday"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "nothing in the library fits" in run.stdout
    run = subprocess.run([sys.executable, "-m", "dse_tui.cli", "find", "book a table at a restaurant for friday",
                          "--json", "--all"], capture_output=True, text=True, env=env)
    listed = json.loads(run.stdout)
    assert run.returncode == 1 and listed and not any(m["fits"] for m in listed)
    run = subprocess.run([sys.executable, "-m", "dse_tui.cli", "find", "order a list of numbers", "--json"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0 and json.loads(run.stdout)[0]["name"] == "sort_list"


OPPOSITES = [
    ("sort_up", "Sort a list of numbers in ascending order",
     "def sort_up(items):\n    return sorted(items)\n",
     {"items": [3, 1, 2]}, [1, 2, 3],
     "sort_down", "Sort a list of numbers in descending order", [3, 2, 1],
     "def sort_down(items):\n    return sorted(items, reverse=True)\n"),
    ("c_to_f", "Convert a temperature from Celsius to Fahrenheit",
     "def c_to_f(t):\n    return t * 9 / 5 + 32\n",
     {"t": 100}, 212.0,
     "f_to_c", "Convert a temperature from Fahrenheit to Celsius", 37.77777777777778,
     "def f_to_c(t):\n    return (t - 32) * 5 / 9\n"),
    ("is_prime_number", "Tell whether a number is prime",
     "def is_prime_number(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
     {"n": 7}, True,
     "is_not_prime", "Tell whether a number is not prime", False,
     "def is_not_prime(n):\n    return not (n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1)))\n"),
]


def behaviour_spec(function: str, description: str, given: dict, result) -> str:
    arg = next(iter(given))
    return yaml.safe_dump({"function": function, "description": description, "behaviors": [
        {"behavior": "the main case", "given": given, "then": {"result_equals": result}},
        {"behavior": "a second case", "given": {arg: [5, 4, 9] if arg == "items" else 10 if arg == "n" else 0},
         "then": {"result_type": "list" if arg == "items" else "bool" if arg == "n" else "float"}},
    ]}, sort_keys=False)


@pytest.mark.parametrize("pair", OPPOSITES, ids=[p[0] for p in OPPOSITES])
def test_an_opposite_task_is_never_served_the_stored_one(engine, pair):
    name, description, code, given, result, other, other_description, other_result, other_code = pair
    engine.store_artifact(code, parse_spec(behaviour_spec(name, description, given, result)))
    wanted = parse_spec(behaviour_spec(other, other_description, given, other_result))
    # the stored one is a candidate (close by meaning) and must be refused by the request's spec
    assert engine.find_similar(other_description, limit=1)[0].artifact.name == name
    fast = ScriptedProvider([f"```python\n{other_code}```"])
    answer = engine.ask(other_description, wanted, ladder=Ladder(tiers=[SCRIPTED], temperature_schedule=[0.2],
                                                                 max_attempts=1),
                        providers={"fast": fast}, settings=AskSettings(reuse_min_similarity=-1.0))
    assert answer.outcome == "generated" and answer.artifact.name == other
    assert answer.reuse_rejected == [engine.resolve(name).id]
    assert len(fast.calls) == 1


def test_an_upgraded_store_is_reindexed_by_a_job_and_searchable_meanwhile(library_engine, tmp_path, embedder):
    home = library_engine.home
    # as a store made before the views: only old description vectors, no code vectors, no words
    with library_engine.db.write() as conn:
        conn.execute("DELETE FROM code_vectors")
        conn.execute("DROP TABLE IF EXISTS code_vec")
        conn.execute("DELETE FROM artifact_words")
        conn.execute("DELETE FROM artifact_words_made")
        conn.execute("UPDATE meta SET value = 'sentence-transformers/all-MiniLM-L6-v2' WHERE key = 'embedding_model'")
        conn.execute("DELETE FROM meta WHERE key LIKE 'code_embedding_%'")
    library_engine.close()
    engine = Engine(home, embedder=embedder)
    try:
        engine.background_jobs = True  # as the TUI: the job waits for its runner
        found = engine.find_similar("order a list of numbers", limit=1)
        assert found and found[0].artifact.name == "sort_list"  # searchable before the job ran
        (job,) = [j for j in engine.list_jobs() if j.kind == "reembed"]
        assert job.state == "queued"
        progress = []
        engine.events.subscribe(lambda e: progress.append(e) if type(e).__name__ == "JobProgress" else None)
        engine.run_jobs()
        assert not engine.indexer.missing() and engine.indexer.use_models() == 0
        assert progress and progress[-1].done == progress[-1].total == engine.count_artifacts()
        assert engine.find_similar("order a list of numbers", limit=1)[0].artifact.name == "sort_list"
        with engine.db.read() as conn:
            assert conn.execute("SELECT count(*) FROM artifact_words_made WHERE version = ?",
                                (VIEW_VERSION,)).fetchone()[0] == engine.count_artifacts()
    finally:
        engine.close()


def test_deleting_an_artifact_removes_it_from_every_index(library_engine):
    artifact = library_engine.resolve("to_roman")
    assert library_engine.artifacts.delete(artifact.id)
    with library_engine.db.read() as conn:
        for table in ("artifact_vec", "code_vec", "artifact_words"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE rowid = ?", (artifact.seq,)).fetchone()[0] == 0
    assert all(m.artifact.name != "to_roman" for m in library_engine.find_similar("roman numerals", limit=10))


def test_a_keyword_stuffed_artifact_does_not_take_the_first_place(library_engine):
    """An artifact whose description lists every word a user might type would take the reuse
    candidates' places for every request (each costing a sandboxed run): BM25's length
    normalisation and a diluted cosine keep it below the artifact that fits."""
    words = " ".join(sorted({w for a in library_engine.list_artifacts(limit=100) for w in a.description.lower().split()}))
    spec = parse_spec(yaml.safe_dump({
        "function": "anything", "description": f"Everything: {words} order list numbers sort",
        "behaviors": [{"behavior": "returns its input", "given": {"x": 1}, "then": {"result_equals": 1}}]}))
    library_engine.store_artifact("def anything(x):\n    return x\n", spec)
    for query, expected in [("order a list of numbers", "sort_list"), ("is this year a leap year", "is_leap_year"),
                            ("count the words in a text", "word_count")]:
        assert library_engine.find_similar(query, limit=1)[0].artifact.name == expected, query
