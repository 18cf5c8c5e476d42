"""Top-1/top-5 of an export's .tflite files on aarch64 LiteRT kernels (``litert-arm64``), per emulated CPU model.

Each (file, CPU model) evaluates every image in ONE emulated process; the same file on the host's (x86) LiteRT
runs on the same inputs, so each arm64 row comes with its x86 twin and their agreement (bit-identical share of
the raw outputs). A file that crashes or hangs on one CPU model is reported in one line and the others go on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.accuracy.evaluate import (
    AccuracyResult,
    _result,
    export_labels,
    format_table,
    load_labelled,
    top_classes,
)
from shufflenet.export.manifest import is_cpu_tflite, read_manifest, verify_artifact
from shufflenet.export.runtimes.base import dequantize
from shufflenet.export.runtimes.litert import TfliteFileError
from shufflenet.export.runtimes.litert_arm64 import (
    DEFAULT_CPUS,
    Arm64Env,
    Arm64RunError,
    Arm64Unavailable,
    X86Agreement,
    compare_x86,
    parse_cpus,
)
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.files import write_json_atomic
from shufflenet.model.preprocessing import Preprocessing
from shufflenet.model.source import logits, model_from_source


@dataclass
class Arm64Accuracy:
    results: list[AccuracyResult]  # PyTorch, then per file: x86 LiteRT and each CPU model
    agreement: dict[tuple[str, str], X86Agreement]  # (path, cpu) -> arm64 vs x86
    errors: list[str]

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for r in self.results:
            d = r.to_dict()
            for (path, cpu), a in self.agreement.items():
                if r.path == path and r.evaluated_by == f"litert-arm64 ({cpu})":
                    d["x86_agreement"] = a.to_dict()
            out.append(d)
        return out + [{"error": e, "evaluated_by": "litert-arm64"} for e in self.errors]


def evaluate_artifacts_arm64(
    artifacts: Path,
    data_dir: Path,
    cpus: tuple[str, ...] = DEFAULT_CPUS,
    precisions: tuple[str, ...] = (),
    limit: int = 0,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Arm64Accuracy:
    """Each .tflite file (of ``precisions``, default all) on each CPU model, with its x86 LiteRT twin; raises
    ``Arm64Unavailable`` before reading any image when the set-up script has not run."""
    say = progress or (lambda m: None)
    Arm64Env.find()  # a missing set-up fails in one line before the images are read
    manifest = read_manifest(artifacts)
    prep = Preprocessing.from_dict(manifest["preprocessing"])
    labels = export_labels(artifacts, manifest)
    entries = [e for e in manifest["artifacts"] if is_cpu_tflite(e) and
               (not precisions or e["precision"] in precisions)]  # fmt: skip
    if not entries:
        raise ValueError(f"the manifest in {artifacts} lists no .tflite file of precision {', '.join(precisions)}")
    for e in entries:
        verify_artifact(artifacts, e)
    r = model_from_source(manifest["source"], manifest["arch"])
    model, variant = r.model, r.variant
    data = load_labelled(data_dir, prep, labels, limit)
    say(f"{len(data.labels)} images from {data_dir}")
    ref = top_classes(logits(model, data.images, prep))
    src = manifest["source"].get("path") or manifest["source"]["kind"]
    out = Arm64Accuracy([_result("pytorch", "fp32", src, ref, ref, data.labels, "pytorch", variant.name)], {}, [])
    for e in entries:
        full = {**e, "preprocessing": manifest["preprocessing"]}
        x86_raw = None
        for cpu in cpus:
            say(f"{e['path']} on -cpu {cpu} (one emulated process, {len(data.labels)} images)")
            try:
                runner = load_runner(artifacts, full, runtime="litert-arm64", cpu=cpu, timeout_s=timeout_s)
            except TfliteFileError as err:  # the file itself, on every CPU model: one line, the other files go on
                out.errors.append(f"FAIL {e['path']} on every CPU model: {err}")
                say(out.errors[-1])
                break
            try:
                if x86_raw is None:
                    x86_raw = runner.predict_x86_raw(data.images)
                    x86 = dequantize(x86_raw, runner.output.get("quantization"))
                    out.results.append(_result(e["format"], e["precision"], e["path"], top_classes(x86), ref,
                                               data.labels, runner.host_evaluated_by, variant.name))  # fmt: skip
                raw = runner.predict_raw(data.images)
            except Arm64RunError as err:
                out.errors.append(f"FAIL {e['path']} on {cpu}: {err}")
                say(out.errors[-1])
                continue
            out_logits = dequantize(raw, runner.output.get("quantization"))
            out.results.append(_result(e["format"], e["precision"], e["path"], top_classes(out_logits), ref,
                                       data.labels, runner.evaluated_by, variant.name))  # fmt: skip
            out.agreement[(e["path"], cpu)] = compare_x86(raw, x86_raw)
            if runner.last:
                info = runner.last.info
                say(f"  {info['invoke_s'] / max(1, info['images']) * 1e3:.1f} ms an image emulated (not latency)")
    return out


def main_eval(args: argparse.Namespace) -> int:
    """``shufflenet-eval --artifacts DIR --runtime litert-arm64``: exit 1 when a file fails on a CPU model."""
    cpus = parse_cpus(args.cpu)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        res = evaluate_artifacts_arm64(args.artifacts, args.data, cpus, tuple(args.precisions or ()), args.limit,
                                       args.timeout, say)  # fmt: skip
    except Arm64Unavailable as e:  # a set-up to run first: the error line names it; 2, as for bad input
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(res.results))
    for (path, cpu), a in res.agreement.items():
        print(f"{Path(path).name} on {cpu}: {a.describe()}")
    for line in res.errors:
        print(line)
    if args.json:
        write_json_atomic(args.json, res.to_json())
    return 1 if res.errors else 0
