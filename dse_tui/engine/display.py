"""Plain-text phrasing of engine results that the CLI and the screens both show
(no Textual, no Rich: each front end adds its own styling)."""

from __future__ import annotations

from typing import Any


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
    items = [f"“{clip(e.get('task') or '?', 40)}” {e.get('tier')} {e.get('similarity', 0):.2f}"
             for e in evidence[:evidence_shown]]
    more = f" +{len(evidence) - evidence_shown}" if len(evidence) > evidence_shown else ""
    plural = "s" if len(evidence) != 1 else ""
    return f"start tier: {start_tier}, learned from {len(evidence)} solved task{plural}: " + "; ".join(items) + more
