import re

# A word is a run of letters/digits, optionally joined by apostrophes or hyphens
# ("don't", "well-known"); stand-alone punctuation is not counted.
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def word_count(text):
    """Count the words in a piece of text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return len(_WORD.findall(text))
