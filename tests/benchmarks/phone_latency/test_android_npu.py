"""`shufflenet-bench android` with files compiled for a Qualcomm NPU, against the TEST DOUBLE of adb (which replays
the recorded benchmark_model outputs of ../shared/fixtures): the NPU files run only when the user supplies the
phone's runtime libraries, which are pushed to their own folder and named by the NPU flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.android import AndroidConfig, run_android

SOC = "SM8650"
PHONE_LIBS = ("libLiteRt.so", "libLiteRtDispatch_Qualcomm.so", "libQnnHtp.so", "libQnnSystem.so",
              "libQnnHtpV75Stub.so", "libQnnHtpV75Skel.so")  # fmt: skip


@pytest.fixture(scope="module")
def npu_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a small variant: its int8 .tflite and that file compiled for SM8650."""
    from shufflenet.export.pipeline import ExportConfig, run_export

    out = tmp_path_factory.mktemp("npu-android") / "small"
    run_export(ExportConfig(output=out, arch="shufflenet_v1_g3_0.25x_cifar", random_init=True, formats=("tflite",),
                            precisions=("int8",), parity=False, npu=f"qualcomm:{SOC}"))  # fmt: skip
    return out


@pytest.fixture
def phone_libs(tmp_path: Path) -> Path:
    """Stand-ins for the phone's libraries: adb only copies them (nothing runs them here)."""
    d = tmp_path / "phone_libs"
    d.mkdir()
    for name in PHONE_LIBS:
        (d / name).write_bytes(b"\x7fELF" + bytes(64))
    return d


def _cfg(fake, binary: Path, models: Path, **kw) -> AndroidConfig:
    base = dict(benchmark_model=binary, artifacts=models, adb=str(fake.adb), threads=[1], delegates=["xnnpack"],
                warmup=3, runs=50, repeats=1, cooldown_s=0.0)  # fmt: skip
    base.update(kw)
    return AndroidConfig(**base)


def _entries(folder: Path) -> tuple[dict, dict]:
    cpu, compiled = json.loads((folder / "manifest.json").read_text())["artifacts"]
    assert not cpu.get("npu") and compiled["npu"]["soc"] == SOC
    return cpu, compiled


@pytest.mark.slow
def test_npu_files_are_left_out_without_the_phone_libraries(fake_devices, make_binary, npu_folder: Path) -> None:
    fake_devices.add()
    cpu, _ = _entries(npu_folder)
    rep = run_android(_cfg(fake_devices, make_binary(), npu_folder))
    assert [(r.path, r.delegate, r.status) for r in rep.results] == [(cpu["path"], "xnnpack", "ok")]
    assert not any("/npu" in c[-1] for c in fake_devices.calls() if "push" in c)


@pytest.mark.slow
def test_npu_file_runs_with_the_pushed_libraries(fake_devices, make_binary, npu_folder: Path, phone_libs) -> None:
    dev = fake_devices.add(delegates=["cpu", "xnnpack", "npu"])
    dev["props"]["ro.soc.model"] = SOC
    fake_devices.write()
    cpu, compiled = _entries(npu_folder)
    rep = run_android(_cfg(fake_devices, make_binary(), npu_folder, npu_libs=phone_libs))
    assert [(r.path, r.delegate, r.status) for r in rep.results] == [
        (cpu["path"], "xnnpack", "ok"), (compiled["path"], "npu", "ok")]  # fmt: skip
    pushed = {c[-1] for c in fake_devices.calls() if "push" in c}
    assert {f"/data/local/tmp/npu/{n}" for n in PHONE_LIBS} <= pushed
    (line,) = [ln for ln in fake_devices.shell_lines() if f"--graph=/data/local/tmp/{compiled['path']}" in ln]
    assert line.startswith("LD_LIBRARY_PATH=/data/local/tmp/npu ADSP_LIBRARY_PATH=/data/local/tmp/npu taskset ")
    assert "--use_npu=true" in line and "--dispatch_library_dir=/data/local/tmp/npu" in line
    assert "--use_xnnpack" not in line
    rm = [ln for ln in fake_devices.shell_lines() if ln.startswith("rm -f") and "libQnnHtp.so" in ln]
    assert rm  # the libraries are removed from the phone afterwards
    assert not fake_devices.device_file("FAKE0001", "/data/local/tmp/npu/libQnnHtp.so").exists()


@pytest.mark.slow
def test_npu_file_for_another_soc_is_not_run(fake_devices, make_binary, npu_folder: Path, phone_libs) -> None:
    fake_devices.add(delegates=["cpu", "xnnpack", "npu"])  # the double's phone is an SM8250
    _, compiled = _entries(npu_folder)
    rep = run_android(_cfg(fake_devices, make_binary(), npu_folder, npu_libs=phone_libs))
    (r,) = [r for r in rep.results if r.path == compiled["path"]]
    assert r.status == "failed" and f"compiled for {SOC}, but the device is SM8250" in r.error
    assert "no ahead-of-time Qualcomm target" in r.error  # SM8250 is not among LiteRT's SoCs
    assert not [ln for ln in fake_devices.shell_lines() if f"--graph=/data/local/tmp/{compiled['path']}" in ln]


def test_npu_options_are_checked(fake_devices, make_binary, payload_models: Path, tmp_path: Path, capsys) -> None:
    fake_devices.add()
    base = ["android", "--benchmark-model", str(make_binary()), "--artifacts", str(payload_models), "--adb",
            str(fake_devices.adb), "--json", str(tmp_path / "a.json")]  # fmt: skip
    assert main([*base, "--delegate", "npu"]) == 2
    assert "--delegate npu needs --npu-libs DIR" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*base, "--npu-libs", str(tmp_path / "empty")]) == 2
    assert "has no libLiteRtDispatch_Qualcomm.so" in capsys.readouterr().err
    assert fake_devices.shell_lines() == []  # refused before the device was asked anything
