"""The ``executorch`` runtime: .pte files of the session's small export run by ExecuTorch's own runtime."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.pipeline import ExportResult
from shufflenet.export.runtimes.base import RuntimeUnavailableError
from shufflenet.export.runtimes.loader import load_runner

pytest.importorskip("executorch")

from shufflenet.export.runtimes.executorch_pte import (
    ExecutorchRunner,
    PteFileError,
    load_method,
    pte_delegate_calls,
)


def _entries(result: ExportResult) -> dict[str, dict]:
    m = result.manifest
    return {e["precision"]: {**e, "preprocessing": m["preprocessing"]} for e in m["artifacts"]
            if e["format"] == "executorch"}  # fmt: skip


def _images(n: int, size: list[int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def test_pte_files_are_in_the_export(small_export: ExportResult) -> None:
    entries = _entries(small_export)
    assert set(entries) == {"fp32", "int8"}
    for e in entries.values():
        assert e["path"].endswith(".pte") and e["runtime"] == "executorch"
        assert e["graph_check"]["ok"], e["graph_check"]
        cov = e["delegate_coverage"]
        assert cov["partitions"] == 1 and cov["delegated_nodes"] == cov["nodes"] > 100
        assert e["rewrites"] == {"avg_pools_as_depthwise": 3, "keepdim_means": 1}


def test_pte_runs_like_pytorch(small_export: ExportResult) -> None:
    """fp32 agrees with PyTorch to float rounding; int8 keeps the top-1 of most images (random weights, so the
    logits are close together: the bar is loose)."""
    from shufflenet.export.parity import rebuild_reference

    out = small_export.output
    ref = rebuild_reference(small_export.manifest, out)
    entries = _entries(small_export)
    images = _images(8, small_export.manifest["input_size"])
    fp32 = load_runner(out, entries["fp32"])
    x = fp32.prepare(images)
    with torch.no_grad():
        expected = ref.model(torch.from_numpy(x)).numpy()
    got = fp32.predict(images)
    assert isinstance(fp32, ExecutorchRunner) and fp32.evaluated_by == "executorch"
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))
    del fp32
    int8 = load_runner(out, entries["int8"]).predict(images)
    assert np.abs(int8 - expected).max() < 0.5 * float(np.abs(expected).max()) + 1e-3


def test_file_declares_what_the_manifest_says(small_export: ExportResult) -> None:
    out = small_export.output
    for e in _entries(small_export).values():
        runner = load_runner(out, e)
        ins, outs = runner.signature()
        assert ins == [{k: e["inputs"][0][k] for k in ("name", "shape", "dtype", "layout", "quantization")}]
        assert [o["shape"] for o in outs] == [e["outputs"][0]["shape"]]
        calls = pte_delegate_calls(out / e["path"])
        assert calls == e["graph_check"]["file"]
        assert calls["delegate_calls"] == 1 and calls["kernel_calls"] == 0 and calls["backends"] == ["XnnpackBackend"]


def test_thread_pool_is_process_wide(small_export: ExportResult) -> None:
    """A second thread count while a .pte file is loaded is refused in one line (resetting ExecuTorch's pool under
    a loaded method crashes the process); once it is released, the new count applies and the outputs are equal."""
    from executorch.extension.pybindings import portable_lib

    out = small_export.output
    e = _entries(small_export)["fp32"]
    images = _images(2, small_export.manifest["input_size"], seed=1)
    one = load_runner(out, e, threads=1)
    assert portable_lib._threadpool_get_thread_count() == 1
    y1 = one.predict(images)
    with pytest.raises(RuntimeUnavailableError, match="process-wide"):
        load_runner(out, e, threads=2)
    del one
    gc.collect()
    two = load_runner(out, e, threads=2)
    assert portable_lib._threadpool_get_thread_count() == 2
    np.testing.assert_allclose(two.predict(images), y1, rtol=1e-5, atol=1e-5)
    del two


def test_not_a_pte_file_is_one_line(tmp_path: Path, small_export: ExportResult) -> None:
    text = tmp_path / "labels.pte"
    text.write_text("cat\ndog\n")
    with pytest.raises(PteFileError, match="not an ExecuTorch program"):
        load_method(text)
    e = _entries(small_export)["fp32"]
    data = (small_export.output / e["path"]).read_bytes()
    cut = tmp_path / "cut.pte"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(PteFileError, match="truncated or damaged") as err:
        load_method(cut)
    assert "\n" not in str(err.value)
