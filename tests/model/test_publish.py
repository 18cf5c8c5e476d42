"""Publishing a user's training run: its own folder (never the weights the package ships), read back by
shufflenet-info and the export's model loader; a run of fewer than 5 classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shufflenet.model import cli_info, publish
from shufflenet.model.files import sha256_path
from shufflenet.model.registry import weights_dir

ARCH = "shufflenet_v1_g3_0.25x_cifar"


def _publish(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``python -m shufflenet.model.publish ARGS`` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    rc = publish.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _shipped() -> dict[str, str]:
    return {p.name: sha256_path(p) for p in sorted(weights_dir().iterdir()) if p.is_file()}


def test_a_run_is_published_beside_it_and_the_shipped_weights_stay(
    own_checkpoint: Path, own_photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "runs" / "mine" / "last.pt"
    run.parent.mkdir(parents=True)
    shutil.copyfile(own_checkpoint, run)
    before = _shipped()
    rc, out_text, err = _publish(capsys, str(run), "--data", str(own_photos["test"]))
    assert rc == 0, err
    assert _shipped() == before
    out = run.parent / "published"
    assert sorted(p.name for p in out.iterdir()) == [f"{ARCH}.{ext}" for ext in ("json", "md", "pt")]
    card = json.loads((out / f"{ARCH}.json").read_text())
    # 3 classes: top-5 is top-3, every answer is among the 3 (no "selected index k out of range")
    assert card["metrics"]["top5"] == 1.0 and card["metrics"]["test_images"] == 24
    assert card["classes"] == ["bird", "deer", "ship"]
    md = (out / f"{ARCH}.md").read_text()
    assert "3 classes (bird, deer, ship)" in md and "CIFAR-10" not in md and "top-3" in md
    assert f"shufflenet-export --weights {out / ARCH}.pt" in out_text

    assert cli_info.main(["--weights", str(out / f"{ARCH}.pt")]) == 0
    shown = capsys.readouterr().out
    assert f"published: top-1 {card['metrics']['top1'] * 100:.2f} %, top-3 100.00 %" in shown
    assert "bird, deer, ship" in shown

    from shufflenet.model.source import resolve_model  # what shufflenet-export --weights loads

    resolved = resolve_model(weights=out / f"{ARCH}.pt")
    assert resolved.variant.class_names() == ["bird", "deer", "ship"] and resolved.source["kind"] == "checkpoint"

    rc, _, err = _publish(capsys, str(run), "--data", str(own_photos["test"]))  # an earlier publication: replaced
    assert rc == 0, err


def test_publishing_into_the_shipped_weights_or_over_other_files_is_refused(
    own_checkpoint: Path, own_photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = _shipped()
    rc, _, err = _publish(capsys, str(own_checkpoint), "--data", str(own_photos["test"]), "--out", str(weights_dir()))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "the weights this package ships" in err
    assert _shipped() == before

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / f"{ARCH}.md").write_text("my own notes")
    rc, _, err = _publish(capsys, str(own_checkpoint), "--data", str(own_photos["test"]), "--out", str(mine))
    assert rc == 2 and "not an earlier publication" in err, err
    assert (mine / f"{ARCH}.md").read_text() == "my own notes" and not (mine / f"{ARCH}.pt").exists()

    rc, _, err = _publish(capsys, str(own_checkpoint), "--data", str(own_photos["test"]), "--out", "/proc/x/published")
    assert rc == 2 and "is not writable" in err, err
