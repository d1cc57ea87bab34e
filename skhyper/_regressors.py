"""The scikit-learn regressors: a hypernetwork and its concat baseline."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_array, column_or_1d

from ._architectures import (
    CONCAT_DESCRIPTION,
    CONCAT_PARAMETERS_DOC,
    HYPERNETWORK_DESCRIPTION,
    HYPERNETWORK_PARAMETERS_DOC,
    ConcatArchitecture,
    HyperNetworkArchitecture,
    fill_docstring,
)
from ._base import _ContextEstimator, as_float64_array
from ._numeric import _column_statistics
from ._stack import user_stacklevel

REGRESSOR_ATTRIBUTES_DOC = """\
target_mean_ : ndarray of shape (n_outputs,)
        Mean of each target column (weighted by ``sample_weight``); the
        network learns the standardised target and ``predict`` maps back.
    target_scale_ : ndarray of shape (n_outputs,)
        Standard deviation of each target column (1 where it is constant)."""


class _ContextRegressor(RegressorMixin, _ContextEstimator):
    """Target handling shared by the regressors: mean squared error on the
    standardised target, one or several outputs."""

    def _encode_target(self, y, n_samples: int) -> np.ndarray:
        y = check_array(
            y, ensure_2d=False, dtype=np.float64, input_name="y", estimator=self
        )
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} rows but y has {len(y)} values; they must "
                "have the same length."
            )
        if y.ndim == 2 and y.shape[1] == 1:
            # As MLPRegressor: predict gives 1-D outputs for it, so say so,
            # at the user's line (scikit-learn's warning points at this one).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataConversionWarning)
                y = column_or_1d(y, warn=True)
            for warning in caught:
                warnings.warn(
                    warning.message, warning.category, stacklevel=user_stacklevel()
                )
        return y.reshape(len(y), -1)

    def _declare_targets(self, classes) -> None:
        if classes is not None:
            raise ValueError(
                f"classes is for classifiers; {type(self).__name__}.partial_fit "
                "takes none."
            )

    # On later calls too (an AttributeError for a missing classes_ before).
    _check_same_classes = _declare_targets

    def _encode_known_target(self, y, n_samples: int) -> np.ndarray:
        target = self._encode_target(y, n_samples)
        if hasattr(self, "target_mean_") and target.shape[1] != len(self.target_mean_):
            raise ValueError(
                f"y has {target.shape[1]} column(s); the model was first fitted "
                f"with {len(self.target_mean_)}."
            )
        return target

    def _apply_target_scale(self, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a weight-0 row's fill value, set below
            scaled = ((target - self.target_mean_) / self.target_scale_).astype(
                np.float32
            )
        # A row of weight 0 counts for nothing, but its squared error (of a
        # fill value such as 1e20) would overflow to inf, and 0 * inf is NaN
        # in the loss: its target is the mean instead.
        scaled[weight == 0] = 0.0
        _warn_if_target_moved(scaled, weight)
        return scaled

    def _scale_target(self, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
        # Weighted statistics: a row of weight 0 must not move the scale.
        self.target_mean_, scale = _column_statistics(target, weight)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        return self._apply_target_scale(target, weight)

    def _criterion(self):
        return torch.nn.MSELoss

    def _n_outputs(self) -> int:
        return len(self.target_mean_)

    def _reference_loss(self):
        # A function of the training rows, not of the estimator (a bound
        # method in the fitted net's callbacks would keep the two in a
        # reference cycle, freed only by the garbage collector).
        return kept_mean_loss

    def predict(self, X) -> np.ndarray:
        """Predicted target values for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One column per target column of ``fit``'s ``y``; 1-D when there
            is a single target column.
        """
        outputs = self._forward(X, then=as_float64_array)
        y_pred = outputs * self.target_scale_ + self.target_mean_
        # As MLPRegressor: a single target column gives 1-D predictions.
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class HyperNetworkRegressor(HyperNetworkArchitecture, _ContextRegressor):
    """Regressor in which the context column generates a layer's weights.

    {description}

    Parameters
    ----------
    {shared_parameters}
    {architecture_parameters}{task_parameters}

    Attributes
    ----------
    {task_attributes}
    {shared_attributes}

    See Also
    --------
    ConcatRegressor : The baseline that concatenates the context embedding
        with the features instead.
    HyperNetworkClassifier : The same model for class labels.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skhyper import HyperNetworkRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"reading": rng.normal(size=300),
    ...                   "sensor": rng.choice(["a", "b"], size=300)}})
    >>> y = np.where(X["sensor"] == "a", 2 * X["reading"], -X["reading"])
    >>> reg = HyperNetworkRegressor(context_column="sensor", max_epochs=20,
    ...                             random_state=0).fit(X, y)
    >>> reg.predict(X.head(2)).shape
    (2,)
    """

    _parameter_constraints = {
        **_ContextRegressor._parameter_constraints,
        **HyperNetworkArchitecture._architecture_constraints,
    }

    def __init__(
        self,
        context_column=None,
        *,
        continuous_context=None,
        continuous_encoding="piecewise_linear",
        context_attributes=None,
        categories=None,
        hidden_size=128,
        hyper_hidden_size=64,
        output_size=128,
        num_fc_layers=1,
        generator_rank=8,
        linear_readout=True,
        context_pooling=0.0,
        context_shrinkage="auto",
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=200,
        lr=1e-3,
        weight_decay="auto",
        weight_averaging=0.0,
        batch_size="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        numeric_encoding="standard",
        n_bins=16,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
        warm_start=False,
        checkpoint=None,
        accelerator=None,
    ):
        self.context_column = context_column
        self.continuous_context = continuous_context
        self.continuous_encoding = continuous_encoding
        self.context_attributes = context_attributes
        self.categories = categories
        self.hidden_size = hidden_size
        self.hyper_hidden_size = hyper_hidden_size
        self.output_size = output_size
        self.num_fc_layers = num_fc_layers
        self.generator_rank = generator_rank
        self.linear_readout = linear_readout
        self.context_pooling = context_pooling
        self.context_shrinkage = context_shrinkage
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.accelerator = accelerator


class ConcatRegressor(ConcatArchitecture, _ContextRegressor):
    """Baseline regressor that concatenates the context embedding with the features.

    {description}

    Parameters
    ----------
    {shared_parameters}
    {architecture_parameters}{task_parameters}

    Attributes
    ----------
    {task_attributes}
    {shared_attributes}

    See Also
    --------
    HyperNetworkRegressor : The context generates a layer's weights instead.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skhyper import ConcatRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"reading": rng.normal(size=300),
    ...                   "sensor": rng.choice(["a", "b"], size=300)}})
    >>> y = np.where(X["sensor"] == "a", 2 * X["reading"], -X["reading"])
    >>> reg = ConcatRegressor(context_column="sensor", max_epochs=20,
    ...                       random_state=0).fit(X, y)
    >>> reg.predict(X.head(2)).shape
    (2,)
    """

    _parameter_constraints = {
        **_ContextRegressor._parameter_constraints,
        **ConcatArchitecture._architecture_constraints,
    }

    def __init__(
        self,
        context_column=None,
        *,
        continuous_context=None,
        continuous_encoding="piecewise_linear",
        context_attributes=None,
        categories=None,
        hidden_size=128,
        hidden_layer_sizes=(128, 64),
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=200,
        lr=1e-3,
        weight_decay="auto",
        weight_averaging=0.0,
        batch_size="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        numeric_encoding="standard",
        n_bins=16,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
        warm_start=False,
        checkpoint=None,
        accelerator=None,
    ):
        self.context_column = context_column
        self.continuous_context = continuous_context
        self.continuous_encoding = continuous_encoding
        self.context_attributes = context_attributes
        self.categories = categories
        self.hidden_size = hidden_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.accelerator = accelerator


for _estimator, _description, _architecture in (
    (HyperNetworkRegressor, HYPERNETWORK_DESCRIPTION, HYPERNETWORK_PARAMETERS_DOC),
    (ConcatRegressor, CONCAT_DESCRIPTION, CONCAT_PARAMETERS_DOC),
):
    fill_docstring(
        _estimator,
        description=_description,
        architecture_parameters=_architecture,
        task_parameters="",
        task_attributes=REGRESSOR_ATTRIBUTES_DOC,
    )


# A later call's target whose mean squared value, in the scale kept from the
# first fit, exceeds this (1 for the rows of that fit; a root mean square of
# over 3 kept standard deviations) gets a warning: the network, trained in
# that scale, learns such a target slowly and predicts it poorly. A fair
# sample of a heavy-tailed target can reach it too (a lognormal of sigma 2:
# about one chunk in 10 to 20), so the warning says "may".
MOVED_TARGET_SQUARES = 10.0


def _mean_square(scaled: np.ndarray, weight: np.ndarray) -> float:
    """The weighted mean of the rows' mean squared scaled target: the loss
    of predicting the kept mean (1 for the rows of the first fit)."""
    squares = np.square(scaled, dtype=np.float64).reshape(len(scaled), -1).mean(axis=1)
    return float(np.average(squares, weights=weight)) if weight.sum() > 0 else 0.0


def _warn_if_target_moved(scaled: np.ndarray, weight: np.ndarray) -> None:
    moved = _mean_square(scaled, weight)
    if moved > MOVED_TARGET_SQUARES:
        warnings.warn(
            "y may lie outside the target scale kept from the first fit (its "
            f"mean squared standardised value is {moved:.4g}; 1 for the rows "
            "of that fit): a warm start and partial_fit train on in that "
            "scale, so a target that moved (other units, a shift) trains "
            "slowly and predicts poorly. If it moved, refit with "
            "warm_start=False (or start a new stream) to take its scale; a "
            "heavy-tailed target can reach this by chance.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def kept_mean_loss(data) -> float:
    """The divergence check's reference for a regressor: 1, the loss of
    predicting the mean of a standardised target; on a later call (warm
    start, partial_fit) whose target lies far outside the kept scale, the
    loss of predicting the kept mean, which is larger: that target is not
    a divergence of the training."""
    scaled = data.target.cpu().numpy()
    return max(1.0, _mean_square(scaled, data.weight.cpu().numpy()))
