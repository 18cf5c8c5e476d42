"""The ``litert-arm64`` runtime: real aarch64 LiteRT under qemu user-mode emulation (installed by
scripts/setup_arm64.sh), its CPU models, and its faults (missing or broken install, crash, hang)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from shufflenet.export.pipeline import ExportResult
from shufflenet.export.runtimes.base import dequantize
from shufflenet.export.runtimes.litert_arm64 import (
    Arm64Env,
    Arm64RunError,
    Arm64Runner,
    Arm64Unavailable,
    compare_x86,
    cpu_features,
    parse_cpus,
    run_batch,
)
from shufflenet.export.runtimes.loader import load_runner


def test_parse_cpus() -> None:
    assert parse_cpus("cortex-a53, max,cortex-a53") == ("cortex-a53", "max")
    with pytest.raises(ValueError, match=r"unknown --cpu pentium; choose from .*cortex-a76"):
        parse_cpus("cortex-a53,pentium")


def test_missing_install_names_the_setup_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUFFLENET_ARM64_CACHE", str(tmp_path / "nowhere"))
    with pytest.raises(Arm64Unavailable, match=r"not installed .*; run `bash scripts/setup_arm64.sh`"):
        Arm64Env.find()


def test_compare_x86_counts_bits_and_steps() -> None:
    a = np.array([[1, -3, 5]], np.int8)
    r = compare_x86(a, np.array([[1, -1, 5]], np.int8))
    assert (r.exact_share, r.max_steps, r.quantized) == (pytest.approx(2 / 3), 2, True)
    f = np.array([[0.0, 1.0, -2.0, 4.0]], np.float32)
    g = np.array([[-0.0, 1.0, -2.0, 4.0 + 4e-6]], np.float32)  # -0.0 == 0.0 but not the same bits
    r = compare_x86(f, g)
    assert r.exact_share == 0.5 and not r.quantized
    assert r.max_abs == pytest.approx(4e-6, rel=0.2) and r.max_rel == pytest.approx(1e-6, rel=0.2)


def test_cpu_models_expose_different_instructions(arm64_env: Arm64Env) -> None:
    """The hwcaps XNNPACK's CPU detection reads: no dot product on an A53, dot product on an A76, i8mm and SVE
    on ``max``. (Seen in the instructions translated, too: see benchmarks/host_latency/arm64_bench.py --kernels.)"""
    a53, a76, top = (set(cpu_features(c, arm64_env)["hwcap_flags"]) for c in ("cortex-a53", "cortex-a76", "max"))
    assert {"asimd"} <= a53 and not a53 & {"asimddp", "i8mm", "sve"}
    assert "asimddp" in a76 and not a76 & {"i8mm", "sve"}
    assert {"asimddp", "i8mm", "sve"} <= top


def _files(small_export: ExportResult) -> dict[str, dict]:
    return {e["precision"]: e for e in small_export.manifest["artifacts"] if e["format"] == "tflite"}


@pytest.mark.slow
def test_runner_matches_x86_litert(small_export: ExportResult, arm64_env: Arm64Env) -> None:
    """One emulated process for the whole batch; int8 outputs bit-identical to x86 LiteRT, float ones within
    float rounding (XNNPACK's float kernels for an A53 sum in another order than x86's)."""
    d, m = small_export.output, small_export.manifest
    images = np.random.default_rng(5).integers(0, 256, (3, *m["input_size"], 3), dtype=np.uint8)
    for precision, cpu in (("int8", "cortex-a53"), ("fp32", "cortex-a53"), ("int8", "max")):
        e = {**_files(small_export)[precision], "preprocessing": m["preprocessing"]}
        runner = load_runner(d, e, runtime="litert-arm64", cpu=cpu)
        assert isinstance(runner, Arm64Runner) and runner.evaluated_by == f"litert-arm64 ({cpu})"
        raw = runner.predict_raw(images)
        assert runner.last is not None and runner.last.info["machine"] == "aarch64"
        assert runner.last.info["images"] == 3
        x86 = runner.predict_x86_raw(images)
        agree = compare_x86(raw, x86)
        if precision == "int8":
            assert raw.dtype == np.int8 and agree.exact_share == 1.0
        else:
            assert agree.max_rel < 1e-5
        host = load_runner(d, e).predict(images)
        emulated = dequantize(raw, runner.output.get("quantization"))  # = runner.predict(images), one run fewer
        np.testing.assert_allclose(emulated, host, rtol=0, atol=1e-4 * np.abs(host).max())


def test_litert_arm64_runs_tflite_only(small_export: ExportResult) -> None:
    onnx = next(e for e in small_export.manifest["artifacts"] if e["format"] == "onnx")
    with pytest.raises(ValueError, match=r"runs \.tflite files only"):
        load_runner(small_export.output, onnx, runtime="litert-arm64")
    int8 = next(e for e in small_export.manifest["artifacts"] if e["format"] == "tflite" and e["precision"] == "int8")
    with pytest.raises(ValueError, match=r"is compiled for an NPU; the litert-arm64 runtime runs \.tflite files only"):
        load_runner(small_export.output, {**int8, "npu": {"soc": "SM8650"}}, runtime="litert-arm64")


def test_hang_is_killed_after_the_time_limit(small_export: ExportResult, arm64_env: Arm64Env) -> None:
    path = small_export.output / _files(small_export)["int8"]["path"]
    x = np.zeros((2, *small_export.manifest["input_size"], 3), np.int8)
    with pytest.raises(Arm64RunError, match=r"on -cpu max did not finish within 1 s \(hang\?\); killed"):
        run_batch(arm64_env, path, x, "max", timeout_s=1.0)  # start-up alone takes seconds


def test_unreadable_file_fails_in_one_line(tmp_path: Path, arm64_env: Arm64Env) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"TFL3" + bytes(200))
    with pytest.raises(Arm64RunError, match=r"bad.tflite on -cpu cortex-a53 failed under emulation") as e:
        run_batch(arm64_env, bad, np.zeros((1, 4), np.float32), "cortex-a53")
    assert "\n" not in str(e.value)


def test_broken_install_fails_per_run(tmp_path: Path, arm64_env: Arm64Env) -> None:
    """A truncated emulator binary (crashes), one that is not a program at all, and a userland without its C
    library: one line each, naming the cause, no traceback."""
    broken = tmp_path / "env"
    (broken / "root" / "usr" / "bin").mkdir(parents=True)
    (broken / "ready").write_text("x")
    os.symlink(arm64_env.site, broken / "site")
    shutil.copy(arm64_env.python, broken / "root" / "usr" / "bin" / "python3.11")
    qemu = broken / "qemu-aarch64"
    qemu.write_bytes(b"")
    env = Arm64Env.find(broken)
    x = np.zeros((1, 4), np.float32)
    cases = [
        (arm64_env.qemu.read_bytes()[:4096], r"failed under emulation \(SIG[A-Z]+\)"),
        (b"", r"the emulator .* cannot start \(Exec format error\); re-run `bash scripts/setup_arm64.sh`"),
        (arm64_env.qemu.read_bytes(), r"failed under emulation \(exit status \d+\): .*ld-linux-aarch64"),
    ]
    for data, message in cases:
        qemu.write_bytes(data)
        qemu.chmod(0o755)
        with pytest.raises(Arm64RunError, match=message) as e:
            run_batch(env, tmp_path / "m.tflite", x, "max")
        assert "\n" not in str(e.value)


def test_setup_second_run_is_cached_and_offline(arm64_env: Arm64Env) -> None:
    """The set-up script, run again with the network cut off (``unshare -n``), finds its pinned install."""
    import subprocess

    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here (needs root or user namespaces)")
    script = Path(__file__).resolve().parents[3] / "scripts" / "setup_arm64.sh"
    res = subprocess.run(["unshare", "-n", "bash", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "(cached)" in res.stderr and res.stdout.strip() == f"ARM64_ENV={arm64_env.home}"
