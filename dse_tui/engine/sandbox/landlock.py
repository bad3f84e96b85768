"""Landlock through raw syscalls (ctypes): the ruleset is built in the parent, where it is
cheap and may fail loudly; the child only calls restrict_self (from preexec_fn)."""

from __future__ import annotations

import ctypes
import os
import stat
import struct
from collections.abc import Iterable
from typing import Any

# asm-generic numbers, identical on x86_64, aarch64 and arm.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
# Rights that make sense on a file (not a directory) rule; others make add_rule fail.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

READ_ONLY = EXECUTE | READ_FILE | READ_DIR

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: Any) -> int:
    """args: ints (passed as longs) or ctypes buffers and pointers."""
    result = _libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi_version() -> int:
    """0 when the kernel has no (or a disabled) Landlock."""
    try:
        return _syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled_fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def create_ruleset(
    abi: int, read_only: Iterable[str], read_write: Iterable[str], read_write_files: Iterable[str]
) -> int:
    """Return a ruleset fd (O_CLOEXEC) that denies everything not listed, all TCP bind/connect
    (ABI >= 4) and, from ABI 6, signals and abstract unix sockets leaving the sandbox."""
    fs = handled_fs_rights(abi)
    net = 0b11 if abi >= 4 else 0  # bind_tcp | connect_tcp, with no rule allowing any port
    scoped = 0b11 if abi >= 6 else 0  # abstract_unix_socket | signal
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", fs, net, scoped)[:size], size)
    ruleset = _syscall(_SYS_CREATE_RULESET, attr, size, 0)
    try:
        for paths, rights in (
            (read_only, READ_ONLY),
            (read_write, fs & ~EXECUTE),
            (read_write_files, fs & _FILE_RIGHTS & ~EXECUTE),
        ):
            for path in paths:
                _allow(ruleset, path, rights & fs)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        _syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
    finally:
        os.close(fd)


def restrict_self(ruleset: int) -> None:
    """Child side. Needs PR_SET_NO_NEW_PRIVS first (or CAP_SYS_ADMIN)."""
    _syscall(_SYS_RESTRICT_SELF, ruleset, 0)
