def truncate_text(text, max_length, ellipsis="..."):
    """Shorten text to at most max_length characters, ending with an ellipsis.

    Text that already fits is returned unchanged. When possible the cut is made
    at a word boundary so words are not split in half.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not isinstance(ellipsis, str):
        raise TypeError(f"ellipsis must be a str, got {type(ellipsis).__name__}")
    if not isinstance(max_length, int) or isinstance(max_length, bool):
        raise TypeError(f"max_length must be an int, got {type(max_length).__name__}")
    if max_length < len(ellipsis):
        raise ValueError(f"max_length must be at least len(ellipsis) = {len(ellipsis)}")
    if len(text) <= max_length:
        return text
    limit = max_length - len(ellipsis)
    cut = text[:limit]
    if not text[limit].isspace() and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip() + ellipsis
