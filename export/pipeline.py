"""The export pipeline: model -> ONNX (raw, simplified) -> TFLite (fp32/fp16/int8) -> Core ML, then parity
against PyTorch on real images and a manifest. Everything is written into a temporary folder that replaces
the output folder only when every step succeeded."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from shufflenet.export import calibration as calib_mod
from shufflenet.export import output_dir
from shufflenet.export.arguments import FORMATS, check_input_paths
from shufflenet.export.budget import available_memory, estimate, heartbeat
from shufflenet.export.context import ExportContext
from shufflenet.export.manifest import SCHEMA, tool_versions
from shufflenet.export.parity import annotate_parity
from shufflenet.model import source as source_mod
from shufflenet.model.checkpoint import CheckpointError
from shufflenet.model.cli_common import plural
from shufflenet.model.complexity import count_complexity
from shufflenet.model.datasets import class_name
from shufflenet.model.files import sha256_path, size_bytes, write_json_atomic
from shufflenet.model.registry import Variant

log = logging.getLogger(__name__)

# fp16: float16 weights computed in float32 (TFLite) or float16 arithmetic (Core ML); fp16-arith: the TFLite file
# that XNNPACK computes in float16 on ARM cores with FP16 arithmetic (float32 elsewhere).
PRECISIONS = ("fp32", "fp16", "fp16-arith", "int8")
# Fewer --calib images than this get a warning: int8 ranges fitted to a handful of photos clip other ones.
MIN_CALIB_IMAGES = 8
FORMAT_PRECISIONS = {"onnx": ("fp32",), "tflite": ("fp32", "fp16", "fp16-arith", "int8"), "coreml": ("fp16", "fp32"),
                     "executorch": ("fp32", "int8")}  # fmt: skip
DEFAULT_PRECISIONS = {"onnx": ("fp32",), "tflite": ("fp32", "fp16-arith", "int8"), "coreml": ("fp16", "fp32"),
                      "executorch": ("fp32", "int8")}  # fmt: skip
# Formats whose libraries are an optional extra of their own (the rest come with `export`).
FORMAT_EXTRAS = {"executorch": "executorch"}
FORMAT_DEPENDENCIES = {
    "onnx": ("onnx", "onnxsim", "onnxruntime"),
    "tflite": ("onnx", "onnxsim", "tensorflow", "ai_edge_litert"),
    "coreml": ("coremltools",),
    "executorch": ("executorch",),
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
    force: bool = False  # an --output that is not a previous export is renamed aside (kept), not refused
    npu: str | None = None  # "qualcomm:SM8650,SM8750": the .tflite files compiled for these NPUs too


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


def install_hint(fmt: str) -> str:
    """The command that installs what ``fmt`` needs."""
    extra = FORMAT_EXTRAS.get(fmt, "export")
    locked = " (hash-locked in requirements-executorch.lock; `make install` does it)" if extra == "executorch" else ""
    return f"`pip install 'shufflenet-mobile[{extra}]'`{locked}" + (" (or `make demo`)" if extra == "export" else "")


def missing_modules(fmt: str) -> list[str]:
    """The libraries of ``fmt`` that are not installed (looked up, not imported: no start-up cost)."""
    import importlib.util

    return [m for m in FORMAT_DEPENDENCIES[fmt] if importlib.util.find_spec(m) is None]


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
            raise ExportError(f"format {f} needs {', '.join(missing)}, which is not installed; run {install_hint(f)}")


def drop_missing_extras(cfg: ExportConfig, plan: dict[str, tuple[str, ...]], say: Progress) -> None:
    """``--format all`` without an optional extra installed: that format is left out, and the export says so;
    a format asked for by name still stops in ``check_dependencies``."""
    if set(cfg.formats) != set(FORMATS):
        return
    for fmt in FORMAT_EXTRAS:
        if fmt in plan and missing_modules(fmt):
            del plan[fmt]
            say(f"{fmt}: not installed, left out of --format all; run {install_hint(fmt)}")


def resolve_model(cfg: ExportConfig) -> tuple[torch.nn.Module, Variant, dict[str, Any]]:
    """The network to export and where its weights came from (``shufflenet.model.source``)."""
    try:
        r = source_mod.resolve_model(cfg.arch, cfg.weights, cfg.random_init, cfg.seed)
    except (source_mod.SourceError, CheckpointError) as e:
        raise ExportError(str(e)) from None
    return r.model, r.variant, r.source


def min_input_size(variant: Variant) -> int:
    return 32 if variant.stem == "imagenet" else 8


def _labels(variant: Variant, labels_file: Path | None) -> list[str]:
    """The class names of the model's outputs: the weights' own (a ``shufflenet-train`` checkpoint records its
    folder's classes, see ``checkpoint.checkpoint_variant``), or ``labels_file`` instead (same count only)."""
    if labels_file is None:
        return variant.class_names()
    try:
        # utf-8-sig: a byte-order mark (what Windows editors write first) is not part of the first name; NFC: the
        # names compare equal to class folders however the system spelled their accents (macOS: NFD).
        text = labels_file.read_text(encoding="utf-8-sig")
        lines = [class_name(ln.strip()) for ln in text.splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ExportError(f"cannot read labels file {labels_file}: {e}") from None
    if lines and "\t" in lines[0] and lines[0].split("\t")[0] == "index":  # a classes.tsv: index, synset, names
        lines = [ln.split("\t")[2].split(",")[0].strip() for ln in lines[1:]]
    if len(lines) != variant.num_classes:
        raise ExportError(
            f"--labels {labels_file} has {len(lines)} labels but the model has {variant.num_classes} outputs "
            f"({', '.join(variant.class_names()[:3])}, ...); pass a file of {variant.num_classes} lines, or none to "
            "keep the weights' own class names"
        )
    return lines


def npu_request(cfg: ExportConfig) -> Any:
    """The parsed ``--npu`` (``npu_qualcomm.NpuRequest``) or None; a bad value or one without .tflite files is an
    ``ExportError`` before anything heavy loads."""
    if cfg.npu is None:
        return None
    from shufflenet.export.formats.npu_qualcomm import check_precisions, parse_npu

    try:
        request = parse_npu(cfg.npu)
    except ValueError as e:
        raise ExportError(str(e)) from None
    if "tflite" not in cfg.formats:
        raise ExportError(f"--npu {cfg.npu} compiles the .tflite files; add tflite to --format")
    try:
        check_precisions(request, plan_precisions(cfg)["tflite"], cfg.npu)
    except ValueError as e:
        raise ExportError(str(e)) from None
    return request


def run_export(cfg: ExportConfig, progress: Progress | None = None) -> ExportResult:
    say = progress or (lambda msg: log.info("%s", msg))
    t_start = time.time()
    plan = plan_precisions(cfg)
    drop_missing_extras(cfg, plan, say)
    npu_request(cfg)
    check_input_paths(cfg.weights, cfg.calib, cfg.labels)  # before any heavy import
    try:
        output_dir.check_output(cfg.output, cfg.force)
        with output_dir.output_lock(cfg.output):
            out_plan = output_dir.check_output(cfg.output, cfg.force)  # again, now that no one else writes it
            output_dir.remove_stale_temps(cfg.output)
            with heartbeat(say) as say_hb:
                return _run_export_locked(cfg, plan, out_plan, say_hb, t_start)
    except output_dir.OutputError as e:
        raise ExportError(str(e)) from None


def _check_budget(model_builder: Callable[[], Any], size: tuple[int, int], plan: dict[str, tuple[str, ...]],
                  cfg: ExportConfig, say: Progress) -> None:  # fmt: skip
    """Refuse, before any work, an export that cannot fit this machine's memory; say what it will take."""
    n_calib = cfg.calib_limit if cfg.calib is not None else len(calib_mod.INSTALL_PHOTOS) * 8
    n_parity = len(calib_mod.INSTALL_PHOTOS) * 8 if cfg.parity else 0
    est = estimate(model_builder, size, plan, n_calib, n_parity)
    avail = available_memory()
    calibrated = "int8" in (*plan.get("tflite", ()), *plan.get("executorch", ()))
    if avail is not None and est.peak_bytes > avail:
        raise ExportError(
            f"an export at {size[0]}x{size[1]} needs {est.describe().removeprefix('about ')}, but only "
            f"{avail / 1e9:.1f} GB is free; choose a smaller --input-size"
            + (" or fewer --calib-limit images" if calibrated else "")
        )
    say(f"estimate: {est.describe()} at {size[0]}x{size[1]}")


def _run_export_locked(
    cfg: ExportConfig,
    plan: dict[str, tuple[str, ...]],
    out_plan: output_dir.OutputPlan,
    say: Progress,
    t_start: float,
) -> ExportResult:
    model, variant, source = resolve_model(cfg)
    size = cfg.input_size or variant.input_size
    if min(size) < min_input_size(variant):
        raise ExportError(
            f"input size {size[0]}x{size[1]} is too small for {variant.name} (total stride "
            f"{min_input_size(variant)}); use at least {min_input_size(variant)}x{min_input_size(variant)}"
        )
    _check_budget(variant.build, size, plan, cfg, say)
    prep = variant.preprocessing if size == variant.input_size else variant.preprocessing.with_input_size(*size)
    labels = _labels(variant, cfg.labels)
    arch = variant.name
    calib_set = None
    calibrates = any("int8" in plan.get(f, ()) for f in ("tflite", "executorch"))  # both calibrate on one set
    if cfg.calib is not None and not calibrates:
        say(f"--calib {cfg.calib} is not used: no int8 file is written (precisions {precision_list(plan)})")
    elif cfg.calib is not None:  # an unusable folder is reported before TensorFlow and coremltools load (seconds)
        try:
            calib_set = calib_mod.folder_images(cfg.calib, prep, cfg.calib_limit, cfg.seed)
        except calib_mod.CalibrationError as e:
            raise ExportError(str(e)) from None
        if calib_set.skipped_line:
            say(f"calibration: {calib_set.skipped_line}")
        if len(calib_set.images) < MIN_CALIB_IMAGES:
            say(
                f"warning: int8 calibration on {plural(len(calib_set.images), 'image')} of {cfg.calib}: the int8 "
                f"ranges fit {'it' if len(calib_set.images) == 1 else 'them'} alone and may clip other photos; pass "
                f"--calib a folder of at least {MIN_CALIB_IMAGES} photos like the ones the app will see"
            )
    check_dependencies(tuple(plan))
    npu = npu_request(cfg)
    if npu is not None:
        from shufflenet.export.formats.npu_qualcomm import QnnCompiler
        from shufflenet.export.runtimes.qnn_htp import NpuUnavailable

        try:  # the libraries are there before anything is converted
            QnnCompiler.check()
        except NpuUnavailable as e:
            raise ExportError(str(e)) from None
    parity_set = calib_mod.install_photos(prep, seed=cfg.seed + 1)
    if calib_set is None:
        calib_set = calib_mod.install_photos(prep, seed=cfg.seed)
    if calib_set.kind == "install-photos" and calibrates:
        say(f"calibration: {len(calib_set.images)} crops of scikit-image's sample photos (no --calib given)")
    out_parent = cfg.output.resolve().parent
    out_parent.mkdir(parents=True, exist_ok=True)
    done = 0
    total = count_steps(plan) + (1 if cfg.parity else 0) + (len(npu.socs) if npu is not None else 0)

    def step(msg: str) -> None:
        nonlocal done
        done += 1
        say(f"[{done}/{total}] {msg}")

    tmp = output_dir.make_temp_dir(cfg.output)
    try:  # Ctrl-C or SIGTERM before the export's own clean-up below takes over must not leave the folder either
        work = tmp / ".work"  # intermediate files; removed before the folder becomes the export
        work.mkdir()
        ctx = ExportContext(model, variant, size, prep, labels, calib_set, tmp, work, cfg.dynamic_batch, step)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    steps = ctx.step_seconds
    try:
        artifacts = _export_files(ctx, plan)
        if npu is not None:
            from shufflenet.export.formats import npu_qualcomm

            try:
                artifacts += npu_qualcomm.export_entries(ctx, artifacts, npu)
            except (npu_qualcomm.NpuCompileError, npu_qualcomm.NpuUnavailable) as e:
                raise ExportError(str(e)) from None
            for e in artifacts:
                e["num_classes"] = variant.num_classes
        shutil.rmtree(work)
        (tmp / "labels.txt").write_text("\n".join(labels) + "\n")
        prep_doc = {"arch": arch, "input_size": list(size), "num_classes": variant.num_classes, **prep.to_dict(),
                    "labels_file": "labels.txt"}  # fmt: skip
        write_json_atomic(tmp / "preprocessing.json", prep_doc)
        if cfg.parity:
            t = time.time()
            step(f"parity against PyTorch on {plural(len(parity_set.images), 'real image')}")
            annotate_parity(model, prep, artifacts, parity_set, tmp)
            steps["parity"] = time.time() - t
        cx = count_complexity(model, size)
        support = _support_files(tmp, artifacts, ("labels.txt", "preprocessing.json"))
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
            "classes": labels,
            "calibration": calib_set.describe() if calibrates else None,
            "parity_images": parity_set.describe() if cfg.parity else None,
            "tool_versions": tool_versions(),
            "dynamic_batch": cfg.dynamic_batch,
            "artifacts": artifacts,
            "files": support,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
        output_dir.honour_umask(tmp)
        kept = output_dir.move_into_place(tmp, cfg.output, keep_old=out_plan.keep_old)
        if kept is not None:
            say(f"--force: the folder that was at {cfg.output} is kept as {kept}")
    except BaseException as e:
        full = _disk_full(e, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise ExportError(
                f"no space left on the file system holding {out_parent} (writing {cfg.output}); free some space "
                "there or choose another --output"
            ) from None
        raise
    return ExportResult(output=cfg.output, manifest=manifest, seconds=time.time() - t_start, step_seconds=steps)


def _disk_full(e: BaseException, folder: Path) -> bool:
    """Whether ``e`` came from a full disk (converters wrap the OSError in their own exceptions, so the free
    space of the folder's file system is asked as well)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(e, KeyboardInterrupt):
        return False
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _support_files(tmp: Path, artifacts: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The manifest's entries for the files beside the models (labels, preprocessing); whatever else is in
    the folder and not listed (the intermediate ONNX files of a TFLite-only export) is removed, so that
    everything in an export folder is listed in its manifest with its sha256."""
    listed = {e["path"] for e in artifacts} | set(names)
    for p in tmp.iterdir():
        if p.name not in listed:
            log.warning("not part of the export, removed: %s", p.name)
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return [{"path": n, "size_bytes": size_bytes(tmp / n), "sha256": sha256_path(tmp / n)} for n in names]


EXPORTERS = {"onnx": "onnx_export", "tflite": "tflite_export", "coreml": "coreml_export",
             "executorch": "executorch_export"}  # fmt: skip


def _export_files(ctx: ExportContext, plan: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """Every format's files and manifest entries, in the order of FORMATS; each format module does its own."""
    import importlib

    artifacts: list[dict[str, Any]] = []
    for fmt in FORMATS:
        if fmt in plan:
            module = importlib.import_module(f"shufflenet.export.formats.{EXPORTERS[fmt]}")
            artifacts += module.export_entries(ctx, plan[fmt])
    for e in artifacts:
        e["num_classes"] = ctx.variant.num_classes
    return artifacts


def precision_list(plan: dict[str, tuple[str, ...]]) -> str:
    """The planned precisions, each once, in plan order: "fp32,fp16"."""
    return ",".join(dict.fromkeys(p for ps in plan.values() for p in ps))


def count_steps(plan: dict[str, tuple[str, ...]]) -> int:
    """Numbered steps that write files: the ONNX graph (which TFLite starts from too) and one per TFLite, Core ML
    or ExecuTorch precision (the caller adds the parity check when it runs)."""
    onnx = 1 if {"onnx", "tflite"} & set(plan) else 0
    return onnx + sum(len(plan.get(f, ())) for f in ("tflite", "coreml", "executorch"))
