"""The statistics engine shared by host and device measurements.

Host timings arrive as individual run times (K repeats of N runs each); ``benchmark_model`` gives one summary
per invocation (count, mean, std, min, max and, on LiteRT builds, the median). Both end in ``LatencyStats``.

Conventions: times in milliseconds; ``std_ms`` is the population standard deviation (what ``benchmark_model``
prints, so summaries pool exactly); ``p90_ms`` is the linear-interpolation percentile; ``cv = std / mean``.
A measurement is flagged noisy when its runs scatter (CV above ``cv_limit``) or its repeats disagree (the
spread ``(max - min) / median`` of the per-repeat medians above ``repeat_spread_limit``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

CV_LIMIT = 0.10
REPEAT_SPREAD_LIMIT = 0.10


@dataclass
class LatencyStats:
    runs: int
    repeats: int
    median_ms: float | None
    p90_ms: float | None
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    cv: float
    repeat_ms: list[float] = field(default_factory=list)  # one central figure per repeat (median, else mean)
    repeat_spread: float | None = None
    noisy: bool = False
    noise_reasons: list[str] = field(default_factory=list)


@dataclass
class SummaryPart:
    """One ``benchmark_model`` invocation's own summary (ms)."""

    count: int
    mean_ms: float
    std_ms: float | None
    min_ms: float | None
    max_ms: float | None
    median_ms: float | None = None


def _judge_noise(s: LatencyStats, cv_limit: float, repeat_spread_limit: float) -> None:
    reasons = []
    if s.cv > cv_limit:
        reasons.append(f"runs scatter: CV {s.cv:.1%} > {cv_limit:.0%}")
    if s.repeat_spread is not None and s.repeat_spread > repeat_spread_limit:
        reasons.append(f"repeats disagree: spread {s.repeat_spread:.1%} > {repeat_spread_limit:.0%}")
    s.noise_reasons = reasons
    s.noisy = bool(reasons)


def _spread(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    centre = float(np.median(values))
    return (max(values) - min(values)) / centre if centre > 0 else None


def summarize(
    repeats: Sequence[Sequence[float]],
    cv_limit: float = CV_LIMIT,
    repeat_spread_limit: float = REPEAT_SPREAD_LIMIT,
) -> LatencyStats:
    """Statistics of individual run times (ms), given as K repeats of N runs."""
    groups = [np.asarray(r, dtype=np.float64) for r in repeats if len(r)]
    if not groups:
        raise ValueError("no timed runs to summarise")
    allv = np.concatenate(groups)
    if not np.all(np.isfinite(allv)) or np.any(allv < 0):
        raise ValueError("run times must be finite and non-negative")
    mean = float(allv.mean())
    std = float(allv.std())
    repeat_ms = [float(np.median(g)) for g in groups]
    s = LatencyStats(
        runs=int(allv.size),
        repeats=len(groups),
        median_ms=float(np.median(allv)),
        p90_ms=float(np.percentile(allv, 90)),
        mean_ms=mean,
        std_ms=std,
        min_ms=float(allv.min()),
        max_ms=float(allv.max()),
        cv=std / mean if mean > 0 else 0.0,
        repeat_ms=repeat_ms,
        repeat_spread=_spread(repeat_ms),
    )
    _judge_noise(s, cv_limit, repeat_spread_limit)
    return s


def pool_summaries(
    parts: Sequence[SummaryPart],
    cv_limit: float = CV_LIMIT,
    repeat_spread_limit: float = REPEAT_SPREAD_LIMIT,
) -> LatencyStats:
    """Combine per-invocation summaries exactly where the data allow it.

    Mean, standard deviation, minimum and maximum of all runs pool exactly. The median of all runs is known only
    for a single invocation that printed it; the 90th percentile is never printed, so it stays None.
    """
    parts = [p for p in parts if p.count > 0]
    if not parts:
        raise ValueError("no timed runs to summarise")
    n = sum(p.count for p in parts)
    mean = sum(p.count * p.mean_ms for p in parts) / n
    if all(p.std_ms is not None for p in parts):
        second = sum(p.count * (p.std_ms**2 + p.mean_ms**2) for p in parts) / n  # type: ignore[operator]
        std = math.sqrt(max(second - mean**2, 0.0))
    else:
        std = float("nan")
    mins = [p.min_ms for p in parts]
    maxs = [p.max_ms for p in parts]
    median = parts[0].median_ms if len(parts) == 1 else None
    repeat_ms = [p.median_ms if p.median_ms is not None else p.mean_ms for p in parts]
    s = LatencyStats(
        runs=n,
        repeats=len(parts),
        median_ms=median,
        p90_ms=None,
        mean_ms=mean,
        std_ms=std,
        min_ms=min(mins) if all(v is not None for v in mins) else float("nan"),  # type: ignore[type-var]
        max_ms=max(maxs) if all(v is not None for v in maxs) else float("nan"),  # type: ignore[type-var]
        cv=std / mean if mean > 0 and math.isfinite(std) else float("nan"),
        repeat_ms=repeat_ms,
        repeat_spread=_spread(repeat_ms),
    )
    _judge_noise(s, cv_limit, repeat_spread_limit)
    return s


@dataclass
class Ratio:
    """``baseline / candidate`` of the central figures, with the range over every pair of repeats."""

    ratio: float
    low: float
    high: float
    pairs: int


def speedup(baseline_repeats: Sequence[float], candidate_repeats: Sequence[float]) -> Ratio:
    """Speed-up of the candidate over the baseline from per-repeat central figures (ms).

    ``ratio`` is median(baseline) / median(candidate); ``low``/``high`` are the extremes of the ratio over all
    repeat pairs, so one repeat on each side gives no spread (low == high == ratio).
    """
    a = [x for x in baseline_repeats if x > 0]
    b = [x for x in candidate_repeats if x > 0]
    if not a or not b:
        raise ValueError("speed-up needs positive times on both sides")
    pair_ratios = [x / y for x in a for y in b]
    return Ratio(
        ratio=float(np.median(a) / np.median(b)),
        low=min(pair_ratios),
        high=max(pair_ratios),
        pairs=len(pair_ratios),
    )
