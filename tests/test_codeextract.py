"""Code comes out of LLM replies in many shapes; extraction must cope with all of them."""

import pytest

from dse_tui.engine.codeextract import ExtractionError, extract_code


def test_fenced_block_with_prose_around():
    reply = "Sure! Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nIt adds two numbers."
    assert extract_code(reply, "add").strip() == "def add(a, b):\n    return a + b"


def test_bare_code_with_prose_before_and_after():
    reply = "Here you go:\ndef add(a, b):\n    return a + b\nThis returns the sum of a and b."
    assert extract_code(reply, "add").strip() == "def add(a, b):\n    return a + b"


def test_several_blocks_prefers_the_one_defining_the_function_and_keeps_helpers():
    reply = (
        "First a helper:\n```python\ndef _double(x):\n    return 2 * x\n```\n"
        "Usage:\n```\n>>> quad(2)\n8\n```\n"
        "Then:\n```python\ndef quad(x):\n    return _double(_double(x))\n```\n"
    )
    code = extract_code(reply, "quad")
    assert "def _double" in code and "def quad" in code
    assert code.index("def _double") < code.index("def quad")
    assert ">>>" not in code


def test_unclosed_fence_is_still_read():
    reply = "```python\ndef add(a, b):\n    return a + b\n"
    assert "return a + b" in extract_code(reply, "add")


def test_demo_prints_asserts_and_main_guard_are_dropped():
    reply = (
        "```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n\n"
        "print(area(2))\nassert area(1) > 3\nif __name__ == '__main__':\n    print('hi')\n```"
    )
    code = extract_code(reply, "area")
    assert "print" not in code and "assert" not in code and "__main__" not in code
    assert "import math" in code and "def area" in code


def test_missing_entry_function_is_a_failure_to_feed_back():
    with pytest.raises(ExtractionError, match="does not define the entry function `add`"):
        extract_code("```python\ndef plus(a, b):\n    return a + b\n```", "add")


@pytest.mark.parametrize("reply", ["", "   ", "I cannot help with that.", "```python\ndef add(a, b)\n    return\n```"])
def test_no_code_at_all(reply):
    with pytest.raises(ExtractionError):
        extract_code(reply, "add")


def test_forgotten_typing_imports_are_added():
    reply = "```python\ndef first(xs: List[int]) -> Optional[int]:\n    return xs[0] if xs else None\n```"
    code = extract_code(reply, "first")
    assert code.startswith("from typing import List, Optional\n")
    namespace = {}
    exec(code, namespace)
    assert namespace["first"]([3]) == 3


def test_present_typing_imports_are_left_alone():
    reply = "```python\nfrom typing import List\n\ndef first(xs: List[int]):\n    return xs[0]\n```"
    assert extract_code(reply, "first").count("import") == 1
