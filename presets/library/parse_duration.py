import re

_UNIT_SECONDS = {
    "w": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})\s*([a-z]+)")
_FULL = re.compile(rf"(?:{_NUMBER}\s*[a-z]+\s*)+")


def parse_duration(text):
    """Parse a duration like "1h30m", "2d 4h", "1.5 hours" or "90" (seconds) into seconds.

    Returns an int when the total is a whole number of seconds, else a float.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    cleaned = text.strip().lower().replace(",", " ")
    if re.fullmatch(_NUMBER, cleaned):
        total = float(cleaned)
    elif _FULL.fullmatch(cleaned):
        total, seen = 0.0, set()
        for amount, unit in _PART.findall(cleaned):
            if unit not in _UNIT_SECONDS:
                raise ValueError(f"unknown duration unit {unit!r} in {text!r}")
            if _UNIT_SECONDS[unit] in seen:
                raise ValueError(f"unit {unit!r} given more than once in {text!r}")
            seen.add(_UNIT_SECONDS[unit])
            total += float(amount) * _UNIT_SECONDS[unit]
    else:
        raise ValueError(f"invalid duration: {text!r}")
    return int(total) if total.is_integer() else round(total, 6)
