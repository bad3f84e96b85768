def luhn_check(number):
    """Validate a number (e.g. a credit card number) with the Luhn checksum.

    Accepts a digit string, optionally grouped with spaces or hyphens, or a
    non-negative int. Returns False for fewer than 2 digits or non-digit characters.
    """
    if isinstance(number, bool) or not isinstance(number, (str, int)):
        raise TypeError(f"number must be a str or int, got {type(number).__name__}")
    if isinstance(number, int) and number < 0:
        raise ValueError("number must be non-negative")
    digits = str(number).replace(" ", "").replace("-", "")
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
