"""How much memory and time an export will take, judged before it starts; and a heartbeat on long steps.

The estimate counts the activations of one forward pass on the meta device (no memory, any input size) and the
images the export holds (calibration and parity sets, uint8 plus their float32 copy). int8 calibration keeps every
intermediate tensor of the float graph alive (TFLite's calibrator records each one), so with int8 the peak is the
sum of all activations; otherwise runtimes reuse buffers and a few of the largest ones dominate. ExecuTorch files
add the library's memory, a fixed time per .pte lowering (it hardly depends on the input size) and, for int8, PT2E
calibration: observed eager forward passes over batches of images (the histogram observers keep no tensors). The
figures are deliberately rough (a factor of two either way); they exist to refuse what cannot possibly fit, e.g.
``--input-size 5000``, before minutes of work, not to predict the last megabyte.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

BASELINE_BYTES = 1.5e9  # torch + TensorFlow + ONNX Runtime loaded, measured RSS of a small export
MACS_PER_SECOND = 2e9  # one core of the kind of machine this runs on, through Python-driven runtimes
SECONDS_PER_CONVERSION = 20.0  # fixed cost of one converter run (ONNX->TF->TFLite, Core ML) at small sizes
# ExecuTorch: its libraries loaded beside the rest, and one .pte lowering (torch.export + XNNPACK partitioning and
# serialisation), which hardly depends on the input size: 60-90 s a file for ShuffleNet on the 2 shared cores here.
EXECUTORCH_BYTES = 0.6e9
SECONDS_PER_PTE = 75.0
PT2E_SECONDS_PER_BATCH = 4.0  # one observed forward pass of a calibration batch (histogram observers, in Python)
PT2E_BATCH = 32  # executorch_export.CALIB_BATCH


@dataclass(frozen=True)
class Estimate:
    peak_bytes: float
    seconds: float
    activation_bytes: int  # sum over one forward pass, float32, batch 1
    largest_activation_bytes: int
    macs: int

    def describe(self) -> str:
        mins = self.seconds / 60
        t = f"{self.seconds:.0f} s" if self.seconds < 120 else f"{mins:.0f} min"
        return f"about {self.peak_bytes / 1e9:.1f} GB of memory and {t} (rough estimate)"


def activation_sizes(model_builder: Callable[[], object], size: tuple[int, int]) -> tuple[int, int, int]:
    """(sum, largest) of the float32 activation bytes of one forward pass, and its multiply-adds, counted on
    the meta device: nothing is allocated, so any size is cheap to ask about."""
    import torch
    from torch import nn

    with torch.device("meta"):
        model = model_builder()
    total = largest = macs = 0

    def hook(m: nn.Module, _inp: tuple, out: object) -> None:
        nonlocal total, largest, macs
        if isinstance(out, torch.Tensor):
            n = out.numel()
            total += n * 4
            largest = max(largest, n * 4)
            if isinstance(m, nn.Conv2d):
                kh, kw = m.kernel_size
                macs += n * (m.in_channels // m.groups) * kh * kw
            elif isinstance(m, nn.Linear):
                macs += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total, largest, macs


def estimate(
    model_builder: Callable[[], object],
    size: tuple[int, int],
    plan: dict[str, tuple[str, ...]],
    calib_images: int,
    parity_images: int,
) -> Estimate:
    total, largest, macs = activation_sizes(model_builder, size)
    int8 = "int8" in plan.get("tflite", ())
    pte = plan.get("executorch", ())
    pte_int8 = "int8" in pte
    graph = total if int8 else 4 * largest
    if pte_int8:  # a calibration batch in eager PyTorch: a few of the largest activations per image
        graph = max(graph, PT2E_BATCH * 4 * largest)
    pixels = size[0] * size[1] * 3
    images = (calib_images if int8 or pte_int8 else 0) + parity_images
    peak = BASELINE_BYTES + (EXECUTORCH_BYTES if pte else 0) + graph + images * pixels * 5  # uint8 + float32 copy
    files = sum(len(v) for f, v in plan.items() if f != "executorch")
    runs = (calib_images if int8 else 0) + (calib_images if pte_int8 else 0) + parity_images * (files + len(pte))
    pt2e = -(-calib_images // PT2E_BATCH) * PT2E_SECONDS_PER_BATCH if pte_int8 else 0.0
    seconds = (files * SECONDS_PER_CONVERSION * max(1.0, total / 1e9) + len(pte) * SECONDS_PER_PTE + pt2e
               + runs * macs / MACS_PER_SECOND)  # fmt: skip
    return Estimate(peak, seconds, total, largest, macs)


def available_memory() -> int | None:
    """Bytes this process may still use: MemAvailable, or less under a cgroup limit; None when unknown."""
    avail = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = int(open("/sys/fs/cgroup/memory.current").read().strip())
        if limit != "max":
            room = int(limit) - used
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    if avail is None and hasattr(os, "sysconf"):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
    return avail


@contextmanager
def heartbeat(say: Callable[[str], None], every: float = 30.0) -> Iterator[Callable[[str], None]]:
    """A ``say`` that also repeats "still working" every ``every`` seconds while a step runs silently."""
    state = {"msg": "", "since": time.time(), "last": time.time()}
    stop = threading.Event()
    lock = threading.Lock()

    def wrapped(msg: str) -> None:
        with lock:
            state.update(msg=msg, since=time.time(), last=time.time())
        say(msg)

    def beat() -> None:
        while not stop.wait(min(1.0, every / 2)):
            with lock:
                now = time.time()
                if not state["msg"] or now - state["last"] < every:
                    continue
                state["last"] = now
                msg = f"  ... still working on: {state['msg']} ({now - state['since']:.0f} s)"
            say(msg)

    t = threading.Thread(target=beat, name="export-heartbeat", daemon=True)
    t.start()
    try:
        yield wrapped
    finally:
        stop.set()
        t.join(timeout=2)
