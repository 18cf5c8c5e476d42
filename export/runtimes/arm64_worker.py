"""Runs INSIDE the aarch64 emulator (``shufflenet.export.runtimes.litert_arm64`` starts it): one .tflite file on a
whole batch.

Only the standard library, NumPy and LiteRT exist there, so this file imports nothing of the project.
Usage: python3.11 arm64_worker.py MODEL INPUTS.npy OUTPUTS.npy INFO.json THREADS
INPUTS holds N inputs already in the file's layout, dtype and quantisation (N x ...); OUTPUTS gets the N raw
outputs (the file's own dtype); INFO the CPU features the emulated process sees and the run's timings.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time

AT_HWCAP, AT_HWCAP2 = 16, 26
# Linux arm64 hwcap bits (arch/arm64/include/uapi/asm/hwcap.h) that decide XNNPACK's kernel choice.
HWCAP = {"fp": 0, "asimd": 1, "fphp": 9, "asimdhp": 10, "asimddp": 20, "sve": 22, "asimdfhm": 23}
HWCAP2 = {"sve2": 1, "i8mm": 13, "bf16": 14, "sme": 23}


def cpu_features() -> dict:
    """What cpuinfo (XNNPACK's CPU detection) reads on Linux: the auxiliary vector's hwcaps and /proc/cpuinfo."""
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    hw, hw2 = libc.getauxval(AT_HWCAP), libc.getauxval(AT_HWCAP2)
    flags = [k for k, b in HWCAP.items() if hw >> b & 1] + [k for k, b in HWCAP2.items() if hw2 >> b & 1]
    fields: dict = {}
    try:  # qemu emulates /proc/cpuinfo: "CPU part" (MIDR) names the core, e.g. 0xd03 Cortex-A53, 0xd0b A76
        with open("/proc/cpuinfo") as f:
            for ln in f:
                key, _, value = ln.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return {"hwcap": hex(hw), "hwcap2": hex(hw2), "hwcap_flags": flags,
            "proc_cpuinfo_features": fields.get("Features", ""), "cpu_part": fields.get("CPU part", "")}  # fmt: skip


def main(argv: list[str]) -> int:
    model, inputs, outputs, info_path, threads = argv[1:6]
    t0 = time.perf_counter()
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    x = np.load(inputs)
    interp = Interpreter(model_path=model, num_threads=int(threads))
    interp.allocate_tensors()
    ind, outd = interp.get_input_details()[0], interp.get_output_details()[0]
    t1 = time.perf_counter()
    outs = []
    for i in range(len(x)):
        interp.set_tensor(ind["index"], x[i : i + 1])
        interp.invoke()
        outs.append(interp.get_tensor(outd["index"]).copy())
        if (i + 1) % 50 == 0:  # the host polls this file to show progress on long batches
            with open(outputs + ".progress.tmp", "w") as f:
                f.write(str(i + 1))
            os.replace(outputs + ".progress.tmp", outputs + ".progress")
    t2 = time.perf_counter()
    np.save(outputs, np.concatenate(outs) if outs else np.zeros((0,), np.float32))
    ops = [d["op_name"] for d in interp._get_ops_details()]
    info = {
        "machine": os.uname().machine,
        "cpu": cpu_features(),
        "startup_s": t1 - t0,
        "invoke_s": t2 - t1,
        "images": len(x),
        "delegate_nodes": ops.count("DELEGATE"),
        "ops": len(ops),
    }
    with open(info_path, "w") as f:
        json.dump(info, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
