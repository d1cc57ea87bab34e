"""Two linear references for the varying-coefficient tasks of
``varying_draws.py``: what a classical model reaches there.

- ``SplineVaryingCoefficients``: the textbook varying-coefficient model
  (Hastie and Tibshirani, 1993) built from scikit-learn parts. Each
  coefficient of ``y = b0(c) + x . beta(c)`` is a cubic B-spline of each
  continuous context column (``SplineTransformer``; two columns take the
  tensor product of their bases), separate per value of a categorical
  context column; the model is linear in those products and fitted by
  ``LogisticRegressionCV`` / ``RidgeCV``, which choose the L2 penalty by
  cross-validation. It knows the tasks' *family* (linear in the features,
  coefficients set by the context) but not their form. Its settings (six
  knots, the penalty grid) were fixed before it first ran and were not
  tuned.
- ``known_form_scores``: the same linear models on the task's true design
  (``ContextData.form``: the generator's own basis of the context times 1
  and each feature). It is told what no real model is, so its distance
  below the oracle is the part of the gap that only estimation leaves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from context_suite import split_scores
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

PENALTIES = np.logspace(-3, 3, 13)
N_KNOTS = 6


def penalised_linear(problem: str):
    """Standardised columns, then a linear model whose L2 penalty is chosen
    by cross-validation over ``PENALTIES``."""
    if problem == "classification":
        model = LogisticRegressionCV(Cs=1.0 / PENALTIES, max_iter=5000)
    else:
        model = RidgeCV(alphas=PENALTIES)
    return make_pipeline(StandardScaler(), model)


def row_products(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per row, every product of a column of ``left`` and one of ``right``."""
    products = left[:, :, None] * right[:, None, :]
    return products.reshape(len(left), -1)


class SplineVaryingCoefficients(BaseEstimator):
    """``b0(c) + x . beta(c)`` with spline coefficients (see the module)."""

    def __init__(
        self,
        problem: str,
        continuous: tuple[str, ...],
        categorical: tuple[str, ...] = (),
        n_knots: int = N_KNOTS,
    ):
        self.problem = problem
        self.continuous = continuous
        self.categorical = categorical
        self.n_knots = n_knots

    def _context_basis(self, X: pd.DataFrame) -> np.ndarray:
        basis = np.ones((len(X), 1))
        for column, spline in zip(self.continuous, self.splines_, strict=True):
            basis = row_products(basis, spline.transform(X[[column]]))
        for column, one_hot in zip(self.categorical, self.one_hots_, strict=True):
            basis = row_products(basis, one_hot.transform(X[[column]]))
        return basis

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        context = list(self.continuous) + list(self.categorical)
        features = X.drop(columns=context).to_numpy(dtype=float)
        features = np.column_stack([np.ones(len(X)), features])
        return row_products(self._context_basis(X), features)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SplineVaryingCoefficients:
        self.splines_ = [
            SplineTransformer(n_knots=self.n_knots, degree=3).fit(X[[column]])
            for column in self.continuous
        ]
        self.one_hots_ = [
            OneHotEncoder(sparse_output=False, handle_unknown="ignore").fit(X[[column]])
            for column in self.categorical
        ]
        self.model_ = penalised_linear(self.problem).fit(self._design(X), y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._design(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._design(X))


def known_form_scores(task, data, splits) -> dict:
    """Per-fold scores of the penalised linear model on ``data.form``."""
    design = pd.DataFrame(data.form)
    return split_scores(
        lambda: penalised_linear(task.problem), design, data.y, splits, task.problem
    )


def spline_scores(task, data, splits) -> dict:
    """Per-fold scores of :class:`SplineVaryingCoefficients`."""
    return split_scores(
        lambda: SplineVaryingCoefficients(
            task.problem, task.continuous, task.categorical
        ),
        data.X,
        data.y,
        splits,
        task.problem,
    )
