from datetime import date, datetime


def _to_date(value, name):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an ISO date string, got {type(value).__name__}")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(f"{name} is not a valid ISO date (YYYY-MM-DD): {value!r}") from None


def days_between(start, end):
    """Number of days from start to end (ISO date strings or date objects).

    Positive when end is after start, negative when it is before.
    """
    return (_to_date(end, "end") - _to_date(start, "start")).days
