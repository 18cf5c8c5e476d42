"""Cross-language golden test: the app's Java preprocessing and top-k against the Python reference and LiteRT.

Same PNG in both languages (lossless, so decoders agree): the Java input tensor must equal the one the project's
runtime prepares (bit-exact for int8, within 1e-6 for float32), and Java's dequantization + softmax + top-k of the
raw LiteRT output must give the same classes and probabilities as Python.

Both sides first reduce the photo as the app decodes it: the sample size of the shared rule (DecodeSize.java and
``decode_sample_size`` in model/preprocessing.py), applied as Android's sampled decoder does for lossless formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage
from android_demo_helpers import run, tflite_entries
from PIL import Image
from shufflenet.export.runtimes.base import dequantize, quantize
from shufflenet.model.preprocessing import Preprocessing, decode_min_short_side, decode_sample_size, load_rgb, normalize_hwc, resize_and_crop, subsample

pytestmark = pytest.mark.slow

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
# Downscales by up to 16x (wide filters, NumPy's pairwise weight sums), grey input, and the bundled samples.
PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "camera.png")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The install's photos plus synthetic PNGs: odd sizes, upscaling, tall/wide, RGBA and palette modes."""
    folder = tmp_path_factory.mktemp("golden-images")
    paths = [SKIMAGE_DATA / name for name in PHOTOS]
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate([(37, 53), (90, 17), (20, 20), (5, 300), (301, 29)]):
        path = folder / f"noise_{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    rgba = np.dstack([rng.integers(0, 256, (40, 60, 3)), rng.integers(0, 256, (40, 60))]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    return [*paths, folder / "rgba.png", folder / "palette.png"]


def input_details(model: Path) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    return interpreter.get_input_details()[0]


def app_decode(image: Path, description: Preprocessing, reduce: bool = True) -> tuple[np.ndarray, int]:
    """The pixels the app classifies: decoded at the sample size of the shared rule (for the shipped description)."""
    img = load_rgb(image)
    s = decode_sample_size(img.shape[0], img.shape[1], decode_min_short_side(description)) if reduce else 1
    return subsample(img, s), s


def python_input(image: Path, prep: Preprocessing, details: dict, reduce: bool = True) -> np.ndarray:
    """The reference: the app's decode rule, model/preprocessing.py, then the runtime's layout and quantization."""
    shape = [int(d) for d in details["shape"]]
    nhwc = shape[3] == 3
    height, width = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    pixels, _ = app_decode(image, prep, reduce)
    if tuple(prep.crop) != (height, width):
        prep = prep.with_input_size(height, width)
    x = normalize_hwc(resize_and_crop(pixels, prep)[None], prep)
    if not nhwc:
        x = x.transpose(0, 3, 1, 2)
    if details["dtype"] == np.float32:
        return np.ascontiguousarray(x, dtype=np.float32)
    scale, zero_point = details["quantization"]
    return quantize(x, {"scale": scale, "zero_point": zero_point}, np.dtype(details["dtype"]).name)


def java_preprocess(
    classes: Path, prep_json: Path, details: dict, shape: list[int], images: list[Path], out: Path, reduce: bool = True
) -> dict[str, int]:
    """Runs the Java side; returns the decode sample size it used per image stem."""
    dtype = np.dtype(details["dtype"]).name.upper()
    scale, zero_point = details["quantization"]
    out.mkdir(parents=True, exist_ok=True)
    args = [str(prep_json), dtype, repr(float(scale)), str(zero_point), ",".join(map(str, shape)), str(out)]
    mode = "preprocess" if reduce else "preprocess-full"
    proc = run(["java", "-cp", str(classes), "GoldenHarness", mode, *args, *map(str, images)])
    return {name: int(s) for name, s in (line.split() for line in proc.stdout.splitlines())}


@pytest.mark.parametrize("decode", ["reduced", "full"])
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_java_input_tensor_equals_python(java_classes, export_dir, manifest, images, tmp_path, dtype, decode) -> None:
    """``reduced``: what the app does (shared decode rule); ``full``: full-size pixels, so the resize filters of
    up to 16x downscales are compared too."""
    entry = tflite_entries(manifest)[{"float32": "fp32"}.get(dtype, dtype)]
    details = input_details(export_dir / entry["path"])
    prep_json = export_dir / "preprocessing.json"
    prep = Preprocessing.from_dict(json.loads(prep_json.read_text()))
    shape = [int(d) for d in details["shape"]]
    reduce = decode == "reduced"
    samples = java_preprocess(java_classes, prep_json, details, shape, images, tmp_path, reduce)
    # The same decode rule on both sides, and the photos really are decoded at reduced size.
    assert samples == {image.stem: app_decode(image, prep, reduce)[1] for image in images}
    assert max(samples.values()) == (8 if reduce else 1), samples
    for image in images:
        expected = python_input(image, prep, details, reduce)
        got = np.fromfile(tmp_path / f"{image.stem}.input.bin", dtype=expected.dtype.newbyteorder("<"))
        got = got.reshape(expected.shape)
        if dtype == "int8":
            assert np.array_equal(got, expected), f"{image.name}: {int((got != expected).sum())} values differ"
        else:
            assert np.abs(got - expected).max() <= 1e-6, image.name


def test_java_follows_a_different_input_size_and_layout(java_classes, export_dir, images, tmp_path) -> None:
    """The app reads size and layout from the model: a 40x48 NCHW input adapts the description like Python."""
    details = {"shape": [1, 3, 40, 48], "dtype": np.float32, "quantization": (0.0, 0)}
    prep_json = export_dir / "preprocessing.json"
    prep = Preprocessing.from_dict(json.loads(prep_json.read_text()))
    samples = java_preprocess(java_classes, prep_json, details, details["shape"], images[:3], tmp_path)
    assert samples == {image.stem: app_decode(image, prep)[1] for image in images[:3]}
    for image in images[:3]:
        expected = python_input(image, prep, details)
        got = np.fromfile(tmp_path / f"{image.stem}.input.bin", dtype="<f4").reshape(expected.shape)
        assert np.abs(got - expected).max() <= 1e-6, image.name


@pytest.mark.parametrize("precision", ["int8", "fp32", "fp16-arith"])
def test_java_topk_on_litert_output_equals_python(java_classes, export_dir, manifest, images, tmp_path, precision):
    """The float16-arithmetic file too: LiteRT computes it in float32 on this host (a phone with FP16 arithmetic
    would compute it in float16), and the app's dequantization, softmax and top-k of its output match Python."""
    from ai_edge_litert.interpreter import Interpreter

    entry = tflite_entries(manifest)[precision]
    interpreter = Interpreter(model_path=str(export_dir / entry["path"]))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    prep = Preprocessing.from_dict(json.loads((export_dir / "preprocessing.json").read_text()))
    raw_files = []
    expected = []
    for image in images:
        interpreter.set_tensor(inp["index"], python_input(image, prep, inp))
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])
        raw_file = tmp_path / f"{image.stem}.out.bin"
        raw.astype(raw.dtype.newbyteorder("<")).tofile(raw_file)
        raw_files.append(raw_file)
        scale, zero_point = out["quantization"]
        quant = {"scale": scale, "zero_point": zero_point} if out["dtype"] != np.float32 else None
        logits = dequantize(raw.reshape(-1), quant).astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:5]
        expected.append([(int(i), float(p[i])) for i in order])

    scale, zero_point = out["quantization"]
    proc = run(["java", "-cp", str(java_classes), "GoldenHarness", "postprocess",
                str(export_dir / "labels.txt"), np.dtype(out["dtype"]).name.upper(), repr(float(scale)),
                str(zero_point), ",".join(str(int(d)) for d in out["shape"]), "5", *map(str, raw_files)])  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(images)
    for image, line, want in zip(images, lines, expected, strict=True):
        got = [(int(i), float(p)) for i, p in (item.split(":") for item in line.split())]
        assert [i for i, _ in got] == [i for i, _ in want], image.name
        assert np.allclose([p for _, p in got], [p for _, p in want], rtol=0, atol=1e-6), image.name


def test_decode_sample_size_rule_is_the_same_in_java_and_python(java_classes) -> None:
    """DecodeSize.sampleSize against decode_sample_size on phone-like and awkward sizes (panoramas, tiny, 1 px)."""
    sizes = [(4000, 3000), (3000, 4000), (4032, 3024), (2304, 1728), (451, 300), (300, 451), (1, 1), (64, 64),
             (127, 128), (128, 128), (30000, 1500), (12000, 200), (2000, 1000), (8192, 8192)]  # fmt: skip
    for min_short in (64, 72, 448, 512):
        proc = run(["java", "-cp", str(java_classes), "GoldenHarness", "samplesize", str(min_short),
                    *(f"{w}x{h}" for w, h in sizes)])  # fmt: skip
        java = [int(v) for v in proc.stdout.split()]
        python = [decode_sample_size(h, w, min_short) for w, h in sizes]
        assert java == python, (min_short, java, python)


def test_java_reads_the_models_float16_permission_like_python(java_classes, export_dir, manifest) -> None:
    """The app reads reduced_precision_support from the model's own flatbuffer (Fp16Arithmetic.metadata) to say
    which arithmetic XNNPACK runs: the same value LiteRT's Python schema reads, for every .tflite of the export."""
    from shufflenet.export.runtimes.litert import reduced_precision_support

    entries = list(tflite_entries(manifest).values())
    proc = run(["java", "-cp", str(java_classes), "GoldenHarness", "metadata",
                *(str(export_dir / e["path"]) for e in entries)])  # fmt: skip
    java = proc.stdout.splitlines()
    python = [reduced_precision_support(export_dir / e["path"]) or "-" for e in entries]
    assert java == python
    assert {e["precision"]: v for e, v in zip(entries, java, strict=True)} == {
        "fp32": "-", "fp16": "fp16accfp32", "fp16-arith": "fp16accfp16", "int8": "-"}  # fmt: skip
