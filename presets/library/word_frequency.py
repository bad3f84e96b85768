import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def word_frequency(text, top_n=None):
    """Count how often each word occurs in text (case-insensitive).

    Returns a dict {word: count} ordered by descending count, then alphabetically.
    If top_n is given, only the top_n most frequent words are returned.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if top_n is not None:
        if not isinstance(top_n, int) or isinstance(top_n, bool):
            raise TypeError(f"top_n must be an int or None, got {type(top_n).__name__}")
        if top_n < 0:
            raise ValueError("top_n must be >= 0")
    counts = Counter(_WORD.findall(text.lower()))
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    if top_n is not None:
        ranked = ranked[:top_n]
    return dict(ranked)
