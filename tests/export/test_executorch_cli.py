"""`shufflenet-export --format executorch`: without the extra, one line naming the install command; with it, the
export writes the .pte files offline; the estimate covers the new step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shufflenet.export.budget import SECONDS_PER_PTE, estimate
from shufflenet.export.pipeline import ExportConfig, drop_missing_extras, plan_precisions
from shufflenet.model.registry import get_variant

ARCH = "shufflenet_v1_g3_0.25x_cifar"
# Runs the CLI in a process where ExecuTorch is absent: importlib finds no module named in sys.modules as None.
HIDDEN = "import sys; sys.modules['executorch'] = None\nfrom shufflenet.export.cli import main\n"


def _cli_without_executorch(*args: str) -> subprocess.CompletedProcess:
    code = HIDDEN + f"sys.exit(main({list(args)!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_format_executorch_without_the_extra_is_one_line(tmp_path: Path) -> None:
    proc = _cli_without_executorch("--random-init", "--arch", ARCH, "--format", "executorch", "--output",
                                   str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --format executorch needs ExecuTorch")
    assert "pip install 'shufflenet-mobile[executorch]'" in lines[0] and "requirements-executorch.lock" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_format_all_without_the_extra_leaves_it_out_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    cfg = ExportConfig(output=Path("unused"), arch=ARCH, random_init=True)
    plan = plan_precisions(cfg)
    assert plan["executorch"] == ("fp32", "int8")
    said: list[str] = []
    monkeypatch.setitem(sys.modules, "executorch", None)  # not installed, as importlib sees it
    assert importlib.util.find_spec("executorch") is None
    drop_missing_extras(cfg, plan, said.append)
    assert "executorch" not in plan and "tflite" in plan
    assert said == [
        "executorch: not installed, left out of --format all; run `pip install 'shufflenet-mobile[executorch]'` "
        "(hash-locked in requirements-executorch.lock; `make install` does it)"
    ]


def test_estimate_covers_the_pte_step() -> None:
    build = get_variant(ARCH).build
    base = estimate(build, (32, 32), {"onnx": ("fp32",)}, 96, 96)
    pte = estimate(build, (32, 32), {"onnx": ("fp32",), "executorch": ("fp32", "int8")}, 96, 96)
    assert pte.seconds >= base.seconds + 2 * SECONDS_PER_PTE
    assert pte.peak_bytes > base.peak_bytes  # the library loaded beside the rest


@pytest.mark.slow
def test_executorch_export_with_network_unreachable(tmp_path: Path) -> None:
    """The .pte export (fp32 and int8, PT2E calibration included) inside a network namespace with only loopback."""
    pytest.importorskip("executorch")
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available here (needs root or user namespaces)")
    out = tmp_path / "offline"
    cmd = [unshare, "-n", sys.executable, "-m", "shufflenet.export.cli", "--random-init", "--arch", ARCH,
           "--format", "executorch", "--no-parity", "--output", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    pte = [e for e in manifest["artifacts"] if e["format"] == "executorch"]
    assert sorted(e["precision"] for e in pte) == ["fp32", "int8"]
    assert all(e["graph_check"]["ok"] for e in pte)
    assert manifest["tool_versions"]["executorch"] == "1.5.1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["offline", "offline.export.log"]
