import re

_OCTET = re.compile(r"0|[1-9][0-9]{0,2}")


def is_valid_ipv4(address):
    """Check whether a string is a dotted-quad IPv4 address like "192.168.0.1".

    Each of the four parts must be 0-255 written without leading zeros or signs.
    """
    if not isinstance(address, str):
        raise TypeError(f"address must be a str, got {type(address).__name__}")
    parts = address.split(".")
    if len(parts) != 4:
        return False
    return all(_OCTET.fullmatch(part) and int(part) <= 255 for part in parts)
