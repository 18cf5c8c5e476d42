"""The embedded default's headline figures, gathered from the result files ``scripts/measure_default.sh`` writes.

``python -m shufflenet.benchmarks.reports.default_summary --results docs/results`` reads the accuracy (``eval_*.json``)
and parity (``parity_default*.json``) results, checks that every one of them measured the current default
(its variant name and the PyTorch top-1 of its shipped card), and writes ``default_model.json`` and
``default_model.md``: accuracy of every exported file, the int8 drop and agreement against their targets,
arm64 against x86, and the parity figures. A result file of another model is reported as stale (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.model.cli_common import CliParser, require_path, run_cli
from shufflenet.model.files import write_json_atomic, write_text_atomic
from shufflenet.model.pretrained import SHIPPED_WEIGHTS, default_variant_name

# The accuracy files and what each measured (file name -> row label prefix).
EVAL_FILES = {
    "eval_default_onnx_tflite.json": "the export (x86)",
    "eval_default_executorch.json": "ExecuTorch .pte (x86)",
    "eval_default_coreml.json": "Core ML (NumPy evaluator)",
    "eval_cifarcalib.json": "int8 calibrated on 300 CIFAR-10 training images",
    "eval_default_arm64_int8_cortex-a53.json": "the export on arm64 cortex-a53",
    "eval_default_arm64_int8_cortex-a76.json": "the export on arm64 cortex-a76",
    "eval_default_arm64_fp32_cortex-a53_1000.json": "the export on arm64 cortex-a53, 1,000 images",
    "eval_default_arm64_fp16-arith_cortex-a76_1000.json": "the export on arm64 cortex-a76 (float16), 1,000 images",
}
ACCURACY_KEYS = ("format", "precision", "path", "images", "top1", "top5", "top1_agreement", "evaluated_by")
PARITY_KEYS = ("path", "precision", "evaluated_by", "psnr_db", "cosine", "top1_agreement", "top5_agreement", "passed",
               "x86_agreement")  # fmt: skip
# Measured by the slowest step (half an hour or more of float32 emulation on a shared 2-core machine): reported as
# not measured when absent, not as a failure.
OPTIONAL_FILES = ("eval_default_arm64_fp32_cortex-a53_1000.json", "eval_default_arm64_fp16-arith_cortex-a76_1000.json")
PARITY_FILES = ("parity_default.json", "parity_default_arm64.json")
MEASURED_ON = "measured_on.json"  # written by measure_default.sh: the machine and the export's files
# Targets of the int8 file against PyTorch float32 on the whole test set.
INT8_MAX_DROP_POINTS = 0.3
INT8_MIN_AGREEMENT = 0.98


@dataclass
class Summary:
    arch: str
    card_top1: float
    accuracy: list[dict[str, Any]] = field(default_factory=list)  # one row per (source file, result)
    int8: list[dict[str, Any]] = field(default_factory=list)  # drop and agreement of each int8 row
    arm64: list[dict[str, Any]] = field(default_factory=list)  # arm64 rows: agreement with x86
    parity: list[dict[str, Any]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # files that measured another model
    missing: list[str] = field(default_factory=list)  # result files not there (OPTIONAL_FILES may be)
    measured_on: dict[str, Any] = field(default_factory=dict)  # MEASURED_ON: the machine, the export's sha256s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["targets"] = {"int8_max_drop_points": INT8_MAX_DROP_POINTS, "int8_min_agreement": INT8_MIN_AGREEMENT}
        return d


def _stale(name: str, rows: list[dict[str, Any]], arch: str, card_top1: float) -> str | None:
    """Why an accuracy file does not describe the shipped default (None when it does)."""
    for r in rows:
        if "error" in r:
            return f"{name}: holds an error ({r['error']})"
        if r.get("variant") and r["variant"] != arch:
            return f"{name}: measured {r['variant']}, not the default {arch}"
        if r.get("format") == "pytorch" and r.get("images") == 10000 and abs(r["top1"] - card_top1) > 1e-9:
            return f"{name}: PyTorch top-1 {r['top1']:.4f} differs from the card's {card_top1:.4f} (other weights)"
    return None


def summarize(results: Path) -> Summary:
    arch = default_variant_name()
    card_top1 = float(SHIPPED_WEIGHTS[arch].metrics["top1"])
    s = Summary(arch=arch, card_top1=card_top1)
    for name, label in EVAL_FILES.items():
        path = results / name
        if not path.is_file():
            s.missing.append(name)
            continue
        rows = json.loads(path.read_text())
        if why := _stale(name, rows, arch, card_top1):
            s.stale.append(why)
            continue
        reference = next(r for r in rows if r["format"] == "pytorch")
        for r in rows:
            row = {"source": name, "label": label, **{k: r[k] for k in ACCURACY_KEYS}}
            s.accuracy.append(row)
            if r["precision"] == "int8":
                drop = (reference["top1"] - r["top1"]) * 100
                s.int8.append({**row, "drop_points": round(drop, 4),
                               "drop_ok": drop <= INT8_MAX_DROP_POINTS + 1e-9,
                               "agreement_ok": r["top1_agreement"] >= INT8_MIN_AGREEMENT})  # fmt: skip
            if "x86_agreement" in r:
                s.arm64.append({**row, **r["x86_agreement"]})
    if (results / MEASURED_ON).is_file():
        s.measured_on = json.loads((results / MEASURED_ON).read_text())
    for name in PARITY_FILES:
        path = results / name
        if not path.is_file():
            s.missing.append(name)
            continue
        rows = json.loads(path.read_text())  # here "variant" is the file's kind (float32, full-integer)
        wrong = [r["path"] for r in rows if not Path(r["path"]).name.startswith(arch + "_")]
        if wrong:
            s.stale.append(f"{name}: {wrong[0]} is not a file of {arch}")
            continue
        for r in rows:
            s.parity.append({"source": name, **{k: r.get(k) for k in PARITY_KEYS}})
    return s


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def _measured_on(s: Summary) -> list[str]:
    if not s.measured_on:
        return []
    int8 = next((h for p, h in s.measured_on.get("files", {}).items() if p.endswith("int8_io.tflite")), None)
    of = f" from one export (its int8 .tflite: sha256 `{int8[:16]}...`; every file's in {MEASURED_ON})" if int8 else ""
    return [f"Machine: {s.measured_on.get('machine', '?')}{of}. The model files are the same bytes on any x86-64 host "
            "but the int8 .pte, whose ranges PyTorch's observers measure with the host's float kernels "
            "([export.md](../export.md#reproducible-files)); latencies are this machine's.", ""]  # fmt: skip


def to_markdown(s: Summary) -> str:
    lines = [
        f"# The embedded default: `{s.arch}`",
        "",
        f"Every figure below was measured on the shipped weights (card top-1 {_pct(s.card_top1)}) by "
        "`scripts/measure_default.sh` (`make results`); the files it names hold the raw results.",
        "",
        *_measured_on(s),
        "## Accuracy of every file (CIFAR-10 test images)",
        "",
        "| measured in | file | precision | evaluated by | images | top-1 | top-5 | top-1 agreement with PyTorch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s.accuracy:
        cells = (r["source"], Path(r["path"]).name, r["precision"], r["evaluated_by"], f"{r['images']:,}",
                 _pct(r["top1"]), _pct(r["top5"]), _pct(r["top1_agreement"]))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## int8 against PyTorch float32 (targets: drop <= {INT8_MAX_DROP_POINTS} points, "
        f"agreement >= {INT8_MIN_AGREEMENT * 100:g} %)",
        "",
        "| file | measured in | evaluated by | images | top-1 | drop (points) | agreement | targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s.int8:
        ok = "met" if r["drop_ok"] and r["agreement_ok"] else "**missed**"
        cells = (r["label"], r["source"], r["evaluated_by"], f"{r['images']:,}", _pct(r["top1"]),
                 f"{r['drop_points']:.2f}", _pct(r["top1_agreement"]), ok)  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## arm64 (aarch64 LiteRT under emulation) against x86 LiteRT, same inputs", "",
              "| measured in | file | evaluated by | images | output values | bit-identical | largest gap |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in s.arm64:
        gap = (f"{r['max_quantized_steps']} quantized steps" if "max_quantized_steps" in r
               else f"{r.get('max_rel', 0):.2g} of the largest output")  # fmt: skip
        lines.append(f"| {r['source']} | {Path(r['path']).name} | {r['evaluated_by']} | {r['images']:,} | "
                     f"{r['values']:,} | {_pct(r['exact_share'])} | {gap} |")  # fmt: skip
    lines += ["", "## Parity against PyTorch float32 (ImageNet sample photos)", "",
              "| measured in | file | evaluated by | PSNR dB | cosine | top-1 / top-5 agreement | x86 bit-identical | "
              "result |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in s.parity:
        x86 = r.get("x86_agreement") or {}
        same = _pct(x86["exact_share"]) if "exact_share" in x86 else "-"
        lines.append(f"| {r['source']} | {Path(r['path']).name} | {r['evaluated_by']} | {r['psnr_db']:.1f} | "
                     f"{r['cosine']:.6f} | {_pct(r['top1_agreement'])} / {_pct(r['top5_agreement'])} | {same} | "
                     f"{'pass' if r['passed'] else 'FAIL'} |")  # fmt: skip
    if s.stale or s.missing:
        lines += ["", "## Not measured on this model", ""]
        lines += [f"- stale: {w}" for w in s.stale]
        lines += [f"- not measured yet (`scripts/measure_default.sh` writes it): {m}" for m in s.missing]
    return "\n".join(lines) + "\n"


def write(s: Summary, results: Path) -> None:
    write_json_atomic(results / "default_model.json", s.to_dict())
    write_text_atomic(results / "default_model.md", to_markdown(s))


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.benchmarks.reports.default_summary", description=__doc__,
                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--results", type=Path, default=Path("docs/results"), help="the folder of result files")
    args = p.parse_args(argv)

    def body() -> int:
        require_path("--results", args.results, "folder", "pass the folder scripts/measure_default.sh wrote")
        s = summarize(args.results)
        write(s, args.results)
        print(to_markdown(s))
        for w in s.stale:
            print(f"stale: {w}", file=sys.stderr)
        return 1 if s.stale or set(s.missing) - set(OPTIONAL_FILES) else 0

    return run_cli(body, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
