# Short function words stay lowercase unless they start or end the title.
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into nor of on or over the to via vs with".split()
)


def title_case(text):
    """Convert text to headline Title Case.

    Minor words ("of", "the", ...) stay lowercase except at the start or end,
    all-caps acronyms such as "NASA" are preserved, and whitespace is normalised.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = text.split()
    last = len(words) - 1
    result = []
    for index, word in enumerate(words):
        lower = word.lower()
        if len(word) > 1 and word.isupper():
            result.append(word)
        elif 0 < index < last and lower in _SMALL_WORDS:
            result.append(lower)
        else:
            result.append(lower[:1].upper() + lower[1:])
    return " ".join(result)
