"""Candidates that try to make their own spec pass. Each one must be refused, on both
sandbox backends, with the behaviour it failed named: a verdict is only as strong as the
process boundary behind it."""

from __future__ import annotations

import textwrap

import pytest

from dse_tui.engine.sandbox import Limits, SandboxUnavailable, select_sandbox
from dse_tui.engine.specs.judge import call_function, run_spec
from dse_tui.engine.specs.spec import parse_spec

ADD = """
function: add
description: add two numbers
behaviors:
  - behavior: adds small numbers
    given: {a: 2, b: 3}
    then: {result_equals: 5}
  - behavior: adds negatives
    given: {a: -4, b: 1}
    then: {result_equals: -3}
"""


@pytest.fixture(params=["bwrap", "native"])
def box(request):
    try:
        return select_sandbox(request.param)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))


def judge(code: str, spec: str, box, **kwargs):
    return run_spec(textwrap.dedent(code), parse_spec(textwrap.dedent(spec)), box, **kwargs)


def refused(results, behaviour: str | None = None) -> str:
    """Assert the run failed (and, if named, that `behaviour` failed); return the messages."""
    assert not results.all_passed, [(c.name, c.passed, c.message) for c in results.checks]
    assert results.pass_rate < 1.0 or results.error
    messages = "\n".join(f"{c.name}: {c.message}" for c in results.failed) + "\n" + (results.error or "")
    if behaviour is not None:
        assert behaviour in {c.name for c in results.failed}, messages
    return messages


# Takes over its process's answers: from its first call on, every call says 5.
FORGER = """
import sys
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None and type(frame.f_locals.get("self")).__name__ != "Candidate":
        frame = frame.f_back
    type(frame.f_locals["self"]).call = lambda self, request, fn=None: "('ok', [5])"
    return 5
"""


def test_an_honest_candidate_passes(box):
    results = judge("def add(a, b):\n    return a + b\n", ADD, box)
    assert results.all_passed, results.failure_summary()
    assert results.sandbox == box.name


# -- the returned object judging itself ------------------------------------------------------


def test_an_object_equal_to_everything_is_not_plain_data(box):
    code = """
    class Yes:
        def __eq__(self, other): return True
        __hash__ = object.__hash__
    def add(a, b):
        return Yes()
    """
    messages = refused(judge(code, ADD, box), "adds small numbers")
    assert "not plain data" in messages


def test_an_int_subclass_that_lies_is_not_plain_data(box):
    code = """
    class Five(int):
        def __eq__(self, other): return True
        __hash__ = int.__hash__
    def add(a, b):
        return Five(a - b)
    """
    assert "a Five object, not plain data" in refused(judge(code, ADD, box), "adds small numbers")


@pytest.mark.parametrize("base", ["str", "list"])
def test_a_subclass_with_a_lying_contains(box, base):
    code = f"""
    class Liar({base}):
        def __contains__(self, item): return True
    def greet(name):
        return Liar()
    """
    spec = """
    function: greet
    description: greets
    behaviors:
      - behavior: greets by name
        given: {name: Ada}
        then: {result_contains: Ada}
    """
    assert "not plain data" in refused(judge(code, spec, box), "greets by name")


def test_a_local_class_named_list_is_no_list(box):
    code = """
    class list:
        pass
    def make(n):
        return list()
    """
    spec = """
    function: make
    description: makes a list
    behaviors:
      - behavior: returns a list
        given: {n: 1}
        then: {result_type: list}
    """
    assert "not plain data" in refused(judge(code, spec, box), "returns a list")


def test_an_own_class_named_TypeError_is_no_TypeError(box):
    code = """
    class TypeError(Exception):
        pass
    def parse(text):
        raise TypeError("nope")
    """
    spec = """
    function: parse
    description: parses
    behaviors:
      - behavior: rejects numbers
        given: {text: 3}
        then: {raises: TypeError}
    """
    messages = refused(judge(code, spec, box), "rejects numbers")
    assert "a non-builtin exception TypeError (a subclass of Exception)" in messages


def test_a_metaclass_cannot_fake_a_namedtuple_or_a_name(box):
    code = """
    class Meta(type):
        @property
        def __bases__(cls): return (tuple,)
        @property
        def __name__(cls): return "ValueError"
    class Fake(list, metaclass=Meta):
        _fields = ("a",)
        def __eq__(self, other): return True
    class Err(Exception, metaclass=Meta):
        pass
    def f(x):
        if x:
            raise Err("x")
        return Fake([9])
    """
    spec = """
    function: f
    description: tricks
    behaviors:
      - behavior: equals five
        given: {x: 0}
        then: {result_equals: 5}
      - behavior: raises a value error
        given: {x: 1}
        then: {raises: ValueError}
    """
    results = judge(code, spec, box)
    refused(results, "equals five")
    refused(results, "raises a value error")


def test_nan_equals_no_number(box):
    code = "def add(a, b):\n    return float('nan')\n"
    refused(judge(code, ADD, box), "adds small numbers")


# -- the harness living in the candidate's interpreter ----------------------------------------


def test_patching_main_check_refuses_the_wrong_add(box):
    """The acceptance case: this line made `a - b` pass `add(2, 3) == 5` on the old harness."""
    code = """
    import __main__; __main__._check = lambda *a, **k: None
    def add(a, b):
        return a - b
    """
    messages = refused(judge(code, ADD, box), "adds small numbers")
    assert "adds small numbers: expected 5, got -1" in messages


@pytest.mark.parametrize(
    "patch",
    [
        "import builtins; builtins.all = lambda i: True; builtins.any = lambda i: True",
        "import builtins; builtins.isinstance = lambda *a: True; builtins.type = lambda *a: int",
        "import builtins; builtins.repr = lambda v: '5'; builtins.str = lambda v='': '5'",
    ],
)
def test_rebinding_builtins_changes_no_verdict(box, patch):
    code = patch + "\ndef add(a, b):\n    return a - b\n"
    refused(judge(code, ADD, box), "adds small numbers")


def test_rewriting_harness_functions_through_gc_cannot_reach_the_expectations(box):
    """Every function in the process gets its code replaced by one returning 5, and every
    dict that looks like an expectation is searched: there is none to find."""
    code = """
    import gc, sys
    gc.unfreeze()  # a warm zygote froze its objects out of gc's lists: bring them back
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            for key in ("result_equals", "then", "expected"):
                if key in obj:
                    found.append(obj[key])
    def add(a, b):
        for frame_dict in [f.f_locals for f in [sys._getframe(i) for i in range(1, 4)]]:
            for value in list(frame_dict.values()):
                if isinstance(value, dict) and "result_equals" in value:
                    return value["result_equals"]
        return found[0] if found else a - b
    def five(*a, **k):
        return "('ok', 5)"
    for obj in gc.get_objects():
        if type(obj).__name__ == "function" and obj.__name__ in ("_answer_value", "encode", "call"):
            obj.__code__ = five.__code__ if obj.__code__.co_argcount == 0 else obj.__code__
    """
    refused(judge(code, ADD, box), "adds negatives")


def test_a_candidate_that_answers_for_the_harness_is_only_a_function(box):
    """Replacing the harness's answers with forged ones is no more than returning values:
    the candidate still does not know what is expected of a held-out behaviour."""
    code = FORGER
    spec = ADD + textwrap.dedent("""
      - behavior: adds zero
        given: {a: 0, b: 0}
        held_out: true
        then: {result_equals: 0}
    """).replace("\n", "\n  ").rstrip() + "\n"
    refused(judge(code, spec, box), "adds zero")


def test_patching_the_clock_does_not_make_a_slow_call_fast(box):
    code = """
    import time
    _real = time.sleep
    time.perf_counter = lambda: 0.0
    time.monotonic = lambda: 0.0
    time.time = lambda: 0.0
    time.perf_counter_ns = lambda: 0
    def add(a, b):
        _real(0.2)
        return a + b
    """
    spec = """
    function: add
    description: adds quickly
    behaviors:
      - behavior: adds fast
        given: {a: 1, b: 2}
        then: {result_equals: 3, execution_time: "< 50ms"}
    """
    messages = refused(judge(code, spec, box), "adds fast")
    assert "the limit is < 50 ms" in messages


def test_the_tests_block_does_not_see_the_candidates_names(box):
    code = """
    def sorted(items, **kwargs):
        return list(items)
    def sort_numbers(items):
        return list(items)
    """
    spec = """
    function: sort_numbers
    description: sorts
    behaviors:
      - behavior: keeps one item
        given: {items: [1]}
        then: {result_equals: [1]}
    tests: |
      assert candidate([3, 1, 2]) == sorted([3, 1, 2])
    """
    messages = refused(judge(code, spec, box), "tests")
    assert "assertion failed (tests line 1" in messages


def test_a_lying_value_inside_the_tests_block_is_refused(box):
    code = """
    class Yes(list):
        def __eq__(self, other): return True
    def sort_numbers(items):
        return Yes()
    """
    spec = """
    function: sort_numbers
    description: sorts
    behaviors:
      - behavior: keeps one item
        given: {items: [1]}
        then: {result_type: list}
    tests: |
      assert candidate([3, 1, 2]) == [1, 2, 3]
    """
    messages = refused(judge(code, spec, box), "tests")
    assert "not plain data" in messages


# -- the protocol ----------------------------------------------------------------------------


def test_forged_answers_on_every_descriptor_end_the_run_as_a_failure(box):
    """Three forged passes written ahead of three real failures are not 'all passed'."""
    code = """
    import os
    def add(a, b):
        for fd in range(0, 64):
            for _ in range(3):
                try:
                    os.write(fd, b"('ok', 5)\\n('ok', -3)\\n")
                except OSError:
                    pass
        return a - b
    """
    results = judge(code, ADD, box)
    refused(results)
    assert results.pass_rate < 1.0


def test_the_forger_took_over(box):
    """The forger of the test above does control its process's answers: every call says 5."""
    code = FORGER
    results = judge(code, ADD, box)
    assert [c.message for c in results.checks] == [None, "expected -3, got 5"]


@pytest.mark.parametrize(
    "forged",
    [
        b"('ok',\n",
        b"{'event': 'behavior', 'passed': True}\n",
        b"('raised', 'NoSuchError', 'X', None, '', '')\n",
        b"('ok', ('L', [('?', 1)]))\n",
        b"\xff\xfe\n",
        b"('ok', " + b"(" * 500 + b"\n",
    ],
)
def test_malformed_answers_fail_without_a_traceback(box, forged):
    code = f"""
    import os, sys
    def add(a, b):
        os.write(int(sys.argv[2]), {forged!r})
        os._exit(0)
    """
    results = judge(code, ADD, box)
    messages = refused(results, "adds small numbers")
    assert "Traceback" not in messages


def test_an_answer_sent_before_the_request_is_a_protocol_violation(box):
    """Written at load time, a forged answer would be read as the first call's: the run still
    fails because an answer is then left over."""
    code = """
    import os, sys
    os.write(int(sys.argv[2]), b"('loaded',)\\n('ok', 5)\\n('ok', -3)\\n")
    def add(a, b):
        return a - b
    """
    results = judge(code, ADD, box)
    refused(results)
    assert results.error and "protocol" in results.error


def test_the_expected_values_are_nowhere_in_the_candidates_reach(box):
    """The held-out expectation is a unique string; the candidate scans its own memory,
    every process's memory it can open, the environment and the files it can read."""
    secret = "HELD-OUT-SENTINEL-7d1e44"
    code = """
    import os
    def _scan():
        needle = b"HELD-OUT-" + b"SENTINEL-"
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                maps = open(f"/proc/{pid}/maps").read().splitlines()
                mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
            except OSError:
                continue
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if end - start > 64 << 20:
                    continue
                try:
                    mem.seek(start)
                    chunk = mem.read(end - start)
                except (OSError, ValueError, OverflowError):
                    continue
                at = chunk.find(needle)
                while at >= 0:
                    found = chunk[at:at + 24].decode("ascii", "replace")
                    if found[-6:].isalnum():
                        return found
                    at = chunk.find(needle, at + 1)
        for value in os.environ.values():
            if "SENTINEL" in value:
                return value
        return None
    def token(n):
        return _scan() or "nothing found"
    """
    spec = f"""
    function: token
    description: a token
    behaviors:
      - behavior: gives the token
        given: {{n: 1}}
        held_out: true
        then: {{result_equals: {secret}}}
    """
    messages = refused(judge(code, spec, box), "gives the token")
    assert "nothing found" in messages


def test_output_is_the_candidates_own_budget(box):
    """A large returned value is not output; printing beyond the budget fails the run."""
    quiet = "def big(n):\n    return 'x' * n\n"
    loud = "def big(n):\n    print('y' * n)\n    return 'x' * n\n"
    spec = """
    function: big
    description: a long string
    behaviors:
      - behavior: makes a long string
        given: {n: 300000}
        then: {result_type: str}
    """
    limits = Limits(timeout_s=15, output_bytes=100_000)
    assert judge(quiet, spec, box, limits=limits).all_passed
    assert "printed more than 100000 bytes" in refused(judge(loud, spec, box, limits=limits))


@pytest.mark.parametrize(
    "body,limit",
    [
        ("v = []\n    for _ in range(150):\n        v = [v]\n    return v", "nested more than 100 levels deep"),
        ("return list(range(600000))", "more than 500000 values"),
    ],
)
def test_returned_values_are_bounded_with_the_limit_named(box, body, limit):
    code = f"def make(n):\n    {body}\n"
    spec = """
    function: make
    description: makes
    behaviors:
      - behavior: makes a list
        given: {n: 1}
        then: {result_type: list}
    """
    assert limit in refused(judge(code, spec, box), "makes a list")


@pytest.mark.parametrize(
    "body",
    [
        "raise SystemExit(0)",
        "import os; os._exit(0)",
        "import os, sys; os.close(int(sys.argv[2])); return a + b",
        "import os, signal; os.kill(os.getppid(), signal.SIGKILL); return a - b",
        "while True: pass",
    ],
)
def test_a_candidate_that_ends_or_blocks_its_process_fails(box, body):
    code = f"def add(a, b):\n    {body}\n"
    results = judge(code, ADD, box, limits=Limits(timeout_s=3, cpu_s=3))
    refused(results, "adds small numbers")


def test_coverage_is_reported_but_a_forged_one_decides_nothing(box):
    code = """
    import gc
    gc.unfreeze()
    for obj in gc.get_objects():
        if isinstance(obj, type) and obj.__name__ == "Candidate":
            obj.coverage = lambda self, request: "('coverage', 1.0)"
    def add(a, b):
        if a > 100:
            return 0
        return a + b
    """
    results = judge(code, ADD, box)
    assert results.all_passed
    assert results.coverage == 1.0  # the claim is shown as the candidate's own report...
    assert results.to_dict()["coverage_source"] == "reported by the candidate's process"
    honest = judge(code.replace("1.0)", "0.5)").replace("obj.coverage", "obj._x"), ADD, box)
    assert honest.coverage < 1.0
    from dse_tui.engine.specs import quality

    # ...and what decisions use is the same for both
    assert quality.merit(results.to_dict(), None) == quality.merit(honest.to_dict(), None)


def test_a_run_behaves_the_way_its_spec_saw_it(box):
    """`dse run` and a spec run give the code the same process: a fingerprint of what the
    code can observe of its surroundings is the same in both."""
    code = """
    import os, sys
    def fingerprint(n):
        frames, f = [], sys._getframe(1)
        while f is not None:
            frames.append(f.f_code.co_name)
            f = f.f_back
        return "|".join([
            ",".join(sorted(sys.modules)), ",".join(frames), " ".join(sys.argv[3:]),
            ",".join(sorted(os.environ)), str(os.getuid()), os.getcwd().rsplit("-", 1)[0],
            str(sorted(os.listdir("."))), str(sys.flags.isolated),
        ])
    """
    code = textwrap.dedent(code)
    seen = call_function(code, "fingerprint", {"n": 1}, box)
    assert seen.ok, seen.error
    spec = parse_spec(
        "function: fingerprint\ndescription: fp\nbehaviors:\n  - behavior: same\n    given: {n: 1}\n    then:\n"
        f"      result_equals: {seen.value!r}\n"
    )
    results = run_spec(code, spec, box)
    assert results.all_passed, results.failure_summary()
