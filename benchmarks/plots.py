"""PNG plots of latency results (matplotlib, Agg backend, no display needed).

- ``plot_latency``: one horizontal bar per file/precision/runtime, grouped by thread count (and delegate);
  the bar is the median (the mean where the measurement states no median), the whisker runs from the fastest
  run to the 90th percentile (to the slowest run where no p90 exists).
- ``plot_latency_vs_macs``: latency against multiply-adds, one line per runtime/precision/threads/input size,
  on log-log axes, with a dotted "latency proportional to MACs" guide from each line's cheapest point.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .results import BenchResult

_COLOURS = plt.get_cmap("tab10").colors


def _save(fig: plt.Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def _row_label(r: BenchResult) -> str:
    name = r.file_name if r.format != "pytorch" else f"PyTorch {r.arch or ''}".strip()
    if r.label:
        size = "x".join(str(i) for i in r.input_size) if r.input_size else ""
        name = f"{r.label} {size}".strip()
    where = "" if r.target == "host" else f"{r.target} · "
    return f"{where}{r.runtime} ({r.delegate}) · {r.precision} · {name}"


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _top(r: BenchResult) -> float:
    for v in (r.p90_ms, r.max_ms, r.latency_ms):
        if _finite(v):
            return float(v)  # type: ignore[arg-type]
    return 0.0


def plot_latency(results: list[BenchResult], path: Path, title: str = "Latency") -> None:
    """Bars per file/precision/runtime, one colour per thread count; log axis when the range is wide."""
    ok = [r for r in results if r.status == "ok" and _finite(r.latency_ms)]
    if not ok:
        _empty(path, title, "no successful measurement to plot")
        return
    rows: list[str] = []
    for r in ok:
        lbl = _row_label(r)
        if lbl not in rows:
            rows.append(lbl)
    groups = sorted({r.threads for r in ok})
    n = len(groups)
    height = 0.8 / n
    fig_h = max(2.5, 0.3 * len(rows) * max(1.0, n * 0.7) + 1.5)
    fig, ax = plt.subplots(figsize=(11, fig_h))
    lows = [r.min_ms if _finite(r.min_ms) else r.latency_ms for r in ok]
    highs = [_top(r) for r in ok]
    log_scale = max(highs) / max(min(lows), 1e-9) > 30  # type: ignore[type-var]
    for gi, threads in enumerate(groups):
        ys, xs, lo, hi = [], [], [], []
        for r in ok:
            if r.threads != threads:
                continue
            v = float(r.latency_ms)  # type: ignore[arg-type]
            bottom = r.min_ms if _finite(r.min_ms) else v
            ys.append(rows.index(_row_label(r)) + (gi - (n - 1) / 2) * height)
            xs.append(v)
            lo.append(max(v - float(bottom), 0.0))  # type: ignore[arg-type]
            hi.append(max(_top(r) - v, 0.0))
        ax.barh(
            ys,
            xs,
            height=height * 0.9,
            color=_COLOURS[gi % len(_COLOURS)],
            label=f"{threads} thread{'s' if threads > 1 else ''}",
            xerr=[lo, hi],
            error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "0.3"},
        )
        for y, v, h in zip(ys, xs, hi, strict=True):
            ax.text(v + h, y, f" {v:.3g}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.invert_yaxis()
    scale = " (log scale)" if log_scale else ""
    ax.set_xlabel(f"latency per inference, ms{scale}: bar = median (mean if no median), whisker = min to p90 (or max)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    if log_scale:
        ax.set_xscale("log")
        ax.set_xlim(min(lows) * 0.7, max(highs) * 2.5)  # type: ignore[type-var, operator]
    else:
        ax.set_xlim(0, max(highs) * 1.15)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def _family(r: BenchResult) -> str:
    """Models of one family (ShuffleNet widths) join up in one line; other families stand apart."""
    name = r.label or r.arch or r.file_name
    return re.sub(r"[_ ]?\d+(\.\d+)?x", "", name)


def plot_latency_vs_macs(results: list[BenchResult], path: Path, title: str = "Latency against multiply-adds") -> None:
    ok = [r for r in results if r.status == "ok" and _finite(r.latency_ms) and r.macs]
    if not ok:
        _empty(path, title, "no measurement with a MAC count to plot")
        return
    series: dict[tuple, list[BenchResult]] = defaultdict(list)
    for r in ok:
        size = "x".join(str(i) for i in r.input_size) if r.input_size else ""
        where = "" if r.target == "host" else f"{r.target} "
        runtime = f"{where}{r.runtime}" + (f" ({r.variant})" if r.format == "onnx" and r.variant else "")
        series[(runtime, r.precision, r.threads, r.delegate, size, _family(r))].append(r)
    styles = {}
    for key in sorted(series):
        styles.setdefault(key[:5], len(styles))
    families = sorted({k[5] for k in series})
    markers = "os^Dv<>"
    fig, ax = plt.subplots(figsize=(10, 6.5))
    annotated: set[tuple[str, float]] = set()
    for key, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r.macs)
        colour = _COLOURS[styles[key[:5]] % len(_COLOURS)]
        marker = markers[families.index(key[5]) % len(markers)]
        xs = [r.macs / 1e6 for r in rs]
        ys = [float(r.latency_ms) for r in rs]  # type: ignore[arg-type]
        where, precision, threads, delegate, size, family = key
        lbl = f"{where} {precision}, {threads}T {delegate}" + (f", {size}" if size else "")
        if len(families) > 1:
            lbl += f" · {family}"
        ax.plot(xs, ys, marker + "-", color=colour, label=lbl, markersize=6, linewidth=1.2)
        if len(xs) > 1:
            ax.plot([xs[0], xs[-1]], [ys[0], ys[0] * xs[-1] / xs[0]], ":", color=colour, linewidth=1, alpha=0.7)
        for r, x, y in zip(rs, xs, ys, strict=True):
            name = r.label or r.arch or r.file_name
            if (name, x) in annotated:
                continue
            annotated.add((name, x))
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, -11), fontsize=7, color="0.2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-adds (millions, at the measured input size)")
    ax.set_ylabel("latency per inference, ms (median, or mean)")
    ax.set_title(title + "\n(dotted: latency proportional to MACs from each line's cheapest model)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def _empty(path: Path, title: str, message: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, message, ha="center", va="center")
    _save(fig, path)
