"""scikit-learn's own estimator checks, run on all four estimators.

The checks build their own numeric arrays, so the context is column 0 by
position, and ``handle_unknown="learned"`` lets predict accept the unseen
float values that the checks' held-out rows put in that column. Networks
are small and epochs few to keep the suite fast.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)

SMALL = {"context_column": 0, "handle_unknown": "learned", "max_epochs": 20}
SMALL_TRAINING = {"lr": 1e-2, "batch_size": 32, "hidden_size": 16}
# The checks' context is column 0, a continuous feature: nearly every row is
# a context of its own, which context_pooling (by design) pulls onto the
# shared layer, leaving too little to pass check_classifiers_train's
# training-accuracy bar on 2-feature blobs. So it is off here.
HYPER = {"hyper_hidden_size": 8, "output_size": 16, "context_pooling": 0.0}
CONCAT = {"hidden_layer_sizes": (16,)}

CHECKED = [
    HyperNetworkClassifier(**SMALL, **SMALL_TRAINING, **HYPER),
    ConcatClassifier(**SMALL, **SMALL_TRAINING, **CONCAT),
    HyperNetworkRegressor(**SMALL, **SMALL_TRAINING, **HYPER),
    ConcatRegressor(**SMALL, **SMALL_TRAINING, **CONCAT),
]

# Checks expected to fail, with the reason.
_MINIBATCH = (
    "training is minibatch Adam with shuffling: a row of weight 2 and the same "
    "row repeated are equivalent in expectation only, not exactly, as for "
    "scikit-learn's own SGD and MLP estimators"
)
_NAN_IN_CONTEXT = (
    "the estimators accept NaN in numeric columns (allow_nan), so this check "
    "puts NaN in random cells, the context column's too; a missing context "
    "value is an error by design (tests/test_bad_input.py), since no category "
    "can be guessed for it"
)
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": _MINIBATCH,
    "check_estimators_pickle": _NAN_IN_CONTEXT,
}


@parametrize_with_checks(
    CHECKED,
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
