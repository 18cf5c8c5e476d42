"""Numeric figures the tests hold against a bar, recorded so that `make test` can check each bar's margin.

``figure(name, value, op, bar)`` is what an ``assert`` calls instead of comparing directly: it returns whether
``value op bar`` holds and, when ``SHUFFLENET_FIGURES`` names a file, appends one JSON line with the figure, its bar
and the numeric configuration it was measured under (``SHUFFLENET_NUMERICS``: the name `make test` gives each pass:
default kernels, PyTorch's non-SIMD kernels on one thread, TensorFlow without oneDNN, ...). ``scripts/figure_spread.py``
then gathers every pass's lines: how far each figure moved between configurations, how far it is from its bar, and
whether that margin is several times the movement. Names must be the same in every pass (no temporary paths).
"""

from __future__ import annotations

import json
import math
import operator
import os

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _record(line: dict) -> None:
    path = os.environ.get("SHUFFLENET_FIGURES")
    if path:
        line["config"] = os.environ.get("SHUFFLENET_NUMERICS", "default")
        # One short line per write in append mode: lines from several pytest-xdist workers do not interleave.
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def figure(name: str, value: float, op: str, bar: float) -> bool:
    """``value op bar``, recorded under ``name`` when figures are being collected."""
    _record({"name": name, "value": value if math.isfinite(value) else None, "op": op, "bar": bar})
    return bool(OPS[op](value, bar))


def same_bytes(name: str, sha256: str) -> None:
    """Record a file's sha256 under ``name``: ``scripts/figure_spread.py`` fails when two passes (two numeric
    configurations) wrote different bytes for it."""
    _record({"name": name, "sha256": sha256})


def verdict_figure(name: str, row: dict) -> bool:
    """The figure a parity row (``shufflenet-parity --json`` or a manifest's ``parity`` with its entry's
    ``path``/``precision``) is judged on by default, against its default bar for that many images, recorded as
    ``figure`` does: the RMS difference in quantized steps of an int8 file, else the PSNR."""
    from shufflenet.benchmarks.parity import parity_defaults as d

    if row.get("rms_steps") is not None:
        bar = d.int8_rms_bar(d.DEFAULT_INT8_MAX_RMS_STEPS, row["images"])
        return figure(f"{name}: {row['path']} rms_steps", row["rms_steps"], "<=", bar)
    min_psnr = d.DEFAULT_MIN_PSNR[row["precision"]]
    if min_psnr is None:  # int8 inside, float outputs (an int8 .pte): no output steps to count in
        min_psnr = d.INT8_FLOAT_OUTPUT_MIN_PSNR
    bar = d.psnr_bar(min_psnr, row["images"])
    return figure(f"{name}: {row['path']} psnr_db", row["psnr_db"], ">=", bar)


def top1_lead(logits: object) -> float:
    """The smallest lead of an image's top logit over its second, over the largest |logit|: how far float rounding
    would have to move the logits to change a top-1 answer."""
    import numpy as np

    x = np.sort(np.asarray(logits, np.float64), axis=1)
    return float((x[:, -1] - x[:, -2]).min() / np.abs(x).max())
