"""The shared parity core (``shufflenet.export.parity``) and the metrics it reports.

Metrics: small arrays whose answers are worked out by hand. Core: the reference model rebuilt from a manifest's
``source`` (random init, checkpoint, embedded). The core on real export folders (signature check, the manifest's
figures re-computed) is tested in ``tests/benchmarks/parity/test_parity.py``, beside the shared export fixture.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.metrics import compare, cosine, psnr_db, softmax, topk_agreement
from shufflenet.export.parity import ParityError, rebuild_reference, reference_prep
from shufflenet.model.files import sha256_path
from shufflenet.model.registry import get_variant

ARCH = "shufflenet_v1_g3_0.25x_cifar"

# --------------------------------------------------------------------------------------------------- metrics


def test_psnr_known_value() -> None:
    ref = np.array([[3.0, -4.0, 0.0, 0.0]])
    test = ref + np.array([[1.0, -1.0, 1.0, -1.0]])  # RMSE 1, peak |ref| 4
    assert psnr_db(ref, test) == pytest.approx(20 * math.log10(4.0), abs=1e-12)
    assert psnr_db(ref, test) == pytest.approx(12.0412, abs=1e-4)
    # RMSE 0.04 with peak 4: 20 log10(100) = 40 dB exactly
    assert psnr_db(ref, ref + 0.04) == pytest.approx(40.0, abs=1e-9)
    assert psnr_db(ref, ref) == math.inf
    assert psnr_db(np.zeros((1, 3)), np.ones((1, 3))) == -math.inf


def test_cosine_known_value() -> None:
    ref = np.array([[1.0, 0.0], [1.0, 1.0]])
    test = np.array([[0.0, 1.0], [2.0, 2.0]])  # orthogonal (0), parallel (1): mean 0.5
    assert cosine(ref, test) == pytest.approx(0.5)
    assert cosine(np.array([[1.0, 2.0]]), np.array([[-1.0, -2.0]])) == pytest.approx(-1.0)
    assert cosine(np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]])) == pytest.approx(24 / 25)


def test_topk_agreement_known_value() -> None:
    ref = np.array([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    swapped_top2 = np.array([[4.0, 5, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    assert topk_agreement(ref, swapped_top2, 1) == 0.5  # row 0's argmax moved
    assert topk_agreement(ref, swapped_top2, 5) == 1.0  # same top-5 sets
    other_top5 = np.array([[5.0, 4, 3, 2, 1, 0], [5, 1, 2, 3, 4, 0]])  # row 1: class 0 enters, 5 leaves
    assert topk_agreement(ref, other_top5, 5) == 0.5
    assert topk_agreement(ref, other_top5, 1) == 0.5


def test_compare_and_softmax_known_values() -> None:
    ref = np.array([[3.0, -4.0, 0.0, 0.0]])
    m = compare(ref, ref + np.array([[2.0, 0.0, 0.0, 0.0]]))
    assert (m.max_abs, m.mean_abs) == (2.0, 0.5)
    assert m.psnr_db == pytest.approx(20 * math.log10(4.0))  # RMSE sqrt(4/4) = 1
    assert m.cosine == pytest.approx((3 * 5 + 16) / (5 * math.sqrt(41)))
    assert (m.top1_agreement, m.top5_agreement, m.images) == (1.0, 1.0, 1)
    np.testing.assert_allclose(softmax(np.array([[0.0, math.log(3.0)]])), [[0.25, 0.75]])
    with pytest.raises(ValueError, match="shapes differ"):
        compare(ref, np.zeros((1, 5)))


# ------------------------------------------------------------------------------------- reference rebuilding


def _logits(model: torch.nn.Module, seed: int = 0) -> np.ndarray:
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, 3, 32, 32)).astype(np.float32))
    with torch.no_grad():
        return model.eval()(x).numpy()


def test_rebuild_random_init_is_the_exported_model(tmp_path: Path) -> None:
    from shufflenet.export.pipeline import ExportConfig, resolve_model

    exported, variant, _ = resolve_model(ExportConfig(output=tmp_path, arch=ARCH, random_init=True, seed=7))
    manifest = {"arch": ARCH, "input_size": [32, 32], "source": {"kind": "random-init", "seed": 7, "sha256": None}}
    ref = rebuild_reference(manifest, tmp_path)
    np.testing.assert_array_equal(_logits(ref.model), _logits(exported))
    assert ref.prep == variant.preprocessing
    other = rebuild_reference({**manifest, "source": {"kind": "random-init", "seed": 8}}, tmp_path)
    assert not np.array_equal(_logits(other.model), _logits(exported))
    with pytest.raises(ParityError, match="random init"):
        rebuild_reference(manifest, tmp_path, weights=tmp_path / "x.pt")


def test_rebuild_from_checkpoint_and_weights_override(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = get_variant(ARCH).build().eval()
    ckpt = tmp_path / "trained.pt"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    source = {"kind": "checkpoint", "path": str(ckpt), "sha256": sha256_path(ckpt)}
    manifest = {"arch": ARCH, "input_size": [32, 32], "source": source}
    np.testing.assert_array_equal(_logits(rebuild_reference(manifest, tmp_path).model), _logits(model))

    moved = tmp_path / "elsewhere" / "trained.pt"
    moved.parent.mkdir()
    shutil.move(ckpt, moved)
    with pytest.raises(ParityError, match=r"checkpoint .*trained.pt.* not available here; pass --weights PATH"):
        rebuild_reference(manifest, tmp_path)
    np.testing.assert_array_equal(_logits(rebuild_reference(manifest, tmp_path, weights=moved).model), _logits(model))

    other = tmp_path / "other.pt"
    torch.save({"state_dict": get_variant(ARCH).build().state_dict()}, other)
    with pytest.raises(ParityError, match="not the ones the export was made from"):
        rebuild_reference(manifest, tmp_path, weights=other)
    with pytest.raises(ParityError, match="is not a file"):
        rebuild_reference(manifest, tmp_path, weights=tmp_path / "missing.pt")


def test_rebuild_embedded_source(tmp_path: Path) -> None:
    from shufflenet.model.pretrained import DEFAULT_ARCH, default_weights_path

    default = default_weights_path()
    missing = {"kind": "embedded", "path": "not-shipped.pt", "sha256": "0" * 64}
    manifest = {"arch": DEFAULT_ARCH, "input_size": [32, 32], "source": missing}
    with pytest.raises(ParityError, match=r"shipped weights not-shipped\.pt, which is not available here"):
        rebuild_reference(manifest, tmp_path)
    if default is not None:
        source = {"kind": "embedded", "path": default.name, "sha256": sha256_path(default)}
        ref = rebuild_reference({**manifest, "source": source}, tmp_path)
        assert ref.variant.name == DEFAULT_ARCH
    with pytest.raises(ParityError, match="source kind 'mystery'"):
        rebuild_reference({**manifest, "source": {"kind": "mystery"}}, tmp_path)


def test_reference_prep_follows_input_size() -> None:
    v = get_variant("shufflenet_v1_g3_1.0x")
    assert reference_prep(v, (224, 224)) == v.preprocessing
    p = reference_prep(v, (160, 128))
    assert p.crop == (160, 128) and p.mean == v.preprocessing.mean
