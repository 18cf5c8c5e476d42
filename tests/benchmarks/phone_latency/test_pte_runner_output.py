"""The ``executor_runner`` output parser, on real outputs published by others (pte_runner_outputs/README.md)."""

from __future__ import annotations

from pathlib import Path

from shufflenet.benchmarks.phone_latency.pte_runner_output import parse_runner_output

OUTPUTS = Path(__file__).parent / "pte_runner_outputs"


def test_total_time_line_is_read() -> None:
    text = (OUTPUTS / "executorch_docs_mv2_xnnpack_fp32.txt").read_text()
    p = parse_runner_output(text)
    assert p.ok and p.problem is None and p.failure_lines == []
    assert p.timings is not None
    assert p.timings.count == 1 and p.timings.total_ms == 15.013292 and p.timings.mean_ms == 15.013292
    # no per-run lines in this runner's output: nothing is derived from the one total
    assert p.timings.iterations_ms == [] and p.timings.median_ms is None and p.timings.std_ms is None
    assert p.raw == text and p.to_dict()["ok"] is True


def test_old_runner_without_timing_is_not_a_result() -> None:
    p = parse_runner_output((OUTPUTS / "executorch_issue_1231_resnet18_untimed.txt").read_text())
    assert not p.ok and p.timings is None
    assert "without a count or a time" in p.problem


def test_android_standard_output_alone_is_not_a_result() -> None:
    """On a phone the runner's log lines go to logcat: its standard output (the output tensor) holds no timing."""
    p = parse_runner_output((OUTPUTS / "executorch_issue_4005_android_stdout.txt").read_text())
    assert not p.ok and p.timings is None
    assert "logcat" in p.problem


def test_every_fixture_is_listed_in_its_readme() -> None:
    readme = (OUTPUTS / "README.md").read_text()
    files = sorted(p.name for p in OUTPUTS.glob("*.txt"))
    assert files and all(f"`{f}`" in readme for f in files)
