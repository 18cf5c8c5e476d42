"""Official checkpoints (both file forms) load strictly into the right variant; bad files fail in one line."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from shufflenet.model import CheckpointError, build_model, load_model
from shufflenet.model.checkpoint import identify_variants, to_official_state_dict
from shufflenet.model.cli_info import main as info_main


def trained_like(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def official_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ckpt")
    model = trained_like("shufflenet_v1_g3_0.5x")
    wrapped = d / "ShuffleNetV1_0.5x_g3.pth.tar"
    torch.save({"state_dict": to_official_state_dict(model, data_parallel=True)}, wrapped)
    bare = d / "model.mdl"
    torch.save(to_official_state_dict(model, data_parallel=False), bare)
    truncated = d / "truncated.pth"
    truncated.write_bytes(wrapped.read_bytes()[: wrapped.stat().st_size // 2])
    text = d / "notes.pth"
    text.write_text("this is not a checkpoint\n")
    g8 = d / "g8.pth"
    torch.save({"state_dict": to_official_state_dict(trained_like("shufflenet_v1_g8_0.5x"))}, g8)
    broken = d / "broken.pth"
    sd = to_official_state_dict(model)
    del sd["module.features.3.branch_main_2.1.running_var"]
    sd["module.features.0.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": sd}, broken)
    not_dict = d / "tensor.pth"
    torch.save(torch.zeros(3), not_dict)
    binary = d / "random.pth"
    binary.write_bytes(bytes(range(1, 256)) * 8)  # not text, not a zip archive, not a pickle
    unsafe = d / "unsafe.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "hook": _RunsCode()}, unsafe)
    plain = d / "plain_pickle.pth"
    plain.write_bytes(pickle.dumps(dict(model.state_dict()), protocol=4))
    folder = d / "a_folder.pth"
    folder.mkdir()
    return {"wrapped": wrapped, "bare": bare, "truncated": truncated, "text": text, "g8": g8, "broken": broken,
            "not_dict": not_dict, "missing": d / "nope.pth", "model": model, "binary": binary, "unsafe": unsafe,
            "plain": plain, "folder": folder}  # fmt: skip


class _RunsCode:
    """Pickles as a call of os.getcwd: what a malicious checkpoint would do with os.system."""

    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_official_layout_keys() -> None:
    keys = set(to_official_state_dict(build_model("shufflenet_v1_g3_1.0x"), data_parallel=False))
    for k in ("first_conv.0.weight", "first_conv.1.running_var", "features.0.branch_main_1.0.weight",
              "features.15.branch_main_1.3.weight", "features.7.branch_main_1.4.num_batches_tracked",
              "features.15.branch_main_2.1.bias", "classifier.0.weight"):  # fmt: skip
        assert k in keys


@pytest.mark.parametrize("form", ["wrapped", "bare"])
def test_both_forms_load_into_right_variant_with_same_output(official_files: dict, form: str) -> None:
    model, variant, ckpt = load_model(official_files[form])
    assert variant.name == "shufflenet_v1_g3_0.5x"
    assert ckpt.source_format == ("official-wrapped" if form == "wrapped" else "official-bare")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), official_files["model"](x))


def test_identify_by_shapes(official_files: dict) -> None:
    sd = torch.load(official_files["g8"], weights_only=True)["state_dict"]
    assert identify_variants({k.removeprefix("module."): v for k, v in sd.items()}) == ["shufflenet_v1_g8_0.5x"]


@pytest.mark.parametrize(
    "case,arch,message",
    [
        ("g8", "shufflenet_v1_g3_0.5x", "is a shufflenet_v1_g8_0.5x checkpoint, not shufflenet_v1_g3_0.5x"),
        ("broken", None, "matches no ShuffleNet v1 variant"),
        ("broken", "shufflenet_v1_g3_0.5x", "1 missing keys (first: features.3.branch_main_2.1.running_var)"),
        ("wrapped", "shufflenet_v1_g3_1.0x", "not shufflenet_v1_g3_1.0x"),
        ("truncated", None, "is a damaged or truncated PyTorch checkpoint"),
        ("text", None, "is not a PyTorch checkpoint: it is a text file"),
        ("binary", None, "is not a PyTorch checkpoint: its first bytes are neither a zip archive"),
        ("unsafe", None, "was refused as unsafe: it holds Python objects other than tensors (posix.getcwd)"),
        ("plain", None, "was refused as unsafe: it is a plain Python pickle, not a torch.save checkpoint"),
        ("folder", None, "is a folder, not a checkpoint file"),
        ("not_dict", None, "holds no state dict of tensors"),
        ("missing", None, "does not exist"),
    ],
)
def test_bad_checkpoints_fail_clearly(official_files: dict, case: str, arch: str | None, message: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
            load_model(official_files[case], arch)
    assert "\n" not in str(e.value)
    assert "download it again" not in str(e.value) or case == "truncated"  # only a damaged file is re-fetched
    assert not [str(w.message) for w in caught]  # torch's pickle-protocol warning does not precede the line


def test_wrong_shapes_are_named(official_files: dict, tmp_path: Path) -> None:
    sd = to_official_state_dict(official_files["model"], data_parallel=False)
    sd["features.0.branch_main_1.0.weight"] = torch.zeros(7, 12, 1, 1)
    path = tmp_path / "damaged.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"wrong shapes \(first: features.0.branch_main_1.0.weight is \[7, 12"):
        load_model(path, "shufflenet_v1_g3_0.5x")


def test_any_class_count_loads_into_the_variant(
    official_files: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A classifier of 7 classes on a g3 0.5x backbone is that variant with 7 outputs (class_0 ... class_6 when
    the file names none); ten classes and these channels is exactly the small-stem CIFAR variant."""
    sd = to_official_state_dict(official_files["model"], data_parallel=False)
    sd["classifier.0.weight"] = torch.zeros(7, 480)
    path = tmp_path / "seven_classes.pth"
    torch.save(sd, path)
    model, variant, _ = load_model(path, "shufflenet_v1_g3_0.5x")
    assert variant.name == "shufflenet_v1_g3_0.5x" and variant.num_classes == 7
    assert variant.class_names() == [f"class_{i}" for i in range(7)] and variant.weights is None
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    assert load_model(path)[1].name == "shufflenet_v1_g3_0.5x"  # no arch: the ImageNet stem
    assert info_main(["--weights", str(path)]) == 0
    assert "shufflenet_v1_g3_0.5x (official-bare file" in (out := capsys.readouterr().out) and "7 classes" in out
    sd["classifier.0.weight"] = torch.zeros(10, 480)
    torch.save(sd, path)
    assert load_model(path)[1].name == "shufflenet_v1_g3_0.5x_cifar"


def test_info_cli_identifies_checkpoint(official_files: dict, capsys: pytest.CaptureFixture) -> None:
    assert info_main(["--weights", str(official_files["bare"])]) == 0
    assert "shufflenet_v1_g3_0.5x (official-bare file" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["truncated", "text", "g8", "missing", "plain", "unsafe", "folder"])
def test_info_cli_bad_file_one_line_no_traceback(official_files: dict, case: str) -> None:
    args = ["--weights", str(official_files[case])] + (["--arch", "shufflenet_v1_g3_0.5x"] if case == "g8" else [])
    proc = subprocess.run([sys.executable, "-m", "shufflenet.model.cli_info", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")


def test_unknown_arch_suggests(capsys: pytest.CaptureFixture) -> None:
    assert info_main(["--arch", "shufflenet_v1_g3_1.0"]) == 2
    assert "did you mean shufflenet_v1_g3_1.0x" in capsys.readouterr().err
    assert info_main(["--arch", "shufflenet_v1_g3_1x"]) == 0  # "1x" is read as 1.0x
    assert "shufflenet_v1_g3_1.0x" in capsys.readouterr().out


def test_an_arch_contradicting_the_recorded_variant_is_refused_naming_both(
    own_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    """A shufflenet-train file records its variant (here the _cifar one, 3 classes); the ImageNet-stem variant of
    the same g and width fits its shapes but computes something else: the file's own record wins."""
    recorded, other = "shufflenet_v1_g3_0.25x_cifar", "shufflenet_v1_g3_0.25x"
    with pytest.raises(CheckpointError, match=f"is a {recorded} checkpoint .*not {other}; .*--arch {recorded}"):
        load_model(own_checkpoint, other)  # what shufflenet-eval --checkpoint --arch loads
    from shufflenet.model.source import resolve_model

    with pytest.raises(CheckpointError, match=f"not {other}"):
        resolve_model(other, weights=own_checkpoint)  # what shufflenet-export --weights --arch loads
    assert info_main(["--weights", str(own_checkpoint), "--arch", other]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and recorded in err and other in err and "loads with strict=True" not in err
    # Another variant whose shapes do not fit: the suggestion is the recorded variant, not the ImageNet one
    with pytest.raises(CheckpointError, match=f"--arch {recorded}$"):
        load_model(own_checkpoint, "shufflenet_v1_g8_0.5x_cifar")
    assert load_model(own_checkpoint, recorded)[1].name == recorded
    # Fine-tuning starts a network from weights of the same shapes: the other stem may take the backbone
    from shufflenet.model.finetune import init_from_checkpoint
    from shufflenet.model.registry import get_variant

    model = get_variant(other).with_classes(["bird", "deer", "ship"]).build()
    assert not init_from_checkpoint(model, own_checkpoint, other, ["bird", "deer", "ship"]).replaced_classifier
