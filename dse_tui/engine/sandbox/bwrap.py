"""The strong backend: bubblewrap namespaces (no network, own PIDs, a filesystem holding only
system dirs, the Python prefix and the work dir), 'nobody', limits set inside with prlimit."""

from __future__ import annotations

import os
import shutil

from .base import Sandbox
from .environment import ETC_FILES, NOBODY, SYSTEM_DIRS, python_argv, python_prefixes
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

    def _launch(self, source: str, limits: Limits, workdir: str) -> Launch:
        argv = [
            self._bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            # The code itself is the namespace's pid 1: bwrap's monitor (our child) then reaps
            # it, so os.wait4 accounts its CPU and memory (a reaper would hide them), and its
            # exit ends everything else inside. As pid 1 it ignores signals it has no handler
            # for, so the CPU limit ends it with SIGKILL rather than SIGXCPU.
            "--as-pid-1",
            *self._binds, "--bind", workdir, workdir, "--chdir", workdir,
        ]
        inner = prlimit_argv(self._prlimit, limits)  # inside: NPROC on bwrap itself breaks it
        if self._as_root:
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            inner += [self._setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                      "--no-new-privs", "--"]
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
        return Launch([*argv, "--", *inner, *python_argv(source)], pass_fds=fds, owned_fds=fds,
                      info_fd=info_read, exit_128_means_signal=True)
