"""Real export folders for the parity tests, made once per test session, and helpers to break copies of them.

The test modules load this file as a plugin (``pytest_plugins``), so its session fixtures are defined once;
``make_export`` makes each key once per run (shared by the xdist workers), for tests that ask for an export
directly. Each export takes minutes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from run_once import once_per_run


def make_export(tmp_path_factory: pytest.TempPathFactory, key: str, **cfg: Any) -> Path:
    """A real ``run_export`` folder (``ExportConfig`` fields in ``cfg``), made once per test run and key."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("coremltools")

    def make(folder: Path) -> Path:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from shufflenet.export.pipeline import ExportConfig, run_export

        return run_export(ExportConfig(output=folder / "artifacts", **cfg)).output

    return once_per_run(tmp_path_factory, f"parity-{key}", make)


@pytest.fixture(scope="session")
def default_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `shufflenet-export --output DIR` writes: the embedded trained default (g3 1.0x, 32x32 CIFAR; random
    init where this checkout has no weights), every format and precision: ONNX raw + simplified, TFLite float32 /
    float16-weights / int8, Core ML fp16 + fp32 (image and tensor inputs); parity in the manifest."""
    from shufflenet.model.pretrained import default_weights_path

    return make_export(tmp_path_factory, "default", random_init=default_weights_path() is None)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small folder of real photographs (six of scikit-image's, re-encoded as JPEG and PNG) for quick runs."""
    from PIL import Image
    from shufflenet.export.calibration import install_photo_dir

    d = tmp_path_factory.mktemp("photos")
    src = install_photo_dir()
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg"):
        with Image.open(src / name) as im:
            im.convert("RGB").save(d / (Path(name).stem + (".jpg" if name.endswith("png") else ".png")))
    return d


@pytest.fixture
def export_copy(tmp_path: Path) -> Callable[..., Path]:
    """A private copy of an export folder, optionally keeping only some files (``keep``: path substrings) in
    its manifest, so a test may break it."""

    def copy(src: Path, keep: tuple[str, ...] | None = None) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        if keep is not None:

            def trim(m: dict[str, Any]) -> None:
                m["artifacts"] = [e for e in m["artifacts"] if any(k in e["path"] for k in keep)]

            edit_manifest(dst, trim)
        return dst

    return copy


def read_manifest(d: Path) -> dict[str, Any]:
    return json.loads((d / "manifest.json").read_text())


def edit_manifest(d: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    m = read_manifest(d)
    change(m)
    (d / "manifest.json").write_text(json.dumps(m, indent=2))
    return m


def entry(m: dict[str, Any], fmt: str, precision: str, variant: str | None = None) -> dict[str, Any]:
    return next(
        e for e in m["artifacts"]
        if e["format"] == fmt and e["precision"] == precision and (variant is None or e["variant"] == variant)
    )  # fmt: skip


def reseal(d: Path, path: str) -> None:
    """Record a deliberately changed file's new sha256 in the manifest, so only parity can catch it."""
    from shufflenet.model.files import sha256_path

    digest = sha256_path(d / path)
    edit_manifest(d, lambda m: [e.update(sha256=digest) for e in m["artifacts"] if e["path"] == path])


def rewrite_weights(path: Path, op_type: str, nth: int, change: Callable[[Any], Any]) -> str:
    """Replace, in a .tflite file's bytes, the weights of its ``nth`` op of ``op_type`` by ``change(weights)``;
    returns the name of that op's output tensor."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    ops = [o for o in sorted(interp._get_ops_details(), key=lambda o: o["index"]) if o["op_name"] == op_type]
    op = ops[nth]
    weights = np.asarray(interp.get_tensor(int(op["inputs"][1])))
    data = path.read_bytes()
    old = weights.tobytes()
    at = data.find(old)
    assert at >= 0 and data.find(old, at + 1) < 0, "weights not found exactly once in the file"
    new = np.asarray(change(weights)).astype(weights.dtype).tobytes()
    assert len(new) == len(old) and new != old
    path.write_bytes(data[:at] + new + data[at + len(old) :])
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return names[int(op["outputs"][0])]
