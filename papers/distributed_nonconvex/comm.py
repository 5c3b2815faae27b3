"""One process per worker over torch.distributed: the launcher and the two communication patterns.

`launch` starts `world_size` processes with torch.multiprocessing (spawn), each joining a gloo process
group (nccl works the same way on GPUs) through a TCP rendezvous on a free port, runs `fn(comm, payload)`
in each and returns every rank's result. Under `torchrun` (one machine or many, `--nnodes`), the same
worker function joins the group torchrun set up (`env://`): see worker.py.

`Comm` is what the algorithms use:
- `gossip(tensors)`: sum_j W_ij x_j over the worker's neighbours in the mixing matrix, by point-to-point
  isend / irecv (one message per neighbour and tensor);
- `allreduce_mean(t)`: the network average (centralised SGD, local SGD's averaging);
- `measure_*`: all-reduces that only measure (the metrics); they are not counted as communication.
Floats sent per worker are counted as the algorithm would send them: gossip deg(i) * numel per tensor, an
all-reduce 2 (n - 1) / n * numel (the bandwidth of ring all-reduce).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from common.errors import ConfigError, ReproError
from papers.distributed_nonconvex.topology import Topology

BACKENDS = ("gloo", "nccl")


class WorkerError(ReproError):
    """A worker process died, raised, or the group did not finish in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free (bind to port 0); another process may take it before we do, which
    the rendezvous then reports as a port in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"port must be an integer in 1..65535, got {port!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            raise WorkerError(f"port {port} on {host} is in use ({err.strerror}): choose another port or leave it "
                              "unset for a free one") from None


class Comm:
    """The worker's view of the network: its rank, the mixing weights of its row of W, counters."""

    def __init__(self, topology: Topology | None = None):
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.floats_sent = 0.0
        self.set_topology(topology or Topology.build("complete", self.world))

    def set_topology(self, topology: Topology) -> None:
        if topology.n != self.world:
            raise ConfigError(f"topology {topology.kind} has {topology.n} nodes but the group has {self.world} workers")
        self.topology = topology
        self.neighbours = list(topology.adjacency[self.rank])
        self.self_weight = float(topology.w[self.rank, self.rank])
        self.weights = [float(topology.w[self.rank, j]) for j in self.neighbours]

    def gossip(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """[sum_j W_ij x_j for x in tensors]: the tensors go to every neighbour as one message."""
        flat = torch.cat([t.reshape(-1) for t in tensors]) if len(tensors) > 1 else tensors[0].reshape(-1).contiguous()
        received = [torch.empty_like(flat) for _ in self.neighbours]
        requests = []
        for m, j in enumerate(self.neighbours):
            requests.append(dist.isend(flat, j))
            requests.append(dist.irecv(received[m], j))
        for request in requests:
            request.wait()
        mixed = flat * self.self_weight
        for m, w in enumerate(self.weights):
            mixed.add_(received[m], alpha=w)
        self.floats_sent += len(self.neighbours) * flat.numel()
        out, start = [], 0
        for t in tensors:
            out.append(mixed[start:start + t.numel()].view_as(t))
            start += t.numel()
        return out

    def allreduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        self.floats_sent += 2.0 * (self.world - 1) / self.world * t.numel()
        return out / self.world

    @staticmethod
    def measure_sum(t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    def measure_mean(self, t: torch.Tensor) -> torch.Tensor:
        return self.measure_sum(t) / self.world

    def gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        out = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(out, t.contiguous())
        return out


def _worker(rank: int, fn, world_size: int, init_method: str, backend: str, timeout_s: float, out_dir: str,
            payload) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)

    def record(err: BaseException) -> None:
        # the cause, time-stamped before the group goes down: a worker's partners fail after it (connection
        # reset), and the launcher names the first
        (Path(out_dir) / f"error{rank}.txt").write_text(f"{time.time()!r}\n{type(err).__name__}: {_first_line(err)}")

    try:
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
    except Exception as err:  # the rendezvous: most often a port taken between our check and the bind
        failure = WorkerError(f"could not join the process group at {init_method}: {_first_line(err)}")
        record(failure)
        raise failure from err
    try:
        # every rank has its connections before any starts (or, with no work, stops and closes them: a peer
        # still connecting would see "connection closed"), and none closes its own before all are done
        dist.barrier()
        result = fn(Comm(), payload)
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()
    except Exception as err:
        record(err)
        raise
    finally:
        dist.destroy_process_group()


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _diagnose(context, out_dir: str) -> str:
    """What went wrong first: a worker that died without raising (a signal other than the launcher's own
    stopping, or os._exit), else the earliest error a worker recorded."""
    errors = {}
    for path in Path(out_dir).glob("error*.txt"):
        stamp, message = path.read_text().split("\n", 1)
        errors[int(path.stem[5:])] = (float(stamp), message)
    stopped = (-15, -9)  # SIGTERM / SIGKILL: the launcher stopping the others
    for rank, process in enumerate(context.processes):
        code = process.exitcode
        if code not in (None, 0, *stopped) and rank not in errors:
            return f"worker {rank} died (exit code {code}); the others were stopped"
    if errors:
        rank, (_, message) = min(errors.items(), key=lambda item: item[1][0])
        return f"worker {rank} failed: {message}"
    return "a worker was stopped by a signal; the others were stopped"


@contextlib.contextmanager
def _children_skip_main():
    """Spawned children re-import the parent's __main__ (scripts/reproduce.py with Hydra and the whole run
    loop, or pytest) unless it has no spec and no file; the workers need only `fn`'s own module."""
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if main is not None and name in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__spec__ = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def launch(fn, world_size: int, payload, *, backend: str = "gloo", host: str = "127.0.0.1", port: int | None = None,
           timeout_s: float = 600.0, collective_timeout_s: float = 60.0) -> list:
    """Run fn(comm, payload) on `world_size` processes; the list of their results by rank.

    A worker that raises or dies ends the others (torch.multiprocessing terminates them) and raises
    WorkerError naming it; so does a group that runs past `timeout_s`. A worker stuck in a collective
    whose partner died gives up after `collective_timeout_s` (the process group's timeout)."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ConfigError(f"world_size must be an integer >= 1, got {world_size!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if port is None:
        port = free_port(host)
    else:
        check_port_free(host, port)
    with tempfile.TemporaryDirectory(prefix="dnc_") as out_dir:
        with _children_skip_main():
            context = mp.start_processes(
                _worker, args=(fn, world_size, f"tcp://{host}:{port}", backend, collective_timeout_s, out_dir, payload),
                nprocs=world_size, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        try:
            while not context.join(timeout=0.5, grace_period=2.0):
                if time.monotonic() > deadline:
                    raise WorkerError(f"the {world_size} workers did not finish within {timeout_s:g} s; stopped them")
        except (mp.ProcessRaisedException, mp.ProcessExitedException):
            raise WorkerError(_diagnose(context, out_dir)) from None
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
                    process.join(5)
        return [torch.load(Path(out_dir) / f"rank{r}.pt", weights_only=True) for r in range(world_size)]


