"""Qualcomm NPU files for real (export/formats/npu_qualcomm.py): the --npu argument, the plugin copy without its unused
libQnnLpai.so, the default model's int8 file compiled for one SoC (also with no network at all), and its parity
and accuracy on Qualcomm's HTP emulator through ONNX Runtime's QNN execution provider."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shufflenet.export.formats import npu_qualcomm as npu
from shufflenet.export.manifest import read_manifest, verify_artifact
from shufflenet.export.runtimes import qnn_htp as htp
from shufflenet.export.runtimes.base import RuntimeUnavailableError
from shufflenet.model.files import sha256_path
from shufflenet.model.pretrained import default_variant_name

SOC = "SM8650"
BIN = Path(sys.executable).parent


def test_npu_argument() -> None:
    assert npu.parse_npu("qualcomm:SM8650,sm8750") == npu.NpuRequest("qualcomm", ("SM8650", "SM8750"))
    assert npu.parse_npu("Qualcomm:all").socs == tuple(npu.SOC_HTP_ARCH)
    assert npu.parse_npu("qualcomm:SM8650,SM8650").socs == ("SM8650",)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("qualcomm:SM9999", "unknown Qualcomm SoC SM9999; choose from SA8255, SA8295, SM8350"),
        ("mediatek:MT6989", "unknown NPU vendor 'mediatek'"),
        ("qualcomm", "name the SoCs"),
        ("qualcomm:", "name the SoCs"),
    ],
)
def test_bad_npu_argument_names_the_valid_socs(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as e:
        npu.parse_npu(text)
    assert fragment in str(e.value) and "\n" not in str(e.value)
    assert "SM8850" in str(e.value)  # the whole list, so the fix is in the message


def test_a_soc_that_would_get_no_file_is_refused_before_any_work(tmp_path: Path) -> None:
    """An HTP v68 SoC takes int8 files only: --precision fp32 compiled nothing for it and exited 0."""
    out = tmp_path / "out"
    r = _run([str(BIN / "shufflenet-export"), "--random-init", "--format", "tflite", "--precision", "fp32", "--npu",
              "qualcomm:SM8350", "--output", str(out)])  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "SM8350 (HTP v68) takes int8 files only" in r.stderr and "add int8 to --precision" in r.stderr
    assert not out.exists() and not (tmp_path / "out.export.log").exists()
    with pytest.raises(ValueError, match=r"SM8350 .* add int8"):  # the library's own check, as run_export makes it
        npu.check_precisions(npu.parse_npu("qualcomm:all"), ("fp32", "fp16"), "qualcomm:all")
    npu.check_precisions(npu.parse_npu("qualcomm:SM8650"), ("fp32",), "qualcomm:SM8650")  # a float HTP: fine


def test_soc_table_is_litert_target_list() -> None:
    from ai_edge_litert.aot.vendors.qualcomm.target import SocModel

    assert set(npu.SOC_HTP_ARCH) == {s.value for s in SocModel if s.value != "ALL"}
    assert [s for s in npu.SOC_HTP_ARCH if npu.takes_float(s)] == [
        "SA8255", "SM8450", "SM8475", "SM8550", "SM8650", "SM8750", "SM8845", "SM8850"]  # fmt: skip


def test_plugin_copy_drops_only_the_unused_library(tmp_path: Path) -> None:
    original = Path(npu._litert_file(npu.PLUGIN))
    digest = sha256_path(original)
    copy = npu.patched_plugin(tmp_path)
    before, after = npu.needed_libraries(original), npu.needed_libraries(copy)
    assert npu.UNUSED_NEEDED in before and npu.UNUSED_NEEDED not in after
    assert [n for n in before if n != npu.UNUSED_NEEDED] == after  # libQnnHtp.so, libQnnSystem.so, ... all kept
    assert sha256_path(original) == digest  # the installed package is never changed


def test_without_the_libraries_one_line_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = htp.package_dir
    monkeypatch.setattr(htp, "package_dir", lambda name: None if name == "onnxruntime_qnn" else real(name))
    for call in (npu.QnnCompiler.check, htp.qnn_ep_devices):
        with pytest.raises(npu.NpuUnavailable) as e:
            call()
        assert "pip install 'shufflenet-mobile[npu]'" in str(e.value) and "\n" not in str(e.value)


def test_a_compiler_failure_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "not_a_model.tflite"
    bad.write_bytes(b"TFL3" + bytes(100))
    compiler = npu.QnnCompiler.prepare(tmp_path / "work")
    with pytest.raises(npu.NpuCompileError) as e:
        compiler.compile(bad, SOC, tmp_path / "out.tflite")
    assert f"the Qualcomm compiler failed on not_a_model.tflite for {SOC}" in str(e.value)
    assert "\n" not in str(e.value) and not (tmp_path / "out.tflite").exists()
    assert "the Qualcomm compiler's last lines" in caplog.text  # the compiler's own words go to the library log


@pytest.mark.slow
def test_a_cpu_file_is_not_an_npu_graph(npu_export: Path) -> None:
    cpu = next(e for e in read_manifest(npu_export)["artifacts"] if not e.get("npu"))
    with pytest.raises(RuntimeUnavailableError, match="is not one NPU graph"):
        htp.context_binary(npu_export / cpu["path"])


# ------------------------------------------------------------------------------ the default model, one SoC


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def npu_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``shufflenet-export --format tflite --precision int8 --npu qualcomm:SM8650`` of the embedded default model
    (whatever the registry names the default), as a user runs it."""
    out = tmp_path_factory.mktemp("npu") / "default"
    r = _run([str(BIN / "shufflenet-export"), "--format", "tflite", "--precision", "int8", "--npu", f"qualcomm:{SOC}",
              "--output", str(out)])  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "qnn-htp" not in r.stdout and "LIBNATIVE" not in r.stdout  # library lines go to the log file
    assert f"{SOC} v{npu.SOC_HTP_ARCH[SOC]}" in r.stdout  # the summary's NPU column
    return out


@pytest.mark.slow
def test_manifest_entry_of_the_npu_file(npu_export: Path) -> None:
    m = read_manifest(npu_export)
    assert m["arch"] == default_variant_name()
    cpu, compiled = m["artifacts"]
    assert cpu["precision"] == compiled["precision"] == "int8" and not cpu.get("npu")
    verify_artifact(npu_export, compiled)  # sha256
    n = compiled["npu"]
    assert (n["vendor"], n["soc"], n["htp_arch"]) == ("qualcomm", SOC, "v75")
    assert n["ops_on_npu"] == n["ops_total"] == sum(cpu["op_histogram"].values()) and n["ops_on_cpu"] == {}
    assert compiled["op_histogram"] == {"DISPATCH_OP": 1} and n["partitions"] == 1
    assert n["compiled_from"] == cpu["path"] and compiled["inputs"] == cpu["inputs"]
    c = n["compiler"]
    assert c["onnxruntime-qnn"] == "2.7.0" and c["ai-edge-litert"] == "2.3.0" and c["qnn_sdk"].startswith("v2.51")
    assert any("5.50.0" in note for note in c["version_notes"])  # the 2.51-vs-2.50 skew, recorded
    par = compiled["parity"]
    assert par["evaluated_by"] == f"qnn-htp-emulator ({SOC})" and par["vs_cpu"]["compared_with"] == cpu["path"]


@pytest.mark.slow
def test_parity_on_the_htp_emulator(npu_export: Path, tmp_path: Path) -> None:
    r = _run([str(BIN / "shufflenet-parity"), "--artifacts", str(npu_export), "--json", str(tmp_path / "p.json")])
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    rows = {d["path"]: d for d in json.loads((tmp_path / "p.json").read_text())}
    cpu, compiled = read_manifest(npu_export)["artifacts"]
    got = rows[compiled["path"]]
    assert got["passed"] and got["evaluated_by"] == f"qnn-htp-emulator ({SOC})"
    assert got["psnr_db"] >= 30.0 and abs(got["psnr_db"] - rows[cpu["path"]]["psnr_db"]) < 3.0
    v = got["vs_cpu"]
    # the emulated HTP rounds differently from XNNPACK: within twice the CPU file's own gap to PyTorch
    assert 0 < v["max_quantized_steps"] <= 2 * v["cpu_max_steps_vs_pytorch"] and v["top1_agreement"] >= 0.9
    assert f"vs {cpu['path']} (litert): max {v['max_quantized_steps']} quantized step(s)" in r.stdout
    # A tighter bar than the emulator meets fails the file, naming the metric.
    r = _run([str(BIN / "shufflenet-parity"), "--artifacts", str(npu_export), "--npu-max-steps", "0"])
    assert r.returncode == 1 and f"FAIL {compiled['path']}: vs_cpu_max_quantized_steps" in r.stdout


def test_non_finite_output_fails_the_file() -> None:
    from shufflenet.benchmarks.parity.parity_report import Thresholds, judge
    from shufflenet.export.metrics import compare
    from shufflenet.export.parity import ArtifactParity

    ref = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    out = ref.copy()
    out[1, 3] = np.inf
    p = ArtifactParity("tflite", "int8", "", "x.tflite", "logits", "qnn-htp-emulator (SM8650)", compare(ref, out))
    lines = judge(p, Thresholds()).fail_lines()
    assert len(lines) == 1 and lines[0].startswith("FAIL x.tflite: 1 outputs are inf or NaN: overflow")


@pytest.mark.slow
def test_compile_runs_offline(npu_export: Path, tmp_path: Path) -> None:
    """The compile with no network at all (a fresh network namespace) gives the export's file byte for byte."""
    if shutil.which("unshare") is None or _run(["unshare", "-n", "true"], 60).returncode != 0:
        pytest.skip(
            "unshare -n is not permitted here (needs root or user namespaces); the offline compile is unchecked"
        )
    cpu, compiled = read_manifest(npu_export)["artifacts"]
    code = f"""
        from pathlib import Path
        from shufflenet.export.formats import npu_qualcomm as npu
        c = npu.QnnCompiler.prepare(Path({str(tmp_path)!r}))
        done = c.compile(Path({str(npu_export / cpu["path"])!r}), {SOC!r}, Path({str(tmp_path / "offline.tflite")!r}))
        print(done.ops_on_npu, done.ops_total)
    """
    r = _run(["unshare", "-n", sys.executable, "-c", textwrap.dedent(code)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [str(compiled["npu"]["ops_total"])] * 2
    assert sha256_path(tmp_path / "offline.tflite") == compiled["sha256"]


@pytest.mark.slow
def test_eval_runs_the_npu_file_on_the_emulator(npu_export: Path, tmp_path: Path) -> None:
    from shufflenet.benchmarks.accuracy.evaluate import evaluate_artifacts

    m = read_manifest(npu_export)
    labels = (npu_export / m["labels_file"]).read_text().splitlines()
    h, w = m["input_size"]
    rng = np.random.default_rng(5)
    for i in range(6):
        dest = tmp_path / "data" / labels[i % len(labels)] / f"{i}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(dest)
    rows = {r.path: r for r in evaluate_artifacts(npu_export, tmp_path / "data")}
    cpu, compiled = m["artifacts"]
    assert rows[compiled["path"]].evaluated_by == f"qnn-htp-emulator ({SOC})"
    assert rows[compiled["path"]].images == 6 and rows[cpu["path"]].evaluated_by == "litert"
