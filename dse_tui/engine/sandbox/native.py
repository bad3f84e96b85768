"""The fallback without namespaces: rlimits, uid 'nobody', Landlock and seccomp, all prepared
in the parent and switched on in preexec_fn (between fork and exec)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from . import landlock
from .base import Sandbox
from .environment import ETC_FILES, SYSTEM_DIRS, interpreter, python_argv, python_prefixes, reachable_by_others
from .limits import apply_rlimits
from .model import Limits
from .privileges import drop_to_nobody
from .runner import Launch

_READ_WRITE_DEVICES = ("/dev/null",)
_READ_ONLY_DEVICES = ("/dev/urandom", "/dev/random", "/dev/zero")


class NativeSandbox(Sandbox):
    name = "native"
    strength = "weak"

    def __init__(self) -> None:
        from . import seccomp_filter  # needs libseccomp; imported once, here in the parent

        self._seccomp = seccomp_filter
        self._abi = landlock.abi_version()
        if self._abi < 1:
            raise OSError("the kernel has no Landlock (needs Linux >= 5.13 with Landlock enabled)")
        self._as_root = os.geteuid() == 0
        # pyenv under /root: 'nobody' cannot reach the interpreter without CAP_DAC_READ_SEARCH.
        self._keep_read_search = self._as_root and not all(
            reachable_by_others(p) for p in (interpreter(), *python_prefixes())
        )
        self._hardening = seccomp_filter.hardening_bpf(keep_process_group=True, allow_new_processes=False)
        self._signal_guard = seccomp_filter.SignalGuard(os.getpid())
        # a zygote forks and puts each child in a session of its own; the children load _hardening
        self._zygote_hardening = seccomp_filter.hardening_bpf(keep_process_group=False, allow_new_processes=True)

    def zygote_filters(self, zygote_pid: int) -> dict:
        return {"filters": [self._hardening], "guard": self._seccomp.SignalGuard(zygote_pid).template()}

    def zygote_ruleset(self, run_dir: str) -> int | None:
        return self._ruleset(run_dir)

    def _ruleset(self, workdir: str) -> int:
        return landlock.create_ruleset(
            self._abi,
            read_only=(*SYSTEM_DIRS, *python_prefixes(), *ETC_FILES, *_READ_ONLY_DEVICES, "/proc"),
            read_write=(workdir,),
            read_write_files=_READ_WRITE_DEVICES,
        )

    def describe(self) -> str:
        user = "uid 65534" if self._as_root else "your uid"
        scoped = (
            "signals and abstract sockets confined to the sandbox"
            if self._abi >= 6
            else "other processes of the same uid can still be signalled"
        )
        return (
            f"native (weak): Landlock ABI {self._abi} (reads limited to system dirs and the Python "
            f"prefix, writes to a private work dir, no TCP), seccomp (no sockets, ptrace, namespaces, "
            f"setsid, new processes or signals to the parent), rlimits, {user}, killed if DSE dies; "
            f"{scoped}; shares the host's "
            f"kernel namespaces (process list and network stack visible)"
        )

    def _launch(
        self, source: str, limits: Limits, workdir: str, args: Sequence[str] = (), *, zygote: bool = False
    ) -> Launch:
        ruleset = self._ruleset(workdir)
        seccomp, guard = self._seccomp, self._signal_guard
        as_root, keep_read_search = self._as_root, self._keep_read_search
        hardening = self._zygote_hardening if zygote else self._hardening
        parent = os.getpid()

        def confine() -> None:  # runs in the child: keep it to syscalls, no imports
            apply_rlimits(limits)
            if as_root:
                drop_to_nobody(keep_read_search=keep_read_search)
            seccomp.die_with_parent(parent)  # after the uid change, which clears it
            seccomp.set_no_new_privs()
            landlock.restrict_self(ruleset)
            seccomp.load(guard.bpf_for(os.getpid()))  # new session: pgid == pid
            seccomp.load(hardening)

        return Launch(python_argv(source, args), preexec_fn=confine, owned_fds=(ruleset,))


@functools.cache
def probe() -> NativeSandbox:
    return NativeSandbox()
