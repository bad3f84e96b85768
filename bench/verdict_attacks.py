"""Tricks that made a candidate pass its own spec on the old in-process harness, against
today's verdict path, on both backends. Prints how many still pass (must be 0).

    .venv/bin/python bench/verdict_attacks.py

It also runs on a checkout from before the judged verdicts (dcf2cf2, whose runner was
dse_tui.engine.testing) for the before figure.
"""

import sys, textwrap
try:
    from dse_tui.engine.specs.judge import run_spec
except ImportError:
    from dse_tui.engine.testing import run_spec  # noqa
from dse_tui.engine.sandbox import select_sandbox
try:
    from dse_tui.engine.specs.spec import parse_spec
except ImportError:
    from dse_tui.engine.spec import parse_spec
ADD = "function: add\ndescription: add\nbehaviors:\n  - behavior: adds\n    given: {a: 2, b: 3}\n    then: {result_equals: 5}\n  - behavior: adds negatives\n    given: {a: -4, b: 1}\n    then: {result_equals: -3}\n"
ATTACKS = {
 "__main__._check patched": (ADD, "import __main__; __main__._check = lambda *a, **k: None\ndef add(a, b):\n    return a - b\n"),
 "object equal to everything": (ADD, "class Y:\n    def __eq__(s, o): return True\ndef add(a, b):\n    return Y()\n"),
 "builtins.all patched": (ADD, "import builtins\nbuiltins.all = lambda i: True\nbuiltins.isinstance = lambda *a: False\ndef add(a, b):\n    return a - b\n"),
 "local class list": ("function: make\ndescription: m\nbehaviors:\n  - behavior: list\n    given: {n: 1}\n    then: {result_type: list}\n", "class list: pass\ndef make(n):\n    return list()\n"),
 "own TypeError": ("function: p\ndescription: p\nbehaviors:\n  - behavior: rejects\n    given: {t: 1}\n    then: {raises: TypeError}\n", "class TypeError(Exception): pass\ndef p(t):\n    raise TypeError('x')\n"),
 "sorted shadowed in tests": ("function: s\ndescription: s\nbehaviors:\n  - behavior: one\n    given: {items: [1]}\n    then: {result_equals: [1]}\ntests: |\n  assert candidate([3, 1, 2]) == sorted([3, 1, 2])\n", "def sorted(x, **k): return list(x)\ndef s(items):\n    return list(items)\n"),
 "clock patched": ("function: add\ndescription: a\nbehaviors:\n  - behavior: fast\n    given: {a: 1, b: 2}\n    then: {result_equals: 3, execution_time: '< 50ms'}\n", "import time\n_s = time.sleep\ntime.perf_counter = lambda: 0.0\ndef add(a, b):\n    _s(0.2)\n    return a + b\n"),
}
for backend in ("bwrap", "native"):
    box = select_sandbox(backend)
    passed = [name for name, (spec, code) in ATTACKS.items() if run_spec(code, parse_spec(spec), box).all_passed]
    print(backend, f"{len(passed)}/{len(ATTACKS)} attacks passed:", passed)
