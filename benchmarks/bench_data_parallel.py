"""Throughput and quality of one fit on 1 and 2 processes (data parallel).

Runs ``examples/distributed_training.py`` in one process (plain ``python``)
and in two (``accelerate launch --multi_gpu --num_processes 2``, which joins
CPU processes over gloo on a machine without GPUs), at each table size, a
few times in turns, and reports the median training throughput (training
rows of all epochs per second of ``fit``, start-up excluded) and the test
AUC of each. Both take the same steps (``batch_size`` is the whole batch,
split between the processes), so their AUCs should agree.

    python benchmarks/bench_data_parallel.py                    # 100k and 1M rows
    python benchmarks/bench_data_parallel.py --rows 1000000 --repeats 3
    python benchmarks/bench_data_parallel.py --smoke            # CI: seconds
    python benchmarks/bench_data_parallel.py --rows 1000000 --control
    python benchmarks/bench_data_parallel.py --rows 1000000 --batch-size auto 8192

``--batch-size`` sets the whole batch (split between the processes) of
both fits, ``"auto"`` (the default) or a number of rows; each size is a
row of the table.

``--control`` also times two independent one-process fits running at once
(no communication): what the machine gives two processes, the ceiling of
any data-parallel speed-up on it.

The load average of the machine is recorded before and after each run:
two processes can only be faster than one when two cores are free.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "distributed_training.py"


def free_port() -> int:
    """A TCP port nobody listens on now, for the processes' rendezvous."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(processes: int) -> list[str]:
    """How to start ``processes`` processes of the example."""
    if processes == 1:
        return [sys.executable]
    accelerate = Path(sys.executable).with_name("accelerate")
    return [
        str(accelerate) if accelerate.exists() else "accelerate",
        "launch",
        "--multi_gpu",
        f"--num_processes={processes}",
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
        f"--main_process_port={free_port()}",
    ]


def example_arguments(rows: int, epochs: int, batch_size: str, out) -> list[str]:
    """The example's command-line arguments for one fit."""
    return [
        str(EXAMPLE),
        f"--rows={rows}",
        f"--epochs={epochs}",
        f"--batch-size={batch_size}",
        f"--out={out}",
    ]


def run_example(
    processes: int, rows: int, epochs: int, batch_size: str, timeout: float
) -> dict:
    """One fit of the example; process 0's record, with the load average."""
    with tempfile.TemporaryDirectory() as out:
        command = launch_command(processes) + example_arguments(
            rows, epochs, batch_size, out
        )
        load_before = os.getloadavg()[0]
        env = {**os.environ, "SKHYPER_SMOKE": "0"}
        subprocess.run(command, check=True, timeout=timeout, env=env, cwd=ROOT)
        records = [
            json.loads((Path(out) / f"rank{rank}.json").read_text())
            for rank in range(processes)
        ]
    digests = {record["weights_sha256"] for record in records}
    return {
        **records[0],
        "same_weights_on_every_process": len(digests) == 1,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def run_two_independent(
    rows: int, epochs: int, batch_size: str, timeout: float
) -> dict:
    """The control: two one-process fits at once, each on its own table of
    ``rows``, with no communication. Their summed throughput is what the
    machine gives two processes; data parallelism cannot beat it."""
    with tempfile.TemporaryDirectory() as out:
        load_before = os.getloadavg()[0]
        env = {**os.environ, "SKHYPER_SMOKE": "0"}
        fits = [
            subprocess.Popen(
                [
                    sys.executable,
                    *example_arguments(rows, epochs, batch_size, f"{out}/{k}"),
                ],
                env=env,
                cwd=ROOT,
            )
            for k in range(2)
        ]
        for fit in fits:
            if fit.wait(timeout=timeout) != 0:
                raise RuntimeError(f"a control fit failed: {fit.args}")
        records = [
            json.loads((Path(out) / str(k) / "rank0.json").read_text())
            for k in range(2)
        ]
    return {
        **records[0],
        "rows_per_second": sum(r["rows_per_second"] for r in records),
        "same_weights_on_every_process": True,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def summarise(runs: list[dict]) -> dict:
    """Median throughput and fit time, the AUCs, the load averages."""
    return {
        "rows_per_second": statistics.median(r["rows_per_second"] for r in runs),
        "fit_seconds": statistics.median(r["fit_seconds"] for r in runs),
        "test_auc": [r["test_auc"] for r in runs],
        "epochs": [r["epochs"] for r in runs],
        "batch_size": runs[0]["batch_size"],
        "load": [round(r["load_before"], 2) for r in runs],
        "same_weights_on_every_process": all(
            r["same_weights_on_every_process"] for r in runs
        ),
    }


def measure(rows: int, batch_size: str, args) -> dict:
    """Fits of one table size and batch size on 1 and 2 processes (and the
    control), ``args.repeats`` times in turns: the machine's load hits all."""
    runs = {1: [], 2: [], "control": []} if args.control else {1: [], 2: []}
    for _ in range(args.repeats):
        for processes in runs:
            if processes == "control":
                run = run_two_independent(rows, args.epochs, batch_size, args.timeout)
            else:
                run = run_example(
                    processes, rows, args.epochs, batch_size, args.timeout
                )
            runs[processes].append(run)
            # Each run as it ends, so a run cut short still reports.
            print(json.dumps({**run, "launched": processes}), flush=True)
    one, two = summarise(runs[1]), summarise(runs[2])
    result = {
        "rows": rows,
        "one_process": one,
        "two_processes": two,
        "speedup": two["rows_per_second"] / one["rows_per_second"],
        "auc_difference": statistics.median(two["test_auc"])
        - statistics.median(one["test_auc"]),
    }
    if args.control:
        control = summarise(runs["control"])
        result["two_independent_fits"] = control
        result["control_speedup"] = control["rows_per_second"] / one["rows_per_second"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", nargs="+", default=["auto"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--control",
        action="store_true",
        help="also time two independent one-process fits at once",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.epochs, args.repeats = [4_000], 2, 1

    results = []
    for rows, batch_size in itertools.product(args.rows, args.batch_size):
        results.append(measure(rows, batch_size, args))
        print(json.dumps(results[-1], indent=2), flush=True)

    print(
        "\n| rows | batch | 1 process rows/s | 2 processes rows/s | speed-up "
        "| AUC 1 process | AUC 2 processes | load average |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        one, two = r["one_process"], r["two_processes"]
        print(
            f"| {r['rows']:,} | {one['batch_size']} | {one['rows_per_second']:,.0f} "
            f"| {two['rows_per_second']:,.0f} | {r['speedup']:.2f}x "
            f"| {statistics.median(one['test_auc']):.4f} "
            f"| {statistics.median(two['test_auc']):.4f} "
            f"| {min(one['load'] + two['load']):.1f}-"
            f"{max(one['load'] + two['load']):.1f} |"
        )
    for r in results:
        if "control_speedup" in r:
            print(
                f"{r['rows']:,} rows, batch {r['one_process']['batch_size']}: "
                "two independent one-process fits at once "
                f"{r['two_independent_fits']['rows_per_second']:,.0f} rows/s in "
                f"all ({r['control_speedup']:.2f}x one fit alone)"
            )
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2))
    if not all(r["two_processes"]["same_weights_on_every_process"] for r in results):
        sys.exit("The two processes ended with different weights.")


if __name__ == "__main__":
    main()
