"""The peer converter: Google's ``litert-torch`` (PyTorch -> LiteRT), for a side-by-side benchmark.

``litert-torch`` is an optional extra (``pip install 'shufflenet-mobile[peer]'``), never a runtime dependency.
It pins ``typing-extensions<4.13`` through ``xdsl``, which the project's lock (4.16) does not allow, so it usually
lives in a separate environment that also sees this package (see docs/benchmarks.md); ``convert_peer`` runs the
conversion in that environment's Python as a subprocess
(``python -m shufflenet.benchmarks.host_latency.peer ARCH H W OUT``), which also keeps its heavy imports (JAX,
transformers) out of the benchmark's process.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class PeerUnavailableError(RuntimeError):
    """litert-torch cannot be run: not installed in the given Python, or the conversion failed."""


def peer_python(explicit: str | Path | None = None) -> str:
    """The Python to convert with: ``explicit``, else $SHUFFLENET_PEER_PYTHON, else this one."""
    return str(explicit or os.environ.get("SHUFFLENET_PEER_PYTHON") or sys.executable)


def convert_peer(arch: str, size: tuple[int, int], out: Path, python: str | Path | None = None, seed: int = 0) -> Path:
    """Convert the variant (random init with ``seed``, exactly as ``shufflenet-export --random-init``) with
    litert-torch; float32, the converter's defaults (NCHW input, as the PyTorch module takes)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd = [peer_python(python), "-m", "shufflenet.benchmarks.host_latency.peer", arch, str(size[0]), str(size[1]),
           str(tmp), "--seed", str(seed)]  # fmt: skip
    log.info("litert-torch: %s", " ".join(cmd))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PeerUnavailableError(f"litert-torch conversion of {arch} failed ({last})")
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shufflenet.benchmarks.host_latency.peer")
    p.add_argument("arch")
    p.add_argument("height", type=int)
    p.add_argument("width", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        import litert_torch
    except ImportError as e:
        print(f"error: litert-torch is not installed in {sys.executable} ({e})", file=sys.stderr)
        return 2
    import torch
    from shufflenet.export.pipeline import ExportConfig, resolve_model

    model, _, _ = resolve_model(ExportConfig(output=args.out.parent, arch=args.arch, random_init=True, seed=args.seed))
    x = torch.zeros(1, 3, args.height, args.width)
    litert_torch.convert(model.eval(), (x,)).export(str(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
