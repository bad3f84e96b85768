"""The metrics repository: one point per execution, windows over them answered by SQL,
hourly roll-ups that keep histograms, and a reservoir of recorded inputs per artifact.

Points are keyed by the artifact's integer key and a numeric time (unix seconds) and
indexed by (artifact, time). The newest `keep_raw` points of every artifact stay raw
whatever their age (the living system compares the last 100 with the 900 before); older
ones roll up into per-hour rows holding counts, sums and log-spaced histograms, so means
are exact and percentiles are still answered (within one bucket, about 12%).
"""

from __future__ import annotations

import builtins
import json
import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import db
from .records import SOURCES, MetricPoint

FIELDS = ("function_ms", "run_ms")  # the time fields a window can be asked about
KEEP_RAW = 1000
RESERVOIR_CAP = 50
MAX_INPUT_BYTES = 65_536  # a recorded input larger than this is not kept

# Histogram buckets: log-spaced from 1 µs to 1000 s, 96 of them (each ~24% wide).
_LOW_MS, _HIGH_MS, BUCKETS = 0.001, 1_000_000.0, 96
_RATIO = (_HIGH_MS / _LOW_MS) ** (1 / BUCKETS)


def bucket(ms: float) -> int:
    if not ms > _LOW_MS:
        return 0
    return min(BUCKETS - 1, int(math.log(ms / _LOW_MS) / math.log(_RATIO)))


def bucket_value(index: int) -> float:
    """The geometric middle of a bucket: what a percentile read from it reports."""
    return _LOW_MS * _RATIO ** (index + 0.5)


def empty_hist() -> array:
    return array("I", [0] * BUCKETS)


def hist_from_blob(blob: bytes) -> array:
    hist = array("I")
    hist.frombytes(blob)
    return hist if len(hist) == BUCKETS else empty_hist()


def hist_percentile(hist: Sequence[int], q: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for index, n in enumerate(hist):
        seen += n
        if seen > rank:
            return bucket_value(index)
    return bucket_value(BUCKETS - 1)  # pragma: no cover - the loop always returns


def unix(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass
class Window:
    """What one stretch of an artifact's points says about one time field."""

    count: int  # points in the window
    failures: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    timed: int  # points that had the field
    exact: bool = True  # False when percentiles come from roll-up histograms

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "timed": self.timed,
            "exact": self.exact,
        }


def _check_field(field: str) -> str:
    if field not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}")
    return field


def _source_clause(sources: Sequence[str] | None) -> tuple[str, list[str]]:
    if not sources:
        return "", []
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; known: {', '.join(SOURCES)}")
    return f" AND source IN ({', '.join('?' * len(sources))})", list(sources)


class MetricsRepository:
    def __init__(self, database: db.Database, *, keep_raw: int = KEEP_RAW, reservoir: int = RESERVOIR_CAP) -> None:
        self.db = database
        self.keep_raw = keep_raw
        self.reservoir = reservoir

    @staticmethod
    def _seq(conn: Any, artifact_id: str) -> int:
        row = conn.execute("SELECT seq FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
        if row is None:
            raise KeyError(artifact_id)
        return row[0]

    # -- writing ----------------------------------------------------------------------

    def record(self, points: Sequence[MetricPoint]) -> None:
        """Append points in one transaction."""
        if not points:
            return
        with self.db.write() as conn:
            seqs: dict[str, int] = {}
            rows = []
            for p in points:
                if p.source not in SOURCES:
                    raise ValueError(f"unknown metric source {p.source!r}; known: {', '.join(SOURCES)}")
                if p.artifact_id not in seqs:
                    seqs[p.artifact_id] = self._seq(conn, p.artifact_id)
                rows.append(
                    (
                        seqs[p.artifact_id],
                        unix(p.at),
                        p.source,
                        int(bool(p.success)),
                        p.function_ms,
                        p.run_ms,
                        p.cpu_ms,
                        p.peak_mb,
                        p.error,
                        p.cost_usd,
                        None if p.cache_hit is None else int(p.cache_hit),
                        p.tier,
                        p.quality,
                    )
                )
            conn.executemany(
                "INSERT INTO points(artifact, at, source, success, function_ms, run_ms, cpu_ms, peak_mb, "
                "error, cost_usd, cache_hit, tier, quality) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def record_inputs(
        self, artifact_id: str, inputs: dict[str, Any], at: datetime, rng: random.Random | None = None
    ) -> bool:
        """Keep `inputs` in the artifact's capped reservoir (Algorithm R: every call so far had
        the same chance to be kept). Plain data only; returns whether it was kept."""
        text = json.dumps(inputs, sort_keys=True)
        if len(text.encode()) > MAX_INPUT_BYTES:
            return False
        draw = (rng or random).randrange
        with self.db.write() as conn:
            row = conn.execute("SELECT seq, inputs_seen FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if row is None:
                raise KeyError(artifact_id)
            seq, seen = row[0], row[1] + 1
            conn.execute("UPDATE artifacts SET inputs_seen = ? WHERE seq = ?", (seen, seq))
            slot = seen - 1 if seen <= self.reservoir else draw(seen)
            if slot >= self.reservoir:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO recorded_inputs(artifact, slot, at, inputs) VALUES (?, ?, ?, ?)",
                (seq, slot, unix(at), text),
            )
            return True

    # -- reading points -----------------------------------------------------------------

    def latest(self, artifact_id: str, limit: int = 100) -> builtins.list[MetricPoint]:
        """The latest raw points, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT p.at, p.source, p.success, p.function_ms, p.run_ms, p.cpu_ms, p.peak_mb, p.error, "
                "p.cost_usd, p.cache_hit, p.tier, p.quality "
                "FROM points p WHERE p.artifact = (SELECT seq FROM artifacts WHERE id = ?) "
                "ORDER BY p.at DESC, p.id DESC LIMIT ?",
                (artifact_id, int(limit)),
            ).fetchall()
        return [
            MetricPoint(
                artifact_id,
                datetime.fromtimestamp(r[0], timezone.utc),
                r[1],
                bool(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                None if r[9] is None else bool(r[9]),
                r[10],
                r[11],
            )
            for r in reversed(rows)
        ]

    def recorded_inputs(self, artifact_id: str) -> builtins.list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT inputs FROM recorded_inputs WHERE artifact = (SELECT seq FROM artifacts "
                "WHERE id = ?) ORDER BY slot",
                (artifact_id,),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self, artifact_id: str | None = None) -> int:
        with self.db.read() as conn:
            if artifact_id is None:
                return conn.execute("SELECT count(*) FROM points").fetchone()[0]
            return conn.execute(
                "SELECT count(*) FROM points WHERE artifact = (SELECT seq FROM artifacts WHERE id = ?)", (artifact_id,)
            ).fetchone()[0]

    def usage_and_cost(self, artifact_id: str, since: datetime | None = None) -> tuple[int, float | None]:
        """(successful executions, their mean recorded cost in USD or None if none was priced)
        among the raw points since `since`, usage sources only."""
        lo = unix(since) if since else -math.inf
        with self.db.read() as conn:
            seq = self._seq(conn, artifact_id)
            n, cost = conn.execute(
                "SELECT count(*) FILTER (WHERE success = 1), avg(cost_usd) FROM points WHERE artifact = ? "
                "AND at >= ? AND source IN ('run', 'reuse', 'workflow', 'tool')",
                (seq, lo),
            ).fetchone()
        return int(n or 0), cost

    # -- windows ------------------------------------------------------------------------

    def window(
        self,
        artifact_id: str,
        *,
        field: str = "function_ms",
        since: datetime | None = None,
        until: datetime | None = None,
        sources: Sequence[str] | None = None,
    ) -> Window:
        """Count, failures and time figures of the points in [since, until), rolled-up hours
        included (whole hours that overlap the range)."""
        field = _check_field(field)
        src, src_args = _source_clause(sources)
        lo = unix(since) if since else -math.inf
        hi = unix(until) if until else math.inf
        prefix = field.removesuffix("_ms")
        hour_clause, hour_args = "", []
        if since:
            hour_clause, hour_args = " AND hour >= ?", [math.floor(lo / 3600)]
        if until:  # hours that start before `until`
            hour_clause, hour_args = hour_clause + " AND hour < ?", [*hour_args, math.ceil(hi / 3600)]
        with self.db.read() as conn:
            seq = self._seq(conn, artifact_id)
            where = f"artifact = ? AND at >= ? AND at < ?{src}"
            args = [seq, lo, hi, *src_args]
            raw = self._raw_window(conn, where, args, field)
            hours = conn.execute(
                f"SELECT count, failures, {prefix}_n, {prefix}_sum, {prefix}_hist FROM point_hours "
                f"WHERE artifact = ?{hour_clause}{src}",
                [seq, *hour_args, *src_args],
            ).fetchall()
            if not hours:
                return raw
            return self._merge(conn, raw, hours, where, args, field)

    def last_against_before(
        self,
        artifact_id: str,
        *,
        field: str = "function_ms",
        recent: int = 100,
        before: int = 900,
        sources: Sequence[str] | None = None,
    ) -> tuple[Window, Window]:
        """The last `recent` raw points against the `before` points preceding them."""
        field = _check_field(field)
        src, src_args = _source_clause(sources)
        with self.db.read() as conn:
            seq = self._seq(conn, artifact_id)
            base = (
                f"SELECT success, {field} v FROM points WHERE artifact = ?{src} ORDER BY at DESC, id DESC "
                "LIMIT ? OFFSET ?"
            )
            return (
                self._window_of(conn, base, [seq, *src_args, recent, 0]),
                self._window_of(conn, base, [seq, *src_args, before, recent]),
            )

    def scan(
        self, *, field: str = "function_ms", recent: int = 100, before: int = 900, sources: Sequence[str] | None = None
    ) -> dict[str, tuple[Window, Window]]:
        """last_against_before for every artifact in one pass (means and counts: a drift scan)."""
        field = _check_field(field)
        src, src_args = _source_clause(sources)
        recent, before = int(recent), int(before)  # inlined: each is used in several clauses
        sql = f"""
            SELECT a.id,
                   count(*) FILTER (WHERE rn <= {recent}),
                   sum(1 - success) FILTER (WHERE rn <= {recent}),
                   avg(v) FILTER (WHERE rn <= {recent}), count(v) FILTER (WHERE rn <= {recent}),
                   count(*) FILTER (WHERE rn > {recent}),
                   sum(1 - success) FILTER (WHERE rn > {recent}),
                   avg(v) FILTER (WHERE rn > {recent}), count(v) FILTER (WHERE rn > {recent})
            FROM (SELECT artifact, success, {field} v,
                         row_number() OVER (PARTITION BY artifact ORDER BY at DESC, id DESC) rn
                  FROM points WHERE 1{src}) w
            JOIN artifacts a ON a.seq = w.artifact
            WHERE rn <= {recent + before} GROUP BY w.artifact"""
        with self.db.read() as conn:
            rows = conn.execute(sql, src_args).fetchall()
        out = {}
        for r in rows:
            recent_w = Window(r[1], r[2] or 0, r[3], None, None, r[4])
            before_w = Window(r[5] or 0, r[6] or 0, r[7], None, None, r[8] or 0)
            out[r[0]] = (recent_w, before_w)
        return out

    @staticmethod
    def _raw_window(conn: Any, where: str, args: Sequence[Any], field: str) -> Window:
        count, failures, mean, timed = conn.execute(
            f"SELECT count(*), coalesce(sum(1 - success), 0), avg({field}), count({field}) FROM points WHERE {where}",
            args,
        ).fetchone()
        p50 = p95 = None
        if timed:

            def at(q: float) -> float:
                return conn.execute(
                    f"SELECT {field} FROM points WHERE {where} AND {field} IS NOT NULL "
                    f"ORDER BY {field} LIMIT 1 OFFSET ?",
                    (*args, int(q * (timed - 1))),
                ).fetchone()[0]

            p50, p95 = at(0.5), at(0.95)
        return Window(count, failures, mean, p50, p95, timed)

    @staticmethod
    def _window_of(conn: Any, base: str, args: Sequence[Any]) -> Window:
        rows = conn.execute(base, args).fetchall()
        values = sorted(r[1] for r in rows if r[1] is not None)
        failures = sum(1 - r[0] for r in rows)

        def at(q: float) -> float | None:
            return values[int(q * (len(values) - 1))] if values else None

        mean = sum(values) / len(values) if values else None
        return Window(len(rows), failures, mean, at(0.5), at(0.95), len(values))

    @staticmethod
    def _merge(conn: Any, raw: Window, hours: Sequence[tuple], where: str, args: Sequence[Any], field: str) -> Window:
        hist = empty_hist()
        for (value,) in conn.execute(f"SELECT {field} FROM points WHERE {where} AND {field} IS NOT NULL", args):
            hist[bucket(value)] += 1
        count, failures, timed = raw.count, raw.failures, raw.timed
        total = (raw.mean_ms or 0.0) * raw.timed
        for h_count, h_failures, h_n, h_sum, h_blob in hours:
            count += h_count
            failures += h_failures
            timed += h_n
            total += h_sum
            for i, n in enumerate(hist_from_blob(h_blob)):
                hist[i] += n
        return Window(
            count,
            failures,
            total / timed if timed else None,
            hist_percentile(hist, 0.5),
            hist_percentile(hist, 0.95),
            timed,
            exact=False,
        )

    # -- retention ----------------------------------------------------------------------

    def roll_up(
        self, *, after_seq: int = 0, artifacts: int = 50, now: datetime | None = None
    ) -> tuple[int, int | None]:
        """Fold the raw points of up to `artifacts` artifacts (from seq `after_seq` on) that are
        older than their newest `keep_raw` and than the current hour into hourly rows.
        Returns (points rolled up, the last seq looked at, or None when all were)."""
        current_hour = math.floor(unix(now or datetime.now(timezone.utc)) / 3600)
        rolled = 0
        with self.db.read() as conn:
            seqs = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM artifacts WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, artifacts)
                )
            ]
        for seq in seqs:
            with self.db.write() as conn:
                cutoff = conn.execute(
                    "SELECT at FROM points WHERE artifact = ? ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                    (seq, self.keep_raw - 1),
                ).fetchone()
                if cutoff is None:
                    continue
                limit_at = min(cutoff[0], current_hour * 3600.0)
                rows = conn.execute(
                    "SELECT id, at, source, success, function_ms, run_ms, cpu_ms, peak_mb FROM points "
                    "WHERE artifact = ? AND at < ?",
                    (seq, limit_at),
                ).fetchall()
                if not rows:
                    continue
                groups: dict[tuple[int, str], list[tuple]] = {}
                for row in rows:
                    groups.setdefault((math.floor(row[1] / 3600), row[2]), []).append(row)
                for (hour, source), members in groups.items():
                    self._fold(conn, seq, hour, source, members)
                conn.executemany("DELETE FROM points WHERE id = ?", [(r[0],) for r in rows])
                rolled += len(rows)
        return rolled, (seqs[-1] if len(seqs) == artifacts else None)

    @staticmethod
    def _fold(conn: Any, seq: int, hour: int, source: str, members: list[tuple]) -> None:
        old = conn.execute(
            "SELECT count, failures, function_n, function_sum, function_hist, run_n, run_sum, run_hist, "
            "cpu_sum, peak_mb_max FROM point_hours WHERE artifact = ? AND hour = ? AND source = ?",
            (seq, hour, source),
        ).fetchone()
        count, failures, fn, fsum, run_n, rsum, cpu, peak = (
            (old[0], old[1], old[2], old[3], old[5], old[6], old[8], old[9])
            if old
            else (0, 0, 0, 0.0, 0, 0.0, 0.0, None)
        )
        fhist = hist_from_blob(old[4]) if old else empty_hist()
        rhist = hist_from_blob(old[7]) if old else empty_hist()
        for _, _, _, success, function_ms, run_ms, cpu_ms, peak_mb in members:
            count += 1
            failures += 0 if success else 1
            if function_ms is not None:
                fn += 1
                fsum += function_ms
                fhist[bucket(function_ms)] += 1
            if run_ms is not None:
                run_n += 1
                rsum += run_ms
                rhist[bucket(run_ms)] += 1
            cpu += cpu_ms or 0.0
            if peak_mb is not None:
                peak = peak_mb if peak is None else max(peak, peak_mb)
        conn.execute(
            "INSERT OR REPLACE INTO point_hours(artifact, hour, source, count, failures, function_n, "
            "function_sum, function_hist, run_n, run_sum, run_hist, cpu_sum, peak_mb_max) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (seq, hour, source, count, failures, fn, fsum, fhist.tobytes(), run_n, rsum, rhist.tobytes(), cpu, peak),
        )
