"""The benchmark_model output parser against every recorded form in ../shared/fixtures/benchmark_model."""

from __future__ import annotations

from pathlib import Path

import pytest
from shufflenet.benchmarks.bm_output import delegate_unavailable, parse_output, parse_stats_line, strip_prefix


def test_linux_output_plain_lines_and_old_memory_line(bm_fixtures: Path) -> None:
    p = parse_output((bm_fixtures / "linux_42507.txt").read_text())
    assert p.ok and p.problem is None
    s = p.runs
    assert (s.count, s.first_us, s.curr_us, s.min_us, s.max_us, s.avg_us, s.std_us) == (
        50, 32891, 33978, 32641, 34005, 33209.4, 450,
    )  # fmt: skip
    assert s.median_us is None and s.p5_us is None and not s.all_same
    assert p.warmup is None
    assert p.timings_form == "current"
    assert (p.init_us, p.first_inference_us, p.warmup_avg_us, p.inference_avg_us) == (855, 49060, 34825.1, 33209.4)
    assert p.memory_form == "peak" and p.memory_init_mb == 0 and p.memory_overall_mb == 12.8672


def test_logcat_prefixed_output(bm_fixtures: Path) -> None:
    p = parse_output((bm_fixtures / "android_logcat_56301.txt").read_text())
    assert p.ok
    s = p.runs
    assert (s.count, s.avg_us, s.min_us, s.max_us, s.std_us) == (75, 12167.6, 11787, 13649, 325)
    assert (p.init_us, p.first_inference_us, p.warmup_avg_us, p.inference_avg_us) == (126059, 32942, 12581.9, 12167.6)
    assert p.memory_form is None


def test_legacy_r113_output_with_scientific_notation(bm_fixtures: Path) -> None:
    p = parse_output((bm_fixtures / "legacy_r1.13_25904.txt").read_text())
    assert p.ok
    assert p.timings_form == "legacy"
    assert p.warmup_avg_us == pytest.approx(4.38533e6) and p.init_us == 31021 and p.inference_avg_us == 116375
    # the first statistics line is the single warm-up run, the last one the timed runs
    assert p.warmup.count == 1 and p.warmup.avg_us == 4385333
    s = p.runs
    assert (s.count, s.avg_us, s.std_us, s.min_us, s.max_us) == (50, 116375, 28964, 87415, 197387)
    assert p.first_inference_us is None


def test_percentiles_line(bm_fixtures: Path) -> None:
    p = parse_output((bm_fixtures / "percentiles_line.txt").read_text())
    assert p.ok
    assert (p.runs.count, p.runs.avg_us, p.runs.std_us) == (25, 145528, 13583)
    assert (p.runs.p5_us, p.runs.median_us, p.runs.p95_us) == (140545, 141253, 187533)
    assert p.timings_form is None and p.inference_avg_us is None


def test_all_same_form_and_newer_memory_lines(bm_fixtures: Path) -> None:
    readme = (bm_fixtures / "README.md").read_text()
    # The README documents these forms verbatim as templates; fill them with numbers.
    assert "`count=N curr=X(all same)`" in readme
    assert "Memory footprint delta from the start of the tool (MB): init=… overall=…" in readme
    assert "Overall peak memory footprint (MB) via periodic monitoring: …" in readme
    text = (
        "count=40 curr=2500(all same)\n"
        "Inference timings in us: Init: 1200, First inference: 3100, Warmup (avg): 2600, Inference (avg): 2500\n"
        "Memory footprint delta from the start of the tool (MB): init=3.125 overall=9.5\n"
        "Overall peak memory footprint (MB) via periodic monitoring: 14.0742\n"
    )
    p = parse_output(text)
    assert p.ok
    s = p.runs
    assert s.all_same and s.count == 40
    assert s.avg_us == s.min_us == s.max_us == s.median_us == 2500 and s.std_us == 0
    assert p.memory_form == "delta" and (p.memory_init_mb, p.memory_overall_mb) == (3.125, 9.5)
    assert p.peak_memory_mb == 14.0742


def test_every_fixture_also_parses_when_logcat_or_level_prefixed(bm_fixtures: Path) -> None:
    for name in ("linux_42507.txt", "legacy_r1.13_25904.txt", "percentiles_line.txt"):
        text = (bm_fixtures / name).read_text()
        plain = parse_output(text)
        logcat = parse_output("\n".join(f"11-27 18:00:00.123  4242  4242 I tflite  : {ln}" for ln in text.splitlines()))
        info = parse_output("\n".join(f"INFO: {ln}" for ln in text.splitlines()))
        assert plain.ok and logcat.ok and info.ok
        assert plain.runs == logcat.runs == info.runs
        assert plain.inference_avg_us == logcat.inference_avg_us == info.inference_avg_us


def test_strip_prefix() -> None:
    line = "05-30 15:16:46.365  3380  3380 I tflite  : count=75 first=12840"
    assert strip_prefix(line) == "count=75 first=12840"
    assert strip_prefix("INFO: count=3 curr=1") == "count=3 curr=1"
    assert strip_prefix("count=3 curr=1") == "count=3 curr=1"


def test_stats_line_variants() -> None:
    assert parse_stats_line("count=1 curr=4385333").avg_us == 4385333
    assert parse_stats_line("Min num runs: [50]") is None
    assert parse_stats_line("count=5 first=1") is None  # no avg: not a usable statistics line


def test_output_that_cannot_be_parsed_is_kept_and_reported(bm_fixtures: Path) -> None:
    garbage = "STARTING!\nsomething entirely different\n"
    p = parse_output(garbage)
    assert not p.ok and p.runs is None
    assert "no 'count=' statistics line" in p.problem
    assert p.raw == garbage
    # a timings line without its statistics line is not guessed from
    lines = (bm_fixtures / "linux_42507.txt").read_text().splitlines()
    p = parse_output("\n".join(ln for ln in lines if not ln.startswith("count=")))
    assert not p.ok and p.runs is None and p.inference_avg_us == 33209.4
    assert "no 'count=' statistics line" in p.problem
    assert not parse_output("").ok


def test_statistics_that_contradict_the_timings_line_are_reported(bm_fixtures: Path) -> None:
    text = (bm_fixtures / "linux_42507.txt").read_text().replace("avg=33209.4", "avg=43209.4")
    p = parse_output(text)
    assert not p.ok and "disagrees" in p.problem


def test_delegate_failure_lines() -> None:
    p = parse_output("STARTING!\nLoaded model m.tflite\nFailed to apply GPU delegate.\nBenchmarking failed.\n")
    assert not p.ok
    assert delegate_unavailable(p) == "Failed to apply GPU delegate."
    assert "Benchmarking failed." in p.failure_lines
    p = parse_output("NNAPI acceleration is unsupported on this platform.\n")
    assert delegate_unavailable(p) is not None
    p = parse_output("Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.")
    assert p.delegate_unused == ["GPU"] and delegate_unavailable(p) is None


def test_op_profiling_summary_table(bm_fixtures: Path) -> None:
    # The table layout of TFLite's profiler summary (columns as printed with --enable_op_profiling=true).
    table = (
        "============================== Summary by node type ==============================\n"
        "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n"
        "\t                 CONV_2D\t       33\t     9.120\t    71.250%\t    71.250%\t     0.000\t       33\n"
        "\t       DEPTHWISE_CONV_2D\t       16\t     2.560\t    20.000%\t    91.250%\t     0.000\t       16\n"
        "\t               TRANSPOSE\t       15\t     1.120\t     8.750%\t   100.000%\t     0.000\t       15\n"
        "\n"
        "Timings (microseconds): count=50 first=12000 curr=12800 min=12000 max=13000 avg=12800 std=100\n"
    )
    p = parse_output((bm_fixtures / "linux_42507.txt").read_text() + table)
    assert p.ok and p.runs.avg_us == 33209.4  # the profiler's own "Timings" line is not the benchmark's
    assert [r.node_type for r in p.op_summary] == ["CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE"]
    assert p.op_summary[0].count == 33 and p.op_summary[0].avg_ms == 9.12 and p.op_summary[2].cdf_pct == 100.0
