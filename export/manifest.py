"""The export folder's manifest: hashes, tool versions, reading it back and checking files against it."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from shufflenet.model.filemodes import file_mode

SCHEMA = "shufflenet-mobile/manifest@1"
TOOLS = ("shufflenet-mobile", "torch", "onnx", "onnxruntime", "onnxsim", "tensorflow-cpu", "ai-edge-litert",
         "coremltools", "numpy", "scikit-image")  # fmt: skip


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


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a directory (an .mlpackage) over its sorted relative paths and bytes."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(data, tmp, indent=2, allow_nan=True)
        tmp.write("\n")
    os.chmod(tmp.name, file_mode())  # NamedTemporaryFile is private (0600); results are ordinary files
    os.replace(tmp.name, path)


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
