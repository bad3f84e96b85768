import re

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_valid_email(email):
    """Check whether a string is a plausible email address (pragmatic RFC 5322 subset).

    Requires local@domain, a dot-atom local part of at most 64 characters, a domain
    of valid DNS labels with an alphabetic top-level domain, and 254 characters total.
    """
    if not isinstance(email, str):
        raise TypeError(f"email must be a str, got {type(email).__name__}")
    if len(email) > 254 or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if len(local) > 64 or not _LOCAL.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return labels[-1].isalpha() and len(labels[-1]) >= 2
