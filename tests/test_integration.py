import contextlib
import multiprocessing
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import CLASSIFIERS, SMALL
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skhyper import ConcatClassifier, HyperNetworkClassifier
from skhyper._testing import NUMERIC_COLUMNS, assert_valid_proba, make_context_frame

NUMERIC = NUMERIC_COLUMNS


def make_clf(cls, context_column="ctx", **params):
    params = {"max_epochs": 5, "random_state": 0, **SMALL[cls], **params}
    return cls(context_column=context_column, **params)


def make_frame(n=120, seed=0):
    return make_context_frame(n, seed)


def numeric_pipeline():
    return make_pipeline(SimpleImputer(), StandardScaler())


def with_missing(X):
    # Missing numeric values for the upstream imputer to fill (the
    # estimators would also take them as they are).
    X = X.copy()
    X.loc[::10, "x1"] = np.nan
    return X


# -- pipelines -------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize(
    ("verbose_names", "context_name"),
    [(False, "ctx"), (True, "remainder__ctx")],
)
def test_pipeline_with_pandas_output_finds_context_by_name(
    cls, verbose_names, context_name
):
    X, y = make_frame()
    X = with_missing(X)
    preprocess = ColumnTransformer(
        [("num", numeric_pipeline(), NUMERIC)],
        remainder="passthrough",
        verbose_feature_names_out=verbose_names,
    ).set_output(transform="pandas")
    pipe = make_pipeline(preprocess, make_clf(cls, context_column=context_name))
    pipe.fit(X, y)

    clf = pipe[-1]
    assert list(clf.feature_names_in_) == list(preprocess.get_feature_names_out())
    assert sorted(clf.context_categories_) == ["a", "b", "c"]
    assert_valid_proba(pipe.predict_proba(X), len(X), 2)
    assert set(pipe.predict(X)) <= {0, 1}


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_pipeline_with_array_output_finds_context_by_position(cls):
    X, y = make_frame()
    X = with_missing(X)
    # The context comes first, so it is column 0 of the (object) output array.
    preprocess = ColumnTransformer(
        [("ctx", "passthrough", ["ctx"]), ("num", numeric_pipeline(), NUMERIC)]
    )
    transformed = preprocess.fit_transform(X)
    assert isinstance(transformed, np.ndarray) and transformed.dtype == object

    pipe = make_pipeline(preprocess, make_clf(cls, context_column=0)).fit(X, y)

    clf = pipe[-1]
    assert clf.n_features_in_ == 4
    assert not hasattr(clf, "feature_names_in_")
    assert sorted(clf.context_categories_) == ["a", "b", "c"]
    assert_valid_proba(pipe.predict_proba(X), len(X), 2)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_array_output_with_context_last_and_negative_position(cls):
    X, y = make_frame()
    preprocess = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("ctx", "passthrough", ["ctx"])]
    )
    by_last = make_pipeline(preprocess, make_clf(cls, context_column=3)).fit(X, y)
    by_negative = make_pipeline(clone(preprocess), make_clf(cls, context_column=-1))
    by_negative.fit(X, y)
    np.testing.assert_array_equal(
        by_last.predict_proba(X), by_negative.predict_proba(X)
    )


# -- model selection -------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_cross_val_score_roc_auc_is_finite(cls):
    X, y = make_frame()
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(make_clf(cls), X, y, cv=cv, scoring="roc_auc")
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    assert np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize(
    ("cls", "grid"),
    [
        (HyperNetworkClassifier, {"hidden_size": [8, 16], "hyper_hidden_size": [4, 8]}),
        (ConcatClassifier, {"hidden_layer_sizes": [(8,), (16, 8)]}),
    ],
)
def test_grid_search_in_parallel(cls, grid):
    X, y = make_frame()
    search = GridSearchCV(make_clf(cls), grid, cv=2, scoring="roc_auc", n_jobs=2)
    search.fit(X, y)
    for name, value in search.best_params_.items():
        assert value in grid[name]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    assert best.get_params()[next(iter(grid))] == search.best_params_[next(iter(grid))]
    assert set(best.predict(X)) <= {0, 1}
    assert_valid_proba(search.predict_proba(X), len(X), 2)


# -- clone and pickle ------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_clone_is_unfitted_with_equal_params(cls):
    X, y = make_frame()
    fitted = make_clf(cls, lr=3e-3).fit(X, y)
    cloned = clone(fitted)
    assert cloned.get_params() == fitted.get_params()
    assert not hasattr(cloned, "net_")
    with pytest.raises(NotFittedError):
        check_is_fitted(cloned)
    with pytest.raises(NotFittedError):
        cloned.predict(X)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_pickle_round_trip_keeps_predictions(cls):
    X, y = make_frame()
    clf = make_clf(cls).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(restored.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(restored.classes_, clf.classes_)
    np.testing.assert_array_equal(restored.context_categories_, clf.context_categories_)


# -- labels ----------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_string_binary_labels(cls):
    X, y = make_frame()
    labels = np.where(y == 1, "anomaly", "normal")
    clf = make_clf(cls).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["anomaly", "normal"])
    assert set(clf.predict(X)) <= {"anomaly", "normal"}
    assert_valid_proba(clf.predict_proba(X), len(X), 2)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_multiclass_string_labels(cls):
    X, _ = make_frame()
    bins = np.digitize(X["x1"], [-0.5, 0.5])
    labels = np.array(["low", "mid", "high"])[bins]
    clf = make_clf(cls, max_epochs=10).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["high", "low", "mid"])
    predicted = clf.predict(X)
    assert predicted.shape == (len(X),)
    assert set(predicted) <= {"low", "mid", "high"}
    proba = clf.predict_proba(X)
    assert_valid_proba(proba, len(X), 3)
    # predict is the argmax of predict_proba, in classes_ order.
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])


# -- randomness and global torch state -------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_same_random_state_gives_identical_fits(cls):
    X, y = make_frame()
    first = make_clf(cls, random_state=7).fit(X, y).predict_proba(X)
    second = make_clf(cls, random_state=7).fit(X, y).predict_proba(X)
    other = make_clf(cls, random_state=8).fit(X, y).predict_proba(X)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fits_in_threads_repeat_the_fits_made_one_after_another():
    """torch's generator is one per process: fits overlapping in threads
    (joblib's threading backend, Dask's threaded scheduler) drew from each
    other's streams, so a fixed random_state did not repeat, and their
    restores of the generator interleaved."""
    X, y = make_frame()

    def fit(seed):
        model = make_clf(HyperNetworkClassifier, random_state=seed, dropout=0.2)
        return model.fit(X, y).predict_proba(X)

    seeds = range(6)
    alone = [fit(seed) for seed in seeds]
    rng_before = torch.random.get_rng_state()
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = list(pool.map(fit, seeds))
    for one, other in zip(alone, threaded, strict=True):
        assert np.array_equal(one, other)
    assert torch.equal(torch.random.get_rng_state(), rng_before)


@contextlib.contextmanager
def _a_fit_training_in_another_thread():
    """Hold the training sessions' lock from another thread, as a fit that
    is training there does, until the block ends."""
    from skhyper import _runtime

    held, done = threading.Event(), threading.Event()

    def train():
        with _runtime._training_lock:
            held.set()
            done.wait(timeout=60)

    thread = threading.Thread(target=train)
    thread.start()
    assert held.wait(timeout=60)
    try:
        yield
    finally:
        done.set()
        thread.join()


def _finishes(function, timeout=60) -> bool:
    """Whether ``function()`` returns within ``timeout`` seconds."""
    thread = threading.Thread(target=function, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def test_a_load_does_not_wait_for_a_fit_in_another_thread():
    """Rebuilding a net (deepcopy, pickle, skhyper.load) draws only to
    throw the draws away: it does not take its turn behind training."""
    X, y = make_frame()
    fitted = make_clf(HyperNetworkClassifier).fit(X, y)
    with _a_fit_training_in_another_thread():
        assert _finishes(lambda: pickle.loads(pickle.dumps(fitted)))
        assert _finishes(lambda: fitted.predict_proba(X))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_beside_a_fit_can_fit():
    """The child of a fork has only the forking thread: the lock of a fit
    training in another of the parent's threads would never be released
    there, and the child's own fit waited forever."""
    X, y = make_frame()
    fork = multiprocessing.get_context("fork")
    with _a_fit_training_in_another_thread():
        child = fork.Process(target=make_clf(HyperNetworkClassifier).fit, args=(X, y))
        child.start()
        child.join(timeout=120)
        stuck = child.is_alive()
        if stuck:
            child.kill()
    assert not stuck and child.exitcode == 0


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("random_state", [0, None])
def test_fit_and_predict_leave_torch_global_state_alone(cls, random_state):
    X, y = make_frame()
    # Ask for a thread count that differs from the current one, so that a
    # missing restore would show.
    n_threads = 2 if torch.get_num_threads() == 1 else 1
    threads_before = torch.get_num_threads()
    rng_before = torch.random.get_rng_state()
    clf = make_clf(cls, n_threads=n_threads, random_state=random_state).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before
    clf.predict_proba(X)
    clf.predict(X)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_predict_finishes_its_outputs_on_the_estimators_threads(cls, monkeypatch):
    """predict_proba's softmax and predict's argmax run under n_threads, not
    under torch's count once the estimator has given it back: two threads
    on a 2-core machine made a 1,000-row softmax stall beside other work."""
    X, y = make_frame()
    n_threads = 2 if torch.get_num_threads() == 1 else 1
    clf = make_clf(cls, n_threads=n_threads, random_state=0).fit(X, y)
    threads = []
    softmax, argmax = torch.softmax, torch.Tensor.argmax

    def recording(function):
        def call(*args, **kwargs):
            threads.append(torch.get_num_threads())
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(torch, "softmax", recording(softmax))
    monkeypatch.setattr(torch.Tensor, "argmax", recording(argmax))
    proba = clf.predict_proba(X)
    labels = clf.predict(X)
    assert threads == [n_threads, n_threads]
    assert_valid_proba(proba, len(X), 2)
    assert np.array_equal(labels, clf.classes_[proba.argmax(axis=1)])


# -- context dtypes and auto-detection -------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("dtype", ["category", "string", object])
def test_context_dtype_does_not_change_the_model(cls, dtype):
    X, y = make_frame()
    reference = make_clf(cls).fit(X, y).predict_proba(X)
    X_typed = X.astype({"ctx": dtype})
    assert X_typed["ctx"].dtype == dtype
    clf = make_clf(cls).fit(X_typed, y)
    assert list(clf.context_categories_) == ["a", "b", "c"]
    # Same values, same codes, same seed: the same network.
    assert np.array_equal(clf.predict_proba(X_typed), reference)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_integer_context(cls):
    X, y = make_frame()
    X["ctx"] = X["ctx"].map({"a": 30, "b": 10, "c": 20}).astype(np.int64)
    clf = make_clf(cls).fit(X, y)
    assert list(clf.context_categories_) == [10, 20, 30]
    assert_valid_proba(clf.predict_proba(X), len(X), 2)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_integer_context_in_array_by_position(cls):
    X, y = make_frame()
    X["ctx"] = X["ctx"].map({"a": 0, "b": 1, "c": 2})
    clf = make_clf(cls, context_column=3).fit(X.to_numpy(), y)
    assert len(clf.context_categories_) == 3
    assert_valid_proba(clf.predict_proba(X.to_numpy()), len(X), 2)


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("dtype", ["category", "string", object, "str"])
def test_context_column_none_picks_the_single_text_column(cls, dtype):
    X, y = make_frame()
    X = X[["x1", "ctx", "x2", "x3"]].astype({"ctx": dtype})
    auto = make_clf(cls, context_column=None).fit(X, y)
    named = make_clf(cls, context_column="ctx").fit(X, y)
    assert auto.encoder_.context_positions_ == [1]
    assert list(auto.context_categories_) == ["a", "b", "c"]
    assert np.array_equal(auto.predict_proba(X), named.predict_proba(X))


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("kind", ["string", "large_string", "dictionary"])
def test_pyarrow_text_columns_are_text_columns(cls, kind):
    """The text columns of ``read_parquet(dtype_backend="pyarrow")`` (strings
    and pyarrow's dictionary-encoded categories) are context or categorical
    columns, found by ``context_column=None`` too: the model is that of the
    same values as plain strings."""
    pa = pytest.importorskip("pyarrow")
    arrow = {
        "string": pa.string(),
        "large_string": pa.large_string(),
        "dictionary": pa.dictionary(pa.int32(), pa.string()),
    }[kind]
    X, y = make_frame()
    X["site"] = np.where(X["x2"] > 0, "high", "low")
    X_arrow = X.astype({"ctx": pd.ArrowDtype(arrow), "site": pd.ArrowDtype(arrow)})
    plain = make_clf(cls).fit(X, y)
    clf = make_clf(cls).fit(X_arrow, y)
    assert len(clf.encoder_.categorical_encoders_) == 1  # site
    assert np.array_equal(clf.predict_proba(X_arrow), plain.predict_proba(X))
    auto = make_clf(cls, context_column=None).fit(X_arrow.drop(columns="site"), y)
    assert auto.encoder_.context_positions_ == [X.columns.get_loc("ctx")]


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_sparse_columns_and_pyarrow_tables_are_taken_as_frames(cls):
    """As scikit-learn's estimators take them: a pandas sparse column by its
    values, a pyarrow Table with its column names (the context found by
    name), each giving the model of the plain DataFrame."""
    X, y = make_frame()
    plain = make_clf(cls).fit(X, y)
    expected = plain.predict_proba(X)
    X_sparse = X.astype({"x1": pd.SparseDtype(float, 0.0)})
    sparse_fit = make_clf(cls).fit(X_sparse, y)
    assert np.array_equal(sparse_fit.predict_proba(X_sparse), expected)
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pandas(X, preserve_index=False)
    table_fit = make_clf(cls).fit(table, y)
    assert list(table_fit.feature_names_in_) == list(X.columns)
    assert np.array_equal(table_fit.predict_proba(table), expected)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_polars_frames_are_taken_with_their_column_names(cls):
    """polars 2 dropped the interchange protocol (``__dataframe__``) that
    told skhyper a frame from an array: its frames lost their names, so a
    context named, found by context_column=None, or passed on by a
    ColumnTransformer with set_output(transform="polars") was "not a
    column of X", although feature_names_in_ listed it."""
    pl = pytest.importorskip("polars")
    X, y = make_frame()
    expected = make_clf(cls).fit(X, y).predict_proba(X)
    frame = pl.from_pandas(X)
    fitted = make_clf(cls).fit(frame, pl.Series(y))
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert np.array_equal(fitted.predict_proba(frame), expected)
    auto = make_clf(cls, context_column=None).fit(frame, y)
    assert auto.encoder_.context_positions_ == [X.columns.get_loc("ctx")]
    streamed = make_clf(cls).partial_fit(frame, y, classes=np.unique(y))
    assert list(streamed.feature_names_in_) == list(X.columns)
    streamed.partial_fit(frame, y)  # the same names, so no complaint


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_a_column_transformers_polars_output_names_the_context(cls):
    pytest.importorskip("polars")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_frame()
    numeric = [c for c in X.columns if c != "ctx"]
    scaled = ColumnTransformer(
        [("scale", StandardScaler(), numeric)], remainder="passthrough"
    ).set_output(transform="polars")
    try:
        scaled.fit(X)
    except ValueError as error:  # scikit-learn 1.6.1: "should be 2D"
        pytest.skip(f"this scikit-learn gives no polars 2 output: {error}")
    pipeline = make_pipeline(scaled, make_clf(cls, context_column="remainder__ctx"))
    assert pipeline.fit(X, y).predict_proba(X).shape == (len(X), 2)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_context_column_none_with_array_raises(cls):
    X, y = make_frame()
    with pytest.raises(ValueError, match="context_column=None"):
        make_clf(cls, context_column=None).fit(X.to_numpy(), y)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_context_column_none_with_two_text_columns_raises(cls):
    X, y = make_frame()
    X["other"] = "z"
    with pytest.raises(ValueError, match="2 non-numeric columns"):
        make_clf(cls, context_column=None).fit(X, y)


# -- feature names ---------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_feature_names_in_and_n_features_in(cls):
    X, y = make_frame()
    clf = make_clf(cls).fit(X, y)
    assert clf.n_features_in_ == 4
    assert isinstance(clf.feature_names_in_, np.ndarray)
    assert clf.feature_names_in_.dtype == object
    np.testing.assert_array_equal(clf.feature_names_in_, ["x1", "x2", "x3", "ctx"])

    array_clf = make_clf(cls, context_column=3).fit(X.to_numpy(), y)
    assert array_clf.n_features_in_ == 4
    assert not hasattr(array_clf, "feature_names_in_")


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_predict_checks_feature_names_and_count(cls):
    X, y = make_frame()
    clf = make_clf(cls).fit(X, y)
    with pytest.raises(ValueError, match="x3"):
        clf.predict(X.drop(columns="x3"))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X.rename(columns={"x2": "renamed"}))


# -- clear errors ----------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_missing_context_column_name_raises(cls):
    X, y = make_frame()
    with pytest.raises(ValueError, match="'sensor'.*not a column"):
        make_clf(cls, context_column="sensor").fit(X, y)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_context_position_out_of_range_raises(cls):
    X, y = make_frame()
    with pytest.raises(ValueError, match="context_column=7 is out of range"):
        make_clf(cls, context_column=7).fit(X.to_numpy(), y)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_context_as_only_feature_raises(cls):
    X, y = make_frame()
    with pytest.raises(
        ValueError, match=r"X has 1 feature\(s\) and all are context columns \('ctx'\)"
    ):
        make_clf(cls).fit(X[["ctx"]], y)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_string_in_numeric_column_raises(cls):
    X, y = make_frame()
    X["x2"] = X["x2"].astype(object)
    X.loc[5, "x2"] = "broken"
    with pytest.raises(ValueError, match="Column 'x2' must be numeric.*'broken'"):
        make_clf(cls).fit(X, y)


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("bad_value", [np.inf, -np.inf])
def test_infinite_numeric_value_raises(cls, bad_value):
    X, y = make_frame()
    X.loc[3, "x3"] = bad_value
    message = r"column 'x3' \(1 infinite\)"
    with pytest.raises(ValueError, match=message):
        make_clf(cls).fit(X, y)
    clf = make_clf(cls).fit(make_frame()[0], y)
    with pytest.raises(ValueError, match=message):
        clf.predict(X)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_nan_numeric_value_is_a_missing_value(cls):
    X, y = make_frame()
    X.loc[3, "x3"] = np.nan
    assert_valid_proba(make_clf(cls).fit(X, y).predict_proba(X), len(X), 2)
    clf = make_clf(cls).fit(make_frame()[0], y)
    mixed, complete = clf.predict_proba(X), clf.predict_proba(make_frame()[0])
    assert_valid_proba(mixed, len(X), 2)
    others = np.arange(len(X)) != 3
    np.testing.assert_allclose(mixed[others], complete[others], rtol=1e-6)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_unseen_context_at_predict_raises(cls):
    X, y = make_frame()
    clf = make_clf(cls).fit(X, y)
    X_new = X.head(5).copy()
    X_new.loc[X_new.index[2], "ctx"] = "zzz"
    with pytest.raises(ValueError, match="not seen during fit: 'zzz'"):
        clf.predict(X_new)
