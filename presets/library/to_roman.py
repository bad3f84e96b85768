_NUMERALS = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)


def to_roman(number):
    """Convert an integer from 1 to 3999 to a Roman numeral, e.g. 1994 -> "MCMXCIV"."""
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError(f"number must be an int, got {type(number).__name__}")
    if not 1 <= number <= 3999:
        raise ValueError(f"number must be between 1 and 3999, got {number}")
    parts = []
    for value, symbol in _NUMERALS:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)
