"""Peak Java heap of one preprocessing run of the Android demo on a 12 MP photo: today's code and the code before.

Usage: benchmark_memory.py [--out docs/results/android_demo_memory.json] [--before-ref REF]

A benchmark, not a test. For each code version and model description it finds, by bisection, the smallest
``-Xmx`` (1 MB steps, serial GC) with which a desktop JVM holds the decoded pixels (the ``int[]`` from
``Bitmap.getPixels``) and runs ``ImagePreprocessor.process`` once, and reports the bytes that run allocated.
The pixels are what each version decodes on a phone: today's shared rule (``decode_sample_size``, the power of
two that keeps the short side >= 2x the model's resize target), and before it, full size up to 4 MP. The photo
is scikit-image's chelsea.png scaled to 4000 x 3000 (memory does not depend on the content). Both versions'
``core`` classes are compiled from git (``--before-ref``: the commit before the fix), in the same run.
What this cannot show: a phone's native memory (the Bitmap itself), ART's heap layout and GC.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORE = "android_demo/app/src/main/java/com/shufflenetmobile/demo/core"
# The last commit before the bounded-decode change (the app decoded up to 4 MP and preprocessed in full-size arrays).
BEFORE_REF = "1755ffd6ec9a9a1604cbbe022bfab2a734cac4c1"
PHOTO_SIZE = (4000, 3000)
OLD_MAX_PIXELS = 4_000_000  # BitmapLoader.MAX_PIXELS before the fix
DESCRIPTIONS = {
    "cifar_32": {"resize": 32, "crop": [32, 32]},
    "imagenet_256_224": {"resize": 256, "crop": [224, 224]},
}
TARGET_MB = 32


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "android_demo_memory.json")
    p.add_argument("--before-ref", default=BEFORE_REF, help="git commit of the code to compare with")
    return p.parse_args(argv)


def compile_core(sources: list[Path], out: Path) -> None:
    out.mkdir(parents=True)
    subprocess.run(["javac", "-encoding", "UTF-8", "-nowarn", "-d", str(out), *map(str, sources),
                    str(HERE / "MemoryProbe.java")], check=True)  # fmt: skip


def core_at(ref: str, folder: Path) -> list[Path]:
    """The core/*.java files of ``ref``, written into ``folder``."""
    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", f"{ref}:{CORE}"],
                           check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    folder.mkdir(parents=True)
    paths = []
    for name in names:
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{CORE}/{name}"], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


def old_sample_size(width: int, height: int) -> int:
    s = 1
    while (width // s) * (height // s) > OLD_MAX_PIXELS:
        s *= 2
    return s


def write_argb(rgb, path: Path) -> None:
    import numpy as np

    argb = (0xFF << 24) | (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    argb.astype("<u4").tofile(path)


def probe(classes: Path, mode: str, prep: Path, argb: Path, size: tuple[int, int], xmx_mb: int) -> dict | None:
    cmd = ["java", f"-Xmx{xmx_mb}m", "-XX:+UseSerialGC", "-cp", str(classes), "MemoryProbe", mode, str(prep),
           str(argb), str(size[0]), str(size[1])]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "OutOfMemoryError" in proc.stderr or "heap" in proc.stderr.lower():
            return None
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def min_heap_mb(classes: Path, mode: str, prep: Path, argb: Path, size: tuple[int, int]) -> tuple[int, dict]:
    lo, hi = 1, 1024  # lo fails (or is untested), hi succeeds
    result = probe(classes, mode, prep, argb, size, hi)
    if result is None:
        raise RuntimeError(f"does not fit in {hi} MB")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = probe(classes, mode, prep, argb, size, mid)
        if r is None:
            lo = mid
        else:
            hi, result = mid, r
    return hi, result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("java") is None or shutil.which("javac") is None:
        print("java/javac not found: install default-jdk-headless (android_demo/scripts/setup_toolchain.sh)",
              file=sys.stderr)  # fmt: skip
        return 2
    import numpy as np
    import skimage
    from PIL import Image
    from shufflenet.model.files import write_text_atomic
    from shufflenet.model.preprocessing import Preprocessing, decode_min_short_side, decode_sample_size, subsample

    with tempfile.TemporaryDirectory(prefix="android-memory-") as tmp_name:
        tmp = Path(tmp_name)
        print("compiling today's and the earlier core classes", file=sys.stderr)
        versions = {
            "after": (subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                     text=True, check=True).stdout.strip(), sorted((REPO / CORE).glob("*.java"))),
            "before": (args.before_ref, core_at(args.before_ref, tmp / "before-src")),
        }  # fmt: skip
        classes = {}
        for name, (_, sources) in versions.items():
            classes[name] = tmp / f"{name}-classes"
            compile_core(sources, classes[name])

        chelsea = Path(skimage.__file__).parent / "data" / "chelsea.png"
        photo = np.asarray(Image.open(chelsea).convert("RGB").resize(PHOTO_SIZE, Image.Resampling.LANCZOS))
        height, width = photo.shape[:2]
        cases = []
        for desc_name, desc in DESCRIPTIONS.items():
            prep_path = tmp / f"{desc_name}.json"
            prep_path.write_text(json.dumps(desc))
            prep = Preprocessing.from_dict(desc)
            samples = {
                "before": old_sample_size(width, height),
                "after": decode_sample_size(height, width, decode_min_short_side(prep)),
            }
            for version, s in samples.items():
                pixels = subsample(photo, s)
                size = (pixels.shape[1], pixels.shape[0])
                argb = tmp / f"{desc_name}-{version}.argb"
                write_argb(pixels, argb)
                print(f"{desc_name} {version}: {size[0]}x{size[1]} (1/{s}), bisecting -Xmx", file=sys.stderr)
                heap, run_stats = min_heap_mb(classes[version], "run", prep_path, argb, size)
                pixels_heap, _ = min_heap_mb(classes[version], "pixels", prep_path, argb, size)
                cases.append({
                    "description": desc_name,
                    "resize": desc["resize"],
                    "crop": desc["crop"],
                    "code": version,
                    "git_ref": versions[version][0],
                    "decoded_size": list(size),
                    "sample_size": s,
                    "pixels_mb": round(4 * size[0] * size[1] / 2**20, 2),
                    "min_heap_mb": heap,
                    "min_heap_pixels_only_mb": pixels_heap,
                    "allocated_mb": round(run_stats["allocated_bytes"] / 2**20, 2),
                    "peak_heap_pools_mb": round(run_stats["peak_pool_bytes"] / 2**20, 2),
                    "preprocessing_runs_per_tap": 23 if version == "before" else 1,
                })  # fmt: skip
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
        report = {
            "kind": "android_demo_memory",
            "photo": {"size": list(PHOTO_SIZE), "source": "scikit-image chelsea.png scaled to 4000x3000 (12 MP)"},
            "method": "smallest -Xmx (MB, -XX:+UseSerialGC, bisection) holding the decoded pixels and one "
            "ImagePreprocessor.process; allocated_mb/peak_heap_pools_mb: the same run at the smallest heap",
            "target_mb": TARGET_MB,
            "jvm": java,
            "machine": platform.machine(),
            "cases": cases,
        }
        write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")
    for c in cases:
        print(f"{c['description']:18s} {c['code']:6s} {c['decoded_size'][0]:5d}x{c['decoded_size'][1]:<5d} "
              f"min heap {c['min_heap_mb']:4d} MB (pixels alone {c['min_heap_pixels_only_mb']:3d} MB), "
              f"allocated {c['allocated_mb']:7.2f} MB")  # fmt: skip
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
