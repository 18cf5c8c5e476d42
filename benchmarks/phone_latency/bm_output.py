"""Parser for the text TensorFlow Lite / LiteRT ``benchmark_model`` prints.

Forms understood (see ``../shared/fixtures/benchmark_model/``):

- the statistics line ``count=N first=F curr=C min=A max=B avg=M std=S``, optionally followed by
  `` p5=… median=… p95=…`` (LiteRT builds), or ``count=N curr=X(all same)`` when every run took the same time,
  or ``count=1 curr=X`` for a single run;
- the timings line ``Inference timings in us: Init: …, First inference: …, Warmup (avg): …, Inference (avg): …``
  and the legacy ``Average inference timings in us: Warmup: …, Init: …, no stats: …`` (r1.13);
- the memory lines ``Peak memory footprint (MB): init=… overall=…`` (older),
  ``Memory footprint delta from the start of the tool (MB): init=… overall=…`` and
  ``Overall peak memory footprint (MB) via periodic monitoring: …`` (newer);
- any line prefix (Android logcat ``05-30 15:16:46.365  3380  3380 I tflite  :``, ``INFO:``), numbers in
  scientific notation (``4.38533e+06``);
- the ``Summary by node type`` tables printed with ``--enable_op_profiling=true``: one for the initialisation
  (``Profiling Info for Benchmark Initialization:``, kept apart in ``init_op_summary``) and one for the timed runs
  (``Operator-wise Profiling Info for Regular Benchmark Runs:``, in ``op_summary``); node types may contain spaces,
  commas and parentheses (delegate kernels such as ``Vx Delegate`` or ``Convolution (NHWC, QC8) GEMM``);
- the phase headers ``Running benchmark for at least N iterations …``: the first one opens the warm-up, the second
  the timed runs, and each phase's statistics line is read from inside it.

Nothing is guessed: a figure is filled only from a line that states it. When no statistics line for the timed
runs is found, or a failure is printed once the runs have started (e.g. ``Benchmarking failed.`` after the
warm-up's statistics line), the output is not a result (``ParsedOutput.ok`` is False, ``problem`` says why); the
raw text is always kept in ``ParsedOutput.raw``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

# Android logcat (threadtime): "MM-DD HH:MM:SS.mmm  PID  TID L TAG : message"
_LOGCAT_PREFIX = re.compile(r"^\s*\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEFA]\s+[^:]*?\s*:\s?")
# TFLite's minimal logging: "INFO: message", "ERROR: message"
_LEVEL_PREFIX = re.compile(r"^\s*(?:INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG):\s*")

_STATS = re.compile(r"\bcount=(?P<count>\d+)\b(?P<rest>.*)$")
_KV = re.compile(rf"\b(?P<key>first|curr|min|max|avg|std|p5|median|p95)=(?P<val>{_NUM})")
_ALL_SAME = re.compile(rf"\bcurr=(?P<val>{_NUM})\s*\(all same\)")

_TIMINGS = re.compile(r"Inference timings in us:\s*(?P<body>.*)$")
_LEGACY_TIMINGS = re.compile(r"Average inference timings in us:\s*(?P<body>.*)$")
_TIMING_FIELD = re.compile(rf"(?P<key>[A-Za-z][A-Za-z ()]*?):\s*(?P<val>{_NUM})")

_PEAK_OLD = re.compile(rf"Peak memory footprint \(MB\):\s*init=(?P<init>{_NUM})\s+overall=(?P<overall>{_NUM})")
_DELTA_NEW = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\):\s*init=(?P<init>{_NUM})\s+overall=(?P<overall>{_NUM})"
)
_PEAK_PERIODIC = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring:\s*(?P<peak>{_NUM})")

# A row of a "Summary by node type" table. The node type is right-aligned free text ("Vx Delegate",
# "Convert (NC, QS8, F32)"); the six numeric columns anchored at the end of the line delimit it.
_OP_ROW = re.compile(
    rf"^\s*(?P<type>\S(?:.*?\S)?)\s+(?P<count>\d+)\s+(?P<avg_ms>{_NUM})\s+(?P<avg_pct>{_NUM})%\s+"
    rf"(?P<cdf_pct>{_NUM})%\s+(?P<mem_kb>{_NUM})\s+(?P<calls>\d+)\s*$"
)
_OP_SUMMARY_HEADER = re.compile(r"\[Node type\].*\[count\]")  # the per-node "Run Order" tables have no [count]
_INIT_PROFILE = "Profiling Info for Benchmark Initialization"
_RUNS_PROFILE = "Operator-wise Profiling Info for Regular Benchmark Runs"
_PHASE = re.compile(r"Running benchmark for at least \d+ iterations")

# Messages benchmark_model prints when a delegate cannot be used (name captured).
_DELEGATE_FAILED = (
    re.compile(r"Failed to apply (?:the )?(?P<name>[\w ]+?) delegate", re.IGNORECASE),
    re.compile(r"(?P<name>GPU|NNAPI|XNNPACK|Hexagon|Core ?ML)\s+acceleration is unsupported", re.IGNORECASE),
    re.compile(r"Could not create (?P<name>[\w ]+?) delegate", re.IGNORECASE),
    re.compile(r"(?P<name>GPU|NNAPI)\s+delegate (?:is )?not (?:available|supported)", re.IGNORECASE),
)
_DELEGATE_UNUSED = re.compile(
    r"Though (?P<name>\w+) delegate is explicitly applied, the model graph will not be executed", re.IGNORECASE
)
_FAILURE_LINES = re.compile(
    r"(Benchmarking failed|Failed to allocate tensors|Failed to invoke|Could not (?:open|load|mmap)|"
    r"Failed to (?:construct|create) interpreter|Model file doesn't exist|CANNOT LINK EXECUTABLE|"
    r"Segmentation fault|Aborted|Fatal signal|Unconsumed cmdline flags|Unknown command line flag)",
    re.IGNORECASE,
)


@dataclass
class RunStats:
    """One statistics line; times in microseconds, as printed."""

    count: int
    avg_us: float
    first_us: float | None = None
    curr_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    std_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None
    all_same: bool = False


@dataclass
class OpTypeRow:
    node_type: str
    count: int
    avg_ms: float
    avg_pct: float
    cdf_pct: float
    mem_kb: float
    times_called: int


@dataclass
class ParsedOutput:
    """What one ``benchmark_model`` output says. ``runs`` is the timed-run statistics line (the last one)."""

    raw: str
    ok: bool
    problem: str | None = None
    runs: RunStats | None = None
    warmup: RunStats | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    timings_form: str | None = None  # "current" | "legacy"
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    memory_form: str | None = None  # "peak" (older) | "delta" (newer)
    peak_memory_mb: float | None = None
    op_summary: list[OpTypeRow] = field(default_factory=list)  # the timed runs' "Summary by node type"
    init_op_summary: list[OpTypeRow] = field(default_factory=list)  # the initialisation profile's one
    delegate_failures: list[str] = field(default_factory=list)
    delegate_unused: list[str] = field(default_factory=list)
    failure_lines: list[str] = field(default_factory=list)

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not include_raw:
            d.pop("raw")
        return d


def strip_prefix(line: str) -> str:
    """Remove a logcat header and/or a TFLite log-level prefix from one line."""
    line = _LOGCAT_PREFIX.sub("", line, count=1)
    return _LEVEL_PREFIX.sub("", line, count=1).rstrip()


def _num(s: str) -> float:
    return float(s)


def parse_stats_line(line: str) -> RunStats | None:
    """Parse one ``count=…`` statistics line (already stripped of prefixes); None if it is not one."""
    m = _STATS.search(line)
    if m is None:
        return None
    count = int(m.group("count"))
    rest = m.group("rest")
    same = _ALL_SAME.search(rest)
    values = {km.group("key"): _num(km.group("val")) for km in _KV.finditer(rest)}
    if same is not None:
        x = _num(same.group("val"))
        return RunStats(count=count, avg_us=x, curr_us=x, min_us=x, max_us=x, std_us=0.0, median_us=x, all_same=True)
    if "avg" in values:
        return RunStats(
            count=count,
            avg_us=values["avg"],
            first_us=values.get("first"),
            curr_us=values.get("curr"),
            min_us=values.get("min"),
            max_us=values.get("max"),
            std_us=values.get("std"),
            p5_us=values.get("p5"),
            median_us=values.get("median"),
            p95_us=values.get("p95"),
        )
    if count == 1 and "curr" in values:
        x = values["curr"]
        return RunStats(count=1, avg_us=x, curr_us=x, first_us=x, min_us=x, max_us=x, std_us=0.0, median_us=x)
    return None


def _timing_fields(body: str) -> dict[str, float]:
    return {m.group("key").strip().lower(): _num(m.group("val")) for m in _TIMING_FIELD.finditer(body)}


def _op_row(m: re.Match[str]) -> OpTypeRow:
    return OpTypeRow(
        node_type=m.group("type"),
        count=int(m.group("count")),
        avg_ms=_num(m.group("avg_ms")),
        avg_pct=_num(m.group("avg_pct")),
        cdf_pct=_num(m.group("cdf_pct")),
        mem_kb=_num(m.group("mem_kb")),
        times_called=int(m.group("calls")),
    )


@dataclass
class _Phase:
    """One ``Running benchmark for at least …`` phase (or the whole text when no such header is printed)."""

    stats: list[RunStats] = field(default_factory=list)


def parse_output(text: str) -> ParsedOutput:
    """Parse everything ``benchmark_model`` printed (stdout and stderr together)."""
    out = ParsedOutput(raw=text, ok=False)
    phases: list[_Phase] = [_Phase()]  # phases[0]: before any phase header (old builds print none)
    failures_after_start: list[str] = []  # failure lines once a statistics line or the timed runs have started
    lines = [strip_prefix(raw_line) for raw_line in text.splitlines()]
    table: list[OpTypeRow] | None = None  # the summary table being read, if any
    profile: str | None = None  # "init" | "runs" once a profiling section has begun
    for line in lines:
        if table is not None:
            row = _OP_ROW.match(line)
            if row:
                table.append(_op_row(row))
                continue
            table = None  # a blank line or anything else ends the table
        if _INIT_PROFILE in line:
            profile = "init"
        elif _RUNS_PROFILE in line:
            profile = "runs"
        if _OP_SUMMARY_HEADER.search(line):
            # Without a profiling section title (a pasted table) the rows are the timed runs'.
            table = out.init_op_summary if profile == "init" else out.op_summary
            continue
        if _PHASE.search(line) and profile is None:
            phases.append(_Phase())
            continue
        s = parse_stats_line(line)
        if s is not None:
            # The profiler's "Timings (microseconds): count=..." lines summarise its own sections.
            if profile is None and "Timings (microseconds)" not in line:
                phases[-1].stats.append(s)
            continue
        m = _LEGACY_TIMINGS.search(line)
        if m:
            f = _timing_fields(m.group("body"))
            out.timings_form = "legacy"
            out.warmup_avg_us = f.get("warmup")
            out.init_us = f.get("init")
            out.inference_avg_us = f.get("no stats")
            continue
        m = _TIMINGS.search(line)
        if m:
            f = _timing_fields(m.group("body"))
            out.timings_form = "current"
            out.init_us = f.get("init")
            out.first_inference_us = f.get("first inference")
            out.warmup_avg_us = f.get("warmup (avg)")
            out.inference_avg_us = f.get("inference (avg)")
            continue
        m = _PEAK_OLD.search(line)
        if m:
            out.memory_init_mb, out.memory_overall_mb = _num(m.group("init")), _num(m.group("overall"))
            out.memory_form = "peak"
            continue
        m = _DELTA_NEW.search(line)
        if m:
            out.memory_init_mb, out.memory_overall_mb = _num(m.group("init")), _num(m.group("overall"))
            out.memory_form = "delta"
            continue
        m = _PEAK_PERIODIC.search(line)
        if m:
            out.peak_memory_mb = _num(m.group("peak"))
            continue
        for pat in _DELEGATE_FAILED:
            dm = pat.search(line)
            if dm:
                out.delegate_failures.append(line.strip())
                break
        um = _DELEGATE_UNUSED.search(line)
        if um:
            out.delegate_unused.append(um.group("name"))
        if _FAILURE_LINES.search(line):
            out.failure_lines.append(line.strip())
            if len(phases) > 2 or any(p.stats for p in phases) or "benchmarking failed" in line.lower():
                failures_after_start.append(line.strip())

    if len(phases) > 2:
        # Phase headers printed: the last phase is the timed runs, the one before it the warm-up; each has one
        # statistics line of its own. Nothing from the warm-up may stand in for the timed runs.
        out.warmup = phases[-2].stats[-1] if phases[-2].stats else None
        stats = phases[-1].stats
        out.runs = stats[-1] if stats else None
    else:
        stats = [s for p in phases for s in p.stats]
        if stats:
            out.runs = stats[-1]
            if len(stats) > 1:
                out.warmup = stats[-2]
    out.ok, out.problem = _judge(out, failures_after_start, warmup_only=len(phases) > 2 and not stats)
    return out


def _judge(out: ParsedOutput, failures: list[str], warmup_only: bool) -> tuple[bool, str | None]:
    if failures:
        # "Benchmarking failed." is printed after the statistics line of a failed phase: the figures are not a result.
        return False, f"benchmark_model failed after it started running: {failures[0]}"
    if out.runs is None:
        if warmup_only:
            return False, "benchmark_model printed the warm-up's statistics but none for the timed runs"
        if out.timings_form is not None:
            return False, "benchmark_model output has a timings line but no 'count=' statistics line"
        if out.failure_lines:
            return False, f"benchmark_model output has no statistics: {out.failure_lines[0]}"
        if not out.raw.strip():
            return False, "benchmark_model printed nothing"
        return False, "benchmark_model output not understood: no 'count=' statistics line"
    runs = out.runs
    if out.inference_avg_us is not None and runs.avg_us > 0:
        # The timings line repeats the timed runs' average: if it disagrees, we may have picked the wrong line.
        if abs(out.inference_avg_us - runs.avg_us) > 1e-3 * max(runs.avg_us, 1.0) + 0.5:
            return False, (
                f"statistics line avg={runs.avg_us:g} us disagrees with the timings line "
                f"(inference avg {out.inference_avg_us:g} us)"
            )
    return True, None


def delegate_unavailable(parsed: ParsedOutput) -> str | None:
    """The first message saying a delegate could not be applied, if any."""
    return parsed.delegate_failures[0] if parsed.delegate_failures else None
