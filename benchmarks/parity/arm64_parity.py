"""Parity of an export's .tflite files on aarch64 LiteRT kernels (``litert-arm64``), per emulated CPU model.

Each (file, CPU model) runs in one emulated process on the same images as ``shufflenet-parity``: its outputs
are judged against PyTorch float32 with the same metrics and thresholds (``parity.judge``), and compared with
x86 LiteRT's raw outputs on the same inputs: the share of bit-identical values, and for integer outputs the
largest gap in quantized steps. Float files must stay within ``max_rel`` of the largest output of x86's, int8
files within ``max_steps``. A file that crashes or hangs on one CPU model fails with one line; the others go on.

A file that allows float16 arithmetic (``reduced_precision_support`` = ``fp16accfp16``) is also run once under
qemu's instruction log (``export.runtimes.arm64_kernels``), which says which arithmetic XNNPACK really used on that
CPU model: float16 on cores with FP16 arithmetic (Cortex-A76, ``max``), float32 elsewhere (Cortex-A53). The
file fails when the two disagree with the CPU's hwcaps; a CPU model that computes it in float16 is compared
with x86 (float32) within ``fp16_max_rel`` instead of ``max_rel``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.parity.parity_report import (
    DEFAULT_IMAGE_LIMIT,
    FileResult,
    Thresholds,
    _fmt_db,
    _prep_notes,
    judge,
    markdown_table,
    parity_images,
)
from shufflenet.export.manifest import is_cpu_tflite, read_manifest, verify_artifact
from shufflenet.export.metrics import compare, output_step, softmax
from shufflenet.export.parity import ArtifactParity, ParityError, Progress, check_signature, rebuild_reference
from shufflenet.export.runtimes.arm64_kernels import describe, float_arithmetic, invoke_classes
from shufflenet.export.runtimes.base import dequantize
from shufflenet.export.runtimes.litert import TfliteFileError, cpu_has_fp16_arithmetic
from shufflenet.export.runtimes.litert_arm64 import (
    DEFAULT_CPUS,
    Arm64Env,
    Arm64RunError,
    Arm64Unavailable,
    X86Agreement,
    compare_x86,
    cpu_features,
    parse_cpus,
)
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.cli_common import text_table
from shufflenet.model.files import write_json_atomic, write_text_atomic
from shufflenet.model.source import logits

log = logging.getLogger(__name__)


@dataclass
class X86Bars:
    """How far arm64 outputs may be from x86 LiteRT's: int8 files in quantized steps; float files relative to
    the largest output, since XNNPACK's float kernels for some CPUs sum in another order (seen: cortex-a53 and
    cortex-a76 differ from x86 by ~5e-7 of the largest logit, ``max`` is bit-identical)."""

    max_rel: float = 1e-5
    max_steps: int = 0
    # A CPU model that computes a float16-arithmetic file in float16, against x86's float32: float16 rounding at
    # every layer (the same bar as a float NPU file against its CPU file).
    fp16_max_rel: float = 0.02

    def check(self, a: X86Agreement, fp16: bool = False) -> str | None:
        if a.quantized and a.max_abs > self.max_steps:
            return f"differs from x86 by {a.max_steps} quantized step(s) > {self.max_steps} allowed ({a.describe()})"
        limit = self.fp16_max_rel if fp16 else self.max_rel
        if not a.quantized and not a.max_rel <= limit:
            what = "float16 arithmetic; " if fp16 else ""
            return f"differs from x86 by {a.max_rel:.2g} of the largest output > {limit:g} ({what}{a.describe()})"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"float_max_rel": self.max_rel, "int8_max_quantized_steps": self.max_steps,
                "fp16_arithmetic_max_rel": self.fp16_max_rel}  # fmt: skip


@dataclass
class ArithmeticUsed:
    """Which arithmetic XNNPACK used for one file on one CPU model, and how that is known."""

    arithmetic: str  # fp32, fp16 or int8
    how: str  # "kernels" (counted in the translated instructions) or "file" (the file allows nothing else)
    counts: dict[str, int] = field(default_factory=dict)
    failure: str | None = None  # the file allows float16 and the CPU has FP16, yet float32 kernels ran (or back)

    def cell(self) -> str:
        if self.how != "kernels":
            return self.arithmetic
        half = self.counts.get("fp16_arith", 0) + self.counts.get("fp16_widening", 0)
        return f"{self.arithmetic} ({half} fp16 instr.)"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"arithmetic": self.arithmetic, "how": self.how}
        if self.how == "kernels":
            d.update(kernel_instructions=dict(self.counts), kernel_summary=describe(self.counts))
        return d


@dataclass
class Arm64FileResult:
    """One file on one emulated CPU model: judged against PyTorch and compared with x86."""

    result: FileResult
    cpu: str
    x86: X86Agreement
    x86_failure: str | None
    info: dict[str, Any]
    arithmetic: ArithmeticUsed | None = None

    @property
    def passed(self) -> bool:
        return self.result.passed and self.x86_failure is None and not self._arithmetic_failure

    @property
    def _arithmetic_failure(self) -> str | None:
        return self.arithmetic.failure if self.arithmetic else None

    def fail_lines(self) -> list[str]:
        p = self.result.parity
        lines = [f"FAIL {p.path} on {self.cpu}: {f.describe()}" for f in self.result.failures]
        extra = [m for m in (self.x86_failure, self._arithmetic_failure) if m]
        return lines + [f"FAIL {p.path} on {self.cpu}: {m}" for m in extra]

    def to_dict(self) -> dict[str, Any]:
        d = self.result.to_dict()
        d.update(cpu=self.cpu, passed=self.passed, x86_agreement=self.x86.to_dict(),
                 cpu_features=self.info.get("cpu", {}).get("hwcap_flags"),
                 emulated_seconds_per_image=self.info["invoke_s"] / max(1, self.info["images"]))  # fmt: skip
        if self.arithmetic is not None:
            d["arithmetic_used"] = self.arithmetic.to_dict()
        if self.x86_failure:
            d["failures"].append({"metric": "x86_agreement", "message": self.x86_failure})
        if self._arithmetic_failure:
            d["failures"].append({"metric": "arithmetic", "message": self._arithmetic_failure})
        return d


@dataclass
class Arm64Failure:
    """A (file, CPU model) that could not run: crash, hang, unreadable file."""

    path: str
    cpu: str
    message: str

    def line(self) -> str:
        return f"FAIL {self.path} on {self.cpu}: {self.message}"


@dataclass
class Arm64ParityReport:
    artifacts_dir: Path
    header: str
    cpus: tuple[str, ...]
    thresholds: Thresholds
    bars: X86Bars
    files: list[Arm64FileResult]
    errors: list[Arm64Failure] = field(default_factory=list)
    features: dict[str, list[str]] = field(default_factory=dict)
    parts: dict[str, str] = field(default_factory=dict)  # /proc/cpuinfo "CPU part" (MIDR) per model
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(f.passed for f in self.files)

    def failures(self) -> list[str]:
        return [ln for f in self.files for ln in f.fail_lines()] + [e.line() for e in self.errors]

    def to_json(self) -> list[dict[str, Any]]:
        out = [f.to_dict() for f in self.files]
        for e in self.errors:
            out.append({"path": e.path, "cpu": e.cpu, "evaluated_by": f"litert-arm64 ({e.cpu})", "passed": False,
                        "error": e.message})  # fmt: skip
        return out

    def _rows(self) -> list[list[str]]:
        rows = [["file", "precision", "evaluated by", "arithmetic", "PSNR dB", "cosine", "top-1", "top-5",
                 "x86 bit-identical", "x86 max diff", "result"]]  # fmt: skip
        for f in self.files:
            p, m, a = f.result.parity, f.result.parity.metrics, f.x86
            diff = f"{a.max_steps} steps" if a.quantized else f"{a.max_rel:.2g} rel"
            rows.append([p.path, p.precision, p.evaluated_by, f.arithmetic.cell() if f.arithmetic else "",
                         _fmt_db(m.psnr_db), f"{m.cosine:.6f}", f"{m.top1_agreement * 100:.1f} %",
                         f"{m.top5_agreement * 100:.1f} %", f"{a.exact_share * 100:.2f} %", diff,
                         "pass" if f.passed else "FAIL"])  # fmt: skip
        for e in self.errors:
            rows.append([e.path, "", f"litert-arm64 ({e.cpu})", "", "", "", "", "", "", "", "FAIL (did not run)"])
        return rows

    def _feature_lines(self) -> list[str]:
        part = {c: f" (CPU part {p})" if p else "" for c, p in self.parts.items()}
        return [f"-cpu {c}{part.get(c, '')}: {' '.join(fl) or '(none)'}" for c, fl in self.features.items()]

    def to_text(self) -> str:
        out = [self.header, "", *text_table(self._rows())]
        out += ["", "CPU features the emulated process sees (hwcaps, what XNNPACK's detection reads):"]
        out += [f"  {ln}" for ln in self._feature_lines()]
        out += [f"note: {n}" for n in self.notes]
        fails = self.failures()
        out += ["", *fails] if fails else ["", f"all {len(self.files)} file/CPU runs pass"]
        return "\n".join(out)

    def to_markdown(self) -> str:
        rows = self._rows()
        md = [f"# Arm64 parity: {self.artifacts_dir}", "", self.header, ""]
        md += markdown_table(rows)
        md += ["", f"Thresholds against PyTorch: {self.thresholds.describe()}. Against x86 LiteRT: float files within "
               f"{self.bars.max_rel:g} of the largest output ({self.bars.fp16_max_rel:g} where a CPU model computes "
               f"in float16), int8 files within {self.bars.max_steps} quantized step(s).", "",
               "CPU features (hwcaps) per emulated model:", ""]  # fmt: skip
        md += [f"- `{ln}`" for ln in self._feature_lines()]
        md += [""] + [f"Note: {n}" for n in self.notes]
        fails = self.failures()
        md += [f"    {line}" for line in fails] if fails else [f"All {len(self.files)} file/CPU runs pass."]
        return "\n".join(md) + "\n"


def run_arm64_parity(
    artifacts_dir: Path,
    images_dir: Path | None = None,
    thresholds: Thresholds | None = None,
    weights: Path | None = None,
    limit: int = DEFAULT_IMAGE_LIMIT,
    cpus: tuple[str, ...] = DEFAULT_CPUS,
    bars: X86Bars | None = None,
    timeout_s: float | None = None,
    say: Progress | None = None,
) -> Arm64ParityReport:
    """Every .tflite file of an export on every CPU model in ``cpus``. Raises ``Arm64Unavailable`` when the
    set-up script has not run, ``ManifestError``/``ParityError`` (one line) for an unusable folder, before
    anything runs; a file that crashes or hangs on one CPU model becomes an ``Arm64Failure`` in the report."""
    say = say or (lambda msg: log.info("%s", msg))
    thresholds, bars = thresholds or Thresholds(), bars or X86Bars()
    env = Arm64Env.find()
    d = Path(artifacts_dir)
    manifest = read_manifest(d)
    entries = [e for e in manifest["artifacts"] if is_cpu_tflite(e)]
    if not entries:
        raise ParityError(f"the manifest in {d} lists no .tflite file; litert-arm64 runs .tflite files only")
    for e in entries:
        verify_artifact(d, e)  # a file altered after export stops here, before any emulation
        if e.get("precision") not in thresholds.min_psnr_db:
            raise ParityError(f"{e.get('path')} has unknown precision {e.get('precision')!r} in the manifest")
    ref = rebuild_reference(manifest, d, weights)
    images = parity_images(ref.prep, images_dir, limit, int(ref.source.get("seed") or 0) + 1)
    say(f"arm64 parity on {len(images.images)} images ({images.source}), CPU models {', '.join(cpus)}")
    ref_logits = logits(ref.model, images.images, ref.prep)
    report = Arm64ParityReport(d, "", cpus, thresholds, bars, [], notes=_prep_notes(manifest, ref.prep))
    size = "x".join(map(str, manifest["input_size"]))
    report.header = (f"{manifest['arch']} at {size}, {len(images.images)} images from {images.source}; reference: "
                     "PyTorch float32; second reference: x86 LiteRT on the same inputs")  # fmt: skip
    for cpu in cpus:
        try:
            feats = cpu_features(cpu, env)
            report.features[cpu], report.parts[cpu] = feats["hwcap_flags"], feats.get("cpu_part", "")
        except Arm64RunError as err:
            report.features[cpu] = [f"(unknown: {err})"]
    for e in entries:
        full = {**e, "preprocessing": e.get("preprocessing") or manifest["preprocessing"]}
        target = softmax(ref_logits) if e.get("output_kind") == "probabilities" else ref_logits
        x86_raw = None
        for cpu in cpus:
            say(f"{e['path']} on -cpu {cpu} (one emulated process, {len(images.images)} images)")
            try:
                runner = load_runner(d, full, runtime="litert-arm64", cpu=cpu, timeout_s=timeout_s)
            except TfliteFileError as err:  # the file itself, on every CPU model: one line, the other files go on
                report.errors.append(Arm64Failure(e["path"], "every CPU model", str(err)))
                say(report.errors[-1].line())
                break
            try:
                check_signature(runner)
                if x86_raw is None:
                    x86_raw = runner.predict_x86_raw(images.images)
                raw = runner.predict_raw(images.images)
            except Arm64RunError as err:
                report.errors.append(Arm64Failure(e["path"], cpu, str(err)))
                say(report.errors[-1].line())
                continue
            out = dequantize(raw, runner.output.get("quantization"))
            parity = ArtifactParity(e["format"], e["precision"], e.get("variant", ""), e["path"],
                                    e.get("output_kind", "logits"), runner.evaluated_by,
                                    compare(target, out, output_step(runner.output.get("quantization"))))  # fmt: skip
            agreement = compare_x86(raw, x86_raw)
            info = runner.last.info if runner.last else {}
            try:
                used = arithmetic_used(runner, images.images, cpu, env, report.features.get(cpu), say)
            except (Arm64RunError, OSError, subprocess.SubprocessError) as err:
                report.errors.append(Arm64Failure(e["path"], cpu, f"the instruction log could not be taken: {err}"))
                say(report.errors[-1].line())
                continue
            x86_failure = bars.check(agreement, fp16=used.arithmetic == "fp16")
            report.files.append(Arm64FileResult(judge(parity, thresholds), cpu, agreement, x86_failure, info, used))
            log.debug("arm64 %s %s: %s; %s", e["path"], cpu, parity.metrics, agreement.describe())
    return report


def arithmetic_used(runner: Any, images: Any, cpu: str, env: Arm64Env, features: list[str] | None,
                    say: Progress) -> ArithmeticUsed:  # fmt: skip
    """Which arithmetic XNNPACK used for ``runner``'s file on ``cpu``. A file that allows only one (float32, int8)
    is that; one that allows float16 arithmetic is run once more on one image under qemu's instruction log, and
    the kernels' own instructions say it (``arm64_kernels``). The answer must match the CPU's hwcaps: float16 on
    a core with FP16 arithmetic (fphp, asimdhp), float32 on one without."""
    quantized = bool(runner.output.get("quantization"))
    if not runner.fp16_allowed:
        return ArithmeticUsed("int8" if quantized else "fp32", "file")
    say(f"{runner.path.name} on -cpu {cpu}: which arithmetic ran (one image under qemu's instruction log)")
    counts = invoke_classes(env, runner.path, runner.prepare(images[:1]), cpu)
    used = float_arithmetic(counts)
    used = "fp32" if used == "none" else used
    has_fp16 = cpu_has_fp16_arithmetic(" ".join(features or []))
    failure = None
    if has_fp16 and used != "fp16":
        failure = (f"the file allows float16 arithmetic and -cpu {cpu} has it (fphp, asimdhp), but XNNPACK ran "
                   f"{used} kernels ({describe(counts)})")  # fmt: skip
    elif not has_fp16 and used == "fp16":
        failure = f"-cpu {cpu} has no FP16 arithmetic, yet half-precision instructions ran ({describe(counts)})"
    return ArithmeticUsed(used, "kernels", counts, failure)


def main_parity(args: argparse.Namespace, thresholds: Thresholds, say: Progress) -> int:
    """``shufflenet-parity --runtime litert-arm64``: exit 0 when every file passes on every CPU model, 1 when
    one fails, crashes, hangs or cannot be loaded, 2 when the emulator is not installed (a set-up to run first,
    named in the one error line) or the request is bad."""
    cpus = parse_cpus(args.cpu)
    if args.per_layer:
        raise ValueError("--per-layer compares x86 LiteRT's intermediate tensors; run it without --runtime")
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError("--timeout must be positive (seconds)")
    bars = X86Bars(max_rel=args.x86_max_rel, max_steps=args.x86_max_steps, fp16_max_rel=args.x86_max_rel_fp16)
    try:
        report = run_arm64_parity(args.artifacts, args.images, thresholds, args.weights, args.limit, cpus, bars,
                                  args.timeout, say)  # fmt: skip
    except Arm64Unavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        write_json_atomic(args.json, report.to_json())
    if args.markdown:
        write_text_atomic(args.markdown, report.to_markdown())
    print(report.to_text())
    return 0 if report.passed else 1
