"""PyTorch -> Core ML ML Program (.mlpackage) through torch.export, float16 or float32 compute precision.

Two flavours per precision: an image-input classifier (pixels in, preprocessing inside the model, labels
attached, softmax probabilities out) for apps, and a plain tensor-input program (normalised NCHW float in,
logits out) for parity checks. ``torch.jit.trace`` fails on this stack (toolchain notes); torch.export works.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import torch
from shufflenet.export.context import ExportContext, manifest_entry
from shufflenet.model.preprocessing import Preprocessing
from torch import nn

log = logging.getLogger(__name__)


class _PixelsToLogits(nn.Module):
    """Pixel values 0..255 (already in the weights' colour order) -> normalised -> network -> softmax.

    Core ML's ImageType applies one scale and a per-channel bias; a per-channel std cannot be expressed
    there, so when the std differs between channels the division happens inside the graph instead.
    """

    def __init__(self, net: nn.Module, prep: Preprocessing, in_graph: bool) -> None:
        super().__init__()
        self.net = net
        self.in_graph = in_graph
        self.register_buffer("mean", torch.tensor(prep.mean).view(1, 3, 1, 1) / prep.scale)
        self.register_buffer("inv_std", (1.0 / torch.tensor(prep.std)).view(1, 3, 1, 1) * prep.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_graph:
            x = (x - self.mean) * self.inv_std
        return torch.softmax(self.net(x), dim=1)


def image_scale_bias(prep: Preprocessing) -> tuple[float, list[float], bool]:
    """(scale, bias, normalise_in_graph) for ct.ImageType so that scale*pixel + bias = (pixel*s - mean)/std."""
    if len(set(prep.std)) == 1:
        std = prep.std[0]
        return prep.scale / std, [-m / std for m in prep.mean], False
    return 1.0, [0.0, 0.0, 0.0], True


KINDS = ("image", "tensor")


def torch_program(model: nn.Module, input_size: tuple[int, int], prep: Preprocessing, kind: str) -> Any:
    """The ``torch.export`` program Core ML converts for one flavour: the network itself (``tensor``), or the
    network wrapped to take pixels and return probabilities (``image``). It depends on neither precision, so an
    export traces each flavour once and converts it at every precision (tracing is most of a conversion's time)."""
    if kind not in KINDS:
        raise ValueError(f"Core ML kind must be image or tensor, got {kind!r}")
    x = torch.zeros(1, 3, *input_size)
    net = model.eval() if kind == "tensor" else _PixelsToLogits(model.eval(), prep, image_scale_bias(prep)[2]).eval()
    return torch.export.export(net, (x,)).run_decompositions({})


def convert_coreml(
    program: Any,
    input_size: tuple[int, int],
    prep: Preprocessing,
    labels: list[str],
    precision: str,
    kind: str,
    out_path: Path,
) -> Path:
    """One .mlpackage from this flavour's ``torch_program``."""
    import coremltools as ct

    if precision not in ("fp16", "fp32"):
        raise ValueError(f"Core ML precision must be fp16 or fp32, got {precision!r}")
    if kind not in KINDS:
        raise ValueError(f"Core ML kind must be image or tensor, got {kind!r}")
    from coremltools.converters.mil.mil import Builder

    # MIL names unnamed ops from a process-wide counter (const_414) that coremltools clears after a conversion but
    # not before one; anything that built MIL ops since (the evaluator, a pass) shifts every name, and with it the
    # package's bytes. Cleared here, the same program gives the same bytes whatever ran before it in the process.
    Builder.name_count.clear()
    compute = ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32
    shape = (1, 3, *input_size)
    common = {
        "convert_to": "mlprogram",
        "compute_precision": compute,
        "minimum_deployment_target": ct.target.iOS16,
    }
    if kind == "tensor":
        mlmodel = ct.convert(
            program,
            inputs=[ct.TensorType(name="input", shape=shape)],
            outputs=[ct.TensorType(name="logits")],
            **common,
        )
    else:
        scale, bias, _ = image_scale_bias(prep)
        layout = ct.colorlayout.BGR if prep.colour_order == "BGR" else ct.colorlayout.RGB
        mlmodel = ct.convert(
            program,
            inputs=[ct.ImageType(name="image", shape=shape, scale=scale, bias=bias, color_layout=layout)],
            classifier_config=ct.ClassifierConfig(labels),
            **common,
        )
    mlmodel.short_description = f"ShuffleNet v1 ({kind} input, {precision})"
    mlmodel.save(str(out_path))
    stable_package_ids(out_path)
    canonical_model_spec(out_path)
    return out_path


def canonical_model_spec(package: Path) -> None:
    """Write the package's model spec again with protobuf's deterministic serialization: the same spec was seen
    serialized in two byte orders (its map fields' order follows how the converter filled them)."""
    from coremltools.proto import Model_pb2

    path = package / "Data" / "com.apple.CoreML" / "model.mlmodel"
    spec = Model_pb2.Model()
    spec.ParseFromString(path.read_bytes())
    path.write_bytes(spec.SerializeToString(deterministic=True))


# Namespace of the item identifiers written into an .mlpackage's Manifest.json (uuid5 of each item's path in it).
PACKAGE_ID_NAMESPACE = uuid.UUID("6f1d3b52-6c2e-5d43-9a57-2f0c8b1e4a10")


def stable_package_ids(package: Path) -> None:
    """Replace the random UUIDs coremltools gives the items of a saved .mlpackage (its Manifest.json) by ones derived
    from each item's path, so that the same program gives the same package, byte for byte, every time and on every
    host. Core ML only needs the identifiers to be unique within the package and to match rootModelIdentifier."""
    manifest = package / "Manifest.json"
    doc = json.loads(manifest.read_text())
    ids = {old: str(uuid.uuid5(PACKAGE_ID_NAMESPACE, item["path"])) for old, item in doc["itemInfoEntries"].items()}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"{package}: two items of the package share a path; cannot derive their identifiers")
    doc["itemInfoEntries"] = dict(sorted((ids[old], item) for old, item in doc["itemInfoEntries"].items()))
    doc["rootModelIdentifier"] = ids[doc["rootModelIdentifier"]]
    manifest.write_text(json.dumps(doc, indent=4) + "\n")


def coreml_filename(arch: str, precision: str, kind: str) -> str:
    return f"{arch}_coreml_{precision}_{kind}.mlpackage"


def coreml_op_histogram(path: Path) -> dict[str, int]:
    """Op types of the saved program's main function, read back with coremltools' own MIL loader."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load

    m = ct.models.MLModel(str(path), skip_model_load=True)
    spec = m.get_spec()
    prog = load(spec, specification_version=spec.specificationVersion, file_weights_dir=m.weights_dir)
    hist: dict[str, int] = {}
    for op in prog.functions["main"].operations:
        hist[op.op_type] = hist.get(op.op_type, 0) + 1
    return dict(sorted(hist.items()))


def coreml_signature(path: Path) -> tuple[list[dict], list[dict]]:
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    ins, outs = [], []
    for f in spec.description.input:
        t = f.type.WhichOneof("Type")
        if t == "imageType":
            it = f.type.imageType
            shape = [1, 3, int(it.height), int(it.width)]
            ins.append({"name": f.name, "shape": shape, "dtype": "uint8", "layout": "NCHW", "kind": "image",
                        "quantization": None})  # fmt: skip
        else:
            shape = [int(s) for s in f.type.multiArrayType.shape]
            ins.append({"name": f.name, "shape": shape, "dtype": "float32", "layout": "NCHW", "kind": "tensor",
                        "quantization": None})  # fmt: skip
    for f in spec.description.output:
        t = f.type.WhichOneof("Type")
        if t == "multiArrayType":
            shape = [int(s) for s in f.type.multiArrayType.shape] or None
            outs.append({"name": f.name, "shape": shape, "dtype": "float32", "layout": "NC", "quantization": None})
        else:
            outs.append({"name": f.name, "shape": None, "dtype": t, "layout": None, "quantization": None})
    return ins, outs


def export_entries(ctx: ExportContext, precisions: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per precision, an image-input classifier (for apps) and a tensor-input program (for parity checks)."""
    import time

    entries = []
    programs: dict[str, Any] = {}
    for precision in precisions:
        t = time.time()
        ctx.step(f"Core ML ML Program ({precision}; image classifier + tensor input)")
        for kind in KINDS:
            if kind not in programs:
                programs[kind] = torch_program(ctx.model, ctx.size, ctx.prep, kind)
            path = ctx.out_dir / coreml_filename(ctx.arch, precision, kind)
            convert_coreml(programs[kind], ctx.size, ctx.prep, ctx.labels, precision, kind, path)
            ins, outs = coreml_signature(path)
            entries.append(
                manifest_entry(
                    "coreml",
                    precision,
                    kind,
                    path,
                    "coreml-numpy",
                    arithmetic=precision,  # an fp16 ML Program computes in float16 throughout
                    inputs=ins,
                    outputs=outs,
                    op_histogram=coreml_op_histogram(path),
                    output_kind="probabilities" if kind == "image" else "logits",
                )
            )
        ctx.timed(f"coreml_{precision}", t)
    return entries
