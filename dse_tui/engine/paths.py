"""Where DSE keeps its data: --home, else $DSE_HOME, else the XDG data directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def default_home() -> Path:
    if os.environ.get("DSE_HOME"):
        return Path(os.environ["DSE_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dse"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    path = Path(home).expanduser() if home else default_home()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def store_path(home: Path) -> Path:
    return home / "dse.db"


def cache_dir(home: Path) -> Path:
    path = home / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def home_lock(home: Path, name: str) -> Iterator[None]:
    """An exclusive lock on `name` in `home` across processes (flock: released if the holder
    dies). Where the home is read-only there is nothing to protect, so nothing is locked."""
    try:
        fd = os.open(home / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
