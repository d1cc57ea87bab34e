"""The estimator contract beyond scikit-learn's checks: the declared input
tags, and the optimizer chosen by torch version."""

import pandas as pd
import pytest
import torch
from sklearn.utils import get_tags

from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
    _compat,
    _optim,
)

ESTIMATORS = [
    HyperNetworkClassifier,
    ConcatClassifier,
    HyperNetworkRegressor,
    ConcatRegressor,
]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_tags_declare_strings_categories_and_nan(cls):
    tags = get_tags(cls(context_column="c"))
    assert tags.input_tags.string
    assert tags.input_tags.categorical
    assert tags.input_tags.allow_nan


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_string_and_category_columns_are_accepted_as_declared(cls):
    X = pd.DataFrame(
        {
            "x": [0.1, 0.5, -1.0, 2.0, 0.3, -0.7],
            "kind": pd.Categorical(list("ababab")),
            "c": ["u", "v", "u", "v", "u", "v"],
        }
    )
    y = [0, 1, 0, 1, 1, 0]
    model = cls(context_column="c", max_epochs=1, random_state=0).fit(X, y)
    assert len(model.predict(X)) == 6


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.2.1", False), ("2.3.0+cpu", False), ("2.4.0", True), ("2.13.0+cpu", True)],
)
def test_fused_adamw_only_from_the_torch_that_runs_it_on_a_cpu(
    monkeypatch, version, expected
):
    monkeypatch.setattr(torch, "__version__", version)
    assert _compat.has_fused_adamw() is expected
    expected_class = _optim.FusedAdamW if expected else torch.optim.AdamW
    assert _optim.adamw_class() is expected_class


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.2.2+cu121", False), ("2.5.1", False), ("2.6.0", True), ("2.13.0+cpu", True)],
)
def test_embedding_bag_weights_alone_from_the_torch_that_differentiates_them(
    monkeypatch, version, expected
):
    """Checked with torch 2.2.2, 2.3.1, 2.4.1, 2.5.1 and 2.6.0 from PyPI
    (2026-12-06): the gradient of per_sample_weights for a frozen table
    failed an internal assert up to 2.5.1 and worked in 2.6.0."""
    monkeypatch.setattr(torch, "__version__", version)
    assert _compat.embedding_bag_differentiates_weights_alone() is expected


def test_the_base_class_cannot_be_instantiated():
    from skhyper._base import _ContextEstimator

    with pytest.raises(TypeError, match="abstract"):
        _ContextEstimator()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_validates_parameters_through_fit_context(cls):
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "c": list("abab")})
    with pytest.raises(ValueError, match="hidden_size"):
        cls(context_column="c", hidden_size=0).fit(X, [0, 1, 0, 1])
    assert getattr(cls.fit, "__wrapped__", None) is not None  # the decorator
