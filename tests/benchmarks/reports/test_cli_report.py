"""`shufflenet-bench report`: tables and plots from saved results, and the comparison of two files."""

from __future__ import annotations

from pathlib import Path

from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.host_latency.table8 import Table8Config, run_table8_host
from shufflenet.benchmarks.reports.results import BenchReport, write_json


def _measure(tmp_path: Path, name: str) -> Path:
    """A real (tiny) measurement saved to a results file."""
    cfg = Table8Config(runtimes=["pytorch"], models=["ShuffleNet 0.5x"], sizes=[(224, 224)], warmup=1, runs=3,
                       repeats=2, cache=tmp_path / "cache")  # fmt: skip
    rep = run_table8_host(cfg)
    path = tmp_path / name
    write_json(rep, path)
    return path


def test_report_and_compare(tmp_path: Path, capsys) -> None:
    a, b = _measure(tmp_path, "a.json"), _measure(tmp_path, "b.json")
    out = tmp_path / "rep"
    rc = main(["report", str(a), str(b), "--compare", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0
    for name in ("report.md", "report.csv", "report_latency.png", "report_latency_vs_macs.png", "compare.md"):
        assert (out / name).is_file(), name
    cmp_md = (out / "compare.md").read_text()
    row = next(ln for ln in cmp_md.splitlines() if ln.startswith("| ShuffleNet 0.5x"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "pytorch" and cells[-2].endswith("x")
    low, high = (float(v) for v in cells[-1].split("–"))  # 2 repeats on each side: a range of 4 pair ratios
    assert low <= float(cells[-2][:-1]) <= high
    assert "### Table 8 reproduced on" in stdout and "## Comparison" in stdout


def test_report_errors_are_one_line(tmp_path: Path, capsys) -> None:
    a = _measure(tmp_path, "a.json")
    assert main(["report", str(a), "--compare", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == "error: --compare takes exactly two results files, got 1"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["report", str(bad)]) == 2
    assert "not a shufflenet-bench results file" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err


def test_report_of_an_empty_results_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    write_json(BenchReport(kind="host"), path)
    assert main(["report", str(path), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report_latency.png").is_file()
