"""The TUI as a user meets it, measured from outside: a real terminal (tmux), what it shows.

    .venv/bin/python bench/tui.py                    # fresh home: first paint, library usable, idle CPU
    .venv/bin/python bench/tui.py --big-home DIR     # also the TUI's RSS on a store of 100k artifacts
                                                     # (bench/retrieval.py --scale 100000 builds one)

Every time is read off the terminal by polling `tmux capture-pane` (what the app says about
itself is not used): first paint is the status line on screen; the library is usable when
its first page is listed and a search typed into it has answered. Idle CPU and RSS are
read with psutil from the TUI process, its workers (sandbox, model) reported apart.
Targets on these machines: first paint <= 0.8 s, usable <= 2 s, idle <= 1% of a core,
TUI RSS <= 200 MB at 100k artifacts. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DSE = str(ROOT / ".venv" / "bin" / "dse") if (ROOT / ".venv" / "bin" / "dse").exists() else shutil.which("dse")
SESSION = "dse-bench-tui"


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen() -> str:
    return tmux("capture-pane", "-t", SESSION, "-p")


def wait_for(predicate, timeout: float, poll: float = 0.01) -> float | None:
    """Seconds until predicate(screen text) holds, polling the terminal; None on timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate(screen()):
            return time.perf_counter() - start
        time.sleep(poll)
    return None


def start(home: Path, width: int = 80, height: int = 24) -> tuple[float, psutil.Process]:
    tmux("kill-session", "-t", SESSION)
    env = f"env TERM=linux DSE_HOME={home} {DSE}"
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height), env)
    pane = psutil.Process(int(tmux("display", "-p", "-t", SESSION, "#{pane_pid}").strip()))
    return started, tui_process(pane)


def tui_process(pane: psutil.Process, timeout: float = 10.0) -> psutil.Process:
    """The TUI's own process: `dse` runs the app in a child of its terminal guard (both are
    `python .../dse`), and tmux may start them through a shell."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        found = []
        for p in [pane, *pane.children(recursive=True)]:
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if "python" in (cmd[0] if cmd else "") and any(part.endswith("/dse") or part == "dse" for part in cmd[1:2]):
                found.append(p)
        children = [p for p in found if p.ppid() in {q.pid for q in found}]
        if children:
            return children[0]
        time.sleep(0.01)
    raise SystemExit("the dse TUI process did not start under tmux")


def jobs_settled(home: Path) -> bool:
    """No background job (verification, re-indexing) queued or running, as `dse jobs` reports."""
    out = subprocess.run([DSE, "jobs", "--json"], env={**os.environ, "DSE_HOME": str(home)},
                         capture_output=True, text=True, check=False).stdout
    try:
        return all(job["state"] not in ("queued", "running") for job in json.loads(out or "[]"))
    except (ValueError, KeyError, TypeError):
        return False


def wait_jobs(home: Path, timeout: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if jobs_settled(home):
            return round(time.perf_counter() - start, 1)
        time.sleep(1.0)
    return None


def since(started: float, predicate, timeout: float) -> float | None:
    waited = wait_for(predicate, timeout)
    return None if waited is None else round(time.perf_counter() - started, 3)


def usable(started: float, query: str, timeout: float) -> dict:
    first_paint = since(started, lambda s: "DSE" in s and "Library" in s, timeout)
    listed = since(started, lambda s: "rows 1" in s, timeout)  # the pager: "rows 1–N of M"
    tmux("send-keys", "-t", SESSION, "/")
    tmux("send-keys", "-t", SESSION, "-l", query)
    tmux("send-keys", "-t", SESSION, "Enter")
    answered = since(started, lambda s: "close by meaning" in s or "nothing in the library fits" in s, timeout)
    return {"first_paint_s": first_paint, "first_page_listed_s": listed, "search_answered_s": answered}


def tree_rss(proc: psutil.Process) -> tuple[float, float]:
    own = proc.memory_info().rss / 1e6
    workers = sum(c.memory_info().rss for c in proc.children(recursive=True)) / 1e6
    return round(own, 1), round(workers, 1)


def idle_cpu(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """Share of one core used by the TUI process, and by its workers, over `seconds`."""
    def cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    children = proc.children(recursive=True)
    own0, kids0 = cpu(proc), sum(cpu(c) for c in children)
    time.sleep(seconds)
    own1 = cpu(proc)
    kids1 = sum(cpu(c) for c in children if c.is_running())
    return round(100 * (own1 - own0) / seconds, 2), round(100 * max(kids1 - kids0, 0.0) / seconds, 2)


def cli_list(home: Path) -> float:
    t = time.perf_counter()
    subprocess.run([DSE, "list"], env={**os.environ, "DSE_HOME": str(home)}, capture_output=True, check=True)
    return round(time.perf_counter() - t, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured")
    ap.add_argument("--big-home", type=Path, help="a DSE home with many artifacts, for the RSS figure")
    ap.add_argument("--query", default="order a list of numbers")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    if not shutil.which("tmux") or not DSE:
        print("needs tmux and an installed dse (.venv/bin/dse)", file=sys.stderr)
        return 2

    fresh = Path(tempfile.mkdtemp(prefix="dse-bench-tui-"))
    emit(metric="cli_first_command", command="dse list", fresh_home=True, seconds=cli_list(fresh))
    shutil.rmtree(fresh)

    fresh = Path(tempfile.mkdtemp(prefix="dse-bench-tui-"))
    started, proc = start(fresh)
    emit(metric="fresh_home", **usable(started, args.query, args.timeout))
    # background verification of the starter library is work, not idleness: wait it out
    settled = wait_jobs(fresh, args.timeout * 5)
    time.sleep(2.0)  # the last job's result reaching the screen
    own, workers = idle_cpu(proc, args.idle)
    emit(metric="idle_cpu", seconds=args.idle, tui_percent_of_a_core=own, workers_percent_of_a_core=workers,
         background_jobs_settled_after_s=settled)
    rss, workers_rss = tree_rss(proc)
    emit(metric="rss", n_artifacts="starter", tui_mb=rss, workers_mb=workers_rss)
    tmux("kill-session", "-t", SESSION)

    if args.big_home:
        started, proc = start(args.big_home)
        times = usable(started, args.query, args.timeout * 3)
        wait_jobs(args.big_home, args.timeout * 5)
        rss, workers_rss = tree_rss(proc)
        count = json.loads(subprocess.run([DSE, "doctor", "--json"], env={**os.environ, "DSE_HOME": str(args.big_home)},
                                          capture_output=True, text=True, check=True).stdout)["store"]["count"]
        emit(metric="big_home", n_artifacts=count, **times, tui_rss_mb=rss, workers_rss_mb=workers_rss)
        tmux("kill-session", "-t", SESSION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
