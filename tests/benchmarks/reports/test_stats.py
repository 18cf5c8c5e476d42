"""The statistics engine: exact figures on known samples, exact pooling of per-invocation summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries, speedup, summarize


def test_summarize_matches_numpy_on_known_runs() -> None:
    blocks = [[10.0, 11.0, 12.0, 13.0], [10.5, 11.5, 12.5, 30.0]]
    s = summarize(blocks)
    allv = np.array(blocks).ravel()
    assert s.runs == 8 and s.repeats == 2
    assert s.median_ms == pytest.approx(np.median(allv))
    assert s.p90_ms == pytest.approx(np.percentile(allv, 90))
    assert s.mean_ms == pytest.approx(allv.mean())
    assert s.std_ms == pytest.approx(allv.std())  # population std, as benchmark_model prints
    assert (s.min_ms, s.max_ms) == (10.0, 30.0)
    assert s.cv == pytest.approx(allv.std() / allv.mean())
    assert s.repeat_ms == [11.5, 12.0]
    assert s.repeat_spread == pytest.approx(0.5 / 11.75)


def test_noise_flags() -> None:
    quiet = summarize([[10.0, 10.1, 9.9, 10.0], [10.0, 10.05, 9.95, 10.0]])
    assert not quiet.noisy and quiet.noise_reasons == []
    scattered = summarize([[10.0, 20.0, 10.0, 20.0]])
    assert scattered.noisy and "runs scatter" in scattered.noise_reasons[0]
    drifting = summarize([[10.0, 10.0, 10.1], [12.0, 12.0, 12.1]], cv_limit=0.5)
    assert drifting.noisy and drifting.noise_reasons == [f"repeats disagree: spread {drifting.repeat_spread:.1%} > 10%"]


def test_summarize_rejects_empty_and_bad_input() -> None:
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([[1.0, float("nan")]])


def test_pooling_per_invocation_summaries_is_exact() -> None:
    rng = np.random.default_rng(0)
    parts_data = [rng.gamma(9.0, 2.0, size=n) for n in (50, 75, 20)]
    parts = [SummaryPart(len(d), d.mean(), d.std(), d.min(), d.max()) for d in parts_data]
    s = pool_summaries(parts)
    allv = np.concatenate(parts_data)
    assert s.runs == allv.size and s.repeats == 3
    assert s.mean_ms == pytest.approx(allv.mean())
    assert s.std_ms == pytest.approx(allv.std())
    assert (s.min_ms, s.max_ms) == (allv.min(), allv.max())
    # neither the median of all runs nor a p90 can be known from summaries: not estimated
    assert s.median_ms is None and s.p90_ms is None
    assert s.repeat_ms == pytest.approx([d.mean() for d in parts_data])


def test_pooling_single_summary_keeps_its_printed_median() -> None:
    s = pool_summaries([SummaryPart(25, 145.528, 13.583, 140.071, 195.121, median_ms=141.253)])
    assert s.median_ms == 141.253 and s.p90_ms is None
    assert s.repeat_ms == [141.253]
    s = pool_summaries([SummaryPart(3, 1.0, None, None, None)])
    assert math.isnan(s.std_ms) and math.isnan(s.cv) and math.isnan(s.min_ms)


def test_speedup_ratio_and_range() -> None:
    r = speedup([20.0, 22.0, 21.0], [10.0, 10.5])
    assert r.ratio == pytest.approx(21.0 / 10.25)
    assert r.low == pytest.approx(20.0 / 10.5) and r.high == pytest.approx(22.0 / 10.0) and r.pairs == 6
    one = speedup([20.0], [10.0])
    assert one.ratio == one.low == one.high == 2.0 and one.pairs == 1
    with pytest.raises(ValueError):
        speedup([], [1.0])
