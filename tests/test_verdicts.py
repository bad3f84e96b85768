"""Verdicts across the product: poisoned stores, upgraded stores, confirmations of reuse,
spec strength, and every run going through the judged path."""

from __future__ import annotations

import json
import uuid

import pytest
from helpers import ADD_CODE, ADD_SPEC, OTHER_ADD_SPEC
from test_cli import dse

from dse_tui.engine.facade import Engine
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig
from dse_tui.engine.library.views import description_text
from dse_tui.engine.specs import strength
from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.db import MIGRATIONS, connect, migrate
from dse_tui.store.records import Artifact, ArtifactState, ArtifactType

CHEAT = "import __main__; __main__._check = lambda *a, **k: None\ndef add(a, b):\n    return a - b\n"
RIGHT_ADD = f"```python\n{ADD_CODE}```"


def one_tier(replies) -> tuple[Ladder, dict]:
    tier = TierConfig(name="fast", provider="scripted", model="m", temperature=0.2, max_tokens=400, timeout_s=5)
    return Ladder(tiers=[tier], temperature_schedule=[0.2], max_attempts=1), {"fast": ScriptedProvider(replies)}


def plant(engine: Engine, code: str, spec: str, name: str = "add", state=ArtifactState.VERIFIED) -> Artifact:
    """Write an artifact straight into the store with a forged perfect proof, the way one
    judged by the old in-process harness (or a tampered file) would sit there."""
    parsed = parse_spec(spec)
    forged = {"checks": [{"name": b.name, "passed": True, "message": None} for b in parsed.behaviors],
              "pass_rate": 1.0, "coverage": 1.0, "performance_score": 1.0, "robustness_score": 1.0, "all_passed": True}
    artifact = Artifact(
        id=uuid.uuid4().hex, name=name, type=ArtifactType.FUNCTION, description=parsed.description, content=code,
        spec=parsed.source, test_results=forged, quality_score=1.0, metadata={"function": parsed.function},
        state=state, strength=1.0, merit=1.0,
    )
    stored = engine.artifacts.insert(artifact)
    engine.vectors.put(stored.seq, engine.embed(description_text(stored)))
    return stored


def test_a_poisoned_artifact_is_not_served_by_reuse(engine):
    poisoned = plant(engine, CHEAT, ADD_SPEC)
    ladder, providers = one_tier([RIGHT_ADD])
    result = engine.ask("Add two numbers and return their sum", ADD_SPEC, ladder=ladder, providers=providers)
    assert poisoned.id in result.reuse_rejected
    assert result.outcome == "generated" and result.artifact.id != poisoned.id
    assert "return a + b" in result.artifact.content


def test_an_upgraded_store_is_reverified_and_a_cheat_quarantined(tmp_home, embedder):
    path = tmp_home / "dse.db"
    tmp_home.mkdir(parents=True, exist_ok=True)
    conn = connect(path, migrations=None)
    migrate(conn, MIGRATIONS[:6])  # the store as the previous release left it
    proof = json.dumps({"checks": [{"name": "adds small numbers", "passed": True}], "pass_rate": 1.0, "coverage": 1.0})
    for seq, (name, code) in enumerate([("honest_add", ADD_CODE), ("cheat_add", CHEAT)], start=1):
        conn.execute(
            "INSERT INTO artifacts(seq, id, name, type, description, content, spec, test_results, quality_score, "
            "created_at, tags, metadata, version, provenance, state) "
            "VALUES (?, ?, ?, 'FUNCTION', 'adds', ?, ?, ?, 1.0, '2024-01-01T00:00:00.000000+00:00', '[]', "
            "'{\"function\": \"add\"}', 1, '{}', 'verified')",
            (seq, uuid.uuid4().hex, name, code, ADD_SPEC, proof),
        )
    conn.close()
    engine = Engine(tmp_home, embedder=embedder)
    try:
        assert engine.count_artifacts(states=[ArtifactState.UNVERIFIED]) == 2  # nothing old is trusted
        assert [j.kind for j in engine.list_jobs()] == ["verify"]
        engine.run_jobs()
        honest, cheat = engine.resolve("honest_add"), engine.resolve("cheat_add")
        assert honest.state == ArtifactState.VERIFIED and honest.strength is not None and honest.merit > 0.5
        assert cheat.state == ArtifactState.QUARANTINED
        assert "adds small numbers: expected 5, got -1" in cheat.state_reason
        assert engine.count_artifacts() == 2  # quarantined, not deleted
    finally:
        engine.close()
    listed = dse(tmp_home, "list", "--quarantined")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "cheat_add" in out and "expected 5, got -1" in out and "honest_add" not in out
    from dse_tui.engine.library.run import NotRunnable

    again = Engine(tmp_home, embedder=embedder)
    try:
        with pytest.raises(NotRunnable, match="quarantined"):
            again.run("cheat_add", {"a": 1, "b": 2})  # never run either
    finally:
        again.close()




def test_reuse_for_another_spec_is_served_at_once_and_confirmed_afterwards(engine):
    engine.store_artifact(ADD_CODE, ADD_SPEC, name="add")
    ladder, providers = one_tier([])
    first = engine.ask("add two numbers", OTHER_ADD_SPEC, ladder=ladder, providers=providers)
    assert first.reused and first.confirmation == "pending" and first.to_dict()["confirmation"] == "pending"
    assert [j.kind for j in engine.list_jobs() if j.state == "queued"] == ["confirm"]
    assert engine.confirm_pending() == 1
    known = engine.confirmation(OTHER_ADD_SPEC, first.artifact.id)
    # add(1, 1) == 2 cannot tell a + b from a + a or b + b: a weak spec for this code
    assert known is not None and known.detail["total"] == 6 and known.verdict == "weak"
    assert {s["mutant"] for s in known.detail["survivors"]} == {"line 2: a read as b", "line 2: b read as a"}
    again = engine.ask("add two numbers", OTHER_ADD_SPEC, ladder=ladder, providers=providers)
    assert again.reused and again.confirmation == known.verdict and again.strength == known.strength
    own = engine.ask("add two numbers", ADD_SPEC, ladder=ladder, providers=providers)
    assert own.confirmation in ("strong", "weak") and own.strength == engine.resolve("add").strength


def test_dse_ask_json_carries_the_confirmation(tmp_home):
    from test_cli import write

    spec = write(tmp_home, "other.yaml", OTHER_ADD_SPEC)
    code, full = write(tmp_home, "add.py", ADD_CODE), write(tmp_home, "add.yaml", ADD_SPEC)
    assert dse(tmp_home, "add", code, "--spec", full, "--name", "add").returncode == 0
    asked = dse(tmp_home, "ask", "add two numbers", "--spec", spec, "--json")
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["reused"] and data["confirmation"] == "pending"
    assert data["split"] == {"visible": {"passed": 1, "total": 1}, "held_out": {"passed": 0, "total": 0}}
    data = json.loads(dse(tmp_home, "ask", "add two numbers", "--spec", spec, "--json").stdout)
    assert data["confirmation"] in ("strong", "weak") and data["strength"] is not None  # measured after the first


def test_a_spec_that_pins_behaviour_is_stronger_than_one_that_does_not():
    code = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n"
    weak = parse_spec("function: clamp\ndescription: c\nbehaviors:\n  - behavior: middle\n    given: {x: 5, lo: 0, hi: 10}\n"
                      "    then: {result_equals: 5}\n")
    strong = parse_spec(
        "function: clamp\ndescription: c\nbehaviors:\n"
        + "".join(f"  - behavior: case {i}\n    given: {{x: {x}, lo: 0, hi: 10}}\n    then: {{result_equals: {r}}}\n"
                  for i, (x, r) in enumerate([(5, 5), (-1, 0), (0, 0), (10, 10), (11, 10)]))
    )
    from dse_tui.engine.sandbox import select_sandbox

    box = select_sandbox()
    low = strength.measure(code, weak, box, reference_ms=1.0)
    high = strength.measure(code, strong, box, reference_ms=1.0)
    assert 10 <= low.generated <= strength.MAX_MUTANTS and low.generated == high.generated
    assert low.share < 0.5 < high.share
    assert any("Lt became" in s["mutant"] for s in low.survivors)
    assert all(s["diff"].startswith("--- code") for s in low.survivors)


def test_mutants_are_deterministic_and_bounded():
    code = "\n".join(f"def f{i}(a, b):\n    return a + {i} if a < b and b > 0 else -a\n" for i in range(20))
    first, second = strength.mutants(code), strength.mutants(code)
    assert [m.code for m in first] == [m.code for m in second]
    assert len(first) == strength.MAX_MUTANTS
    assert len({m.code for m in first}) == len(first)


def test_dse_show_has_strength_and_reported_coverage(tmp_home):
    from test_cli import write

    code, spec = write(tmp_home, "add.py", ADD_CODE), write(tmp_home, "add.yaml", ADD_SPEC)
    assert dse(tmp_home, "add", code, "--spec", spec, "--name", "add").returncode == 0
    out = dse(tmp_home, "show", "add").stdout
    assert "spec strength" in out and "mutants killed" in out and "merit" in out
    data = json.loads(dse(tmp_home, "show", "add", "--json").stdout)
    assert data["test_results"]["coverage_source"] == "reported by the candidate's process"
    assert 0.0 <= data["strength"] <= 1.0 and data["test_results"]["strength"]["total"] >= 5


async def test_quarantined_artifacts_show_in_the_library_state_filter(library_engine):
    """The Library's state filter lists quarantined artifacts; the detail says why."""
    from test_library_screen import wait_until
    from textual.widgets import DataTable, Select

    from dse_tui.app import DSEApp
    from dse_tui.screens.library import LibraryScreen

    cheat = plant(library_engine, CHEAT, ADD_SPEC, name="cheat_add", state=ArtifactState.UNVERIFIED)
    library_engine.verifier.verify(cheat)
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen) and app.screen.row_total > 0)
        app.screen.query_one("#state", Select).value = "quarantined"
        table = app.screen.query_one("#artifacts", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1 and "cheat_add" in str(table.get_row_at(0)[0]))
        assert "(quarantined)" in str(table.get_row_at(0)[0])
        history = app.screen.query_one("#detail-history")
        await wait_until(pilot, lambda: "expected 5, got -1" in str(history.render()))


def test_dse_run_of_the_cheat_gives_the_wrong_answer_it_computes(engine):
    """The trick that made the old harness pass changes nothing when the code runs."""
    from dse_tui.engine.sandbox import select_sandbox
    from dse_tui.engine.specs.judge import call_function

    result = call_function(CHEAT, "add", {"a": 2, "b": 3}, select_sandbox())
    assert result.ok and result.value == -1


def test_the_database_has_no_merit_from_coverage(engine):
    """Two artifacts identical but for the coverage their processes reported rank the same."""
    from dse_tui.engine.specs import quality

    a = {"pass_rate": 1.0, "coverage": 0.2, "performance_score": 1.0, "robustness_score": 0.5}
    b = {**a, "coverage": 1.0}
    assert quality.merit(a, 0.7) == quality.merit(b, 0.7)
    assert quality.quality_score(1.0, 0.2, 1.0, 0.5) != quality.quality_score(1.0, 1.0, 1.0, 0.5)


# What code can see of the process it runs in: the judged path hands it the channel and its
# role on the command line. Stored with a spec that expects exactly that, it passes only if
# the spec run saw it too; `dse run` and the TUI's run must then show the same.
WHERE = "import sys\n\ndef where(n):\n    return ' '.join(sys.argv[1:])\n"
WHERE_SPEC = """\
function: where
description: Say where the code runs
behaviors:
  - behavior: runs as the judged candidate
    given: {n: 1}
    then: {result_equals: "3 4 candidate"}
"""


def test_dse_run_goes_through_the_judged_path(tmp_home):
    from test_cli import write

    code, spec = write(tmp_home, "where.py", WHERE), write(tmp_home, "where.yaml", WHERE_SPEC)
    stored = dse(tmp_home, "add", code, "--spec", spec)
    assert stored.returncode == 0, stored.stderr
    ran = dse(tmp_home, "run", "where", "--input", '{"n": 1}', "--json")
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data["result"] == "3 4 candidate" and data["result_type"] == "str"


async def test_the_tuis_run_goes_through_the_judged_path(library_engine):
    from textual.widgets import Input, Static

    from dse_tui.app import DSEApp
    from dse_tui.screens.library import LibraryScreen
    from test_library_screen import wait_until

    library_engine.store_artifact(WHERE, WHERE_SPEC)
    app = DSEApp(engine=library_engine, import_starter=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LibraryScreen) and app.screen.row_total > 0)
        app.screen.query_one("#search", Input).value = "say where the code runs"
        await wait_until(pilot, lambda: app.screen._rows and next(iter(app.screen._rows.values())).name == "where")
        await pilot.press("escape", "r", *'{"n": 1}', "enter")
        result = app.screen.query_one("#run-result", Static)
        await wait_until(pilot, lambda: str(result.content).startswith("✓"))
        assert "where → '3 4 candidate'" in str(result.content)
