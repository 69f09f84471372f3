"""Training in several processes through `accelerate launch` (torchrun underneath).

With `train.num_processes: 1` the train stage runs in the current process, as it always has. With N > 1,
`python -m shelltune.stages.train` re-runs itself under `accelerate launch --num_processes N`, and each of the N
processes trains on its share of every batch (DDP; or FSDP with `train.accelerate_config`). Only rank 0
logs, writes checkpoint fingerprints and saves the adapter.

Without an accelerate config file the launch uses `--multi_gpu`, which is accelerate's name for
"torchrun, one process per device": on a machine without CUDA the processes train on CPU and talk
through gloo (accelerate's MULTI_CPU mode), which is how the test suite runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shelltune.config import Params, TrainParams
from shelltune.errors import ShelltuneError

TRAIN_MODULE = "shelltune.stages.train"


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_ranks(env: Mapping[str, str] = os.environ) -> Ranks:
    """This process's place among the launched ones (torchrun's environment variables)."""
    return Ranks(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))


def is_launched(env: Mapping[str, str] = os.environ) -> bool:
    """True inside a process started by accelerate launch or torchrun."""
    return "LOCAL_RANK" in env and "WORLD_SIZE" in env


def uses_fsdp(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def resolve_backend(backend: str, device: str) -> str:
    """torch.distributed backend: NCCL between GPUs, gloo between CPU processes."""
    if backend == "auto":
        return "nccl" if device == "cuda" else "gloo"
    if backend == "nccl" and device != "cuda":
        raise ShelltuneError("train.ddp_backend: nccl needs CUDA; use gloo (or auto) on CPU")
    return backend


def free_port() -> int:
    """A free TCP port for the rendezvous, so queued experiments can train side by side."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(train: TrainParams, argv: list[str], port: int) -> list[str]:
    """The `accelerate launch` command line that runs the train stage in train.num_processes processes."""
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(train.num_processes),
        "--num_machines",
        "1",
        "--main_process_port",
        str(port),
    ]
    if train.accelerate_config:
        if not Path(train.accelerate_config).is_file():
            raise ShelltuneError(f"train.accelerate_config: {train.accelerate_config} not found")
        command += ["--config_file", train.accelerate_config]
    else:
        # Mixed precision comes from the trainer's own bf16/fp16 arguments, not from the launcher.
        command += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*command, "-m", TRAIN_MODULE, *argv]


def relaunch(params: Params, argv: list[str]) -> int | None:
    """With train.num_processes > 1, run the train stage again under accelerate launch and return its exit
    status; None when this process should train itself (one process, or already launched)."""
    if params.train.num_processes <= 1 or is_launched():
        return None
    print(
        f"training in {params.train.num_processes} processes: accelerate launch "
        f"--num_processes {params.train.num_processes} ... -m {TRAIN_MODULE}",
        flush=True,
    )
    return subprocess.run(launch_command(params.train, argv, free_port()), check=False).returncode


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
