"""What a sandboxed interpreter is given: its binary, the host paths it may read, its environment."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence

# 'nobody': a uid that owns nothing, used whenever we may switch users (we run as root).
NOBODY = 65534

# Directories every backend exposes read-only (missing ones are skipped; on merged-/usr
# systems /bin, /lib... are symlinks into /usr).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

# The few /etc files the interpreter and the stdlib read; never all of /etc (shadow, keys).
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/mime.types",
)


def interpreter() -> str:
    """The base interpreter (never the venv's): sandboxed code gets only the stdlib."""
    return os.path.realpath(sys.executable)


def python_prefixes() -> list[str]:
    """Install prefixes of the base interpreter that must be visible read-only."""
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    binary_dir = os.path.dirname(os.path.dirname(interpreter()))
    if not any(binary_dir.startswith(p + os.sep) or binary_dir == p for p in prefixes):
        prefixes.add(binary_dir)
    return sorted(p for p in prefixes if not _under_system_dir(p))


def _under_system_dir(path: str) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in SYSTEM_DIRS)


def python_argv(source: str, argv: Sequence[str] = ()) -> list[str]:
    # -I: ignore PYTHON* variables and the user site; -S: no site-packages at all.
    return [interpreter(), "-I", "-S", "-c", source, *argv]


def minimal_env(workdir: str) -> dict[str, str]:
    """An allow-list: nothing of the parent's environment (API keys included) gets through."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
    }


def reachable_by_others(path: str) -> bool:
    """Whether a uid with no special rights can traverse to `path` (pyenv under /root can't)."""
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent
