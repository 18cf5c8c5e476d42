"""One real export of a small variant to every format, shared by the export tests of a session."""

from __future__ import annotations

import pytest
from shufflenet.export.pipeline import ExportConfig, ExportResult, run_export

SMALL_ARCH = "shufflenet_v1_g3_0.25x_cifar"


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("export") / "small"
    return run_export(ExportConfig(output=out, arch=SMALL_ARCH, random_init=True, seed=3))
