"""GridSearchCV on a local Dask cluster through joblib's "dask" backend.

The cluster is two single-threaded worker processes on 127.0.0.1 (no
dashboard). It is shut down by the fixture even when the test fails, and the
fixture then checks that the worker processes are gone.
"""

import logging
import multiprocessing
import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold

from skhyper import HyperNetworkClassifier
from skhyper.datasets import make_sensor_data

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")  # a dependency of distributed

GRID = {"hidden_size": [8, 16], "hyper_hidden_size": [4, 8]}
N_FOLDS = 2
# As in examples/distributed_search.py: forkserver workers exit at once at
# shutdown; spawned ones that imported torch can outlast Dask's 4 s grace
# period and get killed.
START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)


@pytest.fixture(scope="module")
def client():
    with (
        dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        worker_pids = list(client.run(os.getpid).values())
        yield client
    # The workers are separate processes; none may outlive the cluster.
    _, alive = psutil.wait_procs(
        [p for p in map(_process, worker_pids) if p is not None], timeout=10
    )
    assert not alive, f"Dask worker processes still running: {alive}"


def _process(pid):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def make_search():
    model = HyperNetworkClassifier(
        context_column="sensor_type",
        output_size=8,
        embedding_size=4,
        max_epochs=2,
        random_state=0,
    )
    cv = StratifiedKFold(N_FOLDS, shuffle=True, random_state=0)
    # Log loss moves with every bit of the predicted probabilities, so equal
    # scores below mean equal fits, not just equal rankings.
    return GridSearchCV(model, GRID, scoring="neg_log_loss", cv=cv, error_score="raise")


def test_grid_search_on_dask_matches_local_search(client):
    data = make_sensor_data(n_per_type=100)  # 300 rows, 6 anomalies
    X, y = data.drop(columns="anomaly"), data["anomaly"]
    n_candidates = len(ParameterGrid(GRID))

    remote = make_search()
    with (
        distributed.get_task_stream(client) as stream,
        joblib.parallel_backend("dask"),
    ):
        remote.fit(X, y)

    # The fits ran as tasks on the cluster's worker processes.
    workers = set(client.scheduler_info()["workers"])
    used = {task["worker"] for task in stream.data}
    assert stream.data, "no task reached the Dask cluster"
    assert used <= workers
    assert os.getpid() not in client.run(os.getpid).values()

    results = remote.cv_results_
    assert len(results["params"]) == n_candidates
    assert list(results["params"]) == list(ParameterGrid(GRID))
    assert np.all(np.isfinite(results["mean_test_score"]))
    assert remote.predict(X).shape == (len(X),)
    assert remote.predict_proba(X.head(3)).shape == (3, 2)

    local = make_search().set_params(n_jobs=1).fit(X, y)

    # Seeded fits are bit-identical, wherever they run.
    for key in ["mean_test_score"] + [f"split{i}_test_score" for i in range(N_FOLDS)]:
        np.testing.assert_array_equal(results[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
