def dedupe_preserve_order(items):
    """Remove duplicate items from a list, keeping the first occurrence of each.

    Works for unhashable items (lists, dicts) too, falling back to a linear scan for those.
    """
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list or tuple, got {type(items).__name__}")
    seen = set()
    seen_unhashable = []
    result = []
    for item in items:
        try:
            if item in seen:
                continue
            seen.add(item)
        except TypeError:
            if item in seen_unhashable:
                continue
            seen_unhashable.append(item)
        result.append(item)
    return result
