"""The ``--runtime litert-arm64`` options of ``shufflenet-parity`` and ``shufflenet-eval``: a light module, so the
commands can check their arguments before torch or TensorFlow load."""

from __future__ import annotations

import argparse

from shufflenet.export.runtimes.litert_arm64 import DEFAULT_CPUS, SETUP_SCRIPT


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--runtime litert-arm64`` options ``shufflenet-parity`` and ``shufflenet-eval`` share."""
    p.add_argument("--runtime", choices=["litert-arm64"],
                   help="run the .tflite files on aarch64 LiteRT kernels under emulation "
                   f"(install it once: bash {SETUP_SCRIPT})")  # fmt: skip
    p.add_argument("--cpu", default=",".join(DEFAULT_CPUS), metavar="MODELS",
                   help=f"litert-arm64: CPU models to emulate (default {','.join(DEFAULT_CPUS)})")  # fmt: skip
    p.add_argument("--timeout", type=float, metavar="S",
                   help="with --runtime litert-arm64: time limit of one emulated process (default: 120 s + 20 s "
                   "an image)")  # fmt: skip
