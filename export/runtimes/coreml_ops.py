"""NumPy kernels for the Core ML ML Program (MIL) ops a converted ShuffleNet uses.

Every kernel follows the MIL op definitions of coremltools 9.0 (``coremltools/converters/mil/mil/ops/defs``):
NCHW layout, ``pad_type`` in {valid, custom, same, same_lower}, ``pad = [before_0, after_0, before_1, ...]``.
Kernels compute in float32 whatever the storage type: the evaluator rounds every op's result to the dtype the
program declares for it, so an fp16 program is emulated as fp32 arithmetic with fp16 storage between ops.

The kernels are plain functions of NumPy arrays so they can be unit-tested without coremltools; ``OP_HANDLERS``
binds them to MIL op types through an ``args`` accessor supplied by the evaluator.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = [
    "OP_HANDLERS",
    "UnsupportedOpError",
    "as_dtype",
    "avg_pool",
    "batch_norm",
    "concat",
    "conv",
    "linear",
    "matmul",
    "max_pool",
    "pool_output_size",
    "reshape",
    "softmax",
    "spatial_pads",
]


class UnsupportedOpError(ValueError):
    """An op (or an op attribute value) the NumPy evaluator does not implement; never skipped silently."""


# MIL dtype strings (cast's ``dtype`` attribute) to NumPy dtypes.
MIL_DTYPES: dict[str, type[np.generic]] = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "bool": np.bool_,
}


# Below this many elements NumPy's own conversion is as quick as handing the array to torch.
_TORCH_CONVERT_MIN = 4096


def as_dtype(x: Any, dtype: type[np.generic]) -> np.ndarray:
    """``np.asarray(x).astype(dtype, copy=False)``, with float32 <-> float16 done by torch where that is quicker.

    An fp16 program converts every op's result to fp16 and back, and NumPy's conversions are scalar code: about
    14x slower than torch's vectorised (F16C / AVX-512) ones on x86, most of an fp16 program's evaluation time.
    Both round to nearest-even and keep inf, NaN and subnormals, so the bits are the same
    (``tests/export/runtimes/test_coreml_eval.py`` compares them over every float16 value).
    """
    a = np.asarray(x)
    target = np.dtype(dtype)
    if a.dtype == target:
        return a
    pair = (a.dtype, target)
    if a.size >= _TORCH_CONVERT_MIN and pair in _TORCH_PAIRS and a.flags.c_contiguous:
        import torch

        # from_numpy shares the memory and wants it writable; the conversion makes a new array either way.
        return torch.from_numpy(a if a.flags.writeable else a.copy()).to(getattr(torch, _TORCH_PAIRS[pair])).numpy()
    return a.astype(target)


_TORCH_PAIRS = {
    (np.dtype(np.float32), np.dtype(np.float16)): "float16",
    (np.dtype(np.float16), np.dtype(np.float32)): "float32",
}


def _f32(x: Any) -> np.ndarray:
    """Compute type: fp16 storage is widened to fp32 (exact), other floats kept, ints left alone."""
    a = np.asarray(x)
    if a.dtype == np.float16:
        return as_dtype(a, np.float32)
    return a


# --------------------------------------------------------------------------------------------- spatial helpers


def spatial_pads(
    pad_type: str,
    pad: Sequence[int] | None,
    in_sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[tuple[int, int]]:
    """(before, after) padding per spatial dim, as coremltools' ``aggregated_pad`` defines each ``pad_type``."""
    n = len(in_sizes)
    pad_type = pad_type.lower()
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type == "custom":
        if pad is None or len(pad) != 2 * n:
            raise ValueError(f"custom padding needs {2 * n} values, got {pad}")
        return [(int(pad[2 * d]), int(pad[2 * d + 1])) for d in range(n)]
    if pad_type in ("same", "same_lower"):
        pads = []
        for i, k, s, dil in zip(in_sizes, kernel, strides, dilations, strict=True):
            k_eff = (k - 1) * dil + 1
            total = max(0, s * math.ceil(i / s) - i + k_eff - s)
            small, big = total // 2, total - total // 2
            # "same" puts the odd extra row/column after (bottom/right); "same_lower" puts it before.
            pads.append((small, big) if pad_type == "same" else (big, small))
        return pads
    raise UnsupportedOpError(f"pad_type {pad_type!r} is not supported")


def pool_output_size(in_size: int, kernel: int, stride: int, before: int, after: int, ceil_mode: bool) -> int:
    """Output length of one pooled dim, exactly as MIL's ``spatial_dimensions_out_shape`` computes it."""
    if not ceil_mode:
        return (in_size + before + after - kernel) // stride + 1
    out = (in_size + before + after - kernel + stride - 1) // stride + 1
    # As in PyTorch: the last window must start inside the input or its left padding.
    if (out - 1) * stride >= in_size + before and (before > 0 or after > 0):
        out -= 1
    return out


def _tap_slices(taps: Sequence[int], dilations: Sequence[int], strides: Sequence[int], out: Sequence[int]) -> tuple:
    """Slices picking, for one kernel offset, the input element every output position reads."""
    return tuple(
        slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(taps, dilations, strides, out, strict=True)
    )


# ------------------------------------------------------------------------------------------------------ kernels


def conv(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    strides: Sequence[int] | None = None,
    pad_type: str = "valid",
    pad: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    groups: int = 1,
) -> np.ndarray:
    """MIL ``conv``: x [N, C_in, *D], weight [C_out, C_in/groups, *K], any number of spatial dims.

    No loop over pixels: a depthwise conv (one input channel per group) is a broadcast multiply-add per kernel
    offset (9 for 3x3); any other conv is im2col plus one matmul batched over the groups.
    """
    x = _f32(x)
    weight = _f32(weight)
    n, c_in = x.shape[:2]
    spatial = x.shape[2:]
    c_out, cg = weight.shape[:2]
    kernel = weight.shape[2:]
    nd = len(spatial)
    strides = [1] * nd if strides is None else [int(s) for s in strides]
    dilations = [1] * nd if dilations is None else [int(d) for d in dilations]
    groups = int(groups)
    if c_in != cg * groups or c_out % groups:
        raise ValueError(f"conv: input channels {c_in}, weight {weight.shape} and groups {groups} do not agree")
    og = c_out // groups
    pads = spatial_pads(pad_type, pad, spatial, kernel, strides, dilations)
    if any(p for pair in pads for p in pair):
        x = np.pad(x, [(0, 0), (0, 0), *pads])
    padded = x.shape[2:]
    out_sizes = [(p - (k - 1) * d - 1) // s + 1 for p, k, d, s in zip(padded, kernel, dilations, strides, strict=True)]
    if min(out_sizes) <= 0:
        raise ValueError(f"conv: empty output {out_sizes} for input {spatial}, kernel {kernel}")
    xg = x.reshape(n, groups, cg, *padded)
    wg = weight.reshape(groups, og, cg, *kernel)
    npix = math.prod(out_sizes)
    tap_list = list(itertools.product(*(range(k) for k in kernel)))

    def tap(taps: tuple[int, ...]) -> np.ndarray:  # [n, groups, cg, *out]: what each output reads at one offset
        return xg[(slice(None),) * 3 + _tap_slices(taps, dilations, strides, out_sizes)]

    if cg == 1:
        # Depthwise (or channel-multiplier) conv: a broadcast multiply-add per kernel offset.
        out = np.zeros((n, groups, og, *out_sizes), dtype=np.float32)
        for taps in tap_list:
            out += wg[(slice(None),) * 3 + taps].reshape(1, groups, og, *([1] * nd)) * tap(taps)
    else:
        # im2col: one batched matmul over all groups. Columns ordered (cg, taps) to match the weight layout.
        cols = tap(tap_list[0]) if len(tap_list) == 1 else np.stack([tap(t) for t in tap_list], axis=3)
        ck = cg * len(tap_list)
        out = np.matmul(wg.reshape(groups, og, ck), cols.reshape(n, groups, ck, npix))
    out = out.reshape(n, c_out, *out_sizes)
    if bias is not None:
        out += _f32(bias).reshape(1, c_out, *([1] * nd))
    return out


def _pool(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int] | None,
    pad_type: str,
    pad: Sequence[int] | None,
    ceil_mode: bool,
    mode: str,
    exclude_padding_from_average: bool = False,
) -> np.ndarray:
    x = _f32(x)
    spatial = x.shape[2:]
    nd = len(spatial)
    kernel = [int(k) for k in kernel]
    strides = [1] * nd if strides is None else [int(s) for s in strides]
    pads = spatial_pads(pad_type, pad, spatial, kernel, strides, [1] * nd)
    out_sizes = [
        pool_output_size(i, k, s, b, a, ceil_mode)
        for i, k, s, (b, a) in zip(spatial, kernel, strides, pads, strict=True)
    ]
    # ceil_mode windows may hang past the declared padding: extend with an "overhang" that never counts.
    overhang = [
        max(0, (o - 1) * s + k - (i + b + a))
        for o, s, k, i, (b, a) in zip(out_sizes, strides, kernel, spatial, pads, strict=True)
    ]
    full_pads = [(b, a + extra) for (b, a), extra in zip(pads, overhang, strict=True)]
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0), *full_pads], constant_values=fill)
    ones = [1] * nd
    if mode == "max":
        out = np.full((*x.shape[:2], *out_sizes), -np.inf, dtype=np.float32)
        for taps in itertools.product(*(range(k) for k in kernel)):
            np.maximum(out, xp[(slice(None),) * 2 + _tap_slices(taps, ones, strides, out_sizes)], out=out)
        return out
    total = np.zeros((*x.shape[:2], *out_sizes), dtype=np.float32)
    # Divisor per output position = how many counted cells its window covers. Counted cells are the input, plus
    # the declared padding unless exclude_padding_from_average; the ceil_mode overhang never counts (as PyTorch).
    counted = np.zeros([1, 1, *xp.shape[2:]], dtype=np.float32)
    if exclude_padding_from_average:
        region = tuple(slice(b, b + i) for (b, _), i in zip(pads, spatial, strict=True))
    else:
        region = tuple(slice(0, b + i + a) for (b, a), i in zip(pads, spatial, strict=True))
    counted[(slice(None),) * 2 + region] = 1.0
    count = np.zeros([1, 1, *out_sizes], dtype=np.float32)
    for taps in itertools.product(*(range(k) for k in kernel)):
        sl = (slice(None),) * 2 + _tap_slices(taps, ones, strides, out_sizes)
        total += xp[sl]
        count += counted[sl]
    return total / np.maximum(count, 1.0)


def max_pool(
    x: np.ndarray,
    kernel_sizes: Sequence[int],
    strides: Sequence[int] | None = None,
    pad_type: str = "valid",
    pad: Sequence[int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """MIL ``max_pool``: padding never wins the max (padded with -inf)."""
    return _pool(x, kernel_sizes, strides, pad_type, pad, ceil_mode, "max")


def avg_pool(
    x: np.ndarray,
    kernel_sizes: Sequence[int],
    strides: Sequence[int] | None = None,
    pad_type: str = "valid",
    pad: Sequence[int] | None = None,
    ceil_mode: bool = False,
    exclude_padding_from_average: bool = False,
) -> np.ndarray:
    """MIL ``avg_pool``. With ``exclude_padding_from_average=False`` (PyTorch's ``count_include_pad=True``, what
    ShuffleNet's shortcut uses) zero padding is part of the divisor, so border outputs are pulled towards 0."""
    return _pool(x, kernel_sizes, strides, pad_type, pad, ceil_mode, "avg", exclude_padding_from_average)


def batch_norm(
    x: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    epsilon: float = 1e-5,
) -> np.ndarray:
    """MIL ``batch_norm`` (inference form) over axis 1 of a rank 3-5 tensor."""
    x = _f32(x)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    scale = 1.0 / np.sqrt(_f32(variance).astype(np.float32) + np.float32(epsilon))
    if gamma is not None:
        scale = scale * _f32(gamma)
    y = (x - _f32(mean).reshape(shape)) * scale.reshape(shape)
    if beta is not None:
        y = y + _f32(beta).reshape(shape)
    return y


def reshape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """MIL ``reshape``: ``-1`` is inferred; ``0`` copies the matching dim of x counted from the right (iOS17 rule,
    identical to the iOS15 rule whenever ``len(shape) == x.ndim``, the only case iOS15 allows)."""
    x = np.asarray(x)
    target = [int(s) for s in shape]
    k = len(target)
    resolved = []
    for i, s in enumerate(target):
        if s == 0:
            j = x.ndim - (k - i)
            resolved.append(x.shape[j] if j >= 0 else 1)
        else:
            resolved.append(s)
    return x.reshape(resolved)


def concat(values: Sequence[np.ndarray], axis: int, interleave: bool = False) -> np.ndarray:
    """MIL ``concat``; ``interleave`` alternates slices of the inputs along ``axis`` (all inputs same shape)."""
    arrays = [np.asarray(v) for v in values]
    if not interleave:
        return np.concatenate(arrays, axis=axis)
    axis = axis % arrays[0].ndim
    stacked = np.stack(arrays, axis=axis + 1)
    shape = list(arrays[0].shape)
    shape[axis] *= len(arrays)
    return stacked.reshape(shape)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """MIL ``linear``: ``x @ weight.T + bias`` with weight [D_out, D_in]."""
    y = np.matmul(_f32(x), _f32(weight).T)
    if bias is not None:
        y = y + _f32(bias)
    return y


def matmul(x: np.ndarray, y: np.ndarray, transpose_x: bool = False, transpose_y: bool = False) -> np.ndarray:
    """MIL ``matmul`` with NumPy broadcasting; the transpose flags swap the last two axes of rank >= 2 inputs."""
    x, y = _f32(x), _f32(y)
    if transpose_x and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if transpose_y and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = _f32(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[[OpArgs], np.ndarray]:
    def handler(a: OpArgs) -> np.ndarray:
        axes = a("axes", None)
        axes = None if axes is None else tuple(int(v) for v in np.atleast_1d(axes))
        return fn(_f32(a("x")), axis=axes, keepdims=bool(a("keep_dims", False)))

    return handler


# --------------------------------------------------------------------------------------------- op dispatch table


class OpArgs(Protocol):
    """What a handler sees: ``args(name)`` is the NumPy value of the op input ``name`` (a list for tuple inputs),
    ``args(name, default)`` the default when the input is absent; ``args.op_type``/``args.op_name`` for errors."""

    op_type: str
    op_name: str

    def __call__(self, name: str, default: Any = ...) -> Any: ...


def _cast(a: OpArgs) -> np.ndarray:
    dtype = str(a("dtype"))
    if dtype not in MIL_DTYPES:
        raise UnsupportedOpError(f"op 'cast' ({a.op_name}): dtype {dtype!r} is not supported")
    # Rounds to nearest-even for fp32 -> fp16 (IEEE, as Core ML) and truncates float -> int, as MIL's own cast
    # value inference does.
    with np.errstate(over="ignore"):  # fp32 -> fp16 overflow gives inf, as IEEE (and Core ML) do
        return as_dtype(a("x"), MIL_DTYPES[dtype])


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[OpArgs], np.ndarray]:
    return lambda a: fn(_f32(a("x")), _f32(a("y")))


def _conv_handler(a: OpArgs) -> np.ndarray:
    return conv(
        a("x"),
        a("weight"),
        a("bias", None),
        strides=a("strides", None),
        pad_type=str(a("pad_type", "valid")),
        pad=a("pad", None),
        dilations=a("dilations", None),
        groups=int(a("groups", 1)),
    )


def _pool_handler(kind: str) -> Callable[[OpArgs], np.ndarray]:
    def handler(a: OpArgs) -> np.ndarray:
        common = {
            "strides": a("strides", None),
            "pad_type": str(a("pad_type", "valid")),
            "pad": a("pad", None),
            "ceil_mode": bool(a("ceil_mode", False)),
        }
        if kind == "max":
            return max_pool(a("x"), a("kernel_sizes"), **common)
        return avg_pool(
            a("x"),
            a("kernel_sizes"),
            exclude_padding_from_average=bool(a("exclude_padding_from_average", False)),
            **common,
        )

    return handler


def _squeeze(a: OpArgs) -> np.ndarray:
    x = np.asarray(a("x"))
    axes = a("axes", None)
    if axes is None:  # MIL: drop every size-1 dim
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(int(v) for v in np.atleast_1d(axes)))


def _classify(a: OpArgs) -> tuple[np.ndarray, np.ndarray]:
    """Core ML's classifier tail: (predicted label, {label: probability}). The label is the class whose score is
    largest; the "probabilities" are the input tensor as is (Core ML applies no softmax of its own)."""
    probs = _f32(a("probabilities")).astype(np.float32)
    classes = list(a("classes"))
    flat = probs.reshape(-1) if probs.ndim <= 1 or probs.shape[0] == 1 else probs.reshape(probs.shape[0], -1)
    labels = np.asarray([classes[int(i)] for i in np.atleast_1d(np.argmax(flat, axis=-1))], dtype=object)
    return labels, probs


OP_HANDLERS: dict[str, Callable[[OpArgs], Any]] = {
    "cast": _cast,
    "identity": lambda a: np.asarray(a("x")),
    "conv": _conv_handler,
    "batch_norm": lambda a: batch_norm(
        a("x"), a("mean"), a("variance"), a("gamma", None), a("beta", None), float(a("epsilon", 1e-5))
    ),
    "relu": lambda a: np.maximum(_f32(a("x")), 0),
    "relu6": lambda a: np.clip(_f32(a("x")), 0, 6),
    "clip": lambda a: np.clip(_f32(a("x")), float(a("alpha")), float(a("beta"))),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-_f32(a("x")))),
    "softmax": lambda a: softmax(a("x"), int(a("axis", -1))),
    "add": _binary(np.add),
    "sub": _binary(np.subtract),
    "mul": _binary(np.multiply),
    "real_div": _binary(np.divide),
    "maximum": _binary(np.maximum),
    "minimum": _binary(np.minimum),
    "concat": lambda a: concat(a("values"), int(a("axis")), bool(a("interleave", False))),
    "max_pool": _pool_handler("max"),
    "avg_pool": _pool_handler("avg"),
    "reshape": lambda a: reshape(a("x"), a("shape")),
    "transpose": lambda a: np.transpose(np.asarray(a("x")), [int(p) for p in a("perm")]),
    "squeeze": _squeeze,
    "expand_dims": lambda a: np.expand_dims(np.asarray(a("x")), tuple(int(v) for v in np.atleast_1d(a("axes")))),
    "reduce_mean": _reduce(np.mean),
    "reduce_sum": _reduce(np.sum),
    "reduce_max": _reduce(np.max),
    "linear": lambda a: linear(a("x"), a("weight"), a("bias", None)),
    "matmul": lambda a: matmul(a("x"), a("y"), bool(a("transpose_x", False)), bool(a("transpose_y", False))),
    "classify": _classify,
}

# ``const`` is handled by the evaluator itself (its value comes from the loaded program, not from inputs).
SUPPORTED_OPS: frozenset[str] = frozenset({"const", *OP_HANDLERS})
