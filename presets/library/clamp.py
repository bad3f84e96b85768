import math


def clamp(value, low, high):
    """Limit value to the inclusive range [low, high]."""
    for name, number in (("value", value), ("low", low), ("high", high)):
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            raise TypeError(f"{name} must be a number, got {type(number).__name__}")
        if isinstance(number, float) and math.isnan(number):
            raise ValueError(f"{name} must not be NaN")
    if low > high:
        raise ValueError(f"low ({low}) must not be greater than high ({high})")
    return max(low, min(value, high))
