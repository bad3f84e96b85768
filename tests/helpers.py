"""Shared test material: small specs and code the tests store and run."""

SORT_SPEC = """\
function: sort_numbers
description: Sort numbers from smallest to largest
behaviors:
  - behavior: sorts ascending
    given: {items: [3, 1, 2]}
    then: {result_equals: [1, 2, 3], execution_time: "< 500ms"}
  - behavior: handles empty list
    given: {items: []}
    then: {result_equals: []}
  - behavior: rejects None
    given: {items: null}
    then: {raises: TypeError}
tests: |
  assert candidate(items=[2, 1]) == [1, 2]
"""

SORT_CODE = """\
def sort_numbers(items):
    if items is None:
        raise TypeError("items must be a list")
    return sorted(items)
"""

# Fails "rejects None" only: sorted(None) raises TypeError... so instead it returns [] for None.
SORT_CODE_WRONG = """\
def sort_numbers(items):
    if items is None:
        return []
    return sorted(items)
"""

ADD_SPEC = """\
function: add
description: Add two numbers and return their sum
behaviors:
  - behavior: adds small numbers
    given: {a: 2, b: 3}
    then: {result_equals: 5}
  - behavior: handles negative numbers
    given: {a: -4, b: 1}
    then: {result_equals: -3}
  - behavior: adds floats
    given: {a: 0.5, b: 0.25}
    then: {result_equals: 0.75, execution_time: "< 200ms"}
"""

ADD_CODE = "def add(a, b):\n    return a + b\n"

# The same sum under another name and a single example: reuse of `add` serves it, weakly.
OTHER_ADD_SPEC = """\
function: total
description: Add two numbers and return their sum
behaviors:
  - behavior: adds
    given: {a: 1, b: 1}
    then: {result_equals: 2}
"""
