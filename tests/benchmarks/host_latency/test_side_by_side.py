"""The side-by-side benchmark on a real export; litert-torch is an optional extra, so its absence is a recorded
error of the run, not a crash (and its presence is used when the test environment has it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.benchmarks.host_latency.side_by_side import load_done, main


def test_unknown_variant_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--variants", "nope", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_one_variant_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "sbs"
    rc = main(["--variants", "shufflenet_v1_g3_0.25x", "--threads", "1", "--rounds", "2", "--warmup", "1",
               "--runs", "3", "--repeats", "1", "--output", str(out)])  # fmt: skip
    doc = json.loads(out.with_suffix(".json").read_text())
    (v,) = doc["variants"]
    assert v["ok"] and rc == (0 if not v["errors"] else 1)
    (row,) = v["rows"]
    assert row["threads"] == 1 and row["clock"] == "cpu"
    for k in ("tflite_fp32", "tflite_int8", "onnxruntime"):
        assert row["ms"][k] > 0 and len(row["rounds_ms"][k]) == 2
    assert v["files"]["tflite_int8"]["coverage"]["partitions"] == 1
    assert v["files"]["tflite_fp32"]["transpose"] == 16
    if "litert_torch" in row["rounds_ms"]:
        assert row["ms"]["litert_torch"] > 0 and v["files"]["litert_torch"]["ops"] > 0
    else:  # no litert-torch in this environment: said so, and the row has no peer figure
        assert row["ms"]["litert_torch"] is None and "litert-torch" in v["errors"][0]
    md = out.with_suffix(".md").read_text()
    assert "| shufflenet_v1_g3_0.25x | 1 |" in md and "XNNPACK nodes, partitions" in md
    # --resume keeps the measured variant without exporting it again
    done = load_done(out.with_suffix(".json"))
    assert done["shufflenet_v1_g3_0.25x"].rows[0].ms == row["ms"]
