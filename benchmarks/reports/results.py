"""One result schema for host and device latency, and its JSON / CSV / Markdown forms.

A results file (schema ``shufflenet-mobile/bench@1``)::

    {"schema": "shufflenet-mobile/bench@1", "kind": "host|android|table8-host|table8-android",
     "created": "...Z", "environment": {...}, "config": {...},
     "results": [{"target": "host" | serial, "runtime": ..., "format": ..., "precision": ..., "path": ...,
                  "threads": 1, "delegate": ..., "runs": N, "median_ms": ..., "p90_ms": ..., "mean_ms": ...,
                  "std_ms": ..., "min_ms": ..., "max_ms": ..., "cv": ..., ...}],
     "errors": ["one line per failure"]}

``median_ms``/``p90_ms`` are null when the measurement does not state them (``benchmark_model`` prints no p90,
and a median only on LiteRT builds); nothing is estimated. Files are written atomically (temp file, rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.reports.stats import LatencyStats
from shufflenet.model.files import json_safe, write_json_atomic, write_text_atomic

SCHEMA = "shufflenet-mobile/bench@1"


@dataclass
class BenchResult:
    target: str
    runtime: str
    format: str
    precision: str
    path: str
    threads: int
    delegate: str
    runs: int
    median_ms: float | None
    p90_ms: float | None
    mean_ms: float | None
    std_ms: float | None
    min_ms: float | None
    max_ms: float | None
    cv: float | None = None
    clock: str = "wall"  # wall | cpu (the timed thread's CPU time); benchmark_model times wall
    repeats: int = 1
    warmup: int = 0
    arch: str | None = None
    label: str | None = None  # a display name, e.g. "ShuffleNet 1x"
    input_size: list[int] | None = None
    macs: int | None = None
    variant: str | None = None
    repeat_ms: list[float] = field(default_factory=list)
    repeat_spread: float | None = None
    noisy: bool = False
    noise_reasons: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | failed | unparsed | skipped (not for that device: a file compiled for another SoC)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # runtime-specific (device runs, raw outputs, ...)

    @property
    def latency_ms(self) -> float | None:
        """The central figure: the median, or the mean where the measurement states no median."""
        return self.median_ms if self.median_ms is not None else self.mean_ms

    @property
    def mmacs(self) -> float | None:
        return self.macs / 1e6 if self.macs is not None else None

    @property
    def file_name(self) -> str:
        return Path(self.path).name if self.path else ""

    def key(self) -> tuple:
        """What identifies 'the same measurement' across two result files (for comparisons)."""
        size = tuple(self.input_size) if self.input_size else None
        return (
            self.label or self.arch,
            size,
            self.runtime,
            self.format,
            self.precision,
            self.file_name,
            self.threads,
            self.delegate,
            self.clock,
        )


def result_from_stats(stats: LatencyStats, **kw: Any) -> BenchResult:
    """Build an ``ok`` result from ``LatencyStats`` plus the identifying fields."""
    return BenchResult(
        runs=stats.runs,
        repeats=stats.repeats,
        median_ms=stats.median_ms,
        p90_ms=stats.p90_ms,
        mean_ms=stats.mean_ms,
        std_ms=stats.std_ms,
        min_ms=stats.min_ms,
        max_ms=stats.max_ms,
        cv=stats.cv,
        repeat_ms=list(stats.repeat_ms),
        repeat_spread=stats.repeat_spread,
        noisy=stats.noisy,
        noise_reasons=list(stats.noise_reasons),
        **kw,
    )


def failed_result(error: str, status: str = "failed", **kw: Any) -> BenchResult:
    """A result that holds no timing (kept so the failure shows beside the successes)."""
    base: dict[str, Any] = dict(
        runs=0, median_ms=None, p90_ms=None, mean_ms=None, std_ms=None, min_ms=None, max_ms=None
    )
    base.update(kw)
    return BenchResult(status=status, error=error, **base)


@dataclass
class BenchReport:
    kind: str
    environment: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    results: list[BenchResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "kind": self.kind,
            "created": self.created,
            "environment": self.environment,
            "config": self.config,
            "results": [json_safe(asdict(r)) for r in self.results],
            "errors": list(self.errors),
        }


def write_json(report: BenchReport, path: Path) -> None:
    write_json_atomic(path, report.to_dict(), indent=1)


_RESULT_FIELDS = {f.name for f in fields(BenchResult)}


def result_from_dict(d: dict[str, Any]) -> BenchResult:
    known = {k: v for k, v in d.items() if k in _RESULT_FIELDS}
    return BenchResult(**known)


def read_previous_run(path: Path) -> Any:
    """The JSON an earlier run of a resumable benchmark wrote (``--resume``), or None when there is none yet."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ValueError(f"{path} is not valid JSON; delete it or drop --resume") from None


def read_json(path: Path) -> BenchReport:
    """Read a results file; a file of another kind or schema is a ValueError naming it."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a shufflenet-bench results file (schema {SCHEMA!r} expected)")
    try:
        results = [result_from_dict(r) for r in d.get("results", [])]
    except TypeError as e:
        raise ValueError(f"{path}: malformed result entry ({e})") from None
    return BenchReport(
        kind=d.get("kind", ""),
        environment=d.get("environment", {}),
        config=d.get("config", {}),
        results=results,
        errors=list(d.get("errors", [])),
        created=d.get("created", ""),
    )


CSV_COLUMNS = (
    "target",
    "runtime",
    "format",
    "precision",
    "variant",
    "path",
    "label",
    "arch",
    "input_size",
    "macs",
    "threads",
    "delegate",
    "clock",
    "warmup",
    "runs",
    "repeats",
    "median_ms",
    "p90_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "cv",
    "repeat_spread",
    "noisy",
    "status",
    "error",
)


def to_csv(results: list[BenchResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        row = []
        for c in CSV_COLUMNS:
            v = getattr(r, c)
            if c == "input_size" and v:
                v = "x".join(str(i) for i in v)
            elif isinstance(v, float):
                v = "" if not math.isfinite(v) else f"{v:.6g}"
            elif v is None:
                v = ""
            row.append(v)
        w.writerow(row)
    return buf.getvalue()


def write_csv(results: list[BenchResult], path: Path) -> None:
    write_text_atomic(path, to_csv(results))


def fmt_ms(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _size(r: BenchResult) -> str:
    return "x".join(str(i) for i in r.input_size) if r.input_size else ""


def to_markdown(results: list[BenchResult], title: str | None = None, environment: dict | None = None) -> str:
    """A Markdown table of results (failures listed below it)."""
    lines: list[str] = []
    if title:
        lines += [f"## {title}", ""]
    if environment:
        machine = environment.get("machine") or environment.get("device", {}).get("description")
        if machine:
            lines += [f"Measured on: {machine}", ""]
    lines.append(
        "| target | model | input | runtime | file | precision | threads | delegate | runs | median ms | p90 ms "
        "| mean ms | std ms | min ms | max ms | CV | note |"
    )
    lines.append("|" + " --- |" * 17)
    failures = []
    for r in results:
        if r.status != "ok":
            failures.append(r)
            continue
        note = "thread CPU time" if r.clock == "cpu" else ""
        if r.details.get("arithmetic_note"):  # which arithmetic a float16-arithmetic file really ran in
            note = "; ".join(x for x in (note, r.details["arithmetic_note"]) if x)
        if r.noisy:
            note = "; ".join(x for x in (note, "noisy: " + "; ".join(r.noise_reasons)) if x)
        cv = "–" if r.cv is None or not math.isfinite(r.cv) else f"{r.cv:.1%}"
        lines.append(
            f"| {r.target} | {r.label or r.arch or ''} | {_size(r)} | {r.runtime} | {r.file_name} | {r.precision} "
            f"| {r.threads} | {r.delegate} | {r.runs} | {fmt_ms(r.median_ms)} | {fmt_ms(r.p90_ms)} "
            f"| {fmt_ms(r.mean_ms)} | {fmt_ms(r.std_ms)} | {fmt_ms(r.min_ms)} | {fmt_ms(r.max_ms)} | {cv} | {note} |"
        )
    skipped = [r for r in failures if r.status == "skipped"]
    failures = [r for r in failures if r.status != "skipped"]
    if skipped:
        lines += ["", "Not run (not for that device):", ""]
        lines += [f"- {r.target} {r.file_name} delegate={r.delegate}: {r.error}" for r in skipped]
    if failures:
        lines += ["", "Failed or not understood:", ""]
        for r in failures:
            lines.append(
                f"- {r.target} {r.runtime} {r.file_name or r.label or r.arch} threads={r.threads} "
                f"delegate={r.delegate}: {r.status}: {r.error}"
            )
    return "\n".join(lines) + "\n"


@dataclass
class Comparison:
    key: tuple
    baseline: BenchResult
    candidate: BenchResult
    ratio: float
    low: float
    high: float
    pairs: int


def compare_runs(
    baseline: list[BenchResult], candidate: list[BenchResult], by_device: bool = False
) -> list[Comparison]:
    """Pair results by ``BenchResult.key()`` (and, ``by_device``, by phone) and give the candidate's speed-up over
    the baseline."""
    from shufflenet.benchmarks.reports.stats import speedup

    def key(r: BenchResult) -> tuple:
        return (r.target, *r.key()) if by_device else r.key()

    base = {key(r): r for r in baseline if r.status == "ok" and r.latency_ms}
    out = []
    for r in candidate:
        b = base.get(key(r))
        if b is None or r.status != "ok" or not r.latency_ms:
            continue
        ra = speedup(b.repeat_ms or [b.latency_ms], r.repeat_ms or [r.latency_ms])  # type: ignore[list-item]
        out.append(Comparison(key(r), b, r, ra.ratio, ra.low, ra.high, ra.pairs))
    return out


def comparison_markdown(comps: list[Comparison], baseline_name: str, candidate_name: str) -> str:
    lines = [
        f"Speed-up of `{candidate_name}` over `{baseline_name}` (baseline ms / candidate ms; >1 means faster). "
        "The range is the lowest and highest ratio over all pairs of repeats; one repeat on each side gives none.",
        "",
        "| model | input | runtime | file | precision | threads | delegate | baseline ms | candidate ms | speed-up "
        "| range |",
        "|" + " --- |" * 11,
    ]
    for c in comps:
        r = c.candidate
        rng = "–" if c.pairs < 2 else f"{c.low:.2f}–{c.high:.2f}"
        lines.append(
            f"| {r.label or r.arch or ''} | {_size(r)} | {r.runtime} | {r.file_name} | {r.precision} | {r.threads} "
            f"| {r.delegate} | {fmt_ms(c.baseline.latency_ms)} | {fmt_ms(r.latency_ms)} | {c.ratio:.2f}x | {rng} |"
        )
    if not comps:
        lines.append("| (no measurement appears in both files) |" + " |" * 10)
    return "\n".join(lines) + "\n"
