"""Simplified ONNX -> TFLite float32, float16 weights, float16 arithmetic and full-integer int8, via our NHWC lowering
and TensorFlow's own converter. Also: reading a .tflite back (signature, op histogram, graph checks).

The two float16 files store the same float16 weights; they differ in what the file allows the runtime to do. The
float16-weights file (metadata ``reduced_precision_support`` = ``fp16accfp32``) is dequantised to float32 at load
and computed in float32 everywhere. The float16-arithmetic file (``fp16accfp16``: TensorFlow's converter with
float16 accumulation allowed) lets XNNPACK compute it in float16 on ARM cores with FP16 arithmetic (ARMv8.2:
Cortex-A55/A75 and later); elsewhere (Cortex-A53, x86) XNNPACK computes it in float32, like the weights-only file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.context import ExportContext, manifest_entry
from shufflenet.export.formats.delegation import DelegateCoverage, coverage_from_ops, gpu_compatibility
from shufflenet.export.formats.onnx_to_tf import build_tf_function
from shufflenet.export.runtimes.litert import allows_fp16_arithmetic, reduced_precision_support

log = logging.getLogger(__name__)

# precision -> (file name suffix, manifest variant)
TFLITE_KINDS = {
    "fp32": ("float32", "float32"),
    "fp16": ("float16_weights_float32_io", "float16-weights"),
    "fp16-arith": ("float16_arithmetic_float32_io", "float16-arithmetic"),
    "int8": ("int8_full_integer_int8_io", "full-integer"),
}


def tflite_filename(arch: str, precision: str) -> str:
    return f"{arch}_{TFLITE_KINDS[precision][0]}.tflite"


# Precisions whose graph lowers the stride-2 units' 3x3 average pool to a depthwise conv with 1/9 weights: XNNPACK
# has no int8 AVERAGE_POOL_2D, so in int8 each pool split the delegated graph (4 partitions for 1.0x g3).
AVGPOOL_AS_DEPTHWISE = frozenset({"int8"})


def convert_tflite(
    onnx_model: Any,
    precision: str,
    out_path: Path,
    calibration_nhwc: np.ndarray | None = None,
    avgpool_as_depthwise: bool | None = None,
    tf_functions: dict[bool, Any] | None = None,
) -> Path:
    """Convert a fixed-shape simplified ONNX model; ``calibration_nhwc`` (N x H x W x 3 float32, already
    normalised) is required for int8. ``avgpool_as_depthwise`` (default: per ``AVGPOOL_AS_DEPTHWISE``) writes
    each count-include-pad average pool as a DEPTHWISE_CONV_2D with constant weights. ``tf_functions``: a dict
    kept by the caller across precisions of one model, so the TensorFlow graph is traced once per lowering."""
    import tensorflow as tf

    if avgpool_as_depthwise is None:
        avgpool_as_depthwise = precision in AVGPOOL_AS_DEPTHWISE
    functions = {} if tf_functions is None else tf_functions
    if avgpool_as_depthwise not in functions:
        functions[avgpool_as_depthwise] = build_tf_function(onnx_model, avgpool_as_depthwise=avgpool_as_depthwise)[0]
    fn = functions[avgpool_as_depthwise]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    if precision in ("fp16", "fp16-arith"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        if precision == "fp16-arith":
            # Writes reduced_precision_support = fp16accfp16 (fp16accfp32 without it): XNNPACK's permission to
            # compute in float16 where the CPU can. A private attribute, the one way TensorFlow 2.21 offers.
            converter.target_spec._experimental_supported_accumulation_type = tf.float16
    elif precision == "int8":
        if calibration_nhwc is None or len(calibration_nhwc) == 0:
            raise ValueError("int8 conversion needs calibration images")

        def representative() -> Iterator[list[np.ndarray]]:
            for x in calibration_nhwc:
                yield [x[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # Builtin int8 kernels only: conversion fails rather than leaving a float op behind.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision != "fp32":
        raise ValueError(f"unknown TFLite precision {precision!r}; choose {', '.join(TFLITE_KINDS)}")
    data = converter.convert()
    out_path.write_bytes(data)
    return out_path


@dataclass
class TfliteInfo:
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    op_histogram: dict[str, int]
    max_rank: int
    float32_tensors: list[str]
    coverage: DelegateCoverage | None = None  # XNNPACK partitions, read after delegation (``delegation``)
    reduced_precision: str | None = None  # the file's reduced_precision_support metadata, e.g. "fp16accfp16"

    def arithmetic(self, precision: str) -> str:
        """What the file asks its runtime to compute in: fp16 when its metadata lets XNNPACK use float16."""
        if allows_fp16_arithmetic(self.reduced_precision):
            return "fp16"
        return "int8" if precision == "int8" else "fp32"


def _io_entry(d: dict[str, Any], layout: str) -> dict[str, Any]:
    scale, zp = d["quantization"]
    quant = {"scale": float(scale), "zero_point": int(zp)} if scale else None
    return {
        "name": d["name"],
        "shape": [int(s) for s in d["shape"]],
        "dtype": np.dtype(d["dtype"]).name,
        "layout": layout,
        "kind": "tensor",
        "quantization": quant,
    }


def inspect_tflite(path: Path, coverage: bool = True) -> TfliteInfo:
    """Signature, op histogram and tensors of the file; with ``coverage``, also its delegate coverage."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    hist: dict[str, int] = {}
    for op in interp._get_ops_details():  # before allocate_tensors: the model's own nodes, no DELEGATE yet
        hist[op["op_name"]] = hist.get(op["op_name"], 0) + 1
    tensors = interp.get_tensor_details()
    cov = None
    if coverage:
        interp.allocate_tensors()  # applies the default XNNPACK delegate
        cov = coverage_from_ops(interp._get_ops_details())
        cov.gpu_compatible, cov.gpu_issues = gpu_compatibility(path)
    max_rank = max(len(t["shape"]) for t in tensors)
    f32 = [t["name"] for t in tensors if np.dtype(t["dtype"]) == np.float32]
    return TfliteInfo(
        inputs=[_io_entry(d, "NHWC") for d in interp.get_input_details()],
        outputs=[_io_entry(d, "NC") for d in interp.get_output_details()],
        op_histogram=dict(sorted(hist.items())),
        max_rank=max_rank,
        float32_tensors=f32,
        coverage=cov,
        reduced_precision=reduced_precision_support(path),
    )


@dataclass
class GraphCheck:
    ok: bool
    problems: list[str]


def check_tflite_graph(
    info: TfliteInfo, precision: str, shuffles: int, depthwise: int, avgpools: int = 0
) -> GraphCheck:
    """The quality bar for the phone: rank <= 4, at most one TRANSPOSE per shuffle, every depthwise conv a
    DEPTHWISE_CONV_2D, no Flex/custom ops; for int8 no float32 tensor at all, for float16 arithmetic the
    metadata that allows it and float32 I/O, and for both one XNNPACK partition holding every node.

    ``avgpools``: the model's count-include-pad average pools, which precisions in ``AVGPOOL_AS_DEPTHWISE``
    write as depthwise convs as well."""
    problems = []
    h = info.op_histogram
    if precision in AVGPOOL_AS_DEPTHWISE:
        depthwise += avgpools
    if info.max_rank > 4:
        problems.append(f"a tensor of rank {info.max_rank}")
    if h.get("TRANSPOSE", 0) > shuffles:
        problems.append(f"{h['TRANSPOSE']} TRANSPOSE ops for {shuffles} channel shuffles")
    if h.get("DEPTHWISE_CONV_2D", 0) != depthwise:
        problems.append(f"{h.get('DEPTHWISE_CONV_2D', 0)} DEPTHWISE_CONV_2D for {depthwise} depthwise convs")
    custom = [k for k in h if k.startswith("Flex") or k in ("CUSTOM", "DELEGATE")]
    if custom:
        problems.append(f"non-builtin ops {custom}")
    if precision == "fp16-arith":
        if not allows_fp16_arithmetic(info.reduced_precision):
            problems.append(f"reduced_precision_support is {info.reduced_precision!r}, not fp16accfp16: XNNPACK "
                            "would compute it in float32")  # fmt: skip
        if any(d["dtype"] != "float32" for d in info.inputs + info.outputs):
            problems.append("input/output not float32")
    if precision in ("int8", "fp16-arith"):
        # A node outside XNNPACK runs on LiteRT's builtin kernels (float32 for a float16-arithmetic file) and
        # every hand-over between the two costs a copy: both files must be one partition holding every node.
        cov = info.coverage
        if cov is not None and not cov.fully_delegated:
            outside = ", ".join(f"{k} x{v}" for k, v in cov.outside_ops.items()) or "none"
            problems.append(f"{precision}: {cov.partitions} XNNPACK partitions, not 1 (outside XNNPACK: {outside})")
    if precision == "int8":
        if info.float32_tensors:
            problems.append(f"{len(info.float32_tensors)} float32 tensors (first {info.float32_tensors[0]})")
        if any(d["dtype"] != "int8" for d in info.inputs + info.outputs):
            problems.append("input/output not int8")
    return GraphCheck(ok=not problems, problems=problems)


def export_entries(ctx: ExportContext, precisions: tuple[str, ...]) -> list[dict[str, Any]]:
    """One .tflite file per precision, converted from the simplified ONNX graph with every shape fixed."""
    import time

    import torch
    from shufflenet.export.formats.onnx_export import fixed_shape_onnx, onnx_graphs
    from shufflenet.model.preprocessing import normalize_hwc

    fixed = fixed_shape_onnx(onnx_graphs(ctx)["simplified"], ctx.size)
    shuffles = sum(1 for m in ctx.model.modules() if getattr(m, "shuffle", False))
    depthwise = sum(1 for m in ctx.model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1)
    avgpools = sum(1 for m in ctx.model.modules() if isinstance(m, torch.nn.AvgPool2d) and m.count_include_pad)
    entries = []
    functions: dict[bool, Any] = {}  # the float files share one traced graph
    for precision in precisions:
        t = time.time()
        ctx.step(f"TFLite {TFLITE_KINDS[precision][1]} ({precision})")
        calib = normalize_hwc(ctx.calib_set.images, ctx.prep) if precision == "int8" else None
        path = ctx.out_dir / tflite_filename(ctx.arch, precision)
        convert_tflite(fixed, precision, path, calib, tf_functions=functions)
        ctx.timed(f"tflite_{precision}", t)
        info = inspect_tflite(path)
        check = check_tflite_graph(info, precision, shuffles, depthwise, avgpools)
        if not check.ok:
            log.warning("TFLite %s graph: %s", precision, "; ".join(check.problems))
        graph_check = {"ok": check.ok, "problems": check.problems, "max_rank": info.max_rank,
                       "float32_tensors": len(info.float32_tensors)}  # fmt: skip
        entries.append(
            manifest_entry(
                "tflite",
                precision,
                TFLITE_KINDS[precision][1],
                path,
                "litert",
                arithmetic=info.arithmetic(precision),
                reduced_precision_support=info.reduced_precision,
                inputs=info.inputs,
                outputs=info.outputs,
                op_histogram=info.op_histogram,
                graph_check=graph_check,
                delegate_coverage=info.coverage.to_dict() if info.coverage else None,
            )
        )
    return entries
