import re

_SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def _precedence_key(version, name):
    if not isinstance(version, str):
        raise TypeError(f"{name} must be a str, got {type(version).__name__}")
    match = _SEMVER.fullmatch(version.strip())
    if not match:
        raise ValueError(f"{name} is not a valid semantic version: {version!r}")
    core = tuple(int(part) for part in match.group(1, 2, 3))
    prerelease = match.group(4)
    if prerelease is None:
        return core, (1,)  # a release ranks above any of its pre-releases
    identifiers = tuple(
        (0, int(ident), "") if ident.isdigit() else (1, 0, ident) for ident in prerelease.split(".")
    )
    return core, (0, identifiers)


def semver_compare(a, b):
    """Compare two semantic versions (semver.org 2.0.0 precedence).

    Returns -1 if a < b, 0 if they have equal precedence, 1 if a > b.
    A leading "v" is allowed; build metadata ("+build.5") is ignored.
    """
    key_a, key_b = _precedence_key(a, "a"), _precedence_key(b, "b")
    return (key_a > key_b) - (key_a < key_b)
