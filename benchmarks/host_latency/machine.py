"""What this machine is, recorded with every host measurement: CPU model and SIMD level, cores, OS, Python, the
runtimes' versions and the load average (the machine may be shared)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                k, v = (x.strip() for x in line.split(":", 1))
                info.setdefault(k.lower(), v)
    except OSError:
        pass
    return info


def machine_description() -> str:
    """e.g. "AMD EPYC (2.45 GHz, AVX2, virtual machine), 2 logical CPUs, Linux x86_64"."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    extras = []
    if info.get("cpu mhz"):
        extras.append(f"{float(info['cpu mhz']) / 1000:.2f} GHz")
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else ""
    if simd:
        extras.append(simd)
    if "hypervisor" in flags:
        extras.append("virtual machine")
    name = cpu_model() + (f" ({', '.join(extras)})" if extras else "")
    return f"{name}, {os.cpu_count() or 0} logical CPUs, {platform.system()} {platform.machine()}"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def host_environment() -> dict[str, Any]:
    """What the host is: CPU, cores, OS, Python, runtime versions, load average (the machine may be shared)."""
    n = os.cpu_count() or 0
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = n
    env: dict[str, Any] = {
        "machine": machine_description(),
        "cpu_model": cpu_model(),
        "logical_cpus": n,
        "usable_cpus": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            d: _version(d) for d in ("torch", "numpy", "onnxruntime", "ai-edge-litert", "tensorflow-cpu", "onnx")
        },
    }
    try:
        env["load_average_start"] = list(os.getloadavg())
    except OSError:
        pass
    return env


def finish_environment(env: dict[str, Any]) -> None:
    try:
        env["load_average_end"] = list(os.getloadavg())
    except OSError:
        pass
