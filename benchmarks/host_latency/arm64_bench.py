"""Benchmark of the ``litert-arm64`` runtime: set-up time and emulated evaluation time; which instructions run.

``python -m shufflenet.benchmarks.host_latency.arm64_bench --artifacts DIR [--cpu ...] [--images N] [--cold]
[--kernels] --json docs/results/arm64_bench.json`` measures:

- set-up: ``scripts/setup_arm64.sh`` into a fresh cache folder (``--cold``: downloads every pinned file),
  again with everything cached (no network), and a rebuild from cached downloads under ``unshare -n``.
- emulated evaluation time: per .tflite file and CPU model, one emulated process on N images; the worker's own
  clock gives the start-up and the time per image. These are EMULATION times on this (shared, noisy) x86
  machine: they say how long a check takes here, never how fast a phone is. x86 LiteRT's time per image on the
  same inputs is measured right after, as the scale.
- ``--kernels``: which instructions LiteRT's kernels really execute per CPU model. qemu's ``-d in_asm`` logs
  every guest block it translates (disassembled); a run of one image is compared with a run of none (same
  interpreter set-up, no ``invoke``), and the instruction classes that only the invoke translated are counted:
  ``sdot``/``udot`` (dot product), ``smmla``/``ummla``/``usmmla`` (i8mm), SVE (``z``/``p`` registers),
  NEON widening multiplies (``smull``/``smlal``), float FMA (``fmla``), and float arithmetic by operand width
  (half / half into single / single precision: which arithmetic XNNPACK really used; ``export.runtimes.arm64_kernels``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.manifest import is_cpu_tflite, read_manifest, verify_artifact
from shufflenet.export.runtimes.arm64_kernels import describe, float_arithmetic, invoke_classes
from shufflenet.export.runtimes.litert_arm64 import (
    DEFAULT_CPUS,
    SETUP_SCRIPT,
    Arm64Env,
    Arm64Unavailable,
    parse_cpus,
    run_batch,
)
from shufflenet.export.runtimes.loader import load_runner
from shufflenet.model.cli_common import run_cli
from shufflenet.model.files import write_json_atomic

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
# One emulated image under qemu's instruction log: a float16 224x224 network takes minutes on a busy host.
KERNELS_TIMEOUT_S = 3600.0


def time_setup(cache: Path, offline: bool = False) -> dict[str, Any]:
    """Wall time of one run of the set-up script into ``cache`` (``offline``: under ``unshare -n``)."""
    cmd = ["bash", str(REPO / SETUP_SCRIPT)]
    if offline:
        cmd = ["unshare", "-n", *cmd]
    env = {**os.environ, "SHUFFLENET_ARM64_CACHE": str(cache)}
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return {"seconds": wall, "ok": res.returncode == 0, "offline": offline,
            "last_line": (res.stderr.strip().splitlines() or [""])[-1]}  # fmt: skip


def bench_setup(cold: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="arm64-setup-") as tmp:
        cache = Path(tmp) / "cache"
        if cold:
            out["cold_download"] = time_setup(cache)
        else:  # the downloads of the project's cache, copied: time the unpacking, not the network
            shutil.copytree(_project_cache() / "downloads", cache / "downloads")
        out["rebuild_from_cached_downloads_offline"] = time_setup(_drop_env(cache), offline=True)
        out["cached_offline"] = time_setup(cache, offline=True)
    return out


def _project_cache() -> Path:
    from shufflenet.export.runtimes.litert_arm64 import cache_dir

    return cache_dir()


def _drop_env(cache: Path) -> Path:
    shutil.rmtree(cache / "env", ignore_errors=True)
    return cache


def bench_eval(artifacts: Path, cpus: tuple[str, ...], n: int, env: Arm64Env,
               precisions: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    m = read_manifest(artifacts)
    images = np.random.default_rng(0).integers(0, 256, (n, *m["input_size"], 3), dtype=np.uint8)
    rows = []
    for e in _entries(m, precisions):
        verify_artifact(artifacts, e)
        host = load_runner(artifacts, {**e, "preprocessing": m["preprocessing"]})
        x = host.prepare(images)
        for cpu in cpus:
            log.info("%s on -cpu %s, %d images", e["path"], cpu, n)
            run = run_batch(env, artifacts / e["path"], x, cpu)
            t0 = time.perf_counter()
            for i in range(n):
                host.run_raw(x[i : i + 1])
            x86 = (time.perf_counter() - t0) / n
            per = run.info["invoke_s"] / n
            rows.append({"path": e["path"], "precision": e["precision"], "cpu": cpu, "images": n,
                         "emulated_startup_s": run.info["startup_s"], "process_wall_s": run.wall_s,
                         "emulated_seconds_per_image": per, "x86_litert_seconds_per_image": x86,
                         "slowdown_vs_x86": per / x86 if x86 else None})  # fmt: skip
    return rows


def bench_kernels(artifacts: Path, cpus: tuple[str, ...], env: Arm64Env,
                  precisions: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    m = read_manifest(artifacts)
    rows = []
    for e in _entries(m, precisions):
        path = verify_artifact(artifacts, e)
        host = load_runner(artifacts, {**e, "preprocessing": m["preprocessing"]})
        x = host.prepare(np.random.default_rng(0).integers(0, 256, (1, *m["input_size"], 3), dtype=np.uint8))
        for cpu in cpus:
            log.info("translated instructions: %s on -cpu %s", e["path"], cpu)
            only = invoke_classes(env, path, x, cpu, timeout_s=KERNELS_TIMEOUT_S)
            # An int8 file's invoke runs a few float32 instructions too, outside the integer kernels.
            arithmetic = "int8" if e["precision"] == "int8" else float_arithmetic(only)
            rows.append({"path": e["path"], "precision": e["precision"], "cpu": cpu,
                         "translated_by_invoke": only, "float_arithmetic": arithmetic})  # fmt: skip
    return rows


def _entries(manifest: dict[str, Any], precisions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The export's CPU .tflite files, only those of ``precisions`` when given."""
    return [e for e in manifest["artifacts"] if is_cpu_tflite(e) and (not precisions or e["precision"] in precisions)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shufflenet.benchmarks.host_latency.arm64_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--artifacts", type=Path, required=True, metavar="DIR")
    p.add_argument("--cpu", default=",".join(DEFAULT_CPUS), metavar="MODELS")
    p.add_argument("--images", type=int, default=32, metavar="N", help="images per emulated process (default 32)")
    p.add_argument("--cold", action="store_true", help="also time a set-up that downloads everything")
    p.add_argument("--kernels", action="store_true", help="count the instruction classes LiteRT's kernels run")
    p.add_argument("--only-kernels", action="store_true",
                   help="count the instruction classes only (no set-up or evaluation timing)")  # fmt: skip
    p.add_argument("--precisions", nargs="+", choices=["fp32", "fp16", "fp16-arith", "int8"],
                   help="only the .tflite files of these precisions")  # fmt: skip
    p.add_argument("--json", type=Path, required=True, metavar="OUT")
    args = p.parse_args(argv)

    def body() -> int:
        cpus = parse_cpus(args.cpu)
        if args.images < 1:
            raise ValueError("--images must be at least 1")
        env = Arm64Env.find()
        result: dict[str, Any] = {"note": "emulated times on a shared 2-core x86 host; not phone latency",
                                  "host_cpus": os.cpu_count(), "load_average": os.getloadavg()}  # fmt: skip
        precisions = tuple(args.precisions or ())
        if not args.only_kernels:
            print("timing the set-up script", file=sys.stderr)
            result["setup"] = bench_setup(args.cold)
            print("timing emulated evaluation", file=sys.stderr)
            result["evaluation"] = bench_eval(args.artifacts, cpus, args.images, env, precisions)
        if args.kernels or args.only_kernels:
            result["kernels"] = bench_kernels(args.artifacts, cpus, env, precisions)
        write_json_atomic(args.json, result)
        for r in result.get("kernels", []):
            print(f"{r['path']} on {r['cpu']}: {r['float_arithmetic']} ({describe(r['translated_by_invoke'])})")
        for r in result.get("evaluation", []):
            print(f"{r['path']} on {r['cpu']}: {r['emulated_seconds_per_image'] * 1e3:.0f} ms an image emulated "
                  f"(x86 LiteRT {r['x86_litert_seconds_per_image'] * 1e3:.2f} ms)")  # fmt: skip
        return 0

    # A missing emulator is a set-up to run first (its one line names the script): exit 2, as for bad input.
    return run_cli(body, (ValueError, OSError, Arm64Unavailable))


if __name__ == "__main__":
    sys.exit(main())
