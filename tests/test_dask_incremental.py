"""Out-of-core training with dask-ml (issue 16, item 2): ``Incremental``
drives ``partial_fit`` over the Parquet partitions of a table on a local
cluster of two worker processes, ``ParallelPostFit`` predicts, and the
training worker's memory stays at a few partitions, however many there are.

The table, the reading, the pinning of the training to one worker and the
memory sampler are those of ``examples/out_of_core.py``, imported from it,
so that the example's recipe is what is tested.
"""

import importlib.util
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from skhyper import HyperNetworkClassifier

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_ml")
pytest.importorskip("pyarrow")
psutil = pytest.importorskip("psutil")  # a dependency of distributed
dd = pytest.importorskip("dask.dataframe")
from dask_ml.wrappers import Incremental, ParallelPostFit  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "examples" / "out_of_core.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("out_of_core_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ooc = _load_example()

# 24 training partitions of 6k rows by 200 float64 features: 9.2 MiB each,
# 221 MiB in all. Wide rows make the table large next to a partition while
# keeping the training short (its cost is mostly per row).
N_PARTITIONS = 24
ROWS = 6_000
FEATURES = 200


def make_model(**params) -> HyperNetworkClassifier:
    return HyperNetworkClassifier(
        context_column=ooc.CONTEXT,
        hidden_size=16,
        hyper_hidden_size=8,
        output_size=16,
        batch_size=1024,
        lr=1e-2,
        # As in the example: partial_fit has no validation split to choose
        # a decay, and counts each context's rows as they come, which pools
        # the first partitions hard; both would slow this one-pass fit.
        weight_decay=0.1,
        context_pooling=0.0,
        random_state=0,
        **params,
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("table")
    sizes = ooc.write_table(directory, N_PARTITIONS, ROWS, FEATURES)
    return {"directory": directory, **sizes}


@pytest.fixture(scope="module")
def client():
    config = {**ooc.NO_SPILLING}
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="2GiB",
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def trained(table, client) -> dict:
    """One pass of Incremental over the partitions, in their order, pinned
    to one worker, after a warm-up pass over the first partition."""
    X, y = ooc.read_table(table["directory"] / "train")
    pids = client.run(os.getpid)
    address = sorted(pids)[0]
    # The warm-up puts in the baseline what the first partition costs once
    # and keeps (imports, Arrow's and torch's memory pools).
    # Collections are made outside the block: Dask applies the block's
    # annotation to a whole graph when it computes it, and warns about
    # collections made inside.
    first_X, first_y = X.partitions[:1], y.partitions[:1]
    with ooc.on_one_worker(client):
        Incremental(make_model()).fit(first_X, first_y, classes=[0, 1])
    baseline = psutil.Process(pids[address]).memory_info().rss
    with (
        ooc.PeakMemory([pids[address]]) as memory,
        distributed.get_task_stream(client) as stream,
        ooc.on_one_worker(client),
    ):
        search = Incremental(make_model(), shuffle_blocks=False)
        search.fit(X, y, classes=[0, 1])
    return {
        "model": search.estimator_,
        "baseline": baseline,
        "peak": memory.peaks[pids[address]],
        "address": address,
        "workers": {task["worker"] for task in stream.data},
    }


def read_test_rows(table) -> tuple[pd.DataFrame, pd.Series]:
    test = pd.read_parquet(table["directory"] / "test")
    return test.drop(columns=ooc.TARGET), test[ooc.TARGET]


@pytest.mark.slow  # the cluster: about a minute for the five
def test_training_memory_stays_at_a_few_partitions(table, trained):
    partition = table["in_memory"] / N_PARTITIONS
    growth = trained["peak"] - trained["baseline"]
    # Holding the whole table would add at least its 221 MiB; streaming
    # holds a partition and its copies (the frame without the label, the
    # encoded floats, Arrow's buffers), a few partitions in all.
    print(f"training worker: +{growth / 2**20:.0f} MiB")
    assert growth < table["in_memory"] / 2, (
        f"the training worker grew by {growth / partition:.1f} partitions"
    )
    # The peak is measured, not zero: the worker did hold data.
    assert growth > 0
    assert trained["workers"] == {trained["address"]}


@pytest.mark.slow
def test_model_has_the_declared_categories_and_classes(trained):
    model = trained["model"]
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert list(model.context_categories_) == ooc.REGIONS
    assert model.n_iter_ == N_PARTITIONS  # one epoch per partition


@pytest.mark.slow
def test_parallel_post_fit_predicts_as_the_model(table, trained, client):
    model = trained["model"]
    X_test, y_test = ooc.read_table(table["directory"] / "test")
    with distributed.get_task_stream(client) as stream:
        proba = ParallelPostFit(model).predict_proba(X_test).compute()
    assert stream.data, "the prediction ran on the cluster"
    np.testing.assert_array_equal(proba, model.predict_proba(X_test.compute()))


@pytest.mark.slow
def test_same_model_as_partial_fit_in_this_process(table, trained):
    model = make_model()
    for file in sorted((table["directory"] / "train").iterdir()):
        part = pd.read_parquet(file).astype(ooc.DECLARED)
        model.partial_fit(
            part.drop(columns=ooc.TARGET), part[ooc.TARGET], classes=[0, 1]
        )
    test, _ = read_test_rows(table)
    # Seeded CPU training in one thread is deterministic: moving the model
    # and the partitions between processes changes no bit.
    np.testing.assert_array_equal(
        trained["model"].predict_proba(test), model.predict_proba(test)
    )


@pytest.mark.slow
def test_auc_is_that_of_an_in_memory_fit(table, trained):
    # The same rows, steps and optimizer, in memory: the rows are shuffled
    # across the whole table instead of within one partition at a time.
    train = pd.read_parquet(table["directory"] / "train")
    in_memory = make_model(max_epochs=1, early_stopping=False).fit(
        train.drop(columns=ooc.TARGET), train[ooc.TARGET]
    )
    X_test, y_test = read_test_rows(table)
    streamed, reference = (
        roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        for model in (trained["model"], in_memory)
    )
    # Both learn the rule (the true log-odds score 0.92 on these rows).
    assert min(streamed, reference) > 0.85, (streamed, reference)
    # One pass is not converged: over random_state 0, 1 and 2, the in-memory
    # fit scored 0.890 to 0.901 and the streamed one 0.871 to 0.897, 0.004 to
    # 0.019 below it. A fault costs more: context_pooling=300 (the default
    # until round 7), which pools the first partitions hard, cost 0.07 to 0.09.
    assert streamed > reference - 0.025, (streamed, reference)


# -- In this process, without a cluster --------------------------------------


def small_array_table(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 3, n), rng.normal(size=(n, 3))])
    y = ((X[:, 1] * np.where(X[:, 0] == 0, 1.0, -1.0)) > 0).astype(int)
    return X, y


def tiny_model(**params) -> HyperNetworkClassifier:
    return HyperNetworkClassifier(
        hidden_size=8,
        hyper_hidden_size=4,
        output_size=8,
        weight_decay=0.1,
        lr=1e-2,
        random_state=0,
        **params,
    )


def test_incremental_on_a_dask_array_is_partial_fit_per_block():
    da = pytest.importorskip("dask.array")
    X, y = small_array_table()
    X_dask, y_dask = da.from_array(X, chunks=(1000, 4)), da.from_array(y, 1000)
    # Column 0 is the context; value 3 is declared though no row has it.
    params = {"context_column": 0, "categories": {0: [0.0, 1.0, 2.0, 3.0]}}
    with dask.config.set(scheduler="synchronous"):
        search = Incremental(tiny_model(**params), shuffle_blocks=False)
        search.fit(X_dask, y_dask, classes=[0, 1])
        for _ in range(2):
            search.partial_fit(X_dask, y_dask)
        proba = search.predict_proba(X_dask).compute()
    model = tiny_model(**params)
    for _ in range(3):
        for start in range(0, len(X), 1000):
            rows = slice(start, start + 1000)
            model.partial_fit(X[rows], y[rows], classes=[0, 1])
    assert search.estimator_.n_iter_ == 12  # 3 passes over 4 blocks
    assert list(search.estimator_.context_categories_) == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    # It learned the context's sign flip (a constant scores 0.5).
    assert roc_auc_score(y, proba[:, 1]) > 0.9


def test_a_model_pickled_twice_between_calls_trains_on():
    """Between two passes Dask sends the model from a worker to the client
    and back: two round trips with no training between them. The second
    used to save the restored net's fresh optimizer (no moments, one
    parameter group), and the next partial_fit failed."""
    X, y = small_array_table()
    kept, moved = tiny_model(context_column=0), tiny_model(context_column=0)
    for model in (kept, moved):
        model.partial_fit(X[:2000], y[:2000], classes=[0, 1])
    moved = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(moved))))
    for model in (kept, moved):
        model.partial_fit(X[2000:], y[2000:])
    np.testing.assert_array_equal(moved.predict_proba(X), kept.predict_proba(X))


def test_partitions_that_declare_different_categories(tmp_path):
    """Parquet files written apart each declare only their own values: the
    first partition then fixes the categories, and a later one brings an
    undeclared value. Declaring them on the Dask frame fixes it."""
    X, y = small_array_table(3000)
    names = np.array(["north", "south", "east"])
    frame = pd.DataFrame({"ctx": names[X[:, 0].astype(int)], "x": X[:, 1]})
    frame["y"] = y
    for i, (value, part) in enumerate(frame.groupby("ctx", sort=False)):
        part = part.assign(ctx=pd.Categorical(part["ctx"], categories=[value]))
        part.to_parquet(tmp_path / f"part.{i}.parquet", index=False)
    table = dd.read_parquet(tmp_path)
    with dask.config.set(scheduler="synchronous"):
        search = Incremental(tiny_model(context_column="ctx"), shuffle_blocks=False)
        with pytest.raises(ValueError, match="'ctx' holds value.*not declared"):
            search.fit(table.drop(columns="y"), table["y"], classes=[0, 1])
        declared = table.astype({"ctx": pd.CategoricalDtype(list(names))})
        search.fit(declared.drop(columns="y"), declared["y"], classes=[0, 1])
    assert sorted(search.estimator_.context_categories_) == sorted(names)
