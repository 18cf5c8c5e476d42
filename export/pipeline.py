"""The export pipeline: model -> ONNX (raw, simplified) -> TFLite (fp32/fp16/int8) -> Core ML, then parity
against PyTorch on real images and a manifest. Everything is written into a temporary folder that replaces
the output folder only when every step succeeded."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shufflenet.model.checkpoint import load_model, sha256_file
from shufflenet.model.complexity import count_complexity
from shufflenet.model.pretrained import DEFAULT_ARCH, shipped_weights_path
from shufflenet.model.registry import Variant, get_variant

from . import calibration as calib_mod
from .manifest import SCHEMA, sha256_path, size_bytes, tool_versions, write_json_atomic
from .parity import annotate_parity

log = logging.getLogger(__name__)

FORMATS = ("onnx", "tflite", "coreml")
PRECISIONS = ("fp32", "fp16", "int8")
FORMAT_PRECISIONS = {"onnx": ("fp32",), "tflite": ("fp32", "fp16", "int8"), "coreml": ("fp16", "fp32")}
DEFAULT_PRECISIONS = {"onnx": ("fp32",), "tflite": ("fp32", "int8"), "coreml": ("fp16", "fp32")}
FORMAT_DEPENDENCIES = {
    "onnx": ("onnx", "onnxsim", "onnxruntime"),
    "tflite": ("onnx", "onnxsim", "tensorflow", "ai_edge_litert"),
    "coreml": ("coremltools",),
}


class ExportError(ValueError):
    """A bad request (arch, weights, sizes, folders, missing dependency); one line, names the fix."""


@dataclass
class ExportConfig:
    output: Path
    arch: str | None = None  # None: the embedded default
    weights: Path | None = None
    random_init: bool = False
    seed: int = 0
    formats: tuple[str, ...] = FORMATS
    precisions: tuple[str, ...] | None = None  # None: every precision when all formats, else the defaults
    input_size: tuple[int, int] | None = None
    calib: Path | None = None
    calib_limit: int = 300
    dynamic_batch: bool = False
    labels: Path | None = None
    parity: bool = True


@dataclass
class ExportResult:
    output: Path
    manifest: dict[str, Any]
    seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str], None]


def plan_precisions(cfg: ExportConfig) -> dict[str, tuple[str, ...]]:
    for f in cfg.formats:
        if f not in FORMATS:
            raise ExportError(f"unknown format {f!r}; choose from {', '.join(FORMATS)} or all")
    for p in cfg.precisions or ():
        if p not in PRECISIONS:
            raise ExportError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    plan = {}
    for f in cfg.formats:
        if cfg.precisions is None:
            plan[f] = FORMAT_PRECISIONS[f] if set(cfg.formats) == set(FORMATS) else DEFAULT_PRECISIONS[f]
        else:
            plan[f] = tuple(p for p in cfg.precisions if p in FORMAT_PRECISIONS[f])
    empty = [f for f, ps in plan.items() if not ps]
    if empty:
        f = empty[0]
        raise ExportError(
            f"format {f} has none of the precisions {','.join(cfg.precisions or ())}; "
            f"{f} supports {','.join(FORMAT_PRECISIONS[f])}"
        )
    return plan


def check_dependencies(formats: tuple[str, ...]) -> None:
    import importlib

    for f in formats:
        missing = []
        for mod in FORMAT_DEPENDENCIES[f]:
            try:
                importlib.import_module(mod)
            except ImportError:
                missing.append(mod)
        if missing:
            raise ExportError(
                f"format {f} needs {', '.join(missing)}, which is not installed; "
                "run `pip install 'shufflenet-mobile[export]'` (or `make demo`)"
            )


def resolve_model(cfg: ExportConfig) -> tuple[torch.nn.Module, Variant, dict[str, Any]]:
    """The network to export and where its weights came from."""
    from shufflenet.model.checkpoint import CheckpointError

    if cfg.weights and cfg.random_init:
        raise ExportError("--weights and --random-init exclude each other; pass one")
    if cfg.weights:
        try:
            model, variant, _ = load_model(cfg.weights, cfg.arch)
        except (CheckpointError, KeyError) as e:
            raise ExportError(str(e)) from None
        return model, variant, {"kind": "checkpoint", "path": str(cfg.weights), "sha256": sha256_file(cfg.weights)}
    try:
        variant = get_variant(cfg.arch or DEFAULT_ARCH)
    except KeyError as e:
        raise ExportError(str(e)) from None
    arch = variant.name
    shipped = shipped_weights_path(arch)
    if not cfg.random_init and shipped is not None:
        model, variant, _ = load_model(shipped, arch)
        return model, variant, {"kind": "embedded", "path": shipped.name, "sha256": sha256_file(shipped)}
    if not cfg.random_init:
        why = "has no shipped weights" if arch != DEFAULT_ARCH else "is not trained in this installation"
        raise ExportError(f"{arch} {why}; pass --weights PATH or --random-init")
    torch.manual_seed(cfg.seed)
    model = variant.build().eval()
    # Randomise BN statistics so that folding them into convs is exercised, not skipped over identities.
    g = torch.Generator().manual_seed(cfg.seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model, variant, {"kind": "random-init", "seed": cfg.seed, "sha256": None}


def min_input_size(variant: Variant) -> int:
    return 32 if variant.stem == "imagenet" else 8


def _check_output(output: Path) -> None:
    """Fail before any work when the output cannot be written (a real probe: root ignores permission bits)."""
    if output.exists() and not output.is_dir():
        raise ExportError(f"output {output} exists and is not a folder; choose another --output")
    parent = output.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=f".{output.name}.probe-", dir=parent))
        probe.rmdir()
    except OSError as e:
        raise ExportError(f"output folder {output} is not writable ({e.strerror}); choose another --output") from None


def _labels(variant: Variant, labels_file: Path | None) -> list[str]:
    if labels_file is None:
        return variant.class_names()
    try:
        lines = [ln.rstrip("\n") for ln in labels_file.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ExportError(f"cannot read labels file {labels_file}: {e}") from None
    if lines and "\t" in lines[0] and lines[0].split("\t")[0] == "index":  # a classes.tsv: index, synset, names
        lines = [ln.split("\t")[2].split(",")[0].strip() for ln in lines[1:]]
    if len(lines) != variant.num_classes:
        raise ExportError(f"{labels_file} has {len(lines)} labels but {variant.name} has {variant.num_classes} classes")
    return lines


def run_export(cfg: ExportConfig, progress: Progress | None = None) -> ExportResult:
    say = progress or (lambda msg: log.info("%s", msg))
    t_start = time.time()
    plan = plan_precisions(cfg)
    check_dependencies(tuple(plan))
    _check_output(cfg.output)
    model, variant, source = resolve_model(cfg)
    size = cfg.input_size or variant.input_size
    if min(size) < min_input_size(variant):
        raise ExportError(
            f"input size {size[0]}x{size[1]} is too small for {variant.name} (total stride "
            f"{min_input_size(variant)}); use at least {min_input_size(variant)}x{min_input_size(variant)}"
        )
    prep = variant.preprocessing if size == variant.input_size else variant.preprocessing.with_input_size(*size)
    labels = _labels(variant, cfg.labels)
    arch = variant.name
    calib_set = None
    if cfg.calib is not None:
        try:
            calib_set = calib_mod.folder_images(cfg.calib, prep, cfg.calib_limit, cfg.seed)
        except calib_mod.CalibrationError as e:
            raise ExportError(str(e)) from None
    parity_set = calib_mod.install_photos(prep, seed=cfg.seed + 1)
    if calib_set is None:
        calib_set = calib_mod.install_photos(prep, seed=cfg.seed)
    if calib_set.kind == "install-photos":
        say(f"calibration: {len(calib_set.images)} crops of scikit-image's sample photos (no --calib given)")
    out_parent = cfg.output.resolve().parent
    out_parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cfg.output.name}.tmp-", dir=out_parent))
    steps: dict[str, float] = {}
    try:
        artifacts = _export_files(model, variant, arch, size, prep, labels, plan, cfg, calib_set, tmp, say, steps)
        (tmp / "labels.txt").write_text("\n".join(labels) + "\n")
        prep_doc = {"arch": arch, "input_size": list(size), "num_classes": variant.num_classes, **prep.to_dict(),
                    "labels_file": "labels.txt"}  # fmt: skip
        write_json_atomic(tmp / "preprocessing.json", prep_doc)
        if cfg.parity:
            t = time.time()
            annotate_parity(model, prep, artifacts, parity_set, tmp, say)
            steps["parity"] = time.time() - t
        cx = count_complexity(model, size)
        manifest = {
            "schema": SCHEMA,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "arch": arch,
            "variant": {
                "groups": variant.groups,
                "width": variant.width,
                "stem": variant.stem,
                "num_classes": variant.num_classes,
                "channels": list(variant.channels),
            },
            "input_size": list(size),
            "complexity": {"macs": cx.macs, "params": cx.params},
            "source": source,
            "preprocessing": prep.to_dict(),
            "preprocessing_file": "preprocessing.json",
            "labels_file": "labels.txt",
            "calibration": calib_set.describe() if "int8" in plan.get("tflite", ()) else None,
            "parity_images": parity_set.describe() if cfg.parity else None,
            "tool_versions": tool_versions(),
            "dynamic_batch": cfg.dynamic_batch,
            "artifacts": artifacts,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
        _move_into_place(tmp, cfg.output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(output=cfg.output, manifest=manifest, seconds=time.time() - t_start, step_seconds=steps)


def _move_into_place(tmp: Path, output: Path) -> None:
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _entry(fmt: str, precision: str, variant_kind: str, path: Path, tmp: Path, runtime: str) -> dict[str, Any]:
    return {
        "format": fmt,
        "precision": precision,
        "variant": variant_kind,
        "path": path.name,
        "size_bytes": size_bytes(path),
        "sha256": sha256_path(path),
        "runtime": runtime,
    }


def _export_files(
    model: torch.nn.Module,
    variant: Variant,
    arch: str,
    size: tuple[int, int],
    prep: Any,
    labels: list[str],
    plan: dict[str, tuple[str, ...]],
    cfg: ExportConfig,
    calib_set: calib_mod.ImageSet,
    tmp: Path,
    say: Progress,
    steps: dict[str, float],
) -> list[dict[str, Any]]:
    artifacts: list[dict[str, Any]] = []
    n_classes = variant.num_classes
    total = sum(len(v) for v in plan.values()) + (1 if "tflite" in plan and "onnx" not in plan else 0)
    total += len(plan.get("coreml", ())) + (1 if "onnx" in plan else 0)
    done = 0

    def step(msg: str) -> float:
        nonlocal done
        done += 1
        say(f"[{done}/{total}] {msg}")
        return time.time()

    onnx_files = None
    if "onnx" in plan or "tflite" in plan:
        from .onnx_export import export_onnx, op_histogram

        t = step("ONNX export (opset 17) + onnx.checker + onnxsim")
        raw, sim = tmp / f"{arch}_fp32.onnx", tmp / f"{arch}_fp32.sim.onnx"
        onnx_files = export_onnx(model, size, raw, sim, dynamic_batch=cfg.dynamic_batch)
        steps["onnx"] = time.time() - t
        if "onnx" in plan:
            batch = "batch" if cfg.dynamic_batch else 1
            for kind, p in (("raw", raw), ("simplified", sim)):
                e = _entry("onnx", "fp32", kind, p, tmp, "onnxruntime")
                e["inputs"] = [{"name": "input", "shape": [batch, 3, *size], "dtype": "float32", "layout": "NCHW",
                                "kind": "tensor", "quantization": None}]  # fmt: skip
                e["outputs"] = [{"name": "logits", "shape": [batch, n_classes], "dtype": "float32", "layout": "NC",
                                 "quantization": None}]  # fmt: skip
                e["op_histogram"] = op_histogram(p)
                artifacts.append(e)
    if "tflite" in plan:
        from .onnx_export import fixed_shape_onnx
        from .tflite_export import TFLITE_KINDS, check_tflite_graph, convert_tflite, inspect_tflite, tflite_filename

        fixed = fixed_shape_onnx(onnx_files.simplified, size)
        calib_nhwc = None
        shuffles = sum(1 for m in model.modules() if getattr(m, "shuffle", False))
        depthwise = sum(1 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1)
        avgpools = sum(1 for m in model.modules() if isinstance(m, torch.nn.AvgPool2d) and m.count_include_pad)
        for precision in plan["tflite"]:
            t = step(f"TFLite {TFLITE_KINDS[precision][1]} ({precision})")
            if precision == "int8" and calib_nhwc is None:
                from shufflenet.model.preprocessing import normalize_hwc

                calib_nhwc = normalize_hwc(calib_set.images, prep)
            path = convert_tflite(fixed, precision, tmp / tflite_filename(arch, precision), calib_nhwc)
            steps[f"tflite_{precision}"] = time.time() - t
            info = inspect_tflite(path)
            check = check_tflite_graph(info, precision, shuffles, depthwise, avgpools)
            if not check.ok:
                log.warning("TFLite %s graph: %s", precision, "; ".join(check.problems))
            e = _entry("tflite", precision, TFLITE_KINDS[precision][1], path, tmp, "litert")
            e.update(inputs=info.inputs, outputs=info.outputs, op_histogram=info.op_histogram,
                     graph_check={"ok": check.ok, "problems": check.problems, "max_rank": info.max_rank,
                                  "float32_tensors": len(info.float32_tensors)})  # fmt: skip
            e["delegate_coverage"] = info.coverage.to_dict() if info.coverage else None
            artifacts.append(e)
    if "coreml" in plan:
        from .coreml_export import convert_coreml, coreml_filename, coreml_op_histogram, coreml_signature

        for precision in plan["coreml"]:
            t = step(f"Core ML ML Program ({precision}; image classifier + tensor input)")
            for kind in ("image", "tensor"):
                path = convert_coreml(
                    model, size, prep, labels, precision, kind, tmp / coreml_filename(arch, precision, kind)
                )
                ins, outs = coreml_signature(path)
                e = _entry("coreml", precision, kind, path, tmp, "coreml-numpy")
                e.update(inputs=ins, outputs=outs, op_histogram=coreml_op_histogram(path),
                         output_kind="probabilities" if kind == "image" else "logits")  # fmt: skip
                artifacts.append(e)
            steps[f"coreml_{precision}"] = time.time() - t
    for e in artifacts:
        e["num_classes"] = n_classes
    return artifacts


def reference_logits(model: torch.nn.Module, images: np.ndarray, prep: Any) -> np.ndarray:
    from shufflenet.model.preprocessing import normalize_hwc

    x = torch.from_numpy(normalize_hwc(images, prep)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        return model.eval()(x).numpy()
