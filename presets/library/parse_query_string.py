from urllib.parse import parse_qs, urlsplit


def parse_query_string(query):
    """Parse a URL query string ("?a=1&b=x%20y") into a dict.

    A full URL is accepted too. Values are percent-decoded ("+" means space); a key
    that appears more than once maps to a list of its values; blank values are kept.
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    query = query.strip()
    if "://" in query:
        query = urlsplit(query).query
    parsed = parse_qs(query.lstrip("?"), keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}
