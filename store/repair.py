"""Checking a store file and saving what is still readable from a damaged one.

`check` runs SQLite's integrity check. `recover` builds a fresh store beside the damaged
file and copies into it, table by table, every row that can still be read: rows are read
in rowid order in batches, and past an unreadable stretch the copy probes further on at
growing distances, so one damaged page costs the rows on it, not the rest of the table.
The binary search index is rebuilt from the float vectors; artifacts whose vectors were
lost are re-embedded by the engine when it next opens the store.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from . import db

# Tables in the order that keeps references whole (vectors and tags after their artifacts).
TABLES = (
    "meta",
    "artifacts",
    "artifact_tags",
    "artifact_vectors",
    "code_vectors",
    "lineage",
    "points",
    "point_hours",
    "recorded_inputs",
    "transcripts",
    "attempts",
    "spend",
    "jobs",
    "drift_state",
    "drift_events",
    "evolutions",
    "pressure_log",
    "feedback",
    "threshold_moves",
    "optimizer_runs",
)
BATCH = 500
MAX_PROBE_JUMP = 2**40


@dataclass
class CheckReport:
    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class RecoveryReport:
    source: str
    target: str
    copied: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # table -> what stopped it

    @property
    def total(self) -> int:
        return sum(self.copied.values())


def _raw(path: str) -> Any:
    """A connection that changes nothing in the file (no migrations, no journal switch)."""
    mod = db.driver()
    conn = mod.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    conn.enable_load_extension(True)
    db.sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def check(path: str, max_problems: int = 20) -> CheckReport:
    mod = db.driver()
    if not os.path.exists(path):
        return CheckReport(path, False, ["the file does not exist"])
    try:
        conn = _raw(path)
    except mod.DatabaseError as exc:
        return CheckReport(path, False, [" ".join(str(exc).split())])
    try:
        rows = conn.execute(f"PRAGMA integrity_check({int(max_problems)})").fetchall()
    except mod.DatabaseError as exc:
        return CheckReport(path, False, [" ".join(str(exc).split())])
    finally:
        conn.close()
    problems = [r[0] for r in rows if r[0] != "ok"]
    return CheckReport(path, not problems, problems)


def recovery_path(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}.recovered-{time.strftime('%Y%m%d-%H%M%S')}{ext or '.db'}"


def recover(path: str, target: str | None = None) -> RecoveryReport:
    """Copy what can be read from `path` into a new store at `target` (never overwritten)."""
    target = target or recovery_path(path)
    if os.path.exists(target):
        raise FileExistsError(target)
    report = RecoveryReport(path, target)
    mod = db.driver()
    new = db.Database(target)
    try:
        try:
            old = _raw(path)
            old.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except mod.DatabaseError as exc:
            report.unreadable["*"] = " ".join(str(exc).split())  # the schema is gone: SQL reads nothing
        else:
            try:
                for table in TABLES:
                    _copy_table(old, new, table, report, mod)
            finally:
                old.close()
        if report.unreadable:
            _salvage_pages(path, new, report)
        _rebuild_vector_index(new)
    finally:
        new.close()
    return report


def _columns(conn: Any, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def _copy_table(old: Any, new: db.Database, table: str, report: RecoveryReport, mod: Any) -> None:
    try:
        have = _columns(old, table)
    except mod.DatabaseError as exc:
        report.unreadable[table] = " ".join(str(exc).split())
        return
    with new.read() as conn:
        want = _columns(conn, table)
    columns = [c for c in want if c in have]
    if not columns:
        report.copied[table] = 0
        return
    names = ", ".join(columns)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    copied = 0
    rowid_table = True
    try:
        old.execute(f"SELECT rowid FROM {table} LIMIT 0")
    except mod.DatabaseError:
        rowid_table = False  # WITHOUT ROWID: one scan, as far as it gets
    if not rowid_table:
        rows = []
        try:
            for row in old.execute(f"SELECT {names} FROM {table}"):
                rows.append(row)
        except mod.DatabaseError as exc:
            report.unreadable[table] = " ".join(str(exc).split())
        copied = _insert(new, insert, rows)
        report.copied[table] = copied
        return
    last = -(2**63)
    while True:
        try:
            rows = old.execute(
                f"SELECT rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, BATCH)
            ).fetchall()
        except mod.DatabaseError as exc:
            report.unreadable.setdefault(table, " ".join(str(exc).split()))
            resumed = _probe_past(old, table, last, mod)
            if resumed is None:
                break
            last = resumed - 1
            continue
        if not rows:
            break
        copied += _insert(new, insert, [r[1:] for r in rows])
        last = rows[-1][0]
    report.copied[table] = copied


def _probe_past(old: Any, table: str, last: int, mod: Any) -> int | None:
    """The first rowid after `last` that can be read again, looking further each time."""
    jump = 1
    start = max(last, 0)
    while jump <= MAX_PROBE_JUMP:
        try:
            row = old.execute(
                f"SELECT rowid FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT 1", (start + jump,)
            ).fetchone()
        except mod.DatabaseError:
            jump *= 2
            continue
        return row[0] if row else None
    return None


def _insert(new: db.Database, sql: str, rows: list) -> int:
    """Rows that fit; one whose reference was lost (a vector without its artifact) is left out."""
    if not rows:
        return 0
    mod = db.driver()
    inserted = 0
    with new.write() as conn:
        for row in rows:
            try:
                inserted += conn.execute(sql, row).rowcount
            except mod.IntegrityError:
                continue
    return inserted


def _rebuild_vector_index(new: db.Database) -> None:
    from .vectors import VIEWS, VectorIndex

    for view in VIEWS:
        VectorIndex(new, view).rebuild_index()


def _salvage_pages(path: str, new: db.Database, report: RecoveryReport) -> None:
    """Where SQL could not read a table, take its rows from the pages themselves."""
    from .salvage import SHAPES, salvage

    with new.read() as conn:
        widths = {table: len(_columns(conn, table)) for table in TABLES}
    try:
        with open(path, "rb") as fh:
            found = salvage(fh.read(), widths)
    except (OSError, ValueError) as exc:
        report.unreadable.setdefault("pages", str(exc))
        return
    for table in TABLES:
        if table not in SHAPES or (table not in report.unreadable and "*" not in report.unreadable):
            continue
        with new.read() as conn:
            columns = _columns(conn, table)
        by_width: dict[int, list] = {}
        for row in found[table]:
            by_width.setdefault(len(row), []).append(row)
        for width, rows in by_width.items():  # older rows lack later columns: their defaults apply
            names = ", ".join(columns[:width])
            sql = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * width)})"
            report.copied[table] = report.copied.get(table, 0) + _insert(new, sql, rows)


def replace_with(recovered: str, damaged: str) -> str:
    """Put the recovered file in place of the damaged one, which is kept beside it."""
    kept = f"{damaged}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(damaged + suffix):
            shutil.move(damaged + suffix, kept + suffix)
    shutil.move(recovered, damaged)
    return kept
