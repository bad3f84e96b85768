"""A damaged store and a full disk end in one line that says what to do, never a traceback;
`dse doctor --check` saves what is readable; two first starts import the starters once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dse_tui.store import db, repair

from helpers import SORT_CODE, SORT_SPEC
from test_cli import dse, write

DAMAGED = "not a DSE store or damaged"


def checkpointed(home: Path) -> Path:
    """The store with its write-ahead log folded in, so the file alone holds everything."""
    path = home / "dse.db"
    conn = db.connect(path, migrations=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def truncate(home: Path, fraction: float) -> None:
    path = checkpointed(home)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction) // 4096 * 4096)


def overwrite_header(home: Path) -> None:
    path = checkpointed(home)
    with open(path, "r+b") as fh:
        fh.write(b"not sqlite " * 40)


def one_line_error(proc: subprocess.CompletedProcess, fragment: str, code: int = 1) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: error: ") and fragment in lines[0], proc.stderr


@pytest.mark.parametrize("damage", [lambda h: truncate(h, 0.5), overwrite_header], ids=["truncated", "header"])
def test_commands_on_a_damaged_store_say_so_in_one_line(starter_home, damage):
    damage(starter_home)
    for args in (("list",), ("find", "sort numbers"), ("show", "sort_list"), ("run", "sort_list", "--input", "{}")):
        proc = dse(starter_home, *args)
        one_line_error(proc, DAMAGED)
        assert str(starter_home / "dse.db") in proc.stderr and "dse doctor --check" in proc.stderr
    doctor = dse(starter_home, "doctor", "--json")
    assert doctor.returncode == 0 and "Traceback" not in doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["store"]["ok"] is False and DAMAGED in report["store"]["error"]
    assert report["sandbox"]["selected"]  # the rest of the report is still there


def test_doctor_check_saves_what_a_truncated_store_still_holds(starter_home):
    truncate(starter_home, 0.9)
    proc = dse(starter_home, "doctor", "--check", "--json")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is False and result["problems"]
    recovered = Path(result["recovered"])
    assert recovered.parent == starter_home and recovered.exists()
    assert result["copied"]["artifacts"] >= 20  # of 36: the rows on pages that survived
    assert repair.check(str(recovered)).ok


def test_doctor_check_replace_puts_the_recovered_store_in_place(starter_home):
    overwrite_header(starter_home)
    proc = dse(starter_home, "doctor", "--check", "--replace")
    assert proc.returncode == 1 and "the recovered store is now" in proc.stdout, proc.stdout + proc.stderr
    assert list(starter_home.glob("dse.db.damaged-*"))  # the damaged file is kept
    listed = dse(starter_home, "list", "--json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    names = {a["name"] for a in json.loads(listed.stdout)}
    assert {"sort_list", "slugify"} <= names
    found = json.loads(dse(starter_home, "find", "order a list of numbers", "--json").stdout)
    assert found[0]["name"] == "sort_list"  # vectors came back and were indexed again
    assert dse(starter_home, "doctor", "--check").returncode == 0


def test_doctor_check_on_a_sound_store_says_ok(starter_home):
    proc = dse(starter_home, "doctor", "--check")
    assert proc.returncode == 0 and "passed SQLite's integrity check" in proc.stdout


@pytest.fixture
def small_disk():
    """A 24 MB tmpfs of our own, unmounted afterwards."""
    mount = Path(tempfile.mkdtemp(prefix="dse-full-"))
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip() or made.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def fill(disk: Path) -> None:
    # unbuffered: a buffered tail would be flushed by close() and raise ENOSPC there
    with open(disk / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
        try:
            os.fsync(fh.fileno())
        except OSError:
            pass


def test_a_full_disk_is_one_line_and_nothing_is_half_written(small_disk, starter_home, tmp_path):
    home = small_disk / "home"
    shutil.copytree(starter_home, home)
    code, spec = write(tmp_path, "s.py", SORT_CODE), write(tmp_path, "s.yaml", SORT_SPEC)
    before = json.loads(dse(home, "list", "--json", "--limit", "1000").stdout)
    fill(small_disk)
    proc = dse(home, "add", code, "--spec", spec)
    one_line_error(proc, "no space left on the device holding")
    (small_disk / "filler").unlink()
    after = json.loads(dse(home, "list", "--json", "--limit", "1000").stdout)
    assert [a["id"] for a in after] == [a["id"] for a in before]  # the refused add left no trace
    assert repair.check(str(home / "dse.db")).ok
    assert dse(home, "add", code, "--spec", spec).returncode == 0  # and the store works once there is room


def test_two_first_starts_at_once_import_the_starter_library_once(tmp_path):
    home = tmp_path / "fresh"
    env = {**os.environ, "DSE_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-m", "dse_tui", "list", "--json", "--limit", "1000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    listed = json.loads(outs[0][0])
    names = [a["name"] for a in listed]
    assert len(names) == len(set(names)) == 36
    assert all(a["version"] == 1 for a in listed)
    assert json.loads(outs[1][0]) == listed
