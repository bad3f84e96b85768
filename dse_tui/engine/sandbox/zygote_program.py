"""The zygote: a sandboxed process that never runs untrusted code itself. It loads the
sandbox's program once, then forks a fresh child per run, which confines itself further
(its own session, work dir, limits, Landlock, seccomp) before running the program's
`main`. Stdlib only; compiled by DSE and run as `python -I -S -c SOURCE CONTROL_FD`.

Control messages (SOCK_SEQPACKET, one per datagram), DSE -> zygote:
  init: marshalled {"program": code, "clean": [dirs], "kill_all": bool}
  b"F" + marshalled {"filters": [bpf...], "guard": (bpf, offset) or None}  (after b"R")
  b"S" + marshalled run parameters, with the run's fds attached
  b"K": kill the current run
zygote -> DSE: b"R" + pid, b"P" + child pid, b"E" + marshalled (status, cpu_us, maxrss_kb).

Nothing the child does reaches the zygote: the child cannot signal it (seccomp), read its
memory (the zygote is not dumpable) or leave anything behind (its process group is
killed, every other process in the namespace too where there is one, and the shared
scratch dirs are emptied before the next run is forked).
"""

import ctypes
import gc
import marshal
import os
import resource
import select
import signal
import socket
import stat
import sys

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 1, 4, 22, 2
_SYS_LANDLOCK_RESTRICT_SELF = 446
_RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "core": resource.RLIMIT_CORE,
}


_WARM_UP = """
import collections
def f(a, b=1, *c, key=None, **d):
    "doc"
    total = [x * 2 for x in (a, b) if x] or {1: 2.0, "k": (None, True)}
    try:
        return f"{a!r:>4}", sorted(set(total)), a[1:-1:2] if isinstance(a, str) else -a // 3 % 2 ** 4
    except (TypeError, ValueError) as exc:
        raise RuntimeError(str(exc)) from None
    finally:
        pass
class K(collections.Counter):
    x: int = 0
    def __eq__(self, other):
        return all(v > 0 and not v < 0 for v in self.values()) and (lambda: (yield))
f(3)
"""


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option, arg):
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl %d failed" % option)


def _load_filter(bpf):
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _Fprog(len(bpf) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp failed")


def _empty(path):
    """Remove everything under `path` (not `path`), whatever modes the run left."""
    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        full = os.path.join(path, name)
        try:
            info = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            try:
                os.chmod(full, 0o700)
            except OSError:
                pass
            _empty(full)
            try:
                os.rmdir(full)
            except OSError:
                pass
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


class Zygote:
    def __init__(self, control):
        self.control = control
        init = marshal.loads(control.recv(1 << 22))
        self.program = {"__name__": "dse_sandboxed", "__builtins__": __builtins__}
        exec(marshal.loads(init["program"]), self.program)
        self.clean = init.get("clean", [])
        self.kill_all = init.get("kill_all", False)
        self.filters, self.guard = [], None
        _prctl(_PR_SET_DUMPABLE, 0)  # no run may open this process's memory
        control.send(b"R" + marshal.dumps(os.getpid()))
        message = control.recv(1 << 20)
        if message[:1] == b"F":
            setup = marshal.loads(message[1:])
            self.filters, self.guard = setup["filters"], setup["guard"]
        # The compiler's first use costs ~2 ms of set-up: paid here once, not in every child.
        exec(compile(_WARM_UP, "<warm-up>", "exec"), {"__builtins__": __builtins__, "__name__": "warm_up"})
        gc.freeze()  # the collector never walks (and so never copies) the pages children share

    def serve(self):
        spare = self.prefork()
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 16)
            except OSError:
                return
            if not message:
                return  # DSE is gone
            if message[:1] == b"S":
                self.run(spare, message[1:], fds)
                spare = self.prefork()  # after the tidy: it sees nothing of the run before it
            else:
                for fd in fds:
                    os.close(fd)

    def prefork(self):
        """A child confined as far as it can be before its run is known, waiting for it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                self.child(theirs)
            finally:
                os._exit(70)
        theirs.close()
        return pid, ours

    def run(self, spare, params, fds):
        pid, handoff = spare
        workdir = marshal.loads(params).get("make_workdir")
        if workdir:  # made here, after the last run's tidy emptied the dir it lives in
            try:
                os.mkdir(workdir, 0o700)
            except OSError:
                pass
        try:
            socket.send_fds(handoff, [params], fds)
        except OSError:
            pass  # it died: its end is reported as any other
        handoff.close()
        for fd in fds:
            os.close(fd)
        self.control.send(b"P" + marshal.dumps(pid))
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                ready, _, _ = select.select([pidfd, self.control], [], [])
                if pidfd in ready:
                    break
                message = self.control.recv(64)
                if not message:
                    os.kill(pid, signal.SIGKILL)
                    os._exit(0)  # DSE is gone: so are we
                if message[:1] == b"K":
                    os.kill(pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)
        cpu_us = int((usage.ru_utime + usage.ru_stime) * 1e6)
        self.control.send(b"E" + marshal.dumps((status, cpu_us, usage.ru_maxrss)))
        self.tidy()  # before the next request is even read, and before the next child is forked

    def tidy(self):
        """Nothing of a run outlives it: every other process in the namespace is killed
        (bwrap: the run's own children, however they left its group) and scratch emptied."""
        if self.kill_all:
            try:
                os.kill(-1, signal.SIGKILL)  # all but the namespace's init and ourselves
            except OSError:
                pass
            while True:
                try:
                    if os.waitpid(-1, 0)[0] <= 0:
                        break
                except ChildProcessError:
                    break
        for path in self.clean:
            _empty(path)

    def child(self, handoff):
        """Runs in the fork: confine, wait for the run, confine to it, become the program.
        Never returns."""
        parent = os.getppid()
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        os.dup2(handoff.fileno(), 5)
        handoff.detach()
        os.closerange(0, 5)
        os.closerange(6, 1 << 20)
        for _ in range(5):  # hold 0-4, so the run's fds arrive above them
            os.open("/dev/null", os.O_RDONLY)
        _prctl(_PR_SET_DUMPABLE, 0)
        for bpf in self.filters:
            _load_filter(bpf)
        if self.guard is not None:
            template, offset = self.guard
            pgid = (-os.getpid()) & 0xFFFFFFFF
            _load_filter(template[:offset] + pgid.to_bytes(4, sys.byteorder) + template[offset + 4 :])
        main = self.program["main"]
        del self.program, self.control
        gc.collect()
        handoff = socket.socket(fileno=5)
        try:
            message, fds, _, _ = socket.recv_fds(handoff, 1 << 20, 16)
        except OSError:
            os._exit(1)
        if not message:
            os._exit(0)
        params = marshal.loads(message)
        requests, answers, out, err = fds[:4]
        ruleset = fds[4] if len(fds) > 4 else None
        # the run's channel under the numbers every run gets (0 is /dev/null), everything else closed
        for source, target in ((out, 1), (err, 2), (requests, 3), (answers, 4)):
            os.dup2(source, target)
        handoff.detach()
        if ruleset is not None:
            os.dup2(ruleset, 5)
        else:
            os.close(5)
        os.closerange(6, 1 << 20)
        os.chdir(params["workdir"])
        os.environ.clear()
        os.environ.update(params["env"])
        for name, (soft, hard) in params["rlimits"].items():
            resource.setrlimit(_RLIMITS[name], (soft, hard))
        if ruleset is not None:
            if _libc.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_long(5), ctypes.c_long(0)) < 0:
                os._exit(71)
            os.close(5)
        sys.argv = ["-c", "3", "4", params["role"]]
        code = 0
        try:
            main(params["role"], 3, 4)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code = 1
        os._exit(code & 255)


Zygote(socket.socket(fileno=int(sys.argv[1]))).serve()
os._exit(0)
