"""`shufflenet-parity` on real export folders: every runtime, real images, deliberately broken files and
manifests, and the one-line errors of an unusable folder."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from run_once import once_per_run

pytest.register_assert_rewrite("parity_fixtures")  # helpers and fixtures, before their first import
from figures import figure, same_bytes, verdict_figure  # noqa: E402
from parity_fixtures import (  # noqa: E402
    assert_same_figures,
    edit_manifest,
    entry,
    read_manifest,
    reference_peak,
    reseal,
    rewrite_weights,
)
from shufflenet.benchmarks.cli_parity import main  # noqa: E402
from shufflenet.benchmarks.parity.parity_defaults import DEFAULT_INT8_MAX_RMS_STEPS, int8_rms_bar, psnr_bar  # noqa: E402
from shufflenet.export.parity import ParityError, check_signature  # noqa: E402

REQUIRED_KEYS = {"format", "precision", "path", "max_abs", "mean_abs", "cosine", "psnr_db", "top1_agreement",
                 "top5_agreement", "passed", "evaluated_by"}  # fmt: skip
RUNTIMES = {"onnx": "onnxruntime", "tflite": "litert", "coreml": "coreml-numpy", "executorch": "executorch"}

pytest_plugins = ["parity_fixtures"]  # default_export, photo_dir, export_copy
# every test here needs the session's real export (minutes on a loaded machine); figures that float kernels move
pytestmark = [pytest.mark.slow, pytest.mark.numerics]


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------------ passing


def test_default_export_passes_with_the_manifests_figures(
    default_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default export passes on the install's photos, and the figures are the ones shufflenet-export wrote
    into the manifest: one implementation, the same reference model rebuilt. The export ran in another process
    (whichever test worker made it, with its thread count), so PyTorch's side may differ by float reordering."""
    js, md = tmp_path / "parity.json", tmp_path / "parity.md"
    rc, out, _ = run(capsys, "--artifacts", default_export, "--json", js, "--markdown", md)
    assert rc == 0, out
    manifest = read_manifest(default_export)
    report = json.loads(js.read_text())
    assert [r["path"] for r in report] == [e["path"] for e in manifest["artifacts"]]
    n = 12  # ONNX x2, TFLite x4, Core ML x4, ExecuTorch x2
    assert len(report) == n
    peak = reference_peak(default_export)
    for r, e in zip(report, manifest["artifacts"], strict=True):
        assert REQUIRED_KEYS <= set(r), r
        assert r["passed"] is True and r["failures"] == []
        # x86 LiteRT computes the float16-arithmetic file in float32, and the row says so
        by = RUNTIMES[r["format"]] + (f" (fp32 arithmetic on {platform.machine()})" if r["precision"] == "fp16-arith"
                                      else "")  # fmt: skip
        assert r["evaluated_by"] == by == e["parity"]["evaluated_by"]
        assert_same_figures(r, e["parity"], peak, r["path"])
        assert r["output_kind"] == ("probabilities" if e.get("variant") == "image" else "logits")
        assert verdict_figure("default export, 96 install photos", r), r  # int8: in quantized steps
        # the same bytes under every numeric configuration, but an int8 .pte (PyTorch's observers set its ranges)
        host_only = e["format"] == "executorch" and e["precision"] == "int8"
        assert e["reproducible"] == ("this-host" if host_only else "x86-64")
        if not host_only:
            same_bytes(f"default export: {e['path']}", e["sha256"])
        if r["precision"] == "fp32":
            assert r["top1_agreement"] == 1.0
        # XNNPACK coverage, read from a fresh interpreter or program: the same partitioning the export recorded
        assert ("delegate_coverage" in r) == (r["format"] in ("tflite", "executorch"))
        if "delegate_coverage" in r:
            for k in ("nodes", "delegated_nodes", "partitions"):
                assert r["delegate_coverage"][k] == e["delegate_coverage"][k]
            if r["precision"] in ("int8", "fp16-arith") or r["format"] == "executorch":
                assert r["delegate_coverage"]["partitions"] == 1
    assert report[0]["images"] == 96  # 12 photos x 8 crops
    for e in manifest["artifacts"]:
        assert e["path"] in out
    assert "evaluated by" in out and "coreml-numpy" in out and f"all {n} files pass" in out
    assert out.count("XNNPACK coverage of ") == 6  # 4 .tflite and 2 .pte files
    assert (
        "float16_arithmetic_float32_io.tflite allows float16 arithmetic, but x86 LiteRT computes it in float32" in out
    )
    text = md.read_text()
    assert "| file | format | precision | evaluated by |" in text and f"All {n} files pass." in text
    assert text.count("| pass |") == n


def test_the_export_is_byte_for_byte_the_one_the_docs_measured(default_export: Path) -> None:
    """The docs' figures of the default model were measured on one export on one machine (docs/results/
    measured_on.json records its files' sha256); this host's export of the same commit has the same bytes, file for
    file: no file depends on the host's CPU (int8 ranges from reference kernels, Core ML ids from item paths)."""
    from shufflenet.model.pretrained import default_weights_path

    if default_weights_path() is None:
        pytest.skip("no embedded default weights in this checkout: the export is of a random init")
    measured = json.loads((Path(__file__).parents[3] / "docs" / "results" / "measured_on.json").read_text())
    for e in read_manifest(default_export)["artifacts"]:
        if e["reproducible"] == "x86-64":  # not an int8 .pte, whose ranges come from the host's float kernels
            assert measured["files"].get(e["path"]) == e["sha256"], (e["path"], measured["machine"])


def test_real_image_folder(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("sim.onnx", "float32.tflite", "coreml_fp16_image"))
    js = tmp_path / "p.json"
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--json", js)
    assert rc == 0, out
    report = json.loads(js.read_text())
    assert [r["images"] for r in report] == [6, 6, 6]
    assert f"6 images from {photo_dir}" in out
    coreml = report[2]
    assert coreml["output_kind"] == "probabilities" and coreml["evaluated_by"] == "coreml-numpy"


def _int8_row(capsys: pytest.CaptureFixture[str], d: Path, images: Path, js: Path) -> tuple[int, str, dict]:
    rc, out, _ = run(capsys, "--artifacts", d, "--images", images, "--json", js)
    (row,) = json.loads(js.read_text())
    return rc, out, row


def test_int8_verdict_holds_on_a_few_photos_and_on_each_alone(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default's int8 file passes on the six photos and on each photo alone: its verdict is taken in its own
    quantized steps, with a bar that widens for few images, not from a PSNR that swings with how large a few
    photos' logits are. The same file with its stem conv's weights halved (a wrong weight scale) fails on them."""
    d = export_copy(default_export, keep=("int8_full_integer",))
    rc, out, row = _int8_row(capsys, d, photo_dir, tmp_path / "six.json")
    assert rc == 0, out
    assert row["images"] == 6
    name = f"default int8 on the 6 photos: {row['path']}"
    assert figure(f"{name} rms_steps", row["rms_steps"], "<=", int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 6))
    for photo in sorted(photo_dir.iterdir()):
        alone = tmp_path / photo.stem
        alone.mkdir()
        shutil.copy(photo, alone / photo.name)
        rc, out, row = _int8_row(capsys, d, alone, tmp_path / f"{photo.stem}.json")
        assert rc == 0, out
        assert figure(f"default int8 on {photo.name} alone rms_steps", row["rms_steps"], "<=",
                      int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 1))  # fmt: skip
    int8 = entry(read_manifest(d), "tflite", "int8")["path"]
    rewrite_weights(d / int8, "CONV_2D", 0, lambda w: np.round(w.astype(np.float32) * 0.5))
    reseal(d, int8)
    rc, out, row = _int8_row(capsys, d, photo_dir, tmp_path / "broken.json")
    assert rc == 1 and not row["passed"]
    bar = int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 6)
    assert figure("default int8, stem weights halved, on the 6 photos rms_steps", row["rms_steps"], ">", bar)
    assert f"FAIL {int8}: rms_steps {row['rms_steps']:.1f} > {bar:.1f} quantized steps" in out


def test_int8_calibrated_on_one_black_image_fails(
    tmp_path_factory: pytest.TempPathFactory, photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An int8 file calibrated on a single black image (every activation range near zero, so real photos
    saturate) fails on the same six photos the default's own int8 file passes on."""
    from PIL import Image
    from shufflenet.export.pipeline import ExportConfig, run_export
    from shufflenet.model.pretrained import default_weights_path

    def make(folder: Path) -> Path:
        calib = folder / "black"
        calib.mkdir()
        Image.new("RGB", (32, 32)).save(calib / "black.png")
        cfg = ExportConfig(output=folder / "artifacts", random_init=default_weights_path() is None, calib=calib,
                           formats=("tflite",), precisions=("int8",), parity=False)  # fmt: skip
        return run_export(cfg).output

    d = once_per_run(tmp_path_factory, "parity-black-calibration", make)
    rc, out, row = _int8_row(capsys, d, photo_dir, tmp_path / "black.json")
    assert rc == 1 and not row["passed"], out
    bar = int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 6)
    assert figure("int8 calibrated on one black image, on the 6 photos rms_steps", row["rms_steps"], ">", bar)
    assert f"FAIL {row['path']}: rms_steps" in out


def test_imagenet_samples_folder(
    default_export: Path,
    imagenet_samples: Path,
    export_copy: Callable,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = export_copy(default_export, keep=("float32.tflite",))
    js = tmp_path / "p.json"
    rc, out, _ = run(capsys, "--artifacts", d, "--images", imagenet_samples, "--limit", "12", "--json", js)
    assert rc == 0, out
    assert json.loads(js.read_text())[0]["images"] == 12


def test_checkpoint_source_with_weights_override(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint export whose file moved: a one-line error naming --weights, then --weights PATH works."""
    import torch
    from shufflenet.export.parity import rebuild_reference
    from shufflenet.model.files import sha256_path

    model = rebuild_reference(read_manifest(default_export), default_export).model  # the exported network
    ckpt = tmp_path / "moved" / "model.pt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": model.state_dict()}, ckpt)
    d = export_copy(default_export, keep=("sim.onnx",))
    src = {"kind": "checkpoint", "path": str(tmp_path / "gone" / "model.pt"), "sha256": sha256_path(ckpt)}
    edit_manifest(d, lambda m: m.update(source=src))
    rc, _, err = run(capsys, "--artifacts", d, "--images", photo_dir)
    assert rc == 2
    assert "gone/model.pt" in one_line_error(err) and "pass --weights PATH" in err
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--weights", ckpt)
    assert rc == 0, out
    assert "(checkpoint " in out


# ------------------------------------------------------------------------------------------------ failing


def test_perturbed_tflite_weights_fail_with_the_shortfall(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("sim.onnx", "float32.tflite"))
    fp32 = entry(read_manifest(d), "tflite", "fp32")["path"]
    rewrite_weights(d / fp32, "CONV_2D", 0, lambda w: w * 1.5)  # the stem conv, 50 % too strong
    reseal(d, fp32)
    js, md = tmp_path / "p.json", tmp_path / "p.md"
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--json", js, "--markdown", md)
    assert rc == 1
    onnx_r, tfl_r = json.loads(js.read_text())
    assert onnx_r["passed"] is True
    assert tfl_r["passed"] is False
    assert tfl_r["psnr_db"] < 80
    (f,) = [x for x in tfl_r["failures"] if x["metric"] == "psnr_db"]
    bar = psnr_bar(80.0, 6)  # 80 dB lowered for six images
    assert f["threshold"] == bar and f["short_by"] == pytest.approx(bar - tfl_r["psnr_db"])
    line = f"FAIL {fp32}: psnr_db {tfl_r['psnr_db']:.1f} < {bar:.1f} (short by {bar - tfl_r['psnr_db']:.1f} dB)"
    assert line in out
    assert line in md.read_text()
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL ")]
    assert fails and all(ln.startswith(f"FAIL {fp32}: ") for ln in fails)  # the ONNX file passes
    assert len(fails) == len(tfl_r["failures"])  # psnr_db, and top1_agreement if a class flipped


def test_wrong_manifest_preprocessing_fails(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files are fed through the manifest's declared normalisation, PyTorch through the weights' own; a wrong
    scale (pixels not divided by 255) is caught on every file that normalises outside the model, and the report
    names the difference."""
    d = export_copy(default_export, keep=("fp32.onnx", "float32.tflite", "coreml_fp32_image"))
    edit_manifest(d, lambda m: m["preprocessing"].update(scale=1.0))
    js = tmp_path / "p.json"
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--json", js)
    assert rc == 1
    by_path = {r["path"]: r for r in json.loads(js.read_text())}
    onnx_r = next(r for p, r in by_path.items() if p.endswith("fp32.onnx"))
    tfl_r = next(r for p, r in by_path.items() if p.endswith("float32.tflite"))
    image_r = next(r for p, r in by_path.items() if p.endswith("coreml_fp32_image.mlpackage"))
    assert not onnx_r["passed"] and not tfl_r["passed"]
    assert onnx_r["psnr_db"] < 30 and tfl_r["psnr_db"] < 30
    assert image_r["passed"]  # a Core ML image input applies the normalisation baked into the model
    assert f"FAIL {onnx_r['path']}: psnr_db" in out
    assert "note: the manifest declares preprocessing that differs" in out and "scale 1.0 (weights expect 0.0039" in out


def test_threshold_flags(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("int8_full_integer",))
    path = entry(read_manifest(d), "tflite", "int8")["path"]
    js = tmp_path / "p.json"
    run(capsys, "--artifacts", d, "--images", photo_dir, "--json", js, "--min-psnr-int8", "0")
    psnr = json.loads(js.read_text())[0]["psnr_db"]
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--min-psnr-int8", f"{psnr - 1:.3f}")
    assert rc == 0, out
    bar = round(psnr + 10, 3)
    rc, out, _ = run(capsys, "--artifacts", d, "--images", photo_dir, "--min-psnr-int8", str(bar))
    assert rc == 1
    bar6 = psnr_bar(bar, 6)  # the bar for six images
    assert f"FAIL {path}: psnr_db {psnr:.1f} < {bar6:.1f} (short by {bar6 - psnr:.1f} dB)" in out
    with pytest.raises(SystemExit) as info:  # argparse: not a fraction or a percentage up to 100 %
        main(["--artifacts", str(d), "--min-top1-int8", "101"])
    assert info.value.code == 2
    assert "is not between 0 and 1" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ unusable input


def test_missing_or_altered_file(
    default_export: Path, export_copy: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export)
    m = read_manifest(d)
    int8 = entry(m, "tflite", "int8")["path"]
    with open(d / int8, "ab") as f:
        f.write(b"\0")
    rc, _, err = run(capsys, "--artifacts", d)
    assert rc == 2
    assert f"{int8} was altered after export (sha256" in one_line_error(err)
    (d / int8).unlink()
    rc, _, err = run(capsys, "--artifacts", d)
    assert rc == 2
    assert f"{int8} is listed in the manifest but missing" in one_line_error(err)
    shutil.rmtree(d / entry(m, "coreml", "fp16", "image")["path"])
    rc, _, err = run(capsys, "--artifacts", d)
    assert rc == 2 and "but missing" in one_line_error(err)


def test_unreadable_image_folders(
    default_export: Path, export_copy: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("sim.onnx",))
    rc, _, err = run(capsys, "--artifacts", d, "--images", tmp_path / "no-such-folder")
    assert rc == 2 and "no-such-folder does not exist" in one_line_error(err)
    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"not a folder")
    rc, _, err = run(capsys, "--artifacts", d, "--images", a_file)
    assert rc == 2 and "photo.jpg is a file, not a folder" in one_line_error(err)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    rc, _, err = run(capsys, "--artifacts", d, "--images", empty)
    assert rc == 2 and "holds no image files" in one_line_error(err)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("a.jpg", "b.png"):
        (broken / name).write_bytes(b"\xff\xd8\xff truncated")
    rc, _, err = run(capsys, "--artifacts", d, "--images", broken)
    assert rc == 2 and "none of the 2 images" in one_line_error(err)


def test_input_signature_mismatch(
    default_export: Path, photo_dir: Path, export_copy: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("sim.onnx", "int8_full_integer"))

    def wrong_zero_point(m: dict) -> None:
        e = entry(m, "tflite", "int8")
        e["inputs"][0]["quantization"]["zero_point"] += 3

    edit_manifest(d, wrong_zero_point)
    rc, _, err = run(capsys, "--artifacts", d, "--images", photo_dir)
    assert rc == 2
    line = one_line_error(err)
    assert "int8_full_integer_int8_io.tflite: the manifest declares input 'input' int8[1x32x32x3]" in line
    assert "but the file takes 'input' int8[1x32x32x3]" in line and "re-run shufflenet-export" in line


def test_signature_check_on_real_files(default_export: Path) -> None:
    """Every exported file matches its manifest entry; a changed shape, quantisation, dtype, layout or input
    kind does not."""
    from shufflenet.export.runtimes.loader import load_runner

    m = read_manifest(default_export)
    for e in m["artifacts"]:
        check_signature(load_runner(default_export, e))

    def fails(e: dict, match: str) -> None:
        with pytest.raises(ParityError, match=match) as info:
            check_signature(load_runner(default_export, e))
        assert "\n" not in str(info.value)

    onnx = entry(m, "onnx", "fp32", "raw")
    fails({**onnx, "inputs": [{**onnx["inputs"][0], "shape": [1, 3, 64, 64]}]}, r"input 'input' float32\[1x3x64x64\]")
    int8 = entry(m, "tflite", "int8")
    q = int8["inputs"][0]["quantization"]
    wrong_q = {**int8["inputs"][0], "quantization": {"scale": q["scale"] * 2, "zero_point": q["zero_point"]}}
    fails({**int8, "inputs": [wrong_q]}, r"int8_io.tflite: the manifest declares input .* q\(scale")
    fails({**int8, "outputs": [{**int8["outputs"][0], "dtype": "float32"}]}, "declares output")
    fp32 = entry(m, "tflite", "fp32")
    fails({**fp32, "inputs": [{**fp32["inputs"][0], "layout": "NCHW"}]}, "cannot be NCHW")
    image = entry(m, "coreml", "fp32", "image")
    fails({**image, "inputs": [{**image["inputs"][0], "kind": "tensor"}]}, "coreml_fp32_image.mlpackage")


def test_coreml_file_with_an_unknown_op(
    default_export: Path, photo_dir: Path, export_copy: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Core ML file holding an op the NumPy evaluator lacks: a loud one-line error, never a skipped file."""
    ct = pytest.importorskip("coremltools")
    from coremltools.converters.mil import Builder as mb

    d = export_copy(default_export, keep=("coreml_fp32_tensor",))
    path = entry(read_manifest(d), "coreml", "fp32", "tensor")["path"]

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 32, 32))], opset_version=ct.target.iOS15)
    def prog(input):  # the manifest's input name
        x = mb.reduce_mean(x=mb.sin(x=input), axes=[2, 3])
        return mb.slice_by_size(x=mb.tile(x=x, reps=[1, 4]), begin=[0, 0], size=[1, 10], name="logits")

    model = ct.convert(prog, convert_to="mlprogram", pass_pipeline=ct.PassPipeline.EMPTY,
                       minimum_deployment_target=ct.target.iOS15, compute_precision=ct.precision.FLOAT32)  # fmt: skip
    shutil.rmtree(d / path)
    model.save(str(d / path))
    reseal(d, path)
    rc, _, err = run(capsys, "--artifacts", d, "--images", photo_dir)
    assert rc == 2
    line = one_line_error(err)
    assert f"{path} failed to run with coreml-numpy: Core ML op 'sin'" in line
    assert "not supported by the NumPy evaluator" in line


def test_console_script_one_line_error(default_export: Path, export_copy: Callable) -> None:
    """The installed command itself: an altered file exits 2 with one line and no traceback."""
    d = export_copy(default_export, keep=("sim.onnx",))
    sim = entry(read_manifest(d), "onnx", "fp32", "simplified")["path"]
    (d / sim).write_bytes((d / sim).read_bytes()[:-10])
    exe = Path(sys.executable).with_name("shufflenet-parity")
    proc = subprocess.run([str(exe), "--artifacts", str(d)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {sim} was altered after export")


def test_per_layer_needs_the_tflite_pair(
    default_export: Path, export_copy: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    d = export_copy(default_export, keep=("sim.onnx", "int8_full_integer"))
    rc, _, err = run(capsys, "--artifacts", d, "--per-layer")
    assert rc == 2
    assert "no TFLite fp32 file; re-export with --format tflite --precision fp32,int8" in one_line_error(err)


def test_unreadable_images_are_named_and_limit_holds_without_images(
    default_export: Path, photo_dir: Path, export_copy: Callable, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A broken photo among good ones is skipped and named on the screen (it was skipped silently); --limit holds
    for the install's own photos too (it was ignored without --images); "1 real image", not "1 real images"."""
    d = export_copy(default_export, keep=("sim.onnx",))
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(next(p for p in sorted(photo_dir.iterdir()) if p.suffix == ".jpg"), photos / "good.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    rc, out, err = run(capfd, "--artifacts", d, "--images", photos)
    assert rc in (0, 1), err
    assert "1 of 2 images unreadable, skipped: broken.jpg (" in err
    assert "parity against PyTorch on 1 real image (" in err
    assert f"1 image from {photos} (1 unreadable, skipped)" in out
    js = tmp_path / "p.json"
    rc, out, err = run(capfd, "--artifacts", d, "--limit", "5", "--json", js)
    assert rc in (0, 1), err
    assert [r["images"] for r in json.loads(js.read_text())] == [5]


def test_unwritable_reports_are_found_before_any_file_is_run(
    default_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("--json", "--markdown"):
        rc, out, err = run(capsys, "--artifacts", default_export, flag, "/proc/x/parity.out")
        assert rc == 2 and f"{flag} /proc/x/parity.out is not writable" in one_line_error(err)
        assert "parity against PyTorch" not in err and out == ""
