def fibonacci(n):
    """Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1.

    Uses the fast-doubling method (O(log n) steps), so large n is cheap.
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    a, b = 0, 1  # invariant: a = F(k), b = F(k + 1) for the bits read so far
    for bit in bin(n)[2:]:
        c = a * (2 * b - a)  # F(2k)
        d = a * a + b * b  # F(2k + 1)
        a, b = (d, c + d) if bit == "1" else (c, d)
    return a
