"""A strategy per drift type: what to ask for and what the prompt carries. The prompt holds
the incumbent's code, its measured figures and, for reliability, the recorded inputs it
failed on; the spec as a model may see it (held-out behaviours counted, never shown)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dse_tui.engine.generation.prompting import SYSTEM_PROMPT, describe_spec
from dse_tui.engine.generation.providers import Message
from dse_tui.engine.specs.spec import Spec
from dse_tui.store.records import Artifact

MAX_INPUTS_SHOWN = 5
MAX_INPUT_CHARS = 300


@dataclass(frozen=True)
class Strategy:
    drift: str  # latency | errors | quality | cost | user
    goal: str
    stronger_tier: bool  # a quality drift asks a stronger tier than the one that made it
    measure: str  # what must improve: "time" (paired runs) | "failures" | "spec"


STRATEGIES = {
    "latency": Strategy("latency", "Make it faster: the same results on every input, in less time.", False, "time"),
    "cost": Strategy(
        "cost", "Make it cheaper to run: less CPU time for the same results on every input.", False, "time"
    ),
    "errors": Strategy(
        "errors",
        "Make it reliable: it fails on some real inputs (below); handle them, and keep every other result the same.",
        False,
        "failures",
    ),
    "quality": Strategy("quality", "It no longer passes all its checks; make it pass them again.", True, "spec"),
}
STRATEGIES["user"] = STRATEGIES["latency"]  # `dse evolve ID` without a drift: make it faster


def strategy_for(drift: str) -> Strategy:
    if drift not in STRATEGIES:
        raise ValueError(f"no evolution strategy for {drift!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[drift]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= MAX_INPUT_CHARS else text[: MAX_INPUT_CHARS - 3] + "..."


def build_messages(
    strategy: Strategy,
    artifact: Artifact,
    spec: Spec,
    figures: dict[str, Any],
    failing_inputs: list[dict[str, Any]],
    previous: tuple[str, str] | None,
) -> list[Message]:
    """`previous`: (code, why it lost) of the attempt before, so the next one is told."""
    parts = [
        f"Task: improve `{spec.function}`. {strategy.goal}",
        "",
        f"What it does: {artifact.description}",
        "",
        "Current code (tested; it passes its spec):",
        "```python",
        artifact.content.strip(),
        "```",
        "",
        "Measured: " + ", ".join(f"{k} {v}" for k, v in figures.items()) if figures else "",
        "",
        describe_spec(spec),
    ]
    if failing_inputs:
        parts += ["", "Real calls it failed on (keyword arguments -> error):"]
        for item in failing_inputs[:MAX_INPUTS_SHOWN]:
            parts.append(f"- {_short(item['input'])} -> {str(item.get('error') or '')[:200]}")
    if previous is not None:
        code, why = previous
        parts += ["", "A previous attempt was not taken:", "```python", code.strip(), "```", f"Why: {why}"]
    parts += ["", f"Reply with the complete new `{spec.function}` in one Python code block."]
    return [Message("system", SYSTEM_PROMPT), Message("user", "\n".join(p for p in parts))]
