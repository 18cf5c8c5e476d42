"""Parser for what ExecuTorch's ``executor_runner`` prints (its XNNPACK build, which ExecuTorch ships no prebuilt
binary of: the user builds it, see docs/benchmarks.md).

The runner logs through ExecuTorch's ``ET_LOG``: ``I 00:00:00.043703 executorch:executor_runner.cpp:379] message``
on a Linux build's stderr, or logcat lines (tag ``ExecuTorch``) on an Android build, whose standard output then
holds only the printed output tensors. Lines read (any prefix before the message is skipped):

- ``Model executed successfully N time(s) in T ms.`` (ExecuTorch 0.6 and later): N executions took T ms in all;
- ``Iteration i of N: t ms`` (later runners, one line per execution): the per-run times, from which the median,
  spread and extremes are computed;
- ``Model loaded in T ms.``: the load time, kept apart;
- failures: ``E ...`` log lines, ``Execution of method forward failed``, a missing file.

An older runner's ``Model executed successfully.`` (no count, no time) and a standard output that holds only the
output tensors (the Android build, logs in logcat) carry no timing: the output is then not a result
(``ok`` False, ``problem`` says why) and nothing is estimated. The raw text is always kept.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOTAL = re.compile(rf"Model executed successfully (?P<n>\d+) time\(s\) in (?P<ms>{_NUM}) ms")
_ITER = re.compile(rf"Iteration (?P<i>\d+) of (?P<n>\d+): (?P<ms>{_NUM}) ms")
_LOADED = re.compile(rf"Model loaded in (?P<ms>{_NUM}) ms")
_UNTIMED = re.compile(r"Model executed successfully\.")
_ERROR_LOG = re.compile(r"^\s*(?:\S+\s+)*?E \d\d:\d\d:\d\d\.\d+ |^\s*E\s+\[?executorch:|\bE ExecuTorch\s*:")
_FAILURES = re.compile(
    r"(Execution of method \S+ failed|failed with status|Failed to (?:parse|open|load|read)|No such file|"
    r"CANNOT LINK EXECUTABLE|Segmentation fault|Aborted|Fatal signal|ERROR: unknown command line flag)",
    re.IGNORECASE,
)


@dataclass
class RunnerTimings:
    """The timed executions of one runner invocation, in ms."""

    count: int
    total_ms: float
    mean_ms: float
    iterations_ms: list[float] = field(default_factory=list)  # empty when the runner prints no per-run lines
    median_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None


@dataclass
class ParsedRunnerOutput:
    raw: str
    timings: RunnerTimings | None = None
    load_ms: float | None = None
    failure_lines: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.timings is not None and self.problem is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("raw")
        d["ok"] = self.ok
        return d


def parse_runner_output(text: str) -> ParsedRunnerOutput:
    """Read one runner invocation's output (standard output, standard error and logcat lines, in any order)."""
    out = ParsedRunnerOutput(raw=text)
    totals: list[tuple[int, float]] = []
    iters: dict[int, float] = {}
    untimed = False
    for line in text.splitlines():
        if m := _TOTAL.search(line):
            totals.append((int(m["n"]), float(m["ms"])))
        elif m := _ITER.search(line):
            iters[int(m["i"])] = float(m["ms"])
        elif m := _LOADED.search(line):
            out.load_ms = float(m["ms"])
        elif _UNTIMED.search(line):
            untimed = True
        if _FAILURES.search(line) or _ERROR_LOG.search(line):
            out.failure_lines.append(line.strip())
    if out.failure_lines:
        out.problem = f"the runner reported a failure: {out.failure_lines[0]}"
    if not totals:
        if out.problem is None:
            out.problem = (
                "the runner printed 'Model executed successfully.' without a count or a time (a runner older than "
                "ExecuTorch 0.6): build a newer executor_runner"
                if untimed
                else "no 'Model executed successfully N time(s) in T ms' line (on Android the runner logs to logcat, "
                "tag ExecuTorch)"
            )
        return out
    n, total = totals[-1]
    if n < 1:
        out.problem = f"the runner reports {n} executions"
        return out
    t = RunnerTimings(count=n, total_ms=total, mean_ms=total / n)
    runs = [iters[i] for i in sorted(iters)]
    if len(runs) == n:  # per-run lines of this invocation: the statistics come from them, not from the total
        t.iterations_ms = runs
        t.median_ms = statistics.median(runs)
        t.std_ms = statistics.pstdev(runs)
        t.min_ms, t.max_ms = min(runs), max(runs)
    out.timings = t
    return out
