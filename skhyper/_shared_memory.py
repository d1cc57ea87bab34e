"""Summing a tensor over the processes of one machine through shared memory.

A data-parallel fit on CPU processes averages its gradients after every
step. Through gloo that is an all-reduce over TCP on the loopback device:
for the default classifier's 177,298 gradients it added 3.0-3.5 ms to a
step on this project's 2-core machine, and is mostly latency (1,000 values
took about as long as 354,000). Processes on one machine can instead write
their gradients into one buffer that all of them map, meet at a barrier and
each add up the buffer: that added 1.8 ms (``benchmarks/bench_gradient_sum.py``;
``docs/scaling.md`` has the fits' figures). ``torch.distributed`` still
carries the barrier and every other collective operation.
"""

from __future__ import annotations

import os
import tempfile
import uuid

import torch
import torch.distributed as dist

# Values written by process 0 that the others must read back from the
# buffer before it is used: a file of the same name on another machine (or
# in another container's /dev/shm) would be a different buffer.
_CHECK_VALUES = 4


class SharedMemorySum:
    """The sum over the processes of one flat float32 tensor of ``size``
    values, through a buffer in shared memory that all of them map.

    Each process copies its tensor into its own slot, waits at a barrier
    until every process has written, and adds up the slots in rank order:
    every process performs the same additions in the same order, so all get
    the same bits (for two processes, those of an all-reduce).

    The buffer has two sets of slots, used in turn, so that one barrier per
    sum is enough: a process writes the set of sum ``k + 2`` only after the
    barrier of sum ``k + 1``, which every process reaches only after it has
    read the set of sum ``k``.

    Use :meth:`open`, which every process must call; it gives ``None`` on
    every process when they cannot share memory.
    """

    def __init__(self, buffer: torch.Tensor, rank: int, n_processes: int, size: int):
        self._slots = buffer[: 2 * n_processes * size].view(2, n_processes, size)
        self._rank = rank
        self._turn = 0

    @classmethod
    def open(cls, size: int, rank: int, n_processes: int) -> SharedMemorySum | None:
        """Map one buffer in every process (a collective operation).

        Process 0 creates the file (in ``/dev/shm`` where there is one), the
        others map it and check that they read what process 0 wrote, and
        once all have tried, process 0 removes the file's name before any
        process returns: the memory lives on while mapped and nothing is
        left behind when the processes end. ``None`` on every process if any
        of them could not map it.
        """
        length = 2 * n_processes * size + _CHECK_VALUES
        announced = [None]
        buffer = None
        if rank == 0:
            buffer, announced[0] = _create(length)
        dist.broadcast_object_list(announced, src=0)
        if rank > 0 and announced[0] is not None:
            buffer = _attach(*announced[0], length)
        mapped = torch.tensor([float(buffer is not None)])
        dist.all_reduce(mapped, op=dist.ReduceOp.MIN)
        if rank == 0 and announced[0] is not None:
            os.unlink(announced[0][0])
        # No process returns before the name is gone: one that looked in
        # /dev/shm straight away could otherwise still see it.
        dist.barrier()
        if mapped.item() < 1:
            return None
        return cls(buffer, rank, n_processes, size)

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of every process's ``tensor`` (a new tensor)."""
        slots = self._slots[self._turn]
        self._turn ^= 1
        slots[self._rank].copy_(tensor)
        dist.barrier()
        total = slots[0].clone()
        for slot in slots[1:]:
            total += slot
        return total


def _create(length: int):
    """Process 0's buffer and ``(path, check values)``, or ``(None, None)``
    if it cannot create one."""
    directory = _shared_directory()
    if not _has_room(directory, 4 * length):
        return None, None
    name = uuid.uuid4()
    path = os.path.join(directory, f"skhyper-gradients-{name.hex}")
    # Exact in float32: whole numbers below 2**24.
    check = [float((name.int >> (24 * k)) % 2**24) for k in range(_CHECK_VALUES)]
    try:
        _reserve(path, 4 * length)
        buffer = torch.from_file(path, shared=True, size=length, dtype=torch.float32)
    except (OSError, RuntimeError):
        if os.path.exists(path):
            os.unlink(path)
        return None, None
    buffer[-_CHECK_VALUES:] = torch.tensor(check)
    return buffer, (path, check)


def _reserve(path: str, n_bytes: int) -> None:
    """Create the file, readable by this user only, with its pages
    allocated where the system can (``posix_fallocate``: an ``OSError``
    now if they do not fit, rather than SIGBUS at a later write)."""
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(descriptor, 0, n_bytes)
        else:
            os.ftruncate(descriptor, n_bytes)
    finally:
        os.close(descriptor)


def _shared_directory() -> str:
    """Where the buffer's file goes: /dev/shm (memory) where there is one,
    else the temporary directory (a mapped file is shared all the same)."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def _has_room(directory: str, n_bytes: int) -> bool:
    """Whether ``directory`` has room for the buffer twice over: a full
    /dev/shm (64 MiB in a Docker container by default) would end in SIGBUS
    at a write to a page that finds no memory, where the all-reduce would
    have worked. Where ``posix_fallocate`` exists, :func:`_reserve` makes
    sure of the pages as well."""
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return stats.f_bavail * stats.f_frsize >= 2 * n_bytes


def _attach(path: str, check: list[float], length: int) -> torch.Tensor | None:
    """The buffer process 0 created, or None where this process does not
    see the same memory (another machine, another container)."""
    if not os.path.isfile(path) or os.path.getsize(path) != 4 * length:
        return None
    try:
        buffer = torch.from_file(path, shared=True, size=length, dtype=torch.float32)
    except (OSError, RuntimeError):
        return None
    if buffer[-_CHECK_VALUES:].tolist() != check:
        return None
    return buffer
