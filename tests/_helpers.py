"""Estimator lists, network sizes and small helpers shared by the tests.

Imported as ``from _helpers import ...``: ``conftest.py`` puts this folder on
``sys.path`` (the suite runs with ``--import-mode=importlib``, which does not).
"""

import numpy as np

from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)

CLASSIFIERS = [HyperNetworkClassifier, ConcatClassifier]
REGRESSORS = [HyperNetworkRegressor, ConcatRegressor]
ESTIMATORS = CLASSIFIERS + REGRESSORS


def _by_class(hyper: dict, concat: dict) -> dict:
    return {
        HyperNetworkClassifier: hyper,
        HyperNetworkRegressor: hyper,
        ConcatClassifier: concat,
        ConcatRegressor: concat,
    }


# Network sizes by estimator class. TINY: the smallest nets, for tests that
# only check validation and shapes; SMALL: still well under a second a fit.
TINY = _by_class(
    {"hidden_size": 8, "hyper_hidden_size": 4, "output_size": 8},
    {"hidden_size": 8, "hidden_layer_sizes": (8,)},
)
SMALL = _by_class(
    {"hidden_size": 16, "hyper_hidden_size": 8, "output_size": 16},
    {"hidden_size": 16, "hidden_layer_sizes": (16,)},
)


def target(cls, y):
    """Class labels ``y`` as a classifier's target, or as floats for a
    regressor."""
    return y if cls in CLASSIFIERS else y.astype(float)


def outputs(model, X) -> np.ndarray:
    """What the model predicts for ``X``: class probabilities for a
    classifier, predicted values for a regressor."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)
