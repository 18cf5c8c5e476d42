"""The ``litert-arm64`` runtime: a .tflite file run by the aarch64 build of LiteRT under user-mode emulation.

``scripts/setup_arm64.sh`` installs the emulator (Debian 13's ``qemu-aarch64``) and an arm64 userland with
Python 3.11, NumPy and ai-edge-litert into ``.cache/arm64/env``. A runner starts ONE emulated process per
(file, CPU model) that evaluates the whole batch (start-up costs seconds): the inputs, already in the file's
layout, dtype and quantisation, go in as an .npy file in a private temporary folder and the raw outputs come
back the same way. Each process has a time limit; a crash or a hang becomes one ``Arm64RunError`` line.

``-cpu MODEL`` decides which instructions the emulated CPU has, and so which XNNPACK microkernels LiteRT picks
(seen in the translated code, ``benchmarks/host_latency/arm64_bench.py --kernels``: plain NEON on a Cortex-A53,
dot-product kernels on a Cortex-A76, SME/SVE on ``max``); the worker reports the hwcaps and MIDR it sees, which is what
XNNPACK's CPU detection reads. Emulated run time is not a phone's latency.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import RuntimeUnavailableError, dequantize
from shufflenet.export.runtimes.litert import TfliteRunner
from shufflenet.model.preprocessing import Preprocessing

log = logging.getLogger(__name__)

SETUP_SCRIPT = "scripts/setup_arm64.sh"
DEFAULT_CPUS = ("cortex-a53", "cortex-a76", "max")
# QEMU 10.0's aarch64 CPU models that make sense for a phone or Arm server core (``qemu-aarch64 -cpu help``).
KNOWN_CPUS = ("cortex-a35", "cortex-a53", "cortex-a55", "cortex-a57", "cortex-a72", "cortex-a76", "cortex-a710",
              "neoverse-n1", "neoverse-n2", "neoverse-v1", "a64fx", "max")  # fmt: skip
# Time limit of one emulated process: start-up allowance plus an allowance per image (emulation is 10-100x
# slower than native; a 224x224 ShuffleNet 1.0x float32 takes ~8 s an image).
DEFAULT_STARTUP_S = 120.0
DEFAULT_PER_IMAGE_S = 20.0


class Arm64Unavailable(RuntimeUnavailableError):
    """The emulator or the arm64 userland is missing or broken (one line naming the set-up script)."""


class Arm64RunError(RuntimeError):
    """One emulated process crashed, hung or gave no output (one line; the other files go on)."""


def parse_cpus(text: str) -> tuple[str, ...]:
    """``cortex-a53,cortex-a76,max`` -> a tuple; unknown names raise ``ValueError`` naming the known ones."""
    cpus = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cpus if c not in KNOWN_CPUS]
    if not cpus or bad:
        raise ValueError(f"unknown --cpu {', '.join(bad) or repr(text)}; choose from {', '.join(KNOWN_CPUS)}")
    return tuple(dict.fromkeys(cpus))


def cache_dir() -> Path:
    """``$SHUFFLENET_ARM64_CACHE`` or ``.cache/arm64`` in the repository (where the set-up script installs)."""
    env = os.environ.get("SHUFFLENET_ARM64_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "arm64"


@dataclass(frozen=True)
class Arm64Env:
    """An installed emulation environment (``cache_dir()/env``)."""

    home: Path

    @property
    def qemu(self) -> Path:
        return self.home / "qemu-aarch64"

    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def site(self) -> Path:
        return self.home / "site"

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / "python3.11"

    @classmethod
    def find(cls, home: Path | None = None) -> Arm64Env:
        """The environment, or ``Arm64Unavailable`` when the set-up script has not (fully) run."""
        env = cls(Path(home) if home else cache_dir() / "env")
        missing = [p for p in (env.home / "ready", env.qemu, env.python, env.site / "ai_edge_litert") if not p.exists()]
        if missing:
            raise Arm64Unavailable(
                f"the arm64 emulator/userland is not installed ({missing[0]} is missing); run `bash {SETUP_SCRIPT}`"
            )
        return env

    def command(self, cpu: str, *args: str) -> list[str]:
        return [str(self.qemu), "-L", str(self.root), "-cpu", cpu, str(self.python), *args]

    def environ(self) -> dict[str, str]:
        """A clean environment: only the arm64 site folder on the path, nothing of the host's Python."""
        return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(self.site), "PYTHONNOUSERSITE": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "LANG": "C.UTF-8"}  # fmt: skip


@dataclass
class BatchRun:
    """Raw outputs of one emulated process and what it reported (CPU features, timings)."""

    outputs: np.ndarray
    info: dict[str, Any]
    wall_s: float


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name if rc < 0 else f"exit status {rc}"
    except ValueError:
        return f"signal {-rc}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no message"


def run_batch(
    env: Arm64Env,
    model: Path,
    inputs: np.ndarray,
    cpu: str,
    threads: int = 1,
    timeout_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchRun:
    """Run ``model`` on every row of ``inputs`` (already in the file's dtype and layout) in one emulated
    process under ``-cpu cpu``; raises ``Arm64RunError`` (one line) on a crash, a hang or missing output.
    ``progress(done, total)`` is called about once a minute on long batches."""
    worker = Path(__file__).with_name("arm64_worker.py")
    limit = timeout_s if timeout_s is not None else DEFAULT_STARTUP_S + DEFAULT_PER_IMAGE_S * len(inputs)
    what = f"{Path(model).name} on -cpu {cpu}"
    with tempfile.TemporaryDirectory(prefix="shufflenet-arm64-") as tmp:
        t = Path(tmp)
        np.save(t / "in.npy", np.ascontiguousarray(inputs))
        cmd = env.command(cpu, str(worker), str(Path(model).resolve()), str(t / "in.npy"), str(t / "out.npy"),
                          str(t / "info.json"), str(threads))  # fmt: skip
        log.debug("arm64: %s", " ".join(cmd))
        start = time.perf_counter()
        # Own process group, so a hang is killed with everything it started; stderr to a file, so a chatty
        # process never blocks on a full pipe while the host waits.
        with open(t / "stderr.txt", "wb") as errf:
            try:
                proc = subprocess.Popen(cmd, env=env.environ(), stdout=subprocess.DEVNULL, stderr=errf,
                                        start_new_session=True)  # fmt: skip
            except OSError as e:
                raise Arm64RunError(
                    f"{what}: the emulator {env.qemu} cannot start ({e.strerror or e}); re-run `bash {SETUP_SCRIPT}`"
                ) from None
            _wait(proc, start + limit, t / "out.npy.progress", len(inputs), progress, what, limit)
        wall = time.perf_counter() - start
        text = (t / "stderr.txt").read_text(errors="replace")
        if text.strip():
            log.debug("arm64 %s stderr:\n%s", what, text)
        if proc.returncode != 0:
            raise Arm64RunError(f"{what} failed under emulation ({_signal_name(proc.returncode)}): {_last_line(text)}")
        if not (t / "out.npy").is_file() or not (t / "info.json").is_file():
            raise Arm64RunError(f"{what} exited without writing its outputs: {_last_line(text)}")
        outputs = np.load(t / "out.npy")
        info = json.loads((t / "info.json").read_text())
    if len(outputs) != len(inputs):
        raise Arm64RunError(f"{what} gave {len(outputs)} outputs for {len(inputs)} inputs")
    return BatchRun(outputs, info, wall)


def _wait(proc: subprocess.Popen, deadline: float, progress_file: Path, total: int,
          progress: Callable[[int, int], None] | None, what: str, limit: float) -> None:  # fmt: skip
    """Wait for the process, reporting progress about once a minute; kill its group at the deadline."""
    last_report = time.perf_counter()
    try:
        while proc.poll() is None:
            now = time.perf_counter()
            if now >= deadline:
                raise Arm64RunError(f"{what} did not finish within {limit:.0f} s (hang?); killed")
            if progress and now - last_report >= 60 and progress_file.is_file():
                try:
                    progress(int(progress_file.read_text() or 0), total)
                except (OSError, ValueError):
                    pass
                last_report = now
            time.sleep(min(0.2, max(0.0, deadline - now)))
    except BaseException:  # the time limit, or Ctrl-C: leave no emulated process behind
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def cpu_features(cpu: str, env: Arm64Env | None = None, timeout_s: float = 120.0) -> dict[str, Any]:
    """The hwcaps (and /proc/cpuinfo features) an emulated process sees under ``-cpu cpu``: what XNNPACK's
    CPU detection reads to choose its microkernels."""
    env = env or Arm64Env.find()
    worker = Path(__file__).with_name("arm64_worker.py")
    code = (f"import sys, json; sys.path.insert(0, {str(worker.parent)!r}); import arm64_worker as w; "
            "print(json.dumps(w.cpu_features()))")  # fmt: skip
    try:
        res = subprocess.run(env.command(cpu, "-c", code), env=env.environ(), capture_output=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as e:
        raise Arm64RunError(f"-cpu {cpu}: the emulator cannot run ({e})") from None
    if res.returncode != 0:
        raise Arm64RunError(f"-cpu {cpu}: {_last_line(res.stderr.decode(errors='replace'))}")
    return json.loads(res.stdout)


class Arm64Runner(TfliteRunner):
    """A .tflite file on aarch64 LiteRT kernels under ``-cpu cpu``. The host LiteRT interpreter it also opens
    (``self.interp``) serves the signature check and the x86 comparison (``predict_x86_raw``)."""

    def __init__(
        self,
        path: Path,
        entry: dict[str, Any],
        prep: Preprocessing,
        threads: int = 1,
        cpu: str = "max",
        timeout_s: float | None = None,
        env: Arm64Env | None = None,
    ) -> None:
        self.env = env or Arm64Env.find()  # before the host interpreter: a missing set-up fails first
        super().__init__(path, entry, prep, threads)
        self.cpu = cpu
        self.threads = threads
        self.timeout_s = timeout_s
        self.last: BatchRun | None = None

    @property
    def evaluated_by(self) -> str:  # type: ignore[override]
        return f"litert-arm64 ({self.cpu})"

    def predict_raw(self, images: np.ndarray) -> np.ndarray:
        """The file's raw outputs (its own dtype), N x classes, from one emulated process."""

        def say(done: int, total: int) -> None:
            log.info("  %s on -cpu %s: %d/%d images", self.path.name, self.cpu, done, total)

        self.last = run_batch(self.env, self.path, self.prepare(images), self.cpu, self.threads, self.timeout_s, say)
        return self.last.outputs.reshape(len(images), -1)

    def predict_x86_raw(self, images: np.ndarray) -> np.ndarray:
        """The same file's raw outputs from the host's (x86) LiteRT on the same inputs."""
        x = self.prepare(images)
        return np.concatenate([self.run_raw(x[i : i + 1]) for i in range(len(x))]).reshape(len(x), -1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return dequantize(self.predict_raw(images), self.output.get("quantization"))


@dataclass
class X86Agreement:
    """The arm64 outputs of a file against x86 LiteRT's on the same inputs (raw values, the file's dtype)."""

    exact_share: float  # fraction of output values bit-identical
    max_abs: float  # largest difference (in quantized steps for integer outputs)
    quantized: bool
    values: int
    peak: float = 0.0  # largest |x86 output|, the scale of a float difference

    @property
    def max_rel(self) -> float:
        """Largest difference relative to the largest x86 output (float files)."""
        return self.max_abs / self.peak if self.peak else (0.0 if self.max_abs == 0 else float("inf"))

    @property
    def max_steps(self) -> int | None:
        return int(self.max_abs) if self.quantized else None

    def describe(self) -> str:
        diff = (f"max {self.max_steps} quantized step(s)" if self.quantized else
                f"max abs {self.max_abs:.3g} = {self.max_rel:.2g} of the largest output")  # fmt: skip
        return f"{self.exact_share * 100:.2f} % of {self.values} values bit-identical to x86, {diff}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"exact_share": self.exact_share, "values": self.values}
        if self.quantized:
            d["max_quantized_steps"] = self.max_steps
        else:
            d.update(max_abs=self.max_abs, max_rel=self.max_rel)
        return d


def compare_x86(arm: np.ndarray, x86: np.ndarray) -> X86Agreement:
    """Exact-match share of raw outputs; integer outputs also give their largest gap in quantized steps."""
    if arm.shape != x86.shape or arm.dtype != x86.dtype:
        raise ValueError(f"arm64 outputs {arm.dtype}{arm.shape} and x86 {x86.dtype}{x86.shape} differ in kind")
    quantized = np.issubdtype(arm.dtype, np.integer)
    if quantized:
        same = arm == x86
        gap = float(np.abs(arm.astype(np.int64) - x86.astype(np.int64)).max()) if arm.size else 0.0
    else:
        # Bit patterns, so -0.0 vs 0.0 or a NaN count as differences too.
        width = {2: np.uint16, 4: np.uint32, 8: np.uint64}[arm.dtype.itemsize]
        same = arm.view(width) == x86.view(width)
        gap = float(np.abs(arm.astype(np.float64) - x86.astype(np.float64)).max()) if arm.size else 0.0
    peak = float(np.abs(x86.astype(np.float64)).max()) if x86.size else 0.0
    return X86Agreement(float(same.mean()) if same.size else 1.0, gap, quantized, int(same.size), peak)
