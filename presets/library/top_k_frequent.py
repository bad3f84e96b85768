from collections import Counter


def top_k_frequent(items, k):
    """Return the k most frequent items, most frequent first.

    Ties are broken by first appearance in the input.
    """
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list or tuple, got {type(items).__name__}")
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    try:
        counts = Counter(items)
    except TypeError as error:
        raise TypeError(f"items must be hashable: {error}") from None
    return [item for item, _ in counts.most_common(k)]
