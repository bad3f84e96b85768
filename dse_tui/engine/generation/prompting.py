"""Prompts for generation: task, spec, worked examples from the store, and on a
retry the previous code with its exact failures (paper §4.9, §7.3 limitation 4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dse_tui.engine.generation.providers.base import Message
from dse_tui.engine.specs.spec import Spec

SYSTEM_PROMPT = (
    "You are a careful Python programmer. Write one self-contained Python module using only the "
    "standard library. Define the requested function with exactly the given name and keyword "
    "parameters. Reply with the code in a single ```python block and nothing else."
)

MAX_EXAMPLE_CHARS = 1500


@dataclass
class Example:
    description: str
    code: str


@dataclass
class PreviousAttempt:
    code: str | None
    failures: str  # one line per failed behaviour, or the extraction / provider error


def _expectation(then: dict[str, Any]) -> str:
    parts = []
    for key, value in then.items():
        if key == "result_equals":
            parts.append(f"returns {json.dumps(value)}")
        elif key == "raises":
            parts.append(f"raises {value}")
        elif key == "result_contains":
            parts.append(f"result contains {json.dumps(value)}")
        elif key == "result_type":
            parts.append(f"returns a {value}")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def describe_spec(spec: Spec) -> str:
    """The spec as a model may see it: held-out behaviours are counted, never described
    (their parameter names are the function's signature, not their values)."""
    params = sorted({k for b in spec.behaviors for k in b.given})
    lines = [f"Function: {spec.function}({', '.join(params)})"]
    for b in spec.visible_behaviors:
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in b.given.items())
        lines.append(f"- {b.name}: {spec.function}({args}) {_expectation(b.then)}")
    hidden = len(spec.behaviors) - len(spec.visible_behaviors)
    if hidden:
        lines.append(f"({hidden} more behaviour(s) are held out: the code is also checked on cases not shown here.)")
    if spec.tests:
        lines.append("These asserts must pass (`candidate` is your function):")
        lines.append(spec.tests.rstrip())
    return "\n".join(lines)


def build_messages(task: str, spec: Spec, examples: list[Example], previous: PreviousAttempt | None) -> list[Message]:
    parts = [f"Task: {task.strip()}", "", describe_spec(spec)]
    if examples:
        parts += ["", "Tested functions from our library that solve related tasks, for reference:"]
        for ex in examples:
            parts += [f"# {ex.description}", "```python", ex.code.strip()[:MAX_EXAMPLE_CHARS], "```"]
    if previous is not None:
        parts += ["", "Your previous attempt failed."]
        if previous.code:
            parts += ["```python", previous.code.strip(), "```"]
        parts += ["Failures:", previous.failures.strip(), "", "Fix every failure and reply with the corrected code."]
    parts += ["", f"Write `{spec.function}` now."]
    return [Message("system", SYSTEM_PROMPT), Message("user", "\n".join(parts))]
