"""`shufflenet-parity --per-layer`: the int8 TFLite file against the float32 one, op by op, on a real export."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("parity_fixtures")  # helpers and fixtures, before their first import
from parity_fixtures import entry, read_manifest, reseal, rewrite_weights  # noqa: E402
from shufflenet.benchmarks.cli_parity import main  # noqa: E402
from shufflenet.benchmarks.parity.per_layer import CONV_OPS, module_path, per_layer_parity  # noqa: E402

pytest_plugins = ["parity_fixtures"]  # default_export, photo_dir, export_copy


def test_module_path_from_onnx_node_names() -> None:
    assert module_path("/features/features.3/branch_main_1/branch_main_1.0/Conv") == "features.3.branch_main_1.0"
    assert module_path("/first_conv/first_conv.0/Conv") == "first_conv.0"
    assert module_path("/classifier/classifier.0/MatMul") == "classifier.0"
    assert module_path("/fc/Gemm") == "fc"
    assert module_path("Conv_12") == "Conv_12"


def _images(d: Path, n: int) -> np.ndarray:
    from shufflenet.export.calibration import install_photos
    from shufflenet.model.preprocessing import Preprocessing

    return install_photos(Preprocessing.from_dict(read_manifest(d)["preprocessing"]), seed=1).images[:n]


@pytest.mark.slow
def test_per_layer_lists_every_conv(
    default_export: Path, photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every conv (and the classifier) of the int8 file is listed in network order, named by its PyTorch
    module, with its PSNR and cosine against the float32 file; the CLI prints and writes the same table."""
    import torch
    from shufflenet.model.registry import get_variant

    m = read_manifest(default_export)
    hist = entry(m, "tflite", "int8")["op_histogram"]
    js = tmp_path / "p.json"
    rc = main(["--artifacts", str(default_export), "--images", str(photo_dir), "--per-layer", "--json", str(js)])
    out = capsys.readouterr().out
    assert rc == 0, out
    report = next(r for r in json.loads(js.read_text()) if "per_layer" in r)
    assert report["path"] == entry(m, "tflite", "int8")["path"]
    pl = report["per_layer"]
    layers = pl["layers"]
    assert pl["images"] == 6 and pl["unmatched"] == []
    assert sum(hist.values()) == len(layers)  # every op of the int8 graph, matched to the float32 one
    convs = [la for la in layers if la["op"] in CONV_OPS]
    for op in CONV_OPS:
        assert sum(la["op"] == op for la in convs) == hist.get(op, 0)
    model = get_variant(m["arch"]).build()
    torch_layers = [n for n, mod in model.named_modules() if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear)]
    # the int8 file writes each stride-2 unit's average pool as a depthwise conv: named by its AvgPool2d module
    pools = [n for n, mod in model.named_modules() if isinstance(mod, torch.nn.AvgPool2d)]
    named = [la["module"] for la in convs]
    assert [n for n in named if n not in pools] == torch_layers  # network order, every conv named
    assert sorted(n for n in named if n in pools) == sorted(pools)
    assert [la["index"] for la in layers] == sorted(la["index"] for la in layers)
    for la in layers:
        assert la["psnr_db"] is not None and 25 < la["psnr_db"] < 100, la
        assert 0.99 < la["cosine"] <= 1.0 + 1e-9
    table = out.split("per-layer: ", 1)[1].splitlines()
    for la in convs:
        (row,) = [ln for ln in table if ln.split()[:3] == [str(la["index"]), la["op"], la["module"]]]
        assert f"{la['psnr_db']:.1f}" in row
    assert pl["summary"] in out


@pytest.mark.slow
def test_per_layer_points_at_the_broken_layer(default_export: Path, export_copy: Callable) -> None:
    """Scrambling the int8 weights of one depthwise conv deep inside the network: the report marks exactly
    that layer as where the error enters, and every layer before it stays clean."""
    # int8 itself loses up to ~17 dB at some layers of a trained model; the bar sits above the clean maximum.
    clean = per_layer_parity(default_export, read_manifest(default_export), _images(default_export, 4), 1e9)
    bar = max(la.drop_db for la in clean.layers) + 3.0
    d = export_copy(default_export, keep=("sim.onnx", "float32.tflite", "int8_full_integer"))
    int8 = entry(read_manifest(d), "tflite", "int8")["path"]
    # The 8th DEPTHWISE_CONV_2D of the int8 file (units 0 and 4 also hold their average pool as one):
    broken = rewrite_weights(d / int8, "DEPTHWISE_CONV_2D", 7, lambda w: w[..., ::-1])  # channel order reversed
    reseal(d, int8)
    rep = per_layer_parity(d, read_manifest(d), _images(d, 4), max_drop_db=bar)
    first = rep.first_flagged
    assert first is not None and first.tensor == broken
    assert first.op == "DEPTHWISE_CONV_2D" and first.module == "features.5.branch_main_1.3"
    assert first.drop_db >= bar and first.psnr_db < 25
    before = [la for la in rep.layers if la.index < first.index]
    assert before and all(la.drop_db < bar and la.psnr_db > 35 for la in before)
    assert sum(la.flagged for la in rep.layers) == 1
    assert "error enters at" in rep.summary() and "features.5.branch_main_1.3" in rep.summary()
    assert not math.isinf(first.input_psnr_db)
