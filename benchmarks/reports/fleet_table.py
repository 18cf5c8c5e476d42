"""Phone results as one file x device table, the phones' description table, and a device-by-device comparison of
two runs of the same phones (before / after a change).

A cell's figure is the median of its repeats (each repeat's own median where ``benchmark_model`` printed one, its
mean otherwise); its spread is ``(max - min) / median`` of those repeats, or the coefficient of variation of the
runs when there was one repeat. ``*`` marks a cell flagged noisy (runs scatter, repeats disagree, the phone warmed,
stayed hot or throttled).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from shufflenet.benchmarks.reports.results import BenchResult, Comparison, fmt_ms

NOTE = {"skipped": "not for this SoC", "failed": "failed", "unparsed": "unreadable"}


def cell_median_ms(r: BenchResult) -> float | None:
    return float(statistics.median(r.repeat_ms)) if r.repeat_ms else r.latency_ms


def cell_spread(r: BenchResult) -> float | None:
    spread = r.repeat_spread if r.repeat_spread is not None else r.cv
    return spread if spread is not None and math.isfinite(spread) else None


def row_key(r: BenchResult) -> tuple[str, str, int, str]:
    name = f"{r.label} {'x'.join(map(str, r.input_size or []))}".strip() if r.label else r.file_name
    return (name, r.precision, r.threads, r.delegate)


def targets_of(results: list[BenchResult], environment: dict[str, Any] | None = None) -> list[str]:
    devices = list((environment or {}).get("devices") or {})
    return list(dict.fromkeys([*[t for t in devices if any(r.target == t for r in results)],
                               *[r.target for r in results]]))  # fmt: skip


def _cell(r: BenchResult | None) -> str:
    if r is None:
        return "–"
    if r.status != "ok":
        return NOTE.get(r.status, r.status)
    spread = cell_spread(r)
    text = fmt_ms(cell_median_ms(r)) + (f" ±{spread:.0%}" if spread is not None else "")
    return text + ("*" if r.noisy else "")


def fleet_markdown(results: list[BenchResult], environment: dict[str, Any] | None = None) -> str:
    """File x device table: median ms ± spread per cell, one column per phone."""
    phone = [r for r in results if r.runtime == "benchmark_model"]
    if not phone:
        return ""
    targets = targets_of(phone, environment)
    rows = list(dict.fromkeys(row_key(r) for r in phone))
    by = {(row_key(r), r.target): r for r in phone}
    lines = [
        "Median ms per inference of each file on each phone (the median of the repeats) ± the spread of the repeats "
        "(the runs' CV with one repeat); `*` noisy (see the notes of the full table); `not for this SoC`: a file "
        "compiled for another NPU.",
        "",
        "| file | precision | threads | delegate | " + " | ".join(targets) + " |",
        "|" + " --- |" * (4 + len(targets)),
    ]
    for row in rows:
        name, precision, threads, delegate = row
        cells = [_cell(by.get((row, t))) for t in targets]
        lines.append(f"| {name} | {precision} | {threads} | {delegate} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def devices_markdown(environment: dict[str, Any]) -> str:
    """One row per phone: what it is, its cores, where it is attached."""
    devices = environment.get("devices") or {}
    if not devices:
        return ""
    lines = ["| device | model | SoC | Android | ABI | cores (max GHz) | governor | adb server |", "|" + " --- |" * 8]
    for target, d in devices.items():
        model = d.get("name") or d.get("model")
        clusters = " + ".join(f"{len(c['cores'])}x{c['max_khz'] / 1e6:.2f}" for c in d.get("clusters") or [])
        governors = ", ".join(sorted(set((d.get("cpu") or {}).get("governor", {}).values()))) or "–"
        soc = " / ".join(x for x in (d.get("soc"), d.get("platform")) if x) or "–"
        android = f"{d.get('android_version', '')} (API {d.get('sdk', '')})" if d.get("android_version") else "–"
        lines.append(f"| {target} | {model or '–'} | {soc} | {android} | {d.get('abi') or '–'} | {clusters or '–'} "
                     f"| {governors} | {d.get('server', 'local')} |")  # fmt: skip
    skipped = environment.get("skipped") or []
    if skipped:
        lines += ["", "Not used:", "", *(f"- {s}" for s in skipped)]
    return "\n".join(lines) + "\n"


def fleet_comparison_markdown(comps: list[Comparison], baseline_name: str, candidate_name: str) -> str:
    """Device by device: each phone's speed-up of the candidate run over the baseline run."""
    lines = [
        f"Speed-up of `{candidate_name}` over `{baseline_name}` on each phone (baseline ms / candidate ms; >1 means "
        "faster); the range is the lowest and highest ratio over all pairs of repeats.",
        "",
        "| device | file | precision | threads | delegate | baseline ms | candidate ms | speed-up | range |",
        "|" + " --- |" * 9,
    ]
    for c in sorted(comps, key=lambda c: (c.candidate.target, row_key(c.candidate))):
        r = c.candidate
        rng = "–" if c.pairs < 2 else f"{c.low:.2f}–{c.high:.2f}"
        ms = f"{fmt_ms(c.baseline.latency_ms)} | {fmt_ms(r.latency_ms)}"
        lines.append(f"| {r.target} | {row_key(r)[0]} | {r.precision} | {r.threads} | {r.delegate} | {ms} "
                     f"| {c.ratio:.2f}x | {rng} |")  # fmt: skip
    if not comps:
        lines.append("| (no phone has a measurement in both files) |" + " |" * 8)
    return "\n".join(lines) + "\n"
