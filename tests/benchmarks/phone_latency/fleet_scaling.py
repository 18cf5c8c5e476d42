"""Benchmark: the wall time of `shufflenet-bench android` over 1 and 8 phones, which should be close to the slowest
phone's, not the sum. Phones are TEST DOUBLES (``device_double``) whose ``benchmark_model`` run takes a set time,
attached through the real adb to two private adb servers on loopback ports (two lab hosts); the production code
path (``run_android``) drives them as it would real phones.

    .venv/bin/python tests/benchmarks/phone_latency/fleet_scaling.py --out docs/results/fleet_scaling.json

Each phone times 2 files x 2 repeats with RUN_S seconds per run; 1 phone and 8 phones (4 per server) are timed in
turns for ROUNDS rounds (medians kept), and 8 phones once more with ``--max-parallel 1`` (one after another) for
the sum. Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from device_double.lab import ADB, AdbServer, Lab  # the script's folder is on sys.path
from device_double.phone import fixtures_missing
from shufflenet.benchmarks.phone_latency.config import AndroidConfig
from shufflenet.model.files import write_json_atomic, write_text_atomic

RUN_S = 2.0
ROUNDS = 3


def _workdir(root: Path) -> tuple[Path, Path]:
    binary = root / "benchmark_model"
    # an arm64 ELF header: what the double checks before it "runs" the file
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + (2).to_bytes(2, "little") + (183).to_bytes(2, "little")
    binary.write_bytes(header + bytes(4096))
    binary.chmod(0o755)
    models = root / "artifacts"
    models.mkdir()
    (models / "net_float32.tflite").write_bytes(b"TFL3" + bytes(3000))
    (models / "net_int8.tflite").write_bytes(b"TFL3" + bytes(1500))
    return binary, models


def timed(cfg: AndroidConfig) -> tuple[float, int]:
    from shufflenet.benchmarks.phone_latency.android import run_android

    start = time.perf_counter()
    rep = run_android(cfg)
    wall = time.perf_counter() - start
    assert not rep.errors, rep.errors
    return wall, len(rep.results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/results/fleet_scaling.json"))
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--run-s", type=float, default=RUN_S)
    args = p.parse_args(argv)
    if ADB is None or fixtures_missing():
        print("error: needs the real adb and ../shared/fixtures/benchmark_model", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fleet-scaling-") as tmp:
        root = Path(tmp)
        binary, models = _workdir(root)
        servers = [AdbServer(root / f"host{i}") for i in range(2)]
        lab = Lab(root / "lab", servers)
        try:
            profiles = ("xiaomi_14", "xiaomi_12s_pro")
            phones = [lab.phone(profiles[i % 2], server=i % 2, run_s=args.run_s) for i in range(8)]
            base = dict(benchmark_model=binary, artifacts=models, adb=ADB, adb_servers=[s.address for s in servers],
                        repeats=2, cooldown_s=0.0)  # fmt: skip
            one = AndroidConfig(serial=phones[0].serial, **base)
            eight = AndroidConfig(serial="all", **base)
            walls: dict[str, list[float]] = {"1 phone": [], "8 phones": []}
            for r in range(args.rounds):
                for name, cfg in (("1 phone", one), ("8 phones", eight)):
                    wall, cells = timed(cfg)
                    walls[name].append(wall)
                    print(f"round {r + 1}: {name}: {wall:.2f} s ({cells} cells)", flush=True)
            sequential, _ = timed(AndroidConfig(serial="all", max_parallel=1, **base))
            print(f"8 phones one after another (--max-parallel 1): {sequential:.2f} s", flush=True)
        finally:
            lab.close()
            for s in servers:
                s.stop()
    med = {k: statistics.median(v) for k, v in walls.items()}
    ratio = med["8 phones"] / med["1 phone"]
    result = {
        "what": "wall time of run_android over test-double phones through the real adb (two private servers)",
        "run_s_per_benchmark_model_run": args.run_s,
        "per_phone": "2 files x 1 thread x 1 delegate x 2 repeats = 4 runs",
        "rounds": args.rounds,
        "wall_s": walls,
        "median_wall_s": med,
        "ratio_8_over_1": ratio,
        "bar": 1.3,
        "sequential_8_phones_s": sequential,
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "adb": ADB,
    }
    write_json_atomic(args.out, result, indent=1)
    md = (
        "# Phones in parallel: wall time over 1 and 8 phones\n\n"
        f"Each test-double phone takes {args.run_s:g} s per benchmark_model run and times 4 runs (2 files x 2 "
        f"repeats); 8 phones on two adb servers. Median of {args.rounds} rounds, on a {os.cpu_count()}-CPU host "
        f"(load average {load_start[0]:.1f} at the start: the doubles, the adb servers and clients share it).\n\n"
        "| phones | wall s (median) | rounds |\n| --- | --- | --- |\n"
        + "".join(f"| {k} | {med[k]:.2f} | {', '.join(f'{w:.2f}' for w in v)} |\n" for k, v in walls.items())
        + f"| 8, one after another (`--max-parallel 1`) | {sequential:.2f} | 1 |\n\n"
        f"8 phones / 1 phone: **{ratio:.2f}x** (bar: 1.3x); one after another: {sequential / med['1 phone']:.2f}x.\n"
    )
    write_text_atomic(args.out.with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
