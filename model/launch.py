"""``shufflenet-train --workers N [--nnodes M ...]``: the processes of a data-parallel run started by torchrun's own
engine (``torch.distributed.launcher.elastic_launch``, with the configuration ``torchrun`` builds from the same
flags), not by a launcher of this project's. Each process runs the very code it runs under a plain ``torchrun``.

Importable without torch (the front end silences c10d's own logging before torch loads). What this front end
adds to ``torchrun``: its failures in one line. A process that dies (killed, out of memory)
ends the run, naming its rank and how it died; a second node whose ``--master-addr`` cannot be reached within
``--connect-timeout`` seconds stops naming the address. torchrun's agent logs go to a file instead of the screen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAUNCHED_ENV = "SHUFFLENET_LAUNCHED"  # set in the processes this front end starts: their failures are told once
DEFAULT_PORT = 29500  # torchrun's --master-port default
SIGTERM_EXITS = (-15, 143)  # stopped by the agent because another process failed: not the cause


def launched_by_torchrun() -> bool:
    """Whether this process was started by torchrun (or ``launch``): its rank and world are in the environment."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def first_line(e: BaseException) -> str:
    """The first line of an exception's message without the C++ source position gloo and NCCL put in front."""
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text[:200]


def check_global_batch(batch_size: int, world: int) -> None:
    """``--batch-size`` is the global batch: every process takes the same share of it."""
    if batch_size % world:
        raise ValueError(
            f"--batch-size {batch_size} (the global batch) does not split over {world} processes; pass a "
            f"multiple of {world}"
        )


class LaunchError(RuntimeError):
    """The run could not start or a process of it failed; the message is one line. ``exitcode``: None when the
    run never started (the nodes did not meet), else that of the process that failed first: negative when a
    signal killed it, positive when it exited with an error (this project's command then told it already)."""

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


@dataclass(frozen=True)
class LaunchSpec:
    """torchrun's ``--nproc-per-node``, ``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port``;
    ``connect_timeout``: how long a node waits for the others (torchrun's ``--rdzv-conf timeout=``)."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    connect_timeout: float = 300.0

    def check(self) -> None:
        if self.nproc_per_node < 1 or self.nnodes < 1:
            raise ValueError("--workers and --nnodes take a number >= 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise ValueError(f"--node-rank {self.node_rank} is not one of 0..{self.nnodes - 1} (--nnodes {self.nnodes})"
                             )  # fmt: skip
        if not 0 < self.master_port < 65536:
            raise ValueError(f"--master-port {self.master_port} is not a TCP port (1-65535)")
        if self.connect_timeout <= 0:
            raise ValueError("--connect-timeout takes a number of seconds > 0")

    def torchrun_flags(self) -> list[str]:
        """The same launch as ``torchrun`` flags (for the docs and for users who prefer torchrun itself)."""
        if self.nnodes == 1:
            return ["--standalone", f"--nproc-per-node={self.nproc_per_node}"]
        return [f"--nnodes={self.nnodes}", f"--node-rank={self.node_rank}", f"--nproc-per-node={self.nproc_per_node}",
                f"--master-addr={self.master_addr}", f"--master-port={self.master_port}",
                f"--rdzv-conf=timeout={int(self.connect_timeout)}"]  # fmt: skip


def _config(spec: LaunchSpec) -> Any:
    from torch.distributed.run import config_from_args, get_args_parser

    # torchrun's own parser and configuration: exactly what `torchrun FLAGS` would run.
    args = get_args_parser().parse_args([*spec.torchrun_flags(), "--max-restarts=0", "unused"])
    if spec.nnodes == 1:  # what torchrun's run() does for --standalone
        import uuid

        args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id = "c10d", "localhost:0", str(uuid.uuid4())
    config, _, _ = config_from_args(args)
    return config


def launch(spec: LaunchSpec, entrypoint: Callable[..., Any] | str, args: list[Any], log_file: Path | None = None
           ) -> dict[int, Any]:  # fmt: skip
    """Start ``spec.nproc_per_node`` processes of ``entrypoint`` (a function, or a program such as
    ``sys.executable`` with ``args``) on this node; returns each local rank's return value (functions). A failed
    process raises ``LaunchError`` naming it."""
    spec.check()
    if spec.nproc_per_node > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # as torchrun does: N processes do not share all cores
    os.environ[LAUNCHED_ENV] = "1"
    _agent_logs_to(log_file)
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    try:
        return elastic_launch(_config(spec), entrypoint)(*args)
    except SignalException as e:  # Ctrl-C or SIGTERM: the agent has stopped every process
        import signal

        from .cli_common import Terminated

        raise (Terminated() if e.sigval == signal.SIGTERM else KeyboardInterrupt()) from None
    except ChildFailedError as e:
        message, exitcode = describe_failure(e)
        raise LaunchError(message, exitcode) from None
    except Exception as e:  # rendezvous: the other nodes, or the master's address, never answered
        raise LaunchError(_rendezvous_error(spec, e)) from None
    finally:
        os.environ.pop(LAUNCHED_ENV, None)


def describe_failure(e: Any) -> tuple[str, int]:
    """One line for a ``ChildFailedError`` and the exit code of the process that failed first (not one the agent
    stopped after it; negative: killed by that signal)."""
    failures = e.failures
    causes = {r: f for r, f in failures.items() if f.exitcode not in SIGTERM_EXITS} or failures
    rank = min(causes, key=lambda r: (causes[r].timestamp, r))
    f = causes[rank]
    how = f"was killed by {f.signal_name()}" if f.exitcode < 0 else f"exited with code {f.exitcode}"
    return f"process rank {rank} (pid {f.pid}) of the run {how}; every process of the run was stopped", f.exitcode


def _rendezvous_error(spec: LaunchSpec, e: BaseException) -> str:
    where = f"{spec.master_addr}:{spec.master_port}"
    if spec.nnodes > 1 and spec.node_rank > 0:
        return (
            f"--master-addr {where} cannot be reached or did not answer within {spec.connect_timeout:g} s "
            f"({first_line(e)}); start node 0 first, and check the address, the port and the firewall"
        )
    if spec.nnodes > 1:
        return (
            f"the other {spec.nnodes - 1} node(s) did not join at {where} within {spec.connect_timeout:g} s "
            f"({first_line(e)}); start them with --nnodes {spec.nnodes} and --master-addr {spec.master_addr}"
        )
    return f"cannot start the run's processes ({first_line(e)})"


def _agent_logs_to(log_file: Path | None) -> None:
    """torchrun's agent logs (which processes it starts and stops) to ``log_file``, not to the terminal."""
    agent = logging.getLogger("torch.distributed")
    agent.propagate = False
    agent.handlers = []
    if log_file is None:
        agent.addHandler(logging.NullHandler())
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    agent.addHandler(handler)
