"""What ``shufflenet-bench android`` is asked to do: the files, the phones, the timing and the fairness options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi", "npu")
REMOTE_DIR = "/data/local/tmp"
NPU_DISPATCH = {"qualcomm": "libLiteRtDispatch_Qualcomm.so"}  # what --npu-libs must hold, per vendor


@dataclass
class AndroidConfig:
    benchmark_model: Path | None  # None: only the .pte files, with pte_runner
    artifacts: Path
    files: list[str] | None = None
    serial: str | None = None  # one serial, "A,B,...", "all", or None: the only device attached
    adb_servers: list[str] = field(default_factory=list)  # HOST:PORT of remote adb servers; none: the local one
    max_parallel: int | None = None  # devices timed at once (None: all)
    threads: list[int] = field(default_factory=lambda: [1])
    delegates: list[str] = field(default_factory=lambda: ["xnnpack"])
    cores: str = "big"
    warmup: int = 10
    runs: int = 50
    repeats: int = 3
    cooldown_s: float = 10.0  # pause between two runs on one device
    cool_below_c: float | None = None  # before each file, wait until the SoC zones and battery are this cool
    cool_timeout_s: float = 600.0
    cool_poll_s: float = 5.0
    op_profiling: bool = False
    max_warming_c: float = 5.0
    adb: str | None = None
    remote_dir: str = REMOTE_DIR
    check_abi: bool = True
    run_timeout_s: float = 900.0  # a benchmark_model run taking longer is killed on the phone
    keep_remote_files: bool = False
    npu_libs: Path | None = None  # the phone's NPU runtime libraries; NPU files run only with them
    resume: Path | None = None  # an earlier results file: only its missing or failed cells are run
    pte_runner: Path | None = None  # the user's ExecuTorch executor_runner build: the .pte files run with it

    @property
    def remote_npu_dir(self) -> str:
        return f"{self.remote_dir}/npu"

    @property
    def tools(self) -> dict[str, Path]:
        """The programs pushed to the phones: {"benchmark_model": ..., "pte_runner": ...} (those given)."""
        given = {"benchmark_model": self.benchmark_model, "pte_runner": self.pte_runner}
        return {k: Path(v) for k, v in given.items() if v is not None}

    def validate(self) -> None:
        if self.benchmark_model is None and self.pte_runner is None:
            raise ValueError("pass --benchmark-model (for the .tflite files) or --pte-runner (for the .pte files)")
        if self.benchmark_model is not None and not Path(self.benchmark_model).is_file():
            raise ValueError(f"benchmark_model not found: {self.benchmark_model}")
        if self.pte_runner is not None and not Path(self.pte_runner).is_file():
            raise ValueError(f"--pte-runner {self.pte_runner} not found; pass the executor_runner you built for the "
                             "phone (see docs/benchmarks.md)")  # fmt: skip
        if not Path(self.artifacts).is_dir():
            raise ValueError(f"artifacts folder not found: {self.artifacts}")
        bad = [d for d in self.delegates if d not in DELEGATES]
        if bad:
            raise ValueError(f"unknown delegate(s) {bad}: choose from {', '.join(DELEGATES)}")
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError("--threads must list positive integers")
        if self.runs < 1 or self.repeats < 1 or self.warmup < 0 or self.cooldown_s < 0:
            raise ValueError("--runs and --repeats must be >= 1, --warmup and --cooldown >= 0")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise ValueError("--max-parallel must be >= 1")
        if self.run_timeout_s <= 0 or self.cool_timeout_s < 0 or self.cool_poll_s <= 0:
            raise ValueError("--run-timeout must be > 0 and --cool-timeout >= 0")
        if self.serial is not None and not [s for s in self.serial.split(",") if s.strip()]:
            raise ValueError("--serial needs a serial, a comma list of serials, or all")
        if self.resume is not None and not Path(self.resume).is_file():
            raise ValueError(f"--resume {self.resume}: no such results file")
        if self.npu_libs is not None:
            libs = Path(self.npu_libs)
            if not libs.is_dir():
                raise ValueError(f"--npu-libs {libs} is not a folder; pass the folder of the phone's NPU runtime "
                                 "libraries (see docs/npu.md)")  # fmt: skip
            if not any((libs / name).is_file() for name in NPU_DISPATCH.values()):
                need = " or ".join(NPU_DISPATCH.values())
                raise ValueError(f"--npu-libs {libs} has no {need}; it needs LiteRT's dispatch library and the "
                                 "vendor's runtime libraries for the phone (see docs/npu.md)")  # fmt: skip
        elif "npu" in self.delegates:
            raise ValueError("--delegate npu needs --npu-libs DIR, the phone's NPU runtime libraries (see docs/npu.md)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("benchmark_model", "artifacts", "npu_libs", "resume", "pte_runner"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d
