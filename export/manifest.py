"""The export folder's manifest: hashes, tool versions, reading it back and checking files against it."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from shufflenet.model.files import sha256_path

SCHEMA = "shufflenet-mobile/manifest@1"
TOOLS = ("shufflenet-mobile", "torch", "onnx", "onnxruntime", "onnxsim", "tensorflow-cpu", "ai-edge-litert",
         "coremltools", "executorch", "numpy", "scikit-image")  # fmt: skip


class ManifestError(ValueError):
    pass


def tool_versions() -> dict[str, str]:
    out = {}
    for name in TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def is_cpu_tflite(entry: dict[str, Any]) -> bool:
    """A .tflite entry that any CPU runs (LiteRT, XNNPACK, arm64 kernels), not one compiled for an NPU: those hold a
    vendor's context binary that only the vendor's runtime (or its emulator) executes."""
    return entry.get("format") == "tflite" and not entry.get("npu")


def read_manifest(artifacts_dir: str | Path) -> dict[str, Any]:
    d = Path(artifacts_dir)
    path = d / "manifest.json"
    if not d.is_dir():
        raise ManifestError(f"{d} is not a folder; pass the --output folder of shufflenet-export")
    if not path.is_file():
        raise ManifestError(f"{d} has no manifest.json; pass a folder written by shufflenet-export")
    try:
        m = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} is not valid JSON ({e}); re-run shufflenet-export") from None
    if not isinstance(m, dict) or m.get("schema") != SCHEMA or not isinstance(m.get("artifacts"), list):
        raise ManifestError(f"{path} is not a shufflenet-mobile manifest (schema {SCHEMA}); re-run shufflenet-export")
    _check_fields(m, d)
    return m


# What every reader (parity, accuracy, host latency) relies on; a hand-edited or truncated manifest ends in one line.
MANIFEST_FIELDS = ("arch", "input_size", "source", "preprocessing", "artifacts")
ENTRY_FIELDS = ("format", "precision", "path", "sha256", "inputs", "outputs")


def _check_fields(manifest: dict[str, Any], d: Path) -> None:
    missing = [k for k in MANIFEST_FIELDS if k not in manifest]
    if missing:
        raise ManifestError(f"the manifest in {d} lacks {', '.join(missing)}; re-run shufflenet-export")
    for i, e in enumerate(manifest["artifacts"]):
        lacking = [k for k in ENTRY_FIELDS if not isinstance(e, dict) or k not in e]
        if lacking:
            name = e.get("path", f"#{i}") if isinstance(e, dict) else f"#{i}"
            raise ManifestError(f"manifest entry {name} lacks {', '.join(lacking)}; re-run shufflenet-export")


def verify_artifact(artifacts_dir: str | Path, entry: dict[str, Any]) -> Path:
    """The file's path, after checking it exists and its sha256 matches the manifest."""
    path = Path(artifacts_dir) / entry["path"]
    if not path.exists():
        raise ManifestError(f"{entry['path']} is listed in the manifest but missing; re-run shufflenet-export")
    digest = sha256_path(path)
    if digest != entry["sha256"]:
        raise ManifestError(
            f"{entry['path']} was altered after export (sha256 {digest[:12]}... != manifest "
            f"{entry['sha256'][:12]}...); re-run shufflenet-export"
        )
    return path


def verify_file(artifacts_dir: str | Path, manifest: dict[str, Any], name: str) -> Path:
    """A support file of the export (labels, preprocessing) after checking its sha256 against the manifest's
    ``files`` list, as ``verify_artifact`` does for the model files."""
    entry = next((f for f in manifest.get("files") or [] if isinstance(f, dict) and f.get("path") == name), None)
    if entry is None or "sha256" not in entry:
        raise ManifestError(f"{name} is not listed in the manifest's files; re-run shufflenet-export")
    return verify_artifact(artifacts_dir, entry)
