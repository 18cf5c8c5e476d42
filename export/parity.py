"""Parity of exported files against the PyTorch model they came from, on real images.

The one implementation behind the manifest's ``parity`` figures (``shufflenet-export`` runs it right after
exporting) and ``shufflenet-parity`` (which re-runs it on an existing export folder and judges the figures).

Every file is fed the same resized and centre-cropped uint8 RGB images through its *own* declared
preprocessing, layout, dtype and quantisation (``runtime.Runner``), while PyTorch gets the variant's true
preprocessing; so a wrong manifest shows up as a parity failure rather than being reproduced on both sides.
Before a file runs, the signature it really declares (ONNX Runtime inputs, LiteRT tensor details, the Core ML
spec) is checked against its manifest entry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shufflenet.export.calibration import ImageSet
from shufflenet.export.metrics import ParityMetrics, compare, softmax
from shufflenet.export.runtimes.base import Runner, dequantize
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.cli_common import error_line, plural
from shufflenet.model.preprocessing import Preprocessing
from shufflenet.model.registry import Variant
from shufflenet.model.source import SourceError, logits, model_from_source

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class ParityError(ValueError):
    """The comparison cannot be made as asked (reference weights gone, file and manifest disagree); one line."""


@dataclass
class CrossCheck:
    """A second runtime's figures for the same file (Core ML's own runtime on macOS): against PyTorch, and
    against the primary runtime's output."""

    evaluated_by: str
    metrics: ParityMetrics
    vs_primary: ParityMetrics

    def to_dict(self) -> dict[str, Any]:
        return {**self.metrics.to_dict(), "evaluated_by": self.evaluated_by, "vs_primary": self.vs_primary.to_dict()}


@dataclass
class ArtifactParity:
    """The figures of one manifest entry: outputs compared with PyTorch's (logits, or softmax(logits) for a
    Core ML image classifier whose ``output_kind`` is ``probabilities``)."""

    format: str
    precision: str
    variant: str
    path: str
    output_kind: str
    evaluated_by: str
    metrics: ParityMetrics
    cross_checks: list[CrossCheck] = field(default_factory=list)
    vs_cpu: dict[str, Any] | None = None  # an NPU file: its raw outputs against the CPU file it was compiled from

    def manifest_dict(self) -> dict[str, Any]:
        """The entry's ``parity`` object in manifest.json."""
        d: dict[str, Any] = {**self.metrics.to_dict(), "evaluated_by": self.evaluated_by}
        if self.vs_cpu is not None:
            d["vs_cpu"] = self.vs_cpu
        if self.cross_checks:
            d["cross_checks"] = [c.to_dict() for c in self.cross_checks]
        return d


@dataclass
class Reference:
    """The PyTorch model an export folder came from, and the preprocessing its weights expect."""

    model: torch.nn.Module
    variant: Variant
    prep: Preprocessing
    source: dict[str, Any]


def reference_prep(variant: Variant, input_size: tuple[int, int]) -> Preprocessing:
    """The variant's own preprocessing at the export's input size (what ``run_export`` derives)."""
    size = tuple(input_size)
    return variant.preprocessing if size == tuple(variant.input_size) else variant.preprocessing.with_input_size(*size)


def rebuild_reference(manifest: dict[str, Any], artifacts_dir: Path, weights: Path | None = None) -> Reference:
    """The exported network, rebuilt from the manifest's ``source`` (``shufflenet.model.source``, the code path
    the export used). ``weights`` replaces a checkpoint whose recorded path is gone; it must be the same file."""
    src = manifest.get("source") or {}
    try:
        r = model_from_source(src, manifest.get("arch", ""), weights)
    except (SourceError, KeyError) as e:
        raise ParityError(str(e).strip("'\"")) from None
    return Reference(r.model, r.variant, reference_prep(r.variant, manifest["input_size"]), src)


# ------------------------------------------------------------------------------------------ signature check


def _sig_text(d: dict[str, Any]) -> str:
    shape = "x".join(str(s) for s in d.get("shape") or []) or "?"
    q = d.get("quantization")
    qs = f" q(scale {q['scale']:.6g}, zero point {q['zero_point']})" if q else ""
    kind = " image" if d.get("kind") == "image" else ""
    return f"{d.get('name')!r} {d.get('dtype')}[{shape}]{kind}{qs}"


def _same_quant(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if not a or not b:
        return not a and not b
    return int(a["zero_point"]) == int(b["zero_point"]) and math.isclose(
        float(a["scale"]), float(b["scale"]), rel_tol=1e-6
    )


def _same_io(declared: dict[str, Any], actual: dict[str, Any], keys: tuple[str, ...]) -> bool:
    for k in keys:
        if k == "quantization":
            if not _same_quant(declared.get(k), actual.get(k)):
                return False
        elif k == "shape":
            if [str(s) for s in declared.get("shape") or []] != [str(s) for s in actual.get("shape") or []]:
                return False
        elif declared.get(k) != actual.get(k):
            return False
    return True


def file_signature(runner: Runner) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inputs and outputs the loaded file itself declares, in manifest terms (name, shape, dtype,
    quantisation; ``kind`` for Core ML)."""
    from shufflenet.export.runtimes.coreml import CoremlRunner
    from shufflenet.export.runtimes.litert import TfliteRunner
    from shufflenet.export.runtimes.onnx_runtime import OnnxRunner
    from shufflenet.export.runtimes.qnn_htp import QnnHtpRunner

    if isinstance(runner, QnnHtpRunner):  # the compiled .tflite's own tensors (the NPU graph has the same names)
        return runner.signature()
    if runner.entry.get("format") == "executorch":  # the .pte method's own tensor metadata
        return runner.signature()
    if isinstance(runner, OnnxRunner):
        ort_types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
                     "tensor(uint8)": "uint8", "tensor(int64)": "int64"}  # fmt: skip

        def onnx_io(a: Any) -> dict[str, Any]:
            return {"name": a.name, "shape": list(a.shape), "dtype": ort_types.get(a.type, a.type),
                    "quantization": None}  # fmt: skip

        return [onnx_io(a) for a in runner.session.get_inputs()], [onnx_io(a) for a in runner.session.get_outputs()]
    if isinstance(runner, TfliteRunner):

        def tfl_io(d: dict[str, Any]) -> dict[str, Any]:
            scale, zp = d["quantization"]
            q = {"scale": float(scale), "zero_point": int(zp)} if scale else None
            return {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                    "quantization": q}  # fmt: skip

        interp = runner.interp
        return [tfl_io(d) for d in interp.get_input_details()], [tfl_io(d) for d in interp.get_output_details()]
    if isinstance(runner, CoremlRunner):
        from shufflenet.export.formats.coreml_export import coreml_signature

        return coreml_signature(runner.path)
    raise ParityError(f"no signature reader for {type(runner).__name__}")


def check_signature(runner: Runner) -> None:
    """Raise ``ParityError`` when the file's own inputs (or outputs) differ from its manifest entry."""
    entry = runner.entry
    ins, outs = file_signature(runner)
    fmt = entry["format"]
    in_keys = ("name", "shape", "dtype", "quantization") + (("kind",) if fmt == "coreml" else ())
    declared_ins = entry.get("inputs") or []
    if len(declared_ins) != len(ins):
        raise ParityError(
            f"{entry['path']} takes {len(ins)} input(s) but the manifest lists {len(declared_ins)}; "
            "re-run shufflenet-export"
        )
    for d, a in zip(declared_ins, ins, strict=True):
        if not _same_io(d, a, in_keys):
            raise ParityError(
                f"{entry['path']}: the manifest declares input {_sig_text(d)} but the file takes {_sig_text(a)}; "
                "re-run shufflenet-export"
            )
        shape = d.get("shape") or []
        layout = d.get("layout")
        if len(shape) == 4 and layout in ("NCHW", "NHWC"):
            channels = shape[1] if layout == "NCHW" else shape[3]
            if channels not in (1, 3):
                raise ParityError(
                    f"{entry['path']}: input {d.get('name')!r} of shape {shape} cannot be {layout} "
                    f"({channels} channels); the manifest's layout is wrong, re-run shufflenet-export"
                )
    declared_outs = {o.get("name"): o for o in entry.get("outputs") or []}
    for a in outs:
        d = declared_outs.get(a["name"])
        if d is None:
            raise ParityError(
                f"{entry['path']} has output {a['name']!r}, which the manifest does not list; re-run shufflenet-export"
            )
        keys = ("shape", "dtype", "quantization") if a.get("shape") else ("dtype",)
        if not _same_io(d, a, keys):
            raise ParityError(
                f"{entry['path']}: the manifest declares output {_sig_text(d)} but the file gives {_sig_text(a)}; "
                "re-run shufflenet-export"
            )


# ------------------------------------------------------------------------------------------------- parity


def measure_file_parity(
    artifacts_dir: Path,
    entry: dict[str, Any],
    images: np.ndarray,
    ref_logits: np.ndarray,
    declared_prep: dict[str, Any],
    macos: bool = False,
) -> ArtifactParity:
    """Check one file's signature, run it on ``images`` and compare with ``ref_logits``; on macOS a Core ML
    file also runs through ``MLModel.predict`` (a cross-check against the NumPy evaluator)."""
    full = {**entry, "preprocessing": entry.get("preprocessing") or declared_prep}
    try:
        runner = load_runner(Path(artifacts_dir), full)
    except (RuntimeError, ValueError, OSError) as e:
        raise ParityError(f"{entry['path']} cannot be loaded: {error_line(e)}") from None
    check_signature(runner)
    out_kind = entry.get("output_kind", "logits")
    target = softmax(ref_logits) if out_kind == "probabilities" else ref_logits
    try:
        raw = runner.predict_raw(images)
        out = dequantize(raw, runner.output.get("quantization"))
    except (RuntimeError, ValueError) as e:
        raise ParityError(f"{entry['path']} failed to run with {runner.evaluated_by}: {error_line(e)}") from None
    if out.shape != target.shape:
        raise ParityError(
            f"{entry['path']} gives outputs of shape {out.shape[1:]} per image, PyTorch {target.shape[1:]}; "
            "re-run shufflenet-export"
        )
    result = ArtifactParity(
        format=entry["format"],
        precision=entry["precision"],
        variant=entry.get("variant", ""),
        path=entry["path"],
        output_kind=out_kind,
        evaluated_by=runner.evaluated_by,
        metrics=compare(target, out),  # counts the file's inf/NaN outputs (a file giving any fails)
    )
    if entry.get("npu"):
        result.vs_cpu = npu_vs_cpu(Path(artifacts_dir), full, raw, images, target)
    if macos and entry["format"] == "coreml":
        mac = load_runner(Path(artifacts_dir), full, macos=True)
        mac_out = mac.predict(images)
        result.cross_checks.append(CrossCheck(mac.evaluated_by, compare(target, mac_out), compare(out, mac_out)))
    return result


def npu_vs_cpu(
    artifacts_dir: Path, entry: dict[str, Any], npu_raw: np.ndarray, images: np.ndarray, target: np.ndarray
) -> dict[str, Any]:
    """An NPU file's raw outputs against those of the CPU .tflite it was compiled from (LiteRT on this machine), on
    the same inputs: the share of identical values, the largest gap (quantized steps for int8 outputs, else relative
    to the largest CPU output) and top-1 agreement. For int8 outputs also the CPU file's own largest gap to PyTorch
    (``target``) in quantized steps, which sets the NPU file's bar by default."""
    from shufflenet.export.metrics import topk_agreement
    from shufflenet.export.runtimes.litert_arm64 import compare_x86

    source = entry["npu"].get("compiled_from")
    if not source or not (Path(artifacts_dir) / source).is_file():
        raise ParityError(f"{entry['path']} was compiled from {source!r}, which is not in the folder; re-run export")
    cpu = load_runner(Path(artifacts_dir), {**entry, "npu": None, "path": source})
    cpu_raw = cpu.predict_raw(images)
    a = compare_x86(npu_raw, cpu_raw)
    d: dict[str, Any] = {
        "compared_with": source,
        "evaluated_by": cpu.evaluated_by,
        **a.to_dict(),
        "top1_agreement": topk_agreement(cpu_raw.astype(np.float64), npu_raw.astype(np.float64), 1),
    }
    q = cpu.output.get("quantization")
    if q and q.get("scale"):
        cpu_err = float(np.abs(dequantize(cpu_raw, q) - target).max())
        d["cpu_max_steps_vs_pytorch"] = int(np.ceil(cpu_err / float(np.ravel(q["scale"])[0])))
    return d


def measure_parity(
    model: torch.nn.Module,
    ref_prep: Preprocessing,
    artifacts: list[dict[str, Any]],
    images: ImageSet,
    artifacts_dir: Path,
    declared_prep: dict[str, Any] | None = None,
    macos: bool | None = None,
    say: Progress | None = None,
) -> list[ArtifactParity]:
    """Parity of every entry of ``artifacts`` (files in ``artifacts_dir``) against ``model``.

    ``ref_prep`` is the preprocessing the weights expect (PyTorch's side); ``declared_prep`` what the manifest
    declares for the files (default: ``ref_prep``). ``macos=None`` uses Core ML's own runtime as a cross-check
    wherever it exists.
    """
    from shufflenet.export.runtimes.coreml_eval import on_macos

    say = say or (lambda msg: log.info("%s", msg))
    macos = on_macos() if macos is None else macos
    declared = declared_prep or ref_prep.to_dict()
    say(f"parity against PyTorch on {plural(len(images.images), 'real image')} ({images.source})")
    if images.skipped_line:
        say(images.skipped_line)
    ref = logits(model, images.images, ref_prep)
    results = []
    for e in artifacts:
        results.append(measure_file_parity(Path(artifacts_dir), e, images.images, ref, declared, macos))
        log.debug("parity %s: %s", e["path"], results[-1].metrics)
    return results


def annotate_parity(
    model: torch.nn.Module,
    prep: Preprocessing,
    artifacts: list[dict[str, Any]],
    images: ImageSet,
    artifacts_dir: Path,
    say: Progress | None = None,
) -> list[ArtifactParity]:
    """``measure_parity`` for a fresh export: writes each entry's manifest ``parity`` object."""
    results = measure_parity(model, prep, artifacts, images, artifacts_dir, say=say)
    for e, r in zip(artifacts, results, strict=True):
        e["parity"] = r.manifest_dict()
    return results
