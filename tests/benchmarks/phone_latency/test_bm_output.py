"""The benchmark_model output parser against every recorded form in ../shared/fixtures/benchmark_model."""

from __future__ import annotations

from pathlib import Path

import pytest
from shufflenet.benchmarks.phone_latency.bm_output import (
    delegate_unavailable,
    parse_output,
    parse_stats_line,
    strip_prefix,
)


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


# The layout of TFLite's profiler output with --enable_op_profiling=true, as benchmark_model prints it after the
# memory lines: first the initialisation profile, then the timed runs' profile, each ending in its own
# "Summary by node type" table and a "Timings (microseconds)" line of the profiler's own.
_INIT_PROFILE = (
    "Profiling Info for Benchmark Initialization:\n"
    "============================== Run Order ==============================\n"
    "\t             [node type]\t          [first]\t  [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t"
    "[Name]\n"
    "\t ModifyGraphWithDelegate\t          413.346\t   413.346\t 56.670%\t 56.670%\t  1748.000\t        1\t"
    "ModifyGraphWithDelegate/0\n"
    "\t         AllocateTensors\t          316.039\t   158.023\t 43.330%\t100.000%\t     0.000\t        2\t"
    "AllocateTensors/0\n"
    "\n"
    "Number of nodes executed: 2\n"
    "============================== Summary by node type ==============================\n"
    "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n"
    "\t ModifyGraphWithDelegate\t        1\t   413.346\t    56.670%\t    56.670%\t  1748.000\t        1\n"
    "\t         AllocateTensors\t        1\t   158.023\t    43.330%\t   100.000%\t     0.000\t        2\n"
    "\n"
    "Timings (microseconds): count=1 curr=729385\n"
    "Memory (bytes): count=0\n"
    "2 nodes observed\n"
    "\n\n\n"
)
_RUNS_PROFILE = (
    "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
    "============================== Run Order ==============================\n"
    "\t             [node type]\t          [first]\t  [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t"
    "[Name]\n"
    "\t             Vx Delegate\t           30.120\t    29.900\t 90.000%\t 90.000%\t     0.000\t        1\t"
    "[Identity]:33\n"
    "\n"
    "Number of nodes executed: 4\n"
    "============================== Summary by node type ==============================\n"
    "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]\n"
    "\t             Vx Delegate\t        1\t    29.900\t    90.000%\t    90.000%\t     0.000\t        1\n"
    "\t                 RESHAPE\t        1\t     2.000\t     6.020%\t    96.020%\t     0.000\t        1\n"
    "\t  Convert (NC, QS8, F32)\t        1\t     0.862\t     2.595%\t    98.615%\t     0.000\t        1\n"
    "\t                 SOFTMAX\t        1\t     0.460\t     1.385%\t   100.000%\t     0.000\t        1\n"
    "\n"
    "Timings (microseconds): count=50 first=33000 curr=33100 min=32600 max=34000 avg=33222 std=450\n"
    "Memory (bytes): count=0\n"
    "4 nodes observed\n"
)
_WARMUP_HEADER = (
    "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
)
_RUNS_HEADER = (
    "Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds."
)


@pytest.mark.parametrize("prefix", ["", "INFO: "])
def test_op_summary_is_the_timed_runs_table_only(bm_fixtures: Path, prefix: str) -> None:
    """The initialisation profile's table stays out of the per-op table; node types with spaces are rows too."""
    text = (bm_fixtures / "linux_42507.txt").read_text() + _INIT_PROFILE + _RUNS_PROFILE
    p = parse_output("\n".join(prefix + ln for ln in text.splitlines()))
    assert p.ok and p.runs.avg_us == 33209.4  # neither profiler "Timings" line is the benchmark's
    assert [r.node_type for r in p.op_summary] == ["Vx Delegate", "RESHAPE", "Convert (NC, QS8, F32)", "SOFTMAX"]
    vx = p.op_summary[0]
    assert (vx.count, vx.avg_ms, vx.avg_pct, vx.cdf_pct, vx.mem_kb, vx.times_called) == (1, 29.9, 90.0, 90.0, 0, 1)
    assert p.op_summary[-1].cdf_pct == 100.0
    assert [(r.node_type, r.times_called) for r in p.init_op_summary] == [
        ("ModifyGraphWithDelegate", 1), ("AllocateTensors", 2),
    ]  # fmt: skip


def test_space_aligned_summary_rows_with_spaces_in_node_types(bm_fixtures: Path) -> None:
    """Builds that pad with spaces instead of tabs: the row after a spaced node type is not lost either."""
    table = _RUNS_PROFILE.replace("\t", "    ")
    p = parse_output((bm_fixtures / "linux_42507.txt").read_text() + table)
    assert [r.node_type for r in p.op_summary] == ["Vx Delegate", "RESHAPE", "Convert (NC, QS8, F32)", "SOFTMAX"]
    assert p.ok and p.init_op_summary == []


def test_phase_headers_pick_the_timed_runs_line(bm_fixtures: Path) -> None:
    warm, runs, timings = (bm_fixtures / "legacy_r1.13_25904.txt").read_text().splitlines()
    p = parse_output("\n".join([_WARMUP_HEADER, warm, "", _RUNS_HEADER, runs, "", timings]))
    assert p.ok and p.warmup.count == 1 and p.runs.count == 50 and p.runs.avg_us == 116375


def test_failure_after_warmup_is_not_a_result(bm_fixtures: Path) -> None:
    """A warm-up statistics line followed by a failure in the timed runs is reported as a failure."""
    stats_line = (bm_fixtures / "linux_42507.txt").read_text().splitlines()[0]
    failed = ["ERROR: Node number 12 (CONV_2D) failed to invoke.", "Benchmarking failed."]
    p = parse_output("\n".join([_WARMUP_HEADER, stats_line, "", _RUNS_HEADER, *failed]))
    assert not p.ok and p.runs is None and p.warmup.avg_us == 33209.4
    assert "failed to invoke" in p.problem
    # without "Benchmarking failed.": still no statistics for the timed runs, and the warm-up's do not stand in
    p = parse_output("\n".join([_WARMUP_HEADER, stats_line, "", _RUNS_HEADER, "Segmentation fault"]))
    assert not p.ok and p.runs is None and "Segmentation fault" in p.problem
    p = parse_output("\n".join([_WARMUP_HEADER, stats_line, "", _RUNS_HEADER]))
    assert not p.ok and p.runs is None and "none for the timed runs" in p.problem
    # builds without phase headers (r1.13): the warm-up's single-run line, then the failure
    warm = (bm_fixtures / "legacy_r1.13_25904.txt").read_text().splitlines()[0]
    p = parse_output("\n".join([warm, *failed]))
    assert not p.ok and "failed to invoke" in p.problem
    # the timed runs' statistics line of a run that failed, then the tool's verdict
    text = (bm_fixtures / "linux_42507.txt").read_text() + "Benchmarking failed.\n"
    p = parse_output(text)
    assert not p.ok and "Benchmarking failed." in p.problem
