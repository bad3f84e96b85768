import math


def gcd_lcm(a, b):
    """Return {"gcd": ..., "lcm": ...} of two integers.

    Both results are non-negative; gcd(0, 0) == 0 and lcm(x, 0) == 0.
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    gcd = math.gcd(a, b)
    lcm = 0 if gcd == 0 else abs(a // gcd * b)
    return {"gcd": gcd, "lcm": lcm}
