"""The export benchmark: a real export and host timing of a small variant, per-variant results, --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.benchmarks.host_latency.export_bench import main

ARCH = "shufflenet_v1_g3_0.25x_cifar"


@pytest.mark.slow
def test_bench_writes_each_variant_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    assert main(["--variants", ARCH, "--formats", "onnx", "tflite", "--runs", "3", "--output", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [r["arch"] for r in rows] == [ARCH] and rows[0]["ok"]
    files = {(f["format"], f["precision"]) for f in rows[0]["files"]}
    assert {("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8")} <= files
    assert all(f["median_ms"] > 0 and f["size_bytes"] > 0 for f in rows[0]["files"])
    r = rows[0]["ratios"]
    assert 0 < r["int8_vs_fp32_size"] < 1  # on a 70k-parameter net the per-channel scales weigh a lot
    assert rows[0]["export_seconds"] > 0 and rows[0]["step_seconds"]
    assert ARCH in out.with_suffix(".md").read_text()

    # A variant that fails is a row of the result (exit 1), and --resume keeps the measured one untouched.
    args = ["--variants", ARCH, "no_such_net", "--formats", "onnx", "--output", str(out), "--resume"]
    assert main(args) == 1
    again = json.loads(out.with_suffix(".json").read_text())
    assert again[0] == rows[0] and again[1]["arch"] == "no_such_net" and not again[1]["ok"]
    assert "unknown variant" in again[1]["error"]
    assert "kept from the earlier run" in capsys.readouterr().err
