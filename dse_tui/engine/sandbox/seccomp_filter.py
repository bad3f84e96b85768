"""Seccomp filters compiled in the parent: importing libseccomp in each child costs ~28 ms,
while loading ready-made BPF from preexec_fn is one prctl."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

import pyseccomp as sc

_EPERM = sc.ERRNO(errno.EPERM)

# Never useful to a stdlib-only program, each a known way out or a large kernel attack surface.
_DENIED = (
    # other processes' memory and signals that bypass the pid checks below
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_send_signal",
    "pidfd_getfd",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    # every socket family: no network, no netlink/packet, no connecting to host unix sockets
    # (socketpair stays allowed, asyncio and multiprocessing use it)
    "socket",
    # namespaces, mounts, file handles, kernel facilities
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_by_handle_at",
    "name_to_handle_at",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
)
# Leaving the process group would escape the kill at the end of a run.
_GROUP_ESCAPES = ("setsid", "setpgid")
_CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_CLONE_THREAD = 0x00010000
_PR_SET_PDEATHSIG = 1


def hardening_bpf(*, keep_process_group: bool, allow_new_processes: bool = True) -> bytes:
    """Default-allow filter denying _DENIED (EPERM), clone into new namespaces, and clone3
    (ENOSYS: its flags live in memory seccomp cannot read, libc then falls back to clone).

    allow_new_processes=False also denies fork, vfork and clone without CLONE_THREAD, and
    changing the parent-death signal: without a PID namespace, a child of the sandboxed
    process would outlive DSE if DSE were killed outright (the death signal is not
    inherited). Threads stay allowed."""
    f = sc.SyscallFilter(sc.ALLOW)
    names = _DENIED + (_GROUP_ESCAPES if keep_process_group else ())
    for name in names:
        f.add_rule(_EPERM, name)
    for flag in _CLONE_NAMESPACE_FLAGS:
        f.add_rule(_EPERM, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    if not allow_new_processes:
        f.add_rule(_EPERM, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
        for name in ("fork", "vfork"):  # absent on some architectures (aarch64): clone covers them
            try:
                f.add_rule(_EPERM, name)
            except (ValueError, RuntimeError, OSError):
                pass
        f.add_rule(_EPERM, "prctl", sc.Arg(0, sc.EQ, _PR_SET_PDEATHSIG))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    read, write = os.pipe()
    try:
        with os.fdopen(write, "wb") as out:
            f.export_bpf(out)
        return _read_all(read)
    finally:
        os.close(read)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- the signal guard -----------------------------------------------------------------
# libseccomp allows one comparison per argument per rule, too few for "negative pid other
# than our own group", so this small filter is assembled by hand. The kernel runs every
# loaded filter and the most restrictive answer wins.

_LD_ABS, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_ARCH_OFFSET, _NR_OFFSET = 4, 0
_ARG0_LOW = 16 if sys.byteorder == "little" else 20  # low 32 bits: pid_t is an int


def _assemble(program: list[tuple | str]) -> tuple[bytes, dict[str, int]]:
    """Instructions are (op, k) or (op, k, true_label, false_label); a label is a str
    element of the list. Returns the BPF and each label's instruction index."""
    labels: dict[str, int] = {}
    code: list[tuple] = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(code)
        else:
            code.append(item)
    out = bytearray()
    for index, (op, k, *jumps) in enumerate(code):
        jt, jf = (labels[j] - index - 1 if isinstance(j, str) else 0 for j in (jumps or (0, 0)))
        out += struct.pack("=HBBI", op, jt, jf, k & 0xFFFFFFFF)
    return bytes(out), labels


class SignalGuard:
    """Denies (EPERM) kill/tkill/tgkill aimed at the parent, and kill of any process group
    but the sandbox's own (pid -1 included). The own group is only known in the child,
    so `bpf_for(pgid)` patches one constant into the prebuilt program."""

    def __init__(self, parent_pid: int) -> None:
        nr = {name: sc.resolve_syscall(sc.Arch.NATIVE, name) for name in ("kill", "tkill", "tgkill")}
        program, labels = _assemble(
            [
                (_LD_ABS, _ARCH_OFFSET),
                (_JEQ, sc.system_arch(), 0, "allow"),  # foreign arch: the hardening filter kills
                (_LD_ABS, _NR_OFFSET),
                (_JEQ, nr["kill"], "kill", 0),
                (_JEQ, nr["tkill"], "thread", 0),
                (_JEQ, nr["tgkill"], "thread", "allow"),
                "kill",
                (_LD_ABS, _ARG0_LOW),
                (_JEQ, parent_pid, "deny", 0),
                (_JSET, 0x80000000, 0, "allow"),
                "own_group",
                (_JEQ, 0, "allow", "deny"),  # k patched to -pgid in the child
                "thread",
                (_LD_ABS, _ARG0_LOW),
                (_JEQ, parent_pid, "deny", "allow"),
                "deny",
                (_RET, _EPERM),
                "allow",
                (_RET, sc.ALLOW),
            ]
        )
        self._program = program
        self._pgid_offset = labels["own_group"] * 8 + 4

    def template(self) -> tuple[bytes, int]:
        """The program and the byte offset of the constant `bpf_for` patches (for a zygote,
        which patches it in each child without this module)."""
        return self._program, self._pgid_offset

    def bpf_for(self, pgid: int) -> bytes:
        program = bytearray(self._program)
        struct.pack_into("=I", program, self._pgid_offset, -pgid & 0xFFFFFFFF)
        return bytes(program)


# --- loading, child side ----------------------------------------------------------------

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def set_no_new_privs() -> None:
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the thread that forked it ends; set after any uid change,
    which clears it. Exits at once if the parent is already gone (the race before prctl)."""
    if _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_PDEATHSIG failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def load(bpf: bytes) -> None:
    """Install a compiled filter on the calling process (no_new_privs must be set)."""
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "loading the seccomp filter failed")
