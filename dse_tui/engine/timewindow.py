"""Daily time windows in local time ("22:00-06:00", may wrap past midnight): the batch
optimizer's window and the low-pressure window share this one syntax."""

from __future__ import annotations

from dse_tui.engine.errors import BadInput


def parse_window(text: str) -> tuple[int, int]:
    """(start, end) in minutes from midnight."""
    try:
        start, end = (part.strip() for part in str(text).split("-"))
        minutes = []
        for part in (start, end):
            hours, mins = part.split(":")
            h, m = int(hours), int(mins)
            if not (0 <= h < 24 and 0 <= m < 60):
                raise ValueError
            minutes.append(h * 60 + m)
    except ValueError:
        raise BadInput(f"a time window must look like 22:00-06:00, got {text!r}") from None
    return minutes[0], minutes[1]


def in_window(text: str, hour: int, minute: int) -> bool:
    start, end = parse_window(text)
    at = hour * 60 + minute
    return start <= at < end if start <= end else (at >= start or at < end)
