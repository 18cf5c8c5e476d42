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
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from shufflenet.benchmarks.reports.results import BenchResult
from shufflenet.model.files import write_bytes_atomic

_COLOURS = plt.get_cmap("tab10").colors


def _save(fig: plt.Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


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
    by_threads = len({r.threads for r in ok}) > 1
    groups = sorted({r.threads for r in ok}) if by_threads else sorted({r.runtime for r in ok})
    n = len(groups) if by_threads else 1
    height = 0.8 / n
    fig_h = max(2.5, 0.3 * len(rows) * max(1.0, n * 0.7) + 1.5)
    fig, ax = plt.subplots(figsize=(11, fig_h))
    lows = [r.min_ms if _finite(r.min_ms) else r.latency_ms for r in ok]
    highs = [_top(r) for r in ok]
    log_scale = max(highs) / max(min(lows), 1e-9) > 30  # type: ignore[type-var]
    for gi, group in enumerate(groups):
        ys, xs, lo, hi = [], [], [], []
        for r in ok:
            if (r.threads if by_threads else r.runtime) != group:
                continue
            v = float(r.latency_ms)  # type: ignore[arg-type]
            bottom = r.min_ms if _finite(r.min_ms) else v
            offset = (gi - (n - 1) / 2) * height if by_threads else 0.0
            ys.append(rows.index(_row_label(r)) + offset)
            xs.append(v)
            lo.append(max(v - float(bottom), 0.0))  # type: ignore[arg-type]
            hi.append(max(_top(r) - v, 0.0))
        ax.barh(
            ys,
            xs,
            height=height * 0.9,
            color=_COLOURS[gi % len(_COLOURS)],
            label=f"{group} thread{'s' if group > 1 else ''}" if by_threads else f"{group}, {ok[0].threads} thread(s)",
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
    """One panel per runtime; in each, one colour per precision/threads/input size and one marker per model; the
    models of one family (the ShuffleNet widths) are joined by a line, others (MobileNet) stand apart."""
    ok = [r for r in results if r.status == "ok" and _finite(r.latency_ms) and r.macs]
    if not ok:
        _empty(path, title, "no measurement with a MAC count to plot")
        return
    panels: dict[str, dict[tuple, list[BenchResult]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:
        size = "x".join(str(i) for i in r.input_size) if r.input_size else ""
        where = "" if r.target == "host" else f"{r.target} · "
        variant = f" {r.variant}" if r.format == "onnx" and r.variant else ""
        runtime = f"{where}{r.runtime}{variant} ({r.delegate})"
        panels[runtime][(r.precision, r.threads, size, _family(r))].append(r)
    styles: dict[tuple, int] = {}
    for series in panels.values():
        for key in sorted(series, key=lambda k: (k[2].count("x") and _pixels(k[2]), k)):
            styles.setdefault(key[:3], len(styles))
    names: dict[str, int] = {}
    for r in sorted(ok, key=lambda r: (_family(r) != _family(ok[0]), r.macs)):
        names.setdefault(r.label or r.arch or r.file_name, len(names))
    markers = "o^sDvP*X<>"
    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols + 2.4, 4.6 * rows), sharex=True, sharey=True,
                             squeeze=False)  # fmt: skip
    colour_handles: dict[str, Any] = {}
    for ax, (runtime, series) in zip(axes.ravel(), sorted(panels.items()), strict=False):
        for key, rs in sorted(series.items()):
            rs = sorted(rs, key=lambda r: r.macs)
            colour = _COLOURS[styles[key[:3]] % len(_COLOURS)]
            xs = [r.macs / 1e6 for r in rs]
            ys = [float(r.latency_ms) for r in rs]  # type: ignore[arg-type]
            precision, threads, size, _ = key
            ax.plot(xs, ys, "-", color=colour, linewidth=1.3)
            colour_handles.setdefault(
                f"{precision}, {threads} thread{'s' if threads > 1 else ''}, {size}",
                Line2D([], [], color=colour, marker="s", markersize=6, linewidth=1.3),
            )
            for r, x, y in zip(rs, xs, ys, strict=True):
                m = markers[names[r.label or r.arch or r.file_name] % len(markers)]
                ax.plot([x], [y], m, color=colour, markersize=7, markeredgecolor="0.15", markeredgewidth=0.6)
            if len(xs) > 1:
                ax.plot([xs[0], xs[-1]], [ys[0], ys[0] * xs[-1] / xs[0]], ":", color=colour, linewidth=1, alpha=0.6)
        ax.set_title(runtime, fontsize=9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.25)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    xs_all = [r.macs / 1e6 for r in ok]
    axes[0, 0].set_xlim(min(xs_all) / 1.6, max(xs_all) * 1.6)  # shared x: a single model stays in view
    for ax in axes[-1]:
        ax.set_xlabel("multiply-adds (millions, at the input size)")
    for ax in axes[:, 0]:
        ax.set_ylabel("latency per inference, ms")
    model_handles = {
        name: axes[0, 0].plot([], [], markers[i % len(markers)], color="0.6", markeredgecolor="0.15")[0]
        for name, i in names.items()
    }
    handles = {**colour_handles, **model_handles}
    fig.legend(list(handles.values()), list(handles), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 0.95))
    fig.suptitle(
        title + "\n(median, or mean where none is printed; dotted: latency proportional to MACs from each line's "
        "cheapest model)",
        fontsize=10,
    )
    fig.tight_layout()
    _save(fig, path)


def _pixels(size: str) -> int:
    h, w = (int(v) for v in size.split("x"))
    return h * w


def _empty(path: Path, title: str, message: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, message, ha="center", va="center")
    _save(fig, path)


def plot_latency_by_device(
    results: list[BenchResult], path: Path, title: str = "Latency on each phone", names: dict[str, str] | None = None
) -> None:
    """Phones side by side: one row per file / precision / threads / delegate, one bar colour per phone (labelled
    with ``names``' model name where given); the bar is the cell's median (of its repeats), the whisker the
    fastest to the slowest run."""
    from shufflenet.benchmarks.reports.fleet_table import cell_median_ms, row_key, targets_of

    ok = [r for r in results if r.status == "ok" and _finite(cell_median_ms(r))]
    if not ok:
        _empty(path, title, "no successful measurement to plot")
        return
    targets = targets_of(ok)
    rows = list(dict.fromkeys(row_key(r) for r in ok))
    n = len(targets)
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.32 * len(rows) * max(1.0, n * 0.55) + 1.5)))
    values = [float(cell_median_ms(r)) for r in ok]  # type: ignore[arg-type]
    lows = [r.min_ms if _finite(r.min_ms) else v for r, v in zip(ok, values, strict=True)]
    highs = [r.max_ms if _finite(r.max_ms) else v for r, v in zip(ok, values, strict=True)]
    log_scale = max(highs) / max(min(lows), 1e-9) > 30  # type: ignore[type-var, operator]
    for ti, target in enumerate(targets):
        ys, xs, lo, hi = [], [], [], []
        for r, v, low, high in zip(ok, values, lows, highs, strict=True):
            if r.target != target:
                continue
            ys.append(rows.index(row_key(r)) + (ti - (n - 1) / 2) * height)
            xs.append(v)
            lo.append(max(v - float(low), 0.0))  # type: ignore[arg-type]
            hi.append(max(float(high) - v, 0.0))  # type: ignore[arg-type]
        label = f"{target} ({names[target]})" if names and names.get(target) else target
        ax.barh(ys, xs, height=height * 0.9, color=_COLOURS[ti % len(_COLOURS)], label=label, xerr=[lo, hi],
                error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "0.3"})  # fmt: skip
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{name} · {precision} · {threads} thr · {delegate}" for name, precision, threads, delegate
                        in rows], fontsize=8)  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlabel("latency per inference, ms" + (" (log scale)" if log_scale else "")
                  + ": bar = median of the repeats, whisker = fastest to slowest run")  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    if log_scale:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, max(highs) * 1.15)  # type: ignore[type-var, operator]
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="phone", title_fontsize=8)
    _save(fig, path)
