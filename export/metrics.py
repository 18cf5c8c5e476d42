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

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def psnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """20 log10(max|ref| / RMSE); infinite when identical."""
    ref = np.asarray(ref, np.float64)
    rmse = math.sqrt(float(np.mean((ref - np.asarray(test, np.float64)) ** 2)))
    peak = float(np.max(np.abs(ref)))
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


def compare(ref: np.ndarray, test: np.ndarray) -> ParityMetrics:
    if ref.shape != test.shape:
        raise ValueError(f"output shapes differ: reference {ref.shape}, file {test.shape}")
    diff = np.abs(np.asarray(ref, np.float64) - np.asarray(test, np.float64))
    return ParityMetrics(
        max_abs=float(diff.max()),
        mean_abs=float(diff.mean()),
        cosine=cosine(ref, test),
        psnr_db=psnr_db(ref, test),
        top1_agreement=topk_agreement(ref, test, 1),
        top5_agreement=topk_agreement(ref, test, 5),
        images=len(ref),
    )
