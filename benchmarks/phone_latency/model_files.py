"""The ``.tflite`` files a phone session times: from an export folder's manifest (hashes checked) or, outside an
export, every ``.tflite`` of the folder (a ``..._qualcomm_<soc>.tflite`` name marks a file compiled for that SoC's
NPU)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shufflenet.model.files import sha256_path

log = logging.getLogger(__name__)

_NPU_NAME = re.compile(r"_qualcomm_(?P<soc>s[ma]\d{4})\.tflite$", re.IGNORECASE)


@dataclass
class ModelFile:
    name: str  # relative to the artifacts folder
    path: Path
    precision: str
    sha256: str = ""
    variant: str | None = None
    arch: str | None = None
    input_size: list[int] | None = None
    macs: int | None = None
    npu: dict[str, Any] | None = None  # the manifest's npu object of a file compiled for an NPU


def precision_from_name(name: str) -> str:
    n = name.lower()
    if "int8" in n or "integer" in n:
        return "int8"
    if "float16" in n or "fp16" in n:
        return "fp16"
    return "fp32"


def _loose_file(path: Path, name: str) -> ModelFile:
    m = _NPU_NAME.search(name)
    npu = {"vendor": "qualcomm", "soc": m.group("soc").upper()} if m else None
    return ModelFile(name=name, path=path, precision=precision_from_name(name), npu=npu)


def tflite_files(artifacts: Path, only: list[str] | None = None, npu: bool = False) -> list[ModelFile]:
    """The ``.tflite`` files of an export folder (from its manifest when present), optionally a subset; files
    compiled for an NPU only with ``npu`` (the user supplied the phone's NPU runtime libraries)."""
    from shufflenet.export.manifest import read_manifest, verify_artifact

    artifacts = Path(artifacts)
    found: list[ModelFile] = []
    if (artifacts / "manifest.json").is_file():
        m = read_manifest(artifacts)
        for e in m["artifacts"]:
            if e.get("format") == "tflite" and (not only or e["path"] in only):
                if e.get("npu") and not npu:
                    if only:
                        raise ValueError(f"{e['path']} is compiled for an NPU; pass --npu-libs DIR (see docs/npu.md)")
                    log.info("%s is compiled for an NPU: skipped (pass --npu-libs to run it)", e["path"])
                    continue
                verify_artifact(artifacts, e)  # a file altered since export is refused before it reaches a phone
                found.append(
                    ModelFile(
                        name=e["path"],
                        path=artifacts / e["path"],
                        precision=e.get("precision") or precision_from_name(e["path"]),
                        sha256=e["sha256"],
                        variant=e.get("variant"),
                        arch=m.get("arch"),
                        input_size=list(m["input_size"]) if m.get("input_size") else None,
                        macs=(m.get("complexity") or {}).get("macs") or None,
                        npu=e.get("npu"),
                    )
                )
    else:
        for p in sorted(artifacts.glob("*.tflite")):
            f = _loose_file(p, p.name)
            if f.npu and not npu and not only:
                log.info("%s is compiled for an NPU: skipped (pass --npu-libs to run it)", p.name)
                continue
            found.append(f)
    if only:
        names = {f.name: f for f in found}
        missing = [n for n in only if n not in names and not (artifacts / n).is_file()]
        if missing:
            raise ValueError(f"not in {artifacts}: {', '.join(missing)}")
        found = [names.get(n) or _loose_file(artifacts / n, n) for n in only]
        if not npu and any(f.npu for f in found):
            bad = next(f.name for f in found if f.npu)
            raise ValueError(f"{bad} is compiled for an NPU; pass --npu-libs DIR (see docs/npu.md)")
    if not found:
        raise ValueError(f"no .tflite files in {artifacts}")
    for f in found:
        if not f.path.is_file():
            raise ValueError(f"listed in the manifest but missing: {f.path}")
        f.sha256 = f.sha256 or sha256_path(f.path)
    return found
