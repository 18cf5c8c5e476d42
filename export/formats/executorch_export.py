"""PyTorch -> ExecuTorch ``.pte`` files with the XNNPACK delegate: float32, and int8 through PT2E.

The same PyTorch model as every other format goes through ``torch.export`` with two exact rewrites first
(``xnnpack_friendly``), then ``to_edge_transform_and_lower`` with ExecuTorch's ``XnnpackPartitioner``:

- each stride-2 unit's shortcut, a 3x3 average pool with PyTorch's ``count_include_pad=True``, becomes a depthwise
  convolution whose weights are all 1/9 (every window holds 9 values, pads included, so the divisor is always 9:
  the same mean). XNNPACK refuses ``avg_pool2d`` with ``count_include_pad``; the .tflite int8 graph makes the same
  rewrite (``onnx_to_tf``'s ``avgpool_as_depthwise``).
- the global average pool ``x.mean((2, 3))`` becomes ``x.mean((2, 3), keepdim=True).flatten(1)``: XNNPACK takes a
  spatial mean only with ``keepdim`` (TFLite's MEAN keeps the dims the same way in ``onnx_to_tf``).

Exported as-is, those three pools and the mean fall back to ExecuTorch's portable kernels between five XNNPACK
subgraphs. Rewritten, every compute node is in one XNNPACK subgraph (``check_pte_graph`` makes that the bar).

int8: PT2E with the XNNPACK quantizer (symmetric, per-channel weights), calibrated on the export's calibration
images (the ones the .tflite int8 file is calibrated on), then exported again and lowered. Inputs and outputs stay
float32: the quantize and dequantize at both ends run inside the XNNPACK subgraph.
"""

from __future__ import annotations

import copy
import logging
import operator
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shufflenet.export.context import ExportContext, manifest_entry
from shufflenet.export.formats.delegation import DelegateCoverage
from shufflenet.export.runtimes.executorch_pte import pte_delegate_calls
from shufflenet.model.preprocessing import normalize_hwc
from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8")
KIND = "xnnpack"
DELEGATE = "XNNPACK"
# Calibration images per observed forward pass. The observers' cost is per call (the activation observers are
# histograms), so batches make PT2E calibration many times faster than one image at a time; the observed program
# is exported with a dynamic batch for it, and the quantized one again at batch 1 for lowering.
CALIB_BATCH = 32


def pte_filename(arch: str, precision: str, rewritten: bool = True) -> str:
    return f"{arch}_executorch_xnnpack_{precision}{'' if rewritten else '_as_exported'}.pte"


# ------------------------------------------------------------------------------------------------ the rewrites
class AvgPoolAsDepthwise(nn.Conv2d):
    """A count-include-pad ``AvgPool2d`` written as the depthwise convolution that computes the same mean."""

    def __init__(self, channels: int, pool: nn.AvgPool2d) -> None:
        k, s, p = (_pair(v) for v in (pool.kernel_size, pool.stride or pool.kernel_size, pool.padding))
        super().__init__(channels, channels, k, s, p, groups=channels, bias=False)
        with torch.no_grad():
            self.weight.fill_(1.0 / (k[0] * k[1]))
        self.weight.requires_grad_(False)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class KeepdimMeanHead(nn.Module):
    """The network with its global average pool taken with ``keepdim`` (then flattened): the same numbers.

    It repeats ``ShuffleNetV1.forward`` with only that change, on the network's own modules."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.features(n.maxpool(n.first_conv(x)))
        return n.classifier(x.mean((2, 3), keepdim=True).flatten(1))


@dataclass(frozen=True)
class Rewrites:
    avg_pools_as_depthwise: int
    keepdim_means: int

    def to_dict(self) -> dict[str, int]:
        return {"avg_pools_as_depthwise": self.avg_pools_as_depthwise, "keepdim_means": self.keepdim_means}


def xnnpack_friendly(model: nn.Module) -> tuple[nn.Module, Rewrites]:
    """A copy of ``model`` with both rewrites (the original is untouched), and what was rewritten."""
    net = copy.deepcopy(model).eval()
    pools = 0
    for unit in getattr(net, "features", []):
        pool = getattr(unit, "branch_proj", None)
        if isinstance(pool, nn.AvgPool2d) and pool.count_include_pad and not pool.ceil_mode:
            unit.branch_proj = AvgPoolAsDepthwise(unit.branch_main_1[0].in_channels, pool)
            pools += 1
    return KeepdimMeanHead(net).eval(), Rewrites(pools, 1)


# --------------------------------------------------------------------------------------------------- lowering
@dataclass
class LoweredPte:
    buffer: bytes
    coverage: DelegateCoverage
    op_histogram: dict[str, int]
    rewrites: Rewrites | None
    seconds: dict[str, float]


def calibration_batches(images: np.ndarray, prep: Any) -> list[torch.Tensor]:
    """uint8 RGB N x H x W x 3 -> normalised NCHW float batches of ``CALIB_BATCH`` (the variant's own
    preprocessing)."""
    x = normalize_hwc(images, prep).transpose(0, 3, 1, 2)
    return [torch.from_numpy(np.ascontiguousarray(x[i : i + CALIB_BATCH])) for i in range(0, len(x), CALIB_BATCH)]


def quantize_pt2e(program: Any, calib: list[torch.Tensor]) -> nn.Module:
    """PT2E with the XNNPACK quantizer (symmetric, per-channel weights), observed on ``calib``. ``program``: the
    network exported with a dynamic batch dimension (``calib`` comes in batches)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(program.module(), quantizer)
    with torch.no_grad():
        for batch in calib:
            prepared(batch)
    return convert_pt2e(prepared)


def lower_to_pte(
    model: nn.Module,
    size: tuple[int, int],
    precision: str,
    calib: list[torch.Tensor] | None = None,
    rewrite: bool = True,
) -> LoweredPte:
    """The .pte bytes of ``model`` at ``size`` (batch 1), with its XNNPACK coverage and edge op histogram.
    ``rewrite=False`` lowers the network exactly as ``torch.export`` sees it (what a user gets without the
    rewrites; the side-by-side benchmark measures both)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if precision not in PRECISIONS:
        raise ValueError(f"ExecuTorch precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and not calib:
        raise ValueError("int8 needs calibration batches")
    seconds: dict[str, float] = {}
    net, rewrites = xnnpack_friendly(model) if rewrite else (copy.deepcopy(model).eval(), None)
    example = (torch.zeros(1, 3, *size),)
    t = time.time()
    if precision == "int8":
        assert calib is not None
        batch = torch.export.Dim("batch", min=1, max=max(2, *(len(b) for b in calib)))
        observed = torch.export.export(net, (calib[0],), dynamic_shapes=({0: batch},))
        program = torch.export.export(quantize_pt2e(observed, calib), example)  # batch 1 again, for the phone
    else:
        program = torch.export.export(net, example)
    seconds["export"] = time.time() - t
    t = time.time()
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    coverage, hist = edge_coverage(edge.exported_program().graph_module)
    seconds["lower"] = time.time() - t
    t = time.time()
    buffer = edge.to_executorch().buffer
    seconds["serialize"] = time.time() - t
    return LoweredPte(buffer, coverage, hist, rewrites, seconds)


def _op_name(target: Any) -> str:
    """``aten.convolution.default`` -> ``convolution``; quantize ops keep their namespace-free name too."""
    name = getattr(target, "__name__", str(target))
    return name.split(".")[-2] if name.count(".") >= 2 else name.split(".")[0]


def edge_coverage(graph_module: Any) -> tuple[DelegateCoverage, dict[str, int]]:
    """How many compute nodes of the lowered edge graph XNNPACK took, in how many subgraphs, and what stayed on
    ExecuTorch's portable kernels; with the op histogram of the whole graph (delegated nodes included).

    A compute node is a ``call_function`` node other than ``getitem`` (which only unpacks a delegate's outputs).
    A delegated subgraph's nodes are those of the lowered module's original graph."""
    from executorch.exir.delegate import executorch_call_delegate

    sizes: list[int] = []
    outside: dict[str, int] = {}
    hist: dict[str, int] = {}

    def compute_nodes(gm: Any) -> list[Any]:
        return [n for n in gm.graph.nodes if n.op == "call_function" and n.target is not operator.getitem]

    for node in compute_nodes(graph_module):
        if node.target is executorch_call_delegate:
            lowered = getattr(graph_module, node.args[0].target)
            inner = compute_nodes(lowered.original_module.graph_module)
            sizes.append(len(inner))
            for n in inner:
                hist[_op_name(n.target)] = hist.get(_op_name(n.target), 0) + 1
        else:
            name = _op_name(node.target)
            outside[name] = outside.get(name, 0) + 1
            hist[name] = hist.get(name, 0) + 1
    delegated = sum(sizes)
    cov = DelegateCoverage(
        delegate=DELEGATE,
        nodes=delegated + sum(outside.values()),
        delegated_nodes=delegated,
        partitions=len(sizes),
        partition_sizes=sizes,
        outside_ops=dict(sorted(outside.items())),
    )
    return cov, dict(sorted(hist.items()))


@dataclass
class PteGraphCheck:
    ok: bool
    problems: list[str]


def check_pte_graph(cov: DelegateCoverage, file_calls: dict[str, Any]) -> PteGraphCheck:
    """The bar for a .pte file: every compute node in one XNNPACK subgraph, and the file itself (read back)
    calls that one delegate and no portable kernel."""
    problems = []
    if not cov.fully_delegated:
        outside = ", ".join(f"{k} x{v}" for k, v in cov.outside_ops.items()) or "none"
        problems.append(
            f"{cov.delegated_nodes}/{cov.nodes} nodes in {cov.partitions} XNNPACK subgraphs, not all in 1 "
            f"(outside XNNPACK: {outside})"
        )
    if file_calls["delegate_calls"] != 1 or file_calls["kernel_calls"]:
        problems.append(
            f"the file calls {file_calls['delegate_calls']} delegate(s) and {file_calls['kernel_calls']} portable "
            "kernel(s), not one XNNPACK delegate alone"
        )
    return PteGraphCheck(ok=not problems, problems=problems)


def pte_signature(size: tuple[int, int], num_classes: int) -> tuple[list[dict], list[dict]]:
    """The manifest's inputs and outputs of a .pte file (what ``executorch_pte.pte_io`` reads back from it)."""
    ins = [{"name": "input", "shape": [1, 3, *size], "dtype": "float32", "layout": "NCHW", "kind": "tensor",
            "quantization": None}]  # fmt: skip
    outs = [{"name": "logits", "shape": [1, num_classes], "dtype": "float32", "layout": "NC", "quantization": None}]
    return ins, outs


def write_pte(lowered: LoweredPte, path: Path) -> Path:
    """The .pte bytes into ``path`` (inside the export's temporary folder, which is moved into place whole)."""
    path.write_bytes(lowered.buffer)
    return path


def export_entries(ctx: ExportContext, precisions: tuple[str, ...]) -> list[dict[str, Any]]:
    """One .pte file per precision, every compute node in one XNNPACK subgraph (warned in the log otherwise)."""
    entries = []
    for precision in precisions:
        t = time.time()
        ctx.step(f"ExecuTorch .pte, XNNPACK delegate ({precision}{'; PT2E' if precision == 'int8' else ''})")
        calib = calibration_batches(ctx.calib_set.images, ctx.prep) if precision == "int8" else None
        lowered = lower_to_pte(ctx.model, ctx.size, precision, calib)
        path = write_pte(lowered, ctx.out_dir / pte_filename(ctx.arch, precision))
        ctx.timed(f"executorch_{precision}", t)
        calls = pte_delegate_calls(path)
        check = check_pte_graph(lowered.coverage, calls)
        if not check.ok:
            log.warning("ExecuTorch %s: %s", precision, "; ".join(check.problems))
        ins, outs = pte_signature(ctx.size, ctx.variant.num_classes)
        entries.append(
            manifest_entry(
                "executorch",
                precision,
                KIND,
                path,
                "executorch",
                arithmetic=precision,  # float32 kernels, or int8 ones between quantize/dequantize at the ends
                inputs=ins,
                outputs=outs,
                op_histogram=lowered.op_histogram,
                graph_check={"ok": check.ok, "problems": check.problems, "file": calls},
                delegate_coverage=lowered.coverage.to_dict(),
                rewrites=lowered.rewrites.to_dict() if lowered.rewrites else None,
                lowering_seconds={k: round(v, 2) for k, v in lowered.seconds.items()},
            )
        )
    return entries
