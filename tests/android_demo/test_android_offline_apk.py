"""The offline build (android_demo/build_offline.sh): a signed, aligned APK with the app, its assets and no stub."""

from __future__ import annotations

import hashlib
import re
import struct
import zipfile
from pathlib import Path

import pytest
import skimage
from android_demo_helpers import DEMO, run, tflite_entries

pytestmark = pytest.mark.slow

PACKAGE = "com.shufflenetmobile.demo"


def dex_class_names(dex: bytes) -> list[str]:
    """Classes defined in a .dex file (header layout from the Dalvik executable format spec)."""
    assert dex[:4] == b"dex\n", "not a dex file"
    string_ids_size, string_ids_off, type_ids_size, type_ids_off = struct.unpack_from("<4I", dex, 0x38)
    class_defs_size, class_defs_off = struct.unpack_from("<2I", dex, 0x60)

    def string(idx: int) -> str:
        (off,) = struct.unpack_from("<I", dex, string_ids_off + 4 * idx)
        while dex[off] & 0x80:  # skip the ULEB128 length prefix
            off += 1
        end = dex.index(b"\0", off + 1)
        return dex[off + 1 : end].decode("utf-8", "replace")

    assert type_ids_size and string_ids_size
    names = []
    for i in range(class_defs_size):
        (type_idx,) = struct.unpack_from("<I", dex, class_defs_off + 32 * i)
        (descriptor_idx,) = struct.unpack_from("<I", dex, type_ids_off + 4 * type_idx)
        names.append(string(descriptor_idx)[1:-1].replace("/", "."))
    return names


def test_signature_verifies(offline_apk: Path) -> None:
    proc = run(["apksigner", "verify", "--verbose", "--min-sdk-version", "26", str(offline_apk)])
    assert "Verifies" in proc.stdout
    assert re.search(r"Verified using v2 scheme \(APK Signature Scheme v2\): true", proc.stdout)


def test_zip_is_aligned(offline_apk: Path) -> None:
    run(["zipalign", "-c", "-p", "4", str(offline_apk)])


def test_badging_names_package_and_launchable_activity(offline_apk: Path) -> None:
    badging = run(["aapt", "dump", "badging", str(offline_apk)]).stdout
    assert re.search(rf"^package: name='{re.escape(PACKAGE)}'", badging, re.M), badging
    assert f"launchable-activity: name='{PACKAGE}.MainActivity'" in badging
    assert "sdkVersion:'26'" in badging
    # The system photo picker needs no permission, and the app asks for none.
    assert "uses-permission" not in badging


def test_assets_are_the_export_files_and_the_model_is_stored(offline_apk: Path, export_dir: Path, manifest) -> None:
    int8 = tflite_entries(manifest)["int8"]  # the default choice of the build script
    with zipfile.ZipFile(offline_apk) as apk:
        model = apk.getinfo("assets/model.tflite")
        assert model.compress_type == zipfile.ZIP_STORED, "the app memory-maps the model: it must be stored"
        assert hashlib.sha256(apk.read(model)).hexdigest() == int8["sha256"]
        assert apk.read("assets/labels.txt") == (export_dir / "labels.txt").read_bytes()
        assert apk.read("assets/preprocessing.json") == (export_dir / "preprocessing.json").read_bytes()
        samples = sorted(n for n in apk.namelist() if n.startswith("assets/samples/"))
        assert samples, "no bundled sample image"
        for name in samples:
            assert apk.read(name) == (Path(skimage.__file__).parent / "data" / Path(name).name).read_bytes()


def test_dex_holds_the_app_but_not_the_litert_stub(offline_apk: Path) -> None:
    with zipfile.ZipFile(offline_apk) as apk:
        classes = dex_class_names(apk.read("classes.dex"))
    assert f"{PACKAGE}.MainActivity" in classes
    assert f"{PACKAGE}.core.AntialiasResize" in classes
    assert not [c for c in classes if c.startswith("org.tensorflow.")], "the compile-only stub was packaged"


def test_readme_says_the_offline_apk_is_structure_only() -> None:
    text = (DEMO / "README.md").read_text().lower()
    assert "structure-only" in text
    assert "no on-device run" in text
