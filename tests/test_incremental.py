"""Training that continues (issue 16, item 1): ``partial_fit`` one chunk at
a time, with categories declared up front and the optimizer's state carried
from call to call (also through pickling and skops), and ``warm_start``."""

import copy
import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from _helpers import CLASSIFIERS, ESTIMATORS, REGRESSORS, TINY, outputs, target
from sklearn.metrics import roc_auc_score

import skhyper
from skhyper import HyperNetworkClassifier, HyperNetworkRegressor
from skhyper._modules import Dropout


def make_model(cls, **params):
    return cls(**{"context_column": "ctx", "random_state": 0, **TINY[cls], **params})


def chunked_table(n=900, seed=0, categorical=True):
    rng = np.random.default_rng(seed)
    ctx = rng.choice(["a", "b", "c"], n)
    X = pd.DataFrame(
        {
            "ctx": pd.Categorical(ctx, categories=["a", "b", "c", "d"])
            if categorical
            else ctx,
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    y = ((X["x"] * np.where(ctx == "a", 1.0, -1.0)) > 0).astype(int).to_numpy()
    return X, y


def chunks(X, y, size=300):
    for start in range(0, len(X), size):
        yield X.iloc[start : start + size], y[start : start + size]


def partial_fit_all(model, X, y, cls, passes=1, between=None):
    for _ in range(passes):
        for X_chunk, y_chunk in chunks(X, y):
            model.partial_fit(X_chunk, target(cls, y_chunk), classes=_classes(cls))
            if between is not None:
                model = between(model)
    return model


def _classes(cls):
    return [0, 1] if cls in CLASSIFIERS else None


def pickled(model):
    return pickle.loads(pickle.dumps(model))


def skops_saved(model):
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    return skhyper.load(io.BytesIO(buffer.getvalue()))


# -- partial_fit -----------------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_each_call_is_one_pass_over_its_chunk(cls):
    X, y = chunked_table()
    model = make_model(cls)
    partial_fit_all(model, X, y, cls)
    assert model.n_iter_ == 3 and len(model.history_) == 3
    # batch_size="auto" on 300 rows: 128-row steps, 3 per chunk.
    assert model.batch_size_ == 128
    assert np.isfinite(outputs(model, X)).all()


def test_partial_fit_learns_over_passes():
    X, y = chunked_table(n=3000, seed=1)
    test_X, test_y = chunked_table(n=600, seed=2)
    model = HyperNetworkClassifier(context_column="ctx", random_state=0)
    scores = []
    for _ in range(4):
        partial_fit_all(model, X, y, HyperNetworkClassifier)
        scores.append(roc_auc_score(test_y, model.predict_proba(test_X)[:, 1]))
    assert scores[-1] > 0.95
    assert scores[-1] >= scores[0]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("round_trip", [pickled, skops_saved], ids=["pickle", "skops"])
def test_a_round_trip_between_calls_changes_nothing(cls, round_trip):
    # Dask's Incremental moves the model between workers by pickling it:
    # the optimizer's state must go with it, and training must go on
    # exactly as in memory.
    X, y = chunked_table()
    kept = partial_fit_all(make_model(cls), X, y, cls, passes=2)
    moved = partial_fit_all(make_model(cls), X, y, cls, passes=2, between=round_trip)
    assert np.array_equal(outputs(moved, X), outputs(kept, X))
    assert moved.n_iter_ == kept.n_iter_ == 6


def test_optimizer_state_is_carried_over():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier)
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    model.partial_fit(X.iloc[300:600], y[300:600])
    state = model.net_.optimizer_.state_dict()["state"]
    # Adam's step counter: 3 steps per chunk, two chunks.
    assert {float(entry["step"]) for entry in state.values()} == {6.0}
    restored = pickled(model)
    saved = restored.net_.saved_optimizer_state_
    assert {float(entry["step"]) for _, entry in saved["state"]} == {6.0}


def test_categorical_dtype_declares_the_categories():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier)
    # The first chunk holds no "d"; its dtype declares it.
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    assert list(model.context_categories_) == ["a", "b", "c", "d"]
    later = X.iloc[300:600].copy()
    later.loc[later.index[:20], "ctx"] = "d"
    model.partial_fit(later, y[300:600])
    assert np.isfinite(model.predict_proba(later)).all()


@pytest.mark.parametrize("handle_unknown", ["error", "learned"])
def test_an_undeclared_value_in_a_later_chunk(handle_unknown):
    X, y = chunked_table(categorical=False)
    model = make_model(HyperNetworkClassifier, handle_unknown=handle_unknown)
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    later = X.iloc[300:600].assign(ctx="d")
    if handle_unknown == "error":
        with pytest.raises(ValueError, match=r"'ctx' holds value\(s\) not seen.*'d'"):
            model.partial_fit(later, y[300:600])
    else:
        model.partial_fit(later, y[300:600])
        assert model.n_iter_ == 2


def test_categories_parameter_declares_values_of_object_columns():
    X, y = chunked_table(categorical=False)
    model = make_model(HyperNetworkClassifier, categories={"ctx": ["a", "b", "c", "d"]})
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    assert list(model.context_categories_) == ["a", "b", "c", "d"]
    model.partial_fit(X.iloc[300:600].assign(ctx="d"), y[300:600])
    with pytest.raises(
        ValueError, match=r"holds value\(s\) that were not declared: 'e'"
    ):
        model.partial_fit(X.iloc[300:600].assign(ctx="e"), y[300:600])


def test_categories_parameter_in_fit_and_its_errors():
    X, y = chunked_table(categorical=False)
    model = make_model(HyperNetworkClassifier, categories={"ctx": ["a", "b", "c", "d"]})
    model.set_params(max_epochs=2).fit(X, y)
    assert list(model.context_categories_) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match=r"categories names 'x', which are not"):
        make_model(HyperNetworkClassifier, categories={"x": [1.0]}).fit(X, y)
    with pytest.raises(
        ValueError,
        match=r"The categories declared for the context column 'ctx' must be a "
        "non-empty list of values without missing",
    ):
        make_model(HyperNetworkClassifier, categories={"ctx": []}).fit(X, y)


def test_classifier_needs_classes_on_the_first_call():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier)
    with pytest.raises(ValueError, match=r"classes must be passed on the first call"):
        model.partial_fit(X.iloc[:300], y[:300])
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] differs"):
        model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"label\(s\) \[7\] that are not among"):
        model.partial_fit(X.iloc[:3], np.array([0, 1, 7]))
    # Labels of another kind than the classes (an object Series of strings
    # cannot be sorted among ints): the same error, not numpy's TypeError.
    words = pd.Series(["no", "yes", "no"], dtype=object)
    with pytest.raises(ValueError, match=r"\['no', 'yes'\] that are not among"):
        model.partial_fit(X.iloc[:3], words)


def test_a_chunk_may_lack_a_class():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier)
    only_zeros = y == 0
    model.partial_fit(X[only_zeros], y[only_zeros], classes=[0, 1])
    assert model.predict_proba(X).shape == (len(X), 2)


def test_regressor_keeps_the_first_chunks_target_scale():
    X, y = chunked_table()
    value = X["x"].to_numpy() * 10 + 5
    model = make_model(HyperNetworkRegressor)
    model.partial_fit(X.iloc[:300], value[:300])
    mean, scale = model.target_mean_.copy(), model.target_scale_.copy()
    model.partial_fit(X.iloc[300:600], value[300:600] * 1.1)
    assert np.array_equal(model.target_mean_, mean)
    assert np.array_equal(model.target_scale_, scale)
    with pytest.raises(ValueError, match=r"classes is for classifiers"):
        make_model(HyperNetworkRegressor).partial_fit(X, value, classes=[0, 1])
    # On a later call as well (an AttributeError for classes_ before).
    with pytest.raises(ValueError, match=r"classes is for classifiers"):
        model.partial_fit(X.iloc[:10], value[:10], classes=[0, 1])
    with pytest.raises(ValueError, match=r"y has 2 column\(s\); the model was first"):
        model.partial_fit(X.iloc[:10], np.ones((10, 2)))


@pytest.mark.parametrize("cls", REGRESSORS + CLASSIFIERS, ids=lambda c: c.__name__)
def test_later_chunks_must_have_the_first_chunks_columns(cls):
    X, y = chunked_table()
    model = make_model(cls)
    model.partial_fit(X.iloc[:300], target(cls, y[:300]), classes=_classes(cls))
    with pytest.raises(ValueError, match=r"same columns, in the same order, as the"):
        model.partial_fit(X.iloc[300:600, [0, 2, 1]], target(cls, y[300:600]))


# -- warm_start ------------------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_warm_start_continues_the_fit(cls):
    X, y = chunked_table()
    model = make_model(cls, warm_start=True, max_epochs=3)
    model.fit(X, target(cls, y))
    first_epochs, first = model.n_iter_, outputs(model, X)
    encoder = model.encoder_
    model.fit(X, target(cls, y))
    assert model.n_iter_ > first_epochs  # the history goes on
    assert model.encoder_ is encoder
    assert not np.array_equal(outputs(model, X), first)
    cold = make_model(cls, max_epochs=3).fit(X, target(cls, y))
    cold.fit(X, target(cls, y))
    assert cold.n_iter_ <= 3  # without warm_start, fit starts again


def test_warm_start_history_keeps_epochs_that_recorded_less():
    """A first fit without a validation split records no ``valid_loss``; a
    warm-start fit with one does. The history keeps both, NaN where an
    epoch recorded nothing (it raised a KeyError before)."""
    X, y = chunked_table()
    model = make_model(
        HyperNetworkClassifier, warm_start=True, max_epochs=2, early_stopping=False
    )
    model.fit(X, y)
    model.set_params(early_stopping=True)
    model.fit(X, y)
    history = model.history_
    assert len(history) == model.n_iter_ == 4
    assert history["valid_loss"].iloc[:2].isna().all()
    assert history["valid_loss"].iloc[2:].notna().all()


def test_warm_start_trains_on_at_the_configured_learning_rate():
    """Early stopping ends with an annealed stage at a tenth of the learning
    rate, which the optimizer's saved state holds; a warm-start fit keeps
    Adam's moments but starts again from the configured rate."""
    X, y = chunked_table()
    model = make_model(
        HyperNetworkClassifier,
        warm_start=True,
        early_stopping=True,
        weight_decay=0.5,
        max_epochs=200,
    )
    model.fit(X, y)
    configured = model.net_.lr
    first = model.n_iter_
    assert model.history_["lr"].iloc[-1] == pytest.approx(configured / 10)
    model.set_params(max_epochs=2)
    model.fit(X, y)
    assert model.n_iter_ == first + 2
    assert model.history_["lr"].iloc[first:].tolist() == [configured] * 2


def test_warm_start_after_a_round_trip_uses_the_saved_optimizer_state():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, warm_start=True, max_epochs=2)
    model.fit(X, y)
    in_memory = pickled(model).fit(X, y)
    again = pickled(model)
    again.fit(X, y)
    assert np.array_equal(again.predict_proba(X), in_memory.predict_proba(X))


def test_warm_start_follows_handle_unknown_for_new_values():
    X, y = chunked_table(categorical=False)
    model = make_model(HyperNetworkClassifier, warm_start=True, max_epochs=2)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"not seen during fit: 'e'"):
        model.fit(X.assign(ctx="e"), y)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_partial_fit_continues_a_model_fitted_by_fit(cls):
    X, y = chunked_table()
    model = make_model(cls, max_epochs=2).fit(X, target(cls, y))
    epochs = model.n_iter_
    model.partial_fit(X.iloc[:300], target(cls, y[:300]))
    assert model.n_iter_ == epochs + 1
    assert np.isfinite(outputs(model, X)).all()


def test_partial_fit_refuses_an_accelerator():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, accelerator=object())
    with pytest.raises(ValueError, match=r"partial_fit does not support accelerator"):
        model.partial_fit(X, y, classes=[0, 1])


# -- failed calls change nothing ---------------------------------------------------


def _snapshot(model, X) -> dict:
    """What training on depends on, copied: Adam's state, the history, the
    epoch count, the stream's state, and the predictions."""
    state = model.net_.optimizer_.state_dict()["state"]
    return {
        "optimizer": {
            (position, key): value.detach().cpu().numpy().copy()
            for position, entry in state.items()
            for key, value in entry.items()
        },
        "history": copy.deepcopy(model.net_.history.to_list()),
        "n_iter_": model.n_iter_,
        "stream": {
            name: copy.deepcopy(getattr(model, name, None))
            for name in (
                "_partial_seed",
                "_partial_calls",
                "_pooling_keys",
                "_pooling_counts",
                "_pooling_weight",
            )
        },
        "predictions": model.predict(X),
    }


def _assert_same_snapshot(after: dict, before: dict) -> None:
    assert after["optimizer"].keys() == before["optimizer"].keys()
    for key, value in before["optimizer"].items():
        assert np.array_equal(after["optimizer"][key], value)
    assert after["history"] == before["history"]
    assert after["n_iter_"] == before["n_iter_"]
    for name, value in before["stream"].items():
        assert np.array_equal(after["stream"][name], value), name
    assert np.array_equal(after["predictions"], before["predictions"])


def test_a_failed_partial_fit_changes_nothing():
    # The training net shared Adam's state and the history with the fitted
    # net, and the row counts were updated before training: the failed
    # epoch stayed in the model.
    X, y = chunked_table()
    value = X["x"].to_numpy()
    model = make_model(HyperNetworkRegressor, context_shrinkage=5.0)
    model.partial_fit(X.iloc[:300], value[:300])
    before = _snapshot(model, X)
    with pytest.raises(skhyper.TrainingDivergedError):
        model.partial_fit(X.iloc[300:600], value[300:600] * 1e20)  # inf loss
    _assert_same_snapshot(_snapshot(model, X), before)
    model.partial_fit(X.iloc[300:600], value[300:600])
    never_failed = make_model(HyperNetworkRegressor, context_shrinkage=5.0)
    never_failed.partial_fit(X.iloc[:300], value[:300])
    never_failed.partial_fit(X.iloc[300:600], value[300:600])
    assert np.array_equal(model.predict(X), never_failed.predict(X))
    assert np.array_equal(model._pooling_counts, never_failed._pooling_counts)


def test_a_failed_warm_start_fit_changes_nothing():
    X, y = chunked_table()
    value = X["x"].to_numpy()
    model = make_model(
        HyperNetworkRegressor, warm_start=True, max_epochs=2, early_stopping=False
    )
    model.fit(X.iloc[:300], value[:300])
    before = _snapshot(model, X)
    never_failed = copy.deepcopy(model)  # through pickling: a restored net
    with pytest.raises(skhyper.TrainingDivergedError):
        model.fit(X.iloc[300:600], value[300:600] * 1e20)  # inf loss
    _assert_same_snapshot(_snapshot(model, X), before)
    model.fit(X.iloc[300:600], value[300:600])
    never_failed.fit(X.iloc[300:600], value[300:600])
    assert np.array_equal(model.predict(X), never_failed.predict(X))


def test_a_failed_first_partial_fit_leaves_the_estimator_unfitted():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier)
    with pytest.raises(ValueError, match=r"label\(s\) \[7\]"):
        model.partial_fit(X.iloc[:3], np.array([0, 1, 7]), classes=[0, 1])
    assert not any(name.endswith("_") for name in vars(model))
    assert not hasattr(model, "_partial_seed")


# -- parameters changed between calls ----------------------------------------------


def _fitted(model, mode, X, y):
    if mode == "partial_fit":
        return model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    return model.set_params(warm_start=True, max_epochs=2).fit(X, y)


def _go_on(model, mode, X, y):
    if mode == "partial_fit":
        return model.partial_fit(X.iloc[300:600], y[300:600])
    return model.fit(X, y)


@pytest.mark.parametrize("mode", ["partial_fit", "warm_start"])
@pytest.mark.parametrize(
    "cls, change, message",
    [
        (
            HyperNetworkClassifier,
            {"hidden_size": 16},
            "hidden_size was 8 at fit and is 16",
        ),
        (HyperNetworkClassifier, {"embedding_size": 4}, "embedding_size was 16 at fit"),
        (HyperNetworkClassifier, {"generator_rank": 2}, "generator_rank was 8 at fit"),
        (HyperNetworkClassifier, {"linear_readout": False}, "linear_readout was True"),
        (
            skhyper.ConcatClassifier,
            {"hidden_layer_sizes": (8, 8)},
            r"hidden_layer_sizes was \(8,\) at fit and is \(8, 8\) now",
        ),
    ],
)
def test_changing_the_architecture_between_calls_is_an_error(
    cls, change, message, mode
):
    # torch's "size mismatch ... loading state_dict" came instead.
    X, y = chunked_table()
    model = _fitted(make_model(cls), mode, X, y)
    before = outputs(model, X)
    model.set_params(**change)
    fresh = "warm_start=False" if mode == "warm_start" else "a new estimator"
    with pytest.raises(ValueError, match=rf"(?s){message}.*Set them back.*{fresh}"):
        _go_on(model, mode, X, y)
    assert np.array_equal(outputs(model, X), before)


@pytest.mark.parametrize("mode", ["partial_fit", "warm_start"])
@pytest.mark.parametrize(
    "change, message",
    [
        ({"handle_unknown": "learned"}, "handle_unknown was 'error' at fit"),
        ({"context_column": "z"}, "context_column was 'ctx' at fit and is 'z'"),
        ({"numeric_encoding": "quantile"}, "numeric_encoding was 'standard'"),
        ({"n_bins": 4}, "n_bins was 16 at fit and is 4"),
        ({"continuous_encoding": "standard"}, "continuous_encoding was"),
        ({"continuous_context": "z"}, "continuous_context was None"),
        ({"categories": {"ctx": ["a", "b", "c", "d"]}}, "categories was None"),
        (
            {
                "context_attributes": pd.DataFrame(
                    {"size": [1.0, 2, 3]}, index=list("abc")
                )
            },
            r"context_attributes was None at fit and is <a DataFrame of shape",
        ),
    ],
)
def test_changing_the_encoding_between_calls_is_an_error(change, message, mode):
    # The fitted encoder was kept without a word: the estimator reported the
    # new value while the model used the old one.
    X, y = chunked_table(categorical=False)
    model = _fitted(make_model(HyperNetworkClassifier), mode, X, y)
    model.set_params(**change)
    with pytest.raises(ValueError, match=message):
        _go_on(model, mode, X, y)


@pytest.mark.parametrize("round_trip", [None, pickled], ids=["memory", "pickle"])
def test_changed_declared_categories_are_an_error(round_trip):
    X, y = chunked_table(categorical=False)
    declared = {"ctx": ["a", "b", "c", "d"]}
    model = make_model(HyperNetworkClassifier, categories=declared)
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    model = model if round_trip is None else round_trip(model)
    # The same values, in another order and keyed by position: no change.
    model.set_params(categories={0: ["d", "c", "b", "a"]})
    model.partial_fit(X.iloc[300:600], y[300:600])
    model.set_params(categories={"ctx": ["a", "b", "c", "d", "e"]})
    with pytest.raises(ValueError, match=r"categories was \{'ctx': \['a', 'b'"):
        model.partial_fit(X.iloc[300:600], y[300:600])


@pytest.mark.parametrize(
    "round_trip", [None, pickled, skops_saved], ids=["memory", "pickle", "skops"]
)
def test_context_attributes_compared_by_value(round_trip):
    # A saved model keeps only the tables' encoding: after a round trip a
    # changed table went unnoticed (the model kept using the old one).
    X, y = chunked_table(categorical=False)
    table = pd.DataFrame({"size": [1.0, 2, 3]}, index=list("abc"))
    model = make_model(HyperNetworkClassifier, context_attributes=table)
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    model = model if round_trip is None else round_trip(model)
    model.set_params(context_attributes=table.copy())
    model.partial_fit(X.iloc[300:600], y[300:600])
    model.set_params(context_attributes=table * 2)
    fitted = "<a DataFrame" if round_trip is None else "<the tables of fit"
    with pytest.raises(ValueError, match=rf"context_attributes was {fitted}"):
        model.partial_fit(X.iloc[300:600], y[300:600])
    model.set_params(context_attributes=None)
    with pytest.raises(ValueError, match=r"context_attributes was .* is None"):
        model.partial_fit(X.iloc[300:600], y[300:600])


@pytest.mark.parametrize("decay", [1.0, 0.0])
@pytest.mark.parametrize("mode", ["partial_fit", "warm_start"])
def test_training_parameters_may_change_between_calls(mode, decay):
    # They take effect on the next call: batch_size and weight_decay were
    # ignored (the first call's batch size and decay were kept in silence).
    X, y = chunked_table()
    model = _fitted(make_model(HyperNetworkClassifier), mode, X, y)
    params = {"lr": 1e-2, "dropout": 0.3, "batch_size": 64, "max_epochs": 1}
    model.set_params(**params, weight_decay=decay)
    _go_on(model, mode, X, y)
    assert model.batch_size_ == 64
    assert model.weight_decay_ == decay
    groups = model.net_.optimizer_.param_groups
    # The weights decay at the new rate; the biases' group never decays.
    assert sorted(g["weight_decay"] for g in groups) == sorted([0.0, decay])
    assert {g["lr"] for g in model.net_.optimizer_.param_groups} == {1e-2}
    rates = {m.p for m in model.net_.module_.modules() if isinstance(m, Dropout)}
    assert rates == {0.3}


def test_batch_size_auto_keeps_the_first_chunks_size():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, batch_size="auto")
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    first = model.batch_size_
    model.partial_fit(X.iloc[300:310], y[300:310])
    assert model.batch_size_ == first


# -- the stream's row counts and state after fit --------------------------------------


def test_partial_fit_after_fit_counts_the_rows_of_fit():
    # Only the new chunk's rows were counted: a numeric context_shrinkage
    # then shrank every context as if it had a handful of rows.
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, context_shrinkage=20.0, max_epochs=2)
    model.fit(X, y)
    fitted_rows = model._pooled_rows.copy()
    model.partial_fit(X.iloc[:6], y[:6])
    added = np.bincount(X["ctx"].cat.codes.to_numpy()[:6], minlength=3)
    assert np.array_equal(model._pooled_rows, fitted_rows + added)


def test_fit_forgets_the_earlier_stream():
    X, y = chunked_table()
    params = {"context_shrinkage": 20.0, "max_epochs": 2}
    streamed = make_model(HyperNetworkClassifier, **params)
    streamed.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    streamed.fit(X, y)
    fresh = make_model(HyperNetworkClassifier, **params).fit(X, y)
    for model in (streamed, fresh):
        model.partial_fit(X.iloc[300:600], y[300:600])
    assert np.array_equal(streamed.predict_proba(X), fresh.predict_proba(X))
    assert np.array_equal(streamed._pooling_counts, fresh._pooling_counts)


# -- class weights, classes and messages ---------------------------------------------


def test_balanced_class_weight_is_refused_by_partial_fit():
    # It was computed within each chunk: a chunk of one class got weight 1.
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, class_weight="balanced")
    with pytest.raises(ValueError, match=r"(?s)whole target.*compute_class_weight"):
        model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    assert not hasattr(model, "net_")
    model.set_params(class_weight={0: 1.0, 1: 2.0})
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])


@pytest.mark.parametrize(
    "classes, message",
    [
        ([0.0, 1.0, np.nan], r"holds the missing value\(s\) nan"),
        (["no", "yes", None], r"holds the missing value\(s\) None"),
        (["no", "yes", 3], r"mixes labels of different kinds \(numbers, strings\)"),
        (["yes", "yes"], "fewer than 2 labels"),
    ],
)
def test_partial_fit_checks_classes(classes, message):
    # NaN became a class, 3 silently became "3", None gave a raw TypeError.
    X, y = chunked_table()
    labels = np.where(y == 1, "yes", "no") if isinstance(classes[0], str) else y
    with pytest.raises(ValueError, match=message):
        make_model(HyperNetworkClassifier).partial_fit(X, labels, classes=classes)


def test_a_new_class_in_a_warm_start_fit_says_to_refit():
    X, y = chunked_table()
    model = make_model(HyperNetworkClassifier, warm_start=True, max_epochs=2)
    model.fit(X, y)
    with pytest.raises(
        ValueError, match=r"(?s)\[2\].*refit from scratch with warm_start=False"
    ):
        model.fit(X, np.where(np.arange(len(y)) % 7 == 0, 2, y))


def test_an_undeclared_value_in_a_later_chunk_says_to_declare_it():
    X, y = chunked_table(categorical=False)
    model = make_model(HyperNetworkClassifier)
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    with pytest.raises(
        ValueError, match=r"(?s)'d'.*categories=\{'ctx'.*pandas Categorical"
    ) as caught:
        model.partial_fit(X.iloc[300:600].assign(ctx="d"), y[300:600])
    assert "Refit" not in str(caught.value)


def test_a_constant_first_chunk_target_warns_that_it_sets_the_scale():
    X, y = (
        pd.DataFrame({"ctx": np.repeat(["a", "b"], 20), "x": np.linspace(-1, 1, 40)}),
        np.full(40, 3.0),
    )
    model = HyperNetworkRegressor("ctx", random_state=0, hidden_size=8)
    with pytest.warns(
        UserWarning, match="first partial_fit chunk's target is constant"
    ) as caught:
        model.partial_fit(X, y)
    assert caught[0].filename == __file__
    assert model.target_scale_.tolist() == [1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.partial_fit(X, np.linspace(0, 1, 40))  # later chunks: no warning


def _regression_rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"ctx": rng.choice(["a", "b"], n), "x": rng.normal(size=n)})
    y = 2.0 * X["x"].to_numpy() + (X["ctx"] == "a").to_numpy() + rng.normal(0, 0.1, n)
    return X, y


@pytest.mark.parametrize("mode", ["warm_start", "partial_fit"])
@pytest.mark.parametrize("cls", REGRESSORS)
def test_a_target_far_outside_the_kept_scale_warns_and_is_not_a_divergence(cls, mode):
    """The same quantity in centimetres instead of metres: in the kept
    scale its loss starts thousands of times above 1, which the divergence
    check took for a training that blew up ("Lower the learning rate",
    which does not help). Now the check measures against the loss of
    predicting the kept mean, and a warning says what happened."""
    X, y = _regression_rows()
    model = make_model(cls, warm_start=mode == "warm_start")
    train = model.fit if mode == "warm_start" else model.partial_fit
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        train(X, y)
        train(*_regression_rows(seed=1))  # a fair sample: no warning
    with pytest.warns(UserWarning, match=r"may lie outside the target scale") as caught:
        train(X, 100 * y)
    assert caught[0].filename == __file__
    assert np.isfinite(model.predict(X)).all()


def test_the_divergence_reference_of_a_later_call_is_the_kept_means_loss():
    import gc
    import weakref

    from skhyper._callbacks import RaiseOnDivergence
    from skhyper._data import TensorTable

    X, y = _regression_rows()
    model = make_model(HyperNetworkRegressor).fit(X, y)
    reference = model._reference_loss()
    scaled = model._apply_target_scale(y[:, None], np.ones(len(y)))
    encoded = model.encoder_.transform(X)
    data = TensorTable(encoded, target=scaled, weight=np.ones(len(y)))
    assert reference(data) == pytest.approx(1.0, abs=0.1)
    with pytest.warns(UserWarning):
        moved = model._apply_target_scale(100 * y[:, None], np.ones(len(y)))
    data = TensorTable(encoded, target=moved, weight=np.ones(len(y)))
    expected = float(np.mean(moved.astype(np.float64) ** 2))
    assert reference(data) == pytest.approx(expected, rel=1e-5)
    callback = RaiseOnDivergence(reference)
    callback.on_train_begin(model.net_, X=data)
    assert callback.reference_loss_ == pytest.approx(expected, rel=1e-5)
    # The fitted net's callbacks hold no reference to the estimator: it is
    # freed with its last reference, not only by the garbage collector.
    gc.disable()
    try:
        alive = weakref.ref(model)
        del model
        assert alive() is None
    finally:
        gc.enable()
