"""Copy one exported model, its labels and preprocessing description, and sample photos into app assets.

Usage: prepare_assets.py --artifacts EXPORT_DIR --out ASSETS_DIR [--file NAME.tflite]

Reads EXPORT_DIR/manifest.json (written by `shufflenet-export`, see docs/artifacts.md) and writes
ASSETS_DIR/model.tflite, labels.txt, preprocessing.json and samples/*.png. Without --file it takes the
full-integer int8 .tflite if the export has one, else the float32 one. The sample photos come from
scikit-image's bundled data (installed with the project), so the build needs no other download.
Fails loudly when the export folder is inconsistent (checksum, label count, preprocessing). Runs with the
project's Python: the manifest is read and checked by ``shufflenet.export.manifest``, like every other reader.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path

SAMPLES = ("chelsea.png", "coffee.png")


def choose_entry(manifest: dict, file_name: str | None) -> dict:
    tflite = [a for a in manifest.get("artifacts", []) if a.get("format") == "tflite"]
    if not tflite:
        raise SystemExit("the export has no .tflite file; run shufflenet-export with --format tflite")
    if file_name:
        for entry in tflite:
            if Path(entry["path"]).name == Path(file_name).name:
                return entry
        names = ", ".join(Path(a["path"]).name for a in tflite)
        raise SystemExit(f"{file_name} is not a .tflite file of this export; choose one of: {names}")
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
        raise SystemExit("scikit-image is not installed in this Python; it provides the sample photos")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def prepare(artifacts: Path, out: Path, file_name: str | None) -> dict:
    # The project's one manifest reader: schema and fields checked, the chosen file's sha256 verified.
    from shufflenet.export.manifest import ManifestError, read_manifest, verify_artifact, verify_file

    try:
        manifest = read_manifest(artifacts)
        entry = choose_entry(manifest, file_name)
        model = verify_artifact(artifacts, entry)
        labels_src = verify_file(artifacts, manifest, manifest.get("labels_file", "labels.txt"))
        prep_src = verify_file(artifacts, manifest, manifest.get("preprocessing_file", "preprocessing.json"))
    except ManifestError as e:
        raise SystemExit(str(e)) from None
    labels = labels_src.read_text().splitlines()
    outputs = entry.get("outputs") or []
    if outputs and outputs[0].get("shape") and outputs[0]["shape"][-1] != len(labels):
        raise SystemExit(f"{labels_src.name} has {len(labels)} lines, the model outputs {outputs[0]['shape']}")
    problems = preprocessing_mismatches(json.loads(prep_src.read_text()), manifest)
    if problems:
        raise SystemExit(f"{prep_src.name} disagrees with manifest.json: {'; '.join(problems)}")

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, out / "model.tflite")
    shutil.copyfile(labels_src, out / "labels.txt")
    shutil.copyfile(prep_src, out / "preprocessing.json")
    samples_out = out / "samples"
    shutil.rmtree(samples_out, ignore_errors=True)
    samples_out.mkdir()
    data = skimage_data_dir()
    for name in SAMPLES:
        shutil.copyfile(data / name, samples_out / name)
    return {"model": Path(entry["path"]).name, "arch": manifest.get("arch"), "samples": list(SAMPLES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True, help="folder written by shufflenet-export")
    parser.add_argument("--out", type=Path, required=True, help="assets folder to fill")
    parser.add_argument("--file", help="which .tflite of the export (default: int8 full-integer, else float32)")
    args = parser.parse_args(argv)
    summary = prepare(args.artifacts, args.out, args.file)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
