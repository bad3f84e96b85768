"""Behaviour specs: the paper's tool-level BDD, as YAML.

A spec names the entry function, describes the task and lists behaviours
(`given` keyword arguments, `then` expectations), with optional plain-Python
asserts in `tests`. Parsing is strict: an unknown key or a malformed value is a
SpecError naming the file, line and column — never a silent pass.
"""

from __future__ import annotations

import builtins
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from dse_tui.engine.errors import BadInput, SpecError
from dse_tui.engine.limits import (
    MAX_BEHAVIORS,
    MAX_DESCRIPTION_CHARS,
    MAX_SPEC_CHARS,
    MAX_TAGS,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
)
from dse_tui.engine.validation import check_name, check_text

TOP_KEYS = {"function", "description", "behaviors", "tests", "tags", "name", "type"}
BEHAVIOR_KEYS = {"behavior", "given", "then", "probe", "held_out"}
THEN_KEYS = {
    "result_equals",
    "result_contains",
    "result_type",
    "raises",
    "execution_time",
    "confidence",
    "line_count",
}
BUILTIN_EXCEPTIONS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}
RESULT_TYPES = {"str", "int", "float", "bool", "list", "dict", "tuple", "set", "NoneType", "bytes"}

_TIME_RE = re.compile(r"^\s*(<=?)\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")
_CMP_RE = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)\s*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Behaviour names that announce an edge-case or error probe (counted for robustness).
_PROBE_RE = re.compile(
    r"^(rejects|handles|edge)\b|\b(empty|none|null|invalid|negative|zero|unicode|huge|large|malformed|missing|overflow|boundary)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Comparison:
    op: str
    value: float

    def holds(self, actual: float) -> bool:
        return {
            ">=": actual >= self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            "<": actual < self.value,
            "==": actual == self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Behavior:
    name: str
    given: dict[str, Any]
    then: dict[str, Any]
    probe: bool  # an edge-case / error probe, counted in the robustness score
    line: int
    held_out: bool = False  # never put into a prompt; code must still pass it to be stored

    @property
    def time_limit_ms(self) -> float | None:
        limit = self.then.get("execution_time")
        return limit.value if isinstance(limit, Comparison) else None

    def to_payload(self) -> dict[str, Any]:
        """The JSON-safe form the sandbox harness evaluates."""
        then = {k: ({"op": v.op, "value": v.value} if isinstance(v, Comparison) else v) for k, v in self.then.items()}
        return {"name": self.name, "given": self.given, "then": then}


@dataclass
class Spec:
    function: str
    description: str
    behaviors: list[Behavior]
    tests: str | None = None
    tags: list[str] = field(default_factory=list)
    name: str | None = None
    type: str = "FUNCTION"
    source: str = ""  # the YAML text as given
    origin: str = "<spec>"

    @property
    def visible_behaviors(self) -> list[Behavior]:
        """What a prompt may hold (generation, escalation feedback, evolution): never a held-out one."""
        return [b for b in self.behaviors if not b.held_out]

    @property
    def check_count(self) -> int:
        return len(self.behaviors) + (1 if self.tests else 0)


def load_spec_file(path: str) -> Spec:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: spec is not UTF-8 text (byte {exc.start})") from None
    return parse_spec(text, origin=path)


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses nesting beyond MAX_YAML_DEPTH while composing (PyYAML's
    composer is recursive) and counts nodes; aliases are measured after composing."""

    def __init__(self, text: str, origin: str) -> None:
        super().__init__(text)
        self.origin = origin
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_YAML_DEPTH or self._nodes > MAX_YAML_NODES:
                mark = self.peek_event().start_mark
                what = (
                    f"nested more than {MAX_YAML_DEPTH} levels deep"
                    if self._depth > MAX_YAML_DEPTH
                    else f"more than {MAX_YAML_NODES} values"
                )
                raise SpecError(
                    f"{self.origin}: line {mark.line + 1}: the spec has {what}; the limit is "
                    f"{MAX_YAML_DEPTH if self._depth > MAX_YAML_DEPTH else MAX_YAML_NODES}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many values the document holds once every alias is replaced by what it names
    (a 500-byte "billion laughs" expands to billions). Stops counting past `limit`."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = memo.get(id(node))
        if known is not None:
            return known
        memo[id(node)] = limit + 1  # a cycle (a node containing its own alias) never ends
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        memo[id(node)] = min(total, limit + 1)
        return memo[id(node)]

    return size(root)


def parse_spec(text: str, origin: str = "<spec>") -> Spec:
    """Parse and validate a spec. Every problem is reported, one line each, naming `origin`
    and a line; the YAML is bounded in size, nesting and alias expansion."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"{origin}: the spec is {len(text) / 1e6:.1f} MB; the limit is {MAX_SPEC_CHARS // 1000} kB")
    try:
        check_text(text, origin)
    except BadInput as exc:
        raise SpecError(str(exc)) from None
    loader = _BoundedLoader(text, origin)
    try:
        # one pass: the node tree locates errors, the same nodes give the data
        root = loader.get_single_node()
        if root is not None and expanded_size(root, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise SpecError(
                f"{origin}: the spec expands to more than {MAX_YAML_NODES} values through YAML "
                f"aliases (&anchor and *reference); the limit is {MAX_YAML_NODES}"
            )
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{origin}: {where}malformed YAML: {problem}") from None
    finally:
        loader.dispose()
    validator = _Validator(origin, root)
    spec = validator.spec(data, text)
    if validator.problems:
        raise SpecError("\n".join(validator.problems))
    assert spec is not None
    return spec


class _Invalid(Exception):
    """A value so wrong that the part of the spec holding it cannot be checked further."""


def _did_you_mean(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


class _Validator:
    def __init__(self, origin: str, root: yaml.Node | None):
        self.origin = origin
        self.root = root
        self.problems: list[str] = []

    def fail(self, path: tuple, message: str) -> _Invalid:
        """Record a problem; the returned exception, raised, abandons the part being checked."""
        node = self._node_at(path)
        line = f"line {node.start_mark.line + 1}: " if node is not None else ""
        where = ".".join(str(p) for p in path) or "top level"
        self.problems.append(f"{self.origin}: {line}{where}: {message}")
        return _Invalid(message)

    def _node_at(self, path: tuple) -> yaml.Node | None:
        node = self.root
        for part in path:
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if k.value == part), None)
                if match is None:
                    match = next((k for k, _ in node.value if k.value == part), None)
                    return match or node
                node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return node
        return node

    def line_of(self, path: tuple) -> int:
        node = self._node_at(path)
        return node.start_mark.line + 1 if node is not None else 0

    def text(self, path: tuple, value: str, *, name: bool = False) -> None:
        try:
            (check_name if name else check_text)(value, "text")
        except BadInput as exc:
            raise self.fail(path, str(exc).removeprefix("text: ")) from None

    def spec(self, data: Any, text: str) -> Spec | None:
        if not isinstance(data, dict):
            self.fail((), "a spec must be a mapping with 'function', 'description' and 'behaviors'")
            return None
        for key in sorted(set(map(str, data)) - TOP_KEYS):
            self.fail(
                (key,), f"unknown key '{key}' ({_did_you_mean(key, TOP_KEYS)}allowed: {', '.join(sorted(TOP_KEYS))})"
            )
        function = data.get("function")
        if not isinstance(function, str) or not _IDENT_RE.match(function):
            self.fail(("function",), "'function' must name the entry function, e.g. function: sort_list")
        description = data.get("description", "")
        if not isinstance(description, str) or not description.strip():
            self.fail(("description",), "'description' must be a non-empty string")
        elif len(description) > MAX_DESCRIPTION_CHARS:
            self.fail(
                ("description",), f"description is {len(description)} characters; the limit is {MAX_DESCRIPTION_CHARS}"
            )
        else:
            self._attempt(self.text, ("description",), description)
        tests = data.get("tests")
        if tests is not None and (not isinstance(tests, str) or not tests.strip()):
            self.fail(("tests",), "'tests' must be a block of Python asserts")
            tests = None
        elif tests is not None:
            try:
                compile(tests, f"{self.origin}:tests", "exec")
            except SyntaxError as exc:
                self.fail(("tests",), f"syntax error in tests at its line {exc.lineno}: {exc.msg}")
            except ValueError as exc:  # NUL bytes
                self.fail(("tests",), f"cannot compile tests: {exc}")
        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.fail(("tags",), "'tags' must be a list of strings")
            tags = []
        elif len(tags) > MAX_TAGS:
            self.fail(("tags",), f"{len(tags)} tags; the limit is {MAX_TAGS}")
        else:
            for i, tag in enumerate(tags):
                self._attempt(self.text, ("tags", i), tag, name=True)
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            self.fail(("name",), "'name' must be a non-empty string")
        elif name is not None:
            self._attempt(self.text, ("name",), name, name=True)
        kind = str(data.get("type", "FUNCTION")).upper()
        if kind not in {"FUNCTION", "WORKFLOW", "TOOL", "TEST"}:
            self.fail(("type",), "'type' must be one of FUNCTION, WORKFLOW, TOOL, TEST")
        raw_behaviors = data.get("behaviors")
        if raw_behaviors is None:
            raw_behaviors = []
        behaviors: list[Behavior] = []
        if not isinstance(raw_behaviors, list):
            self.fail(("behaviors",), "'behaviors' must be a list")
        elif len(raw_behaviors) > MAX_BEHAVIORS:
            self.fail(("behaviors",), f"{len(raw_behaviors)} behaviours; the limit is {MAX_BEHAVIORS} per spec")
        else:
            if not raw_behaviors and not tests:
                self.fail(("behaviors",), "a spec needs at least one behaviour or a tests block")
            for i, raw in enumerate(raw_behaviors):
                behavior = self._attempt(self.behavior, i, raw)
                if behavior is not None:
                    behaviors.append(behavior)
        seen: set[str] = set()
        for i, b in enumerate(behaviors):
            if b.name in seen:
                self.fail(("behaviors", i, "behavior"), f"duplicate behaviour name '{b.name}'")
            seen.add(b.name)
        if self.problems:
            return None
        assert isinstance(function, str)  # or a problem was recorded above
        return Spec(
            function=function,
            description=description.strip(),
            behaviors=behaviors,
            tests=tests,
            tags=[t.strip() for t in tags if t.strip()],
            name=name.strip() if name else None,
            type=kind,
            source=text,
            origin=self.origin,
        )

    def _attempt(self, check, *args, **kwargs):
        """Run one check; a problem it raises is already recorded, and checking goes on."""
        try:
            return check(*args, **kwargs)
        except _Invalid:
            return None

    def behavior(self, index: int, raw: Any) -> Behavior:
        path = ("behaviors", index)
        if not isinstance(raw, dict):
            raise self.fail(path, "each behaviour must be a mapping with 'behavior', 'given' and 'then'")
        for key in sorted(set(map(str, raw)) - BEHAVIOR_KEYS):
            self.fail(
                path + (key,),
                f"unknown key '{key}' ({_did_you_mean(key, BEHAVIOR_KEYS)}allowed: {', '.join(sorted(BEHAVIOR_KEYS))})",
            )
        name = raw.get("behavior")
        if not isinstance(name, str) or not name.strip():
            raise self.fail(path + ("behavior",), "'behavior' must name the behaviour")
        self.text(path + ("behavior",), name, name=True)
        given = raw.get("given")
        if given is None:
            given = {}
        if not isinstance(given, dict) or not all(isinstance(k, str) and _IDENT_RE.match(k) for k in given):
            raise self.fail(path + ("given",), "'given' must map argument names to values")
        for key, value in given.items():
            self.plain(path + ("given", key), value)
        then = raw.get("then")
        if not isinstance(then, dict) or not then:
            raise self.fail(path + ("then",), "'then' must be a non-empty mapping of expectations")
        checked = {}
        for k, v in then.items():
            result = self._attempt(self.expectation, path + ("then", str(k)), str(k), v)
            checked[str(k)] = result
        if "raises" in checked and set(checked) & {"result_equals", "result_contains", "result_type", "confidence"}:
            raise self.fail(path + ("then",), "'raises' cannot be combined with expectations on the result")
        probe = raw.get("probe")
        if probe is not None and not isinstance(probe, bool):
            raise self.fail(path + ("probe",), "'probe' must be true or false")
        is_probe = probe if probe is not None else ("raises" in checked or bool(_PROBE_RE.search(name)))
        held_out = raw.get("held_out", False)
        if not isinstance(held_out, bool):
            raise self.fail(path + ("held_out",), "'held_out' must be true or false")
        return Behavior(
            name=name.strip(), given=given, then=checked, probe=is_probe, line=self.line_of(path), held_out=held_out
        )

    def expectation(self, path: tuple, key: str, value: Any) -> Any:
        if key not in THEN_KEYS:
            raise self.fail(
                path,
                f"unknown expectation '{key}' ({_did_you_mean(key, THEN_KEYS)}allowed: {', '.join(sorted(THEN_KEYS))})",
            )
        if key == "result_equals":
            return self.plain(path, value)
        if key == "result_contains":
            if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                return value
            raise self.fail(path, "result_contains takes a string or a list of strings")
        if key == "result_type":
            if value is None:
                value = "NoneType"
            if value not in RESULT_TYPES:
                raise self.fail(path, f"result_type must be one of {', '.join(sorted(RESULT_TYPES))}")
            return value
        if key == "raises":
            if not isinstance(value, str) or not _IDENT_RE.match(value):
                raise self.fail(path, "raises takes an exception class name, e.g. raises: ValueError")
            if value not in BUILTIN_EXCEPTIONS:
                # the candidate's own classes are never trusted to be what their name says
                raise self.fail(
                    path,
                    f"raises takes a builtin exception ({_did_you_mean(value, BUILTIN_EXCEPTIONS)}e.g. ValueError)",
                )
            return value
        if key == "execution_time":
            match = _TIME_RE.match(str(value))
            if not match:
                raise self.fail(path, 'execution_time takes a limit such as "< 200ms" or "< 2s"')
            amount = float(match.group(2)) * (1000.0 if match.group(3) == "s" else 1.0)
            if amount <= 0:
                raise self.fail(path, "execution_time must be a positive limit")
            return Comparison(match.group(1), amount)
        if key == "confidence":
            return self._comparison(path, key, value, ">=")
        if key == "line_count":
            return self._comparison(path, key, value, "<=")
        raise AssertionError(key)  # pragma: no cover - THEN_KEYS is exhaustive above

    def plain(self, path: tuple, value: Any) -> Any:
        """Values travel to the sandbox as plain literals; YAML's dates and sets do not."""
        if isinstance(value, str):
            self.text(path, value)
            return value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, list):
            for item in value:
                self.plain(path, item)
            return value
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, (str, int, float, bool)):
                    raise self.fail(path, f"mapping keys must be plain scalars, not {type(k).__name__}")
                self.plain(path, v)
            return value
        hint = " (quote it: '2024-03-15')" if type(value).__name__ in ("date", "datetime") else ""
        raise self.fail(
            path, f"values must be plain YAML (numbers, strings, lists, mappings), not {type(value).__name__}{hint}"
        )

    def _comparison(self, path: tuple, key: str, value: Any, default_op: str) -> Comparison:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Comparison(default_op, float(value))
        match = _CMP_RE.match(str(value))
        if not match:
            raise self.fail(path, f'{key} takes a comparison such as "{default_op} 0.6"')
        return Comparison(match.group(1), float(match.group(2)))
