"""`shufflenet-bench android` with files compiled for a Qualcomm NPU, through the real adb to TEST DOUBLE phones
whose getprop is a real phone's (a Xiaomi 12S Pro, SM8475, and a Xiaomi 14, SM8650): the NPU files run only when the
user supplies the phone's runtime libraries, which are pushed to their own folder and named by the NPU flags, and
only on a phone of the SoC they were compiled for; on the other phones they are "not for this SoC", not failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.android import run_android
from shufflenet.benchmarks.reports.results import read_json

SOC = "SM8475"  # the Xiaomi 12S Pro's ro.soc.model; one of LiteRT's ahead-of-time Qualcomm targets
PHONE_LIBS = ("libLiteRt.so", "libLiteRtDispatch_Qualcomm.so", "libQnnHtp.so", "libQnnSystem.so",
              "libQnnHtpV69Stub.so", "libQnnHtpV69Skel.so")  # fmt: skip


@pytest.fixture(scope="module")
def npu_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a small variant: its int8 .tflite and that file compiled for SM8475."""
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


def _entries(folder: Path) -> tuple[dict, dict]:
    cpu, compiled = json.loads((folder / "manifest.json").read_text())["artifacts"]
    assert not cpu.get("npu") and compiled["npu"]["soc"] == SOC
    return cpu, compiled


def _graph_lines(phone, path: str) -> list[str]:
    return [ln for ln in phone.shell_lines if f"--graph=/data/local/tmp/{path}" in ln]


@pytest.mark.slow
def test_npu_files_are_left_out_without_the_phone_libraries(lab, android_cfg, npu_folder: Path) -> None:
    phone = lab.phone("xiaomi_12s_pro")
    cpu, _ = _entries(npu_folder)
    rep = run_android(android_cfg(artifacts=npu_folder))
    assert [(r.path, r.delegate, r.status) for r in rep.results] == [(cpu["path"], "xnnpack", "ok")]
    assert not phone.local("/data/local/tmp/npu").exists()


@pytest.mark.slow
def test_npu_files_run_on_their_soc_only(lab, android_cfg, npu_folder: Path, phone_libs: Path) -> None:
    """One run over two phones: the SM8475 phone runs the compiled file on its NPU with the pushed libraries; the
    SM8650 phone runs the CPU file and marks the compiled one "not for this SoC" with the export that fits it;
    nothing failed (exit 0)."""
    match = lab.phone("xiaomi_12s_pro", delegates=("cpu", "xnnpack", "npu"))
    other = lab.phone("xiaomi_14", server=1, delegates=("cpu", "xnnpack", "npu"))
    cpu, compiled = _entries(npu_folder)
    servers = [s.address for s in lab.servers]
    rep = run_android(android_cfg(artifacts=npu_folder, npu_libs=phone_libs, serial="all", adb_servers=servers))
    got = {(r.target, r.path): (r.delegate, r.status) for r in rep.results}
    assert got == {
        (match.serial, cpu["path"]): ("xnnpack", "ok"),
        (match.serial, compiled["path"]): ("npu", "ok"),
        (other.serial, cpu["path"]): ("xnnpack", "ok"),
        (other.serial, compiled["path"]): ("npu", "skipped"),
    }
    (skipped,) = [r for r in rep.results if r.status == "skipped"]
    assert skipped.error == ("not for this SoC: compiled for SM8475, the device is SM8650 (ro.soc.model); export "
                             "with --npu qualcomm:SM8650 for it")  # fmt: skip
    assert rep.errors == []
    # the matching phone: the libraries pushed to their folder and named by the run's flags, removed afterwards
    (line,) = _graph_lines(match, compiled["path"])
    assert line.startswith("LD_LIBRARY_PATH=/data/local/tmp/npu ADSP_LIBRARY_PATH=/data/local/tmp/npu taskset ")
    assert "--use_npu=true" in line and "--dispatch_library_dir=/data/local/tmp/npu" in line
    assert "--use_xnnpack" not in line
    assert any(ln.startswith("rm -f") and "/data/local/tmp/npu/libQnnHtp.so" in ln for ln in match.shell_lines)
    assert not match.local("/data/local/tmp/npu/libQnnHtp.so").exists()
    # the other phone: the compiled file never ran, nor were the libraries pushed there
    assert _graph_lines(other, compiled["path"]) == []
    assert not other.local("/data/local/tmp/npu").exists()


@pytest.mark.slow
def test_npu_file_with_the_cli_exits_0_when_only_other_socs_skip(
    lab, android_cfg, npu_folder: Path, phone_libs: Path, tmp_path: Path, capsys
) -> None:
    lab.phone("xiaomi_14", delegates=("cpu", "xnnpack", "npu"))
    cfg = android_cfg()
    out = tmp_path / "npu.json"
    rc = main(["android", "--adb", cfg.adb, "--benchmark-model", str(cfg.benchmark_model), "--artifacts",
               str(npu_folder), "--npu-libs", str(phone_libs), "--cooldown", "0", "--repeats", "1", "--json",
               str(out)])  # fmt: skip
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "not for this SoC" in stdout
    assert [r.status for r in read_json(out).results] == ["ok", "skipped"]


def test_npu_options_are_checked(lab, android_cfg, tmp_path: Path, capsys) -> None:
    phone = lab.phone()
    cfg = android_cfg()
    base = ["android", "--benchmark-model", str(cfg.benchmark_model), "--artifacts", str(cfg.artifacts), "--adb",
            cfg.adb, "--json", str(tmp_path / "a.json")]  # fmt: skip
    assert main([*base, "--delegate", "npu"]) == 2
    assert "--delegate npu needs --npu-libs DIR" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*base, "--npu-libs", str(tmp_path / "empty")]) == 2
    assert "has no libLiteRtDispatch_Qualcomm.so" in capsys.readouterr().err
    assert phone.shell_lines == []  # refused before the phone was asked anything
