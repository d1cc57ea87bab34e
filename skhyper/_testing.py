"""Small data and checks shared by the test suite (not part of the API)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC_COLUMNS = ["x1", "x2", "x3"]


def make_context_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three numeric columns and a context ``ctx`` in {a, b, c}; the label
    follows ``x1`` in context "a" and ``x2`` elsewhere."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({name: rng.normal(size=n) for name in NUMERIC_COLUMNS})
    X["ctx"] = rng.choice(["a", "b", "c"], size=n)
    y = np.where(X["ctx"] == "a", X["x1"] > 0, X["x2"] > 0).astype(int)
    return X, y


def assert_valid_proba(proba: np.ndarray, n_rows: int, n_classes: int = 2) -> None:
    """Finite probabilities in [0, 1] of the right shape, rows summing to 1."""
    assert proba.shape == (n_rows, n_classes)
    assert np.all(np.isfinite(proba))
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
