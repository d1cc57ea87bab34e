"""scikit-learn's own estimator checks, run on both classifiers.

The checks build their own numeric arrays, so the context is column 0 by
position, and ``handle_unknown="learned"`` lets predict accept the unseen
float values that the checks' held-out rows put in that column. Epochs are
few and the batch large to keep the suite fast.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skhyper import ConcatClassifier, HyperNetworkClassifier

CHECKED = [
    HyperNetworkClassifier(
        context_column=0,
        handle_unknown="learned",
        max_epochs=20,
        lr=1e-2,
        hidden_size=16,
        hyper_hidden_size=8,
        output_size=16,
        batch_size=32,
    ),
    ConcatClassifier(
        context_column=0,
        handle_unknown="learned",
        max_epochs=20,
        lr=1e-2,
        hidden_size=16,
        hidden_layer_sizes=(16,),
        batch_size=32,
    ),
]

# Checks expected to fail, with the reason. Target: empty.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    CHECKED,
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
