"""The training budget: StopOnConvergence, early_stopping="auto", tol and
max_epochs.

Fits pass ``weight_decay`` and ``weight_averaging`` explicitly: their
defaults are still being tuned.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import CLASSIFIERS, ESTIMATORS, TINY, target
from skorch.history import History

import skhyper._base
from skhyper import (
    ConcatClassifier,
    HyperNetworkClassifier,
)
from skhyper._callbacks import StopOnConvergence
from skhyper._testing import make_context_frame


def make_estimator(cls, **params):
    params = {
        "context_column": "ctx",
        "max_epochs": 2,
        "batch_size": 32,
        "weight_decay": 0.0,
        "weight_averaging": 0.0,
        "random_state": 0,
        **TINY[cls],
        **params,
    }
    return cls(**params)


# -- StopOnConvergence on a recorded loss curve ------------------------------


def stopping_epoch(losses, tol, patience, callback=None):
    """The epoch (1-based) at which the callback ends training, or None."""
    callback = callback or StopOnConvergence(tol, patience)
    net = SimpleNamespace(history=History())
    callback.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        net.history.new_epoch()
        net.history.record("train_loss", loss)
        try:
            callback.on_epoch_end(net)
        except KeyboardInterrupt:
            return epoch
    return None


def test_stops_after_exactly_patience_epochs_without_improvement():
    # Epoch 1 improves on nothing; epochs 2, 3, 4 are misses.
    assert stopping_epoch([1.0] * 10, tol=0.01, patience=3) == 4
    assert stopping_epoch([1.0] * 10, tol=0.01, patience=1) == 2
    assert stopping_epoch([1.0, 0.5] + [0.6] * 8, tol=0.01, patience=5) == 7
    assert stopping_epoch([1.0, 1.0, 1.0], tol=0.01, patience=3) is None


def test_an_improvement_by_more_than_tol_resets_the_count():
    losses = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]
    # Misses: epochs 2-3, reset at 4, 5-6, reset at 7, then 8, 9, 10.
    assert stopping_epoch(losses, tol=0.05, patience=3) == 10
    assert stopping_epoch(losses, tol=0.05, patience=4) is None


def test_an_improvement_by_less_than_tol_is_a_miss():
    # Each epoch is 0.04 better than the last, never 0.05 better than the
    # best so far, which follows the curve down: three misses in a row.
    losses = [1.0, 0.96, 0.92, 0.88, 0.84, 0.80]
    assert stopping_epoch(losses, tol=0.05, patience=3) == 4
    # With tol=0 any decrease is an improvement.
    assert stopping_epoch(losses, tol=0.0, patience=1) is None
    # An improvement of exactly tol counts (binary fractions: exact).
    assert stopping_epoch([1.0, 0.75, 0.5, 0.25], tol=0.25, patience=1) is None


def test_a_worse_epoch_does_not_move_the_best_loss():
    # After 1.5, 0.88 is still a miss: it is not 0.05 below the best, 0.9.
    assert stopping_epoch([0.9, 1.5, 0.88], tol=0.05, patience=2) == 3
    # 0.8 is: the count starts again.
    losses = [0.9, 1.5, 2.0, 0.8, 0.85, 0.86, 0.87]
    assert stopping_epoch(losses, tol=0.05, patience=3) == 7


def test_each_fit_starts_afresh():
    callback = StopOnConvergence(0.01, 2)
    assert stopping_epoch([1.0, 1.0, 1.0], 0.01, 2, callback) == 3
    # A new fit with higher losses: the old best loss is forgotten.
    assert stopping_epoch([5.0, 4.0, 3.0], 0.01, 2, callback) is None


# -- early_stopping="auto" ----------------------------------------------------


@pytest.fixture
def auto_threshold_100(monkeypatch):
    monkeypatch.setattr(skhyper._base, "AUTO_EARLY_STOPPING_ROWS", 100)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_auto_validates_from_the_threshold_on(cls, auto_threshold_100):
    X, y = make_context_frame(100)
    small = make_estimator(cls).fit(X.iloc[:99], target(cls, y[:99]))
    assert "valid_loss" not in small.history_.columns
    assert "convergence" in dict(small.net_.callbacks_)
    assert "early_stopping" not in dict(small.net_.callbacks_)
    large = make_estimator(cls).fit(X, target(cls, y))
    assert "valid_loss" in large.history_.columns
    assert np.isfinite(large.history_["valid_loss"]).all()
    assert "early_stopping" in dict(large.net_.callbacks_)
    assert "convergence" not in dict(large.net_.callbacks_)


def test_auto_is_the_default():
    assert HyperNetworkClassifier().early_stopping == "auto"
    assert skhyper._base.AUTO_EARLY_STOPPING_ROWS == 200


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_explicit_early_stopping_ignores_the_threshold(cls, auto_threshold_100):
    X, y = make_context_frame(120)
    # True validates even below the threshold...
    on = make_estimator(cls, early_stopping=True).fit(X.iloc[:60], y[:60])
    assert "valid_loss" in on.history_.columns
    # ...and False never does, even above it.
    off = make_estimator(cls, early_stopping=False).fit(X, y)
    assert "valid_loss" not in off.history_.columns
    assert "early_stopping" not in dict(off.net_.callbacks_)


# -- tol, n_iter_no_change and max_epochs in real fits -----------------------


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_an_easy_fit_stops_before_max_epochs(cls):
    X, y = make_context_frame(200)
    patience, tol = 5, 1e-3
    model = make_estimator(
        cls,
        max_epochs=200,
        lr=1e-2,
        tol=tol,
        n_iter_no_change=patience,
        early_stopping=False,
    ).fit(X, target(cls, y))
    # Measured 17-39 epochs for the four estimators over seeds 0-4.
    assert patience + 1 < model.n_iter_ < 100
    assert len(model.history_) == model.n_iter_
    # It stopped by the rule: the last `patience` epochs did not beat the
    # best loss before them by tol, and the epoch before them did.
    loss = model.history_["train_loss"].to_numpy()
    assert loss[-patience:].min() > loss[:-patience].min() - tol
    assert loss[-patience - 1] <= loss[: -patience - 1].min() - tol


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_without_a_stopping_rule_all_max_epochs_run(cls):
    X, y = make_context_frame(60)
    model = make_estimator(
        cls, max_epochs=15, tol=0.0, n_iter_no_change=15, early_stopping=False
    ).fit(X, y)
    assert model.n_iter_ == 15
    assert len(model.history_) == 15


@pytest.mark.parametrize("early_stopping", [False, True])
def test_tol_larger_than_any_improvement_stops_after_patience(early_stopping):
    # Only the first epoch improves (on nothing); validation or not. With a
    # validation split the annealed stage that ends early stopping has its
    # own patience.
    X, y = make_context_frame(60)
    model = make_estimator(
        ConcatClassifier,
        max_epochs=50,
        tol=100.0,
        n_iter_no_change=4,
        early_stopping=early_stopping,
    ).fit(X, y)
    assert model.n_iter_ == 1 + 4 * (2 if early_stopping else 1)
    assert ("valid_loss" in model.history_.columns) == early_stopping


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_negative_tol_raises(cls):
    X, y = make_context_frame(20)
    with pytest.raises(ValueError, match=rf"'tol' parameter of {cls.__name__}"):
        make_estimator(cls, tol=-1e-4).fit(X, target(cls, y))


@pytest.mark.parametrize("value", ["always", 2, None])
def test_invalid_early_stopping_raises(value):
    X, y = make_context_frame(20)
    with pytest.raises(ValueError, match="'early_stopping' parameter"):
        make_estimator(HyperNetworkClassifier, early_stopping=value).fit(X, y)


def test_max_epochs_default_is_200():
    for cls in ESTIMATORS:
        assert cls().max_epochs == 200
