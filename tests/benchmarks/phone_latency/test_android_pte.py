"""`shufflenet-bench android --pte-runner`: the .pte path against the TEST DOUBLE of adb, which replays the real
runner outputs of pte_runner_outputs/ (README.md there cites them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.android import AndroidConfig, run_android

OUTPUTS = Path(__file__).parent / "pte_runner_outputs"


def _cfg(fake, runner: Path, artifacts: Path, **kw) -> AndroidConfig:
    base = dict(benchmark_model=None, pte_runner=runner, artifacts=artifacts, adb=str(fake.adb), threads=[1],
                warmup=3, runs=1, repeats=2, cooldown_s=0.0)  # fmt: skip
    base.update(kw)
    return AndroidConfig(**base)


def _pte_entries(export: Path) -> list[dict]:
    return [e for e in json.loads((export / "manifest.json").read_text())["artifacts"] if e["format"] == "executorch"]


@pytest.mark.slow
def test_pte_files_timed_with_the_users_runner(fake_devices, make_binary, small_export: Path) -> None:
    """Each .pte file of a real export, pushed with the runner, warmed up, then timed: the timing line is read from
    the runner's output (a runner whose logs go to its standard error: the published MobileNet V2 output)."""
    fake_devices.add(pte_outputs=[str(OUTPUTS / "executorch_docs_mv2_xnnpack_fp32.txt")], pte_warmup=3)
    rep = run_android(_cfg(fake_devices, make_binary(), small_export, threads=[1, 4]))
    ptes = _pte_entries(small_export)
    assert rep.errors == []
    assert [(r.path, r.threads) for r in rep.results] == [(e["path"], t) for e in ptes for t in (1, 4)]
    for r in rep.results:
        assert r.status == "ok" and r.runtime == "executor_runner" and r.format == "executorch"
        assert r.mean_ms == pytest.approx(15.013292) and r.runs == 2 and r.repeats == 2
        assert r.median_ms is None  # one total per invocation: no median is made up
        assert len(r.details["repeats"]) == 2 and "15.013292 ms" in r.details["repeats"][0]["raw_output"]
    calls = [" ".join(c) for c in fake_devices.calls()]
    assert any("--num_executions=3" in c and "--cpu_threads=4" in c and "taskset f0" in c for c in calls)
    assert any("--num_executions=1 " in c for c in calls)
    assert sum("logcat -c" in c for c in calls) == len(rep.results) * 2
    pushed = {c[-1] for c in fake_devices.calls() if "push" in c}
    assert "/data/local/tmp/executor_runner" in pushed
    assert {f"/data/local/tmp/{e['path']}" for e in ptes} <= pushed
    assert not any(r.format == "tflite" for r in rep.results)  # no --benchmark-model: the .tflite files are left


@pytest.mark.slow
def test_runner_output_without_timing_is_kept_not_guessed(fake_devices, make_binary, small_export: Path) -> None:
    """The Android build's standard output holds only the output tensor; with no timing in logcat either, the
    configuration is 'unparsed', the raw text kept, and the command exits 1."""
    fake_devices.add(pte_outputs=[str(OUTPUTS / "executorch_issue_4005_android_stdout.txt")], pte_warmup=3)
    rep = run_android(_cfg(fake_devices, make_binary(), small_export, repeats=1))
    assert rep.results and all(r.status == "unparsed" for r in rep.results)
    assert "logcat" in rep.results[0].error
    assert rep.results[0].details["repeats"][0]["raw_output"].startswith("Output 0: tensor(sizes=[1, 1000]")


def test_pte_runner_must_exist(fake_devices, small_export_or_tmp: Path, capsys) -> None:
    rc = main(["android", "--pte-runner", "/nonexistent/executor_runner", "--artifacts", str(small_export_or_tmp),
               "--adb", str(fake_devices.adb)])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "--pte-runner /nonexistent/executor_runner not found" in err[0]


def test_neither_tool_is_a_usage_error(fake_devices, small_export_or_tmp: Path, capsys) -> None:
    rc = main(["android", "--artifacts", str(small_export_or_tmp), "--adb", str(fake_devices.adb)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--benchmark-model" in err and "--pte-runner" in err


@pytest.fixture
def small_export_or_tmp(tmp_path: Path) -> Path:
    """A folder that exists: these two checks stop before any file is read."""
    return tmp_path
