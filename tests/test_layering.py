"""The engine and the store never pull in the UI (DESIGN.md §2)."""

import subprocess
import sys


def test_engine_import_does_not_import_textual():
    probe = (
        "import sys\n"
        "import dse_tui.engine.facade, dse_tui.engine.generation.ask, dse_tui.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual',) or m.startswith('dse_tui.screens') or m == 'dse_tui.app')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('anthropic', 'ollama', 'fastembed', 'llama_cpp', 'onnxruntime'))\n"
        "print(bad, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] []", out
