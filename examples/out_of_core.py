"""
Training on a table larger than memory, with Dask
=================================================

:meth:`~skhyper.HyperNetworkClassifier.partial_fit` trains one pass over
the rows it is given, carrying the network and its optimizer's state from
call to call. ``dask_ml.wrappers.Incremental`` calls it once per partition
of a Dask DataFrame, one partition after another, on the workers of a Dask
cluster; ``dask_ml.wrappers.ParallelPostFit`` then predicts every partition
of another DataFrame in parallel. Neither ever holds the whole table.

This example

1. writes a synthetic table of several million rows as Parquet files, one
   partition at a time (this process never holds the table either): a
   context column ``region``, a categorical feature ``channel``, numeric
   features and a binary label whose rule depends on the region;
2. starts a ``LocalCluster`` whose workers may each use at most a fifth of
   the table's size in memory, with spilling to disk turned off, so that
   the only way to stay under the limit is to stream;
3. trains ``Incremental(HyperNetworkClassifier(...))`` for a few passes and
   scores the held-out partitions through ``ParallelPostFit``;
4. records the peak resident memory of every worker process, and does it
   all again on a table a quarter of the size: the peaks must not grow
   with the table;
5. fits the same classifier in memory on a sample of the training rows and
   compares both ROC AUCs on the same held-out rows.

``region`` and ``channel`` are pandas ``Categorical`` columns with declared
categories, and Parquet keeps the declaration: each partition read back
declares every category, even those it lacks, which is what ``partial_fit``
needs on its first call (see the user guide). The numeric encoding is
learned from the first partition that ``Incremental`` passes, so partitions
should be random samples of the table, as they are here.

The documentation build shows this example without running it: it starts
worker processes and writes gigabytes. It needs ``dask-ml``, ``pyarrow`` and
``dask[distributed]`` (all in the ``test`` extra). Run it from the
repository root::

    python examples/out_of_core.py                  # 4M rows, about 10 minutes
    python examples/out_of_core.py --smoke          # 80k rows, a minute
    SKHYPER_SMOKE=1 python examples/out_of_core.py  # the same smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import psutil
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, LocalCluster
from sklearn.metrics import roc_auc_score

from skhyper import HyperNetworkClassifier

CONTEXT = "region"
TARGET = "label"
SEED = 0
REGIONS = [f"r{i:02d}" for i in range(24)]
CHANNELS = ["web", "store", "phone", "partner"]
DECLARED = {
    CONTEXT: pd.CategoricalDtype(REGIONS),
    "channel": pd.CategoricalDtype(CHANNELS),
}
N_TEST_PARTITIONS = 4
# As in distributed_search.py: forkserver workers exit at once at shutdown;
# spawned ones that imported torch can outlast Dask's 4 s grace period.
START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)

# %%
# The table
# ---------
# Every partition is drawn from its own seed, so a partition is the same
# whatever the size of the table. The label's log-odds are a region's own
# linear function of the first four features, a channel effect and a shared
# term in the fifth; the other features are noise. Each region's
# coefficients are drawn once, from the seed, so that the same rule holds in
# every partition. Values are rounded to 2 decimals: in memory they are
# float64 (8 bytes each), on disk Parquet's dictionary encoding stores them
# in about one byte.


def region_rule(seed: int = SEED) -> np.ndarray:
    """Each region's coefficients on the first four features."""
    return np.random.default_rng([seed, 2**31]).normal(size=(len(REGIONS), 4))


def make_partition(
    index: int, n_rows: int, n_features: int, seed: int = SEED
) -> pd.DataFrame:
    """Partition ``index`` of the synthetic table: ``n_rows`` rows."""
    rng = np.random.default_rng([seed, index])
    features = rng.normal(size=(n_rows, n_features)).round(2)
    region = rng.integers(len(REGIONS), size=n_rows)
    channel = rng.integers(len(CHANNELS), size=n_rows)
    logit = (
        1.5 * np.einsum("ij,ij->i", features[:, :4], region_rule(seed)[region])
        + np.array([-1.0, 0.0, 0.5, 1.0])[channel]
        + 0.5 * features[:, 4]
    )
    label = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    table = pd.DataFrame(features, columns=[f"x{j:03d}" for j in range(n_features)])
    table.insert(0, CONTEXT, pd.Categorical.from_codes(region, REGIONS))
    table.insert(1, "channel", pd.Categorical.from_codes(channel, CHANNELS))
    table[TARGET] = label.astype(np.int8)
    return table


def write_table(
    directory: Path, n_partitions: int, n_rows: int, n_features: int
) -> dict:
    """Write ``n_partitions`` training and ``N_TEST_PARTITIONS`` held-out
    Parquet files under ``directory``, one at a time."""
    in_memory = 0
    for index in range(n_partitions + N_TEST_PARTITIONS):
        part = make_partition(index, n_rows, n_features)
        folder = directory / ("train" if index < n_partitions else "test")
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / f"part.{index:05d}.parquet", index=False)
        if index < n_partitions:
            in_memory += int(part.memory_usage(deep=True).sum())
    on_disk = sum(file.stat().st_size for file in (directory / "train").iterdir())
    return {"in_memory": in_memory, "on_disk": on_disk}


# %%
# Peak memory of the workers
# --------------------------
# The cluster is local, so this process can read the memory of the worker
# processes itself: a thread samples their resident set size every 20 ms.
# On Linux the kernel also keeps each process's exact high-water mark
# (``VmHWM``, reset when the block starts), which catches what falls between
# two samples.


class PeakMemory:
    """The peak resident memory of some processes, while in the block."""

    def __init__(self, pids: list[int], interval: float = 0.02):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.interval = interval
        self.peaks = {process.pid: 0 for process in self.processes}
        self.died: set[int] = set()  # killed, e.g. by Dask for memory
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        for process in self.processes:
            _reset_high_water_mark(process.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        for process in self.processes:
            self._record(process.pid, _high_water_mark(process.pid))

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            for process in self.processes:
                try:
                    self._record(process.pid, process.memory_info().rss)
                except psutil.NoSuchProcess:
                    self.died.add(process.pid)

    def _record(self, pid: int, rss: int) -> None:
        self.peaks[pid] = max(self.peaks[pid], rss)


def _reset_high_water_mark(pid: int) -> None:
    """Start the kernel's high-water mark afresh (Linux 4.0 and later)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _high_water_mark(pid: int) -> int:
    """The process's peak resident memory since it started (Linux), else 0."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# %%
# The cluster
# -----------
# Two single-threaded worker processes on the loopback interface. Dask
# normally spills data to disk as a worker nears its ``memory_limit``, and
# pauses it at 80%; both are off here, so a worker that held more than a few
# partitions would be killed (at 95%) instead of being rescued by the disk.


def make_cluster(memory_limit: int) -> LocalCluster:
    """Two single-threaded workers of ``memory_limit`` bytes each."""
    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


NO_SPILLING = {
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.multiprocessing-method": START_METHOD,
}


def make_model(max_epochs: int = 1, context_pooling: float = 0.0):
    """The classifier trained out of core and in memory alike."""
    return HyperNetworkClassifier(
        context_column=CONTEXT,
        hidden_size=32,
        hyper_hidden_size=32,
        output_size=32,
        # One batch size for both fits, and the learning rate that
        # batch_size="auto" would give it (1e-3 * sqrt(1024 / 128)).
        batch_size=1024,
        lr=3e-3,
        # partial_fit has no validation split to choose a decay with, and
        # the strong decay (7) that "auto" then means holds a fit on this
        # much data back; 0.1 is the weak end of the "auto" path.
        weight_decay=0.1,
        # partial_fit counts each region's rows as they arrive, so the
        # first partitions are pooled towards the shared weights as if
        # they were the whole table, which slows the training of a single
        # pass (--context-pooling 300 shows by how much; 0 is the default).
        context_pooling=context_pooling,
        max_epochs=max_epochs,
        random_state=SEED,
    )


# %%
# Training out of core
# --------------------
# ``Incremental.fit`` makes one pass over the partitions, in a random order;
# each later ``partial_fit`` makes another. ``classes`` must be given on the
# first call, because a partition may lack a class.
#
# The passes run on **one** worker thread. Training is sequential (each
# partition's step needs the model of the step before), but reading is not:
# a second worker thread, free to run any task, reads partition after
# partition ahead of the training, and each waits in memory until its turn.
# Run with ``--no-pin`` to see it: the peak memory then grows with the
# table. ``dask.annotate`` pins the whole training graph, reads included, to
# one worker; a worker with one thread runs each partition's step as soon as
# the partition is read (Dask orders the tasks so), which holds one or two
# partitions at a time. ``ParallelPostFit`` then predicts the held-out
# partitions on every worker at once: there each read is followed by its
# own prediction, and only the predictions are kept.


def read_table(folder: Path) -> tuple[dd.DataFrame, dd.Series]:
    """The features and the label of a folder of Parquet files, lazily."""
    # Each partition read back declares its categories, but Dask's metadata
    # (the empty frame that stands for every partition) marks them unknown;
    # ParallelPostFit predicts on that metadata to learn its output's type.
    frame = dd.read_parquet(folder).astype(DECLARED)
    return frame.drop(columns=TARGET), frame[TARGET]


@contextlib.contextmanager
def on_one_worker(client: Client, pin: bool = True):
    """Run the tasks of the graphs built in this block on one worker."""
    if not pin:
        yield
        return
    address = sorted(client.scheduler_info()["workers"])[0]
    with dask.annotate(workers=[address], allow_other_workers=False):
        yield


def train_out_of_core(client: Client, directory: Path, args) -> dict:
    """Train and score on the cluster; the workers' peak memory."""
    X, y = read_table(directory / "train")
    X_test, y_test = read_table(directory / "test")
    pids = list(client.run(os.getpid).values())
    # What a worker holds before it sees any data: torch, skhyper and
    # dask-ml imported.
    client.run(_import_training_stack)
    before = {pid: psutil.Process(pid).memory_info().rss for pid in pids}
    start = time.perf_counter()
    with PeakMemory(pids) as memory:
        model = make_model(context_pooling=args.context_pooling)
        search = Incremental(model, random_state=SEED)
        with on_one_worker(client, pin=not args.no_pin):
            search.fit(X, y, classes=[0, 1])
            for _ in range(args.passes - 1):
                search.partial_fit(X, y)
        train_seconds = time.perf_counter() - start
        proba = ParallelPostFit(search.estimator_).predict_proba(X_test)
        proba = proba[:, 1].compute()
    return {
        "model": search.estimator_,
        "auc": roc_auc_score(y_test.compute(), proba),
        "train_seconds": train_seconds,
        "before": before,
        "peaks": memory.peaks,
        "died": memory.died,
    }


def _import_training_stack() -> None:
    import dask_ml.wrappers  # noqa: F401

    import skhyper  # noqa: F401


def run_size(directory: Path, n_partitions: int, args: argparse.Namespace) -> dict:
    """Write a table, then train on it on a fresh cluster."""
    start = time.perf_counter()
    sizes = write_table(directory, n_partitions, args.rows_per_partition, args.features)
    write_seconds = time.perf_counter() - start
    memory_limit = int(args.memory_limit_mib * 2**20)
    with (
        dask.config.set(NO_SPILLING),
        make_cluster(memory_limit) as cluster,
        Client(cluster) as client,
    ):
        result = train_out_of_core(client, directory, args)
    return {
        **result,
        **sizes,
        "rows": n_partitions * args.rows_per_partition,
        "partitions": n_partitions,
        "write_seconds": write_seconds,
        "memory_limit": memory_limit,
    }


# %%
# The in-memory baseline
# ----------------------
# The same classifier, fitted with ``fit`` (early stopping on a validation
# split) on the first training partitions: the rows are independent, so
# they are a random sample of the table.


def train_in_memory(
    directory: Path, n_partitions: int, max_epochs: int, context_pooling: float
) -> dict:
    files = sorted((directory / "train").iterdir())[:n_partitions]
    sample = pd.concat([pd.read_parquet(file) for file in files], ignore_index=True)
    test = pd.read_parquet(directory / "test")
    start = time.perf_counter()
    model = make_model(max_epochs, context_pooling)
    model.fit(sample.drop(columns=TARGET), sample[TARGET])
    seconds = time.perf_counter() - start
    proba = model.predict_proba(test.drop(columns=TARGET))[:, 1]
    return {
        "rows": len(sample),
        "seconds": seconds,
        "epochs": model.n_iter_,
        "auc": roc_auc_score(test[TARGET], proba),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Out-of-core training on Dask.")
    parser.add_argument("--smoke", action="store_true", help="a small quick run")
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--rows-per-partition", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--memory-limit-mib", type=float, default=1024)
    parser.add_argument(
        "--sample-partitions",
        type=int,
        default=20,
        help="training partitions of the in-memory fit's sample",
    )
    parser.add_argument("--sample-epochs", type=int, default=10)
    parser.add_argument("--context-pooling", type=float, default=0.0)
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let every worker run the training graph's tasks (memory grows)",
    )
    args = parser.parse_args()
    if args.smoke or os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0"):
        args.partitions, args.rows_per_partition, args.features = 8, 10_000, 20
        args.passes, args.sample_partitions, args.sample_epochs = 1, 2, 2
    return args


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def report(result: dict) -> None:
    print(
        f"\n{result['rows']:,} rows in {result['partitions']} partitions: "
        f"{mib(result['in_memory'])} in memory, {mib(result['on_disk'])} on "
        f"disk (written in {result['write_seconds']:.0f} s)"
    )
    limit = result["memory_limit"]
    print(
        f"  worker memory limit {mib(limit)}: the table is "
        f"{result['in_memory'] / limit:.1f} times as large"
    )
    for pid, peak in result["peaks"].items():
        fate = ", killed" if pid in result["died"] else ""
        print(
            f"  worker {pid}: {mib(result['before'][pid])} before the fit, "
            f"peak {mib(peak)}{fate}"
        )
    rate = result["rows"] * result["passes"] / result["train_seconds"]
    print(
        f"  training: {result['passes']} passes in {result['train_seconds']:.0f} s "
        f"({rate:,.0f} rows/s); held-out ROC AUC {result['auc']:.4f}"
    )


# %%
# The run
# -------
# The large table, then one a quarter of its size, each on a fresh cluster;
# then the in-memory fit.


def main() -> None:
    args = parse_args()
    print(
        f"Training {'on every worker' if args.no_pin else 'pinned to one worker'}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="skhyper-ooc-") as tmp:
        for name, n_partitions in [
            ("large", args.partitions),
            ("small", max(args.partitions // 4, 1)),
        ]:
            result = run_size(Path(tmp) / name, n_partitions, args)
            report({**result, "passes": args.passes})
            if name == "large":
                large = result
        baseline = train_in_memory(
            Path(tmp) / "large",
            args.sample_partitions,
            args.sample_epochs,
            args.context_pooling,
        )
    print(
        f"\nIn memory on {baseline['rows']:,} rows: {baseline['epochs']} epochs "
        f"in {baseline['seconds']:.0f} s, held-out ROC AUC {baseline['auc']:.4f}"
    )
    print(f"Out of core minus in memory: {large['auc'] - baseline['auc']:+.4f}")
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
