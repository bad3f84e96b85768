"""Checks on the text and data users give DSE, before anything is stored or run.

Text must be valid Unicode without NUL (a command-line argument holding invalid UTF-8
arrives as lone surrogates, and so does a YAML or JSON escape such as "\\ud800"); a name
must be one line of printable text, since names are printed in tables and typed back.
JSON arguments are bounded in size and nesting, which json.loads itself is not.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dse_tui.engine.errors import BadInput
from dse_tui.engine.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides that
# make text display differently from what it is.
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_text(value: str, field: str) -> str:
    """`value` unchanged, or BadInput naming `field` and the position of the first problem."""
    match = _SURROGATE.search(value)
    if match:
        code = ord(match.group())
        if 0xDC80 <= code <= 0xDCFF:  # how Python carries a byte that was not valid UTF-8
            raise BadInput(f"{field}: not valid UTF-8 (byte 0x{code - 0xDC00:02x} at character {match.start() + 1})")
        raise BadInput(
            f"{field}: contains a lone surrogate U+{code:04X} at character {match.start() + 1}, which is not text"
        )
    position = value.find("\x00")
    if position >= 0:
        raise BadInput(f"{field}: contains a NUL character at character {position + 1}")
    return value


def check_name(value: str, field: str) -> str:
    """A name: valid text on one line, nothing that moves the cursor or reorders text."""
    check_text(value, field)
    match = _NOT_IN_NAMES.search(value)
    if match:
        raise BadInput(
            f"{field}: contains the control character U+{ord(match.group()):04X} at character "
            f"{match.start() + 1}; a name is one line of printable text"
        )
    return value


def json_depth(text: str) -> int:
    """How deeply `text`'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(text: str, field: str) -> Any:
    """Parse a JSON argument within the size and depth limits, its strings checked as text."""
    check_text(text, field)
    size = len(text.encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise BadInput(f"{field}: {size} bytes of JSON; the limit is {MAX_JSON_BYTES}")
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise BadInput(f"{field}: JSON nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{field}: not valid JSON: {exc.msg} at column {exc.colno}") from None
    _check_strings(value, field)
    return value


def _check_strings(value: Any, field: str) -> None:
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, field)
            _check_strings(item, field)
