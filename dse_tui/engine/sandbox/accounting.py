"""CPU and memory of code run under bubblewrap, measured by a trusted parent inside.

bwrap's monitor (our child) hands on the exit status without reaping the namespace's init,
so os.wait4 sees none of the code's CPU time. And the code must not be the namespace's
pid 1 (see bwrap.py). So the interpreter bwrap starts runs WRAPPER first: before any of
the payload is loaded it forks, the child runs the payload exactly as `python -c` would,
and the parent waits for it, kills whatever the payload left in the namespace, and writes
the child's rusage into a memfd DSE passed in, truncating anything else written there.
"""

from __future__ import annotations

import os

RECORD_BYTES = 128

# Runs as `python -I -S -c WRAPPER FD SOURCE`; stdlib-free (only the builtin os and sys).
WRAPPER = r"""
import os, sys
fd, source = int(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
pid = os.fork()
if pid == 0:
    os.close(fd)
    main = type(sys)("__main__")
    sys.modules["__main__"] = main
    code = 0
    try:
        exec(compile(source, "<string>", "exec"), main.__dict__)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code & 255)
_, status, usage = os.wait4(pid, 0)
try:
    os.kill(-1, 9)  # in the namespace: every process but this one and init, whatever it left
except OSError:
    pass
record = b"%d %d %d\n" % (int((usage.ru_utime + usage.ru_stime) * 1e6), usage.ru_maxrss, status)
os.ftruncate(fd, 0)
os.pwrite(fd, record, 0)
os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
"""


def read_record(fd: int) -> tuple[float, float] | None:
    """(cpu_ms, peak_memory_mb) the wrapper measured, or None if it never wrote (killed)."""
    try:
        raw = os.pread(fd, RECORD_BYTES, 0)
    except OSError:
        return None
    parts = raw.split(b"\n", 1)[0].split()
    if len(parts) != 3 or not all(p.lstrip(b"-").isdigit() for p in parts):
        return None
    cpu_us, maxrss_kb, _status = (int(p) for p in parts)
    return cpu_us / 1000.0, maxrss_kb / 1024.0
