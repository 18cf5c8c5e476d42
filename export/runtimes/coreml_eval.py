"""Run a saved Core ML ``.mlpackage`` (ML Program) on Linux with NumPy.

Core ML's runtime exists only on macOS (``MLModel.predict`` raises elsewhere). This module reads the package's
ML Program through coremltools' own readers - the ops, their attributes and the constant weights from the
package's weight file - and executes the main function op by op with the kernels in ``coreml_ops``.

Numerics. Each op computes in float32 and its result is stored in the dtype the program declares for it, so a
program converted with ``compute_precision=FLOAT16`` rounds every intermediate tensor to float16 exactly where
Core ML stores one (the ``cast`` ops the converter inserts and every fp16 op output). This models fp16 storage
with fp32 accumulation; a device accumulating in fp16 (GPU/Neural Engine) can differ by a few fp16 ulps more.

Image inputs. For an input declared as ``ct.ImageType``, coremltools 9 writes the ``scale``/``bias``
preprocessing *into the program* as ``mul``/``add`` ops right after the input (named ``<input>__scaled__`` and
``<input>__biased__``, run in fp32 before any fp16 cast; an identity scale or zero bias emits no op); the
spec's input is an ``imageType`` with no separate preprocessing. Core ML hands the program the pixels as a
float N x C x H x W tensor in the declared colour layout. So an image input is given here as float32
``N x 3 x H x W`` pixel values 0..255 with channel 0..2 = R,G,B for ``color_layout=RGB`` and B,G,R for ``BGR``
(``N x 1 x H x W`` for grayscale), and the program's own ops apply scale and bias.

Classifiers. A model converted with ``ct.ClassifierConfig`` ends in a ``classify`` op whose outputs are the
predicted label (a string or int64 - not a tensor) and a ``{label: score}`` dictionary. Core ML applies no
softmax there: the scores are the tensor fed to ``classify`` (logits, unless the model itself ends in a softmax).
``evaluate_mlpackage`` returns that tensor as a float32 array (shape as in the program, e.g. [1, num_classes],
classes in ``CoreMLProgram.classifier.labels`` order) under the dictionary output's name
(``predictedProbabilitiesName``, e.g. ``classLabel_probs``) and leaves the label output out;
``ClassifierInfo.predicted_labels`` maps scores to labels the way Core ML picks ``classLabel`` (argmax).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.coreml_ops import OP_HANDLERS, SUPPORTED_OPS, UnsupportedOpError, as_dtype

__all__ = [
    "SUPPORTED_OPS",
    "ClassifierInfo",
    "CoreMLProgram",
    "ImageInputInfo",
    "UnsupportedOpError",
    "evaluate_mlpackage",
    "evaluate_program",
    "load_program",
    "on_macos",
    "predict_macos",
]

logger = logging.getLogger(__name__)

_MISSING = object()


@dataclass(frozen=True)
class ImageInputInfo:
    """An input declared as ``ct.ImageType``: its colour layout (``RGB``, ``BGR``, ``GRAYSCALE``, ...) and size."""

    name: str
    color_layout: str
    height: int
    width: int

    @property
    def channels(self) -> int:
        return 3 if self.color_layout in ("RGB", "BGR") else 1


@dataclass(frozen=True)
class ClassifierInfo:
    """The ``classify`` tail of a classifier model: label list and the two spec output names."""

    labels: tuple[Any, ...]
    label_output: str
    scores_output: str

    def predicted_labels(self, scores: np.ndarray) -> list[Any]:
        """Label per batch item of a scores tensor [N, num_classes] (or [num_classes]), as Core ML picks it."""
        flat = np.asarray(scores).reshape(-1, len(self.labels))
        return [self.labels[int(i)] for i in np.argmax(flat, axis=1)]


@dataclass
class CoreMLProgram:
    """A loaded ML Program: the coremltools MIL ``Program`` (``.mil``), its main function and the spec facts the
    evaluator needs. ``str()`` prints the MIL text."""

    path: Path
    mil: Any  # coremltools.converters.mil.mil.Program
    function_name: str
    specification_version: int
    input_names: list[str]
    output_names: list[str]
    image_inputs: dict[str, ImageInputInfo] = field(default_factory=dict)
    classifier: ClassifierInfo | None = None
    # What evaluate_program works out once per program (``_plan``): constants, and each other op's output checks.
    plan: tuple[dict[str, Any], list[Any]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def function(self) -> Any:
        return self.mil.functions[self.function_name]

    def operations(self) -> list[Any]:
        return list(self.function.operations)

    def op_counts(self) -> Counter[str]:
        return Counter(op.op_type for op in self.operations())

    def walk_ops(self) -> Iterator[Any]:
        """Every op of the main function in program order, ops of nested blocks (control flow) included."""

        def walk(ops: Iterable[Any]) -> Iterator[Any]:
            for op in ops:
                yield op
                for block in op.blocks:
                    yield from walk(block.operations)

        return walk(self.function.operations)

    def unsupported_ops(self) -> list[str]:
        """Op types the evaluator cannot run, sorted. Ops owning nested blocks (cond, while_loop) count as
        unsupported: the evaluator runs straight-line programs only."""
        return sorted({op.op_type for op in self.walk_ops() if _is_unsupported(op)})

    def __str__(self) -> str:
        return str(self.mil)


def _is_unsupported(op: Any) -> bool:
    return op.op_type not in SUPPORTED_OPS or bool(op.blocks)


@functools.cache
def _openblas_thread_setters() -> tuple[Any, Any] | None:
    """(get, set) num-threads functions of the OpenBLAS bundled with NumPy wheels, or None if there is none."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for lib in sorted(libs.glob("lib*openblas*.so*")):
        try:
            dll = ctypes.CDLL(str(lib))  # the copy NumPy already loaded: dlopen returns the same handle
        except OSError:
            continue
        for get_name, set_name in (
            ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads"),
        ):
            get, set_ = getattr(dll, get_name, None), getattr(dll, set_name, None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run NumPy's BLAS on one thread while evaluating.

    The matrices here are small (e.g. 20x80 @ 80x784); OpenBLAS still spreads them over all cores, and on a
    machine whose cores are busy (a training job) its spinning threads made one such matmul take 48 ms instead
    of 0.16 ms single-threaded. Best effort: a no-op where NumPy uses another BLAS.
    """
    setters = _openblas_thread_setters()
    if setters is None:
        yield
        return
    get, set_ = setters
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


def on_macos() -> bool:
    """True where Core ML's own runtime (``MLModel.predict``) is available."""
    return sys.platform == "darwin"


def load_program(path: str | Path) -> CoreMLProgram:
    """Read an ``.mlpackage``'s ML Program (ops, attributes, weights) with coremltools' readers; no macOS needed."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no Core ML package at {path}")
    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{path} is a {spec.WhichOneof('Type')} model; only ML Programs (mlprogram) are supported")
    mil = load(spec, specification_version=spec.specificationVersion, file_weights_dir=model.weights_dir)
    description = spec.description
    function_name = getattr(description, "defaultFunctionName", "") or "main"
    if function_name not in mil.functions:
        raise ValueError(f"{path}: program has no function {function_name!r} (has {sorted(mil.functions)})")
    func = mil.functions[function_name]

    image_inputs = {}
    for feature in description.input:
        if feature.type.WhichOneof("Type") == "imageType":
            image = feature.type.imageType
            layout = image.ColorSpace.Name(image.colorSpace)
            image_inputs[feature.name] = ImageInputInfo(feature.name, layout, int(image.height), int(image.width))

    classifier = None
    classify_ops = [op for op in func.operations if op.op_type == "classify"]
    if classify_ops:
        classes = classify_ops[0].classes.val
        classifier = ClassifierInfo(
            labels=tuple(c.item() if isinstance(c, np.generic) else c for c in classes),
            label_output=description.predictedFeatureName,
            scores_output=description.predictedProbabilitiesName,
        )

    program = CoreMLProgram(
        path=path,
        mil=mil,
        function_name=function_name,
        specification_version=int(spec.specificationVersion),
        input_names=list(func.inputs),
        output_names=[v.name for v in func.outputs],
        image_inputs=image_inputs,
        classifier=classifier,
    )
    logger.debug("loaded %s: %s", path, dict(program.op_counts()))
    return program


def _declared_nptype(var: Any) -> type[np.generic] | None:
    """NumPy dtype of a numeric tensor/scalar var; None for strings, dicts and lists (e.g. classify's labels)."""
    from coremltools.converters.mil.mil import types

    sym = var.sym_type
    prim = sym.get_primitive() if types.is_tensor(sym) else sym
    if types.is_float(prim) or types.is_int(prim) or types.is_bool(prim):
        return types.nptype_from_builtin(prim)
    return None


def _static_shape(var: Any) -> tuple[int, ...] | None:
    from coremltools.converters.mil.mil.types.symbolic import is_symbolic

    shape = getattr(var, "shape", None)
    if shape is None or any(is_symbolic(d) for d in shape):
        return None
    return tuple(int(d) for d in shape)


class _Args:
    """Op input accessor handed to the kernels (see ``coreml_ops.OpArgs``)."""

    def __init__(self, op: Any, env: dict[str, Any]) -> None:
        self._op = op
        self._env = env
        self.op_type = op.op_type
        self.op_name = op.name

    def _value(self, var: Any) -> Any:
        if var.name in self._env:
            return self._env[var.name]
        if var.val is not None:  # a constant the loader attached without a const op (defaults)
            return var.val
        raise RuntimeError(f"op {self.op_type!r} ({self.op_name}) reads {var.name!r} before it is computed")

    def __call__(self, name: str, default: Any = _MISSING) -> Any:
        var = self._op.inputs.get(name)
        if var is None:
            if default is _MISSING:
                raise ValueError(f"op {self.op_type!r} ({self.op_name}) has no input {name!r}")
            return default
        if isinstance(var, (list, tuple)):
            return [self._value(v) for v in var]
        return self._value(var)


def _prepare_inputs(program: CoreMLProgram, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    expected = program.input_names
    missing = [n for n in expected if n not in inputs]
    extra = [n for n in inputs if n not in expected]
    if missing or extra:
        raise ValueError(f"program inputs are {expected}; missing {missing}, unexpected {extra}")
    env: dict[str, np.ndarray] = {}
    for name in expected:
        var = program.function.inputs[name]
        value = np.asarray(inputs[name])
        shape = getattr(var, "shape", ())
        declared = _static_shape(var)
        if (declared is not None and value.shape != declared) or value.ndim != len(shape):
            raise ValueError(f"input {name!r}: expected shape {tuple(shape)}, got {value.shape}")
        image = program.image_inputs.get(name)
        if image is not None:
            if value.shape[1] != image.channels:
                raise ValueError(
                    f"image input {name!r} ({image.color_layout}) needs {image.channels} channels, got {value.shape}"
                )
            if value.size and (np.min(value) < 0 or np.max(value) > 255):
                raise ValueError(f"image input {name!r} takes pixel values 0..255, got {value.min()}..{value.max()}")
            if not np.array_equal(value, np.round(value)):
                logger.warning(
                    "image input %r: Core ML images hold integer pixels; using fractional values as given", name
                )
        nptype = _declared_nptype(var)
        env[name] = value.astype(nptype) if nptype is not None else value
    return env


@dataclass(frozen=True)
class _Step:
    """One non-const op, with what is checked of each output: (name, declared NumPy dtype or None, static shape)."""

    op: Any
    handler: Any
    outputs: tuple[tuple[str, type[np.generic] | None, tuple[int, ...] | None], ...]


def _store(op: Any, nptype: type[np.generic] | None, declared: tuple[int, ...] | None, value: Any) -> Any:
    # classify's outputs are a label and a dict in Core ML, not tensors: stored as the handler made them.
    if nptype is None or op.op_type == "classify":
        return value
    # Storing in the declared dtype is what makes fp16 programs round like Core ML.
    with np.errstate(over="ignore"):  # fp32 -> fp16 overflow gives inf, as IEEE (and Core ML) do
        value = as_dtype(value, nptype)
    if declared is not None and value.shape != declared:
        raise RuntimeError(f"op {op.op_type!r} ({op.name}) produced shape {value.shape}, program declares {declared}")
    return value


def _output_check(var: Any) -> tuple[str, type[np.generic] | None, tuple[int, ...] | None]:
    nptype = _declared_nptype(var)
    return var.name, nptype, None if nptype is None else _static_shape(var)


def _plan(program: CoreMLProgram) -> tuple[dict[str, Any], list[_Step]]:
    """The program's constants (in their declared dtypes) and its other ops with their output checks, worked out
    once per loaded program: reading the MIL types of every var on every image cost about a fifth of the time."""
    if program.plan is not None:
        return program.plan
    consts: dict[str, Any] = {}
    steps: list[_Step] = []
    for op in program.operations():
        outs = tuple(_output_check(v) for v in op.outputs)
        if op.op_type == "const":
            ((name, nptype, declared),) = outs
            consts[name] = _store(op, nptype, declared, op.outputs[0].val)
        else:
            steps.append(_Step(op, OP_HANDLERS[op.op_type], outs))
    program.plan = (consts, steps)
    return consts, steps


def _run_ops(program: CoreMLProgram, env: dict[str, Any]) -> None:
    """Execute the main function's ops in program order (MIL blocks are topologically sorted), filling ``env``."""
    consts, steps = _plan(program)
    env.update(consts)
    for step in steps:
        op = step.op
        result = step.handler(_Args(op, env))
        results = result if isinstance(result, tuple) else (result,)
        if len(results) != len(step.outputs):
            raise RuntimeError(f"op {op.op_type!r} ({op.name}) gave {len(results)} outputs, expected {len(op.outputs)}")
        for (name, nptype, declared), value in zip(step.outputs, results, strict=True):
            env[name] = _store(op, nptype, declared, value)


def evaluate_program(
    program: CoreMLProgram,
    inputs: Mapping[str, np.ndarray],
    extra_outputs: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Execute a loaded program; returns every tensor output (plus any ``extra_outputs`` intermediate vars, by
    their MIL names) as float32. See the module docstring for image inputs and classifier outputs.

    Raises ``UnsupportedOpError`` naming the first op it cannot run, before running anything.
    """
    unsupported = program.unsupported_ops()
    if unsupported:
        first = next(op for op in program.walk_ops() if _is_unsupported(op))
        raise UnsupportedOpError(
            f"Core ML op {first.op_type!r} (e.g. {first.name!r}) is not supported by the NumPy evaluator; "
            f"unsupported op types in {program.path.name}: {', '.join(unsupported)}"
        )
    env: dict[str, Any] = _prepare_inputs(program, inputs)
    with _single_threaded_blas():
        _run_ops(program, env)

    outputs: dict[str, np.ndarray] = {}
    classifier = program.classifier
    for name in program.output_names:
        if classifier is not None and name == classifier.label_output:
            continue  # a label, not a tensor: see ClassifierInfo.predicted_labels
        outputs[name] = np.asarray(env[name], dtype=np.float32)
    for name in extra_outputs:
        if name not in env:
            raise KeyError(f"no var {name!r} in {program.path.name}")
        outputs[name] = np.asarray(env[name], dtype=np.float32)
    return outputs


def evaluate_mlpackage(path: str | Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load and run an ``.mlpackage`` with NumPy: ``{output name: float32 array}``.

    ``inputs`` maps the main function's input names to arrays of the declared shape; image inputs take float32
    N x C x H x W pixel values 0..255 in the ImageType's colour order. Raises ``UnsupportedOpError`` (naming
    the op) before running anything if the program holds an op this evaluator does not implement.
    """
    return evaluate_program(load_program(path), inputs)


def predict_macos(path: str | Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same call through Core ML itself (``MLModel.predict``); macOS only, not exercised on Linux.

    Takes and returns the same structures as ``evaluate_mlpackage``: image inputs as float32 [1, C, H, W]
    pixels in the declared colour order (converted here to the PIL image Core ML expects), classifier scores
    as an array in label order, label output dropped.
    """
    if not on_macos():
        raise RuntimeError("Core ML prediction needs macOS; use evaluate_mlpackage on other systems")
    import coremltools as ct
    from PIL import Image

    model = ct.models.MLModel(str(path))
    spec = model.get_spec()
    feed: dict[str, Any] = {}
    for feature in spec.description.input:
        value = np.asarray(inputs[feature.name])
        if feature.type.WhichOneof("Type") == "imageType":
            if value.shape[0] != 1:
                raise ValueError("predict_macos feeds one image per call (batch 1)")
            layout = feature.type.imageType.ColorSpace.Name(feature.type.imageType.colorSpace)
            pixels = np.clip(np.round(value[0]), 0, 255).astype(np.uint8)
            if layout == "BGR":  # PIL images are RGB; Core ML reorders to BGR itself
                pixels = pixels[::-1]
            hwc = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
            feed[feature.name] = Image.fromarray(np.ascontiguousarray(hwc))
        else:
            feed[feature.name] = value
    raw = model.predict(feed)
    labels_name, scores_name = spec.description.predictedFeatureName, spec.description.predictedProbabilitiesName
    outputs: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name == labels_name and scores_name:
            continue
        if isinstance(value, dict):  # classifier scores: back to a [1, num_classes] tensor in label order
            labels = load_program(path).classifier.labels
            value = np.asarray([[value[label] for label in labels]])
        outputs[name] = np.asarray(value, dtype=np.float32)
    return outputs
