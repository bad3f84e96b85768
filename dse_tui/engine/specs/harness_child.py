"""Runs inside the sandbox under python -I -S, compiled by the parent: stdlib only.

Reads one marshalled payload on stdin, runs the artifact's behaviours (mode
"spec") or one call (mode "call"), and reports events as Python-literal lines
on the original stdout, each prefixed with the payload's nonce so that whatever
the artifact itself prints can never be mistaken for a result. Only builtin
modules are imported up front: `json` alone (via `re`, `enum`) would triple the
start-up time of every sandboxed call.
"""

import builtins
import io
import marshal
import math
import os
import sys
import time

_OUT_FD = os.dup(1)
_REPR_LIMIT = 300


class MissingFunction(Exception):
    pass


def _emit(nonce, event):
    # repr of plain values is a Python literal: the parent reads it with ast.literal_eval
    line = nonce + " " + repr(event) + "\n"
    data = line.encode("utf-8", "backslashreplace")
    while data:
        data = data[os.write(_OUT_FD, data) :]


def _short(value):
    try:
        text = repr(value)
    except Exception as exc:  # a hostile __repr__ must not break the harness
        text = "<unrepresentable %s: %s>" % (type(value).__name__, exc)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _peak_mb():
    """This process's own peak RSS. rusage seen by the parent would also count the memory
    of the parent that forked it (Linux keeps the pre-exec high-water mark)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _plain(value, depth=0):
    """The value as plain literals (what JSON can carry); anything else becomes its repr."""
    if depth > 50:
        return _short(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_plain(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _short(k): _plain(v, depth + 1) for k, v in value.items()}
    return _short(value)


def _jsonable(value):
    try:
        plain = _plain(value)
    except RecursionError:
        return _short(value)
    return plain if len(repr(plain)) <= 1_000_000 else _short(value)


def _deep_equal(actual, expected):
    """Equality as a YAML author means it: tuples equal lists, floats nearly equal."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, float) or isinstance(expected, float):
        if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
            return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
        return False
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(_deep_equal(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(_deep_equal(actual[k], expected[k]) for k in actual)
    if isinstance(actual, (set, frozenset)) and isinstance(expected, list):
        return actual == set(expected)
    try:
        return bool(actual == expected)
    except Exception:
        return False


def _compare(op, actual, limit):
    return {
        ">=": actual >= limit,
        "<=": actual <= limit,
        ">": actual > limit,
        "<": actual < limit,
        "==": actual == limit,
    }[op]


_SOURCES: dict = {}  # filename -> source text, so failure messages can quote the line


def _where(exc, filenames=("<artifact>", "<tests>")):
    """The innermost line of the artifact or tests where `exc` happened."""
    import linecache  # only on failures: they cost start-up time on every call otherwise
    import traceback

    for name, text in _SOURCES.items():
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in filenames:
            label = "code" if frame.filename == "<artifact>" else "tests"
            return " (%s line %d: %s)" % (label, frame.lineno, (frame.line or "").strip())
    return ""


def _describe_exc(exc):
    message = str(exc)
    return type(exc).__name__ + (": " + message[:_REPR_LIMIT] if message else "") + _where(exc)


def _call(fn, kwargs):
    captured = io.StringIO()
    sys.stdout = captured
    start = time.perf_counter()
    try:
        result, error = fn(**kwargs), None
    except BaseException as exc:  # SystemExit and friends are failures of the artifact too
        result, error = None, exc
    elapsed = (time.perf_counter() - start) * 1000.0
    sys.stdout = sys.__stdout__
    return result, error, elapsed, captured.getvalue()


def _contains(result, needle):
    if isinstance(result, str):
        return needle in result
    if isinstance(result, (list, tuple, set, frozenset, dict)):
        return needle in result or any(isinstance(item, str) and needle in item for item in result)
    return needle in str(result)


def _check(then, result, error, elapsed, line_count):
    """The first unmet expectation, as a message; None when all hold."""
    expected_exc = then.get("raises")
    if expected_exc:
        if error is None:
            return "expected %s to be raised, but it returned %s" % (expected_exc, _short(result))
        names = [cls.__name__ for cls in type(error).__mro__]
        if expected_exc not in names:
            return "expected %s, but got %s" % (expected_exc, _describe_exc(error))
    elif error is not None:
        return "raised " + _describe_exc(error)
    if "result_equals" in then and not _deep_equal(result, then["result_equals"]):
        return "expected %s, got %s" % (_short(then["result_equals"]), _short(result))
    if "result_contains" in then:
        needles = then["result_contains"]
        for needle in [needles] if isinstance(needles, str) else needles:
            if not _contains(result, needle):
                return "expected the result to contain %r, got %s" % (needle, _short(result))
    if "result_type" in then and type(result).__name__ != then["result_type"]:
        return "expected a result of type %s, got %s %s" % (then["result_type"], type(result).__name__, _short(result))
    if "confidence" in then:
        cond = then["confidence"]
        value = result.get("confidence") if isinstance(result, dict) else getattr(result, "confidence", None)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "expected result['confidence'] %s %g, but the result has no numeric confidence" % (
                cond["op"],
                cond["value"],
            )
        if not _compare(cond["op"], value, cond["value"]):
            return "expected confidence %s %g, got %g" % (cond["op"], cond["value"], value)
    if "execution_time" in then:
        cond = then["execution_time"]
        if not _compare(cond["op"], elapsed, cond["value"]):
            return "took %.1f ms; the limit is %s %g ms" % (elapsed, cond["op"], cond["value"])
    if "line_count" in then:
        cond = then["line_count"]
        if not _compare(cond["op"], line_count, cond["value"]):
            return "the code has %d lines; the limit is %s %g" % (line_count, cond["op"], cond["value"])
    return None


def _executable_lines(code):
    lines = set()
    stack = [code]
    while stack:
        co = stack.pop()
        lines.update(line for _, _, line in co.co_lines() if line is not None)
        stack.extend(c for c in co.co_consts if hasattr(c, "co_lines"))
    return lines


def _load(code_text, function):
    """Compile and execute the artifact's module; return (namespace, fn, code object)."""
    _SOURCES["<artifact>"] = code_text
    code = compile(code_text, "<artifact>", "exec")
    namespace = {"__name__": "artifact", "__builtins__": builtins}
    exec(code, namespace)
    fn = namespace.get(function)
    if not callable(fn):
        raise MissingFunction("the code defines no function named '%s'" % function)
    return namespace, fn, code


def _run_tests(tests, namespace, fn):
    scope = dict(namespace)
    scope["candidate"] = fn
    captured = io.StringIO()
    sys.stdout = captured
    start = time.perf_counter()
    try:
        _SOURCES["<tests>"] = tests
        exec(compile(tests, "<tests>", "exec"), scope)
        error = None
    except BaseException as exc:
        error = exc
    sys.stdout = sys.__stdout__
    elapsed = (time.perf_counter() - start) * 1000.0
    if error is None:
        return None, elapsed
    if isinstance(error, AssertionError):
        detail = str(error)
        return "assertion failed%s%s" % (
            _where(error, ("<tests>",)),
            (": " + detail[:_REPR_LIMIT]) if detail else "",
        ), elapsed
    return "tests raised " + _describe_exc(error), elapsed


def _spec_mode(nonce, payload):
    code_text = payload["code"]
    line_count = sum(1 for line in code_text.splitlines() if line.strip() and not line.strip().startswith("#"))
    try:
        namespace, fn, code = _load(code_text, payload["function"])
    except BaseException as exc:
        missing = isinstance(exc, MissingFunction)
        kind = "missing_function" if missing else "load"
        message = str(exc) if missing else "loading the code raised " + _describe_exc(exc)
        _emit(nonce, {"event": "fatal", "kind": kind, "message": message})
        return
    all_passed = True
    for behavior in payload["behaviors"]:
        _emit(nonce, {"event": "start", "name": behavior["name"]})
        result, error, elapsed, printed = _call(fn, behavior["given"])
        message = _check(behavior["then"], result, error, elapsed, line_count)
        all_passed = all_passed and message is None
        _emit(
            nonce,
            {
                "event": "behavior",
                "name": behavior["name"],
                "passed": message is None,
                "message": message,
                "time_ms": elapsed,
                "result": _short(result) if error is None else None,
            },
        )
    if payload.get("tests"):
        _emit(nonce, {"event": "start", "name": "tests"})
        message, elapsed = _run_tests(payload["tests"], namespace, fn)
        all_passed = all_passed and message is None
        _emit(nonce, {"event": "tests", "passed": message is None, "message": message, "time_ms": elapsed})
    if payload.get("coverage") and all_passed:
        _emit(nonce, {"event": "coverage", "value": _measure_coverage(payload, code)})
    _emit(nonce, {"event": "done", "peak_mb": _peak_mb()})


def _measure_coverage(payload, code):
    """Line coverage of the artifact: a second, traced pass (the timed pass runs untraced)."""
    executed = set()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != "<artifact>":
            return None
        executed.add(frame.f_lineno)

        def local(frame, event, arg):
            if event == "line":
                executed.add(frame.f_lineno)
            return local

        return local

    sys.settrace(tracer)
    try:
        namespace = {"__name__": "artifact", "__builtins__": builtins}
        exec(code, namespace)
        fn = namespace[payload["function"]]
        for behavior in payload["behaviors"]:
            _call(fn, behavior["given"])
        if payload.get("tests"):
            _run_tests(payload["tests"], namespace, fn)
    finally:
        sys.settrace(None)
    lines = _executable_lines(code)
    return len(executed & lines) / len(lines) if lines else 1.0


def _call_mode(nonce, payload):
    try:
        _, fn, _ = _load(payload["code"], payload["function"])
    except BaseException as exc:
        _emit(
            nonce, {"event": "result", "ok": False, "error": _describe_exc(exc), "time_ms": 0.0, "peak_mb": _peak_mb()}
        )
        return
    result, error, elapsed, printed = _call(fn, payload.get("inputs") or {})
    if error is not None:
        _emit(
            nonce,
            {
                "event": "result",
                "ok": False,
                "error": _describe_exc(error),
                "time_ms": elapsed,
                "stdout": printed[-4000:],
                "peak_mb": _peak_mb(),
            },
        )
    else:
        _emit(
            nonce,
            {
                "event": "result",
                "ok": True,
                "value": _jsonable(result),
                "repr": _short(result),
                "type": type(result).__name__,
                "time_ms": elapsed,
                "stdout": printed[-4000:],
                "peak_mb": _peak_mb(),
            },
        )


def main():
    payload = marshal.loads(sys.stdin.buffer.read())
    nonce = payload.pop("nonce")
    sys.stdin = io.StringIO("")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    if payload["mode"] == "spec":
        _spec_mode(nonce, payload)
    else:
        _call_mode(nonce, payload)


main()
