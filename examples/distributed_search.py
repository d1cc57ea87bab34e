"""
Grid search over a hypernetwork on a Dask cluster
=================================================

scikit-learn's ``GridSearchCV`` runs its fits with joblib. Inside
``joblib.parallel_backend("dask")`` joblib hands them to a Dask cluster
instead of local processes, so the same code scales from a laptop to many
machines: only the cluster object changes. Here the cluster is a
``LocalCluster`` of two single-threaded worker processes on the loopback
interface (no dashboard, nothing reachable from outside), and the search
tunes ``hidden_size`` and ``hyper_hidden_size`` of
:class:`~skhyper.HyperNetworkClassifier` on the sensor anomaly data.

The documentation build shows this example without running it: it starts
worker processes. It needs ``dask[distributed]``
(``pip install "dask[distributed]"``). Run it from the repository root::

    python examples/distributed_search.py                   # 4 candidates, 3 folds
    python examples/distributed_search.py --smoke           # 2 candidates, 2 folds,
                                                            # 2 epochs, for CI
    SKHYPER_SMOKE=1 python examples/distributed_search.py   # the same smoke run
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time
from collections import Counter

import dask
import joblib
import pandas as pd
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold

from skhyper import HyperNetworkClassifier
from skhyper.datasets import make_sensor_data

CONTEXT = "sensor_type"
TARGET = "anomaly"
SEED = 0

# %%
# The cluster
# -----------
# How the worker processes are started. Dask's default, "spawn", works too,
# but a spawned worker that has imported torch ends with the interpreter's
# full clean-up, which can take longer than the 4 s Dask waits at shutdown
# before it kills the worker (logging "Worker process still alive after 4.0
# seconds, killing"). A forkserver child skips that clean-up and exits at
# once. Windows has no forkserver; it keeps "spawn".
START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)

FULL_GRID = {"hidden_size": [64, 128], "hyper_hidden_size": [32, 64]}
SMOKE_GRID = {"hidden_size": [64], "hyper_hidden_size": [32, 64]}


def make_cluster() -> LocalCluster:
    """Two single-threaded worker processes, bound to 127.0.0.1 only."""
    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


def make_search(grid: dict, n_folds: int, max_epochs: int) -> GridSearchCV:
    """The grid search; its n_jobs is left to the joblib backend."""
    model = HyperNetworkClassifier(
        context_column=CONTEXT, max_epochs=max_epochs, random_state=SEED
    )
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=SEED)
    return GridSearchCV(model, grid, scoring="roc_auc", cv=cv)


def results_table(search: GridSearchCV) -> pd.DataFrame:
    """One row per candidate, best first."""
    results = pd.DataFrame(search.cv_results_)
    columns = {f"param_{name}": name for name in search.param_grid}
    columns.update(
        {
            "mean_test_score": "mean AUC",
            "std_test_score": "std AUC",
            "rank_test_score": "rank",
            "mean_fit_time": "fit s",
        }
    )
    table = results[list(columns)].rename(columns=columns)
    return table.sort_values("rank").reset_index(drop=True)


def smoke_mode() -> bool:
    """``--smoke`` on the command line or ``SKHYPER_SMOKE=1``: a quick run."""
    parser = argparse.ArgumentParser(description="Grid search on a Dask cluster.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2 candidates, 2 folds and 2 epochs: a quick check that it runs",
    )
    from_environment = os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0")
    return parser.parse_args().smoke or from_environment


# %%
# The search
# ----------
# The fits of the search (candidates x folds) run on the workers; the final
# refit of the best candidate on all the data runs in this process, as it
# always does in ``GridSearchCV``. Each estimator uses one torch thread
# (``n_threads=1``, the default), so one single-threaded worker per core is
# the right layout. Only 1.8% of the rows are anomalies, so the search is
# scored by ROC AUC, not accuracy (see the sensor anomaly example).
#
# The work is in a ``main`` function behind ``if __name__ == "__main__"``:
# the worker processes import this file, and must not start clusters of
# their own.


def main() -> None:
    smoke = smoke_mode()
    grid, n_folds, max_epochs = (SMOKE_GRID, 2, 2) if smoke else (FULL_GRID, 3, 30)

    data = make_sensor_data()
    X, y = data.drop(columns=TARGET), data[TARGET]
    search = make_search(grid, n_folds, max_epochs)

    start = time.perf_counter()
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD}),
        make_cluster() as cluster,
        Client(cluster) as client,
    ):
        workers = sorted(client.scheduler_info()["workers"])
        print(f"Dask cluster: {len(workers)} workers: {', '.join(workers)}")
        print(
            f"Searching {len(ParameterGrid(grid))} candidates, "
            f"{n_folds}-fold stratified CV, {max_epochs} epochs, scored by ROC AUC\n"
        )
        with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
            search.fit(X, y)
    elapsed = time.perf_counter() - start

    tasks = Counter(task["worker"] for task in stream.data)
    print("Tasks run per worker (a task is a batch of fits):")
    for worker in workers:
        print(f"  {worker}: {tasks.get(worker, 0)}")
    print(f"\nBest parameters: {search.best_params_}")
    print(f"Best mean ROC AUC: {search.best_score_:.3f}\n")
    print(results_table(search).to_string(index=False, float_format="{:.3f}".format))
    print(f"\nWall time, cluster start to shutdown: {elapsed:.1f} s")


if __name__ == "__main__":
    main()
