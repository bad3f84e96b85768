"""The statistics a promotion rests on, standard library only. Incumbent and candidate run
in interleaved rounds, back to back, so the test is paired: a Wilcoxon signed-rank test on
each round's log time ratio. (Canary judges such as Kayenta compare two unpaired samples
with a Mann-Whitney U test; pairing cancels a slow patch of the machine within the round,
where unpaired samples would carry it as spread, or as a false gain.)"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedTest:
    n: int
    gain: float  # 1 - exp(median log(b/a)): the typical per-round speed-up of b over a
    w_plus: float
    z: float
    p_less: float  # one-sided Wilcoxon signed-rank: b's rounds tend to be faster than a's


def paired_log_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """log(b_i / a_i) per round: each pair ran back to back, so a slow patch of the machine
    cancels within the pair instead of widening both samples."""
    if len(a) != len(b) or not a:
        raise ValueError("paired samples need the same number of rounds")
    if not all(math.isfinite(x) and x > 0 for x in (*a, *b)):
        raise ValueError("paired samples must be positive finite times")
    return [math.log(y / x) for x, y in zip(a, b, strict=True)]


def wilcoxon_less(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """One-sided Wilcoxon signed-rank on the rounds' log ratios (normal approximation with
    tie correction, zeros dropped): is b faster than a round by round?"""
    logs = paired_log_ratios(a, b)
    gain = 1.0 - math.exp(statistics.median(logs))
    d = [x for x in logs if x != 0.0]
    n = len(d)
    if n == 0:
        return PairedTest(len(logs), gain, 0.0, 0.0, 0.5)
    order = sorted(range(n), key=lambda i: abs(d[i]))
    ranks = [0.0] * n
    ties = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and abs(d[order[j + 1]]) == abs(d[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    w_plus = sum(r for r, x in zip(ranks, d, strict=True) if x > 0)  # rounds where b was slower
    mean = n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - ties / 48
    if variance <= 0:
        return PairedTest(len(logs), gain, w_plus, 0.0, 0.5)
    z = (w_plus - mean + 0.5) / math.sqrt(variance)  # small W+ (b rarely slower) is evidence
    return PairedTest(len(logs), gain, w_plus, z, statistics.NormalDist().cdf(z))
