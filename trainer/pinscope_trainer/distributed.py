"""Data parallelism for several processes (`torchrun` or `accelerate launch`), plain torch.distributed.

Both launchers export RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; a process started
without them is a world of one and nothing here does anything. Every rank builds the same global batch
(same seeded order and augmentation) and trains on its slice `batch[rank::world]`; DistributedDataParallel
averages the gradients, so the run follows the single-process schedule. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def shard(self, tensor):
        return tensor[self.rank :: self.size] if self.active else tensor

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def init_world(device_name: str) -> tuple[World, str]:
    """(World, device name for this rank); starts the process group when launched with several processes."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device_name
    import torch
    import torch.distributed as dist

    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
        return world, f"cuda:{world.local_rank}"
    return world, "cpu"


def wrap(model, world: World):
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)
