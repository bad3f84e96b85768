"""The strong backend: bubblewrap namespaces (no network, own PIDs, a filesystem holding only
system dirs, the Python prefix and the work dir), 'nobody', limits set inside with prlimit."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from .accounting import WRAPPER
from .base import Sandbox
from .environment import ETC_FILES, NOBODY, SYSTEM_DIRS, interpreter, python_prefixes
from .limits import prlimit_argv
from .model import Limits
from .runner import Launch


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin")
    if path is None:
        raise OSError(f"{name} not found (Debian: apt install {'bubblewrap' if name == 'bwrap' else 'util-linux'})")
    return path


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


class BwrapSandbox(Sandbox):
    name = "bwrap"
    strength = "strong"

    def __init__(self) -> None:
        self._bwrap, self._prlimit = _tool("bwrap"), _tool("prlimit")
        # As root, bwrap's user namespace would map 'nobody' back to uid 0, for which the kernel
        # ignores RLIMIT_NPROC: run without one and switch to the real uid 65534 with setpriv.
        self._as_root = os.geteuid() == 0
        self._setpriv = _tool("setpriv") if self._as_root else None
        try:
            from .seccomp_filter import hardening_bpf
        except (ImportError, RuntimeError):  # pyseccomp absent, or no libseccomp
            self._seccomp = None
        else:
            self._seccomp = hardening_bpf(keep_process_group=False)
        # a zygote's children may not fork, leave their group or change their death signal
        self._child_filter = (
            hardening_bpf(keep_process_group=True, allow_new_processes=False) if self._seccomp else None
        )
        self._binds = self._filesystem()

    def describe(self) -> str:
        extra = ", seccomp (no sockets, ptrace, namespaces)" if self._seccomp else ""
        return (
            "bwrap (strong): bubblewrap namespaces - no network, own process list, read-only system "
            f"dirs and Python prefix, private /tmp and work dir, uid 65534, rlimits{extra}; "
            "your home and files are not visible"
        )

    @staticmethod
    def _filesystem() -> list[str]:
        args = []
        for path in SYSTEM_DIRS:
            if os.path.islink(path):  # merged /usr: recreate the link, don't bind its target twice
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in ETC_FILES:
            args += ["--ro-bind-try", path, path]
        for prefix in python_prefixes():
            # bwrap would copy the modes of the prefix's parents (/root is 0700): 'nobody' must
            # be able to traverse them, without anything else of them being visible.
            for parent in _ancestors(prefix):
                args += ["--perms", "0755", "--dir", parent]
            args += ["--ro-bind", prefix, prefix]
        return args + ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]

    def _launch(
        self, source: str, limits: Limits, workdir: str, args: Sequence[str] = (), *, zygote: bool = False
    ) -> Launch:
        argv = [
            self._bwrap,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            # bwrap's own init stays the namespace's pid 1, not the code (--as-pid-1): as root, the
            # code switches to uid 65534 below, and the monitor (uid 0, no capabilities left) may
            # then not signal it, so the death signal it should get when DSE dies never arrives.
            # The init keeps uid 0; its death takes the whole namespace along. CPU and memory
            # still add up: init reaps the code, the monitor reaps init, we reap the monitor.
            *self._binds,
            "--bind",
            workdir,
            workdir,
            "--chdir",
            workdir,
        ]
        inner = prlimit_argv(self._prlimit, limits)  # inside: NPROC on bwrap itself breaks it
        if self._setpriv is not None:  # we are root
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            inner += [self._setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs", "--"]
        else:
            argv += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
        info_read, info_write = os.pipe()  # bwrap reports its PID namespace's init here
        argv += ["--info-fd", str(info_write)]
        fds = [info_write]
        if self._seccomp:
            program = os.memfd_create("dse-seccomp", 0)  # bwrap reads the filter from this fd
            os.write(program, self._seccomp)
            os.lseek(program, 0, os.SEEK_SET)
            argv += ["--seccomp", str(program)]
            fds.append(program)
        if zygote:  # it measures its children itself
            code = [interpreter(), "-I", "-S", "-c", source, *args]
            return Launch([*argv, "--", *inner, *code], pass_fds=fds, owned_fds=fds, info_fd=info_read)
        account = os.memfd_create("dse-account", 0)  # the code's rusage, from accounting.WRAPPER
        code = [interpreter(), "-I", "-S", "-c", WRAPPER, str(account), source, *args]
        return Launch(
            [*argv, "--", *inner, *code],
            pass_fds=[*fds, account],
            owned_fds=fds,
            info_fd=info_read,
            exit_128_means_signal=True,
            account_fd=account,
        )

    zygote_makes_workdir = True

    def zygote_init(self, base: str) -> dict:
        # /tmp and /dev/shm are the namespace's own, shared by the zygote's runs: emptied after each
        return {"clean": ["/tmp", "/dev/shm", base], "kill_all": True}

    def zygote_filters(self, zygote_pid: int) -> dict:
        if self._child_filter is None:
            return {"filters": [], "guard": None}
        from .seccomp_filter import SignalGuard

        return {"filters": [self._child_filter], "guard": SignalGuard(zygote_pid).template()}
