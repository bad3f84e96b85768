"""The statistics a promotion rests on, standard library only: the Mann-Whitney U test
(as canary judges such as Kayenta use it to compare a baseline and a candidate run side by
side) and the relative gap between two samples' medians."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UTest:
    u: float  # U of the first sample
    z: float
    p_less: float  # one-sided: P(first sample's values tend to be smaller) under the null
    n1: int
    n2: int


def mann_whitney(first: Sequence[float], second: Sequence[float]) -> UTest:
    """One-sided Mann-Whitney U: is `first` stochastically smaller than `second`? Normal
    approximation with tie correction and continuity correction (meant for >= 20 a side)."""
    n1, n2 = len(first), len(second)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need values")
    values = [(v, 0) for v in first] + [(v, 1) for v in second]
    if not all(math.isfinite(v) for v, _ in values):
        raise ValueError("samples must be finite numbers")
    values.sort(key=lambda item: item[0])
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1][0] == values[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, values, strict=True) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return UTest(u1, 0.0, 0.5 if u1 == mean else (0.0 if u1 < mean else 1.0), n1, n2)
    z = (u1 - mean + 0.5) / math.sqrt(variance)  # +0.5: continuity, towards the null
    return UTest(u1, z, statistics.NormalDist().cdf(z), n1, n2)


def median_gain(incumbent: Sequence[float], candidate: Sequence[float]) -> float:
    """1 - median(candidate) / median(incumbent): 0.25 means 25% faster; negative is slower."""
    base = statistics.median(incumbent)
    if base <= 0:
        return 0.0
    return 1.0 - statistics.median(candidate) / base
