"""Regressors, weights, early stopping, history and the look inside."""

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from _helpers import outputs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline

from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)
from skhyper.datasets import make_sensor_data

SMALL = {"hidden_size": 16, "random_state": 0}
SMALL_HYPER = {"hyper_hidden_size": 8, "output_size": 16}


def _flip_regression(n=400, seed=0):
    """y = 2x for context "a" and y = -x for "b": the slope is the context's."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n)})
    X["ctx"] = rng.choice(["a", "b"], size=n)
    y = np.where(X["ctx"] == "a", 2 * X["x"], -X["x"]) * 10 + 100
    return X, y


def _sensor():
    frame = make_sensor_data()
    return frame.drop(columns="anomaly"), frame["anomaly"].to_numpy()


def test_hypernetwork_regressor_learns_a_context_dependent_slope():
    X, y = _flip_regression()
    model = HyperNetworkRegressor("ctx", max_epochs=40, **SMALL, **SMALL_HYPER)
    model.fit(X[:300], y[:300])
    # The target is shifted and scaled: the internal standardisation must undo it.
    assert r2_score(y[300:], model.predict(X[300:])) > 0.95
    assert model.target_mean_.shape == (1,)


@pytest.mark.parametrize("cls", [HyperNetworkRegressor, ConcatRegressor])
def test_regressor_multi_output(cls):
    X, y = _flip_regression()
    Y = np.column_stack([y, -3 * y])
    model = cls("ctx", max_epochs=5, **SMALL).fit(X, Y)
    assert model.predict(X).shape == (len(X), 2)
    # A single-column 2-D target gives 1-D predictions, as in MLPRegressor.
    assert cls("ctx", max_epochs=1, **SMALL).fit(X, y[:, None]).predict(X).ndim == 1


def test_class_weight_balanced_raises_recall_on_the_rare_class():
    X, y = _sensor()
    plain = HyperNetworkClassifier("sensor_type", max_epochs=10, random_state=0)
    balanced = HyperNetworkClassifier(
        "sensor_type", max_epochs=10, random_state=0, class_weight="balanced"
    )
    predictions = [m.fit(X, y).predict(X) for m in (plain, balanced)]
    recalls = [recall_score(y, p) for p in predictions]  # of 33 rare rows
    assert recalls[1] > recalls[0] + 0.05
    # ... without giving up more on the common class than it gains.
    accuracies = [balanced_accuracy_score(y, p) for p in predictions]
    assert accuracies[1] > accuracies[0]


def test_class_weight_dict_uses_original_labels():
    X, y = _sensor()
    labels = np.where(y == 1, "anomaly", "normal")
    model = ConcatClassifier(
        "sensor_type", max_epochs=2, class_weight={"anomaly": 20.0}, **SMALL
    )
    model.fit(X, labels)
    with pytest.raises(ValueError, match="'fault'.*'normal'"):
        ConcatClassifier("sensor_type", class_weight={"fault": 2.0}).fit(X, labels)


def test_class_weight_may_name_labels_a_fold_lacks():
    """As scikit-learn's: a dict that weighs every class of y may name more
    (a training fold of cross-validation without the rare class); it was
    refused, so cross_val_score failed where LogisticRegression ran."""
    X, y = _sensor()
    labels = np.where(y == 1, "anomaly", "normal")
    weights = {"anomaly": 5.0, "normal": 1.0}
    fits = [
        ConcatClassifier("sensor_type", max_epochs=2, class_weight=w, **SMALL)
        .fit(X[:300], labels[:300])
        .predict_proba(X[:50])
        for w in (weights, {**weights, "fault": 2.0})
    ]
    np.testing.assert_array_equal(fits[0], fits[1])


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
def test_a_class_of_zero_weight_trains_on_the_others(cls):
    """A class weighted 0 (as HistGradientBoostingClassifier allows) has no
    ROC AUC on the validation split: early stopping monitors the loss
    instead (it compared NaN AUCs, never saved a best epoch and failed in
    torch's load_state_dict)."""
    X, y = _sensor()
    model = cls(
        "sensor_type",
        class_weight={1: 0.0},
        early_stopping=True,
        weight_decay=0.01,  # one fit, along the validation split
        max_epochs=6,
        n_iter_no_change=2,
        **SMALL,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 each epoch
        model.fit(X, y)
    assert np.isfinite(model.history_["valid_loss"]).all()
    assert np.isfinite(model.predict_proba(X)).all()
    # The zero-weight class taught nothing: the model leans to the other.
    assert (model.predict(X) == 0).mean() > 0.9


def _rare_positives(n=2000, positives=3, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"ctx": rng.choice(["a", "b"], n), "x": rng.normal(size=n)})
    X["z"] = rng.normal(size=n)
    y = rng.integers(0, n_classes - 1, n) if n_classes > 2 else np.zeros(n, int)
    rare = np.argsort(-X["x"].to_numpy())[:positives]  # the largest x
    y[rare] = n_classes - 1
    return X, y


def test_a_split_with_one_class_only_is_not_held_out_by_auto():
    """3 positives in 2,000 rows: the stratified 10% held none, and early
    stopping monitored the log loss of the negatives alone, lowest for a
    network that predicts "negative" everywhere. With balanced class
    weights the test AUC was 0.66 where logistic regression's is 1.0."""
    X, y = _rare_positives()
    model = HyperNetworkClassifier(
        "ctx", class_weight="balanced", max_epochs=30, **SMALL
    ).fit(X, y)
    assert "valid_loss" not in model.history_.columns  # trained on every row
    proba = model.predict_proba(X)[:, 1]
    assert roc_auc_score(y, proba) > 0.99
    assert proba[y == 1].min() > np.median(proba)
    # Asked for explicitly, the split is kept, with a warning that says why
    # it cannot judge the fit.
    explicit = HyperNetworkClassifier(
        "ctx", early_stopping=True, max_epochs=2, weight_decay=0.5, **SMALL
    )
    with pytest.warns(UserWarning, match=r"holds no row of class\(es\) 1, only of 0"):
        explicit.fit(X, y)
    assert "valid_loss" in explicit.history_.columns


def test_a_split_without_one_of_several_classes_is_kept():
    """With three classes left in the validation split, their log loss
    still rewards telling them apart: the split stays."""
    X, y = _rare_positives(n_classes=4)
    model = HyperNetworkClassifier("ctx", max_epochs=2, weight_decay=0.5, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(X, y)
    assert "valid_loss" in model.history_.columns


def test_zero_sample_weight_rows_are_ignored():
    X, y = _flip_regression()
    y_noisy = y.copy()
    y_noisy[:100] = 1e4  # garbage rows that get weight 0
    weight = np.r_[np.zeros(100), np.ones(len(y) - 100)]
    kwargs = {"max_epochs": 30, **SMALL, **SMALL_HYPER}
    model = HyperNetworkRegressor("ctx", **kwargs)
    model.fit(X, y_noisy, sample_weight=weight)
    assert r2_score(y[100:], model.predict(X[100:])) > 0.9
    # scikit-learn 1.7+ says "non-zero" first; before, skhyper's own check.
    with pytest.raises(ValueError, match="non-zero|sum to zero"):
        HyperNetworkRegressor("ctx").fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="(?i)negative"):
        HyperNetworkRegressor("ctx").fit(X, y, sample_weight=-weight)


@pytest.mark.parametrize("cls", [HyperNetworkRegressor, ConcatRegressor])
@pytest.mark.parametrize("fill", [1e21, 1e300])
def test_a_fill_value_on_a_zero_weight_row_changes_nothing(cls, fill):
    """A row masked by weight 0 whose y is a fill value (netCDF's 1e20; here
    on a target of spread 16): its squared error overflowed float32 and
    0 * inf made the loss NaN (a divergence error in the training split,
    NaN validation losses in the validation split), and 1e300 set the
    target's scale. Rows in both splits here."""
    X, y = _flip_regression(n=300)
    weight = np.ones(len(y))
    weight[::25] = 0.0
    filled = np.where(weight == 0, fill, y)
    for train in ("fit", "partial_fit"):
        models = [
            cls("ctx", max_epochs=3, early_stopping=True, weight_decay=0.5, **SMALL)
            for _ in "ab"
        ]
        getattr(models[0], train)(X, y * (weight > 0), sample_weight=weight)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            getattr(models[1], train)(X, filled, sample_weight=weight)
        if train == "fit":
            assert np.isfinite(models[1].history_["valid_loss"]).all()
        np.testing.assert_array_equal(models[1].predict(X), models[0].predict(X))


@pytest.mark.parametrize("cls", [HyperNetworkRegressor, ConcatRegressor])
@pytest.mark.parametrize(
    "encoding", [{}, {"numeric_encoding": "quantile"}, {"continuous_context": "x"}]
)
def test_a_fill_value_in_a_feature_of_a_zero_weight_row_changes_nothing(cls, encoding):
    """Rows of weight 0 whose features hold a placeholder (1e6 on a column
    of spread 1) set the numeric encoding's centre and scale: the other
    rows' values collapsed into a sliver of it (R² 0.94 to 0.11)."""
    X, y = _flip_regression(n=300)
    X["z"] = X["noise"] * 3
    weight = np.ones(len(y))
    weight[::10] = 0.0
    filled = X.copy()
    filled.loc[weight == 0, ["x", "z"]] = 1e6
    kwargs = {"max_epochs": 3, "early_stopping": True, "weight_decay": 0.5, **SMALL}
    context = {"context_column": "ctx", **encoding}
    models = [cls(**context, **kwargs) for _ in "ab"]
    models[0].fit(X, y, sample_weight=weight)
    models[1].fit(filled, y, sample_weight=weight)
    kept = weight > 0
    np.testing.assert_allclose(
        models[1].predict(X[kept]), models[0].predict(X[kept]), rtol=1e-6
    )


def test_auto_early_stopping_counts_rows_of_positive_weight():
    """150 rows that count and 100 of weight 0: a table too small for a
    validation split, as without them (they turned the split on, held out
    a tenth of the real rows and changed the chosen decay)."""
    X, y = _flip_regression(n=250)
    weight = np.r_[np.ones(150), np.zeros(100)]
    model = ConcatRegressor("ctx", max_epochs=2, **SMALL)
    model.fit(X, y, sample_weight=weight)
    assert "valid_loss" not in model.history_.columns
    weight[150:200] = 1.0  # 200 rows that count: the split is held
    model.fit(X, y, sample_weight=weight)
    assert "valid_loss" in model.history_.columns


def test_read_only_weights_are_copied_not_shared_with_torch():
    """pandas' copy-on-write gives read-only arrays (a Series's values):
    torch warned on each such fit that writing to them was undefined."""
    X, y = _flip_regression(n=200)
    values = np.linspace(0.5, 1.5, len(y))
    values.flags.writeable = False
    # Read-only through pandas 3's copy-on-write or, before it, as shared.
    weight = pd.Series(values, copy=False)
    assert not weight.to_numpy().flags.writeable
    model = ConcatRegressor("ctx", max_epochs=2, **SMALL)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not writable")
        model.fit(X, y, sample_weight=weight)
    same = ConcatRegressor("ctx", max_epochs=2, **SMALL)
    same.fit(X, y, sample_weight=weight.to_numpy().copy())
    np.testing.assert_array_equal(model.predict(X), same.predict(X))


def test_weights_beyond_float32s_range_are_said_to_count_as_zero():
    """Rows weighted 1e60 times less than the rest are 0 in float32: a
    warning says so (an all-light validation split was then reported as
    weight 0 without a word on why)."""
    X, y = _flip_regression(n=200)
    weight = np.where(np.arange(len(y)) < 50, 1e60, 1.0)
    model = ConcatRegressor("ctx", max_epochs=2, early_stopping=False, **SMALL)
    for train in (model.fit, model.partial_fit):
        with pytest.warns(UserWarning, match=r"150 row\(s\) of positive") as caught:
            train(X, y, sample_weight=weight)
        assert caught[0].filename == __file__  # the user's line, on every path
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a range float32 holds: no warning
        model.fit(X, y, sample_weight=np.where(weight > 1, 1e20, 1.0))


def test_a_batch_of_only_zero_weight_rows_is_skipped_not_diverged():
    # 20 weighted rows of 400 in batches of 16: most batches weigh 0, and
    # their loss is 0 (it was 0/0 = NaN, which stopped the fit as diverged).
    X, y = _flip_regression()
    weight = np.zeros(len(y))
    weight[::20] = 1.0
    model = HyperNetworkRegressor(
        "ctx", max_epochs=3, batch_size=16, early_stopping=False, **SMALL
    ).fit(X, y, sample_weight=weight)
    assert np.isfinite(model.history_["train_loss"]).all()
    assert np.isfinite(model.predict(X)).all()


def test_the_validation_split_is_the_stratified_one_when_it_can_be():
    from sklearn.model_selection import train_test_split

    from skhyper._base import _validation_split

    labels = np.repeat(["a", "b", "c"], [50, 30, 20])
    train, valid = _validation_split(100, 0.1, labels, seed=3)
    expected = train_test_split(
        np.arange(100), test_size=0.1, stratify=labels, random_state=3
    )
    np.testing.assert_array_equal(train, expected[0])
    np.testing.assert_array_equal(valid, expected[1])


def test_a_class_seen_once_stays_in_training():
    from skhyper._base import _validation_split

    labels = np.array([f"c{i % 12}" for i in range(300)])
    labels[0] = "solo"
    train, valid = _validation_split(300, 0.1, labels, seed=0)
    assert 0 in train and 0 not in valid
    assert len(valid) == 30 and len(np.unique(labels[valid])) == 12
    assert sorted(np.r_[train, valid]) == list(range(300))


@pytest.mark.parametrize(
    "make_labels",
    [
        lambda n: np.r_[["solo"], [f"c{i % 12}" for i in range(n - 1)]],
        lambda n: np.array([f"c{i % 40}" for i in range(n)]),  # 40 > 30 rows
        lambda n: np.array([f"c{i}" for i in range(n)]),  # every class once
    ],
    ids=["a-class-once", "more-classes-than-validation-rows", "all-once"],
)
def test_early_stopping_fits_labels_a_stratified_split_cannot_hold(make_labels):
    # scikit-learn's stratified split raised for these ("The least populated
    # classes in y have only 1 member", "test_size = 30 should be greater or
    # equal to the number of classes = 40"), under the default early stopping.
    X, _ = _flip_regression(n=300)
    labels = make_labels(300)
    model = HyperNetworkClassifier("ctx", max_epochs=2, **SMALL, **SMALL_HYPER)
    model.fit(X, labels)
    assert model.predict_proba(X).shape == (300, len(np.unique(labels)))


@pytest.mark.parametrize("size", [1e155, 1e-170])
def test_regressor_targets_near_the_float_limits_keep_a_finite_scale(size):
    # The variance of 1e155 overflowed (every prediction -inf); that of
    # 1e-170 underflowed to 0 (a scale of 1 left the target unscaled).
    X, y = _flip_regression(n=300)
    target = (y - y.mean()) / y.std() * size
    model = HyperNetworkRegressor("ctx", max_epochs=5, **SMALL).fit(X, target)
    assert 0 < model.target_scale_[0] < np.inf
    np.testing.assert_allclose(
        model.target_scale_[0] / size, (target / size).std(), rtol=1e-6
    )
    predicted = model.predict(X)
    assert np.isfinite(predicted).all()
    assert r2_score(target / size, predicted / size) > 0.5


def test_a_column_vector_target_warns_as_mlp_regressor_does():
    from sklearn.exceptions import DataConversionWarning

    X, y = _flip_regression(n=300)
    model = HyperNetworkRegressor("ctx", max_epochs=2, **SMALL)
    for train in (model.fit, model.partial_fit):
        with pytest.warns(DataConversionWarning, match="column-vector y") as caught:
            train(X, y[:, None])
        assert caught[0].filename == __file__  # the user's line, not ours
    assert model.predict(X).shape == (300,)


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf])
def test_class_weight_values_must_be_finite_and_non_negative(bad):
    X, labels = _sensor()
    model = ConcatClassifier("sensor_type", max_epochs=1, class_weight={"fault": bad})
    with pytest.raises(ValueError, match="finite, non-negative number"):
        model.fit(X, labels)


@pytest.mark.parametrize("first", ["a", 1])
def test_labels_of_mixed_kinds_are_a_clear_error(first):
    X, y = _flip_regression(n=60)
    labels = np.array([first] + ["a", 1] * 29 + [2], dtype=object)
    model = ConcatClassifier("ctx", max_epochs=1, **SMALL)
    with pytest.raises(ValueError, match=r"mixes labels of different kinds"):
        model.fit(X, labels)


@pytest.mark.parametrize("scale", [1e38, 1e-46])
def test_uniform_sample_weights_of_any_scale_fit_as_no_weights(scale):
    # Only the weights' ratios matter; float32 could not hold these.
    X, y = _flip_regression(n=300)
    params = {"max_epochs": 2, "early_stopping": False, **SMALL}
    plain = HyperNetworkRegressor("ctx", **params).fit(X, y)
    weighted = HyperNetworkRegressor("ctx", **params)
    weighted.fit(X, y, sample_weight=np.full(len(y), scale))
    np.testing.assert_array_equal(weighted.predict(X), plain.predict(X))


def _frame_of_four(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    X["ctx"] = rng.choice(["a", "b"], size=n)
    return X, (X["x0"] > 0).astype(int).to_numpy()


@pytest.mark.parametrize(
    "relabel, context_column, message",
    [
        (
            lambda X: X.set_axis(
                pd.MultiIndex.from_tuples([("num", c) for c in X.columns]), axis=1
            ),
            3,
            r"MultiIndex columns .* flatten them",
        ),
        (
            lambda X: X.set_axis(["x0", "x0", "x2", "ctx"], axis=1),
            "ctx",
            r"column name\(s\) 'x0' more than once",
        ),
        (
            lambda X: X.set_axis([10, 11, 12, 13], axis=1),
            13,
            r"out of range.*X has a column labelled 13 at position 3",
        ),
        (
            lambda X: X.set_axis([1, 2, 3, 0], axis=1),
            0,
            r"context_column=0 is read as a position, the column labelled 1; X "
            r"has a column labelled 0 at position 3",
        ),
    ],
    ids=["multiindex", "repeated-names", "label-out-of-range", "label-elsewhere"],
)
def test_column_labels_that_name_no_single_column_are_clear_errors(
    relabel, context_column, message
):
    X, y = _frame_of_four()
    model = ConcatClassifier(context_column, max_epochs=1, **SMALL)
    with pytest.raises(ValueError, match=message):
        model.fit(relabel(X), y)


def test_integer_labels_equal_to_their_positions_stay_positions():
    X, y = _frame_of_four()
    by_name = ConcatClassifier("ctx", max_epochs=1, **SMALL).fit(X, y)
    by_position = ConcatClassifier(3, max_epochs=1, **SMALL)
    by_position.fit(X.set_axis(range(4), axis=1), y)
    np.testing.assert_array_equal(
        by_position.predict_proba(X.set_axis(range(4), axis=1)),
        by_name.predict_proba(X),
    )


def test_a_string_as_declared_categories_is_a_type_error():
    X, y = _frame_of_four()
    model = ConcatClassifier("ctx", max_epochs=1, categories={"ctx": "ab"}, **SMALL)
    with pytest.raises(TypeError, match=r"a list of values, not the string 'ab'"):
        model.fit(X, y)


def test_sample_weight_through_metadata_routing():
    X, y = _sensor()
    weight = np.where(y == 1, 10.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        model = HyperNetworkClassifier("sensor_type", max_epochs=2, **SMALL)
        model.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        result = cross_validate(model, X, y, cv=2, params={"sample_weight": weight})
    assert np.isfinite(result["test_score"]).all()


def test_early_stopping_stops_and_restores_the_best_epoch():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300), "ctx": rng.choice(["a", "b"], 300)})
    y = rng.integers(2, size=300)  # pure noise: validation loss soon rises
    model = ConcatClassifier(
        "ctx",
        max_epochs=200,
        lr=1e-2,
        early_stopping=True,
        n_iter_no_change=5,
        **SMALL,
    ).fit(X, y)
    assert model.n_iter_ < 200
    history = model.history_
    # Classifiers stop on the validation ROC AUC (as 1 - AUC, "valid_monitor").
    assert list(history.columns) == [
        "train_loss",
        "valid_loss",
        "valid_monitor",
        "weight_decay",
        "lr",
        "dur",
    ]
    # The fit ends with the annealed stage, at a tenth of the rate.
    lr = history["lr"]
    assert lr.iloc[-1] == pytest.approx(lr.iloc[0] / 10)
    best = history["valid_monitor"].idxmin()
    # Patience ran out after the best epoch in its stage, and again in the
    # annealed stage if the best came before it.
    stages_after_best = 1 if lr.loc[best] == lr.iloc[0] else 0
    assert model.n_iter_ == best + 5 * (1 + stages_after_best)
    assert len(history) == model.n_iter_


def test_history_without_early_stopping():
    X, y = _sensor()
    model = ConcatClassifier(
        "sensor_type", max_epochs=3, early_stopping=False, **SMALL
    ).fit(X, y)
    assert list(model.history_.columns) == ["train_loss", "dur"]
    assert list(model.history_.index) == [1, 2, 3]
    assert model.history_["train_loss"].iloc[-1] < model.history_["train_loss"].iloc[0]


def test_context_embeddings_frame():
    X, y = _sensor()
    model = HyperNetworkClassifier("sensor_type", max_epochs=2, embedding_size=4)
    embeddings = model.fit(X, y).context_embeddings_
    assert list(embeddings.index) == ["humidity", "pressure", "temperature"]
    assert embeddings.shape == (3, 4)
    assert embeddings.notna().all().all()


def test_generated_weights_per_context():
    X, y = _flip_regression()
    model = HyperNetworkRegressor("ctx", max_epochs=20, **SMALL, **SMALL_HYPER)
    model.fit(X, y)
    weight_a, bias_a = model.generated_weights("a")
    weight_b, _ = model.generated_weights("b")
    assert weight_a.shape == (16, 16) and bias_a.shape == (16,)
    assert not np.allclose(weight_a, weight_b)
    with pytest.raises(ValueError, match="'zzz'"):
        model.generated_weights("zzz")


def test_generated_weights_run_on_the_estimators_threads(monkeypatch):
    """Like predict, the generator runs under n_threads and gives torch's
    count back afterwards."""
    X, y = _flip_regression()
    n_threads = 2 if torch.get_num_threads() == 1 else 1
    model = HyperNetworkRegressor(
        "ctx", max_epochs=2, n_threads=n_threads, **SMALL, **SMALL_HYPER
    ).fit(X, y)
    layer = model.net_.module_.context_layer
    generate, threads = layer.generate, []

    def recording(*args, **kwargs):
        threads.append(torch.get_num_threads())
        return generate(*args, **kwargs)

    monkeypatch.setattr(layer, "generate", recording)
    before = torch.get_num_threads()
    model.generated_weights("a")
    assert threads == [n_threads]
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
def test_transform_as_a_feature_extractor(cls):
    X, y = _sensor()
    model = cls("sensor_type", max_epochs=2, **SMALL).fit(X, y)
    features = model.transform(X)
    names = model.get_feature_names_out()
    assert features.shape == (len(X), len(names))
    assert names[0] == f"{cls.__name__.lower()}0"
    model.set_output(transform="pandas")
    assert list(model.transform(X.head()).columns) == list(names)
    # As the first step of a pipeline, feeding a linear model.
    pipeline = make_pipeline(
        cls("sensor_type", max_epochs=2, **SMALL), LogisticRegression()
    )
    assert pipeline.fit(X, y).predict_proba(X).shape == (len(X), 2)


def test_verbose_levels(capsys):
    X, y = _sensor()
    for verbose in (0, 1, 2):
        ConcatClassifier(
            "sensor_type",
            max_epochs=3,
            verbose=verbose,
            early_stopping=False,
            **SMALL,
        ).fit(X, y)
        printed = capsys.readouterr()
        table_lines = [line for line in printed.out.splitlines() if "\x1b[36m" in line]
        assert len(table_lines) == (0 if verbose == 0 else 3)  # one line per epoch
        assert ("it/s" in printed.err) == (verbose == 2)  # the progress bar


def _sites_and_colors(n=600, seed=0):
    """The label flips with the sensor type *and* with the site; a colour
    column shifts it too."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "color": rng.choice(["red", "blue"], size=n),
            "sensor_type": rng.choice(["t", "p"], size=n),
            "site": rng.choice(["north", "south"], size=n),
        }
    )
    sign = np.where(X["sensor_type"] == "t", 1, -1) * np.where(
        X["site"] == "north", 1, -1
    )
    y = (sign * X["x"] + np.where(X["color"] == "red", 0.5, -0.5) > 0).astype(int)
    return X, y.to_numpy()


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
def test_two_context_columns_and_a_categorical_feature(cls):
    X, y = _sites_and_colors()
    model = cls(["sensor_type", "site"], max_epochs=30, **SMALL).fit(X[:400], y[:400])
    assert model.encoder_.categorical_positions_ == [1]  # "color"
    assert len(model.context_categories_) == 2
    # Well above chance (0.5); measured 0.76 (concat) and 0.9+ (hypernetwork).
    assert (model.predict(X[400:]) == y[400:]).mean() > 0.7
    embeddings = model.context_embeddings_
    assert list(embeddings.index) == [
        ("sensor_type", "p"),
        ("sensor_type", "t"),
        ("site", "north"),
        ("site", "south"),
    ]


def test_generated_weights_for_a_pair_of_contexts():
    X, y = _sites_and_colors()
    model = HyperNetworkClassifier(
        ["sensor_type", "site"], max_epochs=5, **SMALL, **SMALL_HYPER
    ).fit(X, y)
    weight, bias = model.generated_weights(("t", "north"))
    assert weight.shape == (16, 16) and bias.shape == (16,)
    with pytest.raises(ValueError, match="tuple of 2 context values"):
        model.generated_weights("t")


def test_categorical_feature_unknown_value_with_learned_policy():
    X, y = _sites_and_colors()
    model = ConcatClassifier(
        "sensor_type", handle_unknown="learned", max_epochs=3, **SMALL
    ).fit(X, y)
    unseen = X.head(5).assign(color="green", site="east")
    proba = model.predict_proba(unseen)
    assert np.isfinite(proba).all()
    # All unseen colours share one learned "unknown" embedding.
    assert np.allclose(proba, model.predict_proba(unseen.assign(color="pink")))


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
def test_weight_decay_leaves_biases_free(cls):
    """With decay strong enough to flatten every weight, the output bias
    still finds the rare class's base rate; a decayed bias would stay near
    zero and predict about 0.5."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=600), "ctx": rng.choice(["a", "b"], 600)})
    y = (rng.random(600) < 0.05).astype(int)
    model = cls(
        "ctx", lr=0.05, weight_decay=15.0, max_epochs=40, early_stopping=False, **SMALL
    )
    proba = model.fit(X, y).predict_proba(X)[:, 1]
    assert abs(proba.mean() - y.mean()) < 0.03
    output_bias = model.net_.module_.output.bias.detach()
    assert (output_bias[1] - output_bias[0]).item() < -1.5


@pytest.mark.parametrize(
    "cls",
    [HyperNetworkClassifier, ConcatClassifier, HyperNetworkRegressor, ConcatRegressor],
)
@pytest.mark.parametrize(
    "name", ["weight_decay", "weight_averaging", "early_stopping", "numeric_encoding"]
)
def test_documented_default_is_the_real_one(cls, name):
    default = cls().get_params()[name]
    shown = f'"{default}"' if isinstance(default, str) else repr(default)
    assert re.search(rf"{name} : [^\n]*, default={re.escape(shown)}\n", cls.__doc__)


def _weights(model) -> dict:
    return {k: v.clone() for k, v in model.net_.module_.state_dict().items()}


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatRegressor])
def test_weight_averaging_averages_the_last_epochs(cls):
    """Fits are deterministic, so the 3- and 4-epoch fits pass through the
    same weights; averaging half of 4 epochs must give their mean."""
    X, y = _flip_regression(n=200)
    if cls is HyperNetworkClassifier:
        y = (y > 100).astype(int)
    fixed = dict(early_stopping=False, **SMALL)  # averaging needs no validation
    fits = {
        epochs: cls("ctx", max_epochs=epochs, weight_averaging=0, **fixed).fit(X, y)
        for epochs in (3, 4)
    }
    at = {epochs: _weights(model) for epochs, model in fits.items()}
    assert any(not torch.equal(at[3][k], at[4][k]) for k in at[4])
    averaged = cls("ctx", max_epochs=4, weight_averaging=0.5, **fixed).fit(X, y)
    weights = _weights(averaged)
    assert weights.keys() == at[4].keys()
    for name, value in weights.items():
        expected = (at[3][name] + at[4][name]) / 2
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    # Predictions come from the averaged weights.
    assert not np.allclose(outputs(averaged, X), outputs(fits[4], X))
    # The fitted net keeps no second copy of the weights.
    assert dict(averaged.net_.callbacks_)["weight_averaging"].mean_ is None


def test_warm_start_averages_the_last_epochs_of_its_own():
    """A warm start runs ``max_epochs`` more epochs and averages the last
    of them, as a fit does: not every epoch after the earlier fit's."""
    X, y = _flip_regression(n=200)
    params = dict(early_stopping=False, max_epochs=4, weight_averaging=0.5, **SMALL)
    fitted = HyperNetworkRegressor("ctx", **params).fit(X, y)

    def warm_start(**changes):
        model = copy.deepcopy(fitted).set_params(warm_start=True, **changes)
        return model.fit(X, y)

    # Warm starts are deterministic, so these pass through the same weights.
    at = {n: _weights(warm_start(max_epochs=n, weight_averaging=0)) for n in (3, 4)}
    averaged = warm_start()
    assert averaged.n_iter_ == 8
    for name, value in _weights(averaged).items():
        expected = (at[3][name] + at[4][name]) / 2
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("averaging", [0.0, 0.1])
def test_weight_averaging_of_one_epoch_keeps_the_last_weights(averaging):
    """0, or a fraction that rounds up to a single epoch, is no averaging."""
    X, y = _flip_regression(n=200)
    plain = ConcatRegressor("ctx", max_epochs=5, weight_averaging=0.0, **SMALL)
    other = ConcatRegressor("ctx", max_epochs=5, weight_averaging=averaging, **SMALL)
    np.testing.assert_array_equal(
        plain.fit(X, y).predict(X), other.fit(X, y).predict(X)
    )


def test_early_stopping_ignores_weight_averaging():
    """Early stopping keeps the best epoch's weights, averaged or not."""
    X, y = _flip_regression(n=300)
    params = dict(max_epochs=6, early_stopping=True, n_iter_no_change=2, **SMALL)
    plain = HyperNetworkRegressor("ctx", weight_averaging=0.0, **params).fit(X, y)
    averaged = HyperNetworkRegressor("ctx", weight_averaging=1.0, **params).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), averaged.predict(X))


def test_weight_averaging_out_of_range_names_the_parameter():
    X, y = _flip_regression(n=50)
    with pytest.raises(ValueError, match="'weight_averaging' parameter"):
        ConcatRegressor("ctx", weight_averaging=1.5, **SMALL).fit(X, y)


@pytest.mark.parametrize("num_fc_layers", [0, 2])
def test_num_fc_layers_sets_the_layers_after_the_generated_one(num_fc_layers):
    # 0 is allowed by the parameter's constraint: the output layer then
    # reads the generated layer (after its activation) directly.
    X, y = _sensor()
    clf = HyperNetworkClassifier(
        "sensor_type", num_fc_layers=num_fc_layers, max_epochs=3, **SMALL, **SMALL_HYPER
    ).fit(X[:400], y[:400])
    fc = clf.net_.module_.fc
    assert sum(isinstance(layer, torch.nn.Linear) for layer in fc) == num_fc_layers
    proba = clf.predict_proba(X[:400])
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    # The exported graph builds the same layers (none, or two).
    onnxruntime = pytest.importorskip("onnxruntime")
    from skhyper import onnx_inputs, to_onnx

    model = to_onnx(clf, X[:400])
    session = onnxruntime.InferenceSession(model.SerializeToString())
    _, onnx_proba = session.run(None, onnx_inputs(model, X[:400]))
    np.testing.assert_allclose(onnx_proba, proba, atol=1e-5)


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
def test_predict_log_proba_is_the_log_of_predict_proba_and_stays_finite(cls):
    """As MLPClassifier has it; from the logits, so that a confident row's
    log-probability is finite where np.log(predict_proba) is -inf."""
    X, labels = _sensor()
    model = cls("sensor_type", max_epochs=3, **SMALL).fit(X, labels)
    log_proba, proba = model.predict_log_proba(X), model.predict_proba(X)
    assert log_proba.shape == proba.shape
    assert np.isfinite(log_proba).all()
    shown = proba > 1e-300
    np.testing.assert_allclose(log_proba[shown], np.log(proba[shown]), atol=1e-12)
    # A row pushed far along its strongest feature: probabilities of 0.
    far = X.head(1).copy()
    far[far.select_dtypes("number").columns] *= 1e6
    assert np.isfinite(model.predict_log_proba(far)).all()
