"""Plain-text phrasing of engine results that the CLI and the screens both show
(no Textual, no Rich: each front end adds its own styling)."""

from __future__ import annotations

import re
from typing import Any

# What a terminal would act on instead of showing: C0/C1 controls (ESC starts a sequence
# that can clear the screen, retitle the window or fake output), DEL, carriage return, and
# the bidirectional overrides that show text in another order than it is.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """`text` safe to put on a terminal: every control character as a visible escape (\\x1b).
    Tabs and newlines stay unless `one_line`. Stored text (names, descriptions, code, model
    replies) goes through this wherever it is shown."""
    return (_UNPRINTABLE_ONE_LINE if one_line else _UNPRINTABLE).sub(_escape, str(text))


def clip(text: str, limit: int) -> str:
    """The first line of `text`, cut to `limit` characters with an ellipsis."""
    line = text.splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def prediction_text(start_tier: str | None, prediction: dict[str, Any] | None, evidence_shown: int = 3) -> str:
    """Why the ladder started where it did: the learned tier and the solved tasks that voted for it."""
    if not start_tier:
        return ""
    evidence = (prediction or {}).get("evidence") or []
    if not (prediction or {}).get("tier") or not evidence:
        return f"start tier: {start_tier} (no similar solved task yet: the bottom of the ladder)"
    items = [
        f"“{clip(e.get('task') or '?', 40)}” {e.get('tier')} {e.get('similarity', 0):.2f}"
        for e in evidence[:evidence_shown]
    ]
    more = f" +{len(evidence) - evidence_shown}" if len(evidence) > evidence_shown else ""
    plural = "s" if len(evidence) != 1 else ""
    return f"start tier: {start_tier}, learned from {len(evidence)} solved task{plural}: " + "; ".join(items) + more


def split_text(results: dict[str, Any]) -> str:
    """'visible 3/3 · held out 1/1': held-out behaviours never reach a model's prompt."""
    split = results.get("split") or {}
    visible_part, held = split.get("visible") or {}, split.get("held_out") or {}
    if not visible_part and not held:
        return ""
    text = f"visible {visible_part.get('passed', 0)}/{visible_part.get('total', 0)}"
    if held.get("total"):
        text += f" · held out {held['passed']}/{held['total']}"
    else:
        text += " · no held-out behaviours"
    return text


def strength_text(results: dict[str, Any], share: float | None) -> str:
    """What a pass means: the share of the code's mutants its spec kills."""
    record = results.get("strength") or {}
    if share is None or not record:
        return "spec strength not measured yet"
    text = f"spec strength {share:.2f}: {record.get('killed', 0)} of {record.get('total', 0)} mutants killed"
    if not record.get("complete", True):
        text += f" (time budget reached after {record.get('total', 0)} of {record.get('generated', 0)})"
    return text


def survivor_lines(results: dict[str, Any], limit: int = 5) -> list[str]:
    """The mutants the spec let through: each a bug it would not catch."""
    return [str(s.get("mutant", "?")) for s in ((results.get("strength") or {}).get("survivors") or [])[:limit]]


def merit_text(results: dict[str, Any], share: float | None, merit: float) -> str:
    """merit = 0.4·pass + 0.3·strength + 0.2·performance + 0.1·robustness: what decisions use."""
    return (
        f"merit {merit:.2f} = 0.4·pass {float(results.get('pass_rate') or 0):.2f} + 0.3·strength {share or 0:.2f} "
        f"+ 0.2·performance {float(results.get('performance_score') or 0):.2f} "
        f"+ 0.1·robustness {float(results.get('robustness_score') or 0):.2f}"
    )


def confirmation_text(confirmation: str | None, strength: float | None) -> str:
    """One line on what a pass means: the request spec's strength against the code returned."""
    if confirmation == "pending":
        return "confirmation pending: this spec's strength against the reused code is measured next"
    share = f" ({strength:.0%} of mutants killed)" if strength is not None else " (strength not measured)"
    return f"confirmation {confirmation}{share}"
