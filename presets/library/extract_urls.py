import re

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""


def extract_urls(text):
    """Find http(s):// and www. URLs in text, in order of appearance, without duplicates.

    Trailing sentence punctuation and unbalanced closing parentheses are not part of the URL.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    found = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        while url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1].rstrip(_TRAILING)
        if url not in found:
            found.append(url)
    return found
