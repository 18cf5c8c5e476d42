"""Fixtures for the Android demo tests: the offline toolchain, a real export, compiled Java, the offline APK.

Everything here runs for real: the toolchain script installs Debian packages when they are missing (as on a
fresh CI machine), the export is `shufflenet-export` itself, and the APK is built by android_demo/build_offline.sh.
Each is made once per test run, whatever the number of xdist workers (``run_once``): two apt-get runs at once
would also fight over dpkg's lock.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from android_demo_helpers import (
    CORE_SRC,
    DEMO,
    EXPORT_ARCH,
    HARNESS_SRC,
    JUNIT_JARS,
    REUSE_EXPORT_ENV,
    UNIT_TEST_SRC,
    run,
)
from run_once import once_per_run


@pytest.fixture(scope="session")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """aapt2, zipalign, apksigner, javac, JUnit (Debian 12) + android.jar and dx (bullseye), installed once."""
    setup = ["bash", str(DEMO / "scripts" / "setup_toolchain.sh")]
    proc = once_per_run(tmp_path_factory, "toolchain", lambda _: run(setup))
    env = dict(shlex.split(line)[0].split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert Path(env["ANDROID_JAR"]).is_file() and Path(env["DX_JAR"]).is_file(), env
    for jar in JUNIT_JARS:
        assert jar.is_file(), f"{jar} missing after setup_toolchain.sh"
    return env


@pytest.fixture(scope="session")
def jdk_and_junit(tmp_path_factory: pytest.TempPathFactory) -> None:
    """javac and JUnit from Debian 12 only: the plain-Java tests need neither android.jar nor dx nor a model."""
    setup = ["bash", str(DEMO / "scripts" / "setup_toolchain.sh"), "--jvm-only"]
    once_per_run(tmp_path_factory, "toolchain-jvm", lambda _: run(setup).returncode)
    for jar in JUNIT_JARS:
        assert jar.is_file(), f"{jar} missing after setup_toolchain.sh --jvm-only"


@pytest.fixture(scope="session")
def export_dir(request: pytest.FixtureRequest) -> Path:
    """A real export (float32, float16 and int8 .tflite among others) of a small variant: the session's shared
    small export (tests/conftest.py), or the folder named by $SHUFFLENET_ANDROID_TEST_EXPORT."""
    reuse = os.environ.get(REUSE_EXPORT_ENV)
    if reuse:
        return Path(reuse)
    result = request.getfixturevalue("small_export_result")
    assert result.manifest["arch"] == EXPORT_ARCH
    return result.output


@pytest.fixture(scope="session")
def manifest(export_dir: Path) -> dict:
    return json.loads((export_dir / "manifest.json").read_text())


@pytest.fixture(scope="session")
def java_classes(jdk_and_junit: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's plain-Java classes, their JUnit tests and the golden harness, compiled for the desktop JVM.

    No android.jar on the class path: that this compiles at all shows the classes have no Android imports.
    """

    def compile_classes(out: Path) -> Path:
        sources = [*CORE_SRC.glob("*.java"), *UNIT_TEST_SRC.rglob("*.java"), *HARNESS_SRC.glob("*.java")]
        classpath = os.pathsep.join(str(j) for j in JUNIT_JARS)
        run(["javac", "-encoding", "UTF-8", "-Xlint:all", "-Werror", "-cp", classpath, "-d", str(out),
             *map(str, sources)])  # fmt: skip
        return out

    return once_per_run(tmp_path_factory, "java-classes", compile_classes)


@pytest.fixture(scope="session")
def offline_apk(toolchain: dict[str, str], export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The structure-only APK built by android_demo/build_offline.sh from the real export."""

    def build(folder: Path) -> Path:
        apk = folder / "shufflenet-demo-offline.apk"
        env = {**os.environ, "PYTHON": sys.executable}
        cmd = ["bash", str(DEMO / "build_offline.sh"), "--artifacts", str(export_dir), "--out", str(apk)]
        assert run(cmd, env=env).stdout.strip().endswith(str(apk))
        return apk

    return once_per_run(tmp_path_factory, "offline-apk", build)
