"""Writing an artifact's code out to a file a user asked for, never over one that exists."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dse_tui.store.records import Artifact

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
MAX_TRIES = 1000


def save_code(artifact: Artifact, directory: Path) -> Path:
    """`directory/NAME.py` (NAME-2.py, … when taken) holding the code exactly as stored.
    Created exclusively, so no existing file is ever replaced, and named from the artifact's
    name with anything but letters, digits and underscores dropped (no path can be smuggled in)."""
    stem = _UNSAFE.sub("_", artifact.name).strip("_") or "artifact"
    data = artifact.content if artifact.content.endswith("\n") else artifact.content + "\n"
    for n in range(1, MAX_TRIES + 1):
        path = directory / (f"{stem}.py" if n == 1 else f"{stem}-{n}.py")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        return path
    raise FileExistsError(f"{directory}/{stem}.py and {MAX_TRIES - 1} numbered copies exist")
