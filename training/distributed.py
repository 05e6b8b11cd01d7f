"""Data-parallel training under ``torchrun``: the process group, each rank's rows of a global batch, and the
gradient all-reduce.

How a run at world size W computes what a one-process run with the same global batch computes:

* ``batch_size`` in the config stays the *global* batch; each rank trains on ``batch_size / W`` rows of it.
* Every rank holds the same seeded random streams. A per-image draw (which training images, flips, latents,
  labels, DiffAugment parameters, GP interpolation weights) is made for the whole global batch on every
  rank, and each rank keeps its own rows (:meth:`World.take`). So rank r reads a deterministic shard — rows
  ``[r * b, (r + 1) * b)`` of each global batch — and class-balanced sampling stays exactly as balanced as in
  one process: the global batch is the one a single process would draw.
* Gradients are averaged over the ranks by hand after each backward pass (:meth:`World.average_gradients`,
  one flat ``all_reduce`` per optimiser step, as StyleGAN2-ADA's training loop does) instead of through
  ``DistributedDataParallel``: R1 and the WGAN-GP penalty differentiate through a gradient (double
  backward), which DDP's reducer does not support, and one code path for every loss is simpler. Every loss
  term is a mean over the batch, so the mean of the ranks' gradients is the gradient of the global mean.

* Batch norm in training mode (dcgan, sngan, wgan-gp, fastgan) normalises with the statistics of the global
  batch: :meth:`World.prepare` turns every ``BatchNorm2d`` into :class:`GlobalBatchNorm2d`, which sums its
  moments over the ranks with a differentiable all-reduce (torch's ``SyncBatchNorm`` needs a GPU; this
  works under gloo and NCCL alike, and keeps the state-dict keys, so checkpoints do not change).

Two things stay per rank: StyleGAN's minibatch-standard-deviation layer (its groups are taken within each
rank's rows, as in StyleGAN2-ADA) and the spectral loss's batch power spectrum. Without them the result
matches one process up to floating-point summation order (the test measures it).

Rank 0 writes checkpoints, samples and curves; the others only train. torch is imported here, so only
training code imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from medsynth.errors import DataError

__all__ = ["World", "SINGLE", "GlobalBatchNorm2d", "world_from_env", "shutdown"]

T = TypeVar("T")
_global_stats = [True]  # False inside World.local_stats(): rank 0 alone samples images


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) that gradients flow through, twice if need be (R1 through a batch-normed D)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


class GlobalBatchNorm2d(torch.nn.BatchNorm2d):
    """``BatchNorm2d`` whose training-mode statistics are those of the global batch (all ranks' rows).

    Outside a process group, in eval mode, or inside :meth:`World.local_stats` it is a plain
    ``BatchNorm2d``. Every rank must hold the same number of rows.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _global_stats[0] and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        size = dist.get_world_size()
        axes = (0, 2, 3)
        mean = _SumOverRanks.apply(x.mean(axes)) / size
        centred = x - mean[None, :, None, None]
        var = _SumOverRanks.apply(centred.square().mean(axes)) / size  # two passes, as torch's own
        count, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        # all three are tensors whenever track_running_stats is set
        if (
            self.track_running_stats
            and count is not None
            and running_mean is not None
            and running_var is not None
        ):
            with torch.no_grad():
                count.add_(1)  # in place, as torch's BatchNorm does
                tracked = float(count)
                momentum = self.momentum if self.momentum is not None else 1.0 / tracked
                n = x.numel() // x.shape[1] * size
                running_mean.lerp_(mean.detach(), momentum)
                running_var.lerp_(var.detach() * (n / max(n - 1, 1)), momentum)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run."""

    rank: int  # global rank, 0 .. size - 1
    size: int  # number of processes (world size)
    local_rank: int  # rank on this machine: the CUDA device index under NCCL

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one process."""
        return self.size > 1

    def local_batch(self, global_batch: int) -> int:
        """The rows of a global batch this rank trains on.

        Raises
        ------
        DataError
            ``global_batch`` is not a multiple of the world size.
        """
        if global_batch % self.size:
            raise DataError(
                f"batch_size {global_batch} does not split over {self.size} processes; use a "
                f"multiple of {self.size} (batch_size is the global batch)"
            )
        return global_batch // self.size

    def take(self, rows: T) -> T:
        """This rank's share of ``rows`` (an array or tensor whose first axis is a global batch)."""
        if not self.distributed:
            return rows
        n = len(rows)  # type: ignore[arg-type]
        b = n // self.size
        return rows[self.rank * b : (self.rank + 1) * b]  # type: ignore[index]

    def draw(self, fn: Callable[[int], T], n_local: int) -> T:
        """``fn(n)`` draws ``n`` per-row random values; draw them for the global batch, keep this rank's."""
        return self.take(fn(n_local * self.size))

    def spread(self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Apply a per-row random ``fn`` (e.g. DiffAugment) to this rank's rows as if to the global batch.

        ``x`` is placed at this rank's rows of a zero global batch, so ``fn`` draws exactly what it draws in
        one process; the other rows are dropped again. Gradients flow to ``x``.
        """
        if not self.distributed:
            return fn(x)
        b = len(x)
        before = x.new_zeros((self.rank * b, *x.shape[1:]))
        after = x.new_zeros(((self.size - self.rank - 1) * b, *x.shape[1:]))
        return self.take(fn(torch.cat([before, x, after])))

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over the ranks, in one flat all-reduce."""
        if not self.distributed:
            return
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            return
        flat = torch.cat([p.grad.flatten() for p in with_grad])  # type: ignore[union-attr]
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.size
        for p, part in zip(with_grad, flat.split([p.numel() for p in with_grad]), strict=True):
            p.grad.copy_(part.view_as(p))  # type: ignore[union-attr]

    def mean(self, stats: Mapping[str, float]) -> dict[str, float]:
        """The mean over the ranks of each value of ``stats`` (the same keys on every rank)."""
        if not self.distributed:
            return dict(stats)
        keys = sorted(stats)
        values = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64, device=self._device())
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return {k: float(v) / self.size for k, v in zip(keys, values.tolist(), strict=True)}

    def from_main(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (a JSON-like object: a decision, a record of metrics)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def prepare(self, modules: Iterable[torch.nn.Module]) -> None:
        """Make ``modules`` ready for data-parallel training, in place: batch norms use global statistics,
        and rank 0's parameters and buffers are copied to every rank (they agree anyway when seeded alike).
        """
        if not self.distributed:
            return
        with torch.no_grad():
            for module in modules:
                for sub in module.modules():
                    if type(sub) is torch.nn.BatchNorm2d:
                        sub.__class__ = GlobalBatchNorm2d  # same state, parameters and keys
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor.data, src=0)

    @contextmanager
    def local_stats(self) -> Iterator[None]:
        """Within the block, batch norms use this rank's rows only (for work rank 0 does alone)."""
        _global_stats[0] = False
        try:
            yield
        finally:
            _global_stats[0] = True

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.distributed:
            dist.barrier()

    def _device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


SINGLE = World(rank=0, size=1, local_rank=0)


def world_from_env(device: str, environ: Mapping[str, str] | None = None) -> World:
    """Join the process group ``torchrun`` describes in the environment, or return :data:`SINGLE`.

    Parameters
    ----------
    device
        The config's device: ``"cpu"`` uses the gloo backend, ``"cuda"`` NCCL with one GPU per local rank.
    environ
        The environment (default ``os.environ``); torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
        ``MASTER_ADDR`` and ``MASTER_PORT``.

    Returns
    -------
    World
        This process's rank and the world size.

    Raises
    ------
    DataError
        CUDA asked for under torchrun with fewer GPUs than local ranks.
    """
    env = os.environ if environ is None else environ
    size = int(env.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    world = World(rank=int(env["RANK"]), size=size, local_rank=int(env.get("LOCAL_RANK", "0")))
    if dist.is_initialized():
        return world
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        if torch.cuda.device_count() <= world.local_rank:
            raise DataError(
                f"local rank {world.local_rank} needs a GPU but this machine has "
                f"{torch.cuda.device_count()}; use --nproc-per-node at most the GPU count"
            )
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.size)
    return world


def shutdown(world: World) -> None:
    """Leave the process group (a no-op for a single process)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
