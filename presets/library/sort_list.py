import math


def sort_list(items):
    """Sort a list of numbers in ascending order, returning a new list.

    Accepts a list or tuple of ints/floats; the input is not modified.
    """
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list of numbers, got {type(items).__name__}")
    for index, value in enumerate(items):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"items[{index}] is not a number: {value!r}")
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"items[{index}] is NaN, which cannot be ordered")
    return sorted(items)
