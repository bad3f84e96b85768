def chunk_list(items, size):
    """Split a list into consecutive chunks of `size` items; the last chunk may be shorter."""
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list or tuple, got {type(items).__name__}")
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return [list(items[start:start + size]) for start in range(0, len(items), size)]
