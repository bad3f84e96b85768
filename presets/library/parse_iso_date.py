import re
from datetime import date

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+\-Z]*)?")


def parse_iso_date(date_string):
    """Parse an ISO 8601 date ("2024-03-15", optionally followed by a time part).

    Returns {"year", "month", "day", "weekday"} where weekday is the English day name.
    """
    if not isinstance(date_string, str):
        raise TypeError(f"date_string must be a str, got {type(date_string).__name__}")
    match = _ISO_DATE.fullmatch(date_string.strip())
    if not match:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {date_string!r}")
    year, month, day = (int(part) for part in match.groups())
    try:
        parsed = date(year, month, day)
    except ValueError as error:
        raise ValueError(f"invalid date {date_string!r}: {error}") from None
    return {"year": year, "month": month, "day": day, "weekday": parsed.strftime("%A")}
