"""`shufflenet-bench host`: real timing of real models (no figure is asserted, only the shape of the results)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.host_latency.host import (
    MIN_RUNS,
    HostConfig,
    make_input,
    measure,
    run_host,
    time_repeats,
    time_torch,
)
from shufflenet.benchmarks.host_latency.machine import host_environment
from shufflenet.benchmarks.reports.results import read_json
from shufflenet.model.registry import build_model


def _consistent(r) -> None:
    assert r.status == "ok", r.error
    assert 0 < r.min_ms <= r.median_ms <= r.p90_ms <= r.max_ms
    assert r.min_ms <= r.mean_ms <= r.max_ms and r.std_ms >= 0
    assert r.cv == pytest.approx(r.std_ms / r.mean_ms)
    assert len(r.repeat_ms) == r.repeats


def test_time_repeats_counts_calls() -> None:
    calls = []
    t = time_repeats(lambda: calls.append(1), warmup=4, runs=7, repeats=3)
    assert len(calls) == 4 + 21
    for blocks in (t.wall, t.thread_cpu, t.process_cpu):
        assert [len(b) for b in blocks] == [7, 7, 7] and all(v >= 0 for b in blocks for v in b)


def test_time_repeats_budget_lowers_runs_but_not_below_the_minimum() -> None:
    a = np.random.default_rng(0).standard_normal((300, 300))
    t = time_repeats(lambda: a @ a, warmup=1, runs=10_000, repeats=2, max_seconds=1e-6)
    assert [len(b) for b in t.wall] == [MIN_RUNS, MIN_RUNS]


def test_cpu_clock_counts_the_threads_own_work() -> None:
    import time

    def sleepy() -> None:  # waits without computing: wall time, hardly any CPU time
        time.sleep(0.02)

    ident = dict(target="host", runtime="python", format="-", precision="-", path="-", delegate="cpu", threads=1)
    wall = measure(sleepy, warmup=0, runs=3, repeats=1, clock="wall", **ident)
    cpu = measure(sleepy, warmup=0, runs=3, repeats=1, clock="cpu", **ident)
    assert wall.clock == "wall" and cpu.clock == "cpu"
    assert wall.min_ms >= 20.0 and cpu.max_ms < 20.0
    assert wall.details["cpu_share"] < 0.5
    assert wall.noisy and any("CPU contention" in why for why in wall.noise_reasons)
    with pytest.raises(ValueError, match="single thread"):
        measure(sleepy, warmup=0, runs=1, repeats=1, clock="cpu", **{**ident, "threads": 2})


def test_make_input_dtypes() -> None:
    x = make_input({"shape": [1, 32, 32, 3], "dtype": "int8"})
    assert x.dtype == np.int8 and x.shape == (1, 32, 32, 3)
    y = make_input({"shape": [1, 3, 8, 8], "dtype": "float32"}, seed=1)
    assert y.dtype == np.float32 and np.array_equal(y, make_input({"shape": [1, 3, 8, 8], "dtype": "float32"}, 1))


def test_time_torch_on_a_real_model() -> None:
    model = build_model("shufflenet_v1_g3_0.5x_cifar")
    ident = dict(target="host", runtime="pytorch", format="pytorch", precision="fp32", path="pytorch:x", delegate="cpu")
    r = time_torch(model, (32, 32), 1, warmup=2, runs=6, repeats=2, input_size=[32, 32], **ident)
    _consistent(r)
    assert r.runs == 12 and r.repeats == 2 and r.threads == 1 and r.input_size == [32, 32]


def test_host_environment_is_recorded() -> None:
    env = host_environment()
    assert env["logical_cpus"] >= 1 and env["cpu_model"] and env["versions"]["torch"].startswith("2.13")
    assert "load_average_start" in env


def test_host_needs_an_export_folder(tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        run_host(HostConfig(artifacts=tmp_path))
    rc = main(["host", "--artifacts", str(tmp_path / "missing"), "--json", str(tmp_path / "h.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1].startswith("error: no manifest.json in")
    assert "Traceback" not in err


@pytest.mark.slow
def test_host_on_a_real_export(small_export: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "host.json"
    rc = main(["host", "--artifacts", str(small_export), "--threads", "1,2", "--warmup", "2", "--runs", "5",
               "--repeats", "2", "--json", str(out)])  # fmt: skip
    assert rc == 0
    rep = read_json(out)
    manifest = json.loads((small_export / "manifest.json").read_text())
    timed = [e for e in manifest["artifacts"] if e["format"] != "coreml"]  # Core ML runs only on Apple hardware
    files = [e["path"] for e in timed]
    assert sorted({r.path for r in rep.results if r.runtime != "pytorch"}) == sorted(files)
    assert len(rep.results) == (len(files) + 1) * 2  # every file + PyTorch, at 1 and 2 threads
    skipped = {s["path"] for s in rep.config["skipped"]}
    assert skipped == {e["path"] for e in manifest["artifacts"] if e["format"] == "coreml"}
    for r in rep.results:
        _consistent(r)
        assert r.runs == 10 and r.target == "host" and r.macs == manifest["complexity"]["macs"]
    assert {r.runtime for r in rep.results} == {"onnxruntime", "litert", "executorch", "pytorch"}
    assert {r.delegate for r in rep.results if r.runtime in ("litert", "executorch")} == {"xnnpack"}
    for r in rep.results:  # .pte files at 1 then 2 threads in one process: ExecuTorch's pool resized in between
        if r.runtime == "executorch":
            calls = r.details["delegate_coverage"]["file"]
            assert calls["delegate_calls"] == 1 and calls["kernel_calls"] == 0
    assert {r.precision for r in rep.results if r.runtime == "litert"} == {e["precision"] for e in timed
                                                                          if e["format"] == "tflite"}  # fmt: skip
    for r in rep.results:  # XNNPACK coverage read from each LiteRT runner's interpreter; the int8 file is one partition
        cov = r.details.get("delegate_coverage")
        assert (cov is not None) == (r.runtime in ("litert", "executorch"))
        if cov and r.precision == "int8":
            assert cov["partitions"] == 1 and cov["delegated_nodes"] == cov["nodes"] and not cov["outside_ops"]
    assert "load_average_end" in rep.environment
    for name in ("host.md", "host.csv", "host_latency.png", "host_latency_vs_macs.png"):
        assert (tmp_path / name).is_file()
    printed = capsys.readouterr().out
    assert "| host |" in printed and "XNNPACK coverage" in printed


def _tampered(src: Path, dst: Path, how: str) -> tuple[Path, str]:
    """A copy of the export folder with one file broken: a flipped byte in the int8 .tflite, a truncated .onnx,
    a deleted file, or (signature) the float32 .tflite in place of the int8 one with its sha256 resealed."""
    import shutil

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    by = {(e["format"], e["precision"], e.get("variant")): e["path"] for e in manifest["artifacts"]}
    int8 = next(p for (f, pr, _), p in by.items() if f == "tflite" and pr == "int8")
    fp32 = next(p for (f, pr, _), p in by.items() if f == "tflite" and pr == "fp32")
    onnx = next(p for (f, _, _), p in by.items() if f == "onnx")
    if how == "flipped":
        data = bytearray((dst / int8).read_bytes())
        data[len(data) // 2] ^= 0x01
        (dst / int8).write_bytes(bytes(data))
        return dst, int8
    if how == "truncated":
        data = (dst / onnx).read_bytes()
        (dst / onnx).write_bytes(data[: len(data) // 3])
        return dst, onnx
    if how == "deleted":
        (dst / int8).unlink()
        return dst, int8
    from shufflenet.model.files import sha256_path

    shutil.copyfile(dst / fp32, dst / int8)  # a float32 file where the manifest declares int8 inputs
    for e in manifest["artifacts"]:
        if e["path"] == int8:
            e["sha256"] = sha256_path(dst / int8)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst, int8


@pytest.mark.slow
@pytest.mark.parametrize(
    "how,fragment",
    [
        ("flipped", "was altered after export"),
        ("truncated", "was altered after export"),
        ("deleted", "is listed in the manifest but missing"),
        ("signature", "the manifest declares input"),
    ],
)
def test_host_verifies_every_file_before_timing(
    small_export: Path, tmp_path: Path, capfd: pytest.CaptureFixture, how: str, fragment: str
) -> None:
    """shufflenet-bench host checks sha256 and signatures against the manifest (the reader parity and eval use)
    before it times anything: one line on stderr, exit 2, no results written."""
    d, broken = _tampered(small_export, tmp_path / "artifacts", how)
    out = tmp_path / "host.json"
    rc = main(["host", "--artifacts", str(d), "--warmup", "1", "--runs", "5", "--repeats", "1", "--json", str(out)])
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert lines[-1].startswith("error: ") and broken in lines[-1] and fragment in lines[-1], err
    assert "Traceback" not in err and not [ln for ln in lines if ln.startswith("time ")]  # nothing was timed
    assert not out.exists()


def test_unwritable_results_are_found_before_any_timing(small_export: Path, capsys) -> None:
    rc = main(["host", "--artifacts", str(small_export), "--json", "/proc/x/host.json"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines() == ["error: --json /proc/x/host.json is not writable (No such file or "
                                                     "directory); pass a path in a folder you can write"]  # fmt: skip


@pytest.mark.slow
def test_an_npu_file_is_not_timed_here_and_says_where_it_is(small_npu_export: Path, tmp_path: Path) -> None:
    """A file compiled for a Snapdragon NPU runs only on the phone: the report says so (it advised a --runtimes
    value that the command rejects); LiteRT's own start-up line goes to the log beside the export, not the screen."""
    art = tmp_path / "npu"
    shutil.copytree(small_npu_export, art)
    out = tmp_path / "host.json"
    proc = subprocess.run([str(Path(sys.executable).with_name("shufflenet-bench")), "host", "--artifacts", str(art),
                           "--runtimes", "litert", "--warmup", "0", "--runs", "3", "--repeats", "1", "--json",
                           str(out)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (skipped,) = read_json(out).config["skipped"]
    assert "compiled for the SM8650 NPU, which only the phone runs" in skipped["reason"]
    assert "shufflenet-bench android --npu-libs" in skipped["reason"] and "--runtimes" not in skipped["reason"]
    assert "compiled for the SM8650 NPU" in proc.stdout  # the printed report's "Not timed" list
    log = art.with_name("npu.bench.log")
    assert f"library logs: {log}" in proc.stderr and "time " in proc.stderr  # the progress stays on the screen
    assert "XNNPACK delegate" not in proc.stderr and "XNNPACK delegate" in log.read_text()
