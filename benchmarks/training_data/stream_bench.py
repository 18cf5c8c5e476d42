"""Streamed training folders: memory against folder size, and decoding throughput per CPU core.

Memory: ``shufflenet-train --data-mode stream`` on a folder of N images, the same number of steps for every N,
its process tree (the trainer and its loader workers) sampled every 0.2 s: peak RSS and peak PSS (shared pages
counted once). The folders are made of the real ImageNet photos in ``../shared/data/imagenet/samples`` (100
photos, one per class folder, repeated under new names by hard links, or symbolic links across file systems),
so every N decodes photos of ImageNet's sizes; they live in ``--work``, never in the repository.

Throughput: one process, one thread, no loader workers: images a second of CPU time (per core) for the training
path (decode, EXIF, random-resized crop to 224, colour jitter, flip) and the evaluation path (decode, resize of the
short side to 256, centre crop 224), over the same photos. Usage:
``python -m shufflenet.benchmarks.training_data.stream_bench --output docs/results/stream_training_data.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shufflenet.model.cli_common import CliParser, run_cli

ARCH = "shufflenet_v1_g1_0.25x"  # the cheapest 224 variant: the model's share of the memory stays small
IMAGENET_TRAIN_IMAGES = 1_281_167


def build_folder(photos: list[Path], root: Path, n: int) -> Path:
    """``root`` with ``n`` images in one class folder per photo (the photos repeated under new names)."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.JPEG")) == n:
        return root
    for i in range(n):
        src = photos[i % len(photos)]
        dest = root / src.stem.split("_")[0] / f"{i:07d}_{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            try:
                dest.hardlink_to(src)
            except OSError:  # another file system
                dest.symlink_to(src.resolve())
    return root


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        todo += [int(k) for k in kids]
    return out


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB, 0 where it is gone."""
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))  # fmt: skip
        pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:"))  # fmt: skip
        return rss, pss
    except (OSError, StopIteration, ValueError):
        return 0, 0


def measure_run(folder: Path, out: Path, steps: int, batch: int, loader_workers: int) -> dict[str, Any]:
    """One real ``shufflenet-train`` run on ``folder``: its peak memory and how long it took."""
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "shufflenet.model.cli_train", "--arch", ARCH, "--data", str(folder),
           "--data-mode", "stream", "--batch-size", str(batch), "--epochs", "1", "--max-steps", str(steps),
           "--loader-workers", str(loader_workers), "--threads", "1", "--lr", "0.01", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1"}
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    peak_rss = peak_pss = peak_main = peak_procs = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        mem = [_memory_kib(p) for p in pids]
        peak_rss = max(peak_rss, sum(m[0] for m in mem))
        peak_pss = max(peak_pss, sum(m[1] for m in mem))
        peak_main = max(peak_main, mem[0][0])
        peak_procs = max(peak_procs, len(pids))
        time.sleep(0.2)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"shufflenet-train failed on {folder}: {err.strip().splitlines()[-1:]}")
    return {"images": sum(1 for _ in folder.rglob("*.JPEG")), "steps": steps, "batch_size": batch,
            "loader_workers": loader_workers, "seconds": round(time.time() - t0, 1), "processes": peak_procs,
            "peak_tree_rss_mib": round(peak_rss / 1024, 1), "peak_tree_pss_mib": round(peak_pss / 1024, 1),
            "peak_trainer_rss_mib": round(peak_main / 1024, 1)}  # fmt: skip


def measure_throughput(photos: list[Path], repeats: int) -> dict[str, Any]:
    """Images per CPU-second, one thread, for the training and the evaluation path over ``photos``."""
    import numpy as np
    import torch
    from shufflenet.model.registry import get_variant
    from shufflenet.model.streaming import FolderIndex, StreamingFolder

    torch.set_num_threads(1)
    prep = get_variant(ARCH).preprocessing
    encoded = [os.fsencode(p.name) for p in photos]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    index = FolderIndex(photos[0].parent, np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets,
                        np.zeros(len(photos), np.int64), ["all"])  # fmt: skip
    from PIL import Image

    sizes = []
    for p in photos:
        with Image.open(p) as im:
            sizes.append(im.size)
    mean_size = [round(float(np.mean([s[i] for s in sizes]))) for i in (0, 1)]
    out: dict[str, Any] = {"photos": len(photos), "repeats": repeats, "mean_photo_width_height": mean_size}
    for name, train in (("train", True), ("eval", False)):
        ds = StreamingFolder(index, prep, train=train, seed=0)
        ds[(0, 0)]  # imports and caches warmed up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for r in range(repeats):
            for i in range(len(photos)):
                ds[(r, i)]
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        n = repeats * len(photos)
        out[name] = {"images": n, "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
                     "images_per_cpu_second": round(n / cpu, 1),
                     "ms_per_image_cpu": round(1000 * cpu / n, 2)}  # fmt: skip
    return out


def run(shared: Path, work: Path, sizes: list[int], steps: int, batch: int, loader_workers: int, repeats: int
        ) -> dict[str, Any]:  # fmt: skip
    from shufflenet.benchmarks.host_latency.machine import finish_environment, host_environment

    env = host_environment()
    photos = sorted((shared / "data" / "imagenet" / "samples").glob("*.JPEG"))
    if not photos:
        raise ValueError(f"no photos in {shared}/data/imagenet/samples; pass --shared, the shared data folder")
    runs = []
    for n in sizes:
        folder = build_folder(photos, work / f"stream_{n}", n)
        runs.append(measure_run(folder, work / f"run_{n}.pt", steps, batch, loader_workers))
        print(f"{n} images: peak PSS {runs[-1]['peak_tree_pss_mib']} MiB", file=sys.stderr, flush=True)
    throughput = measure_throughput(photos, repeats)
    finish_environment(env)
    per_core = throughput["train"]["images_per_cpu_second"]
    return {
        "arch": ARCH,
        "environment": env,
        "memory": runs,
        "in_memory_array_would_take_mib": {str(n): round(n * 224 * 224 * 3 / 2**20, 1) for n in sizes},
        "throughput_per_core": throughput,
        "imagenet_epoch_cpu_hours_train_transform": round(IMAGENET_TRAIN_IMAGES / per_core / 3600, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.benchmarks.training_data.stream_bench", description=__doc__,
                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--shared", type=Path, default=Path("../shared"), help="the shared data folder")
    p.add_argument("--work", type=Path, default=Path(".cache/stream_bench"), help="where the folders are made")
    p.add_argument("--output", type=Path, required=True, help="results JSON")
    p.add_argument("--sizes", default="1000,20000", help="folder sizes, comma-separated")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--loader-workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="passes over the 100 photos for the throughput")
    args = p.parse_args(argv)

    def body() -> int:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        if not sizes or min(sizes) < args.steps * args.batch_size:
            raise ValueError(f"--sizes must each hold at least --steps x --batch-size = {args.steps * args.batch_size}")
        from shufflenet.model.files import write_json_atomic

        results = run(args.shared, args.work, sizes, args.steps, args.batch_size, args.loader_workers, args.repeats)
        write_json_atomic(args.output, results)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
