"""Held-out behaviours: never in a prompt, always in the verdict."""

from __future__ import annotations

import json
import re

import pytest

from dse_tui.engine.errors import SpecError
from dse_tui.engine.generation.providers import Ladder, ScriptedProvider, TierConfig
from dse_tui.engine.specs.spec import parse_spec

SECRET = 7919  # a value that appears only in the held-out behaviour

SPEC = f"""
function: add
description: add two numbers
behaviors:
  - behavior: adds small numbers
    given: {{a: 2, b: 3}}
    then: {{result_equals: 5}}
  - behavior: adds negatives
    given: {{a: -4, b: 1}}
    then: {{result_equals: -3}}
  - behavior: adds large numbers
    given: {{a: {SECRET}, b: 1000}}
    held_out: true
    then: {{result_equals: {SECRET + 1000}}}
"""

CALL = re.compile(r"^- [^:]+: add\((.*)\) returns (.*)$", re.M)


def hard_coding_reply(messages, temperature, model) -> str:
    """A tier that special-cases exactly the examples it was shown."""
    prompt = messages[-1].content
    cases = []
    for args, result in CALL.findall(prompt):
        values = dict(pair.split("=") for pair in args.split(", "))
        cases.append(f"    if (a, b) == ({values['a']}, {values['b']}):\n        return {json.loads(result)}\n")
    return "```python\ndef add(a, b):\n" + "".join(cases) + "    return 0\n```"


def honest_reply(messages, temperature, model) -> str:
    return "```python\ndef add(a, b):\n    return a + b\n```"


def one_tier_ladder(attempts: int = 2) -> Ladder:
    tier = TierConfig(name="fast", provider="scripted", model="m", temperature=0.2, max_tokens=400, timeout_s=5)
    return Ladder(tiers=[tier], temperature_schedule=[0.2, 0.4], max_attempts=attempts)


def test_held_out_must_be_true_or_false():
    with pytest.raises(SpecError, match="'held_out' must be true or false"):
        parse_spec(SPEC.replace("held_out: true", "held_out: sometimes"))


def test_a_tier_that_hard_codes_the_visible_examples_is_refused(engine):
    cheat = ScriptedProvider(hard_coding_reply)
    result = engine.ask("add two numbers", SPEC, ladder=one_tier_ladder(), providers={"fast": cheat})
    assert result.outcome == "failed" and result.artifact is None
    assert engine.count_artifacts() == 0
    # it did see and copy the visible examples: the special-casing is real
    first = cheat.calls[0].messages[-1].content
    assert "add(a=2, b=3) returns 5" in first and "add(a=-4, b=1) returns -3" in first
    for call in cheat.calls:
        prompt = "\n".join(m.content for m in call.messages)
        assert str(SECRET) not in prompt and str(SECRET + 1000) not in prompt
        assert "adds large numbers" not in prompt
    # the retry's feedback counts the held-out failure without describing it
    retry = cheat.calls[1].messages[-1].content
    assert "1 held-out behaviour(s) failed (not shown)" in retry
    assert "1 more behaviour(s) are held out" in first


def test_an_honest_tier_passes_and_the_split_is_recorded(engine):
    result = engine.ask("add two numbers", SPEC, ladder=one_tier_ladder(), providers={"fast": ScriptedProvider(honest_reply)})
    assert result.outcome == "generated"
    split = result.artifact.test_results["split"]
    assert split == {"visible": {"passed": 2, "total": 2}, "held_out": {"passed": 1, "total": 1}}
    held = [c for c in result.artifact.test_results["checks"] if c["held_out"]]
    assert [c["name"] for c in held] == ["adds large numbers"]
    assert result.to_dict()["split"]["held_out"] == {"passed": 1, "total": 1}


def test_dse_show_gives_visible_and_held_out_apart(tmp_home):
    from test_cli import dse, write

    code, spec = write(tmp_home, "add.py", "def add(a, b):\n    return a + b\n"), write(tmp_home, "add.yaml", SPEC)
    assert dse(tmp_home, "add", code, "--spec", spec, "--name", "add").returncode == 0
    out = dse(tmp_home, "show", "add").stdout
    assert "visible 2/2 · held out 1/1" in out and "(held out)" in out
    data = json.loads(dse(tmp_home, "show", "add", "--json").stdout)
    assert data["test_results"]["split"]["held_out"] == {"passed": 1, "total": 1}
