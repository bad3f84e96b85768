import math


def moving_average(values, window):
    """Simple moving average: the mean of each consecutive `window` values.

    Returns len(values) - window + 1 floats, or [] if there are fewer values than the window.
    """
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    if not isinstance(window, int) or isinstance(window, bool):
        raise TypeError(f"window must be an int, got {type(window).__name__}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    for index, value in enumerate(values):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"values[{index}] is not a number: {value!r}")
    if len(values) < window:
        return []
    total = math.fsum(values[:window])
    averages = [total / window]
    for index in range(window, len(values)):
        total += values[index] - values[index - window]
        averages.append(total / window)
    return averages
