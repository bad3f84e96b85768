"""What can go wrong with the store file, said so a user knows what to do.

Every SQLite error leaves the store as one of these (see Database), never as a driver
traceback. IntegrityError is not translated: it is a rule of the schema, and the
repository that broke it knows what it means.
"""

from __future__ import annotations

import errno
import os
from typing import Any

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26
LOW_SPACE_BYTES = 4 * 2**20  # an I/O error with less free than this is a full disk


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class StoreDamaged(StoreError):
    """Not a DSE store, or its pages are damaged."""


class StoreFull(StoreError):
    """No space left where the store lives; the transaction was rolled back whole."""


class StoreBusy(StoreError):
    """Another process held the write lock for longer than the busy timeout."""


def damaged(path: str, detail: str) -> StoreDamaged:
    return StoreDamaged(
        f"{path}: not a DSE store or damaged ({detail}); run `dse doctor --check` to check it and copy what is "
        "still readable into a new file beside it",
        path,
    )


def no_space(path: str) -> StoreFull:
    return StoreFull(
        f"no space left on the device holding {path}; nothing was half-written (free some space and try again)", path
    )


def free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def translate(exc: Exception, path: str) -> StoreError:
    """The StoreError a driver error means, by SQLite's primary result code."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if code == SQLITE_FULL or "database or disk is full" in detail:
        return no_space(path)
    if code == SQLITE_IOERR or "disk I/O error" in detail:
        free = free_bytes(path)
        if free is not None and free < LOW_SPACE_BYTES:
            return no_space(path)
        return StoreError(
            f"{path}: the store could not be read or written ({detail}); check the disk, then `dse doctor --check`",
            path,
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in detail or "not a database" in detail:
        return damaged(path, detail)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreBusy(f"{path}: the store is busy (another DSE process is writing); try again", path)
    if code == SQLITE_READONLY:
        return StoreError(f"{path}: the store is read-only here ({detail}); check its permissions", path)
    if code == SQLITE_CANTOPEN:
        return StoreError(
            f"{path}: the store cannot be opened ({detail}); check that its folder exists and is writable", path
        )
    return StoreError(f"{path}: store error: {detail}", path)


def translate_os_error(exc: OSError, path: str) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return no_space(path)
    return StoreError(f"{exc.filename or path}: {exc.strerror or exc}", path)


def is_driver_error(exc: Any, module: Any) -> bool:
    return isinstance(exc, module.DatabaseError) and not isinstance(exc, module.IntegrityError)
