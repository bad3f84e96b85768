_DECIMAL_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def format_bytes(size, binary=False, precision=1):
    """Format a byte count as a human-readable string, e.g. 1500 -> "1.5 KB".

    binary=True uses powers of 1024 with IEC units (KiB, MiB, ...).
    """
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int number of bytes, got {type(size).__name__}")
    if not isinstance(precision, int) or isinstance(precision, bool) or precision < 0:
        raise ValueError(f"precision must be a non-negative int, got {precision!r}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    base = 1024 if binary else 1000
    units = _BINARY_UNITS if binary else _DECIMAL_UNITS
    if size < base:
        return f"{size} B"
    value = float(size)
    for unit in units[1:]:
        value /= base
        if round(value, precision) < base or unit == units[-1]:
            return f"{value:.{precision}f} {unit}"
