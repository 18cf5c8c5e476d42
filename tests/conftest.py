"""Shared fixtures: where ../shared is (skipping clearly when it is absent, as on a user's fresh clone), the one
small real export that the export, benchmark and parity tests share (made once per run, whatever the number of
pytest-xdist workers: ``run_once``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from run_once import once_per_run

if TYPE_CHECKING:
    from shufflenet.export.pipeline import ExportResult

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is absent: the shared data folder is only beside the repository on developer and CI machines"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Callable[..., Path]:
    """``shared("data", "x")``: a path under ../shared, or a clear skip when that folder is absent."""
    return shared_path


@pytest.fixture(scope="session")
def imagenet_samples() -> Path:
    return shared_path("data", "imagenet", "samples")


SMALL_ARCH = "shufflenet_v1_g3_0.25x_cifar"  # the smallest variant with grouped convs and channel shuffles


@pytest.fixture(scope="session")
def small_export_result(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """One real export of a small variant (0.25x g3, 32x32, seeded random init) to every format and precision,
    with parity in its manifest; made once per session and shared, read-only, by every test that needs an export
    folder but not a particular model (tests that change files work on copies)."""
    try:
        from shufflenet.export.pipeline import ExportConfig, run_export
    except ImportError as e:
        pytest.skip(f"the export library is not available: {e}")

    def make(folder: Path) -> ExportResult:
        return run_export(ExportConfig(output=folder / "small", arch=SMALL_ARCH, random_init=True, seed=3))

    return once_per_run(tmp_path_factory, "small-export", make)


@pytest.fixture(scope="session")
def small_npu_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of the small variant's int8 .tflite and its ahead-of-time compile for one Snapdragon NPU
    (``--npu qualcomm:SM8650``): the file that only the phone's dispatch library runs, for the readers that must
    refuse it. Made once per session."""
    from shufflenet.export.pipeline import ExportConfig, run_export

    def make(folder: Path) -> Path:
        cfg = ExportConfig(output=folder / "npu", arch=SMALL_ARCH, random_init=True, seed=3, formats=("tflite",),
                           precisions=("int8",), npu="qualcomm:SM8650", parity=False)  # fmt: skip
        return run_export(cfg).output

    return once_per_run(tmp_path_factory, "small-npu-export", make)


@pytest.fixture(scope="session")
def arm64_env(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The aarch64 emulator and userland of the ``litert-arm64`` runtime, installed by the project's own set-up
    script (idempotent: a cached install returns at once, a first run downloads its pinned files), once a run."""
    import subprocess

    from shufflenet.export.runtimes.litert_arm64 import Arm64Env

    def make(_: Path) -> None:
        res = subprocess.run(["bash", str(ROOT / "scripts" / "setup_arm64.sh")], capture_output=True, text=True)
        assert res.returncode == 0, f"scripts/setup_arm64.sh failed:\n{res.stderr[-3000:]}"

    once_per_run(tmp_path_factory, "arm64-setup", make)
    return Arm64Env.find()


OWN_CLASSES = ("bird", "deer", "ship")  # the "own photos" of the fine-tuning and end-to-end tests
OWN_ARCH = SMALL_ARCH


@pytest.fixture(scope="session")
def own_photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user's photo folder made from real CIFAR-10 test images: 3 classes, every image its own size (enlarged,
    3:4 to 4:3), JPEG, PNG and WebP, some stored sideways with an EXIF orientation; ``train`` (16 per class) and a
    disjoint ``test`` (8 per class)."""
    from shufflenet.benchmarks.accuracy.own_data import build_photo_folder

    archive = shared_path("data", "cifar10-jpeg.tar.gz")

    def make(folder: Path) -> dict[str, Path]:
        build_photo_folder(archive, folder / "train", OWN_CLASSES, per_class=16)
        build_photo_folder(archive, folder / "test", OWN_CLASSES, per_class=8, skip=16)
        return {"train": folder / "train", "test": folder / "test"}

    return once_per_run(tmp_path_factory, "own-photos", make)


@pytest.fixture(scope="session")
def own_checkpoint(tmp_path_factory: pytest.TempPathFactory, own_photos: dict[str, Path]) -> Path:
    """A checkpoint of the small variant trained a few steps on ``own_photos`` (3 classes): what
    ``shufflenet-train`` writes for a user's folder."""
    from shufflenet.model.datasets import load_image_folder
    from shufflenet.model.registry import get_variant
    from shufflenet.model.training import TrainConfig, train

    def make(folder: Path) -> Path:
        data = load_image_folder(own_photos["train"], get_variant(OWN_ARCH).preprocessing, folder / "cache")
        train(TrainConfig(arch=OWN_ARCH, epochs=2, threads=1), data, None, folder / "own.pt")
        return folder / "own.pt"

    return once_per_run(tmp_path_factory, "own-checkpoint", make)


# The modules that take a minute or more of CPU (measured with `pytest --durations=0`), longest first. pytest-xdist
# hands whole modules to its workers in collection order (`--dist loadscope --no-loadscope-reorder`), so these
# start first and the short modules fill in around them; left to the default order, the 224x224 export module
# started last and the run waited for it alone. A module missing here only runs later; nothing is skipped.
LONG_MODULES = (
    "export/formats/test_executorch_export.py",
    "test_own_data_e2e.py",
    "benchmarks/parity/test_parity_224.py",
    "export/formats/test_npu_qualcomm.py",
    "benchmarks/parity/test_arm64_parity.py",
    "export/runtimes/test_coreml_eval.py",
    "export/test_output_safety.py",
    "export/test_export_cli.py",
    "benchmarks/parity/test_parity.py",
    "benchmarks/phone_latency/test_android.py",
    "export/runtimes/test_litert_arm64.py",
    "benchmarks/parity/test_parity_overflow.py",
    "model/test_train_guards.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    stale = [m for m in LONG_MODULES if not (ROOT / "tests" / m).is_file()]
    if stale:  # a renamed module would silently lose its place in the order
        raise pytest.UsageError(f"LONG_MODULES in tests/conftest.py names missing files: {', '.join(stale)}")

    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0].removeprefix("tests/")
        return LONG_MODULES.index(module) if module in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)  # stable: the order inside each module is kept
