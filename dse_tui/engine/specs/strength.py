"""Spec strength: what a pass means. Small deliberate bugs (AST mutants) are put into the
code and the spec is run against each; the share of mutants it catches ("kills") is the
spec's strength against that code. A spec every mutant passes proves little.

The mutants are deterministic: the same code always yields the same list, so strengths
can be compared across runs and machines.
"""

from __future__ import annotations

import ast
import copy
import difflib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from dse_tui.engine.sandbox import Limits, Sandbox

from .spec import Spec

MIN_MUTANTS, MAX_MUTANTS = 10, 40
BUDGET_S = 6.0  # per measurement: strength is never worth more waiting than this
TIMEOUT_FACTOR = 5.0  # a mutant gets this multiple of the original's measured time...
MIN_TIMEOUT_S = 0.5  # ...plus this much for the run itself
MAX_SURVIVORS_SHOWN = 5
STRONG_AT = 0.8  # default: a spec that kills at least this share of mutants is "strong"

_COMPARE_FLIPS: dict[type, type] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_COMPARE_NEIGHBOURS: dict[type, type] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_ARITHMETIC_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}


@dataclass
class Mutant:
    description: str  # e.g. "line 3: < became >="
    code: str
    diff: str


@dataclass
class Strength:
    killed: int
    total: int  # mutants run (the budget may stop short of all)
    generated: int
    survivors: list[dict[str, str]] = field(default_factory=list)  # description and diff of a few
    ms: float = 0.0
    complete: bool = True

    @property
    def share(self) -> float | None:
        return round(self.killed / self.total, 4) if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share}


def _parameter_swaps(tree: ast.AST) -> dict[int, str]:
    """For each read of a function's parameter, another parameter to read instead."""
    swaps: dict[int, str] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
            if len(names) > 1:
                for node in ast.walk(fn):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
                        swaps[id(node)] = names[(names.index(node.id) + 1) % len(names)]
    return swaps


Apply = Callable[[Any], None]  # edits one node of a copied tree in place


def _set(attr: str, make: Callable[[Any], Any]) -> Apply:
    """A mutation setting `attr` of the node to make(node)."""

    def apply(node: Any) -> None:
        setattr(node, attr, make(node))

    return apply


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda node: value


def _new(kind: type) -> Callable[[Any], Any]:
    return lambda node: kind()


def _replace_op(index: int, new: type) -> Apply:
    def apply(node: Any) -> None:
        node.ops[index] = new()

    return apply


def _sites(tree: ast.AST) -> Iterator[tuple[str, Apply, ast.AST]]:
    """Every place a mutation applies, in source order: (what, how to apply it to a copy, node)."""
    swaps = _parameter_swaps(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) in swaps:
            other = swaps[id(node)]
            yield f"{node.id} read as {other}", _set("id", _const(other)), node
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for table, label in ((_COMPARE_FLIPS, "flipped"), (_COMPARE_NEIGHBOURS, "off by one")):
                    new = table.get(type(op))
                    if new is not None:
                        yield f"{type(op).__name__} became {new.__name__} ({label})", _replace_op(i, new), node
        elif isinstance(node, ast.BoolOp):
            flipped: type = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield f"{type(node.op).__name__} became {flipped.__name__}", _set("op", _new(flipped)), node
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC_SWAPS:
            for swap in (_ARITHMETIC_SWAPS[type(node.op)], _SECOND_SWAPS.get(type(node.op))):
                if swap is not None:
                    yield f"{type(node.op).__name__} became {swap.__name__}", _set("op", _new(swap)), node
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield "a `not` dropped", _set("op", lambda n: ast.UAdd()), node  # unwrapped by _Finish
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield f"{node.value} became {node.value + 1}", _set("value", lambda n: n.value + 1), node
            if node.value != 0:
                yield f"{node.value} became {node.value - 1}", _set("value", lambda n: n.value - 1), node
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            yield f"{node.value} became {not node.value}", _set("value", lambda n: not n.value), node
        elif isinstance(node, ast.Constant) and type(node.value) is str and node.value and not _docstring(node):
            yield "a string emptied", _set("value", lambda n: ""), node
        elif isinstance(node, ast.Name) and node.id in _NAME_SWAPS and isinstance(node.ctx, ast.Load):
            renamed = _NAME_SWAPS[node.id]
            yield f"{node.id} became {renamed}", _set("id", _const(renamed)), node
        elif isinstance(node, (ast.Break, ast.Continue)):
            yield f"{type(node).__name__.lower()} became pass", _set("_dse_pass", lambda n: True), node
        elif isinstance(node, ast.Return) and node.value is not None:
            yield "a return gives None", _set("value", lambda n: None), node
            if not (isinstance(node.value, ast.Constant) and node.value.value == 0):
                yield "a return gives 0", _set("value", lambda n: ast.Constant(0)), node
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            yield "a slice reversed", _set("slice", lambda n: _reversed_slice(n.slice)), node
        elif isinstance(node, ast.If):
            yield "an if condition negated", _set("test", lambda n: ast.UnaryOp(ast.Not(), n.test)), node


_SECOND_SWAPS: dict[type, type] = {ast.Add: ast.Mult, ast.Sub: ast.Mult, ast.Mult: ast.Add, ast.FloorDiv: ast.Mod}
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any", "sorted": "list", "reversed": "iter"}


def _docstring(node: ast.Constant) -> bool:
    return getattr(node, "_dse_docstring", False)


def _mark_docstrings(tree: ast.AST) -> None:
    """Docstrings and error messages: strings whose change no spec is meant to see."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Constant):
                    inner._dse_docstring = True  # type: ignore[attr-defined]
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                first.value._dse_docstring = True  # type: ignore[attr-defined]


def _reversed_slice(s: ast.Slice) -> ast.Slice:
    if s.step is not None and isinstance(s.step, ast.UnaryOp) and isinstance(s.step.op, ast.USub):
        return ast.Slice(s.lower, s.upper, None)  # [::-1] undone
    return ast.Slice(s.upper, s.lower, ast.UnaryOp(ast.USub(), ast.Constant(1)))


class _Finish(ast.NodeTransformer):
    """Mutations that replace a node rather than edit it: a dropped `not` (marked `+x`, as
    UAdd of a bool would be an int) and a break or continue turned into pass."""

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.UAdd) and getattr(node, "_dse_dropped", False):
            return node.operand
        return node

    def visit_Break(self, node: ast.AST) -> ast.AST:
        return ast.Pass() if getattr(node, "_dse_pass", False) else node

    visit_Continue = visit_Break


def mutants(code: str, limit: int = MAX_MUTANTS) -> list[Mutant]:
    """Up to `limit` mutants, spread evenly over the code's mutation sites."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    _mark_docstrings(tree)
    original = ast.unparse(tree)
    nodes = list(ast.walk(tree))
    index = {id(n): i for i, n in enumerate(nodes)}
    sites = [(what, apply, index[id(node)], getattr(node, "lineno", 0)) for what, apply, node in _sites(tree)]
    if len(sites) > limit:  # evenly spread, deterministic
        step = len(sites) / limit
        sites = [sites[int(i * step)] for i in range(limit)]
    made: list[Mutant] = []
    seen = {original}
    for what, apply, position, line in sites:
        copied = copy.deepcopy(tree)
        target = list(ast.walk(copied))[position]
        apply(target)
        if what == "a `not` dropped":
            target._dse_dropped = True  # type: ignore[attr-defined]
        copied = _Finish().visit(copied)
        ast.fix_missing_locations(copied)
        try:
            text = ast.unparse(copied)
            compile(text, "<mutant>", "exec")
        except (SyntaxError, ValueError, RecursionError):
            continue
        if text in seen:
            continue
        seen.add(text)
        diff = "".join(difflib.unified_diff(original.splitlines(True), text.splitlines(True), "code", "mutant", n=1))
        made.append(Mutant(f"line {line}: {what}", text, diff[:2000]))
    return made


def measure(
    code: str,
    spec: Spec,
    sandbox: Sandbox,
    *,
    reference_ms: float,
    budget_s: float = BUDGET_S,
    run: Callable[..., Any] | None = None,
) -> Strength:
    """The share of `code`'s mutants that `spec` kills. `reference_ms`: the original's time in
    its checks (measured by DSE), which sets each mutant's timeout."""
    if run is None:
        from .judge import run_spec

        run = run_spec
    started = time.monotonic()
    found = mutants(code)
    timeout = MIN_TIMEOUT_S + TIMEOUT_FACTOR * reference_ms / 1000.0
    limits = Limits(timeout_s=timeout, cpu_s=max(1, int(timeout) + 1), memory_mb=1024)
    killed, total, survivors = 0, 0, []
    complete = True
    for mutant in found:
        if time.monotonic() - started > budget_s:
            complete = False
            break
        results = run(mutant.code, spec, sandbox, limits=limits, coverage=False, first_failure=True)
        if results.ended == "interrupted":
            complete = False
            break
        total += 1
        if results.all_passed:
            survivors.append({"mutant": mutant.description, "diff": mutant.diff})
        else:
            killed += 1
    return Strength(
        killed=killed,
        total=total,
        generated=len(found),
        survivors=survivors[:MAX_SURVIVORS_SHOWN],
        ms=round((time.monotonic() - started) * 1000, 1),
        complete=complete,
    )
