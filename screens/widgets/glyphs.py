"""Glyphs with plain fallbacks, for the Linux console and terminals without UTF-8.

(Latin-1 characters such as · and × are in every console font and stay.)

The Linux console's fonts hold a few hundred characters: check marks, arrows, braille
spinners and emoji may show as blanks or diamonds there, and not at all where the locale is
not UTF-8. `DSE_GLYPHS=ascii` (or `unicode`) decides it by hand.
"""

from __future__ import annotations

import os

FALLBACK = {
    "✓": "ok",
    "✗": "x",
    "…": "...",
    "›": ">",
    "→": "->",
    "≥": ">=",
    "⚠": "!",
    "—": "-",
    "│": "|",
    "▲": "^",
    "▼": "v",
    "“": '"',
    "”": '"',
}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PLAIN_SPINNER = "|/-\\"


def plain() -> bool:
    """True where fancy glyphs may not show: TERM=linux (or a VT), or a locale that is not UTF-8."""
    forced = os.environ.get("DSE_GLYPHS", "").lower()
    if forced in ("ascii", "unicode"):
        return forced == "ascii"
    term = os.environ.get("TERM", "")
    if term == "linux" or term.startswith("vt"):
        return True
    locale = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    return bool(locale) and "utf" not in locale.lower().replace("-", "")


def g(text: str) -> str:
    """`text` with each fancy glyph replaced by its plain form where the terminal needs it."""
    if not plain():
        return text
    for fancy, simple in FALLBACK.items():
        text = text.replace(fancy, simple)
    return text


def spinner_frame(tick: int) -> str:
    frames = PLAIN_SPINNER if plain() else SPINNER
    return frames[tick % len(frames)]
