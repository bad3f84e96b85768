_COMMON_PASSWORDS = frozenset({
    "123456", "123456789", "12345678", "password", "password1", "password123",
    "qwerty", "qwerty123", "abc123", "111111", "letmein", "welcome", "admin",
    "iloveyou", "monkey", "dragon", "football", "sunshine", "passw0rd", "p@ssw0rd",
})


def validate_password_strength(password, min_length=8):
    """Rate a password and explain what is missing.

    Returns {"valid": bool, "score": 0-5, "strength": "weak"|"medium"|"strong",
    "issues": [str, ...]}. Common passwords always score 0.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, got {type(password).__name__}")
    if not isinstance(min_length, int) or isinstance(min_length, bool) or min_length < 1:
        raise ValueError(f"min_length must be a positive int, got {min_length!r}")
    checks = [
        (len(password) >= min_length, f"must be at least {min_length} characters long"),
        (any(c.islower() for c in password), "add a lowercase letter"),
        (any(c.isupper() for c in password), "add an uppercase letter"),
        (any(c.isdigit() for c in password), "add a digit"),
        (any(not c.isalnum() and not c.isspace() for c in password), "add a symbol"),
    ]
    issues = [message for passed, message in checks if not passed]
    score = len(checks) - len(issues)
    if password.lower() in _COMMON_PASSWORDS:
        issues.append("is a commonly used password")
        score = 0
    strength = "strong" if score == 5 else "medium" if score >= 3 else "weak"
    return {"valid": not issues, "score": score, "strength": strength, "issues": issues}
