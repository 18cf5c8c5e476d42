"""Delegate coverage, read after delegation, and the int8 graph that XNNPACK takes whole."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.cli import summary_table
from shufflenet.export.formats.delegation import coverage_cell, tflite_coverage
from shufflenet.export.formats.onnx_export import export_onnx, fixed_shape_onnx
from shufflenet.export.formats.onnx_to_tf import build_tf_function
from shufflenet.export.formats.tflite_export import check_tflite_graph, convert_tflite, inspect_tflite
from shufflenet.export.pipeline import ExportResult
from shufflenet.model import build_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SMALL = "shufflenet_v1_g3_0.25x_cifar"  # 3 stride-2 units, each with a count-include-pad 3x3 average pool


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, object]:
    d = tmp_path_factory.mktemp("deleg")
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    files = export_onnx(model, (32, 32), d / "a.onnx", d / "a.sim.onnx")
    return model, fixed_shape_onnx(files.simplified, (32, 32))


@contextmanager
def without_grappler_fusion() -> Iterator[None]:
    """TensorFlow graphs run with grappler's remapper off. The remapper fuses Conv2D + BiasAdd + Relu into one
    _FusedConv2D, whose CPU kernel has no grouped convolution without oneDNN (TensorFlow turns oneDNN on by
    itself only on CPUs with AVX-512 VNNI/BF16/AMX; on an AVX2 host, or with TF_ENABLE_ONEDNN_OPTS=0, the fused
    op fails with UNIMPLEMENTED). The plain Conv2D kernel has grouped convolution everywhere. The export never
    runs these graphs: TensorFlow's TFLite converter turns them into a .tflite file, which LiteRT runs."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("remapping", True)
    tf.config.optimizer.set_experimental_options({"remapping": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"remapping": before})


@pytest.mark.tensorflow_graph
def test_avgpool_as_depthwise_is_the_same_mean_in_float(small_onnx: tuple) -> None:
    """The 1/9-weight depthwise conv computes the count-include-pad average pool: equal up to float rounding,
    and both equal PyTorch. (Run by TensorFlow itself, with or without oneDNN: ``make test`` runs it both ways.)"""
    model, onnx_model = small_onnx
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 32, 32, 3)).astype(np.float32) * 3
    with without_grappler_fusion():
        pool_fn, _ = build_tf_function(onnx_model, avgpool_as_depthwise=False)
        dw_fn, _ = build_tf_function(onnx_model, avgpool_as_depthwise=True)
        a = pool_fn(x)["logits"].numpy()
        b = dw_fn(x)["logits"].numpy()
    with torch.no_grad():
        ref = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    scale = np.abs(ref).max()
    assert np.abs(a - b).max() <= 1e-5 * scale
    assert np.abs(b - ref).max() <= 1e-4 * scale
    assert not np.array_equal(a, np.zeros_like(a))


@pytest.mark.tensorflow_graph
def test_every_tflite_precision_converts_and_runs_without_needing_onednn(small_onnx: tuple, tmp_path: Path) -> None:
    """What the export asks of TensorFlow is its TFLite converter (int8: with LiteRT's calibrator), which never
    runs the graph's grouped convs on TensorFlow's own kernels; so every precision converts, oneDNN on or off
    (``make test`` runs this again with TF_ENABLE_ONEDNN_OPTS=0), and LiteRT computes what PyTorch does."""
    from ai_edge_litert.interpreter import Interpreter
    from shufflenet.export.runtimes.base import dequantize, quantize

    model, onnx_model = small_onnx
    rng = np.random.default_rng(2)
    calib = rng.standard_normal((8, 32, 32, 3)).astype(np.float32)
    x = calib[:1]
    with torch.no_grad():
        ref = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    for precision, rel in [("fp32", 1e-4), ("fp16", 2e-2), ("int8", 0.25)]:
        path = convert_tflite(onnx_model, precision, tmp_path / f"{precision}.tflite", calib)
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        q_in, q_out = i["quantization"], o["quantization"]
        feed = quantize(x, {"scale": q_in[0], "zero_point": q_in[1]}, "int8") if q_in[0] else x
        it.set_tensor(i["index"], feed)
        it.invoke()
        out = it.get_tensor(o["index"])
        out = dequantize(out, {"scale": q_out[0], "zero_point": q_out[1]} if q_out[0] else None)
        assert np.abs(out - ref).max() <= rel * np.abs(ref).max(), precision


@pytest.mark.slow
def test_int8_pool_splits_xnnpack_and_the_depthwise_form_does_not(small_onnx: tuple, tmp_path: Path) -> None:
    """The gate sees what the interpreter does: int8 AVERAGE_POOL_2D stays outside XNNPACK and splits the
    graph; the depthwise form is one partition holding every node."""
    _, onnx_model = small_onnx
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((8, 32, 32, 3)).astype(np.float32)
    pool = convert_tflite(onnx_model, "int8", tmp_path / "pool.tflite", calib, avgpool_as_depthwise=False)
    dw = convert_tflite(onnx_model, "int8", tmp_path / "dw.tflite", calib)  # the default for int8
    pool_info, dw_info = inspect_tflite(pool), inspect_tflite(dw)
    assert pool_info.op_histogram["AVERAGE_POOL_2D"] == 3
    cov = pool_info.coverage
    assert cov.outside_ops == {"AVERAGE_POOL_2D": 3} and cov.partitions == 4
    assert cov.delegated_nodes == cov.nodes - 3 == sum(cov.partition_sizes)
    check = check_tflite_graph(pool_info, "int8", shuffles=16, depthwise=16, avgpools=3)
    assert not check.ok and any("4 XNNPACK partitions" in p for p in check.problems)

    assert "AVERAGE_POOL_2D" not in dw_info.op_histogram
    assert dw_info.op_histogram["DEPTHWISE_CONV_2D"] == 16 + 3
    cov = dw_info.coverage
    assert cov.fully_delegated and cov.partition_sizes == [cov.nodes] and not cov.outside_ops
    check = check_tflite_graph(dw_info, "int8", shuffles=16, depthwise=16, avgpools=3)
    assert check.ok, check.problems
    # The same coverage comes from a fresh interpreter at another thread count.
    again = tflite_coverage(dw, threads=2, gpu=False)
    assert (again.nodes, again.partitions, again.delegated_nodes) == (cov.nodes, 1, cov.nodes)


@pytest.mark.slow
def test_export_manifest_and_summary_carry_coverage(small_export: ExportResult) -> None:
    """Every .tflite entry of a real export records its coverage; the int8 file is one XNNPACK partition."""
    entries = {e["precision"]: e for e in small_export.manifest["artifacts"] if e["format"] == "tflite"}
    assert set(entries) == {"fp32", "fp16", "fp16-arith", "int8"}
    for e in entries.values():
        cov = e["delegate_coverage"]
        assert cov["nodes"] == sum(e["op_histogram"].values())
        assert cov["delegate"] == "XNNPACK" and isinstance(cov["gpu_compatible"], bool)
    i8 = entries["int8"]
    assert i8["graph_check"]["ok"], i8["graph_check"]["problems"]
    assert i8["delegate_coverage"]["partitions"] == 1 and not i8["delegate_coverage"]["outside_ops"]
    assert i8["delegate_coverage"]["delegated_nodes"] == i8["delegate_coverage"]["nodes"]
    assert "AVERAGE_POOL_2D" not in i8["op_histogram"]
    assert entries["fp32"]["op_histogram"]["AVERAGE_POOL_2D"] == 3  # float32 keeps the pool (not measured faster)
    arith = entries["fp16-arith"]  # gated like int8: one partition holding every node
    assert arith["graph_check"]["ok"] and arith["delegate_coverage"]["partitions"] == 1
    assert arith["delegate_coverage"]["delegated_nodes"] == arith["delegate_coverage"]["nodes"]
    table = summary_table(small_export.manifest)
    assert "XNNPACK nodes" in table.splitlines()[0]
    assert coverage_cell(i8["delegate_coverage"]) in table
