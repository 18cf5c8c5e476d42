"""The per-unit profile: prefix models cut from a real export's flatbuffer, timed, differenced."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.host_latency.profile import (
    Profile,
    Segment,
    _load_model,
    choose_cuts,
    live_sets,
    prefix_model,
    profile_export,
    profile_tflite,
)

pytestmark = pytest.mark.slow
ARCH = "shufflenet_v1_g3_0.25x_cifar"  # the variant of the session's small export (tests/conftest.py)


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
    prof = profile_tflite(path, arch=ARCH, warmup=2, runs=10, repeats=1, rounds=2)
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
               "--repeats", "1", "--rounds", "1", "--json", str(out)])  # fmt: skip
    assert rc == 0
    doc = json.loads(out.read_text())
    assert [p["path"] for p in doc] == [name] and doc[0]["clock"] == "cpu"  # the default for one thread
    assert (tmp_path / "prof.md").read_text().count("| features.") == 16
    assert "Sum of the parts" in capsys.readouterr().out


def test_profile_command_bad_input(small_export: Path, tmp_path: Path, capsys) -> None:
    assert main(["profile", "--tflite", str(tmp_path / "missing.tflite")]) == 2
    assert main(["profile", "--artifacts", str(small_export), "--files", "nope.tflite"]) == 2
    assert main(["profile", "--artifacts", str(small_export), "--threads", "2", "--clock", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 3 and "Traceback" not in err


def test_one_thread_defaults_to_the_cpu_clock_and_more_threads_to_the_wall_clock(small_export: Path) -> None:
    path = _tflite(small_export, "int8")
    quick = dict(warmup=1, runs=2, repeats=1, rounds=1)
    assert profile_tflite(path, **quick).clock == "cpu"
    assert profile_tflite(path, threads=2, **quick).clock == "wall"
    assert profile_tflite(path, clock="wall", **quick).clock == "wall"  # when asked


def _noisy_profile() -> Profile:
    """Figures of the kind a busy machine gave for the 224 g3 1.0x int8 file with the wall clock (a unit whose
    spread is several times its value, a negative head), as the data the table and JSON are made from."""
    segs = [
        Segment(0, 1, "first_conv + maxpool", {"CONV_2D": 1, "MAX_POOL_2D": 1}, 1.20, 1.20, 0.05),
        Segment(2, 9, "features.0", {"CONV_2D": 3, "CONCATENATION": 1}, 0.30, 1.50, 0.90),
        Segment(10, 20, "features.1", {"CONV_2D": 3, "ADD": 1}, 0.80, 2.30, 0.10),
        Segment(21, 23, "mean + classifier.0", {"MEAN": 1, "FULLY_CONNECTED": 1}, -0.159, 2.141, 0.335),
    ]
    return Profile("f.tflite", 1, "wall", "unit", 24, 2.2, [2.2, 2.2], segs)


def test_rows_within_the_noise_are_marked_and_never_printed_as_figures() -> None:
    prof = _noisy_profile()
    assert [s.within_noise for s in prof.segments] == [False, True, False, True]
    md = prof.to_markdown()
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and "PyTorch module" not in ln]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    assert [c[3] for c in cells] == ["1.200", "< noise", "0.800", "< noise"]  # ms
    assert [c[5] for c in cells][1::2] == ["< noise", "< noise"]  # share
    assert not [c for row in cells for c in row[3:] if c.startswith("-")]  # no negative time, spread or share
    assert "2 of 4 segments are within the noise" in md and "--clock cpu" in md
    d = prof.to_dict()
    assert [s["within_noise"] for s in d["segments"]] == [False, True, False, True]
    assert d["segments"][3]["share"] is None and d["segments"][0]["share"] == pytest.approx(1.2 / prof.parts_ms)
    assert d["within_noise"] == 2


def test_a_time_below_the_tables_precision_is_noise_even_without_spread() -> None:
    """One timing round gives no spread; a 0.22 µs difference (seen on a real small file) would print as 0.000."""
    tiny = Segment(122, 123, "mean + classifier.0", {"MEAN": 1, "FULLY_CONNECTED": 1}, 0.00022, 0.170063, 0.0)
    assert tiny.within_noise
    assert not Segment(0, 1, "first_conv", {"CONV_2D": 1}, 0.0012, 0.0012, 0.0).within_noise


def test_a_real_profile_prints_no_negative_figure(small_export: Path) -> None:
    """Whatever the machine does, a row is either a positive figure above its spread or marked < noise."""
    prof = profile_tflite(_tflite(small_export, "int8"), arch=ARCH, warmup=1, runs=3, repeats=1, rounds=1,
                          clock="wall")  # fmt: skip
    for s, row in zip(prof.segments, prof.rows()[1:], strict=True):
        if s.within_noise:
            assert row[3] == row[5] == "< noise"
        else:
            assert float(row[3]) > s.spread_ms >= 0 and not row[5].startswith("-")


@pytest.mark.parametrize("kind", ["labels.txt", "onnx", "truncated"])
def test_profile_of_a_file_that_is_not_tflite_is_one_line(small_export: Path, tmp_path: Path, kind: str,
                                                          capsys) -> None:  # fmt: skip
    """labels.txt, an .onnx file and a .tflite file cut short: one line naming the file, exit 2."""
    if kind == "labels.txt":
        path = small_export / "labels.txt"
    elif kind == "onnx":
        m = json.loads((small_export / "manifest.json").read_text())
        path = small_export / next(e["path"] for e in m["artifacts"] if e["format"] == "onnx")
    else:
        data = _tflite(small_export, "fp32").read_bytes()
        path = tmp_path / "cut.tflite"
        path.write_bytes(data[: min(100_000, len(data) // 2)])
    rc = main(["profile", "--tflite", str(path), "--json", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {path} is not a ") and ("TFLite model" in line)
    assert not (tmp_path / "p.json").exists()


def test_profile_refuses_an_arch_the_file_is_not(small_export: Path, tmp_path: Path, capsys) -> None:
    """Another variant with as many units (0.5x, or 1.0x with an ImageNet stem) is refused in one line; the right
    one names the stem after what the file holds (no max pool in a CIFAR stem)."""
    path = _tflite(small_export, "int8")
    for other, why in [("shufflenet_v1_g3_0.5x_cifar", "unit features.0 outputs"),
                       ("shufflenet_v1_g3_1.0x", "does not match")]:  # fmt: skip
        rc = main(["profile", "--tflite", str(path), "--arch", other, "--json", str(tmp_path / "p.json")])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err, err
        (line,) = err.strip().splitlines()
        assert line.startswith(f"error: --arch {other} does not match {path.name}") and why in line, line
    rc = main(["profile", "--artifacts", str(small_export), "--arch", "shufflenet_v1_g3_0.5x_cifar"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --arch shufflenet_v1_g3_0.5x_cifar does not match") and "0.25x" in err
    assert not (tmp_path / "p.json").exists()
    prof = profile_tflite(path, arch=ARCH, warmup=1, runs=2, repeats=1, rounds=1)
    assert prof.segments[0].module == "first_conv" and "MAX_POOL_2D" not in prof.segments[0].ops


def test_profile_of_a_file_compiled_for_an_npu_is_one_line(small_npu_export: Path, tmp_path: Path, capsys) -> None:
    """A .tflite compiled ahead of time for a Snapdragon NPU is one DISPATCH_OP that LiteRT on this host cannot
    prepare: one line naming the file and the CPU file to profile instead, exit 2 (it was a traceback)."""
    m = json.loads((small_npu_export / "manifest.json").read_text())
    path = small_npu_export / next(e["path"] for e in m["artifacts"] if e.get("npu"))
    rc = main(["profile", "--tflite", str(path), "--json", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {path} is compiled ahead of time for an NPU") and "compiled_from" in line
    assert not (tmp_path / "p.json").exists()
