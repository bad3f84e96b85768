"""Drift detectors per artifact, standard library only, updated point by point.

The table (DRIFT_TABLE, also in the README):

| type    | field       | detectors                                        | alert when     | min samples |
|---------|-------------|--------------------------------------------------|----------------|-------------|
| latency | function_ms | baseline_ratio, recent_vs_before, page_hinkley   | 2 of 3 agree   | 200         |
| errors  | success     | error_threshold, bernoulli_cusum                 | both agree     | 200         |
| quality | quality     | quality_threshold                                | it fires       | 10          |
| cost    | cost        | cost_ratio                                       | it fires       | 200         |

- baseline_ratio: the median of the recent 100 above 1.5x the baseline's (the paper's 1.5x;
  the baseline is the first 100 points after (re)baselining). Medians, not means: a few
  spikes must not look like a slowdown.
- recent_vs_before: the median of the recent 100 more than 20% above the median of the up
  to 900 points before them (the paper's 20% rule).
- page_hinkley: a one-sided Page-Hinkley/CUSUM on the time divided by the baseline median
  (unit-free), each value clipped at 3x so that a spike adds a bounded amount, with a 10%
  drift allowance (delta) and threshold lambda.
- error_threshold: the recent 100's failure rate above the baseline's + 5 points;
  bernoulli_cusum: a CUSUM on failures against the baseline rate.
- quality_threshold: the mean pass share of the latest 20 spec checks below 0.9.
- cost_ratio: the recent 100's median cost more than 30% above the baseline's; skipped
  (undefined, never an alert) while the baseline cost is zero or unknown.

Severity (0..1; evolve now >= 0.7, schedule >= 0.4, else log): latency, from the ratio r of
recent to baseline medians, r - 1 (1.5x -> 0.5, 1.7x -> 0.7, 2x -> 1); errors, 0.4 at +5
points rising to 1 at +20; quality, 0.4 at the threshold rising to 1 at 15 points under it;
cost, (r - 1) / 0.75 (1.3x -> 0.4).

State is bounded (rings of the latest 1000 values, float32) and serialises to JSON.
"""

from __future__ import annotations

import base64
import enum
import json
import math
from array import array
from dataclasses import dataclass, field
from typing import Any

RECENT = 100
BEFORE = 900
BASELINE_N = 100
RING = RECENT + BEFORE
QUALITY_RING = 20


class DriftType(str, enum.Enum):
    LATENCY = "latency"
    ERRORS = "errors"
    QUALITY = "quality"
    COST = "cost"


@dataclass(frozen=True)
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
        BASELINE_N + RECENT,
        2,
        "slower: recent median 1.5x the baseline, 20% over the 900 before, Page-Hinkley",
    ),
    DriftRule(
        DriftType.ERRORS,
        "success",
        ("error_threshold", "bernoulli_cusum"),
        BASELINE_N + RECENT,
        2,
        "failing more: recent failure rate 5 points over the baseline, and a CUSUM on failures",
    ),
    DriftRule(DriftType.QUALITY, "quality", ("quality_threshold",), 10, 1, "spec checks passing less than 90%"),
    DriftRule(
        DriftType.COST, "cost", ("cost_ratio",), BASELINE_N + RECENT, 1, "dearer: recent median cost 30% over baseline"
    ),
)
RULES = {rule.type: rule for rule in DRIFT_TABLE}


@dataclass(frozen=True)
class Alert:
    type: DriftType
    severity: float
    detectors: tuple[str, ...]
    figures: dict[str, Any]
    window: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "severity": round(self.severity, 3),
            "detectors": list(self.detectors),
            "figures": self.figures,
            "window": self.window,
        }


def action(severity: float, evolve_at: float = 0.7, schedule_at: float = 0.4) -> str:
    return "evolve" if severity >= evolve_at else "schedule" if severity >= schedule_at else "log"


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


class Ring:
    """The latest `capacity` values, oldest first on read."""

    def __init__(self, capacity: int, values: list[float] | None = None) -> None:
        self.capacity = capacity
        self.values = array("f", (values or [])[-capacity:])
        self.head = len(self.values) % capacity  # where the next value goes once full

    def push(self, value: float) -> None:
        if len(self.values) < self.capacity:
            self.values.append(value)
            self.head = len(self.values) % self.capacity
        else:
            self.values[self.head] = value
            self.head = (self.head + 1) % self.capacity

    def ordered(self) -> list[float]:
        if len(self.values) < self.capacity:
            return list(self.values)
        return list(self.values[self.head :]) + list(self.values[: self.head])

    def __len__(self) -> int:
        return len(self.values)

    def keep_last(self, n: int) -> None:
        kept = self.ordered()[-n:] if n else []
        self.values = array("f", kept)
        self.head = len(self.values) % self.capacity

    def dump(self) -> str:
        return base64.b64encode(array("f", self.ordered()).tobytes()).decode("ascii")

    @classmethod
    def load(cls, capacity: int, text: str) -> Ring:
        values = array("f")
        values.frombytes(base64.b64decode(text.encode("ascii")))
        return cls(capacity, list(values))


@dataclass
class _Stream:
    """One field's ring, its baseline and its sequential statistic."""

    ring: Ring
    baseline: list[float] = field(default_factory=list)  # the first BASELINE_N values since (re)baselining
    seq: float = 0.0  # the sequential detector's statistic
    since: int = 0  # values seen since (re)baselining

    @property
    def baseline_median(self) -> float | None:
        return _median(self.baseline) if len(self.baseline) >= BASELINE_N else None


class ArtifactDrift:
    """Every detector of one artifact."""

    def __init__(
        self,
        *,
        ratio: float = 1.5,
        slower: float = 0.20,
        ph_delta: float = 0.10,
        ph_lambda: float = 25.0,
        ph_clip: float = 3.0,
        error_rise: float = 0.05,
        cusum_h: float = 5.0,
        quality_floor: float = 0.9,
        cost_rise: float = 0.30,
    ) -> None:
        self.params = {
            "ratio": ratio,
            "slower": slower,
            "ph_delta": ph_delta,
            "ph_lambda": ph_lambda,
            "ph_clip": ph_clip,
            "error_rise": error_rise,
            "cusum_h": cusum_h,
            "quality_floor": quality_floor,
            "cost_rise": cost_rise,
        }
        self.n = 0  # points seen
        self.latency = _Stream(Ring(RING))
        self.failures = _Stream(Ring(RING))
        self.cost = _Stream(Ring(RING))
        self.quality = Ring(QUALITY_RING)
        self.quality_n = 0
        self.ph_mean: float | None = None  # the baseline's mean of clipped normalised times

    # -- updating ---------------------------------------------------------------------------

    def update(
        self,
        *,
        function_ms: float | None = None,
        success: bool | None = None,
        quality: float | None = None,
        cost: float | None = None,
    ) -> None:
        self.n += 1
        if _usable(function_ms):
            self._latency(float(function_ms))  # type: ignore[arg-type]
        if success is not None:
            self._failure(0.0 if success else 1.0)
        if _usable(quality) and quality <= 1.0:  # type: ignore[operator]
            self.quality.push(float(quality))  # type: ignore[arg-type]
            self.quality_n += 1
        if _usable(cost):
            self._cost(float(cost))  # type: ignore[arg-type]

    def _latency(self, ms: float) -> None:
        s = self.latency
        s.ring.push(ms)
        s.since += 1
        if len(s.baseline) < BASELINE_N:
            s.baseline.append(_f32(ms))
            return
        base = s.baseline_median or 0.0
        if base <= 0:
            return
        p = self.params
        if self.ph_mean is None:
            self.ph_mean = sum(min(v / base, p["ph_clip"]) for v in s.baseline) / len(s.baseline)
        x = min(ms / base, p["ph_clip"])
        s.seq = max(0.0, s.seq + x - self.ph_mean - p["ph_delta"])

    def _failure(self, failed: float) -> None:
        s = self.failures
        s.ring.push(failed)
        s.since += 1
        if len(s.baseline) < BASELINE_N:
            s.baseline.append(failed)
            return
        p0 = sum(s.baseline) / len(s.baseline)
        s.seq = max(0.0, s.seq + failed - p0 - self.params["error_rise"] / 2)

    def _cost(self, usd: float) -> None:
        s = self.cost
        s.ring.push(usd)
        s.since += 1
        if len(s.baseline) < BASELINE_N:
            s.baseline.append(_f32(usd))

    # -- reading ----------------------------------------------------------------------------

    def _window(self, stream_since: int) -> dict[str, Any]:
        size = min(RECENT, stream_since)
        return {"first": self.n - size + 1, "last": self.n, "size": size}

    def alerts(self) -> list[Alert]:
        out = []
        for check in (self._latency_alert, self._error_alert, self._quality_alert, self._cost_alert):
            alert = check()
            if alert is not None:
                out.append(alert)
        return out

    def _latency_alert(self) -> Alert | None:
        s, p = self.latency, self.params
        if s.since < RULES[DriftType.LATENCY].min_samples:
            return None
        values = s.ring.ordered()
        recent, before = values[-RECENT:], values[:-RECENT][-BEFORE:]
        base, now, prior = s.baseline_median, _median(recent), _median(before)
        if not base or now is None:
            return None
        fired = []
        if now > p["ratio"] * base:
            fired.append("baseline_ratio")
        if prior and len(before) >= RECENT and now > (1 + p["slower"]) * prior:
            fired.append("recent_vs_before")
        if s.seq > p["ph_lambda"]:
            fired.append("page_hinkley")
        if len(fired) < RULES[DriftType.LATENCY].agree:
            return None
        ratio = now / base
        figures = {
            "baseline_ms": round(base, 5),
            "recent_ms": round(now, 5),
            "before_ms": None if prior is None else round(prior, 5),
            "ratio": round(ratio, 4),
            "ph_statistic": round(s.seq, 3),
            "recent_n": len(recent),
            "before_n": len(before),
        }
        return Alert(DriftType.LATENCY, _clamp(ratio - 1.0), tuple(fired), figures, self._window(s.since))

    def _error_alert(self) -> Alert | None:
        s, p = self.failures, self.params
        if s.since < RULES[DriftType.ERRORS].min_samples:
            return None
        recent = s.ring.ordered()[-RECENT:]
        base = sum(s.baseline) / len(s.baseline)
        rate = sum(recent) / len(recent)
        fired = []
        if rate > base + p["error_rise"]:
            fired.append("error_threshold")
        if s.seq > p["cusum_h"]:
            fired.append("bernoulli_cusum")
        if len(fired) < RULES[DriftType.ERRORS].agree:
            return None
        rise = rate - base
        figures = {
            "baseline_error_rate": round(base, 4),
            "recent_error_rate": round(rate, 4),
            "cusum": round(s.seq, 3),
            "recent_n": len(recent),
        }
        return Alert(DriftType.ERRORS, _clamp(0.4 + (rise - 0.05) * 4), tuple(fired), figures, self._window(s.since))

    def _quality_alert(self) -> Alert | None:
        if len(self.quality) < RULES[DriftType.QUALITY].min_samples:
            return None
        values = self.quality.ordered()
        rate = sum(values) / len(values)
        floor = self.params["quality_floor"]
        if rate >= floor:
            return None
        figures = {"pass_rate": round(rate, 4), "threshold": floor, "checks": len(values)}
        window = {"first": self.n - len(values) + 1, "last": self.n, "size": len(values)}
        return Alert(DriftType.QUALITY, _clamp(0.4 + (floor - rate) * 4), ("quality_threshold",), figures, window)

    def _cost_alert(self) -> Alert | None:
        s = self.cost
        if s.since < RULES[DriftType.COST].min_samples:
            return None
        base = s.baseline_median
        if not base or base <= 0:  # undefined: nothing is priced
            return None
        now = _median(s.ring.ordered()[-RECENT:]) or 0.0
        if now <= (1 + self.params["cost_rise"]) * base:
            return None
        ratio = now / base
        figures = {"baseline_usd": base, "recent_usd": now, "ratio": round(ratio, 4)}
        return Alert(DriftType.COST, _clamp((ratio - 1.0) / 0.75), ("cost_ratio",), figures, self._window(s.since))

    def rebaseline(self, type: DriftType | str | None = None) -> None:
        """The recent level becomes the baseline: the same drift is not raised again."""
        kinds = [DriftType(type)] if type is not None else list(DriftType)
        for kind in kinds:
            if kind == DriftType.QUALITY:
                self.quality = Ring(QUALITY_RING)
                continue
            s = {DriftType.LATENCY: self.latency, DriftType.ERRORS: self.failures, DriftType.COST: self.cost}[kind]
            s.ring.keep_last(RECENT)
            s.baseline = s.ring.ordered()[:BASELINE_N]
            s.since = len(s.ring)
            s.seq = 0.0
            if kind == DriftType.LATENCY:
                self.ph_mean = None

    def summary(self) -> dict[str, Any]:
        lat = self.latency.ring.ordered()[-RECENT:]
        fails = self.failures.ring.ordered()[-RECENT:]
        costs = self.cost.ring.ordered()[-RECENT:]
        quality = self.quality.ordered()
        base = self.latency.baseline_median
        now = _median(lat)
        return {
            "points": self.n,
            "latency": {
                "baseline_ms": base,
                "recent_ms": now,
                "ratio": round(now / base, 4) if base and now is not None else None,
                "page_hinkley": round(self.latency.seq, 3),
                "samples": self.latency.since,
            },
            "errors": {
                "baseline_rate": (sum(self.failures.baseline) / len(self.failures.baseline))
                if self.failures.baseline
                else None,
                "recent_rate": (sum(fails) / len(fails)) if fails else None,
                "samples": self.failures.since,
            },
            "quality": {"pass_rate": (sum(quality) / len(quality)) if quality else None, "checks": len(quality)},
            "cost": {
                "baseline_usd": self.cost.baseline_median,
                "recent_usd": _median(costs),
                "samples": self.cost.since,
            },
            "alerts": [a.type.value for a in self.alerts()],
        }

    # -- persistence ------------------------------------------------------------------------

    def to_json(self) -> str:
        def stream(s: _Stream) -> dict[str, Any]:
            return {"ring": s.ring.dump(), "baseline": s.baseline, "seq": s.seq, "since": s.since}

        return json.dumps(
            {
                "v": 1,
                "params": self.params,
                "n": self.n,
                "latency": stream(self.latency),
                "failures": stream(self.failures),
                "cost": stream(self.cost),
                "quality": self.quality.dump(),
                "quality_n": self.quality_n,
                "ph_mean": self.ph_mean,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ArtifactDrift:
        data = json.loads(text)
        if data.get("v") != 1:
            raise ValueError("unknown drift state version")
        self = cls(**data["params"])
        self.n = int(data["n"])

        def stream(d: dict[str, Any]) -> _Stream:
            values = array("f", d["baseline"])  # the same float32 precision the ring keeps
            return _Stream(Ring.load(RING, d["ring"]), list(values), float(d["seq"]), int(d["since"]))

        self.latency, self.failures, self.cost = stream(data["latency"]), stream(data["failures"]), stream(data["cost"])
        self.quality = Ring.load(QUALITY_RING, data["quality"])
        self.quality_n = int(data["quality_n"])
        self.ph_mean = data["ph_mean"]
        return self


def _f32(value: float) -> float:
    """As the rings keep it, so that a state read back decides exactly as before."""
    return array("f", [value])[0]


def _usable(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
