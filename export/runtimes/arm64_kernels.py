"""Which instructions LiteRT's kernels really execute on an emulated arm64 CPU, and so which arithmetic ran.

qemu's ``-d in_asm`` logs every guest block it translates, disassembled. The worker runs once with one image and
once with none (same interpreter set-up, no ``invoke``); the instruction classes only the run with the invoke
translated are the kernels'. Counts are distinct translated instructions, not executions.

Besides the kernel families (``sdot``/``udot`` dot product, i8mm, SVE, SME, NEON widening integer multiplies, float
FMA), floating-point instructions are split by the width of their operands: ``fp16_arith`` (half-precision vector
or scalar arithmetic, e.g. ``fmla v0.8h``: what XNNPACK's float16 kernels run on ARMv8.2 FP16 cores),
``fp16_widening`` (half-precision inputs summed in single precision: ``fmlal``, SVE2 ``fmlalb/t``, SME ``fmopa za.s``
with ``z.h`` inputs), ``fp32_arith`` (single precision) and ``fp16_convert`` (``fcvtl``/``fcvtn``: conversions at
the edges of a float16 graph). ``float_arithmetic`` turns the counts into the one word a report needs.
"""

from __future__ import annotations

import collections
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from shufflenet.export.runtimes.litert_arm64 import Arm64Env

# Instruction classes that tell XNNPACK's kernel families apart (mnemonic -> class).
CLASSES = {"sdot": "dotprod", "udot": "dotprod", "smmla": "i8mm", "ummla": "i8mm", "usmmla": "i8mm",
           "usdot": "i8mm", "smull": "neon_widening_mul", "smull2": "neon_widening_mul",
           "smlal": "neon_widening_mul", "smlal2": "neon_widening_mul", "fmla": "fp_fma", "bfmmla": "bf16",
           "fmopa": "sme", "smopa": "sme"}  # fmt: skip
# Floating-point arithmetic, split by operand width below (moves, compares and loads are left out).
FLOAT_ARITH = frozenset(
    "fmla fmls fadd fsub fmul fdiv fmax fmin fmaxnm fminnm faddp fmaxp fminp fmaxnmp fminnmp fmulx fmad fmsb fnmla "
    "fnmls fmadd fmsub fnmadd fnmsub fabs fneg fsqrt frecpe frecps frsqrte frsqrts fmopa fmops faddv fmaxv fminv "
    "fmaxnmv fminnmv fadda".split()
)
FLOAT_WIDENING = frozenset({"fmlal", "fmlal2", "fmlsl", "fmlsl2", "fmlalb", "fmlalt", "fmlslb", "fmlslt"})
FLOAT_CONVERT = frozenset({"fcvtl", "fcvtl2", "fcvtn", "fcvtn2", "fcvt", "fcvtlt", "fcvtnt"})
_INSN = re.compile(r"^0x[0-9a-f]+:\s+[0-9a-f]{8}\s+(\S+)\s*(.*)$")
_SVE_REG = re.compile(r"\bz\d+\.[bhsdq]\b|\bp\d+/[mz]\b")
_HALF = re.compile(r"\bv\d+\.(?:8h|4h|h)\b|\bv\d+\.h\[|\bh\d+\b|\bz\d+\.h\b|\bza\d*\.h\b")
_SINGLE = re.compile(r"\bv\d+\.(?:4s|2s|s)\b|\bv\d+\.s\[|\bs\d+\b|\bz\d+\.s\b|\bza\d*\.s\b")
_SINGLE_DEST = re.compile(r"^\s*(?:v\d+\.(?:4s|2s)|s\d+|z\d+\.s|za\d*\.s)\b")


def classify(mnemonic: str, operands: str) -> list[str]:
    """The classes one disassembled instruction counts in (possibly none)."""
    out = [CLASSES[mnemonic]] if mnemonic in CLASSES else []
    if _SVE_REG.search(operands):
        out.append("sve")
    half = bool(_HALF.search(operands))
    if mnemonic in FLOAT_CONVERT and half:
        out.append("fp16_convert")
    elif mnemonic in FLOAT_WIDENING or (half and mnemonic in FLOAT_ARITH and _SINGLE_DEST.match(operands)):
        out.append("fp16_widening")  # half-precision inputs, single-precision result (e.g. fmopa za0.s, .., z1.h)
    elif mnemonic in FLOAT_ARITH and half:
        out.append("fp16_arith")
    elif mnemonic in FLOAT_ARITH and _SINGLE.search(operands):
        out.append("fp32_arith")
    return out


def count_log(path: Path) -> collections.Counter:
    """Instruction classes in a qemu ``-d in_asm`` log."""
    counts: collections.Counter = collections.Counter()
    with open(path, errors="replace") as f:
        for line in f:
            mt = _INSN.match(line)
            if mt:
                counts.update(classify(mt.group(1), mt.group(2)))
    return counts


def translated(env: Arm64Env, model: Path, x: np.ndarray, cpu: str, log_path: Path, timeout_s: float = 900) -> (
    collections.Counter
):  # fmt: skip
    """Instruction classes in every block qemu translated during one worker run on ``x`` (possibly 0 images)."""
    worker = Path(__file__).with_name("arm64_worker.py")
    with tempfile.TemporaryDirectory(prefix="shufflenet-arm64-asm-") as tmp:
        t = Path(tmp)
        np.save(t / "in.npy", x)
        cmd = [str(env.qemu), "-L", str(env.root), "-cpu", cpu, "-d", "in_asm", "-D", str(log_path),
               str(env.python), str(worker), str(model), str(t / "in.npy"), str(t / "out.npy"),
               str(t / "info.json"), "1"]  # fmt: skip
        subprocess.run(cmd, env=env.environ(), capture_output=True, check=True, timeout=timeout_s)
    try:
        return count_log(log_path)
    finally:
        log_path.unlink(missing_ok=True)


def invoke_classes(env: Arm64Env, model: Path, x: np.ndarray, cpu: str, timeout_s: float = 900) -> dict[str, int]:
    """The instruction classes that only the ``invoke`` of one image translated (``x``: one input, the file's
    layout and dtype): the kernels' own instructions, the interpreter's set-up subtracted."""
    with tempfile.TemporaryDirectory(prefix="shufflenet-arm64-kernels-") as tmp:
        with_invoke = translated(env, model, x[:1], cpu, Path(tmp) / "one.log", timeout_s)
        without = translated(env, model, x[:0], cpu, Path(tmp) / "none.log", timeout_s)
    only = {k: with_invoke[k] - without.get(k, 0) for k in sorted(with_invoke)}
    return {k: v for k, v in only.items() if v > 0}


def float_arithmetic(counts: dict[str, int]) -> str:
    """``fp16`` when the kernels ran half-precision arithmetic (alone or widened into float32 accumulators),
    ``fp32`` when they ran single-precision arithmetic only, ``none`` when no float arithmetic ran (int8)."""
    if counts.get("fp16_arith", 0) or counts.get("fp16_widening", 0):
        return "fp16"
    return "fp32" if counts.get("fp32_arith", 0) else "none"


def describe(counts: dict[str, int]) -> str:
    """e.g. ``287 fp16 arithmetic, 60 fp32 arithmetic, 61 fp16<->fp32 conversions``."""
    names = (("fp16_arith", "fp16 arithmetic"), ("fp16_widening", "fp16 inputs into fp32 sums"),
             ("fp32_arith", "fp32 arithmetic"), ("fp16_convert", "fp16<->fp32 conversions"))  # fmt: skip
    parts = [f"{counts[k]} {label}" for k, label in names if counts.get(k)]
    return ", ".join(parts) or "no float instructions"
