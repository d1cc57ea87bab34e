"""Shapes of real tables where time or memory could jump: uneven contexts
in training, one-row predictions with many contexts, wide tables in
predict, and explanations of many rows.

Run from the repository root::

    python benchmarks/bench_shapes.py                  # ~10 minutes
    python benchmarks/bench_shapes.py --section skew --section latency
    python benchmarks/bench_shapes.py --smoke          # seconds (CI)

To compare with another commit, import that commit's package instead
(``git worktree add /tmp/old <commit>``, then ``PYTHONPATH=/tmp/old
python benchmarks/bench_shapes.py``), in turns with this one.

Sections (each a small table, printed as markdown):

- ``skew``: seconds per training epoch of ``HyperNetworkClassifier`` on
  100,000 rows whose context takes 1,000 values spread evenly, spread as
  user ids are (Zipf: the i-th most common value has a share
  proportional to 1/i), and spread evenly but with
  ``handle_unknown="learned"`` over 10,000 values (5% of each epoch's rows
  take the unknown code);
- ``latency``: median milliseconds of ``predict_proba`` on one row, for
  models fitted with 10 to 10,000 context values;
- ``wide``: seconds and extra peak memory (resident set, sampled every
  5 ms by a thread) of ``predict_proba`` on 100,000 rows of 2,000 numeric
  columns, against the input's size;
- ``explain``: seconds and extra peak memory of ``explain`` on 30,000 rows
  (64 steps).

Every fit is short (``max_epochs`` 1-2, a fixed ``weight_decay``, no early
stopping) and runs on one torch thread; the figures are for comparing
commits or shapes on one machine, not for quoting as absolute speeds.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings

import numpy as np
import pandas as pd
import psutil
import torch

from skhyper import HyperNetworkClassifier

QUICK = {"early_stopping": False, "weight_decay": 0.5, "random_state": 0}


class PeakMemory:
    """Extra resident memory at its peak while the ``with`` block runs."""

    def __enter__(self):
        self._process = psutil.Process()
        self.base = self._process.memory_info().rss
        self.peak = self.base
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.start = time.perf_counter()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self._running = False
        self._thread.join()
        self.extra_mb = (self.peak - self.base) / 2**20


def table(n_rows: int, n_numeric: int, codes: np.ndarray, seed: int = 0):
    """Numeric columns ``f0...``, the context ``user`` from ``codes``, and
    a label that follows ``f0``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_numeric)).astype(np.float64),
        columns=[f"f{i}" for i in range(n_numeric)],
    )
    X["user"] = pd.Series(codes).map("u{}".format).to_numpy()
    y = (X["f0"] + rng.normal(size=n_rows) > 0).astype(int).to_numpy()
    return X, y


def skew(smoke: bool) -> list[str]:
    n_rows, k = (2_000, 50) if smoke else (100_000, 1_000)
    rng = np.random.default_rng(0)
    share = 1.0 / np.arange(1, k + 1)
    cases = [
        ("even", k, rng.integers(0, k, n_rows), "error"),
        ("Zipf (user ids)", k, rng.choice(k, n_rows, p=share / share.sum()), "error"),
        (
            'even, handle_unknown="learned"',
            10 * k,
            rng.integers(0, 10 * k, n_rows),
            "learned",
        ),
    ]
    lines = ["| contexts spread | values | rows | s per epoch (each epoch) |"]
    lines.append("|---|---|---|---|")
    for label, values, codes, unknown in cases:
        X, y = table(n_rows, 10, codes)
        model = HyperNetworkClassifier(
            "user", handle_unknown=unknown, max_epochs=2, **QUICK
        ).fit(X, y)
        epochs = ", ".join(f"{s:.2f}" for s in model.history_["dur"])
        lines.append(f"| {label} | {values:,} | {n_rows:,} | {epochs} |")
    return lines


def latency(smoke: bool) -> list[str]:
    sizes = (10, 100) if smoke else (10, 1_000, 10_000)
    calls = 20 if smoke else 200
    lines = ["| context values | one-row predict_proba, median ms |", "|---|---|"]
    for k in sizes:
        n_rows = max(2_000, 4 * k)
        X, y = table(n_rows, 10, np.arange(n_rows) % k)
        model = HyperNetworkClassifier("user", max_epochs=1, **QUICK).fit(X, y)
        row = X.iloc[[0]]
        model.predict_proba(row)  # the first call generates and keeps
        seconds = []
        for _ in range(calls):
            start = time.perf_counter()
            model.predict_proba(row)
            seconds.append(time.perf_counter() - start)
        lines.append(f"| {k:,} | {1e3 * statistics.median(seconds):.1f} |")
    return lines


def wide(smoke: bool) -> list[str]:
    n_rows, n_numeric = (2_000, 50) if smoke else (100_000, 2_000)
    X, y = table(2_000, n_numeric, np.arange(2_000) % 20)
    model = HyperNetworkClassifier("user", max_epochs=1, **QUICK).fit(X, y)
    X, _ = table(n_rows, n_numeric, np.arange(n_rows) % 20, seed=1)
    model.predict_proba(X.iloc[:10])
    with PeakMemory() as memory:
        model.predict_proba(X)
    numeric_mb = n_rows * n_numeric * 8 / 2**20
    return [
        "| rows | numeric columns | input MB | seconds | extra peak MB |",
        "|---|---|---|---|---|",
        f"| {n_rows:,} | {n_numeric:,} | {numeric_mb:.0f} | {memory.seconds:.2f} | "
        f"{memory.extra_mb:.0f} |",
    ]


def explain(smoke: bool) -> list[str]:
    n_rows = 500 if smoke else 30_000
    X, y = table(20_000, 10, np.arange(20_000) % 20)
    model = HyperNetworkClassifier("user", max_epochs=1, **QUICK).fit(X, y)
    rows = X.sample(n_rows, replace=True, random_state=0)
    model.explain(rows.iloc[:5], n_steps=64)  # first-call costs (imports)
    with PeakMemory() as memory:
        model.explain(rows, n_steps=64)
    return [
        "| rows explained | steps | seconds | extra peak MB |",
        "|---|---|---|---|",
        f"| {n_rows:,} | 64 | {memory.seconds:.1f} | {memory.extra_mb:.0f} |",
    ]


RUNS = {"skew": skew, "latency": latency, "wide": wide, "explain": explain}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", action="append", choices=list(RUNS))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # rare-context hints on the tiny tables
    for name in args.section or RUNS:
        print(f"\n### {name}\n")
        print("\n".join(RUNS[name](args.smoke)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
