def flatten_list(items, depth=None):
    """Flatten nested lists/tuples into a single flat list.

    depth=None flattens completely; depth=1 removes only one level of nesting.
    Strings and other non-list values are kept as-is. Iterative, so very deep
    nesting does not hit the recursion limit.
    """
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list or tuple, got {type(items).__name__}")
    if depth is not None:
        if not isinstance(depth, int) or isinstance(depth, bool):
            raise TypeError(f"depth must be an int or None, got {type(depth).__name__}")
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
    result = []
    stack = [(iter(items), depth)]
    while stack:
        iterator, level = stack[-1]
        for item in iterator:
            if isinstance(item, (list, tuple)) and (level is None or level > 0):
                stack.append((iter(item), None if level is None else level - 1))
                break
            result.append(item)
        else:
            stack.pop()
    return result
