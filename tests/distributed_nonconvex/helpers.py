"""Worker functions for the tests (module level, so spawned processes can import them)."""
import os
import time

import torch.distributed as dist


def die_on_rank_one(comm, payload):
    if comm.rank == 1:
        os._exit(3)
    dist.barrier()  # rank 0 waits for a partner that is gone
    return {}


def hang_on_rank_one(comm, payload):
    if comm.rank == 1:
        time.sleep(600)
    dist.barrier()
    return {}


def raise_on_rank_one(comm, payload):
    if comm.rank == 1:
        raise ValueError("bad shard on worker 1")
    dist.barrier()
    return {}
