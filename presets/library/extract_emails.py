import re

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b"
)


def extract_emails(text):
    """Find all email addresses in text, in order of appearance, without duplicates.

    Duplicates are detected case-insensitively; the first spelling is kept.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    seen = set()
    found = []
    for match in _EMAIL.finditer(text):
        email = match.group(0)
        if email.lower() not in seen:
            seen.add(email.lower())
            found.append(email)
    return found
