"""Per-context explanations: how much each input column moves a row's
prediction, with the row's context held fixed.

:func:`explain_rows` computes integrated gradients (Sundararajan, Taly and
Yan, "Axiomatic Attribution for Deep Networks", ICML 2017) on the
*encoded* inputs: the numeric columns as the network receives them
(standardised or quantile scores, then any piecewise-linear bins, which the
network computes itself) with their missing-value indicators, and each
categorical column's embedding vector. Every encoded input belongs to one
original column, so a column's contribution is the sum over its encoded
inputs: a numeric column's includes its bins and its missing-value
indicator, a categorical column's goes through its embedding.

The straight path runs from a baseline row to the row explained, in the
row's own context: the context codes (and any continuous context values)
are never interpolated. Where the output is piecewise linear along it
(ReLU-type activations; a regressor or a binary classifier's log-odds) the
integral is taken on ``n_steps`` equal cells with each cell's kink located
(:func:`_kink_weights`), else by Gauss-Legendre quadrature at ``n_steps``
points; either way in float64 on a private copy of the fitted network (so
that no other thread sees a change of dtype or a hook).

:func:`plot_context_effects` draws the result per context.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd
import torch
from sklearn.base import is_classifier
from torch import nn

from ._compat import import_pyplot
from ._data import TensorTable
from ._encoding import as_table
from ._modules import ACTIVATIONS
from ._runtime import torch_session

BASELINE_COLUMN = "baseline_output"

# Rows of the interpolated batch (rows x steps) per forward and backward
# pass: large enough to amortise per-call overhead, small enough that the
# saved activations of a default network stay around 100 MB.
PATH_ROWS_PER_PASS = 16384

# Activations under which the network is piecewise linear in its inputs.
PIECEWISE_LINEAR_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU)

# Every activation module a fitted network can hold.
ACTIVATION_TYPES = tuple(ACTIVATIONS.values())

# A cell of the path has a kink when its two slopes differ by more than
# this, relative to their size (float64 rounding is about 1e-16).
KINK_TOLERANCE = 1e-9

# Where the dependence plot draws the rows of a categorical feature whose
# value is missing: a tick of its own, after the categories.
MISSING_TICK = "(missing)"


def explain_rows(
    estimator, X, *, baseline="mean", n_steps: int = 64, target=None
) -> pd.DataFrame:
    """What :meth:`_ContextEstimator.explain` returns; documented there."""
    _check_n_steps(n_steps)
    # Gradients need autograd, which torch.inference_mode() switches off
    # (and enable_grad does not switch back on): leave it for the whole
    # computation, so that the network's copy and the encoded inputs are
    # ordinary tensors that autograd may record.
    with torch.inference_mode(False):
        return _explain_rows(estimator, X, baseline, n_steps, target)


def _explain_rows(estimator, X, baseline, n_steps: int, target) -> pd.DataFrame:
    """:func:`explain_rows` once ``n_steps`` is checked, outside inference
    mode."""
    # The predict path's checks (fitted, same columns) and the output that
    # predict itself computes, against which completeness is measured.
    predicted = estimator._forward(X, then=torch.Tensor.double)
    output = _Output(estimator, target)
    table = as_table(X, type(estimator).__name__)
    features = _encoded_features(estimator, table)
    network = _differentiable_copy(estimator.net_.module_, features.n_numeric)
    inputs = _inputs(estimator, table)
    with torch_session(estimator.n_threads), torch.enable_grad():
        encoded = features.encode(network, inputs)
        reference = _baseline_vector(estimator, network, features, baseline, table)
        contributions, at_baseline = _integrated_gradients(
            network,
            inputs,
            encoded,
            reference,
            output,
            n_steps,
            _is_piecewise_linear(network, estimator, output),
        )
    frame = features.per_column(contributions.cpu().numpy() * output.scale)
    frame[BASELINE_COLUMN] = at_baseline.cpu().numpy() * output.scale + output.offset
    frame.index = table.index
    gap = frame.sum(axis=1).to_numpy() - output.in_units(predicted).cpu().numpy()
    frame.attrs = {
        "output": output.description,
        "max_completeness_gap": float(np.abs(gap).max()),
    }
    return frame


def _check_n_steps(n_steps) -> None:
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, Integral):
        raise TypeError(
            f"n_steps must be a positive integer; got {n_steps!r} of type "
            f"{type(n_steps).__name__}."
        )
    if n_steps < 1:
        raise ValueError(
            f"n_steps must be at least 1; got {n_steps}. 64 points give "
            "contributions that add up to the output to about 1e-3."
        )


class _Output:
    """The one number per row that is explained, computed from the
    network's outputs, and how it maps to the reported units.

    * classifier: the log-odds ``log(p / (1 - p))`` of class ``target``
      (default ``classes_[1]`` for two classes; required for more);
    * regressor: the predicted value of target column ``target`` (default 0
      for one column; required for several), in the target's units.
    """

    def __init__(self, estimator, target):
        name = type(estimator).__name__
        self.scale, self.offset = 1.0, 0.0
        if is_classifier(estimator):
            self.index = _class_index(estimator.classes_, target, name)
            label = estimator.classes_[self.index]
            self.description = (
                f"log-odds of class {_plain(label)!r}: log(p / (1 - p)) with p "
                "the predicted probability of that class"
            )
            self.of = self._log_odds
        else:
            self.index = _output_index(len(estimator.target_mean_), target, name)
            self.scale = float(estimator.target_scale_[self.index])
            self.offset = float(estimator.target_mean_[self.index])
            self.description = (
                "predicted value"
                if len(estimator.target_mean_) == 1
                else f"predicted value of target column {self.index}"
            )
            self.of = self._column

    def _log_odds(self, logits: torch.Tensor) -> torch.Tensor:
        """``z_k - logsumexp(z_j, j != k)``: the log-odds without forming
        probabilities, so that it stays finite for confident rows."""
        others = logits.clone()
        others[:, self.index] = -torch.inf
        return logits[:, self.index] - torch.logsumexp(others, dim=1)

    def _column(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, self.index]

    def in_units(self, outputs: torch.Tensor) -> torch.Tensor:
        """The explained number in the units reported."""
        return self.of(outputs) * self.scale + self.offset


def _plain(value):
    """A NumPy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _class_index(classes: np.ndarray, target, name: str) -> int:
    labels = [_plain(c) for c in classes]
    if target is None:
        if len(classes) == 2:
            return 1
        raise ValueError(
            f"{name} has {len(classes)} classes ({labels}); pass "
            "target=<one of them> to say whose log-odds to explain."
        )
    matches = np.flatnonzero(classes == target) if _comparable(target) else []
    if len(matches) == 0:
        raise ValueError(
            f"target={target!r} is not a class of this {name}; the classes "
            f"are {labels}."
        )
    return int(matches[0])


def _comparable(value) -> bool:
    """Whether ``value`` can be compared with an array of labels elementwise
    (a list would broadcast instead)."""
    return np.ndim(value) == 0


def _output_index(n_outputs: int, target, name: str) -> int:
    if target is None:
        if n_outputs == 1:
            return 0
        raise ValueError(
            f"This {name} predicts {n_outputs} target columns; pass target=<the "
            f"column's position, 0 to {n_outputs - 1}> to say which to explain."
        )
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, Integral):
        raise TypeError(
            f"target must be the position of a target column (an integer from "
            f"0 to {n_outputs - 1}) for a regressor; got {target!r} of type "
            f"{type(target).__name__}."
        )
    if not 0 <= target < n_outputs:
        raise ValueError(
            f"target={target} is out of range: this {name} predicts "
            f"{n_outputs} target column(s), so it must be in [0, {n_outputs - 1}]."
        )
    return int(target)


class _EncodedFeatures:
    """Where each original column's inputs sit in the encoded row that the
    path interpolates: the numeric inputs (values, then missing-value
    indicators) followed by one embedding vector per categorical column."""

    def __init__(self, columns, numeric_groups, categorical_groups, n_numeric):
        self.n_numeric = n_numeric
        # (label, encoded positions) in the order of the columns of X.
        label_of = {position: label for label, position in columns}
        self.groups = [
            (label_of[position], encoded)
            for position, encoded in sorted(numeric_groups + categorical_groups)
        ]

    def encode(self, network, inputs: dict) -> torch.Tensor:
        """The encoded rows: numeric inputs, then the embedding vectors."""
        embeddings = network.projection.projection.embeddings
        vectors = [
            embedding(inputs["categorical"][:, j]).double()
            for j, embedding in enumerate(embeddings)
        ]
        return torch.cat([inputs["numeric"].double(), *vectors], dim=1)

    def per_column(self, contributions: np.ndarray) -> pd.DataFrame:
        """Contributions of encoded inputs summed per original column."""
        return pd.DataFrame(
            {
                label: contributions[:, encoded].sum(axis=1)
                for label, encoded in self.groups
            }
        )


def _explained_columns(estimator, table: pd.DataFrame) -> list[tuple[object, int]]:
    """``(label, position)`` of each non-context column of ``table``, in
    its order: the columns that explain returns, labelled as in ``table``
    (by position for an array, whose table has labels 0, 1, ...).

    ``table``'s own labels, not ``feature_names_in_``: scikit-learn sets
    that only for string labels, and an array passed to a model fitted on
    a DataFrame has positions, not the names of fit."""
    encoder = estimator.encoder_
    positions = sorted([*encoder.numeric_positions_, *encoder.categorical_positions_])
    return [(table.columns[position], position) for position in positions]


def _encoded_features(estimator, table: pd.DataFrame) -> _EncodedFeatures:
    encoder = estimator.encoder_
    numeric_positions = list(encoder.numeric_positions_)
    has_missing = np.asarray(encoder.numeric_encoder_.has_missing_, dtype=bool)
    indicator_of = {
        j: len(numeric_positions) + k for k, j in enumerate(np.flatnonzero(has_missing))
    }
    numeric_groups = [
        (position, [j] + ([indicator_of[j]] if j in indicator_of else []))
        for j, position in enumerate(numeric_positions)
    ]
    n_numeric = len(numeric_positions) + len(indicator_of)
    categorical_groups = _embedding_groups(
        estimator.net_.module_.projection.embeddings,
        encoder.categorical_positions_,
        start=n_numeric,
    )
    columns = _explained_columns(estimator, table)
    if BASELINE_COLUMN in [label for label, _ in columns]:
        raise ValueError(
            f"X has a non-context column named {BASELINE_COLUMN!r}, the name "
            "explain gives the baseline's output; rename that column before "
            "fitting, or pass X as an array (its columns are then named by "
            "position)."
        )
    return _EncodedFeatures(columns, numeric_groups, categorical_groups, n_numeric)


def _embedding_groups(embeddings, positions, start: int) -> list:
    """``(position, encoded positions)`` of each categorical column, whose
    embedding vectors follow the numeric inputs from ``start``. The widths
    are the fitted embeddings' own: ``embedding_size`` is a parameter that
    ``set_params`` can change after fit."""
    groups = []
    for embedding, position in zip(embeddings, positions, strict=True):
        width = embedding.embedding_dim
        groups.append((position, list(range(start, start + width))))
        start += width
    return groups


class _ProjectionOfEncoded(nn.Module):
    """A :class:`~skhyper._modules.FeatureProjection` that reads each
    categorical column as its embedding vector, appended to the numeric
    inputs, instead of as a code: the path can then run between two
    embeddings. Everything after the projection is the fitted network's
    own code."""

    def __init__(self, projection: nn.Module, n_numeric: int):
        super().__init__()
        self.projection = projection
        self.n_numeric = n_numeric
        # The network's unknown-code masking reads this (training only).
        self.unknown_codes = projection.unknown_codes

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor):
        inner = self.projection
        values = inner.numeric_encoding(numeric[:, : self.n_numeric])
        features = torch.cat([values, numeric[:, self.n_numeric :]], dim=1)
        return inner.activation(inner.linear(features))


def _differentiable_copy(module: nn.Module, n_numeric: int) -> nn.Module:
    """A float64 copy of the fitted network in eval mode, with frozen
    parameters and the projection of :class:`_ProjectionOfEncoded`. The
    fitted network itself is shared by predicting threads and stays as it
    is."""
    network = copy.deepcopy(module).double().eval()
    network.requires_grad_(False)
    network.projection = _ProjectionOfEncoded(network.projection, n_numeric)
    return network


def _inputs(estimator, table: pd.DataFrame) -> dict[str, torch.Tensor]:
    """The network's keyword inputs for ``table``, as predict builds them,
    with floating-point ones in float64."""
    data = TensorTable(
        estimator.encoder_.transform(table), device=estimator.net_.device
    )
    return {
        name: tensor.double() if tensor.is_floating_point() else tensor
        for name, tensor in data.inputs.items()
    }


def _baseline_vector(
    estimator, network, features, baseline, table: pd.DataFrame
) -> torch.Tensor:
    """The encoded baseline row: for ``"mean"``, numeric inputs at each
    column's training mean over its observed values (:func:`_numeric_means`;
    the median's score, 0, under quantile encoding) with no value missing,
    and each categorical column
    at the mean of its categories' embeddings; for a one-row table, that
    row encoded, its context ignored (each row of ``table``, the rows
    explained, keeps its own)."""
    if isinstance(baseline, str) and baseline == "mean":
        return _mean_baseline(estimator, network, features)
    row = _baseline_row(baseline, type(estimator).__name__)
    row = _without_own_context(estimator, row, table)
    try:
        estimator._forward(row)  # the same checks as X
    except ValueError as error:  # say which argument is at fault
        raise ValueError(f"baseline: {error}") from None
    return features.encode(network, _inputs(estimator, row))[0]


def _baseline_row(baseline, name: str) -> pd.DataFrame:
    """``baseline`` as a table of one row, or an error that names it: the
    checks of X alone would blame X (an empty baseline read "Found array
    with 0 sample(s)")."""
    if isinstance(baseline, (pd.Series, Mapping)):
        raise TypeError(
            f"baseline must be a table of one row, not a {type(baseline).__name__}"
            ": pass a DataFrame such as X.iloc[[0]] (double brackets keep it a "
            'table), or baseline="mean".'
        )
    if isinstance(baseline, str) or not hasattr(baseline, "__len__"):
        raise ValueError(
            f'baseline must be "mean" or a table with one row and the columns '
            f"of X (e.g. X.iloc[[0]]); got {baseline!r}."
        )
    # A list of rows is left to as_table, which says what is wrong with it
    # (np.ndim of a ragged list raises).
    if isinstance(baseline, np.ndarray) and baseline.ndim == 1:
        raise ValueError(
            f"baseline is one-dimensional (shape {baseline.shape}); pass one "
            "row as a table, e.g. X.iloc[[0]] or row.reshape(1, -1)."
        )
    if len(baseline) == 0:
        raise ValueError(_n_rows_message(0))
    try:
        row = as_table(baseline, name)
    except TypeError as error:
        raise TypeError(f"baseline: {error}") from None
    except ValueError as error:
        raise ValueError(f"baseline: {error}") from None
    if len(row) != 1:
        raise ValueError(_n_rows_message(len(row)))
    return row


def _n_rows_message(n_rows: int) -> str:
    """What to say of a baseline of ``n_rows`` rows, not one."""
    return (
        f"baseline has {n_rows} rows; pass exactly one (e.g. X.iloc[[0]]), or "
        'baseline="mean".'
    )


def _without_own_context(estimator, row: pd.DataFrame, table: pd.DataFrame):
    """The baseline ``row`` with its context columns set to the first
    explained row's: the baseline's context is ignored (no encoded input
    reads it), so a value unseen at fit, or missing, must not be rejected
    there; the explained rows' context values have passed the checks."""
    encoder = estimator.encoder_
    positions = list(encoder.context_positions_) + list(encoder.continuous_positions_)
    if row.shape[1] != table.shape[1]:
        return row  # the column checks of _forward say what differs
    row = row.copy()
    for position in positions:
        row.isetitem(position, table.iloc[:1, position].to_numpy())
    return row


def _mean_baseline(estimator, network, features) -> torch.Tensor:
    encoder = estimator.encoder_
    embeddings = network.projection.projection.embeddings
    means = [
        embedding.weight[: len(coder.categories_)].mean(dim=0)
        for embedding, coder in zip(
            embeddings, encoder.categorical_encoders_, strict=True
        )
    ]
    numeric = torch.zeros(features.n_numeric, dtype=torch.float64)
    numeric[: len(encoder.numeric_positions_)] = torch.as_tensor(
        _numeric_means(encoder.numeric_encoder_)
    )
    return torch.cat([numeric.to(network.output.weight.device), *means])


def _numeric_means(numeric_encoder) -> np.ndarray:
    """Each numeric column's input at the baseline: its training mean over
    the observed values (a column with missing values was standardised
    with the mean of its filled values, so its observed mean is not 0); 0,
    the median, under the quantile encoding. A model saved before the
    observed means were kept starts from the filled mean, 0."""
    n_columns = len(numeric_encoder.has_missing_)
    if numeric_encoder.encoding == "quantile":
        return np.zeros(n_columns)
    return getattr(numeric_encoder, "observed_mean_", np.zeros(n_columns))


def _integrated_gradients(
    network,
    inputs: dict,
    encoded,
    reference,
    output: _Output,
    n_steps: int,
    piecewise_linear: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each encoded input's integrated gradient for every row, and the
    explained output at the baseline (in network units), in blocks of rows
    with all their path points in one pass.

    A piecewise-linear output (:func:`_is_piecewise_linear`) is integrated
    on ``n_steps`` equal cells with each cell's kink located
    (:func:`_kink_weights`); any other with ``n_steps`` Gauss-Legendre
    points."""
    if piecewise_linear:
        alphas = np.linspace(0.0, 1.0, n_steps + 1)
    else:
        nodes, fixed_weights = np.polynomial.legendre.leggauss(n_steps)
        alphas = (nodes + 1) / 2  # on [0, 1]; the weights / 2 sum to 1
        fixed_weights = torch.as_tensor(fixed_weights / 2, device=encoded.device)
    alphas = torch.as_tensor(alphas, device=encoded.device)
    rows_per_pass = max(1, PATH_ROWS_PER_PASS // len(alphas))
    # Filled in place: per-pass results kept in lists between each pass's
    # large temporaries fragmented the allocator (+1.3 GB over 100,000 rows).
    attributions = at_baseline = None
    for start in range(0, len(encoded), rows_per_pass):
        block = slice(start, start + rows_per_pass)
        context = {
            name: tensor[block]
            for name, tensor in inputs.items()
            if name not in ("numeric", "categorical")
        }
        codes = inputs["categorical"][block]
        delta = encoded[block] - reference
        path = reference + alphas[:, None, None] * delta  # (points, rows, width)
        values, gradients = _path_gradients(network, path, codes, context, output)
        if piecewise_linear:
            weights = _kink_weights(values, (gradients * delta).sum(dim=2))
            baseline = values[0]
        else:
            weights = fixed_weights[:, None].expand(-1, len(delta))
            start_rows = reference.expand(len(delta), -1)
            with torch.no_grad():
                start_outputs = network(
                    numeric=start_rows, categorical=codes, **context
                )
            baseline = output.of(start_outputs)
        attributed = delta * torch.einsum("pr,prw->rw", weights, gradients)
        if attributions is None:
            attributions = attributed.new_empty((len(encoded), attributed.shape[1]))
            at_baseline = baseline.new_empty(len(encoded))
        attributions[block] = attributed
        at_baseline[block] = baseline
    if attributions is None:  # no rows
        return encoded.new_empty(encoded.shape), encoded.new_empty(0)
    return attributions, at_baseline


def _path_gradients(network, path, codes, context: dict, output: _Output):
    """The explained output and its gradient at every point of ``path``
    (points, rows, width), the context of each row repeated for every
    point."""
    n_points, n_rows, width = path.shape
    points = path.reshape(n_points * n_rows, width).requires_grad_(True)
    repeated = {
        name: tensor.repeat(n_points, *([1] * (tensor.dim() - 1)))
        for name, tensor in context.items()
    }
    outputs = output.of(
        network(numeric=points, categorical=codes.repeat(n_points, 1), **repeated)
    )
    (gradient,) = torch.autograd.grad(outputs.sum(), points)
    return (
        outputs.detach().view(n_points, n_rows),
        gradient.view(n_points, n_rows, width),
    )


def _kink_weights(values: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """Quadrature weights (points, rows) on equal cells of [0, 1] for an
    output that is piecewise linear along the path.

    Between two points the output has slope ``slopes[i]`` (its gradient
    times the path's direction) up to a kink and ``slopes[i + 1]`` after
    it. The output's change across the cell places the kink: the share
    ``theta`` of the cell with the left slope solves
    ``change = h * (theta * left + (1 - theta) * right)``, and the left
    point's gradient gets weight ``h * theta``, the right one's
    ``h * (1 - theta)``. With at most one kink per cell this is the exact
    integral. A cell without a change of slope gets the trapezoid's
    halves.

    A cell with several kinks shows as a ``theta`` outside [0, 1], or as a
    change that the trapezoid misses. The gradients between its kinks are
    never seen, so how its change splits between features can only be
    approximated: ``theta`` is clipped to [0, 1] (unclipped, it can be
    huge, giving a feature's two gradients large weights of opposite
    sign), and the cell's two weights are then moved by the least amount
    that makes them reproduce the cell's change
    (:func:`_restore_change`). The contributions then still add up to the
    output exactly; the one exception is a cell whose output is flat at
    both ends (both slopes zero) and changes in between, which no
    weighting of the two end gradients can reproduce.
    """
    h = 1.0 / (len(values) - 1)
    left, right = slopes[:-1], slopes[1:]
    change = (values[1:] - values[:-1]) / h
    jump = left - right
    scale = left.abs() + right.abs() + change.abs()
    kinked = jump.abs() > KINK_TOLERANCE * scale
    theta = torch.where(
        kinked, (change - right) / torch.where(kinked, jump, 1.0), 0.5
    ).clamp(0.0, 1.0)
    # The change is a difference of two values: rounding error scales with
    # them as well as with the slopes.
    size = h * scale + values[1:].abs() + values[:-1].abs()
    on_left, on_right = _restore_change(
        h * theta, h * (1.0 - theta), left, right, h * change, KINK_TOLERANCE * size
    )
    weights = torch.zeros_like(values)
    weights[:-1] += on_left
    weights[1:] += on_right
    return weights


def _restore_change(
    on_left: torch.Tensor,
    on_right: torch.Tensor,
    left: torch.Tensor,
    right: torch.Tensor,
    change: torch.Tensor,
    tolerance: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each cell's weights ``(on_left, on_right)`` moved by the least
    amount (in the Euclidean norm) that makes
    ``on_left * left + on_right * right`` equal the cell's ``change``.

    Only a miss beyond ``tolerance`` (rounding) is corrected: a correction
    divides by the slopes' size, and in a cell without a second kink it
    would only spread rounding noise between features. A cell with both
    slopes zero is left as it is (nothing reproduces its change)."""
    miss = change - (on_left * left + on_right * right)
    size = left * left + right * right
    correct = (miss.abs() > tolerance) & (size > 0)
    step = torch.where(correct, miss / torch.where(correct, size, 1.0), 0.0)
    return on_left + step * left, on_right + step * right


def _is_piecewise_linear(network: nn.Module, estimator, output: _Output) -> bool:
    """Whether the explained output is piecewise linear in the encoded
    inputs for a fixed context: ReLU-type activations (the generator's act
    on the context only), and an output linear in the network's last layer
    (a regressor's value or the log-odds of one class against the other).

    The activations are read from the fitted ``network``, not from the
    ``activation`` parameter, which ``set_params`` can change after fit."""
    linear_output = not is_classifier(estimator) or len(estimator.classes_) == 2
    activations = [m for m in network.modules() if isinstance(m, ACTIVATION_TYPES)]
    return linear_output and all(
        isinstance(activation, PIECEWISE_LINEAR_ACTIVATIONS)
        for activation in activations
    )


def plot_context_effects(
    estimator,
    X,
    *,
    kind: str = "dependence",
    features=None,
    max_contexts: int = 6,
    target=None,
    baseline="mean",
    n_steps: int = 64,
    explanation: pd.DataFrame | None = None,
    figsize: tuple[float, float] | None = None,
):
    """Draw, for each context, how each feature moves the prediction.

    The contributions come from the estimator's ``explain`` (integrated
    gradients within each row's context). Two pictures:

    * ``kind="dependence"``: one panel per feature; each point is a row of
      ``X``, at the feature's value (x) and its contribution (y), coloured
      by the row's context (a distinct colour per context drawn). A rule
      that differs between contexts shows as curves that differ by colour.
      A categorical feature's categories sit at ticks 0, 1, ..., with the
      rows where it is missing at a last tick, "(missing)"; rows where a
      numeric feature is missing have no place on its axis and are left
      out of its panel, whose x label says how many.
    * ``kind="heatmap"``: the mean absolute contribution of each feature
      (columns) in each context (rows): which features matter where.

    Parameters
    ----------
    estimator : fitted skhyper estimator
        A classifier or regressor of this package.
    X : DataFrame, array-like of shape (n_samples, n_features)
        Rows to explain, with the columns of ``fit``.
    kind : {"dependence", "heatmap"}, default="dependence"
        Which picture to draw.
    features : list, default=None
        Columns of ``X`` to show, by their labels in ``X`` (positions for
        an array), as ``explain`` labels them; all non-context columns by
        default.
    max_contexts : int, default=6
        Draw the contexts with the most rows in ``X``, at most this many;
        the title says how many were left out. A purely continuous context
        is cut into this many quantile groups instead (fewer where values
        repeat), or, if it has no more distinct values than groups, into
        one group per value; rows without a value form a group of their
        own, one of the ``max_contexts``.
    target : object, default=None
        Passed to ``explain``: the class (or target column) explained.
    baseline : "mean" or DataFrame, default="mean"
        Passed to ``explain``.
    n_steps : int, default=64
        Passed to ``explain``.
    explanation : DataFrame, default=None
        What ``estimator.explain(X, ...)`` returned for this ``X``, to draw
        it without computing it again: indexed like ``X``, with all the
        columns it returned.
    figsize : tuple of float, default=None
        Figure size in inches; by default from the number of panels.

    Returns
    -------
    figure : matplotlib.figure.Figure
        One axes per feature for ``"dependence"``; the heatmap and its
        colour bar for ``"heatmap"``.

    See Also
    --------
    HyperNetworkClassifier.explain : The contributions that are drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skhyper import HyperNetworkClassifier, plot_context_effects
    >>> from skhyper.datasets import make_sensor_data
    >>> df = make_sensor_data(n_per_type=100)
    >>> X, y = df.drop(columns="anomaly"), df["anomaly"]
    >>> model = HyperNetworkClassifier("sensor_type", max_epochs=3,
    ...                                random_state=0).fit(X, y)
    >>> figure = plot_context_effects(model, X.head(50))
    >>> [ax.get_title() for ax in figure.axes]
    ['sensor_a', 'sensor_b', 'sensor_c']
    """
    if kind not in ("dependence", "heatmap"):
        raise ValueError(f'kind must be "dependence" or "heatmap"; got {kind!r}.')
    if isinstance(max_contexts, (bool, np.bool_)) or not isinstance(
        max_contexts, Integral
    ):
        raise TypeError(f"max_contexts must be an integer; got {max_contexts!r}.")
    if max_contexts < 1:
        raise ValueError(f"max_contexts must be at least 1; got {max_contexts}.")
    plt = import_pyplot()
    table = as_table(X, type(estimator).__name__)
    if explanation is None:
        explanation = estimator.explain(
            X, baseline=baseline, n_steps=n_steps, target=target
        )
    else:
        _check_explanation(explanation, estimator, table)
    features = _features_to_show(explanation, features)
    contexts = _context_labels(estimator, table, max_contexts)
    shown, left_out = _contexts_to_show(contexts, max_contexts)
    if kind == "heatmap":
        figure = _draw_heatmap(plt, explanation, features, contexts, shown, figsize)
    else:
        panels = _panels(estimator, table, features)
        figure = _draw_dependence(plt, panels, explanation, contexts, shown, figsize)
    figure.suptitle(
        f"Contributions to the {_short_output(explanation)}"
        + (f" ({left_out} more contexts not shown)" if left_out else ""),
        fontsize=9,
    )
    return figure


def _short_output(explanation: pd.DataFrame) -> str:
    """What the output is, without the formula: "log-odds of class 1"."""
    return explanation.attrs.get("output", "output").split(":")[0]


def _check_explanation(explanation, estimator, table: pd.DataFrame) -> None:
    """That ``explanation`` is what explain returns for ``table``: indexed
    like it, with all its columns in their order. The plot pairs each
    feature's contributions with the column of X of the same label; an
    explanation of the same rows labelled otherwise (of the array, say,
    for a DataFrame with integer labels) would pair the wrong ones, and
    only the whole list of columns tells the two apart: a part of it may
    fit both (panels are chosen with ``features=`` instead)."""
    if not isinstance(explanation, pd.DataFrame):
        raise TypeError(
            f"explanation must be the DataFrame that estimator.explain(X) "
            f"returned for this X, or None to compute it; got a "
            f"{type(explanation).__name__}."
        )
    if not explanation.index.equals(table.index):
        raise ValueError(
            "explanation is not indexed like X; pass what estimator.explain(X) "
            "returned for this X."
        )
    expected = [label for label, _ in _explained_columns(estimator, table)]
    expected.append(BASELINE_COLUMN)
    if explanation.columns.tolist() != expected:
        raise ValueError(
            f"explanation has the columns {explanation.columns.tolist()!r}, but "
            f"estimator.explain(X) gives {expected!r} for this X; pass what it "
            "returned for this X (choose the panels with features=)."
        )


def _features_to_show(explanation: pd.DataFrame, features) -> list:
    explained = [c for c in explanation.columns if c != BASELINE_COLUMN]
    if features is None:
        return explained
    if isinstance(features, (str, Integral)):
        features = [features]
    if len(features) == 0:
        raise ValueError(
            f"features is empty; pass at least one of {explained!r}, or "
            "features=None for all of them."
        )
    unknown = [f for f in features if f not in explained]
    if unknown:
        raise ValueError(
            f"features {unknown!r} are not explained columns of X; choose "
            f"among {explained!r} (context columns have no contribution)."
        )
    return list(features)


def _context_labels(estimator, table: pd.DataFrame, n_groups: int) -> pd.Series:
    """Each row's context as a label: its categorical context value(s),
    joined by " / " with several columns; for a purely continuous context,
    its quantile group of the first continuous column (see
    :func:`_continuous_groups`)."""
    encoder = estimator.encoder_
    positions = list(encoder.context_positions_)
    if positions:
        values = table.iloc[:, positions].astype(str)
        return values.agg(" / ".join, axis=1)
    position = list(encoder.continuous_positions_)[0]
    column = pd.to_numeric(table.iloc[:, position], errors="coerce")
    return _continuous_groups(column, n_groups, str(table.columns[position]))


def _continuous_groups(column: pd.Series, n_groups: int, name: str) -> pd.Series:
    """``column`` cut into at most ``n_groups`` quantile groups, labelled
    "name in (low, high]", in the order of the values; a column with no
    more distinct values than groups has a group per value, "name =
    value" (quantile groups would merge some of them); missing values are
    a group of their own, "name missing", which takes one of the
    ``n_groups`` (so that all can be drawn), and comes last."""
    missing = column.isna()
    n_quantiles = max(1, n_groups - int(missing.any()))
    values = np.sort(column.dropna().unique())
    if len(values) > n_quantiles:
        groups = pd.qcut(column, q=n_quantiles, duplicates="drop")
        groups = groups.cat.rename_categories(lambda group: f"{name} in {group}")
    else:
        codes = np.full(len(column), -1)  # -1: missing
        codes[~missing.to_numpy()] = np.searchsorted(values, column.dropna())
        groups = pd.Series(
            pd.Categorical.from_codes(codes, categories=_value_labels(name, values)),
            index=column.index,
        )
    if missing.any():
        label = f"{name} missing"
        groups = groups.cat.add_categories([label]).fillna(label)
    return groups


def _value_labels(name: str, values: np.ndarray) -> list[str]:
    """A label "name = value" for each distinct value: 4 significant
    digits, or more where 4 would give two values one label."""
    for digits in (4, 8, 17):  # 17 digits tell any two floats apart
        labels = [f"{name} = {value:.{digits}g}" for value in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def _contexts_to_show(contexts: pd.Series, max_contexts: int) -> tuple[list, int]:
    """The contexts with the most rows, at most ``max_contexts``, in their
    natural order (quantile groups by value, labels alphabetically), and
    how many other contexts have rows. Only contexts with rows count: a
    quantile group can be empty."""
    counts = contexts.value_counts(sort=True)
    observed = counts[counts > 0]
    most = set(observed.index[:max_contexts])
    if isinstance(contexts.dtype, pd.CategoricalDtype):
        shown = [c for c in contexts.cat.categories if c in most]
    else:
        shown = sorted(most, key=str)
    return shown, len(observed) - len(shown)


def _panels(estimator, table: pd.DataFrame, features: list) -> list:
    """``(feature, values, categorical)`` for each feature drawn: its column
    of X, taken by position (the explanation's labels are X's own, and
    need not be the names of fit), and whether the model reads it as
    categorical."""
    position_of = dict(_explained_columns(estimator, table))
    categorical = set(estimator.encoder_.categorical_positions_)
    return [
        (
            feature,
            table.iloc[:, position_of[feature]],
            position_of[feature] in categorical,
        )
        for feature in features
    ]


def _draw_dependence(plt, panels, explanation, contexts, shown, figsize):
    n_columns = min(len(panels), 3)
    n_rows = -(-len(panels) // n_columns)
    figure, axes = plt.subplots(
        n_rows,
        n_columns,
        figsize=figsize or (4.2 * n_columns, 3.4 * n_rows),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    axes = axes.ravel()
    for ax in axes[len(panels) :]:
        figure.delaxes(ax)
    colours = _context_colours(plt, len(shown))
    for ax, (feature, values, categorical) in zip(axes, panels, strict=False):
        ticks = _categories_of(values) if categorical else None
        for number, context in enumerate(shown):
            rows = (contexts == context).to_numpy()
            x = _x_positions(values[rows], ticks, number, len(shown))
            ax.scatter(
                x,
                explanation.loc[rows, feature],
                s=8,
                alpha=0.6,
                color=colours[number],
                label=str(context),
            )
        if ticks is not None:
            ax.set_xticks(range(len(ticks)), [str(c) for c in ticks])
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_title(str(feature))
        ax.set_xlabel(_x_label(feature, values, categorical))
    axes[0].set_ylabel("contribution")
    axes[0].legend(title="context", fontsize=7, markerscale=2)
    return figure


def _context_colours(plt, n_contexts: int) -> list:
    """One distinct colour per context drawn: tab10's, tab20's beyond ten
    (a colour repeated would make the legend ambiguous), and evenly spaced
    colours of the "turbo" map beyond twenty."""
    if n_contexts <= 10:
        return list(plt.get_cmap("tab10").colors[:n_contexts])
    if n_contexts <= 20:
        return list(plt.get_cmap("tab20").colors[:n_contexts])
    return list(plt.get_cmap("turbo")(np.linspace(0.0, 1.0, n_contexts)))


def _x_label(feature, values: pd.Series, categorical: bool) -> str:
    """The feature's name; for a numeric column with missing values, how
    many rows have no place on its axis and are left out of the panel."""
    n_missing = int(values.isna().sum()) if not categorical else 0
    if n_missing == 0:
        return str(feature)
    return f"{feature} ({n_missing} rows missing, not drawn)"


def _categories_of(values: pd.Series) -> list:
    """The sorted categories of a categorical column, then
    :data:`MISSING_TICK` if a value is missing: such rows are drawn there."""
    categories = sorted(values.dropna().unique(), key=str)
    return categories + [MISSING_TICK] if values.isna().any() else categories


def _x_positions(values: pd.Series, ticks, number: int, n_contexts: int):
    """Numeric values as they are; categories at 0, 1, ... (a missing one
    at the last tick), each context shifted a little so that contexts sit
    side by side."""
    if ticks is None:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    place = {category: i for i, category in enumerate(ticks)}
    # Missing values have no key; they take the MISSING_TICK (the last).
    x = np.where(
        values.isna().to_numpy(),
        len(ticks) - 1,
        values.map(place).to_numpy(dtype=float, na_value=np.nan),
    )
    shift = (number + 0.5) / n_contexts * 0.6 - 0.3
    return x + shift


def _draw_heatmap(plt, explanation, features, contexts, shown, figsize):
    magnitude = explanation[features].abs().groupby(contexts.to_numpy()).mean()
    magnitude = magnitude.loc[list(shown)]
    figure, ax = plt.subplots(
        figsize=figsize or (1.3 * len(features) + 2.5, 0.5 * len(shown) + 1.8),
        layout="constrained",
    )
    image = ax.imshow(magnitude.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(features)), [str(f) for f in features])
    ax.set_yticks(range(len(shown)), [str(c) for c in shown])
    middle = np.nanmax(magnitude.to_numpy()) / 2
    for (i, j), value in np.ndenumerate(magnitude.to_numpy()):
        colour = "black" if value > middle else "white"  # legible on viridis
        ax.text(
            j, i, f"{value:.2g}", ha="center", va="center", fontsize=8, color=colour
        )
    ax.set_xlabel("feature")
    ax.set_ylabel("context")
    figure.colorbar(image, ax=ax, label="mean |contribution|")
    return figure
