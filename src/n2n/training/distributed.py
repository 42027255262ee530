"""Several processes, one training run: ``torchrun --nproc_per_node N -m n2n train ...``.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`setup` joins the process group (gloo on
CPU, nccl on GPU) and picks this rank's device. The trainer wraps the model in
DistributedDataParallel, gives each rank a disjoint shard of every epoch, and lets rank 0 alone
log and checkpoint. Stop decisions (time budget, signals) are agreed by all ranks each step.
"""

from __future__ import annotations

import gc
import hashlib
import os
from dataclasses import dataclass

import torch
from torch import distributed, nn


@dataclass(frozen=True)
class Context:
    """Where this process stands in the run: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world


def current() -> Context:
    """The context of an initialised process group, else the one torchrun describes in the
    environment (before :func:`setup` joins it), else a single process."""
    if distributed.is_available() and distributed.is_initialized():
        return Context(distributed.get_rank(), distributed.get_world_size())
    return Context(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group that torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 or distributed.is_initialized():
        return current(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current(), device


def teardown() -> None:
    """Leave the process group, releasing its gloo/nccl threads while Python is fully alive.

    DistributedDataParallel sits in reference cycles, and its reducer keeps the group alive past
    ``destroy_process_group``; freed only at interpreter exit, the group's threads then died in
    C++ ("terminate called without an active exception", SIGABRT) in about 1 run in 60 on a busy
    2-core machine. Collecting the cycles first makes the destroy real."""
    if distributed.is_available() and distributed.is_initialized():
        gc.collect()
        distributed.destroy_process_group()


def any_rank(flag: bool, context: Context, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks stop together)."""
    if context.world == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    distributed.all_reduce(value, op=distributed.ReduceOp.MAX)
    return bool(value.item())


def wrap(model: nn.Module, context: Context) -> nn.Module:
    """DistributedDataParallel around ``model`` when there are several processes."""
    if context.world == 1:
        return model
    return nn.parallel.DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the model's parameters and buffers, to compare ranks or runs bit for bit."""
    digest = hashlib.sha256()
    for name, value in sorted(unwrap(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
