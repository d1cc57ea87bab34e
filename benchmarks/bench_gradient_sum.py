"""What one step's gradient average costs between two CPU processes.

A data-parallel fit (``accelerator=``) averages its gradients after every
step. This times the ways of doing that between two gloo processes on this
machine, with a flat float32 tensor of the default classifier's size
(177,298 gradients and one flag per parameter tensor):

- gloo's all-reduce of tensors of several sizes (is it latency or volume?);
- :class:`skhyper._shared_memory.SharedMemorySum`, what a fit on CPUs of
  one machine uses, and the barrier inside it alone;
- a stand-in for the backward pass (matrix products, a few milliseconds),
  followed by one all-reduce or by the shared-memory sum, against the same
  compute with the tensor in four buckets whose all-reduces start while it
  runs, as DDP's bucketing overlaps them with the backward pass. What a
  sum adds to a step is its row minus "compute alone".

    python benchmarks/bench_gradient_sum.py                # 300 calls, 5 rounds
    python benchmarks/bench_gradient_sum.py --smoke        # CI: seconds

It starts its two processes itself (``torch.distributed.run``) and prints
the median over the rounds of each mean, in milliseconds per call, as
process 0 measured it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as dist

GRADIENTS = 177_298 + 13  # the default classifier's, with its flags
SIZES = (1, 1_000, 10_000, GRADIENTS, 2 * GRADIENTS)


def milliseconds_per_call(work, calls: int) -> float:
    """Mean wall time of ``work()``, started together on every process."""
    dist.barrier()
    start = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - start) / calls * 1e3


def compute(products: int = 12) -> None:
    """A stand-in for a step's backward pass: about 4 ms here."""
    a = torch.ones(256, 256)
    for _ in range(products):
        a @ a


def sequential(flat: torch.Tensor, total=None) -> None:
    """The compute, then one sum: an all-reduce, or ``total``."""
    compute()
    if total is None:
        dist.all_reduce(flat)
    else:
        total(flat)


def overlapped(flat: torch.Tensor, buckets: int = 4) -> None:
    """Each quarter of the compute is followed by the start of one
    bucket's all-reduce, as the backward pass finishes one group of
    parameters after another; all are awaited at the end."""
    pending = []
    for bucket in flat.chunk(buckets):
        compute(12 // buckets)
        pending.append(dist.all_reduce(bucket, async_op=True))
    for work in pending:
        work.wait()


def measure(calls: int) -> dict[str, float]:
    """One round of every timing, on this process."""
    from skhyper._shared_memory import SharedMemorySum

    rank, size = dist.get_rank(), dist.get_world_size()
    flat = torch.rand(GRADIENTS)
    total = SharedMemorySum.open(GRADIENTS, rank, size)
    if total is None:
        raise RuntimeError("the two processes could not share memory here")
    timings = {}
    for n in SIZES:
        values = torch.rand(n)
        timings[f"all-reduce, {n:,} values"] = milliseconds_per_call(
            lambda values=values: dist.all_reduce(values), calls
        )
    timings["barrier"] = milliseconds_per_call(dist.barrier, calls)
    timings["shared-memory sum"] = milliseconds_per_call(lambda: total(flat), calls)
    timings["compute alone"] = milliseconds_per_call(compute, calls)
    timings["compute, then one all-reduce"] = milliseconds_per_call(
        lambda: sequential(flat), calls
    )
    timings["compute, then the shared-memory sum"] = milliseconds_per_call(
        lambda: sequential(flat, total), calls
    )
    timings["compute with 4 buckets overlapped"] = milliseconds_per_call(
        lambda: overlapped(flat), calls
    )
    return timings


def worker(calls: int, rounds: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    results = [measure(calls) for _ in range(rounds)]
    if dist.get_rank() == 0:
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(json.dumps({"calls": calls, "rounds": rounds, "ms": medians}))
        print("\n| operation | ms per call (median of rounds) |\n|---|---:|")
        for name, value in medians.items():
            print(f"| {name} | {value:.3f} |")
    dist.barrier()  # torch 2.2's gloo could hang in a lone destroy
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.calls, args.rounds = 5, 1
    if "LOCAL_RANK" in os.environ:
        worker(args.calls, args.rounds)
        return
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        __file__,
        f"--calls={args.calls}",
        f"--rounds={args.rounds}",
    ]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
