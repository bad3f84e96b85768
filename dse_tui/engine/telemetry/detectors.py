"""Per-artifact drift detection, updated point by point (paper §3.3, §4.8).

One `ArtifactDrift` holds every detector of one artifact. `update()` takes one execution's
figures in O(log n) (bisect into two sorted windows of latency, integer counts for failures,
one sequential step per detector); `alerts()` evaluates the table below from that state; the
state round-trips through `to_json()` / `from_json()` so `dse drift` reads it instead of
scanning points. The JSON stays bounded: at most `ring` (1000) latency values, `max(baseline,
recent)` values of the other fields, every value rounded to 4 significant digits on entry.

The table (`DRIFT_TABLE`): a type alerts when at least `agree` of its detectors fire, and
never before `min_samples` values of its field since the last (re)baselining.

- latency (`function_ms`), 2 of 3:
  `baseline_ratio`   the recent level > 1.5 x the baseline level (the paper's rule; the
                     baseline is the first `baseline` (100) values after (re)baselining);
  `recent_vs_before` the recent `recent` (100) values 20% slower than the up to 900 before;
  `page_hinkley`     Page-Hinkley for an increase in mean on z = (ln t - ln baseline median) /
                     (1.4826 MAD of the baseline's ln t, floored at 0.05), clipped to +-2 so
                     one spike adds at most 2: unit-free. It is written in its CUSUM form
                     s = max(0, s + z - delta), alarm s > lambda, which equals PH's m_T - min m_t.
  The level of a window is its interquartile mean (`stat` "trimmed", `trim` 0.25; or "median",
  "mean"): spikes (2% of points x10) and a burst of up to ~20 slow runs fall in the trimmed
  tails, where the paper's plain mean moves by 18% on average and alarms; a 10% trim still
  alarmed on a 15-run burst (bench/drift_eval.py measures the plain means alongside).
- errors (`success`), 2 of 2: `error_threshold` (the recent failure rate > the baseline rate,
  Laplace-smoothed so that 0 failures in 100 is not read as a 0% rate, + 5 points) and `bernoulli_cusum` (log-likelihood CUSUM of failures, p0 = the baseline rate
  Laplace-smoothed, p1 = p0 + 5 points, alarm at 5 nats).
- quality (`quality`, a spec check's 1/0 pass): `quality_threshold`, the pass rate of the last
  50 checks < 0.9 (after a dismissal: < min(0.9, accepted rate - 0.1) until it recovers).
- cost (`cost`, USD per execution): `cost_ratio`, the recent mean > 1.3 x the baseline mean.
  Undefined (skipped, never an alert, never a 0/0) while the baseline mean is zero or unknown;
  latency likewise when the baseline level is zero.

Severity (0..1; `action()`: >= 0.7 "evolve", >= 0.4 "schedule", else "log"):
- latency, cost: clamp(ratio - 1, 0, 1), ratio = the current level over the baseline's, the
  larger of the recent window's and, when the sequential detector has located the change, the
  level since it (so the first alert of a x2 step already reads ~1.0, not a half-mixed window):
  1.5x -> 0.5, >= 1.7x -> >= 0.7.
- errors: 0.4 at +5 points over the baseline rate, rising linearly to 0.8 at +20 points.
- quality: 0.4 just below the threshold, + 2 per unit below it (0.7 at a pass rate 0.15 under).

`rebaseline(type)` (after a promotion or a dismissal) makes the current level the baseline:
the values since the located change (else the recent window), at most `baseline` of them, start
the new epoch; the baseline completes from them and the points that follow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from bisect import bisect_left, insort
from collections import deque
from enum import Enum
from itertools import islice
from typing import Any

__all__ = [
    "DRIFT_TABLE",
    "Alert",
    "ArtifactDrift",
    "DriftParams",
    "DriftRule",
    "DriftType",
    "action",
]

STATE_VERSION = 2  # 1 was the first stub's format: not readable here


class DriftType(str, Enum):
    LATENCY = "latency"
    ERRORS = "errors"
    QUALITY = "quality"
    COST = "cost"


@dataclasses.dataclass(frozen=True)
class DriftRule:
    type: DriftType
    field: str
    detectors: tuple[str, ...]
    min_samples: int
    agree: int
    description: str


DRIFT_TABLE: tuple[DriftRule, ...] = (
    DriftRule(
        DriftType.LATENCY,
        "function_ms",
        ("baseline_ratio", "recent_vs_before", "page_hinkley"),
        min_samples=150,
        agree=2,
        description="recent level > 1.5x the baseline; recent 100 runs 20% slower than the up to 900 before; "
        "Page-Hinkley on standardised ln(time)",
    ),
    DriftRule(
        DriftType.ERRORS,
        "success",
        ("error_threshold", "bernoulli_cusum"),
        min_samples=150,
        agree=2,
        description="recent failure rate > baseline rate + 5 points; Bernoulli CUSUM of failures",
    ),
    DriftRule(
        DriftType.QUALITY,
        "quality",
        ("quality_threshold",),
        min_samples=10,
        agree=1,
        description="pass rate of the recent spec checks < 0.9",
    ),
    DriftRule(
        DriftType.COST,
        "cost",
        ("cost_ratio",),
        min_samples=150,
        agree=1,
        description="recent mean cost per execution > 1.3x the baseline mean (skipped while that is zero)",
    ),
)

_FIELD = {
    DriftType.LATENCY: "function_ms",
    DriftType.ERRORS: "success",
    DriftType.QUALITY: "quality",
    DriftType.COST: "cost",
}


@dataclasses.dataclass(frozen=True)
class DriftParams:
    """Every knob of the detectors; the defaults are the paper's thresholds."""

    baseline: int = 100  # the first N values after (re)baselining
    recent: int = 100  # the recent window
    ring: int = 1000  # latency values kept: the recent window and up to ring - recent before it
    stat: str = "trimmed"  # the level of a latency window: trimmed | median | mean
    trim: float = 0.25  # cut from each end by the trimmed mean: the interquartile mean
    latency_ratio: float = 1.5  # baseline_ratio
    slower: float = 0.2  # recent_vs_before: 20% slower
    before_min: int = 50  # recent_vs_before needs this many values before the window
    ph_delta: float = 0.5  # Page-Hinkley allowance, in baseline spreads
    ph_lambda: float = 25.0  # Page-Hinkley alarm threshold
    ph_clip: float = 2.0  # one value moves the statistic by at most this
    spread_floor: float = 0.05  # the smallest baseline spread (ln units / fraction of the mean)
    segment_min: int = 10  # values since a located change needed to use their level
    error_margin: float = 0.05  # error_threshold and the CUSUM's p1: + 5 points
    cusum_h: float = 5.0  # Bernoulli CUSUM alarm threshold (nats)
    quality_threshold: float = 0.9
    quality_window: int = 50
    quality_drop: float = 0.1  # after a dismissal, alert again this far below the accepted rate
    cost_ratio: float = 1.3

    def __post_init__(self) -> None:
        if self.stat not in ("trimmed", "median", "mean"):
            raise ValueError(f"stat must be trimmed, median or mean, not {self.stat!r}")
        if min(self.baseline, self.recent, self.quality_window, self.segment_min) < 1:
            raise ValueError("windows must hold at least one value")
        if self.ring < self.recent + max(1, self.before_min) or self.ring < self.baseline:
            raise ValueError("ring must hold the baseline and the recent window plus before_min values")
        if not 0 <= self.trim < 0.5:
            raise ValueError("trim must be in [0, 0.5)")


@dataclasses.dataclass(frozen=True)
class Alert:
    type: DriftType
    severity: float
    detectors: tuple[str, ...]
    figures: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    window: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    @property
    def action(self) -> str:
        return action(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "severity": self.severity,
            "action": self.action,
            "detectors": list(self.detectors),
            "figures": dict(self.figures),
            "window": dict(self.window),
        }


def action(severity: float) -> str:
    """The paper's trigger: >= 0.7 evolve now, >= 0.4 schedule an optimisation, else log."""
    if severity >= 0.7:
        return "evolve"
    if severity >= 0.4:
        return "schedule"
    return "log"


# -- small helpers ----------------------------------------------------------------------------


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def _r4(v: float) -> float:
    """4 significant digits: what the state keeps, so a round trip is exact."""
    return float(f"{v:.4g}") or 0.0


def _sig(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.6g}")


def _finite(v: Any) -> float | None:
    if type(v) is float:  # the common case, first
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (str, bytes)):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _discard(sorted_values: list[float], v: float) -> None:
    i = bisect_left(sorted_values, v)
    if i < len(sorted_values) and sorted_values[i] == v:
        del sorted_values[i]


def _median(s: list[float]) -> float:
    n = len(s)
    if not n:
        return math.nan
    m = n // 2
    return s[m] if n % 2 else (s[m - 1] + s[m]) / 2


def _level(s: list[float], how: str, trim: float) -> float:
    """The level of a sorted window."""
    n = len(s)
    if not n:
        return math.nan
    if how == "median":
        return _median(s)
    if how == "mean":
        return sum(s) / n
    k = int(n * trim)
    if n - 2 * k <= 0:
        return _median(s)
    return sum(s[k : n - k]) / (n - 2 * k)


def _tail(ring: deque[Any], k: int) -> list[Any]:
    """The newest k values, oldest first."""
    if k >= len(ring):
        return list(ring)
    out = list(islice(reversed(ring), k))
    out.reverse()
    return out


def _enc_idx(idx: deque[int]) -> list[int]:
    if not idx:
        return []
    out, prev = [idx[0]], idx[0]
    for i in islice(idx, 1, None):
        out.append(i - prev)
        prev = i
    return out


def _dec_idx(enc: list[int]) -> list[int]:
    out: list[int] = []
    acc = 0
    for j, d in enumerate(enc):
        acc = d if j == 0 else acc + d
        out.append(int(acc))
    return out


class _Cusum:
    """s = max(0, s + increment); `at` is the field's sample index (and `pt` the point) where
    s was last 0: the change, when there is one, starts after it."""

    __slots__ = ("s", "at", "pt")

    def __init__(self) -> None:
        self.s = 0.0
        self.at = -1
        self.pt = 0

    def step(self, inc: float, sample: int, point: int) -> None:
        s = self.s + inc
        if s <= 0.0:
            self.s, self.at, self.pt = 0.0, sample, point
        else:
            self.s = s

    def reset(self, sample: int, point: int) -> None:
        self.s, self.at, self.pt = 0.0, sample, point

    def since(self, seen: int) -> int:
        """Values after the located change (0 when none is located)."""
        return seen - 1 - self.at if self.s > 0 else 0

    def dump(self) -> list[Any]:
        return [self.s, self.at, self.pt]

    def load(self, d: list[Any]) -> None:
        self.s, self.at, self.pt = float(d[0]), int(d[1]), int(d[2])


# -- one series per field ---------------------------------------------------------------------


class _Series:
    """Shared bookkeeping: the ring of values, the global point index of the recent window's
    values, values seen ever and since the epoch began, the baseline, a sequential tracker."""

    def __init__(self, p: DriftParams, ring: int, window: int) -> None:
        self.p = p
        self.ring: deque[float] = deque(maxlen=ring)
        self.idx: deque[int] = deque(maxlen=window)
        self.seen = 0
        self.epoch = 0
        self.base: dict[str, float] | None = None
        self.track = _Cusum()

    def _window(self) -> dict[str, Any]:
        w: dict[str, Any] = {"first": self.idx[0], "last": self.idx[-1], "size": len(self.idx)} if self.idx else {}
        if self.track.s > 0:
            w["change_after"] = self.track.pt
        return w

    def _restart(self, keep: int) -> list[float]:
        """Keep the newest `keep` values as the new epoch; the baseline refills from them."""
        vals = _tail(self.ring, keep) if keep else []
        self.ring = deque(vals, maxlen=self.ring.maxlen)
        self.idx = deque(_tail(self.idx, keep) if keep else [], maxlen=self.idx.maxlen)
        self.epoch = len(vals)
        self.base = None
        self.track.reset(self.seen - 1, self.idx[-1] if self.idx else 0)
        return vals

    def rebaseline(self) -> None:
        since = self.track.since(self.seen) if self.base is not None else 0
        keep = since if since >= self.p.segment_min else self.p.recent
        self._restart(min(keep, self.p.baseline, len(self.ring)))
        if self.epoch >= self.p.baseline:
            self._set_base()

    def _set_base(self) -> None:
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        return {
            "r": list(self.ring),
            "i": _enc_idx(self.idx),
            "seen": self.seen,
            "ep": self.epoch,
            "b": self.base,
            "t": self.track.dump(),
        }

    def load(self, d: dict[str, Any]) -> None:
        self.ring = deque((float(v) for v in d["r"]), maxlen=self.ring.maxlen)
        self.idx = deque(_dec_idx(d["i"]), maxlen=self.idx.maxlen)
        self.seen, self.epoch = int(d["seen"]), int(d["ep"])
        self.base = None if d["b"] is None else {str(k): float(v) for k, v in d["b"].items()}
        self.track.load(d["t"])


class _Latency(_Series):
    def __init__(self, p: DriftParams) -> None:
        super().__init__(p, p.ring, p.recent)
        self.recent: list[float] = []  # the newest `recent` values, sorted
        self.before: list[float] = []  # the rest of the ring, sorted

    def add(self, v: float, point: int) -> None:
        ring, w = self.ring, self.p.recent
        if len(ring) == ring.maxlen:
            _discard(self.before, ring[0])
        if len(ring) >= w:
            moving = ring[-w]
            _discard(self.recent, moving)
            insort(self.before, moving)
        ring.append(v)
        insort(self.recent, v)
        self.idx.append(point)
        self.seen += 1
        self.epoch += 1
        base = self.base
        if base is None:
            if self.epoch >= self.p.baseline:
                self._set_base()
                self.track.reset(self.seen - 1, point)
        elif base["off"] > 0:
            z = (math.log(v + base["off"]) - base["lmed"]) / base["lsd"]
            c = self.p.ph_clip
            z = c if z > c else -c if z < -c else z
            self.track.step(z - self.p.ph_delta, self.seen - 1, point)

    def _set_base(self) -> None:
        p = self.p
        vals = sorted(_tail(self.ring, p.baseline))
        med, level = _median(vals), _level(vals, p.stat, p.trim)
        off = 0.01 * max(med, level)
        if off > 0:
            logs = [math.log(x + off) for x in vals]  # increasing, since vals are
            lmed = _median(logs)
            mad = _median(sorted(abs(x - lmed) for x in logs))
            lsd = max(1.4826 * mad, p.spread_floor)
        else:
            lmed, lsd = 0.0, 1.0
        self.base = {"level": level, "median": med, "off": off, "lmed": lmed, "lsd": lsd}

    def _restart(self, keep: int) -> list[float]:
        vals = super()._restart(keep)
        w = self.p.recent
        self.recent = sorted(vals[-w:])
        self.before = sorted(vals[:-w]) if len(vals) > w else []
        return vals

    def load(self, d: dict[str, Any]) -> None:
        super().load(d)
        vals, w = list(self.ring), self.p.recent
        self.recent = sorted(vals[-w:])
        self.before = sorted(vals[:-w]) if len(vals) > w else []

    def ready(self, rule: DriftRule) -> bool:
        return self.base is not None and self.epoch >= rule.min_samples and self.base["off"] > 0

    def votes(self, rule: DriftRule) -> dict[str, bool]:
        out = {"baseline_ratio": False, "recent_vs_before": False, "page_hinkley": False}
        if not self.ready(rule):
            return out
        p, base = self.p, self.base
        assert base is not None
        recent = _level(self.recent, p.stat, p.trim)
        out["baseline_ratio"] = base["level"] > 0 and recent > p.latency_ratio * base["level"]
        if len(self.before) >= p.before_min:
            before = _level(self.before, p.stat, p.trim)
            out["recent_vs_before"] = before > 0 and recent > (1 + p.slower) * before
        out["page_hinkley"] = self.track.s > p.ph_lambda
        return out

    def figures(self) -> dict[str, Any]:
        p, base = self.p, self.base
        f: dict[str, Any] = {"samples": self.epoch, "seen": self.seen, "statistic": p.stat}
        recent = _level(self.recent, p.stat, p.trim)
        f["recent_ms"], f["recent_samples"] = _sig(recent), len(self.recent)
        before = _level(self.before, p.stat, p.trim) if self.before else math.nan
        f["before_ms"], f["before_samples"] = _sig(before), len(self.before)
        f["before_ratio"] = _sig(recent / before) if before > 0 else None
        if base is None:
            return f
        f["baseline_ms"], f["baseline_samples"] = _sig(base["level"]), p.baseline
        f["ratio"] = _sig(recent / base["level"]) if base["level"] > 0 else None
        since = self.track.since(self.seen)
        f["ph_statistic"], f["ph_threshold"] = _sig(self.track.s), p.ph_lambda
        if since >= p.segment_min and base["level"] > 0:
            values = list(self.ring)
            seg = sorted(values[-since:])
            level = _level(seg, p.stat, p.trim)
            # the level before the change: every value of the epoch before it when there are more
            # than the baseline's (a closer estimate than the first 100 alone), else the baseline
            prior = values[:-since] if since < len(values) else []
            ref = _level(sorted(prior), p.stat, p.trim) if len(prior) > p.baseline else base["level"]
            if ref > 0:
                f["level_ms"], f["level_samples"] = _sig(level), len(seg)
                f["reference_ms"], f["level_ratio"] = _sig(ref), _sig(level / ref)
        return f

    def severity(self, f: dict[str, Any]) -> float:
        ratios = [r for r in (f.get("ratio"), f.get("level_ratio")) if r is not None] or [f.get("before_ratio") or 1.0]
        return round(_clamp(max(ratios) - 1.0), 4)


class _Errors(_Series):
    """The ring holds 1 for a failure, 0 for a success."""

    def __init__(self, p: DriftParams) -> None:
        super().__init__(p, max(p.baseline, p.recent), p.recent)
        self.rfail = 0  # failures among the newest `recent` values

    def add(self, fail: int, point: int) -> None:
        ring, w = self.ring, self.p.recent
        if len(ring) >= w:
            self.rfail -= int(ring[-w])
        ring.append(fail)
        self.rfail += fail
        self.idx.append(point)
        self.seen += 1
        self.epoch += 1
        base = self.base
        if base is None:
            if self.epoch >= self.p.baseline:
                self._set_base()
                self.track.reset(self.seen - 1, point)
        else:
            self.track.step(base["l1"] if fail else base["l0"], self.seen - 1, point)

    def _set_base(self) -> None:
        n = self.p.baseline
        f = int(sum(_tail(self.ring, n)))
        p0 = (f + 1) / (n + 2)
        p1 = min(p0 + self.p.error_margin, (1 + p0) / 2)
        self.base = {"rate": f / n, "p0": p0, "p1": p1, "l1": math.log(p1 / p0), "l0": math.log((1 - p1) / (1 - p0))}

    def _count(self) -> None:
        self.rfail = int(sum(_tail(self.ring, self.p.recent)))

    def _restart(self, keep: int) -> list[float]:
        vals = super()._restart(keep)
        self._count()
        return vals

    def load(self, d: dict[str, Any]) -> None:
        d = dict(d, r=[int(c) for c in d["r"]])
        super().load(d)
        self._count()

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["r"] = "".join("1" if v else "0" for v in self.ring)
        return d

    def rate(self) -> float:
        n = min(self.p.recent, len(self.ring))
        return self.rfail / n if n else math.nan

    def votes(self, rule: DriftRule) -> dict[str, bool]:
        out = {"error_threshold": False, "bernoulli_cusum": False}
        if self.base is None or self.epoch < rule.min_samples:
            return out
        # against the Laplace-smoothed baseline rate: 0 failures in 100 runs is not a 0% rate
        out["error_threshold"] = self.rate() > self.base["p0"] + self.p.error_margin
        out["bernoulli_cusum"] = self.track.s > self.p.cusum_h
        return out

    def figures(self) -> dict[str, Any]:
        f: dict[str, Any] = {"samples": self.epoch, "seen": self.seen, "recent_error_rate": _sig(self.rate())}
        f["recent_failures"], f["recent_samples"] = self.rfail, min(self.p.recent, len(self.ring))
        if self.base is not None:
            f["baseline_error_rate"], f["baseline_samples"] = _sig(self.base["rate"]), self.p.baseline
            f["increase"] = _sig(self.rate() - self.base["rate"])
            f["cusum_statistic"], f["cusum_threshold"] = _sig(self.track.s), self.p.cusum_h
        return f

    def severity(self, f: dict[str, Any]) -> float:
        d = f.get("increase") or 0.0
        return round(_clamp(0.4 + (d - self.p.error_margin) * (0.4 / 0.15)), 4)


class _Quality(_Series):
    def __init__(self, p: DriftParams) -> None:
        super().__init__(p, p.quality_window, p.quality_window)
        self.accepted: float | None = None  # the pass rate a dismissal accepted

    def add(self, v: float, point: int) -> None:
        self.ring.append(v)
        self.idx.append(point)
        self.seen += 1
        self.epoch += 1
        if self.accepted is not None and self.rate() >= self.p.quality_threshold:
            self.accepted = None  # recovered: the plain threshold again

    def rate(self) -> float:
        return math.fsum(self.ring) / len(self.ring) if self.ring else math.nan

    def threshold(self) -> float:
        t = self.p.quality_threshold
        return t if self.accepted is None else min(t, self.accepted - self.p.quality_drop)

    def rebaseline(self) -> None:
        self.accepted = self.rate() if self.ring else None

    def votes(self, rule: DriftRule) -> dict[str, bool]:
        ok = self.seen >= rule.min_samples and bool(self.ring)
        return {"quality_threshold": ok and self.rate() < self.threshold()}

    def figures(self) -> dict[str, Any]:
        return {
            "pass_rate": _sig(self.rate()),
            "threshold": _sig(self.threshold()),
            "accepted": self.accepted,
            "samples": len(self.ring),
            "seen": self.seen,
        }

    def severity(self, f: dict[str, Any]) -> float:
        return round(_clamp(0.4 + 2 * (f["threshold"] - f["pass_rate"])), 4)

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d["acc"] = self.accepted
        return d

    def load(self, d: dict[str, Any]) -> None:
        super().load(d)
        self.accepted = None if d.get("acc") is None else float(d["acc"])


class _Cost(_Series):
    """Means, not robust levels: what is spent is the sum. A CUSUM on the standardised cost
    locates a change (for severity and rebaselining); it does not vote."""

    def __init__(self, p: DriftParams) -> None:
        super().__init__(p, max(p.baseline, p.recent), p.recent)

    def add(self, v: float, point: int) -> None:
        self.ring.append(v)
        self.idx.append(point)
        self.seen += 1
        self.epoch += 1
        base = self.base
        if base is None:
            if self.epoch >= self.p.baseline:
                self._set_base()
                self.track.reset(self.seen - 1, point)
        elif base["mean"] > 0:
            z = (v - base["mean"]) / base["sd"]
            c = self.p.ph_clip
            z = c if z > c else -c if z < -c else z
            self.track.step(z - self.p.ph_delta, self.seen - 1, point)

    def _set_base(self) -> None:
        vals = _tail(self.ring, self.p.baseline)
        mean = math.fsum(vals) / len(vals)
        var = math.fsum((x - mean) ** 2 for x in vals) / max(1, len(vals) - 1)
        self.base = {"mean": mean, "sd": max(math.sqrt(var), self.p.spread_floor * mean)}

    def recent_mean(self) -> float:
        vals = _tail(self.ring, self.p.recent)
        return math.fsum(vals) / len(vals) if vals else math.nan

    def votes(self, rule: DriftRule) -> dict[str, bool]:
        b = self.base
        ok = b is not None and b["mean"] > 0 and self.epoch >= rule.min_samples
        return {"cost_ratio": ok and b is not None and self.recent_mean() > self.p.cost_ratio * b["mean"]}

    def figures(self) -> dict[str, Any]:
        f: dict[str, Any] = {"samples": self.epoch, "seen": self.seen, "recent_usd": _sig(self.recent_mean())}
        b = self.base
        if b is not None and b["mean"] > 0:
            f["baseline_usd"], f["ratio"] = _sig(b["mean"]), _sig(self.recent_mean() / b["mean"])
            since = self.track.since(self.seen)
            if since >= self.p.segment_min:
                seg = _tail(self.ring, since)
                level = math.fsum(seg) / len(seg)
                f["level_usd"], f["level_ratio"], f["level_samples"] = _sig(level), _sig(level / b["mean"]), len(seg)
        elif b is not None:
            f["baseline_usd"], f["ratio"] = 0.0, None
        return f

    def severity(self, f: dict[str, Any]) -> float:
        ratios = [r for r in (f.get("ratio"), f.get("level_ratio")) if r is not None] or [1.0]
        return round(_clamp(max(ratios) - 1.0), 4)


# -- the artifact -----------------------------------------------------------------------------


class ArtifactDrift:
    """All drift detectors of one artifact. `n` counts the points seen (update calls); alert
    windows name points by that 1-based index."""

    def __init__(self, params: DriftParams | None = None, table: tuple[DriftRule, ...] = DRIFT_TABLE) -> None:
        self.params = params or DriftParams()
        for rule in table:
            if rule.field != _FIELD[rule.type]:
                raise ValueError(f"{rule.type.value} is measured on {_FIELD[rule.type]}, not {rule.field}")
            if not 1 <= rule.agree <= len(rule.detectors):
                raise ValueError(f"{rule.type.value}: agree must be between 1 and {len(rule.detectors)}")
        self.table = tuple(table)
        self.n = 0
        p = self.params
        self._lat, self._err, self._q, self._cost = _Latency(p), _Errors(p), _Quality(p), _Cost(p)
        self._series: dict[DriftType, _Latency | _Errors | _Quality | _Cost] = {
            DriftType.LATENCY: self._lat,
            DriftType.ERRORS: self._err,
            DriftType.QUALITY: self._q,
            DriftType.COST: self._cost,
        }

    def update(
        self,
        *,
        function_ms: float | None,
        success: bool | None,
        quality: float | None = None,
        cost: float | None = None,
    ) -> None:
        """One point. None, non-finite and out-of-range values (negative times or costs, a
        quality outside [0, 1]) are skipped for their field; the point still counts in `n`."""
        self.n += 1
        n = self.n
        v = _finite(function_ms)
        if v is not None and v >= 0:
            self._lat.add(_r4(v), n)
        if success is not None:
            s = _finite(success)
            if s == 0.0 or s == 1.0:
                self._err.add(0 if s else 1, n)
        v = _finite(quality)
        if v is not None and 0 <= v <= 1:
            self._q.add(_r4(v), n)
        v = _finite(cost)
        if v is not None and v >= 0:
            self._cost.add(_r4(v), n)

    def votes(self, type: DriftType | str) -> dict[str, bool]:
        """Each detector of the type's rule, firing now or not (False before min_samples)."""
        t = DriftType(type)
        rule = self._rule(t)
        v = self._series[t].votes(rule)
        return {name: v.get(name, False) for name in rule.detectors}

    def alerts(self) -> list[Alert]:
        out = []
        for rule in self.table:
            series = self._series[rule.type]
            v = series.votes(rule)
            agreed = tuple(name for name in rule.detectors if v.get(name))
            if len(agreed) < rule.agree:
                continue
            f = series.figures()
            out.append(Alert(rule.type, series.severity(f), agreed, f, series._window()))
        return out

    def rebaseline(self, type: DriftType | str | None = None) -> None:
        """After a promotion or a dismissal: the current level becomes the baseline, so the
        same drift is not raised again (a further change is)."""
        for t in [DriftType(type)] if type is not None else list(DriftType):
            self._series[t].rebaseline()

    def summary(self) -> dict[str, Any]:
        """For a screen: per type its figures, whether it is defined (a baseline to compare
        with) and ready (min_samples reached), each detector's vote, and whether it alerts."""
        out: dict[str, Any] = {"points": self.n}
        alerting = []
        for t, series in self._series.items():
            rule = next((r for r in self.table if r.type == t), None)
            if t is DriftType.LATENCY:
                defined = self._lat.base is not None and self._lat.base["off"] > 0
            elif t is DriftType.COST:
                defined = self._cost.base is not None and self._cost.base["mean"] > 0
            elif t is DriftType.ERRORS:
                defined = self._err.base is not None
            else:
                defined = bool(self._q.ring)
            votes = {} if rule is None else self.votes(t)
            on = rule is not None and sum(votes.values()) >= rule.agree
            if on:
                alerting.append(t.value)
            out[t.value] = {
                "field": _FIELD[t],
                "defined": defined,
                "min_samples": None if rule is None else rule.min_samples,
                "ready": rule is not None and defined and series.epoch >= rule.min_samples,
                "votes": votes,
                "alerting": on,
                **series.figures(),
            }
        out["alerts"] = alerting
        return out

    # -- persistence ------------------------------------------------------------------------

    def to_json(self) -> str:
        d: dict[str, Any] = {
            "v": STATE_VERSION,
            "n": self.n,
            "lat": self._lat.dump(),
            "err": self._err.dump(),
            "q": self._q.dump(),
            "cost": self._cost.dump(),
        }
        default = DriftParams()
        changed = {
            f.name: getattr(self.params, f.name)
            for f in dataclasses.fields(DriftParams)
            if getattr(self.params, f.name) != getattr(default, f.name)
        }
        if changed:
            d["p"] = changed
        if self.table != DRIFT_TABLE:
            d["tbl"] = [
                [r.type.value, r.field, list(r.detectors), r.min_samples, r.agree, r.description] for r in self.table
            ]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> ArtifactDrift:
        try:
            d = json.loads(s)
            if d.get("v") != STATE_VERSION:
                raise ValueError(f"unknown drift state version {d.get('v')!r}")
            params = DriftParams(**d.get("p", {}))
            table = DRIFT_TABLE
            if "tbl" in d:
                table = tuple(
                    DriftRule(DriftType(t), f, tuple(ds), int(m), int(a), desc) for t, f, ds, m, a, desc in d["tbl"]
                )
            self = cls(params, table)
            self.n = int(d["n"])
            self._lat.load(d["lat"])
            self._err.load(d["err"])
            self._q.load(d["q"])
            self._cost.load(d["cost"])
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"damaged drift state: {e!r}") from e
        return self

    def _rule(self, t: DriftType) -> DriftRule:
        for r in self.table:
            if r.type == t:
                return r
        raise KeyError(f"no rule for {t.value}")
