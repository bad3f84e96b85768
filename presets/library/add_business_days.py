from datetime import date, timedelta


def add_business_days(start, days):
    """Add (or subtract, if negative) business days to an ISO date, skipping weekends.

    Returns the resulting date as an ISO string "YYYY-MM-DD". A weekend start date
    counts from the adjacent business day, so Saturday + 1 business day is Monday.
    """
    if not isinstance(start, str):
        raise TypeError(f"start must be an ISO date string, got {type(start).__name__}")
    if not isinstance(days, int) or isinstance(days, bool):
        raise TypeError(f"days must be an int, got {type(days).__name__}")
    try:
        current = date.fromisoformat(start.strip())
    except ValueError:
        raise ValueError(f"start is not a valid ISO date (YYYY-MM-DD): {start!r}") from None
    if days == 0:
        return current.isoformat()
    step = 1 if days > 0 else -1
    while current.weekday() >= 5:  # snap a weekend start back against the direction of travel
        current -= timedelta(days=step)
    weeks, remaining = divmod(abs(days), 5)
    try:
        current += timedelta(weeks=weeks * step)
        while remaining:
            current += timedelta(days=step)
            if current.weekday() < 5:
                remaining -= 1
    except OverflowError:
        raise ValueError("resulting date is out of the supported range") from None
    return current.isoformat()
