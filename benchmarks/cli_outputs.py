"""What every `shufflenet-bench` run writes: RESULTS.json and, beside it, RESULTS.md, RESULTS.csv,
RESULTS_latency.png and RESULTS_latency_vs_macs.png (atomically; the tables after every finished measurement).
Phone runs lead with the phones and the file x device table, and plot one series per phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, write_csv, write_json
from shufflenet.model.files import write_text_atomic


def output_paths(json_path: Path) -> dict[str, Path]:
    stem = json_path.with_suffix("")
    return {
        "json": json_path,
        "md": stem.with_suffix(".md"),
        "csv": stem.with_suffix(".csv"),
        "latency_png": stem.parent / f"{stem.name}_latency.png",
        "macs_png": stem.parent / f"{stem.name}_latency_vs_macs.png",
    }


def report_markdown(report: BenchReport, title: str) -> str:
    from shufflenet.benchmarks.host_latency.table8 import table8_markdown
    from shufflenet.benchmarks.reports.results import to_markdown

    parts = []
    if report.kind.startswith("table8"):
        parts.append(table8_markdown(report))
    if report.kind in PHONE_KINDS:
        parts.append(phone_markdown(report))
    parts.append(to_markdown(report.results, title=title, environment=report.environment))
    covered = {r.path: r.details["delegate_coverage"] for r in report.results if r.details.get("delegate_coverage")}
    if covered:
        from shufflenet.export.formats.delegation import coverage_cell

        lines = [f"- {p}: {coverage_cell(c)}" for p, c in covered.items()]
        parts.append("XNNPACK coverage (nodes taken / model nodes, partitions; read after delegation):\n\n"
                     + "\n".join(lines) + "\n")  # fmt: skip
    skipped = report.config.get("skipped") or []
    if skipped:
        parts.append("Not timed:\n\n" + "\n".join(f"- {s['path']}: {s['reason']}" for s in skipped) + "\n")
    if report.errors:
        parts.append("Errors:\n\n" + "\n".join(f"- {e}" for e in report.errors) + "\n")
    return "\n".join(parts)


PHONE_KINDS = ("android", "table8-android")


def phone_markdown(report: BenchReport) -> str:
    """The phones, then the file x device table."""
    from shufflenet.benchmarks.reports.fleet_table import devices_markdown, fleet_markdown

    return "\n".join(x for x in (devices_markdown(report.environment),
                                 fleet_markdown(report.results, report.environment)) if x)  # fmt: skip


def plot_report(
    results: list[BenchResult], kinds: set[str], path: Path, title: str, devices: dict[str, Any] | None = None
) -> None:
    """Phone results: one series per phone (named from ``devices``); others: one series per thread count (or
    runtime)."""
    from shufflenet.benchmarks.reports.plots import plot_latency, plot_latency_by_device

    if kinds <= set(PHONE_KINDS) and any(r.runtime == "benchmark_model" for r in results):
        names = {t: d.get("name", "") for t, d in (devices or {}).items()}
        plot_latency_by_device(results, path, title=title, names=names)
    else:
        plot_latency(results, path, title=title)


def write_tables(report: BenchReport, json_path: Path, title: str) -> dict[str, Path]:
    """JSON, Markdown and CSV (cheap: written after every measurement)."""
    paths = output_paths(json_path)
    write_json(report, paths["json"])
    write_text_atomic(paths["md"], report_markdown(report, title))
    write_csv(report.results, paths["csv"])
    return paths


def write_all(report: BenchReport, json_path: Path, title: str) -> dict[str, Path]:
    from shufflenet.benchmarks.reports.plots import plot_latency_vs_macs

    paths = write_tables(report, json_path, title)
    plot_report(report.results, {report.kind}, paths["latency_png"], title, report.environment.get("devices"))
    plot_latency_vs_macs(report.results, paths["macs_png"], title=f"{title}: latency against multiply-adds")
    return paths
