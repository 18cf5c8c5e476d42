"""Where an int8 TFLite file drifts from its float32 sibling, layer by layer.

Both ``.tflite`` files of an export come from the same TensorFlow graph, so their ops correspond and their
activation tensors carry the same names. Each file runs with every intermediate tensor kept
(``experimental_preserve_all_tensors``; default delegates off, since XNNPACK would fuse intermediates away)
on the same images, each through its own declared input preprocessing and quantisation. Every int8 op output
is dequantised and compared with the float32 op output of the same name: PSNR (dB, peak = max |float|) and
cosine, in network (execution) order. ``drop_db`` is how much PSNR an op loses against the worst of its
inputs (both capped at ``PSNR_CEILING_DB``); the first op losing at least ``max_drop_db`` is marked: the point
where error enters, the layer to keep in higher precision or recalibrate. Convolutions are also named by their
PyTorch module, found through the simplified ONNX file (same float32 weights; ONNX node names are the module
paths).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.benchmarks.parity.parity_defaults import DEFAULT_MAX_DROP_DB
from shufflenet.export.manifest import is_cpu_tflite
from shufflenet.export.metrics import cosine, psnr_db
from shufflenet.export.parity import ParityError
from shufflenet.model.cli_common import text_table
from shufflenet.model.files import json_safe

log = logging.getLogger(__name__)

# Losses are measured from at most this PSNR: an int8 tensor's own rounding noise sits near 6.02 * 8 + 1.76 = 50 dB
# for a full-scale signal, so a layer fed an exact input (the quantised image, when the input scale is 1) is judged
# against what int8 can hold, not against infinity.
PSNR_CEILING_DB = 60.0
NARROW_RANGE = 0.1  # a flagged op whose values use less of its int8 output grid than this: say so
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass
class LayerParity:
    """One int8 op's output against the float32 file's output of the same op."""

    index: int  # position in the int8 file's execution order
    op: str
    tensor: str
    module: str | None  # the PyTorch module (convolutions), when the ONNX file identifies it
    shape: list[int]
    psnr_db: float
    cosine: float
    max_abs: float
    input_psnr_db: float  # the worst of the op's activation inputs
    drop_db: float  # input_psnr_db - psnr_db, both capped at PSNR_CEILING_DB
    range_used: float | None  # span of the float values / span of the int8 output grid (scale x 255)
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("psnr_db", "input_psnr_db", "drop_db"):
            d[k] = json_safe(d[k])
        return d


@dataclass
class PerLayerReport:
    float_path: str
    int8_path: str
    images: int
    max_drop_db: float
    input_psnr_db: float  # the int8 file's quantised input against the float32 input
    layers: list[LayerParity] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # int8 op outputs with no float32 counterpart

    @property
    def first_flagged(self) -> LayerParity | None:
        return next((layer for layer in self.layers if layer.flagged), None)

    @property
    def worst_drop(self) -> LayerParity | None:
        return max(self.layers, key=lambda layer: layer.drop_db, default=None)

    def summary(self) -> str:
        first = self.first_flagged
        if first is None:
            worst = self.worst_drop
            tail = f"; largest loss {worst.drop_db:.1f} dB at #{worst.index} {_label(worst)}" if worst else ""
            return f"no op loses >= {self.max_drop_db:g} dB against its inputs{tail}"
        why = ""
        if first.range_used is not None and first.range_used < NARROW_RANGE:
            why = (
                f"; its float values span only {first.range_used * 100:.0f} % of its int8 output range "
                "(a calibration range too wide for them)"
            )
        return (
            f"error enters at #{first.index} {first.op} {_label(first)}: PSNR {_db(first.input_psnr_db)} -> "
            f"{_db(first.psnr_db)} dB (loses {first.drop_db:.1f} dB >= {self.max_drop_db:g}){why}; keep it in "
            "higher precision or recalibrate"
        )

    def to_dict(self) -> dict[str, Any]:
        first = self.first_flagged
        return {
            "float_path": self.float_path,
            "int8_path": self.int8_path,
            "images": self.images,
            "max_drop_db": self.max_drop_db,
            "input_psnr_db": json_safe(self.input_psnr_db),
            "first_flagged": None if first is None else first.index,
            "summary": self.summary(),
            "layers": [layer.to_dict() for layer in self.layers],
            "unmatched": list(self.unmatched),
        }

    def _rows(self) -> list[list[str]]:
        rows = [["#", "op", "PyTorch module / tensor", "shape", "PSNR dB", "cosine", "loss dB", "range used", ""]]
        for layer in self.layers:
            used = "-" if layer.range_used is None else f"{layer.range_used * 100:.0f} %"
            rows.append([str(layer.index), layer.op, _label(layer), "x".join(map(str, layer.shape)),
                         _db(layer.psnr_db), f"{layer.cosine:.5f}", f"{layer.drop_db:.1f}", used,
                         "<-- error enters here" if layer.flagged else ""])  # fmt: skip
        return rows

    def to_text(self) -> str:
        rows = self._rows()
        lines = text_table(rows)
        head = (
            f"per-layer: {self.int8_path} vs {self.float_path} on {self.images} images "
            f"(quantised input PSNR {_db(self.input_psnr_db)} dB)"
        )
        return "\n".join([head, *lines, self.summary()])

    def to_markdown(self) -> str:
        rows = self._rows()
        md = [f"## Per layer: `{self.int8_path}` vs `{self.float_path}`", "",
              f"{self.images} images; quantised input PSNR {_db(self.input_psnr_db)} dB.", ""]  # fmt: skip
        md.append("| " + " | ".join(rows[0]) + " |")
        md.append("|" + "|".join("---" for _ in rows[0]) + "|")
        md += ["| " + " | ".join(rows_c.replace("|", "\\|") for rows_c in r) + " |" for r in rows[1:]]
        md += ["", f"**{self.summary()}**"]
        return "\n".join(md)


def _db(x: float) -> str:
    return "inf" if math.isinf(x) and x > 0 else f"{x:.1f}"


def _label(layer: LayerParity) -> str:
    return layer.module or layer.tensor


def tflite_pair(manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The float32 and int8 TFLite entries of a manifest; ParityError naming the fix when either is missing."""
    tfl = {e["precision"]: e for e in manifest["artifacts"] if is_cpu_tflite(e)}
    missing = [p for p in ("int8", "fp32") if p not in tfl]
    if missing:
        raise ParityError(
            f"--per-layer compares the int8 TFLite file with the float32 one, but the export has no TFLite "
            f"{' or '.join(missing)} file; re-export with --format tflite --precision fp32,int8"
        )
    return tfl["fp32"], tfl["int8"]


@dataclass
class _Graph:
    """Execution-order ops of a .tflite file: (op name, output tensor index, activation input indices)."""

    interp: Any
    ops: list[tuple[str, int, list[int]]]
    tensors: dict[int, dict[str, Any]]
    input_index: int
    weights_of: dict[int, bytes]  # op output tensor -> fingerprint of its float weights (convs of a float file)


def _load_graph(path: Path) -> _Graph:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    interp.allocate_tensors()
    tensors = {int(t["index"]): t for t in interp.get_tensor_details()}
    produced: set[int] = set()
    ops, weights_of = [], {}
    input_index = int(interp.get_input_details()[0]["index"])
    raw_ops = sorted(interp._get_ops_details(), key=lambda o: int(o["index"]))
    for o in raw_ops:
        outs = [int(i) for i in o["outputs"] if i >= 0]
        if not outs:
            continue
        acts = [int(i) for i in o["inputs"] if i >= 0 and (int(i) in produced or int(i) == input_index)]
        ops.append((o["op_name"], outs[0], acts))
        produced.update(outs)
        ins = [int(i) for i in o["inputs"]]
        if o["op_name"] in CONV_OPS and len(ins) > 1 and ins[1] >= 0:
            if np.dtype(tensors[ins[1]]["dtype"]) == np.float32:
                weights_of[outs[0]] = _fingerprint(interp.get_tensor(ins[1]))
    return _Graph(interp, ops, tensors, input_index, weights_of)


def _fingerprint(weights: np.ndarray) -> bytes:
    """Layout-free identity of a weight tensor: its sorted float32 values (ONNX OIHW, TFLite OHWI or
    1HW(C*M) and a MatMul's transpose hold the same numbers)."""
    return np.sort(np.asarray(weights, np.float32).ravel()).tobytes()


def _dequant(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zp = detail["quantization"]
    if value.dtype.kind in "iu" and scale:
        return (value.astype(np.float32) - zp) * np.float32(scale)
    return value.astype(np.float32)


def _match(f32: _Graph, i8: _Graph) -> dict[int, int]:
    """int8 op output tensor -> float32 op output tensor: by tensor name and shape, then by aligning the
    remaining op sequences (op type and shape)."""
    by_name = {}
    for _, t, _ in f32.ops:
        by_name.setdefault(f32.tensors[t]["name"], t)
    out: dict[int, int] = {}
    for _, t, _ in i8.ops:
        ft = by_name.get(i8.tensors[t]["name"])
        if ft is not None and list(f32.tensors[ft]["shape"]) == list(i8.tensors[t]["shape"]):
            out[t] = ft
    rest_f = [(op, t) for op, t, _ in f32.ops if t not in set(out.values())]
    rest_i = [(op, t) for op, t, _ in i8.ops if t not in out]
    if rest_f and rest_i:

        def key(g: _Graph, op: str, t: int) -> str:
            # The int8 file writes each count-include-pad average pool as a depthwise conv (same mean).
            op = "DEPTHWISE_CONV_2D" if op == "AVERAGE_POOL_2D" else op
            return f"{op}:{list(g.tensors[t]['shape'])}"

        sm = SequenceMatcher(a=[key(f32, *x) for x in rest_f], b=[key(i8, *x) for x in rest_i], autojunk=False)
        for block in sm.get_matching_blocks():
            for k in range(block.size):
                out[rest_i[block.b + k][1]] = rest_f[block.a + k][1]
    return out


def module_path(node_name: str) -> str:
    """PyTorch module path of an ONNX node name from ``torch.onnx.export``: the scopes nest, each child of a
    Sequential named ``<parent>.<index>`` (``/features/features.3/branch_main_1/branch_main_1.0/Conv`` ->
    ``features.3.branch_main_1.0``)."""
    scopes = [s for s in re.sub(r"/[A-Za-z]+(_\d+)?$", "", node_name).split("/") if s]
    path: list[str] = []
    for s in scopes:
        if path and s.startswith(path[-1] + "."):
            path[-1] = s
        else:
            path.append(s)
    return ".".join(path) or node_name


def onnx_conv_modules(onnx_path: Path) -> dict[bytes, list[str]]:
    """Weight fingerprint -> PyTorch module paths of the Conv/Gemm/MatMul nodes of an ONNX file exported from
    PyTorch, whose node names are the module paths (``/features/features.3/branch_main_1/branch_main_1.0/Conv``).
    The simplified file holds the batch-norm-folded weights the TFLite files were converted from."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {i.name: i for i in model.graph.initializer}
    out: dict[bytes, list[str]] = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and len(node.input) > 1 and node.input[1] in inits:
            key = _fingerprint(numpy_helper.to_array(inits[node.input[1]]))
            out.setdefault(key, []).append(module_path(node.name))
        elif node.op_type == "AveragePool":  # no weights to match: listed in network order under one key
            out.setdefault(b"AveragePool", []).append(module_path(node.name))
    return out


def _module_names(f32: _Graph, onnx_path: Path | None) -> dict[int, str]:
    """float32 conv output tensor -> PyTorch module, matched on identical weights."""
    if onnx_path is None or not f32.weights_of:
        return {}
    try:
        convs = onnx_conv_modules(onnx_path)
    except Exception as e:  # the names are a convenience: the analysis stands without them
        log.warning("cannot read %s for module names: %s", onnx_path, e)
        return {}
    names = {}
    for t, key in f32.weights_of.items():
        modules = convs.get(key)
        if modules:
            names[t] = modules.pop(0)
    # Average pools have no weights: the k-th AVERAGE_POOL_2D of the float32 file is the k-th ONNX AveragePool
    # (both in network order). The int8 file computes them as depthwise convs paired with these ops.
    pools = [t for op, t, _ in f32.ops if op == "AVERAGE_POOL_2D"]
    onnx_pools = convs.get(b"AveragePool", [])
    if len(pools) == len(onnx_pools):
        names.update(zip(pools, onnx_pools, strict=True))
    return names


def per_layer_parity(
    artifacts_dir: Path,
    manifest: dict[str, Any],
    images: np.ndarray,
    max_drop_db: float = DEFAULT_MAX_DROP_DB,
) -> PerLayerReport:
    """Compare every op output of the int8 TFLite file with the float32 file's on ``images`` (resized and
    centre-cropped uint8 RGB, N x H x W x 3)."""
    from shufflenet.export.runtimes.loader import load_runner

    d = Path(artifacts_dir)
    fe, ie = tflite_pair(manifest)
    prep = manifest["preprocessing"]
    f_in = load_runner(d, {**fe, "preprocessing": prep}).prepare(images)
    i_in = load_runner(d, {**ie, "preprocessing": prep}).prepare(images)
    f32, i8 = _load_graph(d / fe["path"]), _load_graph(d / ie["path"])
    pairs = _match(f32, i8)
    sim = next(
        (e for e in manifest["artifacts"] if e.get("format") == "onnx" and e.get("variant") == "simplified"), None
    )
    modules = _module_names(f32, d / sim["path"] if sim else None)

    wanted = [(t, pairs[t]) for _, t, _ in i8.ops if t in pairs]
    acc_f: dict[int, list[np.ndarray]] = {t: [] for t, _ in wanted}
    acc_i: dict[int, list[np.ndarray]] = {t: [] for t, _ in wanted}
    in_f, in_i = [], []
    for k in range(len(images)):
        f32.interp.set_tensor(f32.input_index, f_in[k : k + 1])
        f32.interp.invoke()
        i8.interp.set_tensor(i8.input_index, i_in[k : k + 1])
        i8.interp.invoke()
        in_f.append(f_in[k : k + 1].astype(np.float32))
        in_i.append(_dequant(i_in[k : k + 1], i8.tensors[i8.input_index]))
        for ti, tf in wanted:
            acc_f[ti].append(np.asarray(f32.interp.get_tensor(tf), np.float32).copy())
            acc_i[ti].append(_dequant(np.asarray(i8.interp.get_tensor(ti)), i8.tensors[ti]))

    psnr_of: dict[int, float] = {}
    ref_in, q_in = np.concatenate(in_f), np.concatenate(in_i)
    psnr_of[i8.input_index] = psnr_db(ref_in, q_in)
    layers = []
    for idx, (op, t, acts) in enumerate(i8.ops):
        if t not in pairs:
            continue
        ref, got = np.concatenate(acc_f[t]), np.concatenate(acc_i[t])
        p = psnr_db(ref, got)
        scale = i8.tensors[t]["quantization"][0]
        used = float(ref.max() - ref.min()) / (scale * 255) if scale else None
        psnr_of[t] = p
        known = [psnr_of[a] for a in acts if a in psnr_of]
        worst_in = min(known) if known else psnr_of[i8.input_index]
        drop = min(worst_in, PSNR_CEILING_DB) - min(p, PSNR_CEILING_DB)
        layers.append(
            LayerParity(
                index=idx,
                op=op,
                tensor=i8.tensors[t]["name"],
                module=modules.get(pairs[t]),
                shape=[int(s) for s in i8.tensors[t]["shape"]],
                psnr_db=p,
                cosine=cosine(ref.reshape(len(images), -1), got.reshape(len(images), -1)),
                max_abs=float(np.max(np.abs(ref - got))),
                input_psnr_db=worst_in,
                drop_db=float(drop),
                range_used=used,
            )
        )
    first = next((layer for layer in layers if layer.drop_db >= max_drop_db), None)
    if first is not None:
        first.flagged = True
    unmatched = [i8.tensors[t]["name"] for _, t, _ in i8.ops if t not in pairs]
    if unmatched:
        log.warning("%d int8 op outputs have no float32 counterpart (first %s)", len(unmatched), unmatched[0])
    return PerLayerReport(
        float_path=fe["path"],
        int8_path=ie["path"],
        images=len(images),
        max_drop_db=max_drop_db,
        input_psnr_db=psnr_of[i8.input_index],
        layers=layers,
        unmatched=unmatched,
    )
