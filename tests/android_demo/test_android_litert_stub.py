"""The offline build's compile-only LiteRT stub declares only members of the real LiteRT 1.4.0 API, with their
real signatures (as transcribed from the API reference into litert_java_api.txt)."""

from __future__ import annotations

import re
from pathlib import Path

from android_demo_helpers import DEMO, run

STUB = DEMO / "offline" / "litert-stub"
API = Path(__file__).resolve().parent / "litert_java_api.txt"


def documented() -> set[str]:
    lines = API.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def stub_members(classes: Path) -> set[str]:
    names = sorted(
        ".".join(p.relative_to(classes).with_suffix("").parts)
        for p in classes.rglob("*.class")
        if p.stem != "Stub"  # the package-private helper that builds the exception
    )
    out = run(["javap", "-public", "-cp", str(classes), *names]).stdout
    members, current = set(), None
    for line in out.splitlines():
        header = re.match(r"^(?:public )?(?:abstract |final )*(?:class|interface) ([\w.$]+)", line)
        if header:
            current = header.group(1)
        elif line.startswith("  ") and current:
            members.add(f"{current}: {line.strip()}")
    return members


def test_stub_declares_only_documented_litert_members(jdk_and_junit, tmp_path: Path) -> None:
    run(["javac", "-d", str(tmp_path), *map(str, STUB.rglob("*.java"))])
    members = stub_members(tmp_path)
    assert len(members) >= 30
    assert sorted(members - documented()) == []
    # The GPU delegate is built from the options the compatibility list recommends for the device.
    assert (
        "org.tensorflow.lite.gpu.CompatibilityList: public org.tensorflow.lite.gpu.GpuDelegate$Options "
        "getBestOptionsForThisDevice();" in members
    )
