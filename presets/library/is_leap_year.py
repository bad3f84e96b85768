def is_leap_year(year):
    """Return True if year is a leap year in the (proleptic) Gregorian calendar."""
    if not isinstance(year, int) or isinstance(year, bool):
        raise TypeError(f"year must be an int, got {type(year).__name__}")
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
