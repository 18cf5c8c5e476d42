"""Results schema: JSON round trip (atomic), CSV, Markdown, comparisons, plots."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from shufflenet.benchmarks.reports.plots import plot_latency, plot_latency_vs_macs
from shufflenet.benchmarks.reports.results import (
    CSV_COLUMNS,
    SCHEMA,
    BenchReport,
    compare_runs,
    comparison_markdown,
    failed_result,
    read_json,
    result_from_stats,
    to_csv,
    to_markdown,
    write_json,
)
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries, summarize

REQUIRED = ("target", "runtime", "format", "precision", "path", "threads", "delegate", "runs", "median_ms", "p90_ms",
            "mean_ms", "std_ms", "min_ms", "max_ms")  # fmt: skip


def _host_result(label: str, macs: int, times: list[list[float]], threads: int = 1):
    return result_from_stats(
        summarize(times), target="host", runtime="onnxruntime", format="onnx", precision="fp32",
        path=f"{label}.onnx", threads=threads, delegate="cpu", arch=label, label=label, input_size=[224, 224],
        macs=macs,
    )  # fmt: skip


def _report() -> BenchReport:
    rep = BenchReport(kind="host", environment={"machine": "test machine"})
    rep.results.append(_host_result("a", 38_000_000, [[5.0, 5.2, 5.1], [5.05, 5.15, 5.1]]))
    rep.results.append(_host_result("b", 140_000_000, [[12.0, 12.4, 12.2]], threads=2))
    dev = pool_summaries([SummaryPart(50, 33.2094, 0.45, 32.641, 34.005)])
    rep.results.append(result_from_stats(dev, target="FAKE0001", runtime="benchmark_model", format="tflite",
                                         precision="int8", path="a_int8.tflite", threads=1, delegate="xnnpack",
                                         arch="a", macs=38_000_000))  # fmt: skip
    rep.results.append(failed_result("delegate gpu not available: Failed to apply GPU delegate.", target="FAKE0001",
                                     runtime="benchmark_model", format="tflite", precision="fp32",
                                     path="a_float32.tflite", threads=1, delegate="gpu"))  # fmt: skip
    rep.errors.append("a_float32.tflite threads=1 delegate=gpu: delegate gpu not available")
    return rep


def test_json_round_trip_is_atomic_and_has_the_schema(tmp_path: Path) -> None:
    rep = _report()
    path = tmp_path / "out" / "r.json"
    write_json(rep, path)
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp file left behind
    d = json.loads(path.read_text())
    assert d["schema"] == SCHEMA and d["kind"] == "host" and d["environment"]["machine"] == "test machine"
    for r in d["results"]:
        assert all(k in r for k in REQUIRED)
    assert d["results"][2]["p90_ms"] is None and d["results"][2]["median_ms"] is None  # never estimated
    back = read_json(path)
    assert back.results == rep.results and back.errors == rep.errors


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    rep = BenchReport(kind="android")
    rep.results.append(result_from_stats(pool_summaries([SummaryPart(3, 1.0, None, None, None)]), target="S",
                                         runtime="benchmark_model", format="tflite", precision="fp32", path="m",
                                         threads=1, delegate="cpu"))  # fmt: skip
    write_json(rep, tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["results"][0]["std_ms"] is None and d["results"][0]["cv"] is None


def test_read_json_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"schema": "something-else"}')
    with pytest.raises(ValueError, match="not a shufflenet-bench results file"):
        read_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        read_json(tmp_path / "y.json")


def test_csv_and_markdown() -> None:
    rep = _report()
    rows = list(csv.reader(io.StringIO(to_csv(rep.results))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 5
    assert rows[1][CSV_COLUMNS.index("input_size")] == "224x224"
    assert rows[3][CSV_COLUMNS.index("median_ms")] == ""  # device result without a printed median
    md = to_markdown(rep.results, title="T", environment=rep.environment)
    assert "Measured on: test machine" in md
    assert md.count("\n| host ") == 2 and md.count("\n| FAKE0001 ") == 1
    assert "failed: delegate gpu not available" in md


def test_compare_gives_speedups_with_spread() -> None:
    base = [_host_result("a", 1, [[10.0, 10.0], [11.0, 11.0]])]
    new = [_host_result("a", 1, [[5.0, 5.0], [5.5, 5.5]]), _host_result("z", 1, [[1.0]])]
    comps = compare_runs(base, new)
    assert len(comps) == 1
    c = comps[0]
    assert c.ratio == pytest.approx(10.5 / 5.25) and c.low == pytest.approx(10 / 5.5) and c.high == pytest.approx(2.2)
    md = comparison_markdown(comps, "base.json", "new.json")
    assert "2.00x" in md and "1.82–2.20" in md


def test_plots_are_png_files(tmp_path: Path) -> None:
    rep = _report()
    plot_latency(rep.results, tmp_path / "lat.png")
    plot_latency_vs_macs(rep.results, tmp_path / "macs.png")
    plot_latency([], tmp_path / "empty.png")
    for name in ("lat.png", "macs.png", "empty.png"):
        img = mpimg.imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 300
    assert not list(tmp_path.glob(".*tmp"))
