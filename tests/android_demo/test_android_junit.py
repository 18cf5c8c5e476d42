"""The app's plain-Java classes (preprocessing, quantization, softmax/top-k, latency) under JUnit on the desktop JVM."""

from __future__ import annotations

import os
import re
from pathlib import Path

from android_demo_helpers import CORE_SRC, JUNIT_JARS, UNIT_TEST_SRC, run


def test_plain_java_classes_have_no_android_or_awt_imports() -> None:
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in CORE_SRC.glob("*.java")
        for line in path.read_text().splitlines()
        if re.match(r"\s*import\s+(android|androidx|java\.awt|javax|org\.tensorflow)\.", line)
    ]
    assert offenders == []


def test_junit_suite_passes(java_classes: Path) -> None:
    test_files = sorted(UNIT_TEST_SRC.rglob("*Test.java"))
    class_names = [".".join(p.relative_to(UNIT_TEST_SRC).with_suffix("").parts) for p in test_files]
    expected = sum(p.read_text().count("@Test") for p in test_files)
    classpath = os.pathsep.join([str(java_classes), *map(str, JUNIT_JARS)])
    proc = run(["java", "-cp", classpath, "org.junit.runner.JUnitCore", *class_names])
    # JUnitCore ends with "OK (N tests)" only when every test passed; N proves none was left out.
    assert f"OK ({expected} tests)" in proc.stdout, proc.stdout
    assert expected >= 40
