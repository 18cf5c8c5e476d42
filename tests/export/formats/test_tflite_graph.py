"""The TFLite graph of ShuffleNet 1.0x g3 at 224 is as clean as a hand-written one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.formats.onnx_export import export_onnx, fixed_shape_onnx
from shufflenet.export.formats.onnx_to_tf import OnnxToTf, UnsupportedGraphError
from shufflenet.export.formats.tflite_export import check_tflite_graph, convert_tflite, inspect_tflite
from shufflenet.model import build_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def g3_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, object]:
    d = tmp_path_factory.mktemp("g3")
    torch.manual_seed(0)
    model = build_model("shufflenet_v1_g3_1.0x").eval()
    files = export_onnx(model, (224, 224), d / "a.onnx", d / "a.sim.onnx")
    return model, fixed_shape_onnx(files.simplified, (224, 224))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_graph_targets(g3_onnx: tuple, precision: str, tmp_path: Path) -> None:
    model, onnx_model = g3_onnx
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 255, (8, 224, 224, 3)).astype(np.float32) if precision == "int8" else None
    path = convert_tflite(onnx_model, precision, tmp_path / f"g3_{precision}.tflite", calib)
    info = inspect_tflite(path)
    h = info.op_histogram
    assert info.max_rank <= 4
    assert h["TRANSPOSE"] == 16  # one per channel shuffle, no NCHW/NHWC round trips
    # int8: the 3 stride-2 units' average pools are depthwise convs too (one XNNPACK partition)
    assert h["DEPTHWISE_CONV_2D"] == (16 + 3 if precision == "int8" else 16)
    assert h.get("AVERAGE_POOL_2D", 0) == (0 if precision == "int8" else 3)
    assert h["CONV_2D"] == 33  # stem + 16 units x 2 pointwise
    assert not [k for k in h if k.startswith("Flex") or k == "CUSTOM"]
    check = check_tflite_graph(info, precision, shuffles=16, depthwise=16, avgpools=3)
    assert check.ok, check.problems
    assert info.coverage.fully_delegated and info.coverage.nodes == sum(h.values())
    if precision == "int8":
        assert not info.float32_tensors
        assert info.inputs[0]["dtype"] == "int8" and info.outputs[0]["dtype"] == "int8"
    else:
        from ai_edge_litert.interpreter import Interpreter

        x = rng.uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        out = it.get_tensor(it.get_output_details()[0]["index"])
        with torch.no_grad():
            ref = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()


def test_official_5d_shuffle_lowered_to_rank4(tmp_path: Path) -> None:
    """A graph exported from the official 5-D shuffle form lowers to the same rank-4 TFLite ops."""
    import shufflenet.model.shufflenet_v1 as net

    def five_d(x: torch.Tensor, groups: int) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.reshape(b, c // groups, groups, h, w).permute(0, 2, 1, 3, 4).reshape(b, c, h, w)

    model = build_model("shufflenet_v1_g3_0.25x_cifar").eval()
    original = net.channel_shuffle
    net.channel_shuffle = five_d
    try:
        files = export_onnx(model, (32, 32), tmp_path / "a.onnx", tmp_path / "a.sim.onnx")
    finally:
        net.channel_shuffle = original
    info = inspect_tflite(convert_tflite(fixed_shape_onnx(files.simplified, (32, 32)), "fp32", tmp_path / "a.tflite"))
    assert info.max_rank == 4 and info.op_histogram["TRANSPOSE"] == 16


def test_unknown_onnx_op_named(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Sigmoid", ["input"], ["logits"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 8, 8])],
    )  # fmt: skip
    with pytest.raises(UnsupportedGraphError, match="Sigmoid"):
        OnnxToTf(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    del onnx


def test_float16_arithmetic_file(g3_onnx: tuple, tmp_path: Path) -> None:
    """fp16-arith: the float16-weights graph plus the metadata that lets XNNPACK compute in float16 (fp16accfp16;
    the weights-only file says fp16accfp32), one XNNPACK partition holding every node, float32 I/O. On x86, which
    has no FP16 arithmetic, LiteRT computes both files in float32: their outputs are bit-identical. The export's
    gate refuses a file without the metadata."""
    from ai_edge_litert.interpreter import Interpreter
    from shufflenet.export.runtimes.litert import TfliteRunner

    _, onnx_model = g3_onnx
    functions: dict = {}
    paths = {p: convert_tflite(onnx_model, p, tmp_path / f"g3_{p}.tflite", tf_functions=functions)
             for p in ("fp16", "fp16-arith")}  # fmt: skip
    infos = {p: inspect_tflite(path) for p, path in paths.items()}
    arith, weights = infos["fp16-arith"], infos["fp16"]
    assert (arith.reduced_precision, weights.reduced_precision) == ("fp16accfp16", "fp16accfp32")
    assert (arith.arithmetic("fp16-arith"), weights.arithmetic("fp16")) == ("fp16", "fp32")
    assert arith.op_histogram == weights.op_histogram
    assert arith.coverage.fully_delegated and arith.coverage.nodes == sum(arith.op_histogram.values())
    assert check_tflite_graph(arith, "fp16-arith", shuffles=16, depthwise=16, avgpools=3).ok
    refused = check_tflite_graph(weights, "fp16-arith", shuffles=16, depthwise=16, avgpools=3)
    assert not refused.ok and "'fp16accfp32', not fp16accfp16" in refused.problems[0]

    x = np.random.default_rng(1).uniform(0, 1, (1, 224, 224, 3)).astype(np.float32)
    outs = []
    for path in paths.values():
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    assert np.array_equal(outs[0], outs[1])
    entry = {"inputs": arith.inputs, "outputs": arith.outputs}
    runner = TfliteRunner(paths["fp16-arith"], entry, None)  # type: ignore[arg-type]
    assert runner.fp16_allowed and runner.arithmetic.arithmetic == "fp32"
    assert runner.evaluated_by.startswith("litert (fp32 arithmetic on ")
