"""Training that continues (issue 16, item 1): ``partial_fit`` one chunk at
a time, with categories declared up front and the optimizer's state carried
from call to call (also through pickling and skops), and ``warm_start``."""

import io
import pickle

import numpy as np
import pandas as pd
import pytest
from _helpers import CLASSIFIERS, ESTIMATORS, REGRESSORS, TINY, outputs, target
from sklearn.metrics import roc_auc_score

import skhyper
from skhyper import HyperNetworkClassifier, HyperNetworkRegressor


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
