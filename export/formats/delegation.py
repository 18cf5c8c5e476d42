"""Delegate coverage of a .tflite file: what XNNPACK took, in how many partitions, and what stayed outside.

Read from the LiteRT interpreter after delegation, not guessed from the op list: once ``allocate_tensors()`` has
applied the default XNNPACK delegate, ``_get_ops_details()`` lists the model's own nodes followed by one
``DELEGATE`` node per partition. A partition's nodes are found by walking back from the ``DELEGATE`` node's
output tensors through their producers, stopping at the ``DELEGATE`` node's input tensors (the partition reads
every outside tensor, constants included, through those inputs). Every model node that no partition reaches
runs on LiteRT's builtin kernels, each hand-over between the two costing a copy and a synchronisation.

GPU delegate compatibility comes from TensorFlow's own model analyzer (``tf.lite.experimental.Analyzer``), an
offline check of the op list against the GPU delegate's rules; it cannot run the GPU delegate here.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class DelegateCoverage:
    """XNNPACK coverage of one interpreter (one thread count; the partitioning does not depend on it)."""

    delegate: str
    nodes: int  # the model's own nodes (operators of the main subgraph)
    delegated_nodes: int
    partitions: int
    partition_sizes: list[int]
    outside_ops: dict[str, int]  # op type -> nodes left to the builtin kernels
    gpu_compatible: bool | None = None  # None: the analyzer is not available (TensorFlow not installed)
    gpu_issues: list[str] = field(default_factory=list)

    @property
    def fully_delegated(self) -> bool:
        return self.partitions == 1 and self.delegated_nodes == self.nodes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """e.g. "XNNPACK 127/127 nodes, 1 partition" or "XNNPACK 124/127 nodes, 4 partitions; outside: ..."."""
        s = f"{self.delegate} {self.delegated_nodes}/{self.nodes} nodes, {self.partitions} partition"
        s += "s" if self.partitions != 1 else ""
        if self.outside_ops:
            s += "; outside: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.outside_ops.items()))
        if self.gpu_compatible is not None:
            s += "; GPU: " + ("compatible" if self.gpu_compatible else f"{len(self.gpu_issues)} issues")
        return s


def coverage_from_ops(ops: list[dict[str, Any]], delegate: str = "XNNPACK") -> DelegateCoverage:
    """Coverage from an interpreter's ``_get_ops_details()`` after ``allocate_tensors()``."""
    model_ops = [o for o in ops if o["op_name"] != "DELEGATE"]
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    producer = {int(t): o["index"] for o in model_ops for t in o["outputs"]}
    by_index = {o["index"]: o for o in model_ops}
    taken: set[int] = set()
    sizes = []
    for d in delegates:
        stop = {int(t) for t in d["inputs"]}
        todo = [int(t) for t in d["outputs"]]
        part: set[int] = set()
        while todo:
            t = todo.pop()
            if t in stop or t not in producer or producer[t] in part:
                continue
            part.add(producer[t])
            todo += [int(i) for i in by_index[producer[t]]["inputs"] if i >= 0]
        if part & taken:
            raise ValueError("two delegate partitions claim the same node: the interpreter's node list is not usable")
        taken |= part
        sizes.append(len(part))
    outside: dict[str, int] = {}
    for o in model_ops:
        if o["index"] not in taken:
            outside[o["op_name"]] = outside.get(o["op_name"], 0) + 1
    return DelegateCoverage(
        delegate=delegate,
        nodes=len(model_ops),
        delegated_nodes=len(taken),
        partitions=len(delegates),
        partition_sizes=sizes,
        outside_ops=dict(sorted(outside.items())),
    )


def interpreter_coverage(interpreter: Any) -> DelegateCoverage:
    """Coverage of an interpreter whose tensors are allocated (the delegate is applied by then)."""
    return coverage_from_ops(interpreter._get_ops_details())


def gpu_compatibility(path: Path) -> tuple[bool | None, list[str]]:
    """TensorFlow's analyzer verdict for the GPU delegate: (compatible, issue lines); (None, []) without TF."""
    try:
        import tensorflow as tf
    except ImportError:
        return None, []
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    text = buf.getvalue()
    issues = [ln.strip() for ln in text.splitlines() if "COMPATIBILITY WARNING" in ln.upper()]
    return ("looks compatible with GPU delegate" in text and not issues), issues


def tflite_coverage(path: Path, threads: int = 1, gpu: bool = True) -> DelegateCoverage:
    """Load ``path`` in LiteRT's interpreter with its default XNNPACK delegate and read the coverage."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    cov = interpreter_coverage(interp)
    if gpu:
        cov.gpu_compatible, cov.gpu_issues = gpu_compatibility(path)
    return cov


def coverage_cell(cov: dict[str, Any] | None) -> str:
    """A short table cell from a manifest's ``delegate_coverage`` dict: "127/127, 1 part." or "-"."""
    if not cov:
        return "-"
    s = f"{cov['delegated_nodes']}/{cov['nodes']}, {cov['partitions']} part."
    if cov.get("outside_ops"):
        s += " (out: " + ", ".join(f"{k} x{v}" for k, v in cov["outside_ops"].items()) + ")"
    if cov.get("gpu_compatible") is not None:
        s += ", GPU ok" if cov["gpu_compatible"] else ", GPU no"
    calls = cov.get("file")  # a .pte file's own plan: its delegate calls and portable kernel calls
    if calls:
        s += f"; file: {calls['delegate_calls']} delegate call(s), {calls['kernel_calls']} portable kernel(s)"
    return s
