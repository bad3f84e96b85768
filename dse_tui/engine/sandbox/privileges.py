"""Dropping root in the child (preexec_fn): RLIMIT_NPROC is not enforced for uid 0."""

from __future__ import annotations

import ctypes
import os

from .environment import NOBODY

_PR_SET_KEEPCAPS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE = 8, 47, 2
_CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_to_nobody(*, keep_read_search: bool) -> None:
    """Become uid/gid 65534 with no groups and no capabilities.

    keep_read_search keeps CAP_DAC_READ_SEARCH as an ambient capability (it survives exec):
    needed when the interpreter lives where 'nobody' cannot traverse (pyenv under /root).
    Only used together with Landlock, which still confines reads to the allow-list."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    if keep_read_search:
        _prctl(_PR_SET_KEEPCAPS, 1)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if keep_read_search:
        bit = 1 << _CAP_DAC_READ_SEARCH
        data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
        if _libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH)


def _prctl(option: int, arg2: int, arg3: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")
