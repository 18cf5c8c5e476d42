"""Accuracy of a checkpoint, or of every file of an export folder, on a labelled image folder.

Each exported file gets the images through its own declared preprocessing, layout, dtype and quantisation
(``shufflenet.export.runtimes``); agreement is measured against PyTorch float32 on the same images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.manifest import read_manifest, verify_artifact, verify_file
from shufflenet.export.metrics import topk_agreement
from shufflenet.export.runtimes.base import Runner
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.checkpoint import load_model
from shufflenet.model.cli_common import text_table
from shufflenet.model.datasets import DatasetError, class_name, scan_image_folder
from shufflenet.model.preprocessing import Preprocessing, decode_files
from shufflenet.model.source import logits, model_from_source

log = logging.getLogger(__name__)


@dataclass
class AccuracyResult:
    format: str
    precision: str
    path: str
    images: int
    top1: float
    top5: float
    top1_agreement: float
    evaluated_by: str
    variant: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LabelledImages:
    images: np.ndarray  # N x H x W x 3 uint8, resized and centre-cropped
    labels: np.ndarray  # indices into the model's label list
    root: Path
    skipped: str = ""  # one line naming the unreadable files that were skipped ("" when none)


def load_labelled(root: str | Path, prep: Preprocessing, labels: list[str], limit: int = 0) -> LabelledImages:
    """Images of ``root/<class>/*``; class folder names must be model labels (their index is the answer; both
    compared in Unicode NFC). Unreadable images are skipped and named in ``skipped`` (``decode_files``)."""
    files, idx, classes = scan_image_folder(root, min_classes=1)
    index = {class_name(name): i for i, name in enumerate(labels)}
    unknown = sorted(set(classes[i] for i in idx) - set(index))
    if unknown:
        raise DatasetError(
            f"class folder(s) {', '.join(unknown[:3])} of {root} are not among the model's labels "
            f"({', '.join(labels[:3])}, ...); name the folders after the labels"
        )
    if limit and len(files) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(files), limit, replace=False))
        files, idx = [files[k] for k in keep], [idx[k] for k in keep]
    try:
        decoded = decode_files(files, prep)
    except ValueError as e:
        raise DatasetError(f"{e}; remove or replace the file(s)") from None
    answers = np.asarray([index[classes[idx[k]]] for k in decoded.kept], np.int64)
    skipped = decoded.skipped_line(f"images of {root}", Path(root)) if decoded.unreadable else ""
    return LabelledImages(decoded.images, answers, Path(root), skipped)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def _result(fmt: str, precision: str, path: str, out: np.ndarray, ref: np.ndarray, data: LabelledImages,
            by: str, variant: str) -> AccuracyResult:  # fmt: skip
    return AccuracyResult(
        format=fmt,
        precision=precision,
        path=path,
        images=len(data.labels),
        top1=topk_accuracy(out, data.labels, 1),
        top5=topk_accuracy(out, data.labels, 5),
        top1_agreement=topk_agreement(ref, out, 1),
        evaluated_by=by,
        variant=variant,
    )


def export_labels(artifacts: Path, manifest: dict[str, Any]) -> list[str]:
    """The class names of an export's outputs: the manifest's ``classes``, else its labels file (sha256 checked)."""
    classes = manifest.get("classes")
    if isinstance(classes, list) and classes:
        return [str(c) for c in classes]
    return verify_file(artifacts, manifest, manifest.get("labels_file", "labels.txt")).read_text().splitlines()


def evaluate_checkpoint(path: Path, data_dir: Path, arch: str | None = None, limit: int = 0) -> AccuracyResult:
    """Accuracy of a checkpoint; its class names (a ``shufflenet-train`` file records its folder's) name the
    answers that ``data_dir``'s class folders must match."""
    model, variant, _ = load_model(path, arch)
    data = load_labelled(data_dir, variant.preprocessing, variant.class_names(), limit)
    if data.skipped:
        log.warning("warning: %s", data.skipped)
    out = logits(model, data.images, variant.preprocessing)
    return _result("pytorch", "fp32", str(path), out, out, data, "pytorch", variant.name)


def evaluate_artifacts(
    artifacts: Path,
    data_dir: Path,
    formats: tuple[str, ...] | None = None,
    limit: int = 0,
    progress: Callable[[str], None] | None = None,
    chunk: int = 1000,
    weights: Path | None = None,
) -> list[AccuracyResult]:
    """Accuracy of the PyTorch source and of every file of an export (``formats``: only these); a file is run
    ``chunk`` images at a time, each chunk told to ``progress`` (the Core ML evaluator takes minutes a file).
    Every file's sha256 is checked before the first is evaluated; ``weights`` replaces a checkpoint whose recorded
    path is gone (the same file)."""
    say = progress or (lambda m: log.info("%s", m))
    manifest = read_manifest(artifacts)
    entries = [e for e in manifest["artifacts"] if not formats or e["format"] in formats]
    for e in entries:  # a tampered last file is found now, not after the others were evaluated
        verify_artifact(artifacts, e)
    prep = Preprocessing.from_dict(manifest["preprocessing"])
    labels = export_labels(artifacts, manifest)
    r = model_from_source(manifest["source"], manifest["arch"], weights)
    model, variant = r.model, r.variant
    data = load_labelled(data_dir, prep, labels, limit)
    if data.skipped:
        say(f"warning: {data.skipped}")
    say(f"{len(data.labels)} images from {data_dir}")
    ref = logits(model, data.images, prep)
    results = [_result("pytorch", "fp32", manifest["source"].get("path") or manifest["source"]["kind"], ref, ref,
                       data, "pytorch", variant.name)]  # fmt: skip
    for e in entries:
        say(f"evaluating {e['path']}")
        runner = load_runner(artifacts, {**e, "preprocessing": manifest["preprocessing"]})
        out = _predict_in_chunks(runner, data.images, chunk, e["path"], say)
        results.append(_result(e["format"], e["precision"], e["path"], out, ref, data, runner.evaluated_by,
                               variant.name))  # fmt: skip
    return results


def _predict_in_chunks(runner: Runner, images: np.ndarray, chunk: int, name: str, say: Callable[[str], None]
                       ) -> np.ndarray:  # fmt: skip
    """``runner.predict`` over ``images``, ``chunk`` at a time (runners take one image a call, so the outputs
    are those of one call), the count told after each chunk when there is more than one."""
    if len(images) <= chunk:
        return runner.predict(images)
    parts = []
    for start in range(0, len(images), chunk):
        parts.append(runner.predict(images[start : start + chunk]))
        say(f"  {name}: {min(start + chunk, len(images))}/{len(images)} images")
    return np.concatenate(parts)


def format_table(results: list[AccuracyResult]) -> str:
    head = ("file", "format", "precision", "images", "top-1", "top-5", "top-1 agreement", "evaluated by")
    rows = [(Path(r.path).name, r.format, r.precision, str(r.images), f"{r.top1 * 100:.2f} %",
             f"{r.top5 * 100:.2f} %", f"{r.top1_agreement * 100:.2f} %", r.evaluated_by) for r in results]  # fmt: skip
    lines = text_table([head, *rows])
    return "\n".join(lines)
