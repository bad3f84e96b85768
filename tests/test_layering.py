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


def test_the_layering_contracts_hold_on_the_installed_layout(tmp_path):
    from importgraph import installed_layout, lint_imports

    result = lint_imports(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_a_planted_forbidden_import_is_reported(tmp_path):
    from importgraph import installed_layout, lint_imports

    layout = installed_layout(tmp_path)
    errors = layout / "dse_tui" / "engine" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _planted():\n    import textual  # a UI library in the engine\n")
    repository = layout / "dse_tui" / "store" / "ledger.py"
    repository.write_text(repository.read_text() + "\n\ndef _planted():\n    from dse_tui.engine import limits\n")
    result = lint_imports(layout)
    assert result.returncode != 0
    assert "dse_tui.engine.errors -> textual" in result.stdout
    assert "dse_tui.store.ledger -> dse_tui.engine.limits" in result.stdout
    assert "BROKEN" in result.stdout


def test_no_import_cycles_with_function_local_imports_counted(tmp_path):
    from importgraph import cycles, installed_layout

    layout = installed_layout(tmp_path)
    assert cycles(layout) == []
    # and the check sees one when there is one, even inside a function
    limits = layout / "dse_tui" / "engine" / "limits.py"
    limits.write_text(limits.read_text() + "\n\ndef _planted():\n    from dse_tui.engine import validation\n")
    assert cycles(layout) == [["dse_tui.engine.limits", "dse_tui.engine.validation"]]


def test_every_package_is_installed():
    """A package missing from pyproject's list would be left out of the wheel."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(re.findall(r'^\s+"(dse_tui[a-z_.]*)",$', (root / "pyproject.toml").read_text(), re.M))
    found = set()
    for base, prefix in (("dse_tui", "dse_tui"), ("store", "dse_tui.store"), ("screens", "dse_tui.screens")):
        for init in (root / base).rglob("__init__.py"):
            rel = init.parent.relative_to(root / base).parts
            found.add(".".join([prefix, *rel]))
    assert found <= listed, sorted(found - listed)
