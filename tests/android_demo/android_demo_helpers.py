"""Paths and small helpers shared by the Android demo tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "android_demo"
CORE_SRC = DEMO / "app" / "src" / "main" / "java" / "com" / "shufflenetmobile" / "demo" / "core"
UNIT_TEST_SRC = DEMO / "app" / "src" / "test" / "java"
HARNESS_SRC = Path(__file__).resolve().parent / "java"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest.jar"))
EXPORT_ARCH = "shufflenet_v1_g3_0.25x_cifar"
# Set to an existing folder written by shufflenet-export to skip the (about 40 s) export while iterating.
REUSE_EXPORT_ENV = "SHUFFLENET_ANDROID_TEST_EXPORT"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, failing the test with its full output when it exits non-zero."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{shlex.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def tflite_entries(manifest: dict) -> dict[str, dict]:
    """The export's .tflite files keyed by precision ('fp32', 'fp16', 'fp16-arith', 'int8')."""
    return {a["precision"]: a for a in manifest["artifacts"] if a["format"] == "tflite" and not a.get("npu")}
