"""The process group of a data-parallel run, as torch.distributed sets it up (``torchrun``, or ``launch`` for
``--workers``): who this process is, collectives over plain numbers, and one-line errors when another process
of the run is lost.

Every process of a run is started with the environment ``torchrun`` gives (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins the group with NCCL on CUDA and
gloo on the CPU. Without that environment a run is one process and nothing here talks to anyone.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .launch import first_line, launched_by_torchrun

DEFAULT_TIMEOUT_S = 1800.0  # torch's own default for a collective that waits for a process of the run


class PeerLost(RuntimeError):
    """Another process of the run stopped (crashed, was killed, or its node went away); the message is one line."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: ``rank`` of ``world``, ``local_rank`` of ``local_world`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, shows progress and writes the checkpoint."""
        return self.rank == 0

    @property
    def nodes(self) -> int:
        return max(1, self.world // max(1, self.local_world))

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of ``values`` over every process (float64, on the CPU for gloo and on the GPU for
        NCCL)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(t)
        return t.tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (pickled: only for this run's own data, e.g. a checkpoint payload)."""
        if self.world == 1:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=_collective_device())
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the body first (e.g. decodes a folder into the shared cache), then every other process."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def _collective_device() -> torch.device:
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def current() -> DistContext:
    """The context of an initialised process group, else a single process's."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), local_world)


def init_from_env(device_type: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistContext:
    """Join the process group torchrun's environment describes (NCCL on CUDA, gloo on the CPU); a process started
    without it is a run of its own. A CUDA process uses the GPU of its local rank."""
    if dist.is_initialized() or not launched_by_torchrun():
        return current()
    world = int(os.environ["WORLD_SIZE"])
    if world == 1:
        return DistContext()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    backend = "nccl" if device_type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    except Exception as e:
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        raise PeerLost(
            f"cannot join the run's process group at {where} ({first_line(e)}); check that every node was started "
            "with the same --nnodes, --master-addr and --master-port"
        ) from None
    return current()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


_PEER_SIGNS = ("connection closed by peer", "connection reset", "broken pipe", "gloo", "nccl", "timed out",
               "socket", "tcpstore")  # fmt: skip


def is_peer_failure(e: BaseException) -> bool:
    """Whether ``e`` is a collective that failed because another process of the run went away."""
    if isinstance(e, dist.DistError):
        return True
    return isinstance(e, RuntimeError) and any(s in str(e).lower() for s in _PEER_SIGNS)
