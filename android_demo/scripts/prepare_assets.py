"""Copy one exported model, its labels and preprocessing description, and sample photos into app assets.

Usage: prepare_assets.py --artifacts EXPORT_DIR --out ASSETS_DIR [--file NAME.tflite]

Reads EXPORT_DIR/manifest.json (written by `shufflenet-export`, see docs/artifacts.md) and writes
ASSETS_DIR/model.tflite, labels.txt, preprocessing.json and samples/*.png. Without --file it takes the
full-integer int8 .tflite if the export has one, else the float32 one. The sample photos come from
scikit-image's bundled data (installed with the project), so the build needs no other download.
A file compiled ahead of time for an NPU (``shufflenet-export --npu``) is refused: it runs only through the
vendor's dispatch library, not through the app's LiteRT CPU/GPU interpreter. ASSETS_DIR is filled only when it
is absent, empty or an earlier output of this script (nothing else in it); the files are written beside it and
moved in at the end. Fails in one line (``error: ...``, exit 2) when the export folder is inconsistent (checksum,
label count, preprocessing). Runs with the project's Python: the manifest is read and checked by
``shufflenet.export.manifest``, like every other reader.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from shufflenet.model.cli_common import CliParser, run_cli
from shufflenet.model.files import dir_mode

SAMPLES = ("chelsea.png", "coffee.png")
WRITTEN = ("model.tflite", "labels.txt", "preprocessing.json", "samples")  # all this script puts in ASSETS_DIR


class AssetsError(ValueError):
    """An export or an assets folder that cannot be used; one line naming the fix."""


def choose_entry(manifest: dict, file_name: str | None) -> dict:
    tflite = [a for a in manifest.get("artifacts", []) if a.get("format") == "tflite"]
    cpu = [a for a in tflite if not a.get("npu")]  # NPU files need the vendor's dispatch library, not in the app
    if not cpu:
        raise AssetsError("the export has no .tflite file for the CPU; run shufflenet-export with --format tflite")
    names = ", ".join(Path(a["path"]).name for a in cpu)
    if file_name:
        for entry in tflite:
            if Path(entry["path"]).name == Path(file_name).name:
                if entry.get("npu"):
                    npu = entry["npu"]
                    raise AssetsError(
                        f"{file_name} is compiled for the {npu.get('soc')} NPU and runs only through Qualcomm's "
                        f"dispatch library, which the app does not load; choose one of: {names}"
                    )
                return entry
        raise AssetsError(f"{file_name} is not a .tflite file of this export; choose one of: {names}")
    tflite = cpu
    for precision in ("int8", "fp32"):
        for entry in tflite:
            io_dtype = entry.get("inputs", [{}])[0].get("dtype")
            if entry.get("precision") == precision and (precision == "fp32" or io_dtype in ("int8", "uint8")):
                return entry
    return tflite[0]


def preprocessing_mismatches(prep: dict, manifest: dict) -> list[str]:
    """preprocessing.json holds the manifest's preprocessing plus arch, input size and class count."""
    problems = [
        f"{key}: {prep.get(key)!r} != {value!r}"
        for key, value in manifest.get("preprocessing", {}).items()
        if prep.get(key) != value
    ]
    for key in ("arch", "input_size"):
        if key in prep and key in manifest and prep[key] != manifest[key]:
            problems.append(f"{key}: {prep[key]!r} != {manifest[key]!r}")
    return problems


def skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise AssetsError("scikit-image is not installed in this Python; it provides the sample photos")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def check_out(out: Path) -> None:
    """``out`` may be filled when absent, empty or an earlier output of this script (it holds nothing else)."""
    if out.exists() and not out.is_dir():
        raise AssetsError(f"--out {out} is a file; pass the app's assets folder (or a new folder)")
    if not out.is_dir():
        return
    others = sorted(p.name for p in out.iterdir() if p.name not in WRITTEN)
    samples = out / "samples"
    if samples.is_dir():
        others += sorted(f"samples/{p.name}" for p in samples.iterdir() if p.name not in SAMPLES)
    if others:
        raise AssetsError(
            f"--out {out} holds {others[0]}, which this script did not write; pass the app's assets folder "
            "(android_demo/app/src/main/assets) or a new folder"
        )


def prepare(artifacts: Path, out: Path, file_name: str | None) -> dict:
    # The project's one manifest reader: schema and fields checked, the chosen file's sha256 verified.
    from shufflenet.export.manifest import read_manifest, verify_artifact, verify_file

    check_out(out)
    manifest = read_manifest(artifacts)
    entry = choose_entry(manifest, file_name)
    model = verify_artifact(artifacts, entry)
    labels_src = verify_file(artifacts, manifest, manifest.get("labels_file", "labels.txt"))
    prep_src = verify_file(artifacts, manifest, manifest.get("preprocessing_file", "preprocessing.json"))
    labels = labels_src.read_text().splitlines()
    outputs = entry.get("outputs") or []
    if outputs and outputs[0].get("shape") and outputs[0]["shape"][-1] != len(labels):
        raise AssetsError(f"{labels_src.name} has {len(labels)} lines, the model outputs {outputs[0]['shape']}")
    problems = preprocessing_mismatches(json.loads(prep_src.read_text()), manifest)
    if problems:
        raise AssetsError(f"{prep_src.name} disagrees with manifest.json: {'; '.join(problems)}")
    data = skimage_data_dir()

    # Written beside --out, moved in at the end: an interrupted run leaves the assets as they were.
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.absolute().parent))
    try:
        shutil.copyfile(model, tmp / "model.tflite")
        shutil.copyfile(labels_src, tmp / "labels.txt")
        shutil.copyfile(prep_src, tmp / "preprocessing.json")
        (tmp / "samples").mkdir()
        for name in SAMPLES:
            shutil.copyfile(data / name, tmp / "samples" / name)
        os.chmod(tmp, dir_mode())  # mkdtemp's folder is private; the assets get the modes any folder gets
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)  # an earlier output of this script (check_out)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"model": Path(entry["path"]).name, "arch": manifest.get("arch"), "samples": list(SAMPLES)}


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="prepare_assets.py", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True, help="folder written by shufflenet-export")
    parser.add_argument("--out", type=Path, required=True, help="assets folder to fill")
    parser.add_argument("--file", help="which .tflite of the export (default: int8 full-integer, else float32)")
    args = parser.parse_args(argv)

    def body() -> int:
        summary = prepare(args.artifacts, args.out, args.file)
        print(json.dumps(summary))
        return 0

    return run_cli(body)  # ManifestError and AssetsError are ValueErrors: one line, exit 2


if __name__ == "__main__":
    sys.exit(main())
