"""Pull a candidate Python module out of an LLM reply.

Replies come fenced or bare, with prose around the code, in several blocks,
or cut off mid-fence. We prefer the block that defines the entry function,
keep helper blocks it may need, and drop top-level demo prints and asserts
that would run (and could fail) when the module loads, and definitions the
entry function never reaches (examples the model copied).
"""

from __future__ import annotations

import ast
import re

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START_RE = re.compile(r"^(def |async def |class |import |from |@)")


class ExtractionError(ValueError):
    """No usable code in the reply; the message is fed back to the next attempt."""


_DEF_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_HELPER_NODES = (ast.Import, ast.ImportFrom, *_DEF_NODES)


def _syntax_error(code: str) -> str | None:
    """Where and why `code` does not parse; None when it does."""
    try:
        ast.parse(code)
        return None
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    except ValueError as error:
        return str(error)


def _parses(code: str) -> bool:
    return _syntax_error(code) is None


def _node_lines(node: ast.stmt) -> range:
    """The 1-based source lines of a top-level statement, its decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return range(first, (node.end_lineno or node.lineno) + 1)


def _without_lines(code: str, drop: set[int]) -> str:
    kept = [line for i, line in enumerate(code.splitlines(), start=1) if i not in drop]
    return "\n".join(kept).strip() + "\n"


def _defines(code: str, function: str) -> bool:
    return re.search(rf"^\s*(async\s+)?def\s+{re.escape(function)}\s*\(", code, re.MULTILINE) is not None


def _fenced_blocks(text: str) -> list[str]:
    return [
        body.strip("\n") for lang, body in _FENCE_RE.findall(text) if lang.lower() in ("", "python", "py", "python3")
    ]


def _trim_to_code(text: str) -> str | None:
    """The longest parseable run of lines from the first code-looking line that ends where a
    top-level statement would begin: prose after the code is cut, but a body cut off mid-way
    is not passed off as a shorter function."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START_RE.match(line)]
    for start in starts:
        for end in range(len(lines), start, -1):
            rest = next((line for line in lines[end:] if line.strip()), None)
            if rest is not None and rest[:1].isspace():
                continue
            chunk = "\n".join(lines[start:end]).strip()
            if chunk and _parses(chunk):
                return chunk
    return None


# Top-level calls that only show the function off, wait for input or start a test runner:
# run at import they can fail or hang the test. Other bare calls (sys.setrecursionlimit(...),
# random.seed(...)) are set-up the code may rely on.
_DEMO_CALLS = frozenset({"print", "pprint", "input", "doctest.testmod", "unittest.main", "pytest.main"})


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def _strip_demo_statements(code: str) -> str:
    """Remove top-level prints, asserts, calls of the module's own functions and the
    `__main__` block: examples the model added, not the function."""
    tree = ast.parse(code)
    defined = {n.name for n in tree.body if isinstance(n, _DEF_NODES)}
    drop: set[int] = set()
    keep: set[int] = set()
    for node in tree.body:
        demo = isinstance(node, ast.Assert) or (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and (_callee(node.value) in _DEMO_CALLS or _callee(node.value) in defined)
        )
        main_guard = (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        )
        (drop if demo or main_guard else keep).update(_node_lines(node))
    drop -= keep  # a line shared with a kept statement (`import sys; f(1)`) stays whole
    return _without_lines(code, drop) if drop else code


def _drop_unused_definitions(code: str, function: str) -> str:
    """Remove top-level functions and classes nothing reaches from the entry function or the
    module's other statements: small models copy the prompt's examples into their reply, and
    the store should keep the answer, not that (its untested lines would also lower coverage)."""
    tree = ast.parse(code)
    defs = {node.name: node for node in tree.body if isinstance(node, _DEF_NODES)}
    if function not in defs:
        return code

    def names_in(node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    reached: set[str] = set()
    todo = [function, *(name for node in tree.body if not isinstance(node, _DEF_NODES) for name in names_in(node))]
    while todo:
        name = todo.pop()
        if name in defs and name not in reached:
            reached.add(name)
            todo.extend(names_in(defs[name]))
    unused = [node for name, node in defs.items() if name not in reached]
    if not unused:
        return code
    lines = code.splitlines()
    drop: set[int] = set()
    for node in unused:
        # The blank lines after it go too, so no gap is left (found by line, not by a regex over
        # the text, which would also squeeze blank lines inside string literals).
        span = _node_lines(node)
        end = span.stop
        while end <= len(lines) and not lines[end - 1].strip():
            end += 1
        drop.update(range(span.start, end))
    return _without_lines(code, drop)


def _helper_part(block: str) -> str:
    """Of a block that is not the entry function's, only its imports, functions and classes:
    a usage block such as `result = f(3)` placed before `f` would fail at import."""
    tree = ast.parse(block)
    lines = block.splitlines()
    parts = []
    for node in tree.body:
        if isinstance(node, _HELPER_NODES):
            span = _node_lines(node)
            parts.append("\n".join(lines[span.start - 1 : span.stop - 1]))
    return "\n\n".join(parts)


_TYPING_NAMES = frozenset(
    "Any Callable Dict DefaultDict Deque FrozenSet Generator Iterable Iterator List Literal Mapping "
    "Optional Sequence Set Tuple Type Union".split()
)


def _add_missing_typing_imports(code: str) -> str:
    """Models often annotate with List/Optional/... and forget the import: add it."""
    tree = ast.parse(code)
    bound = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    bound |= {n.name for n in tree.body if isinstance(n, _DEF_NODES)}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    missing = sorted((used & _TYPING_NAMES) - bound)
    if not missing:
        return code
    # After a module docstring and `from __future__` imports, which must come first.
    at = 0
    for i, node in enumerate(tree.body):
        docstring = (
            i == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if not (docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__")):
            break
        at = node.end_lineno or node.lineno
    lines = code.splitlines()
    return "\n".join([*lines[:at], f"from typing import {', '.join(missing)}", "", *lines[at:]]).strip() + "\n"


def extract_code(reply: str, function: str) -> str:
    """The module to test, or ExtractionError saying what was wrong with the reply."""
    if not reply or not reply.strip():
        raise ExtractionError("the reply was empty")
    blocks = [b for b in _fenced_blocks(reply) if b.strip()]
    candidates: list[str] = []
    if blocks:
        parseable = [b for b in blocks if _parses(b)]
        main = [b for b in parseable if _defines(b, function)]
        if main:
            # helpers defined in other blocks come first so the entry function can use them
            helpers = [h for h in (_helper_part(b) for b in parseable if b not in main) if h]
            candidates.append("\n\n".join([*helpers, main[-1]]))
        candidates.extend(t for t in (_trim_to_code(b) for b in blocks) if t)
    if _parses(reply):
        candidates.append(reply.strip())
    trimmed = _trim_to_code(reply)
    if trimmed:
        candidates.append(trimmed)
    for code in candidates:
        if _defines(code, function):
            return _add_missing_typing_imports(_drop_unused_definitions(_strip_demo_statements(code), function))
    # The entry function is there but does not parse: say where, so the next attempt can mend it.
    broken = next((b for b in [*blocks, reply] if _defines(b, function)), None)
    if broken is not None and (error := _syntax_error(broken)):
        raise ExtractionError(f"the code does not parse ({error})")
    if candidates:
        raise ExtractionError(f"the code does not define the entry function `{function}`")
    raise ExtractionError("no parseable Python code was found in the reply")
