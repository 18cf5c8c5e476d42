"""The ShuffleNet paper's Table 8 (measured inference time, single thread, g = 3), reproduced.

ShuffleNet 0.5x, 1x and 2x (g = 3) and MobileNet v1 1.0 at 224x224, 480x640 and 720x1280, batch 1, one thread.
On the host every model runs in PyTorch eager; the same network is also exported (ONNX, then TFLite float32
through the export library's own converter) and timed in ONNX Runtime and the LiteRT interpreter through
``shufflenet.export.runtimes.loader.load_runner``. On a device the TFLite files go through ``benchmark_model``.
Weights are random: latency does not depend on their values (float kernels do the same work for any value).

The report prints the paper's layout with the paper's Snapdragon 820 figures beside the measured ones, the
multiply-adds counted from the modules, and the paper's "theoretical vs actual speed-up" comparison.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shufflenet.benchmarks.host_latency.host import time_file, time_torch
from shufflenet.benchmarks.host_latency.machine import finish_environment, host_environment
from shufflenet.benchmarks.host_latency.mobilenet_v1 import mobilenet_v1
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, failed_result, fmt_ms
from shufflenet.model.cli_common import error_line, parse_size
from shufflenet.model.complexity import count_complexity
from shufflenet.model.files import write_json_atomic
from shufflenet.model.registry import get_variant

log = logging.getLogger(__name__)

Size = tuple[int, int]
SIZES: tuple[Size, ...] = ((224, 224), (480, 640), (720, 1280))
TABLE8_RUNTIMES = ("pytorch", "onnxruntime", "litert")


@dataclass(frozen=True)
class PaperRow:
    label: str
    error: float
    mflops: int
    ms: dict[Size, float]
    arch: str | None = None  # None: not reproduced here (AlexNet)


# Table 8 of Zhang et al. (CVPR 2018): Qualcomm Snapdragon 820, single thread.
PAPER_TABLE8 = (
    PaperRow(
        "ShuffleNet 0.5x", 43.2, 38, {(224, 224): 15.2, (480, 640): 87.4, (720, 1280): 260.1}, "shufflenet_v1_g3_0.5x"
    ),
    PaperRow(
        "ShuffleNet 1x", 32.6, 140, {(224, 224): 37.8, (480, 640): 222.2, (720, 1280): 684.5}, "shufflenet_v1_g3_1.0x"
    ),
    PaperRow(
        "ShuffleNet 2x", 26.3, 524, {(224, 224): 108.8, (480, 640): 617.0, (720, 1280): 1857.6}, "shufflenet_v1_g3_2.0x"
    ),
    PaperRow("AlexNet", 42.8, 720, {(224, 224): 184.0, (480, 640): 1156.7, (720, 1280): 3633.9}, None),
    PaperRow(
        "MobileNet 1.0", 29.4, 569, {(224, 224): 110.0, (480, 640): 612.0, (720, 1280): 1879.2}, "mobilenet_v1_1.0"
    ),
)
PAPER_BY_LABEL = {r.label: r for r in PAPER_TABLE8}
MODEL_LABELS = tuple(r.label for r in PAPER_TABLE8 if r.arch)
# (slower, faster): the paper's "each 4x cut in FLOPs gave about 2.6x real speed-up", and MobileNet vs 2x.
SPEEDUP_PAIRS = (
    ("ShuffleNet 2x", "ShuffleNet 1x"),
    ("ShuffleNet 1x", "ShuffleNet 0.5x"),
    ("ShuffleNet 2x", "ShuffleNet 0.5x"),
    ("MobileNet 1.0", "ShuffleNet 2x"),
)


def build(label: str) -> torch.nn.Module:
    """The network behind a Table 8 row, in eval mode, with random weights and fixed BN statistics."""
    row = PAPER_BY_LABEL.get(label)
    if row is None or row.arch is None:
        raise ValueError(f"no model for {label!r}; choose from {', '.join(MODEL_LABELS)}")
    torch.manual_seed(0)
    model = mobilenet_v1(1.0) if row.arch.startswith("mobilenet") else get_variant(row.arch).build()
    return model.eval()


def size_tag(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def table8_size(text: str) -> Size:
    """A Table 8 input size (``parse_size``'s rule) that every network of the table can take."""
    h, w = parse_size(text)
    if h < 32 or w < 32:
        raise ValueError(f"input size {text} is below 32x32 (the networks' total stride)")
    return h, w


@dataclass
class Table8Config:
    runtimes: list[str] = field(default_factory=lambda: list(TABLE8_RUNTIMES))
    models: list[str] = field(default_factory=lambda: list(MODEL_LABELS))
    sizes: list[Size] = field(default_factory=lambda: list(SIZES))
    warmup: int = 2
    runs: int = 20
    repeats: int = 3
    max_seconds: float | None = 20.0  # per (model, size, runtime): fewer runs for slow configurations
    clock: str = "wall"  # "cpu": the timed thread's CPU time, for a machine shared with other work
    cache: Path = Path("runs/bench/table8_models")
    seed: int = 0

    def validate(self) -> None:
        bad = [r for r in self.runtimes if r not in TABLE8_RUNTIMES]
        if bad:
            raise ValueError(f"unknown runtime(s) {bad}: choose from {', '.join(TABLE8_RUNTIMES)}")
        bad = [m for m in self.models if m not in MODEL_LABELS]
        if bad:
            raise ValueError(f"unknown model(s) {bad}: choose from {', '.join(MODEL_LABELS)}")
        if self.runs < 1 or self.repeats < 1 or self.warmup < 0:
            raise ValueError("--runs and --repeats must be >= 1, --warmup >= 0")
        if self.clock not in ("wall", "cpu"):
            raise ValueError("--clock must be wall or cpu")


# --- exported files (ONNX, TFLite) through the export library -----------------------------------------------
def _prep_dict(size: Size) -> dict[str, Any]:
    """Preprocessing recorded in synthetic manifest entries (only ``predict`` uses it; timing does not)."""
    from shufflenet.model.registry import IMAGENET_OFFICIAL

    return IMAGENET_OFFICIAL.with_input_size(*size).to_dict()


def model_dir(cache: Path, label: str, size: Size) -> Path:
    arch = PAPER_BY_LABEL[label].arch
    return Path(cache) / f"{arch}_{size_tag(size)}"


def export_files(model: torch.nn.Module, label: str, size: Size, cache: Path, want: tuple[str, ...]) -> dict[str, dict]:
    """Export (or reuse) the ONNX and/or TFLite float32 file of one model at one size; manifest-style entries.

    Files are cached in ``cache/<arch>_<H>x<W>/`` with an ``entries.json``; a conversion error is raised as
    ``ValueError`` with one line.
    """
    try:
        from shufflenet.export.formats.onnx_export import export_onnx, fixed_shape_onnx
    except ImportError as e:
        raise ValueError(f"the export library is not available ({e}); install shufflenet-mobile[export]") from None
    folder = model_dir(cache, label, size)
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "entries.json"
    entries: dict[str, dict] = json.loads(index.read_text()) if index.is_file() else {}
    entries = {k: v for k, v in entries.items() if (folder / v["path"]).is_file()}
    arch = PAPER_BY_LABEL[label].arch
    n_classes = 1000
    raw, sim = folder / f"{arch}_fp32.onnx", folder / f"{arch}_fp32.sim.onnx"
    if ("onnx" in want or "tflite" in want) and not sim.is_file():
        log.info("export %s %s to ONNX", label, size_tag(size))
        export_onnx(model, size, raw, sim)
    if "onnx" in want and "onnx" not in entries:
        entries["onnx"] = {
            "format": "onnx",
            "precision": "fp32",
            "variant": "simplified",
            "path": sim.name,
            "runtime": "onnxruntime",
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 3, *size],
                    "dtype": "float32",
                    "layout": "NCHW",
                    "kind": "tensor",
                    "quantization": None,
                }
            ],
            "outputs": [
                {"name": "logits", "shape": [1, n_classes], "dtype": "float32", "layout": "NC", "quantization": None}
            ],
        }
    if "tflite" in want and "tflite" not in entries:
        from shufflenet.export.formats.tflite_export import convert_tflite, inspect_tflite, tflite_filename

        log.info("convert %s %s to TFLite float32", label, size_tag(size))
        path = convert_tflite(fixed_shape_onnx(sim, size), "fp32", folder / tflite_filename(arch, "fp32"))
        info = inspect_tflite(path)
        entries["tflite"] = {
            "format": "tflite",
            "precision": "fp32",
            "variant": "float32",
            "path": path.name,
            "runtime": "litert",
            "inputs": info.inputs,
            "outputs": info.outputs,
            "op_histogram": info.op_histogram,
        }
    for e in entries.values():
        e["preprocessing"] = _prep_dict(size)
    write_json_atomic(index, entries, indent=1)
    return entries


# --- host ---------------------------------------------------------------------------------------------------
_FORMAT_OF = {"onnxruntime": "onnx", "litert": "tflite"}
_DELEGATE_OF = {"pytorch": "cpu", "onnxruntime": "cpu", "litert": "xnnpack"}


def run_table8_host(cfg: Table8Config, save: Callable[[BenchReport], None] | None = None) -> BenchReport:
    """Time every (model, size, runtime) on this machine, one thread.

    PyTorch runs with one intra-op thread throughout (model building, MAC counting and export too): besides
    matching the measurement, several OpenMP threads spin-waiting on a machine busy with other work can be
    tens of times slower than one.
    """
    cfg.validate()
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_table8_host(cfg, save)
    finally:
        torch.set_num_threads(prev)


def _run_table8_host(cfg: Table8Config, save: Callable[[BenchReport], None] | None) -> BenchReport:
    report = BenchReport(kind="table8-host", environment=host_environment(), config=_config_dict(cfg))
    want = tuple(_FORMAT_OF[r] for r in cfg.runtimes if r in _FORMAT_OF)
    for label in cfg.models:
        model = build(label)
        arch = PAPER_BY_LABEL[label].arch
        for size in cfg.sizes:
            macs = count_complexity(model, size).macs
            ident = dict(target="host", threads=1, arch=arch, label=label, input_size=list(size), macs=macs)
            entries: dict[str, dict] = {}
            export_error = None
            if want:
                try:
                    entries = export_files(model, label, size, cfg.cache, want)
                except (ValueError, RuntimeError, OSError) as e:
                    export_error = error_line(e)
                    log.error("%s %s: export failed: %s", label, size_tag(size), export_error)
            for runtime in cfg.runtimes:
                what = f"{label} {size_tag(size)} {runtime}"
                log.info("time %s", what)
                common = dict(runtime=runtime, delegate=_DELEGATE_OF[runtime], **ident)
                timing = dict(warmup=cfg.warmup, runs=cfg.runs, repeats=cfg.repeats, seed=cfg.seed,
                              max_seconds=cfg.max_seconds, clock=cfg.clock)  # fmt: skip
                try:
                    if runtime == "pytorch":
                        result = time_torch(model, size, 1, **timing, **common, format="pytorch", precision="fp32",
                                            path=f"pytorch:{arch}", variant="eager")  # fmt: skip
                    else:
                        fmt = _FORMAT_OF[runtime]
                        if fmt not in entries:
                            raise ValueError(f"no {fmt} file: {export_error or 'export skipped'}")
                        entry = entries[fmt]
                        folder = model_dir(cfg.cache, label, size)
                        result = time_file(folder, entry, 1, **timing, **common, format=entry["format"],
                                           precision=entry["precision"], path=str(folder / entry["path"]),
                                           variant=entry.get("variant"))  # fmt: skip
                except (ValueError, RuntimeError, OSError, ImportError) as e:
                    msg = error_line(e)
                    fmt = _FORMAT_OF.get(runtime, "pytorch")
                    result = failed_result(msg, format=fmt, precision="fp32", path="", warmup=cfg.warmup, **common)
                    report.errors.append(f"{what}: {msg}")
                    log.error("%s: %s", what, msg)
                report.results.append(result)
                if save:
                    save(report)
    finish_environment(report.environment)
    if save:
        save(report)
    return report


def _config_dict(cfg: Table8Config) -> dict[str, Any]:
    d = asdict(cfg)
    d["cache"] = str(cfg.cache)
    d["sizes"] = [list(s) for s in cfg.sizes]
    return d


# --- device -------------------------------------------------------------------------------------------------
def prepare_tflite_folder(cfg: Table8Config) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Every model x size as TFLite float32 in one folder (copies); per file its identity."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _prepare_tflite_folder(cfg)
    finally:
        torch.set_num_threads(prev)


def _prepare_tflite_folder(cfg: Table8Config) -> tuple[Path, dict[str, dict[str, Any]]]:
    import shutil

    flat = Path(cfg.cache) / "tflite"
    flat.mkdir(parents=True, exist_ok=True)
    ident: dict[str, dict[str, Any]] = {}
    for label in cfg.models:
        model = build(label)
        for size in cfg.sizes:
            entry = export_files(model, label, size, cfg.cache, ("tflite",))["tflite"]
            src = model_dir(cfg.cache, label, size) / entry["path"]
            name = f"{PAPER_BY_LABEL[label].arch}_{size_tag(size)}_float32.tflite"
            if not (flat / name).is_file():
                shutil.copyfile(src, flat / name)
            ident[name] = {
                "label": label,
                "arch": PAPER_BY_LABEL[label].arch,
                "input_size": list(size),
                "macs": count_complexity(model, size).macs,
            }
    return flat, ident


def run_table8_android(
    cfg: Table8Config, android_cfg: Any, save: Callable[[BenchReport], None] | None = None, **kw: Any
) -> BenchReport:
    """Push the TFLite files of every model x size and time them with ``benchmark_model``, one thread, on the phones
    ``android_cfg`` chooses (one, a list, or all of them)."""
    from shufflenet.benchmarks.phone_latency.android import run_android

    cfg.validate()
    folder, ident = prepare_tflite_folder(cfg)
    android_cfg.artifacts = folder
    android_cfg.files = list(ident)
    android_cfg.threads = [1]

    def annotate(report: BenchReport) -> None:
        report.kind = "table8-android"
        report.config["table8"] = _config_dict(cfg)
        for r in report.results:
            for k, v in ident.get(r.file_name, {}).items():
                setattr(r, k, v)
        if save:
            save(report)

    return run_android(android_cfg, save=annotate, **kw)


# --- the table ----------------------------------------------------------------------------------------------
def _pick(results: list[BenchResult], label: str, size: Size, runtime: str) -> BenchResult | None:
    for r in results:
        if r.label == label and r.input_size and tuple(r.input_size) == tuple(size) and r.runtime == runtime:
            return r
    return None


def _measured(r: BenchResult | None) -> str:
    if r is None:
        return "not run"
    if r.status != "ok" or r.latency_ms is None:
        return "failed"
    return fmt_ms(r.latency_ms) + ("*" if r.noisy else "")


def table8_markdown(report: BenchReport) -> str:
    """The paper's Table 8 layout with the measured figures beside the paper's, and the speed-up table; one of
    each per phone when several phones were timed."""
    targets = list(dict.fromkeys(r.target for r in report.results))
    if report.kind == "table8-android" and len(targets) > 1:
        devices = report.environment.get("devices") or {}
        parts = []
        for t in targets:
            machine = f"{t}: {(devices.get(t) or {}).get('description', t)}"
            parts.append(_table8_markdown(report, [r for r in report.results if r.target == t], machine))
        return "\n".join(parts)
    return _table8_markdown(report, report.results, report.environment.get("machine", "unknown machine"))


def _table8_markdown(report: BenchReport, results: list[BenchResult], machine: str) -> str:
    runtimes = list(dict.fromkeys(r.runtime for r in results))
    sizes: list[Size] = []
    for r in results:
        if r.input_size and tuple(r.input_size) not in sizes:
            sizes.append(tuple(r.input_size))  # type: ignore[arg-type]
    sizes.sort(key=lambda s: s[0] * s[1])
    macs: dict[tuple[str, Size], int] = {}
    for r in results:
        if r.macs and r.label and r.input_size:
            macs[(r.label, tuple(r.input_size))] = r.macs  # type: ignore[index]
    env = report.environment
    clocks = {r.clock for r in results if r.status == "ok"}
    if report.kind != "table8-host":
        stat = "mean (benchmark_model's avg) unless a median was printed"
    elif clocks == {"cpu"}:
        shares = [r.details.get("cpu_share") for r in results if r.details.get("cpu_share")]
        share = f"; the timed thread was on a CPU a median {np.median(shares):.0%} of the wall time" if shares else ""
        stat = (
            "median CPU time of the timed thread (`--clock cpu`: the machine was shared, so the time spent "
            f"waiting for a CPU is left out{share}; wall-clock medians are in the JSON)"
        )
    else:
        stat = "median wall-clock time"
    lines = [
        f"### Table 8 reproduced on {machine}",
        "",
        "Single thread, batch 1, g = 3, random weights. Paper: Qualcomm Snapdragon 820, single thread (ms). "
        f"Measured: {stat} per inference in ms; `*` marks a measurement flagged noisy (runs scatter or repeats "
        "disagree). MMACs are counted from the modules at 224x224 (conv + FC multiply-adds, the paper's 'FLOPs').",
        "",
    ]
    if env.get("load_average_start"):
        la = env["load_average_start"]
        lines[-2] += f" Load average when the run started: {la[0]:.2f} (this machine may be shared)."
    for runtime in runtimes:
        lines.append(f"**{runtime}**")
        lines.append("")
        head = "| Model | Cls err. (%, paper) | MFLOPs (paper) | MMACs (counted) |"
        sep = "| --- | --- | --- | --- |"
        for s in sizes:
            head += f" {size_tag(s)} paper | {size_tag(s)} measured |"
            sep += " --- | --- |"
        lines += [head, sep]
        for row in PAPER_TABLE8:
            m224 = macs.get((row.label, (224, 224)))
            cells = [row.label, f"{row.error:.1f}", str(row.mflops), f"{m224 / 1e6:.1f}" if m224 else "–"]
            for s in sizes:
                paper = row.ms.get(s)
                cells.append(f"{paper:.1f}" if paper is not None else "–")
                cells.append("not reproduced" if row.arch is None else _measured(_pick(results, row.label, s, runtime)))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "**Theoretical vs actual speed-up** (theoretical = ratio of counted multiply-adds at that size; actual = "
        "ratio of times). The paper found about 2.6x real speed-up for each 4x cut in FLOPs.",
        "",
    ]
    head = "| From → to | Input | Theoretical | Paper actual |" + "".join(f" {rt} actual |" for rt in runtimes)
    lines += [head, "|" + " --- |" * (4 + len(runtimes))]
    for slow, fast in SPEEDUP_PAIRS:
        for s in sizes:
            ms, mf = macs.get((slow, s)), macs.get((fast, s))
            if not ms or not mf:
                continue
            ps, pf = PAPER_BY_LABEL[slow].ms.get(s), PAPER_BY_LABEL[fast].ms.get(s)
            cells = [f"{slow} → {fast}", size_tag(s), f"{ms / mf:.2f}x", f"{ps / pf:.2f}x" if ps and pf else "–"]
            for rt in runtimes:
                a, b = _pick(results, slow, s, rt), _pick(results, fast, s, rt)
                if a and b and a.status == b.status == "ok" and a.latency_ms and b.latency_ms:
                    cells.append(f"{a.latency_ms / b.latency_ms:.2f}x")
                else:
                    cells.append("–")
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    summary = _efficiency_summary(results, runtimes, sizes, macs)
    if summary:
        lines += [summary, ""]
    return "\n".join(lines)


def _efficiency_summary(
    results: list[BenchResult], runtimes: list[str], sizes: list[Size], macs: dict[tuple[str, Size], int]
) -> str:
    """Per runtime, the actual speed-up of one ShuffleNet width step (2x→1x, 1x→0.5x), as measured and
    normalised to an exact 4x cut in MACs (geometric means over the steps and sizes)."""

    def summary(times: Callable[[str, Size], float | None]) -> tuple[float, float] | None:
        ratios, exps = [], []
        for slow, fast in SPEEDUP_PAIRS[:2]:
            for s in sizes:
                ts, tf = times(slow, s), times(fast, s)
                ms, mf = macs.get((slow, s)), macs.get((fast, s))
                if ts and tf and ms and mf:
                    ratios.append(math.log(ts / tf))
                    exps.append(math.log(ts / tf) / math.log(ms / mf))
        if not ratios:
            return None
        return math.exp(float(np.mean(ratios))), 4 ** float(np.mean(exps))

    def measured(rt: str) -> Callable[[str, Size], float | None]:
        def get(label: str, s: Size) -> float | None:
            r = _pick(results, label, s, rt)
            return r.latency_ms if r is not None and r.status == "ok" else None

        return get

    rows = [("paper", summary(lambda label, s: PAPER_BY_LABEL[label].ms.get(s)))]
    rows += [(rt, summary(measured(rt))) for rt in runtimes]
    rows = [(name, v) for name, v in rows if v is not None]
    if len(rows) < 2:
        return ""
    step = ", ".join(f"{name} {v[0]:.2f}x" for name, v in rows)
    per4 = ", ".join(f"{name} {v[1]:.2f}x" for name, v in rows)
    return (
        "Actual speed-up of one ShuffleNet width step (2x→1x or 1x→0.5x, each 3.7-3.8x fewer MACs), geometric mean "
        f"over both steps and all sizes: {step}. Normalised to an exact 4x cut in MACs: {per4}."
    )
