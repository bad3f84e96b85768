"""Code comes out of LLM replies in many shapes; extraction must cope with all of them."""

import pytest

from dse_tui.engine.generation.codeextract import ExtractionError, extract_code


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


def test_a_usage_block_is_not_placed_before_the_function():
    reply = "```python\ndef f(x):\n    return x + 1\n```\nUse it:\n```python\nresult = f(3)\nprint(result)\n```"
    namespace = {}
    exec(extract_code(reply, "f"), namespace)
    assert namespace["f"](3) == 4 and "result" not in namespace


def test_imports_and_helpers_of_other_blocks_are_kept_without_their_demo_lines():
    reply = "```python\nimport math\nRADIUS = 2\ndef _sq(x):\n    return x * x\n```\n```python\ndef area(r):\n    return math.pi * _sq(r)\n```"
    code = extract_code(reply, "area")
    assert "RADIUS" not in code
    namespace = {}
    exec(code, namespace)
    assert round(namespace["area"](1), 2) == 3.14


def test_a_function_cut_off_mid_body_is_a_syntax_failure_not_a_shorter_function():
    with pytest.raises(ExtractionError, match=r"does not parse \(line 3"):
        extract_code("```python\ndef f(x):\n    y = x + 1\n    return (y +\n```", "f")


def test_prose_after_bare_code_is_still_cut():
    code = extract_code("def f(x):\n    return x * 2\nThat doubles x, e.g. f(2) is 4.", "f")
    assert code.strip() == "def f(x):\n    return x * 2"


def test_typing_import_goes_after_future_imports_and_docstring():
    reply = '```python\n"""Doc."""\nfrom __future__ import annotations\n\ndef first(xs: List[int]) -> int:\n    return xs[0]\n```'
    code = extract_code(reply, "first")
    assert code.splitlines()[:3] == ['"""Doc."""', "from __future__ import annotations", "from typing import List"]
    compile(code, "<reply>", "exec")


def test_set_up_calls_stay_and_lines_shared_with_kept_statements_stay_whole():
    reply = "```python\nimport sys; sys.setrecursionlimit(10000)\nimport random\nrandom.seed(1)\n\ndef f(n):\n    return n\n\nf(3)\n```"
    code = extract_code(reply, "f")
    assert "import sys; sys.setrecursionlimit(10000)" in code and "random.seed(1)" in code
    assert "f(3)" not in code.replace("def f(n)", "")


def test_definitions_the_entry_function_never_reaches_are_dropped():
    reply = (
        "```python\nimport datetime\n\ndef _twice(x):\n    return 2 * x\n\n"
        "class Unused:\n    pass\n\n@staticmethod\ndef add_business_days(start, days):\n    return add(2, days)\n\n"
        "def build():\n    return {1: 'one'}\n\nTABLE = build()\n\n"
        "def add(a, b):\n    return _twice(a) // 2 + b\n```"
    )
    code = extract_code(reply, "add")
    assert "add_business_days" not in code and "Unused" not in code and "@staticmethod" not in code
    assert "def _twice" in code and "def build" in code and "TABLE = build()" in code and "import datetime" in code
    namespace = {}
    exec(code, namespace)
    assert namespace["add"](2, 3) == 5
