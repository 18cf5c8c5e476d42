"""Checks of the export's input paths that need no heavy library: they run before torch or TensorFlow is
imported, so a mistyped path is reported in a fraction of a second, in one line naming the fix."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("onnx", "tflite", "coreml", "executorch")


class ArgumentError(ValueError):
    """A command-line value that cannot be used; one line naming the fix."""


def check_weights_path(path: Path) -> None:
    path = Path(path)
    if path.is_dir():
        raise ArgumentError(f"--weights {path} is a folder, not a checkpoint file; pass the .pth/.pt file itself")
    if not path.exists():
        raise ArgumentError(f"--weights {path} does not exist; pass the path of a .pth/.pt/.mdl checkpoint file")
    if not path.is_file():
        raise ArgumentError(f"--weights {path} is not a regular file; pass the path of a .pth/.pt checkpoint file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise ArgumentError(f"--weights {path} cannot be read ({e.strerror}); check its permissions") from None


def check_input_paths(weights: Path | None = None, calib: Path | None = None, labels: Path | None = None) -> None:
    """Fail on the first input path that cannot be used."""
    if weights is not None:
        check_weights_path(weights)
    if calib is not None:
        calib = Path(calib)
        if not calib.exists():
            raise ArgumentError(f"--calib {calib} does not exist; pass a folder of calibration images")
        if not calib.is_dir():
            raise ArgumentError(f"--calib {calib} is a file, not a folder; pass a folder of calibration images")
    if labels is not None:
        labels = Path(labels)
        if labels.is_dir():
            raise ArgumentError(f"--labels {labels} is a folder; pass a text file of class names, one per line")
        if not labels.is_file():
            raise ArgumentError(f"--labels {labels} does not exist; pass a text file of class names, one per line")
