"""Hostile code against every real sandbox on this machine. Each test shows the harm is
contained: pytest survives, host files stay unread and unharmed, nothing is left running."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from dse_tui.engine.sandbox import Limits, SandboxUnavailable, select_sandbox

SECRET_KEY = "PRIVATE-KEY-SENTINEL-9f2c"


@pytest.fixture(params=["bwrap", "native"])
def box(request):
    try:
        sandbox = select_sandbox(request.param)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    # These are cold runs. RLIMIT_NPROC counts every process of uid 65534 on the machine, warm
    # zygotes (and their waiting children) included, so they are ended first.
    sandbox.pool.close()
    return sandbox


@pytest.fixture
def host(monkeypatch):
    """A fake user area outside the sandbox: ~/.ssh key, the store, a writable drop dir.
    World-readable and world-writable on purpose, so only the sandbox can be what stops access
    (pytest's own tmp dirs are 0700, which alone would stop uid 65534)."""
    root = Path(tempfile.mkdtemp(prefix="dse-host-"))
    try:
        for d in (root, root / ".ssh", root / "drop"):
            d.mkdir(exist_ok=True)
            d.chmod(0o777)
        key = root / ".ssh" / "id_ed25519"
        key.write_text(SECRET_KEY)
        store = root / "store.sqlite"
        with sqlite3.connect(store) as db:
            db.execute("CREATE TABLE artifact (code TEXT)")
            db.execute("INSERT INTO artifact VALUES (?)", (SECRET_KEY,))
        db.close()
        for f in (key, store):
            f.chmod(0o666)
        before = {f: (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in (key, store)}
        yield root
        after = {f: (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in (key, store)}
        assert after == before, "host files were modified"
        assert list((root / "drop").iterdir()) == [], "the sandbox wrote outside its work dir"
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=True)


def marked(code: str) -> tuple[str, str]:
    """Prefix code with a unique comment: it appears in the cmdline of every process of the run."""
    marker = f"dse-marker-{uuid.uuid4().hex}"
    return marker, f"# {marker}\n{code}"


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def attempts(code_lines: dict[str, str]) -> str:
    """Code that runs each attempt and prints 'NAME ok' or 'NAME blocked'."""
    out = ["import os, signal, socket, sys"]
    for name, stmt in code_lines.items():
        out += [
            "try:",
            f"    {stmt}",
            f"    print({name!r}, 'ok')",
            "except BaseException as exc:",
            f"    print({name!r}, 'blocked', type(exc).__name__)",
        ]
    return "\n".join(out)


def verdicts(result) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in result.stdout.decode().splitlines()}


def test_infinite_loop_times_out(box, host):
    marker, code = marked("while True:\n    pass")
    result = box.run(code, limits=Limits(timeout_s=1.0))
    assert result.ended == "timeout" and result.exit_code is None
    assert result.wall_ms < 2000
    assert processes_with(marker) == []


def test_fork_bomb_is_contained(box, host):
    marker, code = marked(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    )
    result = box.run(code, limits=Limits(timeout_s=2.0))
    assert result.ended == "timeout"
    assert processes_with(marker) == []
    assert subprocess.run(["true"]).returncode == 0  # the machine can still fork


def test_fork_count_is_limited(box, host):
    code = (
        "import os, time\nn = 0\n"
        "for _ in range(64):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n"
        "    n += 1\n"
        "print(n)"
    )
    result = box.run(code, limits=Limits(max_procs=8))
    assert result.exit_code == 0, result.stderr
    assert int(result.stdout) < 8


def test_huge_allocation_fails(box, host):
    result = box.run("x = bytearray(4 * 1024 ** 3)\nprint('allocated')")
    assert b"allocated" not in result.stdout
    assert b"MemoryError" in result.stderr or result.signal is not None


def test_writes_outside_the_work_dir_fail(box, host):
    real_home = os.path.expanduser("~")
    probe = f"dse-sandbox-probe-{uuid.uuid4().hex}"
    result = box.run(attempts({
        "real_home": f"open({os.path.join(real_home, probe)!r}, 'w').write('x')",
        "drop_dir": f"open({str(host / 'drop' / probe)!r}, 'w').write('x')",
        "store": f"open({str(host / 'store.sqlite')!r}, 'a').write('x')",
        "tmp": f"open('/tmp/{probe}', 'w').write('x')",
        "usr": f"open('/usr/{probe}', 'w').write('x')",
    }))
    assert verdicts(result) == dict.fromkeys(["real_home", "drop_dir", "store", "tmp", "usr"], "blocked") | (
        {"tmp": "ok"} if box.name == "bwrap" else {}  # bwrap's /tmp is a private tmpfs
    ), result.stderr
    assert not os.path.exists(os.path.join(real_home, probe))
    assert not os.path.exists(f"/tmp/{probe}")


def test_secrets_cannot_be_read(box, host):
    result = box.run(attempts({
        "ssh_key": f"print(open({str(host / '.ssh' / 'id_ed25519')!r}).read())",
        "store": f"print(open({str(host / 'store.sqlite')!r}, 'rb').read())",
        "store_sqlite": "import sqlite3; print(sqlite3.connect("
                        f"{str(host / 'store.sqlite')!r}).execute('SELECT * FROM artifact').fetchall())",
        "list_host": f"print(os.listdir({str(host)!r}))",
        "root_home": "print(os.listdir(os.path.expanduser('~root')))",
        "shadow": "print(open('/etc/shadow').read())",
        # DSE's own environment (API keys live there); under bwrap its pid is not even visible
        "dse_environ": f"print(open('/proc/{os.getpid()}/environ').read())",
    }))
    assert set(verdicts(result).values()) == {"blocked"}, result.stdout
    assert SECRET_KEY.encode() not in result.stdout + result.stderr


def test_no_network(box, host):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    received = []

    def accept():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            received.append(conn.recv(100) or b"<connected>")
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=accept)
    thread.start()
    try:
        result = box.run(attempts({
            "tcp": f"socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'LEAK')",
            "udp": f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'LEAK', ('127.0.0.1', {port}))",
            "ipv6": "socket.socket(socket.AF_INET6)",
            "unix": "socket.socket(socket.AF_UNIX).connect('/run/dbus/system_bus_socket')",
        }))
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert set(verdicts(result).values()) == {"blocked"}, result.stdout
    assert received == []


def test_api_key_in_parent_environment_is_not_visible(box, host, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sekrit")
    result = box.run("import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ').read())")
    assert result.exit_code == 0
    assert b"sekrit" not in result.stdout and b"ANTHROPIC" not in result.stdout


def test_cannot_signal_the_parent_or_others(box, host):
    me = os.getpid()
    result = box.run(attempts({
        "kill_ppid": "os.kill(os.getppid(), signal.SIGKILL)",
        "kill_pytest": f"os.kill({me}, signal.SIGTERM)",
        "killpg_pytest": f"os.killpg({os.getpgid(0)}, signal.SIGTERM)",
        "kill_all": "os.kill(-1, signal.SIGKILL)",
    }))
    seen = verdicts(result)
    assert seen["kill_pytest"] == seen["killpg_pytest"] == "blocked", result.stdout
    if box.name == "native":  # with bwrap the parent is the namespace's own init
        assert seen["kill_ppid"] == seen["kill_all"] == "blocked", result.stdout
    assert os.getpid() == me  # and we are still here to check


def test_output_flood_is_cut(box, host):
    marker, code = marked("import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 1_000_000)")
    started = time.monotonic()
    result = box.run(code, limits=Limits(output_bytes=1_000_000, timeout_s=10))
    assert result.ended == "output_limit"
    assert len(result.stdout) + len(result.stderr) <= 1_000_000
    assert time.monotonic() - started < 3
    assert processes_with(marker) == []


def test_hundred_megabytes_of_output(box, host):
    result = box.run("print('y' * 100_000_000)")
    assert result.ended == "output_limit"
    assert len(result.stdout) == Limits().output_bytes
    assert result.wall_ms < 3000


def forks_allowed(box) -> None:
    if box.name == "native":
        pytest.skip("the weak backend refuses new processes (test_the_weak_backend_refuses_new_processes)")


def test_the_weak_backend_refuses_new_processes(box, host):
    if box.name != "native":
        pytest.skip("bwrap allows processes: its PID namespace dies as a whole")
    result = box.run(attempts({
        "fork": "os.fork()",
        "subprocess": "import subprocess; subprocess.run(['/bin/true'])",
        "posix_spawn": "os.posix_spawn('/bin/true', ['true'], {})",
        "clear_death_signal": "import ctypes; assert ctypes.CDLL(None).prctl(1, 0, 0, 0, 0) == 0",
        "thread": "import threading; t = threading.Thread(target=len, args=((),)); t.start(); t.join()",
    }))
    found = verdicts(result)
    assert found == {"fork": "blocked", "subprocess": "blocked", "posix_spawn": "blocked",
                     "clear_death_signal": "blocked", "thread": "ok"}, result.stdout


def test_background_children_do_not_survive_the_run(box, host):
    forks_allowed(box)
    marker, code = marked(
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    try:\n        os.setsid()\n    except OSError:\n        pass\n"
        "    if os.fork() == 0:\n        time.sleep(30)\n    os._exit(0)\n"
        "time.sleep(0.3)\nprint('parent done')"
    )
    result = box.run(code)
    assert result.stdout == b"parent done\n" and result.ended == "exited"
    assert result.wall_ms < 3000
    assert processes_with(marker) == []


def test_children_of_a_timed_out_run_are_gone(box, host):
    forks_allowed(box)
    marker, code = marked(
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        break\ntime.sleep(30)"
    )
    result = box.run(code, limits=Limits(timeout_s=1.0))
    assert result.ended == "timeout"
    assert processes_with(marker) == []


def test_cannot_leave_the_process_group(box, host):
    result = box.run(attempts({"setsid": "os.setsid()", "setpgid": "os.setpgid(0, 0)"}))
    if box.name == "native":  # bwrap needs no such rule: its PID namespace dies as a whole
        assert set(verdicts(result).values()) == {"blocked"}, result.stdout
