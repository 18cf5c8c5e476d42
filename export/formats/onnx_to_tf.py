"""Lower the simplified ONNX graph of a ShuffleNet to an NHWC TensorFlow function.

Why not onnx2tf: its conversion of a ShuffleNet keeps NCHW<->NHWC transposes around every shuffle (45
TRANSPOSE), rank-5 tensors, and turns depthwise convs into grouped CONV_2D (toolchain notes), and it downloads
sample data at run time. This model uses a small closed set of ONNX ops, so we lower each one directly to the
TensorFlow op that TFLite's own converter maps to the ideal builtin: DEPTHWISE_CONV_2D for depthwise convs,
one grouped CONV_2D for group convs, and RESHAPE-TRANSPOSE-RESHAPE at rank 4 for every channel shuffle.
An op outside the set stops the conversion with its name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SUPPORTED_OPS = (
    "Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Add", "Concat",
    "Reshape", "Transpose", "MatMul", "Gemm", "Flatten", "Identity",
)  # fmt: skip


class UnsupportedGraphError(ValueError):
    """The ONNX graph holds an op or pattern outside the closed set this lowering handles."""


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _same_padding(size: int, k: int, s: int, begin: int, end: int) -> bool:
    """True when TF's SAME padding places exactly the ONNX pads (so no explicit PAD op is needed)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    onnx_out = (size + begin + end - k) // s + 1
    return out == onnx_out and total // 2 == begin and total - total // 2 == end


class OnnxToTf:
    """Holds the ONNX graph; ``__call__(x_nhwc)`` builds the TF ops (traced inside a tf.function)."""

    def __init__(self, model: Any, avgpool_as_depthwise: bool = False) -> None:
        import onnx
        from onnx import numpy_helper

        self.avgpool_as_depthwise = avgpool_as_depthwise
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for n in self.graph.node:
            if n.op_type == "Constant":
                self.consts[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
        unknown = sorted({n.op_type for n in self.graph.node if n.op_type not in (*SUPPORTED_OPS, "Constant")})
        if unknown:
            raise UnsupportedGraphError(
                f"ONNX ops {', '.join(unknown)} are not supported by the NHWC lowering (supported: "
                f"{', '.join(SUPPORTED_OPS)})"
            )
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise UnsupportedGraphError(f"expected one graph input, found {len(inputs)}")
        self.input_name = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        self.input_shape = [d.dim_value for d in dims]  # NCHW
        if len(self.input_shape) != 4 or any(d <= 0 for d in self.input_shape):
            raise UnsupportedGraphError(f"input must have a fixed NCHW shape, got {self.input_shape}")
        self.output_name = self.graph.output[0].name
        self.shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in self.graph.value_info}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.producer = {o: n for n in self.graph.node for o in n.output}
        del onnx

    # -- shapes in NCHW terms, as ONNX states them
    def nchw_shape(self, name: str) -> list[int]:
        if name == self.input_name:
            return self.input_shape
        if name not in self.shapes:
            raise UnsupportedGraphError(f"tensor {name} has no shape: run onnxsim with a fixed input shape first")
        return self.shapes[name]

    def __call__(self, x_nhwc: Any) -> Any:
        import tensorflow as tf

        env: dict[str, Any] = {self.input_name: x_nhwc}
        skip: set[str] = set()
        handlers: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
            "Conv": self._conv,
            "Relu": lambda n, a: tf.nn.relu(env[n.input[0]]),
            "MaxPool": lambda n, a: self._pool(n, a, env, "MAX"),
            "AveragePool": lambda n, a: self._pool(n, a, env, "AVG"),
            "GlobalAveragePool": lambda n, a: tf.reduce_mean(env[n.input[0]], axis=[1, 2], keepdims=True),
            "ReduceMean": self._reduce_mean,
            "Add": lambda n, a: tf.add(self._value(n.input[0], env), self._value(n.input[1], env)),
            "Concat": self._concat,
            "Reshape": self._reshape,
            "MatMul": self._matmul,
            "Gemm": self._gemm,
            "Flatten": self._flatten,
            "Identity": lambda n, a: env[n.input[0]],
        }
        self._env = env
        for node in self.graph.node:
            if node.op_type == "Constant" or node.output[0] in skip:
                continue
            if node.op_type == "Transpose":
                raise UnsupportedGraphError(
                    f"Transpose {node.name} is not part of a channel-shuffle Reshape-Transpose-Reshape pattern"
                )
            out = handlers[node.op_type](node, _attrs(node))
            if node.op_type == "Reshape" and isinstance(out, tuple):
                out, consumed = out
                skip.update(consumed)
                env[consumed[-1]] = out
                continue
            env[node.output[0]] = out
        return env[self.output_name]

    def _value(self, name: str, env: dict[str, Any]) -> Any:
        if name in env:
            return env[name]
        const = self.consts[name]
        shape = self.nchw_shape_or_none(name)
        # Broadcast constants given in NCHW ([C,1,1] or [1,C,1,1]) move to NHWC.
        if const.ndim in (3, 4) and shape is None:
            const = np.moveaxis(const, -3, -1)
        return const.astype(np.float32)

    def nchw_shape_or_none(self, name: str) -> list[int] | None:
        return self.shapes.get(name)

    def _rank(self, name: str) -> int:
        return len(self.nchw_shape(name))

    def _conv(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        x = self._env[node.input[0]]
        w = self.consts[node.input[1]]  # O, I/g, kh, kw
        b = self.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        if a.get("dilations", [1, 1]) != [1, 1]:
            raise UnsupportedGraphError(f"dilated Conv {node.name} is not supported")
        group = int(a.get("group", 1))
        kh, kw = w.shape[2:]
        sh, sw = a.get("strides", [1, 1])
        pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
        _, c_in, h, wd = self.nchw_shape(node.input[0])
        x, padding = self._padding(x, h, wd, (kh, kw), (sh, sw), (pt, pl, pb, pr), 0.0)
        if group == 1:
            y = tf.nn.conv2d(x, w.transpose(2, 3, 1, 0), [1, sh, sw, 1], padding)
        elif group == c_in and w.shape[1] == 1:
            mult = w.shape[0] // c_in
            # O = C*mult ordered channel-major: filter [kh, kw, C, mult].
            f = w.reshape(c_in, mult, kh, kw).transpose(2, 3, 0, 1)
            y = tf.nn.depthwise_conv2d(x, f, [1, sh, sw, 1], padding)
        else:
            # One grouped CONV_2D: TF infers the groups from filter depth I/g.
            y = tf.nn.conv2d(x, w.transpose(2, 3, 1, 0), [1, sh, sw, 1], padding)
        if b is not None:
            y = tf.nn.bias_add(y, b.astype(np.float32))
        return y

    def _padding(
        self, x: Any, h: int, w: int, k: tuple[int, int], s: tuple[int, int], pads: tuple[int, ...], value: float
    ) -> tuple[Any, str]:
        import tensorflow as tf

        pt, pl, pb, pr = pads
        if pt == pl == pb == pr == 0:
            return x, "VALID"
        if _same_padding(h, k[0], s[0], pt, pb) and _same_padding(w, k[1], s[1], pl, pr):
            return x, "SAME"
        return tf.pad(x, [[0, 0], [pt, pb], [pl, pr], [0, 0]], constant_values=value), "VALID"

    def _produced_by_relu(self, name: str) -> bool:
        node = self.producer.get(name)
        return node is not None and node.op_type == "Relu"

    def _pool(self, node: Any, a: dict[str, Any], env: dict[str, Any], kind: str) -> Any:
        import tensorflow as tf

        if a.get("ceil_mode", 0):
            raise UnsupportedGraphError(f"{node.op_type} {node.name} uses ceil_mode, which is not supported")
        x = env[node.input[0]]
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        pads = tuple(a.get("pads", [0, 0, 0, 0]))
        _, _, h, w = self.nchw_shape(node.input[0])
        if kind == "MAX":
            same = _same_padding(h, kh, sh, pads[0], pads[2]) and _same_padding(w, kw, sw, pads[1], pads[3])
            if any(pads) and not same and not self._produced_by_relu(node.input[0]):
                # Zero padding equals -inf padding only for non-negative inputs.
                raise UnsupportedGraphError(f"MaxPool {node.name} with asymmetric padding on a signed input")
            x, padding = self._padding(x, h, w, (kh, kw), (sh, sw), pads, 0.0)
            return tf.nn.max_pool2d(x, [kh, kw], [sh, sw], padding)
        if any(pads) and not a.get("count_include_pad", 0):
            same = _same_padding(h, kh, sh, pads[0], pads[2]) and _same_padding(w, kw, sw, pads[1], pads[3])
            if not same:
                raise UnsupportedGraphError(f"AveragePool {node.name} excludes padding with non-SAME pads")
            return tf.nn.avg_pool2d(x, [kh, kw], [sh, sw], "SAME")
        # count_include_pad=1: padded zeros count in the average, exactly what an explicit PAD gives.
        x, padding = self._padding(x, h, w, (kh, kw), (sh, sw), pads, 0.0)
        if padding == "SAME":  # TF's SAME would exclude the pads from the divisor
            x = tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]])
        if self.avgpool_as_depthwise:
            # Every window holds kh*kw values (pads included), so the mean is a depthwise conv whose weights are all
            # 1/(kh*kw). XNNPACK runs int8 DEPTHWISE_CONV_2D but not int8 AVERAGE_POOL_2D, which would split its
            # partition in three places (toolchain notes); this keeps the int8 graph one partition.
            c = self.nchw_shape(node.input[0])[1]
            f = np.full((kh, kw, c, 1), 1.0 / (kh * kw), dtype=np.float32)
            # Named as the pool would be, so the int8 and float32 files name their other tensors alike and
            # per-layer parity pairs this op with the float32 file's pool.
            return tf.nn.depthwise_conv2d(x, f, [1, sh, sw, 1], "VALID", name="AvgPool2D")
        return tf.nn.avg_pool2d(x, [kh, kw], [sh, sw], "VALID")

    def _reduce_mean(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = [int(v) for v in self.consts[node.input[1]]]
        rank = self._rank(node.input[0])
        axes = sorted(int(ax) % rank for ax in axes)
        if rank != 4 or axes != [2, 3]:
            raise UnsupportedGraphError(f"ReduceMean {node.name} over axes {axes} (only spatial means supported)")
        keep = bool(a.get("keepdims", 1))
        return tf.reduce_mean(self._env[node.input[0]], axis=[1, 2], keepdims=keep)

    def _concat(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        rank = self._rank(node.input[0])
        axis = int(a["axis"]) % rank
        if rank == 4:
            axis = {0: 0, 1: 3, 2: 1, 3: 2}[axis]
        return tf.concat([self._env[i] for i in node.input], axis=axis)

    def _reshape(self, node: Any, a: dict[str, Any]) -> Any:
        """Only the channel shuffle: Reshape(split C) -> Transpose(swap the split axes) -> Reshape(back)."""
        import tensorflow as tf

        src = self.nchw_shape(node.input[0])
        mid = self.nchw_shape(node.output[0])
        users = self.consumers.get(node.output[0], [])
        if len(src) == 2 and len(mid) == 2:
            return self._env[node.input[0]]
        bad = UnsupportedGraphError(f"Reshape {node.name} {src}->{mid} is not part of a channel shuffle")
        if len(src) != 4 or len(users) != 1 or users[0].op_type != "Transpose":
            raise bad
        tr = users[0]
        perm = list(_attrs(tr)["perm"])
        back = self.consumers.get(tr.output[0], [])
        if len(back) != 1 or back[0].op_type != "Reshape" or self.nchw_shape(back[0].output[0]) != src:
            raise bad
        n, c, h, w = src
        if len(mid) == 4 and mid[0] == n and mid[3] == h * w and mid[1] * mid[2] == c and perm == [0, 2, 1, 3]:
            a_, b_ = mid[1], mid[2]
        elif len(mid) == 5 and mid[3:] == [h, w] and mid[1] * mid[2] == c and perm == [0, 2, 1, 3, 4]:
            a_, b_ = mid[1], mid[2]
        else:
            raise bad
        x = self._env[node.input[0]]
        # NCHW channel i*b + j -> j*a + i. In NHWC: view [N, H*W, a, b], swap the last two axes, view back.
        y = tf.reshape(x, [n, h * w, a_, b_])
        y = tf.transpose(y, [0, 1, 3, 2])
        y = tf.reshape(y, [n, h, w, c])
        return y, [tr.output[0], back[0].output[0]]

    def _flatten(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        shape = self.nchw_shape(node.input[0])
        if len(shape) == 4 and shape[2:] != [1, 1]:
            raise UnsupportedGraphError(f"Flatten {node.name} of a spatial tensor {shape} is not supported")
        return tf.reshape(self._env[node.input[0]], [shape[0], -1])

    def _matmul(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        if node.input[1] not in self.consts:
            raise UnsupportedGraphError(f"MatMul {node.name} with a non-constant right operand")
        return tf.matmul(self._env[node.input[0]], self.consts[node.input[1]].astype(np.float32))

    def _gemm(self, node: Any, a: dict[str, Any]) -> Any:
        import tensorflow as tf

        if a.get("transA", 0):
            raise UnsupportedGraphError(f"Gemm {node.name} with transA is not supported")
        w = self.consts[node.input[1]].astype(np.float32) * float(a.get("alpha", 1.0))
        if a.get("transB", 0):
            w = w.T
        y = tf.matmul(self._env[node.input[0]], w)
        if len(node.input) > 2 and node.input[2]:
            y = y + self.consts[node.input[2]].astype(np.float32) * float(a.get("beta", 1.0))
        return y


def build_tf_function(onnx_model: Any, avgpool_as_depthwise: bool = False) -> tuple[Any, list[int]]:
    """A concrete tf.function taking NHWC float32 ``input`` and returning ``logits``; and the NHWC shape.

    ``avgpool_as_depthwise``: lower count-include-pad average pools to a DEPTHWISE_CONV_2D with constant
    1/(kh*kw) weights (the same mean; see ``OnnxToTf._pool``)."""
    import tensorflow as tf

    lowering = OnnxToTf(onnx_model, avgpool_as_depthwise=avgpool_as_depthwise)
    n, c, h, w = lowering.input_shape
    shape = [n, h, w, c]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
    def forward(input: Any) -> Any:
        return {"logits": lowering(input)}

    return forward.get_concrete_function(), shape
