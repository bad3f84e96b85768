"""Text gauges that read on the Linux console: a bar and a sparkline, from glyphs its fonts
have (block elements there, plain ASCII where even those may not show)."""

from __future__ import annotations

from collections.abc import Sequence

from .glyphs import plain

SPARK = "▁▂▃▄▅▆▇█"
PLAIN_SPARK = "_.-=+*#"


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar `width` cells wide; an unknown fraction is a row of dots."""
    full, empty = ("#", ".") if plain() else ("█", "░")
    if fraction is None:
        return "·" * width
    cells = round(max(0.0, min(1.0, fraction)) * width)
    return full * cells + empty * (width - cells)


def spark(values: Sequence[float | None], width: int, *, low: float | None = None, high: float | None = None) -> str:
    """The last `width` values as one line; a missing value is a blank."""
    levels = PLAIN_SPARK if plain() else SPARK
    shown = list(values)[-width:]
    known = [v for v in shown if v is not None]
    if not known:
        return " " * len(shown)
    lo = min(known) if low is None else low
    hi = max(known) if high is None else high
    span = hi - lo
    out = []
    for v in shown:
        if v is None:
            out.append(" ")
            continue
        share = 0.0 if span <= 0 else (min(max(v, lo), hi) - lo) / span
        out.append(levels[min(len(levels) - 1, int(share * (len(levels) - 1) + 0.5))])
    return "".join(out)
