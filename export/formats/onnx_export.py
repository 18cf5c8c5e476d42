"""PyTorch -> ONNX (opset 17, TorchScript exporter), checked, then simplified with onnxsim."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from shufflenet.export.context import ExportContext, manifest_entry

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class OnnxFiles:
    raw: Path
    simplified: Path


def export_onnx(
    model: torch.nn.Module,
    input_size: tuple[int, int],
    raw_path: Path,
    simplified_path: Path,
    dynamic_batch: bool = False,
    opset: int = OPSET,
) -> OnnxFiles:
    import onnx
    import onnxsim

    model.eval()
    x = torch.zeros(1, 3, *input_size)
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    # The TorchScript exporter (dynamo=False) is the one seen to work at opset 17 on this stack.
    torch.onnx.export(
        model,
        (x,),
        str(raw_path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=opset,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
        dynamo=False,
    )
    raw = onnx.load(str(raw_path))
    onnx.checker.check_model(raw, full_check=True)
    simplified, ok = onnxsim.simplify(raw)
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified model against the original")
    onnx.checker.check_model(simplified, full_check=True)
    onnx.save(simplified, str(simplified_path))
    log.info("ONNX: %d nodes raw, %d simplified", len(raw.graph.node), len(simplified.graph.node))
    return OnnxFiles(raw=raw_path, simplified=simplified_path)


def fixed_shape_onnx(path: Path, input_size: tuple[int, int], batch: int = 1) -> onnx.ModelProto:  # noqa: F821
    """The simplified graph with every shape fixed (TFLite converts a batch-1 graph)."""
    import onnx
    import onnxsim

    m = onnx.load(str(path))
    fixed, ok = onnxsim.simplify(m, overwrite_input_shapes={INPUT_NAME: [batch, 3, *input_size]})
    if not ok:
        raise RuntimeError(f"onnxsim could not fix the input shape of {path}")
    return fixed


def op_histogram(path: Path) -> dict[str, int]:
    import onnx

    hist: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    return dict(sorted(hist.items()))


def onnx_graphs(ctx: ExportContext) -> dict[str, Path]:
    """The raw and simplified ONNX graphs in the work folder, exported once whichever format asks first."""
    if not ctx.onnx_paths:
        t = time.time()
        ctx.step("ONNX export (opset 17) + onnx.checker + onnxsim")
        raw = ctx.work_dir / f"{ctx.arch}_fp32.onnx"
        sim = ctx.work_dir / f"{ctx.arch}_fp32.sim.onnx"
        export_onnx(ctx.model, ctx.size, raw, sim, dynamic_batch=ctx.dynamic_batch)
        ctx.onnx_paths.update(raw=raw, simplified=sim)
        ctx.timed("onnx", t)
    return ctx.onnx_paths


def export_entries(ctx: ExportContext, precisions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The raw and the simplified ONNX file (float32), copied from the work folder into the export."""
    import shutil

    batch: int | str = "batch" if ctx.dynamic_batch else 1
    entries = []
    for kind, src in onnx_graphs(ctx).items():
        path = ctx.out_dir / src.name
        shutil.copyfile(src, path)
        io = {"quantization": None, "dtype": "float32"}
        entries.append(
            manifest_entry(
                "onnx",
                "fp32",
                kind,
                path,
                "onnxruntime",
                arithmetic="fp32",
                inputs=[{"name": INPUT_NAME, "shape": [batch, 3, *ctx.size], "layout": "NCHW", "kind": "tensor", **io}],
                outputs=[{"name": OUTPUT_NAME, "shape": [batch, ctx.variant.num_classes], "layout": "NC", **io}],
                op_histogram=op_histogram(path),
            )
        )
    return entries
