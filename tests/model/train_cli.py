"""`shufflenet-train` run as a user runs it: a separate process, output captured."""

from __future__ import annotations

import subprocess
import sys


def run_train_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shufflenet.model.cli_train", *args], capture_output=True, text=True)
