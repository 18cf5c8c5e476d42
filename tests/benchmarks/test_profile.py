"""The per-unit profile: prefix models cut from a real export's flatbuffer, timed, differenced."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.profile import (
    _load_model,
    choose_cuts,
    live_sets,
    prefix_model,
    profile_export,
    profile_tflite,
)

pytestmark = pytest.mark.slow


def _tflite(folder: Path, precision: str) -> Path:
    m = json.loads((folder / "manifest.json").read_text())
    return folder / next(e["path"] for e in m["artifacts"] if e["format"] == "tflite" and e["precision"] == precision)


def _run(path: Path | bytes, x: np.ndarray, preserve: bool = False) -> tuple[list[np.ndarray], object]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {"model_content": path} if isinstance(path, bytes) else {"model_path": str(path)}
    it = Interpreter(**kw, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                     experimental_preserve_all_tensors=preserve)  # fmt: skip
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()], it


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_prefix_models_compute_the_whole_models_tensors(small_export: Path, precision: str) -> None:
    """A prefix cut at a unit end holds exactly the ops before the cut and outputs the very tensor the whole
    model computes there (bit-identical: same kernels, same inputs)."""
    path = _tflite(small_export, precision)
    model = _load_model(path)
    n = len(model.subgraphs[0].operators)
    cuts = choose_cuts(model, "unit")
    live = live_sets(model)
    assert cuts[-1] == n - 1 and len(cuts) == 16 + 2  # stem, 16 units, head
    assert all(len(live[c]) == 1 for c in cuts)
    from ai_edge_litert.interpreter import Interpreter

    spec = Interpreter(model_path=str(path)).get_input_details()[0]
    rng = np.random.default_rng(0)
    if spec["dtype"] == np.int8:
        x = rng.integers(-128, 127, spec["shape"], endpoint=True).astype(np.int8)
    else:
        x = rng.standard_normal(spec["shape"]).astype(np.float32)
    whole_out, whole = _run(path, x, preserve=True)
    for c in (cuts[0], cuts[5], cuts[-2], cuts[-1]):
        data = prefix_model(model, c, live[c])
        assert len(Interpreter(model_content=data)._get_ops_details()) == c + 1
        (out,), _ = _run(data, x)
        np.testing.assert_array_equal(out, whole.get_tensor(live[c][0]))
    np.testing.assert_array_equal(out, whole_out[0])


def test_profile_parts_sum_to_the_whole(small_export: Path) -> None:
    """Segments tile the graph, are named by the PyTorch units, and their sum is the last prefix's timing;
    the whole file was timed apart, before and after every round."""
    path = _tflite(small_export, "int8")
    prof = profile_tflite(path, arch="shufflenet_v1_g3_0.5x_cifar", warmup=2, runs=10, repeats=1, rounds=2)
    segs = prof.segments
    assert segs[0].first == 0 and segs[-1].last == prof.nodes - 1
    assert all(b.first == a.last + 1 for a, b in itertools.pairwise(segs))
    assert sum(sum(s.ops.values()) for s in segs) == prof.nodes
    assert [s.module for s in segs] == ["first_conv", *(f"features.{i}" for i in range(16)), "mean + classifier.0"]
    assert prof.parts_ms == pytest.approx(segs[-1].prefix_ms, rel=1e-9)
    assert all(s.spread_ms >= 0 for s in segs)
    assert len(prof.whole_ms_runs) == 4 and all(t > 0 for t in prof.whole_ms_runs)
    assert prof.sum_ratio == pytest.approx(prof.parts_ms / prof.whole_ms)
    assert prof.consistent == (abs(prof.sum_ratio - 1) <= 0.10)
    assert prof.coverage["partitions"] == 1
    d = prof.to_dict()
    assert d["segments"][3]["module"] == "features.2" and "sum_ratio" in d
    assert "features.15" in prof.to_markdown()


def test_op_granularity_and_export_folder(small_export: Path) -> None:
    name = _tflite(small_export, "int8").name  # one file of the folder, per op (every op is a prefix model)
    profs = profile_export(small_export, [name], granularity="op", warmup=1, runs=3, repeats=1, rounds=1)
    assert [p.path for p in profs] == [name]
    for p in profs:
        assert len(p.segments) == p.nodes and all(s.first == s.last for s in p.segments)
        assert p.segments[0].module == "first_conv" and p.segments[-1].module == "mean + classifier.0"


def test_profile_command(small_export: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "prof.json"
    name = _tflite(small_export, "int8").name
    rc = main(["profile", "--artifacts", str(small_export), "--files", name, "--warmup", "1", "--runs", "3",
               "--repeats", "1", "--rounds", "1", "--clock", "cpu", "--json", str(out)])  # fmt: skip
    assert rc == 0
    doc = json.loads(out.read_text())
    assert [p["path"] for p in doc] == [name] and doc[0]["clock"] == "cpu"
    assert (tmp_path / "prof.md").read_text().count("| features.") == 16
    assert "Sum of the parts" in capsys.readouterr().out


def test_profile_command_bad_input(small_export: Path, tmp_path: Path, capsys) -> None:
    assert main(["profile", "--tflite", str(tmp_path / "missing.tflite")]) == 2
    assert main(["profile", "--artifacts", str(small_export), "--files", "nope.tflite"]) == 2
    assert main(["profile", "--artifacts", str(small_export), "--threads", "2", "--clock", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 3 and "Traceback" not in err
