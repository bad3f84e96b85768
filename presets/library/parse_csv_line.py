import csv


def parse_csv_line(line, delimiter=","):
    """Split one CSV line into fields, honouring quotes ("a, b") and doubled quotes ("").

    Raises ValueError for malformed quoting such as an unterminated quoted field.
    """
    if not isinstance(line, str):
        raise TypeError(f"line must be a str, got {type(line).__name__}")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise ValueError(f"delimiter must be a single character other than a quote or newline, got {delimiter!r}")
    line = line.rstrip("\r\n")
    if not line:
        return []
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise ValueError(f"malformed CSV line: {error}") from None
