import re
import unicodedata


def slugify(text, separator="-"):
    """Turn text into a URL-friendly slug: lowercase ASCII words joined by a separator.

    Accents are transliterated ("Café" -> "cafe"); every other non-alphanumeric
    run acts as a word boundary.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not isinstance(separator, str):
        raise TypeError(f"separator must be a str, got {type(separator).__name__}")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return separator.join(words)
