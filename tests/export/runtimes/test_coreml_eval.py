"""The NumPy Core ML evaluator against PyTorch: real conversions of ShuffleNet variants, image inputs, a
classifier, per-op MIL programs and the error raised for an op it does not implement."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

ct = pytest.importorskip("coremltools")
from coremltools.converters.mil import Builder as mb  # noqa: E402
from shufflenet.export.runtimes import coreml_ops  # noqa: E402
from shufflenet.export.runtimes.coreml_eval import (  # noqa: E402
    UnsupportedOpError,
    evaluate_mlpackage,
    evaluate_program,
    load_program,
    on_macos,
    predict_macos,
)
from shufflenet.model import build_model  # noqa: E402

# ------------------------------------------------------------------------------------------------------ helpers


def psnr(ref: np.ndarray, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio of ``out`` against ``ref``, peak = max |ref| (dB; inf when identical)."""
    mse = float(np.mean((out.astype(np.float64) - ref.astype(np.float64)) ** 2))
    peak = float(np.max(np.abs(ref)))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights with O(1) activations and non-trivial BN statistics, so a wrong BN fold would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.8 + 0.4)
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.in_features))
    return model.eval()


def convert_torch(
    model: nn.Module,
    x: torch.Tensor,
    path: Path,
    precision: str = "FLOAT32",
    target: object = None,
    inputs: list | None = None,
    **kwargs: object,
) -> Path:
    exported = torch.export.export(model.eval(), (x,)).run_decompositions({})
    mlmodel = ct.convert(
        exported,
        convert_to="mlprogram",
        inputs=inputs or [ct.TensorType(name="input", shape=x.shape)],
        compute_precision=getattr(ct.precision, precision),
        minimum_deployment_target=target or ct.target.iOS15,
        **kwargs,
    )
    mlmodel.save(str(path))
    return path


def save_mil(
    tmp_path: Path,
    fn: Callable,
    shapes: Sequence[tuple[int, ...]],
    target: object = None,
    name: str = "prog",
) -> Path:
    """Convert a MIL-builder function (its argument names become input names) without graph passes, so the
    package holds exactly the ops written."""
    target = target or ct.target.iOS15
    prog = mb.program(input_specs=[mb.TensorSpec(shape=s) for s in shapes], opset_version=target)(fn)
    mlmodel = ct.convert(
        prog,
        convert_to="mlprogram",
        pass_pipeline=ct.PassPipeline.EMPTY,
        minimum_deployment_target=target,
        compute_precision=ct.precision.FLOAT32,
    )
    path = tmp_path / f"{name}.mlpackage"
    mlmodel.save(str(path))
    return path


def run_single(path: Path, **inputs: np.ndarray) -> np.ndarray:
    outputs = evaluate_mlpackage(path, inputs)
    assert len(outputs) == 1
    return next(iter(outputs.values()))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def same_pads(size: int, k: int, s: int, d: int = 1, lower: bool = False) -> tuple[int, int]:
    """TensorFlow's SAME padding (out = ceil(in / stride)); written independently of the evaluator's rule."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


# ---------------------------------------------------------------------------------- whole ShuffleNet variants


FP32_CASES = [
    # (variant, input size, batch, deployment target)
    ("shufflenet_v1_g1_0.25x", 96, 1, "iOS15"),
    ("shufflenet_v1_g3_0.5x", 224, 1, "iOS15"),
    ("shufflenet_v1_g8_0.5x", 128, 1, "iOS16"),
    ("shufflenet_v1_g3_0.5x_cifar", 32, 2, "iOS17"),
    ("shufflenet_v1_g8_0.25x_cifar", 32, 1, "iOS15"),
]


@pytest.mark.parametrize(("variant", "size", "batch", "target"), FP32_CASES)
def test_variant_fp32_matches_torch(tmp_path: Path, variant: str, size: int, batch: int, target: str) -> None:
    model = randomise(build_model(variant), seed=size + batch)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    path = convert_torch(model, x, tmp_path / "m.mlpackage", "FLOAT32", getattr(ct.target, target))
    program = load_program(path)
    ops = program.op_counts()
    assert ops["conv"] == 49 and ops["avg_pool"] == 3  # 1 stem + 16 units x 3 convs; 3 stride-2 shortcuts
    assert ("max_pool" in ops) == (not variant.endswith("_cifar"))
    with torch.no_grad():
        ref = model(x).numpy()
    out = evaluate_program(program, {"input": x.numpy()})[program.output_names[0]]
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.max(np.abs(out - ref)) <= 1e-4 * np.max(np.abs(ref))
    assert psnr(ref, out) > 80
    np.testing.assert_array_equal(out.argmax(1), ref.argmax(1))


FP16_CASES = [
    ("shufflenet_v1_g3_0.5x_cifar", 32, 2, "iOS15"),  # fp32 I/O with cast ops around an fp16 body
    ("shufflenet_v1_g1_0.25x", 96, 1, "iOS17"),  # iOS16+: fp16 inputs and outputs, no casts
    ("shufflenet_v1_g8_0.25x", 64, 1, "iOS18"),
]


@pytest.mark.parametrize(("variant", "size", "batch", "target"), FP16_CASES)
def test_variant_fp16_matches_torch(tmp_path: Path, variant: str, size: int, batch: int, target: str) -> None:
    model = randomise(build_model(variant), seed=size)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))
    path = convert_torch(model, x, tmp_path / "m.mlpackage", "FLOAT16", getattr(ct.target, target))
    program = load_program(path)
    first_conv = next(op for op in program.operations() if op.op_type == "conv")
    extra = first_conv.outputs[0].name
    outputs = evaluate_program(program, {"input": x.numpy()}, extra_outputs=[extra])
    with torch.no_grad():
        ref = model(x).numpy()
    out = outputs[program.output_names[0]]
    assert psnr(ref, out) > 40
    # Intermediate tensors are stored in fp16, as Core ML stores them.
    inter = outputs[extra]
    np.testing.assert_array_equal(inter, inter.astype(np.float16).astype(np.float32))


@pytest.mark.slow
def test_g3_1x_224_fp32_and_fp16_accurate(tmp_path: Path) -> None:
    # Speed is measured by benchmarks, never asserted here (shared, noisy machine).
    model = randomise(build_model("shufflenet_v1_g3_1.0x"), seed=7)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x).numpy()
    for precision, min_psnr in (("FLOAT32", 80), ("FLOAT16", 40)):
        program = load_program(convert_torch(model, x, tmp_path / f"{precision}.mlpackage", precision))
        out = evaluate_program(program, {"input": x.numpy()})[program.output_names[0]]
        assert psnr(ref, out) > min_psnr
        assert out.argmax() == ref.argmax()
        if precision == "FLOAT32":
            assert np.max(np.abs(out - ref)) <= 1e-4 * np.max(np.abs(ref))


# ------------------------------------------------------------------------------------- image inputs, classifier


SCALE = 1 / 57.0
BIAS_RGB = [-2.1, -2.0, -1.8]


@pytest.mark.parametrize(
    ("layout", "precision", "target"),
    [("RGB", "FLOAT32", "iOS15"), ("BGR", "FLOAT32", "iOS15"), ("BGR", "FLOAT16", "iOS17")],
)
def test_image_input_scale_bias_and_colour_order(tmp_path: Path, layout: str, precision: str, target: str) -> None:
    model = randomise(build_model("shufflenet_v1_g3_0.5x_cifar"), seed=11)
    shape = (1, 3, 32, 32)
    # The bias is given in the ImageType's channel order; reversing it for BGR keeps the same per-colour
    # normalisation, so both programs normalise a physical image identically.
    bias = BIAS_RGB if layout == "RGB" else BIAS_RGB[::-1]
    image_type = ct.ImageType(
        name="image", shape=shape, scale=SCALE, bias=bias, color_layout=getattr(ct.colorlayout, layout)
    )
    path = convert_torch(
        model, torch.zeros(shape), tmp_path / "img.mlpackage", precision, getattr(ct.target, target), [image_type]
    )
    program = load_program(path)
    assert program.input_names == ["image"]
    assert program.image_inputs["image"].color_layout == layout
    # scale and bias are ops of the program itself (fp32, ahead of any fp16 cast), not spec preprocessing.
    first = [op for op in program.operations() if op.op_type != "const"][:2]
    assert [(op.op_type, op.outputs[0].name) for op in first] == [
        ("mul", "image__scaled__"),
        ("add", "image__biased__"),
    ]

    rgb = rng(5).integers(0, 256, size=shape).astype(np.float32)
    pixels = rgb if layout == "RGB" else rgb[:, ::-1].copy()  # given in the declared colour order
    out = evaluate_mlpackage(path, {"image": pixels})[program.output_names[0]]
    with torch.no_grad():
        # Core ML feeds the network channels in the declared order, after pixel * scale + bias[channel].
        ref = model(torch.from_numpy(pixels * SCALE + np.float32(bias)[None, :, None, None]).float()).numpy()
    assert psnr(ref, out) > (80 if precision == "FLOAT32" else 40)
    assert out.argmax() == ref.argmax()

    with pytest.raises(ValueError, match=r"0\.\.255"):
        evaluate_mlpackage(path, {"image": pixels / 255.0 - 1.0})


def test_classifier_returns_scores_tensor(tmp_path: Path) -> None:
    model = randomise(build_model("shufflenet_v1_g1_0.25x_cifar"), seed=3)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    labels = [f"class_{i}" for i in range(10)]
    path = convert_torch(model, x, tmp_path / "cls.mlpackage", classifier_config=ct.ClassifierConfig(labels))
    program = load_program(path)
    info = program.classifier
    assert info is not None and list(info.labels) == labels
    assert program.output_names == [info.label_output, info.scores_output]
    outputs = evaluate_program(program, {"input": x.numpy()})
    assert list(outputs) == [info.scores_output]  # the string label is not a tensor output
    with torch.no_grad():
        ref = model(x).numpy()
    scores = outputs[info.scores_output]
    assert scores.shape == ref.shape
    assert psnr(ref, scores) > 80  # raw logits: Core ML adds no softmax
    assert info.predicted_labels(scores) == [labels[int(ref.argmax())]]


# --------------------------------------------------------------------------------------------- failing loudly


def test_unknown_op_fails_loudly_with_its_name(tmp_path: Path) -> None:
    def prog(x):
        return mb.sin(x=mb.relu(x=x))

    path = save_mil(tmp_path, prog, [(1, 4)], name="unknown")
    assert "sin" in load_program(path).unsupported_ops()
    with pytest.raises(UnsupportedOpError, match="'sin'") as info:
        evaluate_mlpackage(path, {"x": np.ones((1, 4), np.float32)})
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_unsupported_attribute_value_fails_loudly() -> None:
    with pytest.raises(UnsupportedOpError, match="pad_type"):
        coreml_ops.conv(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), pad_type="reflect")


def test_bad_inputs_are_rejected(tmp_path: Path) -> None:
    path = save_mil(tmp_path, lambda x: mb.relu(x=x), [(1, 2, 3)])
    with pytest.raises(ValueError, match="missing"):
        evaluate_mlpackage(path, {})
    with pytest.raises(ValueError, match="shape"):
        evaluate_mlpackage(path, {"x": np.ones((1, 3, 2), np.float32)})


def test_predict_macos_only_on_macos(tmp_path: Path) -> None:
    if on_macos():
        pytest.skip("Core ML runtime present")
    with pytest.raises(RuntimeError, match="macOS"):
        predict_macos(tmp_path / "x.mlpackage", {})


# ----------------------------------------------------------------------------------- single ops: conv and pools

CONV_CASES = [
    # id, (N, C_in, H, W), C_out, groups, kernel (kh, kw), strides, pad_type, pad, dilations
    ("grouped_1x1", (2, 12, 7, 7), 24, 3, (1, 1), (1, 1), "valid", None, (1, 1)),
    ("depthwise_s2_pad1", (1, 8, 9, 9), 8, 8, (3, 3), (2, 2), "custom", (1, 1, 1, 1), (1, 1)),
    ("depthwise_multiplier", (1, 4, 6, 6), 8, 4, (3, 3), (1, 1), "custom", (1, 1, 1, 1), (1, 1)),
    ("dense_s2_asymmetric_pad", (1, 3, 10, 11), 5, 1, (3, 3), (2, 2), "custom", (0, 1, 2, 1), (1, 1)),
    ("grouped_3x3_s2", (1, 6, 8, 8), 6, 3, (3, 3), (2, 2), "custom", (1, 1, 1, 1), (1, 1)),
    ("same_s2_odd_input", (1, 6, 7, 8), 4, 2, (3, 3), (2, 2), "same", None, (1, 1)),
    ("same_lower_even_kernel", (1, 4, 7, 6), 4, 1, (4, 2), (2, 1), "same_lower", None, (1, 1)),
    ("dilated", (1, 4, 9, 9), 6, 2, (3, 3), (1, 1), "custom", (2, 2, 2, 2), (2, 2)),
    ("rect_kernel_valid", (1, 2, 6, 5), 3, 1, (3, 1), (1, 2), "valid", None, (1, 1)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_op(tmp_path: Path, case: tuple) -> None:
    _, shape, c_out, groups, kernel, strides, pad_type, pad, dilations = case
    r = rng(1)
    w = r.standard_normal((c_out, shape[1] // groups, *kernel)).astype(np.float32)
    b = r.standard_normal(c_out).astype(np.float32)
    x = r.standard_normal(shape).astype(np.float32)

    def prog(x):
        kw = {"pad": list(pad)} if pad is not None else {}
        return mb.conv(
            x=x, weight=w, bias=b, strides=list(strides), pad_type=pad_type, dilations=list(dilations),
            groups=groups, **kw,
        )  # fmt: skip

    target = ct.target.iOS16 if pad_type == "same_lower" else ct.target.iOS15
    out = run_single(save_mil(tmp_path, prog, [shape], target), x=x)

    if pad_type == "custom":
        (top, bottom, left, right) = pad
    elif pad_type == "valid":
        top = bottom = left = right = 0
    else:
        lower = pad_type == "same_lower"
        top, bottom = same_pads(shape[2], kernel[0], strides[0], dilations[0], lower)
        left, right = same_pads(shape[3], kernel[1], strides[1], dilations[1], lower)
    xp = F.pad(torch.from_numpy(x), (left, right, top, bottom))
    ref = F.conv2d(xp, torch.from_numpy(w), torch.from_numpy(b), strides, 0, dilations, groups).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_conv1d_op(tmp_path: Path) -> None:
    r = rng(2)
    x = r.standard_normal((2, 4, 10)).astype(np.float32)
    w = r.standard_normal((6, 2, 3)).astype(np.float32)

    def prog(x):
        return mb.conv(x=x, weight=w, strides=[2], pad_type="custom", pad=[1, 0], groups=2)

    out = run_single(save_mil(tmp_path, prog, [x.shape]), x=x)
    ref = F.conv1d(F.pad(torch.from_numpy(x), (1, 0)), torch.from_numpy(w), stride=2, groups=2).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


POOL_CASES = [
    # id, kind, (H, W), kernel, stride, padding (symmetric), ceil_mode, exclude_padding
    ("max_k3_s2_p1", "max", (9, 9), 3, 2, 1, False, False),
    ("max_k3_s2_p1_even", "max", (8, 8), 3, 2, 1, False, False),
    ("max_ceil", "max", (8, 8), 3, 2, 0, True, False),
    ("avg_include_pad", "avg", (9, 9), 3, 2, 1, False, False),  # ShuffleNet's shortcut: count_include_pad=True
    ("avg_exclude_pad", "avg", (9, 9), 3, 2, 1, False, True),
    ("avg_include_pad_ceil", "avg", (8, 8), 3, 2, 1, True, False),
    ("avg_exclude_pad_ceil", "avg", (8, 8), 3, 2, 1, True, True),
    ("avg_valid_k2", "avg", (6, 7), 2, 2, 0, False, False),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pool_op(tmp_path: Path, case: tuple) -> None:
    _, kind, (h, w), k, s, p, ceil_mode, exclude = case
    x = rng(3).standard_normal((2, 3, h, w)).astype(np.float32)

    def prog(x):
        common = {
            "x": x, "kernel_sizes": [k, k], "strides": [s, s], "pad_type": "custom", "pad": [p] * 4,
            "ceil_mode": ceil_mode,
        }  # fmt: skip
        if kind == "max":
            return mb.max_pool(**common)
        return mb.avg_pool(exclude_padding_from_average=exclude, **common)

    out = run_single(save_mil(tmp_path, prog, [x.shape]), x=x)
    xt = torch.from_numpy(x)
    if kind == "max":
        ref = F.max_pool2d(xt, k, s, p, ceil_mode=ceil_mode).numpy()
    else:
        ref = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil_mode, count_include_pad=not exclude).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_avg_pool_same_padding_excluded(tmp_path: Path) -> None:
    x = rng(4).standard_normal((1, 2, 7, 6)).astype(np.float32)

    def prog(x):
        return mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="same", exclude_padding_from_average=True)

    out = run_single(save_mil(tmp_path, prog, [x.shape]), x=x)
    # Reference by brute force over output positions: the mean of the window's in-image cells.
    (t, _), (le, _) = same_pads(7, 3, 2), same_pads(6, 3, 2)
    ref = np.zeros((1, 2, 4, 3), np.float32)
    for i in range(4):
        for j in range(3):
            r0, c0 = i * 2 - t, j * 2 - le
            ref[..., i, j] = x[..., max(r0, 0) : r0 + 3, max(c0, 0) : c0 + 3].mean(axis=(-2, -1))
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------- single ops: the rest


def _shapes_and_values(*shapes: tuple[int, ...], seed: int = 5) -> list[np.ndarray]:
    r = rng(seed)
    return [r.standard_normal(s).astype(np.float32) for s in shapes]


W_LIN = rng(6).standard_normal((5, 8)).astype(np.float32)
B_LIN = rng(7).standard_normal(5).astype(np.float32)
BN = [rng(8 + i).standard_normal(4).astype(np.float32) for i in range(4)]
BN[1] = np.abs(BN[1]) + 0.5  # variance

# id, MIL builder function, input shapes, torch/NumPy reference on the input arrays
OP_CASES: list[tuple[str, Callable, list[tuple[int, ...]], Callable]] = [
    ("relu", lambda x: mb.relu(x=x), [(2, 3, 4)], lambda x: np.maximum(x, 0)),
    ("relu6", lambda x: mb.relu6(x=mb.mul(x=x, y=np.float32(5))), [(2, 3)], lambda x: np.clip(5 * x, 0, 6)),
    ("identity", lambda x: mb.identity(x=x), [(2, 3)], lambda x: x),
    ("minimum", lambda x, y: mb.minimum(x=x, y=y), [(2, 4), (4,)], np.minimum),
    ("add_broadcast", lambda x, y: mb.add(x=x, y=y), [(2, 3, 4, 4), (1, 3, 1, 1)], lambda x, y: x + y),
    ("sub", lambda x, y: mb.sub(x=x, y=y), [(2, 3), (2, 3)], lambda x, y: x - y),
    ("mul_scalar", lambda x: mb.mul(x=x, y=np.float32(0.5)), [(2, 3)], lambda x: x * 0.5),
    ("real_div", lambda x, y: mb.real_div(x=x, y=y), [(2, 3), (1, 3)], lambda x, y: x / y),
    ("maximum", lambda x, y: mb.maximum(x=x, y=y), [(4,), (4,)], np.maximum),
    ("clip", lambda x: mb.clip(x=x, alpha=-0.5, beta=0.7), [(3, 4)], lambda x: np.clip(x, -0.5, 0.7)),
    ("sigmoid", lambda x: mb.sigmoid(x=x), [(3, 4)], lambda x: torch.sigmoid(torch.from_numpy(x)).numpy()),
    (
        "softmax",
        lambda x: mb.softmax(x=x, axis=1),
        [(2, 5, 3)],
        lambda x: torch.softmax(torch.from_numpy(x), 1).numpy(),
    ),
    (
        "concat",
        lambda x, y: mb.concat(values=[x, y], axis=1),
        [(1, 2, 3), (1, 4, 3)],
        lambda x, y: np.concatenate([x, y], 1),
    ),
    (
        "concat_interleave",
        lambda x, y: mb.concat(values=[x, y], axis=1, interleave=True),
        [(1, 2, 3), (1, 2, 3)],
        lambda x, y: np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1),
    ),
    ("reshape_minus1", lambda x: mb.reshape(x=x, shape=[2, -1, 4]), [(2, 3, 2, 2)], lambda x: x.reshape(2, -1, 4)),
    ("reshape_zero", lambda x: mb.reshape(x=x, shape=[0, 0, 4, 1]), [(2, 3, 2, 2)], lambda x: x.reshape(2, 3, 4, 1)),
    (
        "shuffle_reshape_transpose",
        lambda x: mb.reshape(
            x=mb.transpose(x=mb.reshape(x=x, shape=[1, 3, 2, 4]), perm=[0, 2, 1, 3]), shape=[1, 6, 2, 2]
        ),
        [(1, 6, 2, 2)],
        lambda x: x.reshape(1, 3, 2, 4).transpose(0, 2, 1, 3).reshape(1, 6, 2, 2),
    ),
    ("transpose", lambda x: mb.transpose(x=x, perm=[2, 0, 1]), [(2, 3, 4)], lambda x: x.transpose(2, 0, 1)),
    ("squeeze", lambda x: mb.squeeze(x=x, axes=[2, 3]), [(2, 3, 1, 1)], lambda x: x[:, :, 0, 0]),
    ("squeeze_all", lambda x: mb.squeeze(x=x), [(1, 3, 1)], lambda x: x.reshape(3)),
    ("expand_dims", lambda x: mb.expand_dims(x=x, axes=[1, -1]), [(2, 3)], lambda x: x[:, None, :, None]),
    (
        "reduce_mean_hw",
        lambda x: mb.reduce_mean(x=x, axes=[2, 3], keep_dims=False),
        [(2, 3, 4, 5)],
        lambda x: x.mean((2, 3)),
    ),
    (
        "reduce_mean_keep",
        lambda x: mb.reduce_mean(x=x, axes=[-1], keep_dims=True),
        [(2, 3)],
        lambda x: x.mean(-1, keepdims=True),
    ),
    ("reduce_sum_all", lambda x: mb.reduce_sum(x=x), [(2, 3)], lambda x: np.sum(x)),
    ("reduce_max", lambda x: mb.reduce_max(x=x, axes=[1]), [(2, 3)], lambda x: x.max(1)),
    (
        "linear",
        lambda x: mb.linear(x=x, weight=W_LIN, bias=B_LIN),
        [(3, 8)],
        lambda x: F.linear(torch.from_numpy(x), torch.from_numpy(W_LIN), torch.from_numpy(B_LIN)).numpy(),
    ),
    (
        "linear_no_bias",
        lambda x: mb.linear(x=x, weight=W_LIN),
        [(2, 3, 8)],
        lambda x: F.linear(torch.from_numpy(x), torch.from_numpy(W_LIN)).numpy(),
    ),
    (
        "matmul_transposes",
        lambda x, y: mb.matmul(x=x, y=y, transpose_x=True, transpose_y=True),
        [(2, 4, 3), (2, 5, 4)],
        lambda x, y: torch.matmul(torch.from_numpy(x).transpose(1, 2), torch.from_numpy(y).transpose(1, 2)).numpy(),
    ),
    (
        "matmul_broadcast",
        lambda x, y: mb.matmul(x=x, y=y),
        [(2, 3, 4), (4, 5)],
        lambda x, y: torch.matmul(torch.from_numpy(x), torch.from_numpy(y)).numpy(),
    ),
    (
        "batch_norm",
        lambda x: mb.batch_norm(x=x, mean=BN[0], variance=BN[1], gamma=BN[2], beta=BN[3], epsilon=1e-3),
        [(2, 4, 3, 3)],
        lambda x: F.batch_norm(
            torch.from_numpy(x),
            *(torch.from_numpy(v) for v in BN[:2]),
            *(torch.from_numpy(v) for v in BN[2:]),
            eps=1e-3,
        ).numpy(),
    ),
]


@pytest.mark.parametrize("case", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_single_op(tmp_path: Path, case: tuple) -> None:
    name, fn, shapes, reference = case
    arrays = _shapes_and_values(*shapes)
    if name == "real_div":
        arrays[1] = np.abs(arrays[1]) + 0.5
    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    out = run_single(save_mil(tmp_path, fn, shapes, name=name), **dict(zip(names, arrays, strict=True)))
    ref = np.asarray(reference(*arrays), dtype=np.float32)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_cast_rounds_like_ieee_fp16(tmp_path: Path) -> None:
    ulp = 2.0**-10  # fp16 spacing just above 1.0
    x = np.array(
        [1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 4, 65504.0, 70000.0, 1e-6, -2.5e-8, 0.1, -3.14159],
        dtype=np.float32,
    )

    def prog(x):
        return mb.cast(x=mb.cast(x=x, dtype="fp16"), dtype="fp32")

    out = run_single(save_mil(tmp_path, prog, [x.shape]), x=x)
    ref = torch.from_numpy(x).half().float().numpy()
    np.testing.assert_array_equal(out, ref)
    assert out[0] == 1.0 and out[1] == 1 + 2 * ulp  # ties to even
    assert np.isinf(out[4])


def _same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-identical, except that any NaN equals any NaN (payloads are not part of IEEE rounding)."""
    nan = np.isnan(a)
    bits = {2: np.uint16, 4: np.uint32}[a.itemsize]
    return (
        a.dtype == b.dtype
        and np.array_equal(nan, np.isnan(b))
        and np.array_equal(a[~nan].view(bits), b[~nan].view(bits))
    )


def test_fast_fp16_conversion_is_bit_identical_to_numpy() -> None:
    """``as_dtype`` hands large float32 <-> float16 conversions to torch: the same bits as NumPy's astype for every
    float16 value widened, and for float32 values narrowed at, between (ties to even) and just off every float16,
    subnormals, overflow to inf and random bit patterns."""
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    assert halves.size >= coreml_ops._TORCH_CONVERT_MIN  # the torch path is the one under test
    assert _same_floats(coreml_ops.as_dtype(halves, np.float32), halves.astype(np.float32))

    finite = np.sort(halves[np.isfinite(halves)].astype(np.float64))
    ties = (finite[:-1] + finite[1:]) / 2  # exact in float32: float16 has 11 significant bits
    f32 = np.concatenate([finite, ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf), [7e4, -1e5, 1e-9]])
    f32 = np.concatenate(
        [
            f32.astype(np.float32),
            np.random.default_rng(0).integers(0, 1 << 32, 1 << 18, dtype=np.uint32).view(np.float32),
        ]
    )
    view = f32[::2]  # not contiguous: NumPy's own conversion
    with np.errstate(over="ignore", invalid="ignore"):
        assert _same_floats(coreml_ops.as_dtype(f32, np.float16), f32.astype(np.float16))
        assert _same_floats(coreml_ops.as_dtype(view, np.float16), view.astype(np.float16))


def test_fp16_program_stores_fp16_between_ops(tmp_path: Path) -> None:
    """conv in an fp16 program: fp16 input and weights, fp32 accumulation, result rounded to fp16."""
    r = rng(9)
    x = r.standard_normal((1, 6, 5, 5)).astype(np.float32)
    w16 = r.standard_normal((6, 2, 3, 3)).astype(np.float16)

    def prog(x):
        y = mb.conv(x=mb.cast(x=x, dtype="fp16"), weight=w16, pad_type="same", groups=3)
        return mb.cast(x=mb.relu(x=y), dtype="fp32")

    out = run_single(save_mil(tmp_path, prog, [x.shape]), x=x)
    x16 = torch.from_numpy(x).half().double()
    exact = F.relu(F.conv2d(x16, torch.from_numpy(w16).double(), padding=1, groups=3)).numpy()
    np.testing.assert_array_equal(out, out.astype(np.float16).astype(np.float32))
    # Within half an fp16 ulp of the exact result (plus fp32 accumulation noise): rounding is done once, per op.
    ulp = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(out - exact) <= 0.5 * ulp + 1e-6 * np.abs(exact))
    assert not np.allclose(out, exact, rtol=1e-6, atol=0)  # and it is really rounded


# --------------------------------------------------------------------------------------- kernels called directly


@pytest.mark.parametrize(("groups", "c_in", "c_out"), [(1, 3, 4), (3, 6, 9), (6, 6, 6)])
def test_conv_kernel_stride_and_padding_grid(groups: int, c_in: int, c_out: int) -> None:
    r = rng(groups)
    x = r.standard_normal((2, c_in, 9, 8)).astype(np.float32)
    w = r.standard_normal((c_out, c_in // groups, 3, 3)).astype(np.float32)
    for stride in (1, 2, 3):
        for pad in (0, 1, 2):
            out = coreml_ops.conv(x, w, strides=[stride] * 2, pad_type="custom", pad=[pad] * 4, groups=groups)
            ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, stride, pad, 1, groups).numpy()
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_pool_output_size_matches_torch_ceil_mode() -> None:
    for size in range(3, 12):
        for k, s, p in [(3, 2, 1), (3, 2, 0), (2, 2, 0), (3, 3, 1), (5, 2, 2)]:
            for ceil_mode in (False, True):
                ref = F.max_pool2d(torch.zeros(1, 1, size, size), k, s, p, ceil_mode=ceil_mode).shape[-1]
                assert coreml_ops.pool_output_size(size, k, s, p, p, ceil_mode) == ref, (size, k, s, p, ceil_mode)
