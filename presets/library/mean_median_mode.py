import math
import statistics


def mean_median_mode(values):
    """Return {"mean", "median", "mode"} of a non-empty list of numbers.

    When several values are equally common, the smallest of them is the mode.
    """
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    if not values:
        raise ValueError("values must not be empty")
    for index, value in enumerate(values):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"values[{index}] is not a number: {value!r}")
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"values[{index}] is NaN")
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "mode": min(statistics.multimode(values)),
    }
