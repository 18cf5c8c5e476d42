"""Accuracy of a checkpoint, or of every file of an export folder, on a labelled image folder.

Each exported file gets the images through its own declared preprocessing, layout, dtype and quantisation
(``shufflenet.export.runtimes``); agreement is measured against PyTorch float32 on the same images.

The folder is read in chunks (``chunk`` images decoded at a time, by ``decode_files``, the one decoding rule), each
chunk run through the reference and every file before the next is decoded: ImageNet's 50,000 validation images
never sit in memory at once, and only each answer's top five classes are kept (not its logits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.manifest import read_manifest, verify_artifact, verify_file
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.checkpoint import load_model
from shufflenet.model.cli_common import text_table
from shufflenet.model.datasets import DatasetError, class_name, scan_image_folder
from shufflenet.model.preprocessing import DecodedFiles, Preprocessing, decode_files
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


def labelled_files(root: str | Path, labels: list[str], limit: int = 0) -> tuple[list[Path], np.ndarray]:
    """The image files of ``root/<class>/*`` and their answers (indices into ``labels``), nothing decoded; class
    folder names must be model labels (both compared in Unicode NFC). ``limit``: a deterministic random subset."""
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
    return files, np.asarray([index[classes[i]] for i in idx], np.int64)


def load_labelled(root: str | Path, prep: Preprocessing, labels: list[str], limit: int = 0) -> LabelledImages:
    """Every image of ``root/<class>/*`` decoded at once (``labelled_files``; for subsets that a slow runtime
    evaluates whole). Unreadable images are skipped and named in ``skipped`` (``decode_files``)."""
    files, answers = labelled_files(root, labels, limit)
    try:
        decoded = decode_files(files, prep)
    except ValueError as e:
        raise DatasetError(f"{e}; remove or replace the file(s)") from None
    skipped = decoded.skipped_line(f"images of {root}", Path(root)) if decoded.unreadable else ""
    return LabelledImages(decoded.images, answers[decoded.kept], Path(root), skipped)


@dataclass
class StreamedImages:
    """A labelled folder read ``chunk`` images at a time; after the last chunk, ``skipped`` names the unreadable
    files (one line, ``decode_files``'s) and ``labels`` holds the answers of the images read."""

    files: list[Path]
    answers: np.ndarray
    prep: Preprocessing
    root: Path
    chunk: int = 1000
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: str = ""

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(images, answers) of each chunk of readable files, in file order."""
        unreadable: list[tuple[Path, str]] = []
        read: list[np.ndarray] = []
        for start in range(0, len(self.files), self.chunk):
            part = self.files[start : start + self.chunk]
            try:
                decoded = decode_files(part, self.prep)
            except ValueError as e:  # not one file of the chunk readable
                if len(part) == len(self.files):
                    raise DatasetError(f"{e}; remove or replace the file(s)") from None
                unreadable += [(Path(f), "unreadable") for f in part]
                continue
            unreadable += decoded.unreadable
            answers = self.answers[start : start + self.chunk][decoded.kept]
            read.append(answers)
            yield decoded.images, answers
        self.labels = np.concatenate(read) if read else np.zeros(0, np.int64)
        if not len(self.labels):
            raise DatasetError(f"none of the {len(self.files)} images of {self.root} could be read; check the files")
        if unreadable:
            summary = DecodedFiles(np.zeros(0, np.uint8), [], unreadable, len(self.files))
            self.skipped = summary.skipped_line(f"images of {self.root}", self.root)


def stream_labelled(root: str | Path, prep: Preprocessing, labels: list[str], limit: int = 0, chunk: int = 1000
                    ) -> StreamedImages:  # fmt: skip
    """``root``'s labelled images, to be read chunk by chunk (``StreamedImages.chunks``)."""
    files, answers = labelled_files(root, labels, limit)
    return StreamedImages(files, answers, prep, Path(root), chunk)


TOPK = 5  # what an answer keeps: its top five classes (top-1, top-5 and top-1 agreement need no more)


def top_classes(logits: np.ndarray, k: int = TOPK) -> np.ndarray:
    """Each row's ``k`` best classes, best first (ties: the lower index first, as ``argmax``)."""
    return np.argsort(-logits, axis=1, kind="stable")[:, : min(k, logits.shape[1])]


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    return float((top_classes(logits, k) == labels[:, None]).any(1).mean())


def _result(fmt: str, precision: str, path: str, top: np.ndarray, ref: np.ndarray, labels: np.ndarray,
            by: str, variant: str) -> AccuracyResult:  # fmt: skip
    """A file's accuracy from its answers' top classes (``top_classes``) and the reference's."""
    return AccuracyResult(
        format=fmt,
        precision=precision,
        path=path,
        images=len(labels),
        top1=float((top[:, 0] == labels).mean()),
        top5=float((top == labels[:, None]).any(1).mean()),
        top1_agreement=float((top[:, 0] == ref[:, 0]).mean()),
        evaluated_by=by,
        variant=variant,
    )


def export_labels(artifacts: Path, manifest: dict[str, Any]) -> list[str]:
    """The class names of an export's outputs: the manifest's ``classes``, else its labels file (sha256 checked)."""
    classes = manifest.get("classes")
    if isinstance(classes, list) and classes:
        return [str(c) for c in classes]
    return verify_file(artifacts, manifest, manifest.get("labels_file", "labels.txt")).read_text().splitlines()


def evaluate_checkpoint(path: Path, data_dir: Path, arch: str | None = None, limit: int = 0, chunk: int = 1000
                        ) -> AccuracyResult:  # fmt: skip
    """Accuracy of a checkpoint; its class names (a ``shufflenet-train`` file records its folder's) name the
    answers that ``data_dir``'s class folders must match. The folder is read ``chunk`` images at a time."""
    model, variant, _ = load_model(path, arch)
    data = stream_labelled(data_dir, variant.preprocessing, variant.class_names(), limit, chunk)
    top = np.concatenate([top_classes(logits(model, images, variant.preprocessing)) for images, _ in data.chunks()])
    if data.skipped:
        log.warning("warning: %s", data.skipped)
    return _result("pytorch", "fp32", str(path), top, top, data.labels, "pytorch", variant.name)


def evaluate_artifacts(
    artifacts: Path,
    data_dir: Path,
    formats: tuple[str, ...] | None = None,
    limit: int = 0,
    progress: Callable[[str], None] | None = None,
    chunk: int = 1000,
    weights: Path | None = None,
) -> list[AccuracyResult]:
    """Accuracy of the PyTorch source and of every file of an export (``formats``: only these). The images are
    read ``chunk`` at a time and each chunk goes through the reference and every file before the next is read;
    each chunk is told to ``progress`` (the Core ML evaluator takes minutes a file). Every file's sha256 is
    checked before the first is evaluated; ``weights`` replaces a checkpoint whose recorded path is gone (the same
    file)."""
    say = progress or (lambda m: log.info("%s", m))
    manifest = read_manifest(artifacts)
    entries = [e for e in manifest["artifacts"] if not formats or e["format"] in formats]
    for e in entries:  # a tampered last file is found now, not after the others were evaluated
        verify_artifact(artifacts, e)
    prep = Preprocessing.from_dict(manifest["preprocessing"])
    labels = export_labels(artifacts, manifest)
    r = model_from_source(manifest["source"], manifest["arch"], weights)
    model, variant = r.model, r.variant
    data = stream_labelled(data_dir, prep, labels, limit, chunk)
    say(f"{len(data.files)} images from {data_dir}")
    runners = []
    for e in entries:
        say(f"evaluating {e['path']}")
        runners.append(load_runner(artifacts, {**e, "preprocessing": manifest["preprocessing"]}))
    ref_parts: list[np.ndarray] = []
    parts: list[list[np.ndarray]] = [[] for _ in runners]
    done = 0
    for images, _ in data.chunks():
        ref_parts.append(top_classes(logits(model, images, prep)))
        for runner, out in zip(runners, parts, strict=True):
            out.append(top_classes(runner.predict(images)))
        done += len(images)
        if len(data.files) > chunk:
            say(f"  {done}/{len(data.files)} images")
    if data.skipped:
        say(f"warning: {data.skipped}")
    ref = np.concatenate(ref_parts)
    src = manifest["source"].get("path") or manifest["source"]["kind"]
    results = [_result("pytorch", "fp32", src, ref, ref, data.labels, "pytorch", variant.name)]
    for e, runner, out in zip(entries, runners, parts, strict=True):
        results.append(_result(e["format"], e["precision"], e["path"], np.concatenate(out), ref, data.labels,
                               runner.evaluated_by, variant.name))  # fmt: skip
    return results


def format_table(results: list[AccuracyResult]) -> str:
    head = ("file", "format", "precision", "images", "top-1", "top-5", "top-1 agreement", "evaluated by")
    rows = [(Path(r.path).name, r.format, r.precision, str(r.images), f"{r.top1 * 100:.2f} %",
             f"{r.top5 * 100:.2f} %", f"{r.top1_agreement * 100:.2f} %", r.evaluated_by) for r in results]  # fmt: skip
    lines = text_table([head, *rows])
    return "\n".join(lines)
