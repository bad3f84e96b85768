"""The import graph of dse_tui as installed, for the layering contracts and the cycle check.

setuptools installs store/ as dse_tui.store and screens/ as dse_tui.screens (package-dir);
tools that walk the filesystem (grimp, and import-linter on top of it) would not find them
under dse_tui/. So the installed layout is rebuilt in a scratch directory and analysed there.

    python tests/importgraph.py      # lint-imports on the installed layout, then the cycle check
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = {"dse_tui": "dse_tui", "dse_tui/store": "store", "dse_tui/screens": "screens"}


def installed_layout(dest: Path) -> Path:
    """Copy the project's Python files into `dest` as they are installed; returns `dest`."""
    for target, source in LAYOUT.items():
        for path in (ROOT / source).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            out = dest / target / path.relative_to(ROOT / source)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
    return dest


def lint_imports(layout: Path) -> subprocess.CompletedProcess:
    """import-linter with the contracts in pyproject.toml, on the layout in `layout`."""
    tool = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(layout)}
    return subprocess.run([str(tool), "--no-cache", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          env=env, cwd=layout)


def cycles(layout: Path) -> list[list[str]]:
    """Import cycles among dse_tui's modules (imports inside functions count; TYPE_CHECKING ones do not)."""
    code = (
        "import grimp, json\n"
        "g = grimp.build_graph('dse_tui', exclude_type_checking_imports=True, cache_dir=None)\n"
        "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(layout)}, cwd=layout).stdout
    import json

    graph = {m: [d for d in deps if d.startswith("dse_tui")] for m, deps in json.loads(out).items()}
    return _strongly_connected(graph)


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph.get(start, [])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, []):
                        found.append(sorted(component))
    return found


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dse-imports-") as tmp:
        layout = installed_layout(Path(tmp))
        linted = lint_imports(layout)
        sys.stdout.write(linted.stdout[-3000:])
        sys.stderr.write(linted.stderr[-3000:])
        found = cycles(layout)
        for cycle in found:
            print("cycle:", " -> ".join(cycle))
        print(f"cycles: {len(found)}")
        return 1 if linted.returncode or found else 0


if __name__ == "__main__":
    raise SystemExit(main())
