"""Where the time goes in a .tflite file on this host: latency per network unit (or per op), by prefix models.

LiteRT's Python package has no op profiler, and XNNPACK runs a fully delegated graph as one node, so per-op
time cannot be read from the interpreter. Instead the file's flatbuffer is cut: the prefix model ``P_k`` keeps
the first ``k`` operators (TFLite stores them in execution order) and outputs every activation tensor the rest
of the network would still read (its live set), so no op of the prefix is dead. ``P_k`` is loaded like the
file itself (LiteRT interpreter, default XNNPACK delegate, the same thread count) and timed with the project's
timing function (``host.measure``). A segment's latency is ``T(P_end) - T(P_start)``; the first segment is
``T(P_k)`` itself, so it also holds the fixed cost of one ``invoke``.

By default the cuts are the network's chain points, where a single activation tensor is live: every stem op, the
end of every unit (its ADD or CONCATENATION) and every head op; so a segment is a ShuffleNet unit, named by its
PyTorch module (``features.3``). ``granularity="op"`` cuts after every op instead (noisier: each difference is
between two timings of nearly the same model).

The parts are differences of independent timings. Their sum is ``T(P_last)``, a timing of the whole graph taken
inside the profile; it is checked against the original file timed separately, before and after (``whole_ms``):
``sum_ratio`` is the sum of the parts over the whole, and the profile is marked inconsistent outside 1 +- 10 %.

Clock: with one thread the default is the timed thread's CPU time (``clock="cpu"``), which a machine busy with
other work disturbs far less than the wall clock (on a shared host, two wall-clock profiles of the same file
disagreed by several points per unit, with spreads ten times the values; CPU-time profiles agreed within about a
point). With more threads only the wall clock sees the work of every thread, so it is the default there.

Noise: a segment whose spread (half the range of its two prefixes' per-round medians, added) is at least its
value, or whose value is below the table's 1 µs precision, is marked ``within_noise``; the table prints
"< noise" for its time and share instead of a figure (which could even be negative), and the JSON keeps the raw
difference beside the flag.

What it cannot see: fusion across a cut (XNNPACK may fuse or re-layout ops across the boundary of a prefix
differently than in the whole graph), a segment that costs less than the timing noise (it can come out negative),
and the time split inside a delegated partition between its ops beyond what the cuts resolve. On a phone the
split differs (other kernels, caches); use benchmark_model's op profiling there.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.benchmarks.host_latency.host import make_input, measure

log = logging.getLogger(__name__)

UNIT_END_OPS = ("ADD", "CONCATENATION")
NOISE_ADVICE = {
    "wall": "with one thread, --clock cpu (the default there) is far steadier; more --rounds or --runs also help.",
    "cpu": "more --rounds or --runs narrow the spread; a segment this cheap may be below what timing can resolve.",
}
SUM_TOLERANCE = 0.10  # the parts must sum to the whole within this fraction


RESOLUTION_MS = 0.001  # the table prints milliseconds to 3 decimals


@dataclass
class Segment:
    """Ops ``first..last`` (execution order) and their share of the latency."""

    first: int
    last: int
    module: str  # PyTorch module (a unit, the stem or head part), or "?" when the file's graph is not recognised
    ops: dict[str, int]  # op type -> count in this segment
    ms: float  # T(prefix through ``last``) - T(prefix through ``first - 1``)
    prefix_ms: float  # T(prefix through ``last``)
    spread_ms: float = 0.0  # half the range of the two prefixes' per-round medians, added: the noise on ``ms``

    @property
    def within_noise(self) -> bool:
        """The segment's time cannot be told from the timing noise: spread at least the value, or the value below
        the table's 1 µs precision (it would print as 0.000; with one round the spread is 0 whatever the noise)."""
        return self.ms < RESOLUTION_MS or self.spread_ms >= self.ms


@dataclass
class Profile:
    path: str
    threads: int
    clock: str
    granularity: str
    nodes: int
    whole_ms: float  # the original file, median of the timings before and after the prefixes
    whole_ms_runs: list[float]
    segments: list[Segment] = field(default_factory=list)
    coverage: dict[str, Any] | None = None  # delegate coverage of the file (``shufflenet.export.formats.delegation``)

    @property
    def parts_ms(self) -> float:
        return float(sum(s.ms for s in self.segments))

    @property
    def sum_ratio(self) -> float:
        return self.parts_ms / self.whole_ms if self.whole_ms > 0 else float("nan")

    @property
    def consistent(self) -> bool:
        return abs(self.sum_ratio - 1.0) <= SUM_TOLERANCE

    def share(self, s: Segment) -> float | None:
        """The segment's share of the sum of the parts; None when it is within the noise."""
        return None if s.within_noise or self.parts_ms <= 0 else s.ms / self.parts_ms

    @property
    def noisy(self) -> list[Segment]:
        return [s for s in self.segments if s.within_noise]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for seg, sd in zip(self.segments, d["segments"], strict=True):
            sd.update(within_noise=seg.within_noise, share=self.share(seg))
        d.update(parts_ms=self.parts_ms, sum_ratio=self.sum_ratio, consistent=self.consistent,
                 within_noise=len(self.noisy))  # fmt: skip
        return d

    def rows(self) -> list[list[str]]:
        rows = [["ops", "PyTorch module", "op types", "ms", "+- ms (rounds)", "share"]]
        for s in self.segments:
            ops = ", ".join(f"{k}" + (f" x{v}" if v > 1 else "") for k, v in s.ops.items())
            share = self.share(s)
            span = f"{s.first}" if s.first == s.last else f"{s.first}-{s.last}"
            ms, pct = ("< noise", "< noise") if share is None else (f"{s.ms:.3f}", f"{share:.1%}")
            rows.append([span, s.module, ops, ms, f"{s.spread_ms:.3f}", pct])
        return rows

    def to_markdown(self) -> str:
        rows = self.rows()
        md = [
            f"Profile of `{self.path}`: {self.threads} thread(s), {self.clock} clock, {len(self.segments)} "
            f"segments ({self.granularity}) of {self.nodes} ops.",
            "",
            "| " + " | ".join(rows[0]) + " |",
            "|" + "|".join("---" for _ in rows[0]) + "|",
        ]
        md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        verdict = "within" if self.consistent else "OUTSIDE"
        md += [
            "",
            f"Sum of the parts {self.parts_ms:.3f} ms; whole file {self.whole_ms:.3f} ms; ratio {self.sum_ratio:.3f} "
            f"({verdict} 1 +- {SUM_TOLERANCE:.0%}).",
        ]
        if self.noisy:
            md.append(f"{len(self.noisy)} of {len(self.segments)} segments are within the noise (< noise: their "
                      "spread is at least their time); " + NOISE_ADVICE[self.clock])  # fmt: skip
        if self.coverage:
            from shufflenet.export.formats.delegation import coverage_cell

            md.append(f"XNNPACK coverage of the file: {coverage_cell(self.coverage)}")
        return "\n".join(md) + "\n"


# --- the graph --------------------------------------------------------------------------------------------------
def _load_model(path: Path) -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)


def _op_names(model: Any) -> list[str]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        out.append(names.get(builtin, "CUSTOM"))
    return out


def activations(model: Any) -> set[int]:
    """Tensors computed from the graph input; those computed from constants only (e.g. the DEQUANTIZE of fp16
    weights) are not activations."""
    sg = model.subgraphs[0]
    active = {int(t) for t in sg.inputs}
    for op in sg.operators:  # execution order is topological
        if any(int(t) in active for t in op.inputs if t >= 0):
            active.update(int(t) for t in op.outputs)
    return active


def live_sets(model: Any) -> list[list[int]]:
    """For each k: the activation tensors produced by ops 0..k (or graph inputs) that ops after k or the graph
    outputs still read."""
    sg = model.subgraphs[0]
    ops = sg.operators
    active = activations(model)
    last_use: dict[int, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t >= 0:
                last_use[int(t)] = i
    for t in sg.outputs:
        last_use[int(t)] = len(ops)
    born = {int(t): -1 for t in sg.inputs}
    for i, op in enumerate(ops):
        for t in op.outputs:
            born[int(t)] = i
    out = []
    for k in range(len(ops)):
        live = sorted(t for t in active if born.get(t, len(ops)) <= k and last_use.get(t, -1) > k)
        out.append(live)
    return out


def prefix_model(model: Any, k: int, outputs: list[int]) -> bytes:
    """The flatbuffer of ops 0..k with ``outputs`` as the graph outputs (signatures dropped: they name the
    original outputs)."""
    import copy

    import flatbuffers

    m = copy.copy(model)
    sg = copy.copy(model.subgraphs[0])
    sg.operators = model.subgraphs[0].operators[: k + 1]
    sg.outputs = list(outputs)
    m.subgraphs = [sg, *model.subgraphs[1:]]
    m.signatureDefs = []
    b = flatbuffers.Builder(1 << 20)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _shape(model: Any, tensor: int) -> list[int]:
    return [int(d) for d in model.subgraphs[0].tensors[tensor].shape]


def _unit_shapes(net: Any, units: list[str], hw: tuple[int, int]) -> list[list[int]]:
    """Each unit's output shape (NHWC, batch 1) when ``net`` runs on an ``hw`` input."""
    import torch

    modules = dict(net.named_modules())
    shapes: dict[str, list[int]] = {}
    hooks = [modules[u].register_forward_hook(lambda m, i, o, u=u: shapes.__setitem__(u, list(o.shape)))
             for u in units]  # fmt: skip
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, *hw))
    finally:
        for h in hooks:
            h.remove()
    return [[1, s[2], s[3], s[1]] for s in (shapes[u] for u in units)]


def _module_labels(model: Any, op_names: list[str], cuts: list[int], arch: str | None, name: str) -> list[str]:
    """PyTorch module names of the segments ending at ``cuts`` (unit granularity): "?" without ``arch``;
    ``ValueError`` (one line) when the file is not that variant (units, their output shapes, classes)."""
    if arch is None:
        return ["?"] * len(cuts)
    from shufflenet.model.registry import UnknownVariantError, get_variant

    try:
        variant = get_variant(arch)
    except UnknownVariantError as e:
        raise ValueError(f"--arch: {e}") from None
    net = variant.build().eval()
    units = [n for n, m in net.named_modules() if type(m).__name__ == "ShuffleV1Block"]
    ends = [c for c in cuts if op_names[c] in UNIT_END_OPS]
    sg = model.subgraphs[0]
    _, h, w, _ = _shape(model, int(sg.inputs[0]))
    fix = "pass the variant the file was exported from (shufflenet-info lists them), or leave --arch out"
    if len(ends) != len(units) or len(cuts) != len(units) + 2 or cuts[1:-1] != ends:
        raise ValueError(f"--arch {arch} does not match {name}: the file has {len(ends)} units, {arch} has "
                         f"{len(units)}; {fix}")  # fmt: skip
    try:
        expected = _unit_shapes(net, units, (h, w))
    except RuntimeError as e:  # e.g. an input too small for this variant's strides
        raise ValueError(f"--arch {arch} does not match {name}: {arch} cannot run on its {h}x{w} input "
                         f"({str(e).splitlines()[0][:120]}); {fix}") from None  # fmt: skip
    for unit, c, want in zip(units, ends, expected, strict=True):
        got = _shape(model, int(sg.operators[c].outputs[0]))
        if got[1:] != want[1:]:
            fmt = lambda s: "x".join(map(str, s[1:]))  # noqa: E731
            raise ValueError(f"--arch {arch} does not match {name}: unit {unit} outputs {fmt(got)} (HxWxC) in the "
                             f"file, {fmt(want)} in {arch}; {fix}")  # fmt: skip
    classes = _shape(model, int(sg.outputs[0]))[-1]
    if classes != variant.num_classes:
        raise ValueError(f"--arch {arch} does not match {name}: the file has {classes} classes, {arch} has "
                         f"{variant.num_classes}; {fix}")  # fmt: skip
    # The stem is named after the ops the file holds in it, not after what the variant is meant to have.
    stem = "first_conv + maxpool" if "MAX_POOL_2D" in op_names[: cuts[0] + 1] else "first_conv"
    return [stem, *units, "mean + classifier.0"]


def choose_cuts(model: Any, granularity: str) -> list[int]:
    """Last op of each segment. ``unit``: the end of the stem, of every unit and of the head."""
    n = len(model.subgraphs[0].operators)
    if granularity == "op":
        return list(range(n))
    if granularity != "unit":
        raise ValueError(f"granularity must be unit or op, got {granularity!r}")
    op_names = _op_names(model)
    live = live_sets(model)
    active = activations(model)
    ops = model.subgraphs[0].operators
    # A chain point: one live activation, right after an op on activations (constant-only ops join the next cut).
    chain = [k for k in range(n) if len(live[k]) <= 1 and any(int(t) in active for t in ops[k].outputs)]
    ends = [k for k in chain if op_names[k] in UNIT_END_OPS]
    if not ends:
        return sorted(set(chain) | {n - 1})
    stem = [k for k in chain if k < ends[0]]
    return sorted({*stem[-1:], *ends, n - 1})


def default_clock(threads: int) -> str:
    """The thread's CPU time for one thread (steadier on a busy machine), the wall clock for more."""
    return "cpu" if threads == 1 else "wall"


# --- timing -------------------------------------------------------------------------------------------------
Timer = Callable[[Path], float]


def _litert_timer(threads: int, warmup: int, runs: int, repeats: int, clock: str, seed: int) -> Timer:
    def time_tflite(path: Path) -> float:
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path), num_threads=threads)
        interp.allocate_tensors()
        d = interp.get_input_details()[0]
        x = make_input({"shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name}, seed)

        def run() -> None:
            interp.set_tensor(d["index"], x)
            interp.invoke()

        r = measure(run, warmup=warmup, runs=runs, repeats=repeats, clock=clock, threads=threads, target="host",
                    runtime="litert", format="tflite", precision="", path=path.name, delegate="xnnpack")  # fmt: skip
        return float(r.median_ms)

    return time_tflite


def profile_tflite(
    path: Path,
    *,
    arch: str | None = None,
    threads: int = 1,
    granularity: str = "unit",
    warmup: int = 5,
    runs: int = 30,
    repeats: int = 2,
    rounds: int = 3,
    clock: str | None = None,
    seed: int = 0,
    timer: Timer | None = None,
    say: Callable[[str], None] | None = None,
) -> Profile:
    """Time the prefix models of ``path`` and return the per-segment latencies (see the module docstring).
    ``clock``: None picks ``default_clock(threads)``. A file that is not a loadable .tflite model, or an ``arch``
    it is not, raises ``ValueError`` (one line naming the file) before any timing."""
    from shufflenet.export.formats.delegation import tflite_coverage
    from shufflenet.export.runtimes.litert import check_tflite_file

    clock = clock or default_clock(threads)
    if clock == "cpu" and threads != 1:
        raise ValueError("--clock cpu times one thread's CPU time: use it with --threads 1")
    say = say or (lambda m: log.info("%s", m))
    path = Path(path)
    check_tflite_file(path)
    model = _load_model(path)
    op_names = _op_names(model)
    live = live_sets(model)
    cuts = choose_cuts(model, granularity)
    time_tflite = timer or _litert_timer(threads, warmup, runs, repeats, clock, seed)
    unit_cuts = cuts if granularity == "unit" else choose_cuts(model, "unit")
    unit_labels = _module_labels(model, op_names, unit_cuts, arch, path.name)
    owner, start = {}, 0
    for c, lab in zip(unit_cuts, unit_labels, strict=True):
        owner.update({i: lab for i in range(start, c + 1)})
        start = c + 1
    labels = [owner.get(c, "?") for c in cuts]
    whole: list[float] = []
    times: dict[int, list[float]] = {c: [] for c in cuts}
    with tempfile.TemporaryDirectory(prefix="shufflenet-profile-") as tmp:
        files = {}
        for c in cuts:
            outputs = live[c] if live[c] else [int(t) for t in model.subgraphs[0].outputs]
            files[c] = Path(tmp) / f"prefix_{c:04d}.tflite"
            files[c].write_bytes(prefix_model(model, c, outputs))
        # Several rounds over all prefixes, the whole file first and last in each: a slow spell of the machine
        # lands in one round of every prefix, not in all timings of one prefix; each prefix keeps its median.
        for r in range(rounds):
            whole.append(time_tflite(path))
            for c in cuts:
                times[c].append(time_tflite(files[c]))
            whole.append(time_tflite(path))
            say(f"profile {path.name}: round {r + 1}/{rounds} of {len(cuts)} prefixes timed")
    segments = []
    prev_ms, prev_cut, prev_half = 0.0, -1, 0.0
    for c, label in zip(cuts, labels, strict=True):
        ms = float(np.median(times[c]))
        half = float(np.ptp(times[c])) / 2
        ops: dict[str, int] = {}
        for o in op_names[prev_cut + 1 : c + 1]:
            ops[o] = ops.get(o, 0) + 1
        segments.append(Segment(prev_cut + 1, c, label, ops, ms - prev_ms, ms, half + prev_half))
        prev_ms, prev_cut, prev_half = ms, c, half
    cov = tflite_coverage(path, threads=threads, gpu=False).to_dict()
    return Profile(path=path.name, threads=threads, clock=clock, granularity=granularity, nodes=len(op_names),
                   whole_ms=float(np.median(whole)), whole_ms_runs=whole, segments=segments,
                   coverage=cov)  # fmt: skip


def profile_export(
    artifacts: Path,
    files: list[str] | None = None,
    say: Callable[[str], None] | None = None,
    arch: str | None = None,
    **kwargs: Any,
) -> list[Profile]:
    """Profile every .tflite file of an export folder (or ``files`` of it), each checked against the manifest
    (and, given ``arch``, refused unless the manifest names that variant)."""
    from shufflenet.export.manifest import is_cpu_tflite, read_manifest, verify_artifact
    from shufflenet.export.runtimes.litert import check_tflite_file

    manifest = read_manifest(artifacts)
    if arch is not None and arch != manifest["arch"]:
        raise ValueError(f"--arch {arch} does not match {artifacts}: its manifest names {manifest['arch']}; leave "
                         "--arch out (an export folder's manifest names its variant)")  # fmt: skip
    entries = [e for e in manifest["artifacts"] if is_cpu_tflite(e)]
    if files:
        missing = [f for f in files if f not in {e["path"] for e in entries}]
        if missing:
            raise ValueError(f"not a .tflite file of {artifacts}/manifest.json: {', '.join(missing)}")
        entries = [e for e in entries if e["path"] in files]
    if not entries:
        raise ValueError(f"{artifacts} holds no .tflite file; export with --format tflite")
    paths = [verify_artifact(artifacts, e) for e in entries]  # every hash before the long part
    for path in paths:
        check_tflite_file(path)
    return [profile_tflite(p, arch=manifest["arch"], say=say, **kwargs) for p in paths]


def profiles_markdown(profiles: list[Profile]) -> str:
    return "\n".join(p.to_markdown() for p in profiles)
