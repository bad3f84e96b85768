import re

_ACRONYM_BOUNDARY = re.compile(r"(.)([A-Z][a-z]+)")
_LOWER_UPPER_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")


def camel_to_snake(name):
    """Convert camelCase / PascalCase (or kebab/space separated) names to snake_case.

    Acronyms are kept together: "getHTTPResponse" -> "get_http_response".
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    result = re.sub(r"[\s-]+", "_", name.strip())
    result = _ACRONYM_BOUNDARY.sub(r"\1_\2", result)
    result = _LOWER_UPPER_BOUNDARY.sub(r"\1_\2", result)
    return re.sub(r"_+", "_", result).lower()
