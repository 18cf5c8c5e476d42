"""`shufflenet-parity --runtime litert-arm64` and `shufflenet-eval --runtime litert-arm64` on the default export:
every .tflite file (float32, float16 weights, float16 arithmetic, int8) on emulated aarch64 CPU models, against
PyTorch and x86 LiteRT, with the arithmetic XNNPACK really used; files altered after export (hash) or re-sealed
with tampered weights; hangs and a missing install."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("parity_fixtures")
from parity_fixtures import entry, read_manifest, reseal, rewrite_weights  # noqa: E402
from shufflenet.benchmarks.cli_parity import main  # noqa: E402

pytest_plugins = ["parity_fixtures"]  # default_export, photo_dir, export_copy
pytestmark = pytest.mark.slow  # the session's real export, and emulation (seconds per process)

CPUS = ("cortex-a53", "max")  # no dot product / dot product + i8mm + SVE: different XNNPACK kernels


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def arm64(d: Path, photo_dir: Path, *extra: str | Path) -> list[str | Path]:
    return ["--artifacts", d, "--images", photo_dir, "--runtime", "litert-arm64", "--cpu", ",".join(CPUS), *extra]


def test_default_export_passes_on_arm64_and_agrees_with_x86(
    default_export: Path, photo_dir: Path, arm64_env: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    js, md = tmp_path / "a.json", tmp_path / "a.md"
    rc, out, _ = run(capsys, *arm64(default_export, photo_dir, "--json", js, "--markdown", md))
    rows = json.loads(js.read_text())
    assert rc == 0, out
    precisions = ("fp32", "fp16", "fp16-arith", "int8")
    assert sorted((r["precision"], r["cpu"]) for r in rows) == sorted((p, c) for p in precisions for c in CPUS)
    for r in rows:
        assert r["passed"] and r["evaluated_by"] == f"litert-arm64 ({r['cpu']})" and r["images"] == 6
        a, used = r["x86_agreement"], r["arithmetic_used"]
        if r["precision"] == "int8":  # integer kernels: bit-identical to x86 on every CPU model
            assert a["max_quantized_steps"] == 0 and a["exact_share"] == 1.0
            assert used == {"arithmetic": "int8", "how": "file"}
        elif r["precision"] == "fp16-arith" and r["cpu"] == "max":  # FP16 arithmetic (SME/SVE2 and NEON fp16)
            assert used["arithmetic"] == "fp16" and used["how"] == "kernels", used
            assert 1e-5 < a["max_rel"] <= 0.02  # float16 rounding, not a summation order
        elif r["precision"] == "fp16-arith":  # the A53 has no FP16 arithmetic: float32 kernels, as for float32
            assert used["arithmetic"] == "fp32" and used["how"] == "kernels", used
            assert used["kernel_instructions"].get("fp16_arith", 0) == 0 and used["kernel_instructions"]["fp32_arith"]
            assert a["max_rel"] <= 1e-5
        else:
            assert used == {"arithmetic": "fp32", "how": "file"} and a["max_rel"] <= 1e-5
        assert r["emulated_seconds_per_image"] > 0
    feats = {r["cpu"]: set(r["cpu_features"]) for r in rows}
    assert "asimddp" not in feats["cortex-a53"] and {"asimddp", "i8mm", "sve"} <= feats["max"]
    # The same file's figures against PyTorch agree across CPU models within float rounding.
    for p in ("fp32", "fp16", "int8"):
        cos = [r["cosine"] for r in rows if r["precision"] == p]
        assert max(cos) - min(cos) < 1e-6
    assert "all 8 file/CPU runs pass" in out and "litert-arm64 (cortex-a53)" in out
    assert "| litert-arm64 (max) |" in md.read_text()


def test_tampered_int8_weights_are_caught_on_arm64(
    default_export: Path, photo_dir: Path, export_copy: Callable, arm64_env: object, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    """A file altered after export stops at the manifest's hash; one re-sealed with tampered weights (valid hash,
    numerically wrong) runs, and fails its PSNR bar on every CPU model while the untouched file passes."""
    d = export_copy(default_export, keep=("cifar_float32.tflite", "int8_full_integer"))
    int8 = entry(read_manifest(d), "tflite", "int8")["path"]
    original = (d / int8).read_bytes()
    (d / int8).write_bytes(original[:-64] + bytes(64))
    rc, _, err = run(capsys, *arm64(d, photo_dir))
    assert rc == 2 and f"error: {int8} was altered after export" in err and "Traceback" not in err

    (d / int8).write_bytes(original)
    rewrite_weights(d / int8, "CONV_2D", 0, lambda w: np.clip(-w.astype(np.int32), -127, 127))  # stem conv negated
    reseal(d, int8)
    js = tmp_path / "t.json"
    rc, out, _ = run(capsys, *arm64(d, photo_dir, "--json", js))
    assert rc == 1
    rows = json.loads(js.read_text())
    for r in rows:
        assert r["passed"] is (r["precision"] == "fp32"), r
    for cpu in CPUS:
        bad = next(r for r in rows if r["precision"] == "int8" and r["cpu"] == cpu)
        assert bad["psnr_db"] < 30 and bad["x86_agreement"]["max_quantized_steps"] == 0  # wrong on both, alike
        assert f"FAIL {int8} on {cpu}: psnr_db {bad['psnr_db']:.1f} < 30.0" in out


def test_hang_fails_each_file_and_cpu_in_one_line(
    default_export: Path, photo_dir: Path, export_copy: Callable, arm64_env: object, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    d = export_copy(default_export, keep=("cifar_float32.tflite", "int8_full_integer"))
    js = tmp_path / "h.json"
    rc, out, _ = run(capsys, *arm64(d, photo_dir, "--timeout", "1", "--json", js))
    assert rc == 1
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL ")]
    assert len(fails) == 4  # every (file, CPU model) was tried: one failure does not stop the others
    assert all("did not finish within 1 s (hang?); killed" in ln for ln in fails)
    rows = json.loads(js.read_text())
    assert {(r["cpu"], r["passed"]) for r in rows} == {(c, False) for c in CPUS}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_truncated_file_fails_alone_in_one_line_naming_it(
    default_export: Path, photo_dir: Path, export_copy: Callable, arm64_env: object, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    """An int8 file cut in half whose manifest was re-sealed (so its hash passes): that file fails in one line
    naming it, on every CPU model at once; the float file still runs and passes on each; exit 1, not 2."""
    d = export_copy(default_export, keep=("cifar_float32.tflite", "int8_full_integer"))
    int8 = entry(read_manifest(d), "tflite", "int8")["path"]
    data = (d / int8).read_bytes()
    (d / int8).write_bytes(data[: len(data) // 2])
    reseal(d, int8)
    js = tmp_path / "t.json"
    rc, out, err = run(capsys, *arm64(d, photo_dir, "--json", js))
    assert rc == 1 and "Traceback" not in err and "error:" not in err
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL ")]
    assert len(fails) == 1, out
    assert fails[0].startswith(f"FAIL {int8} on every CPU model: {d / int8} is not a loadable TFLite model")
    rows = json.loads(js.read_text())
    assert sorted((r["precision"], r["cpu"], r["passed"]) for r in rows if "error" not in r) == [
        ("fp32", c, True) for c in sorted(CPUS)
    ]
    assert [(r["path"], r["passed"]) for r in rows if "error" in r] == [(int8, False)]


def test_missing_install_is_one_line_naming_the_script(
    default_export: Path, photo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    monkeypatch.setenv("SHUFFLENET_ARM64_CACHE", str(tmp_path / "none"))
    js = tmp_path / "m.json"
    rc, _, err = run(capsys, *arm64(default_export, photo_dir, "--json", js))
    assert rc == 2 and not js.exists()  # a set-up to run first: 2, as for bad input (the line names the fix)
    (line,) = err.strip().splitlines()
    assert line.startswith("error: the arm64 emulator/userland is not installed")
    assert line.endswith("run `bash scripts/setup_arm64.sh`")
    from shufflenet.benchmarks.cli_eval import main as eval_main

    assert eval_main(["--artifacts", str(default_export), "--data", str(photo_dir), "--runtime", "litert-arm64"]) == 2
    assert capsys.readouterr().err.strip().endswith("run `bash scripts/setup_arm64.sh`")


def test_unknown_cpu_model(default_export: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, *arm64(default_export, photo_dir)[:-1], "cortex-a53,pentium4")
    assert rc == 2 and "error: unknown --cpu pentium4; choose from" in err


def test_eval_on_arm64_matches_x86_on_known_answers(
    default_export: Path, arm64_env: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images filed under the class the default model predicts for 5 of 8 and under another for 3: the
    float32 file on arm64 scores exactly 5/8, and each arm64 row equals its x86 LiteRT twin."""
    from PIL import Image
    from shufflenet.benchmarks.cli_eval import main as eval_main
    from shufflenet.model.preprocessing import Preprocessing
    from shufflenet.model.source import logits, model_from_source

    m = read_manifest(default_export)
    model = model_from_source(m["source"], m["arch"]).model
    labels = (default_export / m["labels_file"]).read_text().splitlines()
    images = np.random.default_rng(2).integers(0, 256, (8, *m["input_size"], 3), dtype=np.uint8)
    pred = logits(model, images, Preprocessing.from_dict(m["preprocessing"])).argmax(1)
    root = tmp_path / "data"
    for i, img in enumerate(images):
        dest = root / labels[pred[i] if i < 5 else (pred[i] + 1) % len(labels)] / f"{i}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest)
    js = tmp_path / "e.json"
    rc = eval_main(["--artifacts", str(default_export), "--data", str(root), "--runtime", "litert-arm64",
                    "--cpu", "cortex-a76", "--precisions", "fp32", "int8", "--json", str(js)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = json.loads(js.read_text())
    assert [(r["precision"], r["evaluated_by"]) for r in rows] == [
        ("fp32", "pytorch"), ("fp32", "litert"), ("fp32", "litert-arm64 (cortex-a76)"),
        ("int8", "litert"), ("int8", "litert-arm64 (cortex-a76)")]  # fmt: skip
    assert rows[2]["top1"] == 5 / 8 and rows[2]["images"] == 8
    for x86, arm in ((rows[1], rows[2]), (rows[3], rows[4])):
        assert (arm["top1"], arm["top5"], arm["top1_agreement"]) == (x86["top1"], x86["top5"], x86["top1_agreement"])
    assert rows[4]["x86_agreement"]["max_quantized_steps"] == 0
    assert "bit-identical to x86" in out


def test_float16_arithmetic_runs_in_float16_on_a76_and_float32_on_a53(
    small_export: Path, photo_dir: Path, export_copy: Callable, arm64_env: object, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    """The float16-arithmetic file on the two phone cores: the Cortex-A76 (FP16 arithmetic) runs half-precision
    kernels (``fmla v.8h``: counted in qemu's instruction log) and its outputs move by float16 rounding; the
    Cortex-A53 (none) runs float32 kernels and gives x86's float32 outputs up to summation order. Both pass."""
    d = export_copy(small_export, keep=("float16_arithmetic",))
    js, md = tmp_path / "f.json", tmp_path / "f.md"
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--runtime", "litert-arm64",
                     "--cpu", "cortex-a53,cortex-a76", "--json", js, "--markdown", md)  # fmt: skip
    assert rc == 0, out
    rows = {r["cpu"]: r for r in json.loads(js.read_text())}
    a76, a53 = rows["cortex-a76"]["arithmetic_used"], rows["cortex-a53"]["arithmetic_used"]
    assert a76["arithmetic"] == "fp16" and a76["kernel_instructions"]["fp16_arith"] > 50, a76
    assert a53["arithmetic"] == "fp32" and "fp16_arith" not in a53["kernel_instructions"], a53
    assert 1e-5 < rows["cortex-a76"]["x86_agreement"]["max_rel"] <= 0.02
    assert rows["cortex-a53"]["x86_agreement"]["max_rel"] <= 1e-5
    assert {"fphp", "asimdhp"} <= set(rows["cortex-a76"]["cpu_features"])
    assert not {"fphp", "asimdhp"} & set(rows["cortex-a53"]["cpu_features"])
    assert "fp16 (" in out and "fp16 instr.)" in out and "| fp32 (0 fp16 instr.) |" in md.read_text()


def test_eval_reports_float32_arithmetic_for_the_x86_twin(
    small_export: Path, photo_dir: Path, arm64_env: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``shufflenet-eval --runtime litert-arm64`` on the float16-arithmetic file: the x86 row says it was computed
    in float32 there, the A76 row is the emulated float16 run."""
    import platform

    from shufflenet.benchmarks.cli_eval import main as eval_main

    root = tmp_path / "data"
    m = read_manifest(small_export)
    labels = (small_export / m["labels_file"]).read_text().splitlines()
    for i, img in enumerate(sorted(photo_dir.iterdir())[:3]):
        (root / labels[i]).mkdir(parents=True)
        (root / labels[i] / img.name).write_bytes(img.read_bytes())
    js = tmp_path / "e.json"
    rc = eval_main(["--artifacts", str(small_export), "--data", str(root), "--runtime", "litert-arm64",
                    "--cpu", "cortex-a76", "--precisions", "fp16-arith", "--json", str(js)])  # fmt: skip
    assert rc == 0, capsys.readouterr().out
    rows = json.loads(js.read_text())
    assert [r["evaluated_by"] for r in rows] == [
        "pytorch", f"litert (fp32 arithmetic on {platform.machine()})", "litert-arm64 (cortex-a76)"]  # fmt: skip
