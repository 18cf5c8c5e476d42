"""Agreement of an exported file's outputs with PyTorch's: the figures the manifest and parity reports hold."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ParityMetrics:
    max_abs: float
    mean_abs: float
    cosine: float
    psnr_db: float
    top1_agreement: float
    top5_agreement: float
    images: int
    # Outputs of the file that are inf or NaN (e.g. float16 overflow): the file fails whatever the other figures.
    nonfinite: int = 0
    # A file with quantized (int8) outputs: the RMS difference in its own output quantization steps, the figure its
    # verdict is judged on (it does not depend on how large the logits of the images happen to be, as PSNR does).
    rms_steps: float | None = None

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def psnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """20 log10(max|ref| / RMSE); infinite when identical, minus infinity when the difference is not finite
    (an output that overflowed) or the reference is all zeros."""
    ref = np.asarray(ref, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rmse = math.sqrt(float(np.mean((ref - np.asarray(test, np.float64)) ** 2)))
    peak = float(np.max(np.abs(ref)))
    if not math.isfinite(rmse) or not math.isfinite(peak):
        return -math.inf
    if rmse == 0.0:
        return math.inf
    if peak == 0.0:
        return -math.inf
    return 20.0 * math.log10(peak / rmse)


def cosine(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean over rows of the cosine similarity between reference and test vectors."""
    a = np.asarray(ref, np.float64).reshape(len(ref), -1)
    b = np.asarray(test, np.float64).reshape(len(test), -1)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num == 0, 1.0, 0.0))
    return float(cos.mean())


def topk_agreement(ref: np.ndarray, test: np.ndarray, k: int) -> float:
    """Fraction of rows whose top-k class set is the same (k=1: same argmax)."""
    k = min(k, ref.shape[1])
    if k == 1:
        return float((ref.argmax(1) == test.argmax(1)).mean())
    r = np.sort(np.argsort(-ref, axis=1, kind="stable")[:, :k], axis=1)
    t = np.sort(np.argsort(-test, axis=1, kind="stable")[:, :k], axis=1)
    return float((r == t).all(1).mean())


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def output_step(quantization: dict[str, float] | None) -> float | None:
    """The quantization step (scale) of a file's quantized output, from its manifest/LiteRT ``quantization``."""
    if not quantization or not quantization.get("scale"):
        return None
    return float(np.ravel(quantization["scale"])[0])


def compare(ref: np.ndarray, test: np.ndarray, step: float | None = None) -> ParityMetrics:
    """The figures of ``test`` against ``ref``; ``step``: the output quantization step of a quantized file."""
    if ref.shape != test.shape:
        raise ValueError(f"output shapes differ: reference {ref.shape}, file {test.shape}")
    finite = np.isfinite(np.asarray(test, np.float64))
    if not finite.all():
        # No figure of agreement means anything here; the file fails on the count (see parity_report.judge).
        bad_rows = ~finite.reshape(len(test), -1).all(1)
        same = ref.argmax(1) == np.where(finite, test, -np.inf).argmax(1)
        return ParityMetrics(max_abs=math.inf, mean_abs=math.inf, cosine=0.0, psnr_db=-math.inf,
                             top1_agreement=float((same & ~bad_rows).mean()), top5_agreement=0.0,
                             images=len(ref), nonfinite=int((~finite).sum()))  # fmt: skip
    diff = np.abs(np.asarray(ref, np.float64) - np.asarray(test, np.float64))
    rms = math.sqrt(float(np.mean(diff**2)))
    return ParityMetrics(
        max_abs=float(diff.max()),
        mean_abs=float(diff.mean()),
        cosine=cosine(ref, test),
        psnr_db=psnr_db(ref, test),
        top1_agreement=topk_agreement(ref, test, 1),
        top5_agreement=topk_agreement(ref, test, 5),
        images=len(ref),
        nonfinite=0,
        rms_steps=rms / step if step else None,
    )
