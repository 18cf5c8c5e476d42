"""Parity of an export folder against PyTorch, judged: thresholds per precision and the JSON / Markdown /
text reports of ``shufflenet-parity``.

The figures themselves come from ``shufflenet.export.parity`` (the code ``shufflenet-export`` runs after
exporting); this module adds what an existing folder needs: checking every file against the manifest
(sha256), rebuilding the reference model from the manifest's ``source``, choosing the images, and pass/fail.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.parity.parity_defaults import (
    DEFAULT_IMAGE_LIMIT,
    DEFAULT_MIN_PSNR,
    DEFAULT_MIN_TOP1,
    DEFAULT_NPU_MAX_REL,
    DEFAULT_NPU_MAX_STEPS,
    PRECISIONS,
)
from shufflenet.benchmarks.parity.per_layer import PerLayerReport
from shufflenet.export.calibration import CalibrationError, ImageSet, folder_images, install_photos
from shufflenet.export.manifest import is_cpu_tflite, read_manifest, verify_artifact
from shufflenet.export.metrics import ParityMetrics
from shufflenet.export.parity import ArtifactParity, ParityError, Progress, measure_parity, rebuild_reference
from shufflenet.model.cli_common import plural, text_table
from shufflenet.model.files import json_safe
from shufflenet.model.preprocessing import Preprocessing, list_images

log = logging.getLogger(__name__)


@dataclass
class Thresholds:
    """Pass/fail bars per precision: PSNR of the outputs (dB) and top-1 agreement with PyTorch (fraction)."""

    min_psnr_db: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_PSNR))
    min_top1: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_TOP1))
    # NPU file vs its CPU file, int8 outputs; None: the CPU file's own largest gap to PyTorch in quantized steps
    npu_max_steps: int | None = DEFAULT_NPU_MAX_STEPS
    npu_max_rel: float = DEFAULT_NPU_MAX_REL  # NPU file vs its CPU file, float outputs

    def describe(self) -> str:
        steps = (
            "twice as many quantized steps as the CPU file is from PyTorch"
            if self.npu_max_steps is None
            else f"{self.npu_max_steps} quantized steps"
        )
        return ", ".join(
            f"{p} PSNR >= {self.min_psnr_db[p]:g} dB"
            + (f" and top-1 >= {self.min_top1[p] * 100:g} %" if self.min_top1[p] else "")
            for p in PRECISIONS
        ) + (f"; NPU files within {steps} (int8) or {self.npu_max_rel:g} of the largest output (float) of their CPU "
             "file; no NaN or infinite output")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"min_psnr_db": dict(self.min_psnr_db), "min_top1_agreement": dict(self.min_top1),
                "npu_max_quantized_steps": self.npu_max_steps, "npu_max_rel": self.npu_max_rel}  # fmt: skip


@dataclass
class Shortfall:
    """One metric of one file below its bar."""

    metric: str  # "psnr_db" or "top1_agreement"
    value: float
    threshold: float
    evaluated_by: str

    @property
    def short_by(self) -> float:
        return self.threshold - self.value

    def describe(self) -> str:
        if self.metric == "nonfinite":
            return (
                f"{self.value:.0f} outputs are inf or NaN: overflow (the logits exceed the range of the file's "
                "numbers, e.g. float16's 65504); the model's outputs are too large: retrain it (it may have diverged)"
            )
        if self.metric.startswith("vs_cpu"):
            unit = "quantized step(s)" if self.metric.endswith("steps") else "of the largest CPU output"
            return f"{self.metric} {self.value:.3g} > {self.threshold:.3g} {unit}"
        if self.metric == "psnr_db":
            short = "inf" if math.isinf(self.short_by) else f"{self.short_by:.1f}"
            return f"psnr_db {_fmt_db(self.value)} < {self.threshold:.1f} (short by {short} dB)"
        return (
            f"{self.metric} {self.value * 100:.1f} % < {self.threshold * 100:.1f} % "
            f"(short by {self.short_by * 100:.1f} points)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": json_safe(self.value), "threshold": self.threshold,
                "short_by": json_safe(self.short_by), "evaluated_by": self.evaluated_by}  # fmt: skip


@dataclass
class FileResult:
    """One file's figures and verdict."""

    parity: ArtifactParity
    failures: list[Shortfall]

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail_lines(self) -> list[str]:
        lines = []
        for f in self.failures:
            via = "" if f.evaluated_by == self.parity.evaluated_by else f" [{f.evaluated_by}]"
            lines.append(f"FAIL {self.parity.path}: {f.describe()}{via}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        p = self.parity
        d: dict[str, Any] = {
            "format": p.format,
            "precision": p.precision,
            "variant": p.variant,
            "path": p.path,
            "output_kind": p.output_kind,
            **json_safe(p.metrics.to_dict()),
            "passed": self.passed,
            "evaluated_by": p.evaluated_by,
            "failures": [f.to_dict() for f in self.failures],
        }
        if p.vs_cpu is not None:
            d["vs_cpu"] = json_safe(p.vs_cpu)
        if p.cross_checks:
            d["cross_checks"] = [
                {
                    "evaluated_by": c.evaluated_by,
                    **json_safe(c.metrics.to_dict()),
                    "vs_primary": json_safe(c.vs_primary.to_dict()),
                }
                for c in p.cross_checks
            ]
        return d


@dataclass
class ParityReport:
    artifacts_dir: Path
    arch: str
    input_size: tuple[int, int]
    source: dict[str, Any]
    images: dict[str, Any]
    thresholds: Thresholds
    files: list[FileResult]
    notes: list[str] = field(default_factory=list)
    per_layer: PerLayerReport | None = None
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)  # .tflite/.pte path -> delegate coverage

    def coverage_lines(self) -> list[str]:
        from shufflenet.export.formats.delegation import coverage_cell

        return [f"XNNPACK coverage of {p}: {coverage_cell(c)}" for p, c in self.coverage.items()] + self.npu_lines()

    def npu_lines(self) -> list[str]:
        """Each NPU file against the CPU file it was compiled from, on the same inputs."""
        lines = []
        for f in self.files:
            v = f.parity.vs_cpu
            if v is None:
                continue
            gap = (f"max {v['max_quantized_steps']} quantized step(s)" if "max_quantized_steps" in v else
                   f"max {v['max_rel']:.2g} of the largest output")  # fmt: skip
            lines.append(
                f"{f.parity.path} ({f.parity.evaluated_by}) vs {v['compared_with']} ({v['evaluated_by']}): "
                f"{gap}, {v['exact_share'] * 100:.1f} % identical, top-1 {v['top1_agreement'] * 100:.1f} %"
            )
        return lines

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.files)

    def failures(self) -> list[str]:
        return [line for f in self.files for line in f.fail_lines()]

    def to_json(self) -> list[dict[str, Any]]:
        """One object per file (stable keys); the int8 TFLite file carries ``per_layer`` when it was asked."""
        out = []
        for f in self.files:
            d = f.to_dict()
            if f.parity.path in self.coverage:
                d["delegate_coverage"] = self.coverage[f.parity.path]
            if self.per_layer is not None and f.parity.path == self.per_layer.int8_path:
                d["per_layer"] = self.per_layer.to_dict()
            out.append(d)
        return out

    def _rows(self) -> list[list[str]]:
        rows = [["file", "format", "precision", "evaluated by", "max abs", "mean abs", "cosine", "PSNR dB",
                 "top-1", "top-5", "result"]]  # fmt: skip
        for f in self.files:
            p = f.parity
            rows.append(_row(p.path, p, p.evaluated_by, p.metrics, "pass" if f.passed else "FAIL"))
            for c in p.cross_checks:
                rows.append(_row(f"  (same file, {c.evaluated_by})", p, c.evaluated_by, c.metrics, ""))
        return rows

    def header(self) -> str:
        size = "x".join(map(str, self.input_size))
        src = self.source.get("kind", "?") + (f" {self.source['path']}" if self.source.get("path") else "")
        src += f" seed {self.source['seed']}" if self.source.get("kind") == "random-init" else ""
        skipped = self.images.get("skipped") or 0
        unread = f" ({skipped} unreadable, skipped)" if skipped else ""
        return (
            f"{self.arch} at {size} ({src}), {plural(self.images.get('images') or 0, 'image')} from "
            f"{self.images.get('source')}{unread}; reference: PyTorch float32"
        )

    def to_text(self) -> str:
        rows = self._rows()
        lines = text_table(rows)
        out = [self.header(), "", *lines]
        out += [f"note: {n}" for n in self.notes]
        out += self.coverage_lines()
        fails = self.failures()
        out += ["", *fails] if fails else ["", f"all {len(self.files)} files pass"]
        if self.per_layer is not None:
            out += ["", self.per_layer.to_text()]
        return "\n".join(out)

    def to_markdown(self) -> str:
        rows = self._rows()
        md = [f"# Parity: {self.artifacts_dir}", "", self.header(), ""]
        md += markdown_table(rows)
        md += ["", f"Thresholds: {self.thresholds.describe()}.", ""]
        md += [f"Note: {n}" for n in self.notes]
        md += [f"{line}.  " for line in self.coverage_lines()]
        fails = self.failures()
        md += [f"    {line}" for line in fails] if fails else [f"All {len(self.files)} files pass."]
        if self.per_layer is not None:
            md += ["", self.per_layer.to_markdown()]
        return "\n".join(md) + "\n"


def _fmt_db(x: float) -> str:
    return "inf" if math.isinf(x) and x > 0 else f"{x:.1f}"


def _row(name: str, p: ArtifactParity, by: str, m: ParityMetrics, verdict: str) -> list[str]:
    top1, top5 = f"{m.top1_agreement * 100:.1f} %", f"{m.top5_agreement * 100:.1f} %"
    if m.nonfinite:
        return [name, p.format, p.precision, by, "overflow", "overflow", "-", "-", "-", "-", verdict]
    return [name, p.format, p.precision, by, f"{m.max_abs:.3g}", f"{m.mean_abs:.3g}", f"{m.cosine:.6f}",
            _fmt_db(m.psnr_db), top1, top5, verdict]  # fmt: skip


def markdown_table(rows: list[list[str]]) -> list[str]:
    """Markdown lines of a table whose first row is the header."""
    md = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    return md + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]


def judge(parity: ArtifactParity, thresholds: Thresholds) -> FileResult:
    """Compare a file's figures (and any cross-check runtime's) with the bars of its precision."""
    if parity.precision not in thresholds.min_psnr_db:
        raise ParityError(f"{parity.path} has precision {parity.precision!r}; expected one of {', '.join(PRECISIONS)}")
    fails = []
    for by, m in [(parity.evaluated_by, parity.metrics)] + [(c.evaluated_by, c.metrics) for c in parity.cross_checks]:
        min_psnr = thresholds.min_psnr_db[parity.precision]
        min_top1 = thresholds.min_top1[parity.precision]
        if m.nonfinite:
            fails.append(Shortfall("nonfinite", m.nonfinite, 0, by))
            continue
        if not m.psnr_db >= min_psnr:
            fails.append(Shortfall("psnr_db", m.psnr_db, min_psnr, by))
        if not m.top1_agreement >= min_top1:
            fails.append(Shortfall("top1_agreement", m.top1_agreement, min_top1, by))
    v = parity.vs_cpu
    limit = thresholds.npu_max_steps
    if limit is None and v is not None and v.get("cpu_max_steps_vs_pytorch") is not None:
        # Two int8 files each as close to PyTorch as the CPU one differ by at most twice its gap (triangle
        # inequality): a larger gap means the NPU file is further from PyTorch than the CPU file is.
        limit = 2 * v["cpu_max_steps_vs_pytorch"]
    if v is not None and "max_quantized_steps" in v and limit is not None and v["max_quantized_steps"] > limit:
        fails.append(Shortfall("vs_cpu_max_quantized_steps", v["max_quantized_steps"], limit, parity.evaluated_by))
    if v is not None and "max_rel" in v and not v["max_rel"] <= thresholds.npu_max_rel:
        fails.append(Shortfall("vs_cpu_max_rel", v["max_rel"], thresholds.npu_max_rel, parity.evaluated_by))
    return FileResult(parity, fails)


def parity_images(prep: Preprocessing, images_dir: Path | None, limit: int, seed: int) -> ImageSet:
    """The install's own photos (several deterministic crops each), or up to ``limit`` images of a folder."""
    if images_dir is None:
        return install_photos(prep, seed=seed).first(limit)  # --limit holds for them too
    d = Path(images_dir)
    if not d.is_dir():
        raise ParityError(f"image folder {d} does not exist or is not a folder; pass --images DIR with images")
    try:
        files = list_images(d)
    except OSError as e:
        raise ParityError(
            f"image folder {d} cannot be read ({e.strerror or e}); pass a readable --images DIR"
        ) from None
    if not files:
        raise ParityError(f"image folder {d} holds no image files (.jpg/.png/...); pass --images DIR with images")
    try:
        return folder_images(d, prep, limit, seed)
    except CalibrationError as e:
        raise ParityError(str(e)) from None


def run_parity(
    artifacts_dir: Path,
    images_dir: Path | None = None,
    thresholds: Thresholds | None = None,
    weights: Path | None = None,
    limit: int = DEFAULT_IMAGE_LIMIT,
    macos: bool | None = None,
    per_layer: bool = False,
    per_layer_images: int = 16,
    max_layer_drop_db: float | None = None,
    say: Progress | None = None,
) -> ParityReport:
    """Check every file of an export folder against the manifest, rebuild the reference model and judge the
    parity of each file. Raises ``ManifestError`` / ``ParityError`` (one line) before running anything when the
    folder, the reference weights or the images are not usable."""
    say = say or (lambda msg: log.info("%s", msg))
    thresholds = thresholds or Thresholds()
    d = Path(artifacts_dir)
    manifest = read_manifest(d)
    if not manifest["artifacts"]:
        raise ParityError(f"the manifest in {d} lists no files; re-run shufflenet-export")
    for e in manifest["artifacts"]:
        verify_artifact(d, e)
        if e.get("precision") not in thresholds.min_psnr_db:
            raise ParityError(f"{e.get('path')} has unknown precision {e.get('precision')!r} in the manifest")
    if per_layer:
        from shufflenet.benchmarks.parity.per_layer import tflite_pair

        tflite_pair(manifest)  # fail before the long run when the export has no int8/float32 TFLite pair
    ref = rebuild_reference(manifest, d, weights)
    seed = int(ref.source.get("seed") or 0) + 1  # the export's own parity images use seed + 1
    images = parity_images(ref.prep, images_dir, limit, seed)
    notes = _prep_notes(manifest, ref.prep)
    results = measure_parity(ref.model, ref.prep, manifest["artifacts"], images, d,
                                 declared_prep=manifest["preprocessing"], macos=macos, say=say)  # fmt: skip
    notes += fp32_arithmetic_notes(results)
    report = ParityReport(
        artifacts_dir=d,
        arch=manifest["arch"],
        input_size=tuple(manifest["input_size"]),
        source=ref.source,
        images=images.describe(),
        thresholds=thresholds,
        files=[judge(r, thresholds) for r in results],
        notes=notes,
    )
    from shufflenet.export.formats.delegation import tflite_coverage

    for e in manifest["artifacts"]:
        if is_cpu_tflite(e):  # from a fresh interpreter after delegation, not the manifest
            report.coverage[e["path"]] = tflite_coverage(d / e["path"]).to_dict()
        elif e["format"] == "executorch" and e.get("delegate_coverage"):  # the export's count, with what the file calls
            from shufflenet.export.runtimes.executorch_pte import pte_delegate_calls

            report.coverage[e["path"]] = {**e["delegate_coverage"], "file": pte_delegate_calls(d / e["path"])}
    if per_layer:
        from shufflenet.benchmarks.parity.per_layer import DEFAULT_MAX_DROP_DB, per_layer_parity

        say(f"per-layer comparison of the int8 TFLite file on {min(per_layer_images, len(images.images))} images")
        drop = DEFAULT_MAX_DROP_DB if max_layer_drop_db is None else max_layer_drop_db
        report.per_layer = per_layer_parity(d, manifest, images.images[:per_layer_images], drop)
    return report


def fp32_arithmetic_notes(results: list[ArtifactParity]) -> list[str]:
    """For each file that allows float16 arithmetic but ran in float32 here (x86): say that its figures are
    float32's, and where its float16 arithmetic is checked."""
    from shufflenet.export.runtimes.litert import host_arithmetic

    notes = []
    for r in results:
        if "fp32 arithmetic on" in r.evaluated_by:
            notes.append(
                f"{r.path} allows float16 arithmetic, but {host_arithmetic().reason}: its figures here are float32's, "
                "float16 was not run; `shufflenet-parity --runtime litert-arm64 --cpu cortex-a76` runs it in float16"
            )
    return notes


def _prep_notes(manifest: dict[str, Any], ref_prep: Preprocessing) -> list[str]:
    """Where the manifest's declared preprocessing differs from what the weights expect (a likely cause)."""
    try:
        declared = Preprocessing.from_dict(manifest["preprocessing"])
    except (KeyError, TypeError, ValueError) as e:
        raise ParityError(f"the manifest's preprocessing is unusable ({e}); re-run shufflenet-export") from None
    diff = [k for k in ("resize", "crop", "colour_order", "scale", "mean", "std") if
            getattr(declared, k) != getattr(ref_prep, k)]  # fmt: skip
    if not diff:
        return []
    parts = ", ".join(f"{k} {getattr(declared, k)} (weights expect {getattr(ref_prep, k)})" for k in diff)
    return [f"the manifest declares preprocessing that differs from {manifest['arch']}'s own: {parts}"]
