"""The spec parser is strict: every malformed spec names the file and the place."""

import pytest

from dse_tui.engine.errors import SpecError
from dse_tui.engine.specs.spec import Comparison, load_spec_file, parse_spec

GOOD = """\
function: sort_list
description: Sort a list of numbers in ascending order
tags: [lists]
behaviors:
  - behavior: sorts ascending
    given: {items: [3, 1, 2]}
    then: {result_equals: [1, 2, 3], execution_time: "< 200ms"}
  - behavior: rejects None
    given: {items: null}
    then: {raises: TypeError}
  - behavior: keeps a confident label
    given: {items: [1]}
    then: {confidence: ">= 0.6", line_count: "<= 40", result_contains: ["a", "b"], result_type: list}
tests: |
  assert candidate([2, 1]) == [1, 2]
"""


def test_parses_the_documented_form():
    spec = parse_spec(GOOD, origin="s.yaml")
    assert spec.function == "sort_list"
    assert [b.name for b in spec.behaviors] == ["sorts ascending", "rejects None", "keeps a confident label"]
    first = spec.behaviors[0]
    assert first.given == {"items": [3, 1, 2]}
    assert first.then["execution_time"] == Comparison("<", 200.0)
    assert first.time_limit_ms == 200.0 and not first.probe
    assert spec.behaviors[1].probe  # raises -> an error probe
    assert spec.behaviors[2].then["confidence"] == Comparison(">=", 0.6)
    assert spec.check_count == 4 and spec.tags == ["lists"]


def test_seconds_are_converted_to_ms():
    spec = parse_spec(GOOD.replace('"< 200ms"', '"< 2s"'))
    assert spec.behaviors[0].time_limit_ms == 2000.0


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (lambda t: t.replace("result_equals", "result_equal"), "unknown expectation 'result_equal'"),
        (lambda t: t.replace("behavior: sorts", "behaviour: sorts"), "unknown key 'behaviour'"),
        (lambda t: t.replace("function: sort_list", "function: 3sort"), "'function' must name"),
        (lambda t: t.replace('"< 200ms"', '"fast"'), "execution_time takes a limit"),
        (lambda t: t.replace('">= 0.6"', '"high"'), "confidence takes a comparison"),
        (lambda t: t.replace("raises: TypeError", "raises: 42"), "raises takes an exception class name"),
        (lambda t: t.replace("result_type: list", "result_type: listy"), "result_type must be one of"),
        (lambda t: t.replace("tags: [lists]", "colour: red"), "unknown key 'colour'"),
        (lambda t: t.replace("candidate([2, 1]) == [1, 2]", "candidate(("), "syntax error in tests"),
    ],
)
def test_malformed_specs_name_file_and_line(mutation, expected):
    with pytest.raises(SpecError) as err:
        parse_spec(mutation(GOOD), origin="my.yaml")
    message = str(err.value)
    assert message.startswith("my.yaml: line ")
    assert expected in message


def test_the_error_points_at_the_offending_line():
    bad = GOOD.replace("result_equals: [1, 2, 3]", "result_equal: [1, 2, 3]")
    with pytest.raises(SpecError, match=r"^x.yaml: line 7: behaviors.0.then.result_equal"):
        parse_spec(bad, origin="x.yaml")


def test_broken_yaml_is_reported_with_its_position():
    with pytest.raises(SpecError, match=r"^b.yaml: line \d+, column \d+: malformed YAML"):
        parse_spec("function: f\nbehaviors: [\n  - {", origin="b.yaml")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string"])
def test_a_spec_must_be_a_mapping(text):
    with pytest.raises(SpecError, match="a spec must be a mapping"):
        parse_spec(text)


def test_a_spec_needs_something_to_check():
    with pytest.raises(SpecError, match="at least one behaviour or a tests block"):
        parse_spec("function: f\ndescription: d\nbehaviors: []\n")


def test_raises_cannot_be_combined_with_result_checks():
    with pytest.raises(SpecError, match="cannot be combined"):
        parse_spec("function: f\ndescription: d\nbehaviors:\n  - behavior: x\n    then: {raises: TypeError, result_equals: 1}\n")


def test_duplicate_behaviour_names_are_rejected():
    text = "function: f\ndescription: d\nbehaviors:\n  - {behavior: a, then: {result_equals: 1}}\n  - {behavior: a, then: {result_equals: 2}}\n"
    with pytest.raises(SpecError, match="duplicate behaviour name 'a'"):
        parse_spec(text)


def test_huge_description_is_refused():
    text = "function: f\ndescription: " + "x" * 20_000 + "\nbehaviors:\n  - {behavior: a, then: {result_equals: 1}}\n"
    with pytest.raises(SpecError, match=r"line 2: description: description is 20000 characters; the limit is 10000"):
        parse_spec(text)


def test_a_10mb_spec_is_refused_before_parsing():
    text = "function: f\ndescription: " + "x" * 10_000_000 + "\nbehaviors:\n  - {behavior: a, then: {result_equals: 1}}\n"
    with pytest.raises(SpecError, match=r"the spec is 10.0 MB; the limit is 1000 kB"):
        parse_spec(text, origin="big.yaml")


def test_probe_classification_by_name_and_flag():
    text = (
        "function: f\ndescription: d\nbehaviors:\n"
        "  - {behavior: handles empty list, then: {result_equals: []}}\n"
        "  - {behavior: plain case, then: {result_equals: 1}}\n"
        "  - {behavior: plain but probing, probe: true, then: {result_equals: 1}}\n"
    )
    assert [b.probe for b in parse_spec(text).behaviors] == [True, False, True]


def test_non_utf8_spec_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"function: f\ndescription: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec_file(str(path))


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec_file(str(tmp_path / "nope.yaml"))


def test_unquoted_dates_are_refused_with_a_hint():
    text = "function: f\ndescription: d\nbehaviors:\n  - behavior: a\n    given: {day: 2024-03-15}\n    then: {result_equals: 1}\n"
    with pytest.raises(SpecError, match=r"line 5: behaviors.0.given.day: .*not date \(quote it"):
        parse_spec(text)
