"""Expectations checked by DSE on values it rebuilt itself from a candidate's answer: no
method of the candidate's objects takes part, every value here is exact plain data."""

from __future__ import annotations

import math
from typing import Any

from .sandboxed import kind_of
from .spec import Comparison

REPR_LIMIT = 300


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


def equal(actual: Any, expected: Any) -> bool:
    """Equality as a YAML author means it: tuples equal lists, floats nearly equal, bools
    are not numbers, sets equal lists of their members."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, float) or isinstance(expected, float):
        if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
            if math.isnan(actual) or math.isnan(expected):
                return math.isnan(actual) and math.isnan(expected)
            return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
        return False
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(equal(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(equal(actual[k], expected[k]) for k in actual)
    if isinstance(actual, (set, frozenset)) and isinstance(expected, list):
        try:
            return actual == set(expected)
        except TypeError:
            return False
    if type(actual) is not type(expected) and not (
        isinstance(actual, (int, float)) and isinstance(expected, (int, float))
    ):
        return False
    return bool(actual == expected)


def contains(result: Any, needle: str) -> bool:
    if isinstance(result, str):
        return needle in result
    if isinstance(result, dict):
        return needle in result or any(isinstance(k, str) and needle in k for k in result)
    if isinstance(result, (list, tuple, set, frozenset)):
        return needle in result or any(isinstance(item, str) and needle in item for item in result)
    return False


def describe_raised(answer: tuple) -> str:
    _, exact, name, ancestor, message, where = answer
    if exact:
        return exact + (f": {message}" if message else "") + where
    sub = f" (a subclass of {ancestor})" if ancestor else ""
    return f"a non-builtin exception {name}{sub}" + (f": {message}" if message else "") + where


def check(then: dict[str, Any], answer: tuple, value: Any, elapsed_ms: float | None, line_count: int) -> str | None:
    """The first unmet expectation, as a message; None when all hold. `answer` is the
    candidate's parsed answer, `value` the value it stands for (rebuilt)."""
    tag = answer[0]
    expected_exc = then.get("raises")
    if expected_exc:
        if tag == "ok":
            return f"expected {expected_exc} to be raised, but it returned {short(value)}"
        if tag == "notplain":
            return f"expected {expected_exc} to be raised, but it returned {answer[1]}"
        if answer[1] != expected_exc:
            return f"expected {expected_exc}, but it raised {describe_raised(answer)}"
    elif tag == "raised":
        return "raised " + describe_raised(answer)
    elif tag == "notplain":
        return "returned " + answer[1]
    if "result_equals" in then and not equal(value, then["result_equals"]):
        return f"expected {short(then['result_equals'])}, got {short(value)}"
    if "result_contains" in then:
        needles = then["result_contains"]
        for needle in [needles] if isinstance(needles, str) else needles:
            if not contains(value, needle):
                return f"expected the result to contain {needle!r}, got {short(value)}"
    if "result_type" in then:
        kind = kind_of(answer[1])
        if kind != then["result_type"]:
            return f"expected a result of type {then['result_type']}, got {kind} {short(value)}"
    if "confidence" in then:
        cond: Comparison = then["confidence"]
        found = value.get("confidence") if isinstance(value, dict) else None
        if not isinstance(found, (int, float)) or isinstance(found, bool):
            return f"expected result['confidence'] {cond}, but the result has no numeric confidence"
        if not cond.holds(found):
            return f"expected confidence {cond}, got {found:g}"
    if "execution_time" in then and elapsed_ms is not None:
        cond = then["execution_time"]
        if not cond.holds(elapsed_ms):
            return f"took {elapsed_ms:.2f} ms; the limit is {cond} ms"
    if "line_count" in then:
        cond = then["line_count"]
        if not cond.holds(line_count):
            return f"the code has {line_count} lines; the limit is {cond}"
    return None


def line_count(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#"))


def jsonable(value: Any, depth: int = 0) -> Any:
    """A rebuilt value in the shapes JSON has (what `--json` prints)."""
    if depth > 100:
        return short(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, complex):
        return repr(value)
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__"):
        return [jsonable(v, depth + 1) for v in value]
    return short(value)
