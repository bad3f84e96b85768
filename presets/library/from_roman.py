import re

_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# Canonical Roman numerals 1..3999 (rejects forms like "IIII", "VX" or "IC").
_CANONICAL = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")


def from_roman(numeral):
    """Convert a Roman numeral (case-insensitive) to an integer, e.g. "MCMXCIV" -> 1994."""
    if not isinstance(numeral, str):
        raise TypeError(f"numeral must be a str, got {type(numeral).__name__}")
    text = numeral.strip().upper()
    if not text or not _CANONICAL.fullmatch(text):
        raise ValueError(f"invalid Roman numeral: {numeral!r}")
    total = 0
    for symbol, following in zip(text, text[1:] + " "):
        value = _VALUES[symbol]
        total += -value if value < _VALUES.get(following, 0) else value
    return total
