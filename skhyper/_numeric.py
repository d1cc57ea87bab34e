"""Encoding the numeric (non-context) columns: missing values, scaling and
the per-feature encodings the networks take.

:class:`NumericEncoder` turns the float64 matrix of a table's numeric columns
(NaN allowed, infinities rejected earlier) into the float32 matrix the
network receives:

* a missing value is filled with its column's training median, and every
  column that had missing values at fit gets a 0/1 "missing" indicator
  appended, so the network learns its own response to a missing value (as
  gradient boosting sends missing values down a learned branch);
* ``"standard"``: each column is standardised with its training mean and
  standard deviation;
* ``"quantile"``: each column is mapped through its training quantiles to
  a standard normal score, so that ranks, not magnitudes, reach the network
  (robust to heavy tails and skew);
* ``"piecewise_linear"``: the columns are standardised here, and the
  network expands each one over quantile bins
  (:class:`skhyper._modules.PiecewiseLinearEncoding`, Gorishniy et al.,
  NeurIPS 2022). The bin edges, learned here on the training rows, are
  handed to the network in the standardised scale. For a continuous
  context, which feeds the generator directly, :func:`expand_bins` does
  the same expansion here (``NumericEncoder(..., expand=True)``), and the
  standardised values come first: the "B" form of piecewise-linear
  embeddings (Gorishniy et al., TabM, ICLR 2025), whose bins' weights
  start at zero so that the network first sees the plain value
  (:attr:`NumericEncoder.bin_columns`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

NUMERIC_ENCODINGS = ("standard", "quantile", "piecewise_linear")

# Standardised values further than this from zero are clipped, so that an
# extreme input (say 1e30) gives a confident prediction instead of an
# overflow to inf and NaN probabilities inside the network.
STANDARDISED_CLIP = 1e6

# Quantile encoding: at most this many quantiles per column, and uniform
# ranks are kept this far from 0 and 1 so that normal scores stay finite
# (about +-5.2, as scikit-learn's QuantileTransformer does).
N_QUANTILES = 1000
RANK_MARGIN = 1e-7


# What pandas.api.types.infer_dtype calls an object column of plain numbers.
_NUMBER_KINDS = {
    "integer",
    "floating",
    "mixed-integer-float",
    "boolean",
    "decimal",
    "empty",
}


def holds_numbers(values: np.ndarray) -> bool:
    """Whether an object array holds only numbers (and missing values)."""
    return pd.api.types.infer_dtype(values, skipna=True) in _NUMBER_KINDS


class NumericEncoder:
    """Fill, flag and encode numeric columns with statistics of the
    training rows.

    Parameters
    ----------
    encoding : {"standard", "quantile", "piecewise_linear"}
    n_bins : int
        Largest number of quantile bins per column for
        ``"piecewise_linear"`` (fewer where a column has fewer distinct
        values).

    Attributes
    ----------
    median_ : ndarray of shape (n_columns,)
        Fill value of each column (0 for a column that was all missing).
    has_missing_ : ndarray of bool, shape (n_columns,)
        Columns with missing values at fit; each gets an indicator column.
    mean_, scale_ : ndarray of shape (n_columns,)
        Standardisation (``"standard"`` and ``"piecewise_linear"``).
        ``mean_`` is that of the filled column.
    observed_mean_ : ndarray of shape (n_columns,)
        Mean of each column's observed (not missing) training values,
        standardised: 0 for a column without missing values, else off 0 by
        what filling its missing values with the median moved the mean
        (the mean an explanation starts from).
    quantiles_ : list of ndarray
        Training quantiles of each column (``"quantile"``).
    bin_edges_ : list of ndarray
        Bin edges of each column in the standardised scale
        (``"piecewise_linear"``); at least two distinct edges, or none for a
        constant column.
    expand : bool
        With ``"piecewise_linear"``, whether :meth:`transform` returns the
        standardised columns followed by their expanded bins
        (:func:`expand_bins`) instead of the standardised columns alone,
        which the network expands itself.
    """

    def __init__(
        self, encoding: str = "standard", n_bins: int = 16, expand: bool = False
    ):
        self.encoding = encoding
        self.n_bins = n_bins
        self.expand = expand

    def fit(self, raw: np.ndarray) -> NumericEncoder:
        missing = np.isnan(raw)
        self.has_missing_ = missing.any(axis=0)
        self.median_ = _nanmedian(raw)
        filled = self._fill(raw, missing)
        self.mean_, scale = _column_statistics(filled)
        # Constant columns keep a scale of 1 (scikit-learn's StandardScaler
        # convention): they carry no information but must not produce
        # 0/0 = NaN. Constant means equal extremes: the standard deviation of
        # 50 copies of 0.1 is 2.8e-17, not 0, and dividing by it would send
        # 0.2 at predict to 3.6e15.
        constant = _is_constant(filled)
        self.mean_[constant] = filled[0, constant] if len(filled) else 0.0
        self.scale_ = np.where(constant | ~(scale > 0), 1.0, scale)
        # Quantiles and bins are taken of the standardised values: ranks do
        # not change, and the standardised values are finite and moderate
        # even where the raw ones span the whole float range.
        standardised = self._standardise(filled)
        observed = [standardised[~missing[:, j], j] for j in range(raw.shape[1])]
        self.observed_mean_ = np.array(
            [
                values.mean() if has_missing and len(values) else 0.0
                for values, has_missing in zip(observed, self.has_missing_, strict=True)
            ]
        )
        if self.encoding == "quantile":
            self.quantiles_ = [_quantiles(values, N_QUANTILES) for values in observed]
        elif self.encoding == "piecewise_linear":
            self.bin_edges_ = [_bin_edges(values, self.n_bins) for values in observed]
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """The network's numeric input: encoded columns, then the indicators
        of the columns that had missing values at fit."""
        missing = np.isnan(raw)
        encoded = self._standardise(self._fill(raw, missing))
        if self.encoding == "quantile":
            for j, quantiles in enumerate(self.quantiles_):
                encoded[:, j] = _normal_scores(encoded[:, j], quantiles)
        if self.bin_columns is not None:
            encoded = np.hstack([encoded, expand_bins(encoded, self.bin_edges_)])
        if not self.has_missing_.any():
            return encoded.astype(np.float32)
        indicators = missing[:, self.has_missing_]
        return np.hstack([encoded, indicators]).astype(np.float32)

    @property
    def bin_columns(self) -> tuple[int, int] | None:
        """``(start, stop)``: where :meth:`transform` puts the expanded bins
        (after the standardised columns, before the missing-value
        indicators); None when it expands nothing."""
        # getattr: encoders pickled before the option existed expand nothing.
        if self.encoding != "piecewise_linear" or not getattr(self, "expand", False):
            return None
        n_columns = len(self.bin_edges_)
        n_bins = sum(_expanded_width(edges) for edges in self.bin_edges_)
        return n_columns, n_columns + n_bins

    @property
    def n_indicators(self) -> int:
        return int(self.has_missing_.sum())

    def _fill(self, raw: np.ndarray, missing: np.ndarray) -> np.ndarray:
        if not missing.any():
            return raw
        return np.where(missing, self.median_, raw)

    def _standardise(self, raw: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            # In place after the first pass: predict on a million rows spent
            # most of its encoding time allocating temporaries.
            standardised = np.subtract(raw, self.mean_)
            standardised /= self.scale_
            overflowed = ~np.isfinite(standardised)
            if overflowed.any():
                # Near the float64 limit ``raw - mean`` can overflow although
                # the standardised value is moderate (1.8e308 - (-1e296) in a
                # column with scale 5e307 is 3.2): divide first there. What
                # still overflows is huge and is clipped below.
                divided_first = raw / self.scale_ - self.mean_ / self.scale_
                standardised[overflowed] = divided_first[overflowed]
        return np.clip(
            standardised, -STANDARDISED_CLIP, STANDARDISED_CLIP, out=standardised
        )


def expand_bins(standardised: np.ndarray, bin_edges: list) -> np.ndarray:
    """Each column over its quantile bins, as
    :class:`skhyper._modules.PiecewiseLinearEncoding` expands it in the
    network: per bin ``clip((x - left) / width, 0, 1)``, so 1 for the bins
    left of ``x``, the covered fraction of its own bin and 0 to its right. A
    column that was constant at fit (no edges) carries no information and
    gives one column of zeros, so that the result is never empty: a
    generator needs an input even when its only context never varied."""
    parts = [
        np.clip(
            (standardised[:, [j]] - edges[:-1]) / (edges[1:] - edges[:-1]), 0.0, 1.0
        )
        if len(edges)
        else np.zeros((len(standardised), _expanded_width(edges)))
        for j, edges in enumerate(bin_edges)
    ]
    return np.hstack(parts)


def _expanded_width(edges: np.ndarray) -> int:
    """Columns :func:`expand_bins` makes of one column: one per bin, or one
    column of zeros for a column that was constant at fit (no edges)."""
    return max(len(edges) - 1, 1)


def _nanmedian(raw: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; 0 for a column with no value at all."""
    observed = ~np.isnan(raw)
    median = np.zeros(raw.shape[1])
    for j in np.flatnonzero(observed.any(axis=0)):
        # The lower median: averaging the two middle values could overflow.
        median[j] = np.quantile(raw[observed[:, j], j], 0.5, method="lower")
    return median


def _column_statistics(
    values: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation (weighted by ``weight`` if
    given: a regressor's target) that stay finite, and nonzero for a column
    that varies, for any finite input.

    Sums of values near the float64 limit (about 1.8e308) overflow to inf,
    and inf statistics would turn every standardised value into NaN (a
    regressor's inf scale made every prediction -inf); the squares of
    values near 1e-170 underflow to 0, and a scale of 1 would then leave the
    column at about 0. Such columns are divided by their largest magnitude
    first; other columns get the plain (bit-for-bit unchanged) computation.
    Rows of weight 0 are left out: a fill value on such a row (1e300) would
    otherwise set that magnitude, and the other rows' spread underflow.
    """
    if weight is not None and not (weight > 0).all():
        values, weight = values[weight > 0], weight[weight > 0]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        mean, std = _moments(values, weight)
    redo = ~(np.isfinite(mean) & np.isfinite(std))
    if len(values):
        redo |= (std == 0) & ~_is_constant(values)
    if redo.any():
        peak = np.abs(values[:, redo]).max(axis=0)
        scaled_mean, scaled_std = _moments(values[:, redo] / peak, weight)
        mean[redo] = scaled_mean * peak
        std[redo] = scaled_std * peak
    return mean, std


def _moments(
    values: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if weight is None:
        return values.mean(axis=0), values.std(axis=0)
    mean = np.average(values, axis=0, weights=weight)
    deviation = np.average((values - mean) ** 2, axis=0, weights=weight)
    return mean, np.sqrt(deviation)


def _is_constant(values: np.ndarray) -> np.ndarray:
    """Per column: whether every row holds the same value."""
    if len(values) == 0:
        return np.ones(values.shape[1], dtype=bool)
    return values.min(axis=0) == values.max(axis=0)


def _quantiles(values: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Evenly spaced training quantiles of one column (one value if the
    column was constant or all missing)."""
    if len(values) == 0:  # all missing: the indicator carries everything
        return np.zeros(1)
    if values.min() == values.max():
        # One value, so that the encoding (and the ONNX graph, which follows
        # it) gives the column no information, as for a one-row fit.
        return values[:1].copy()
    levels = np.linspace(0, 1, min(n_quantiles, len(values)))
    return np.quantile(values, levels)


def _normal_scores(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Standard normal scores of ``values`` by their rank among the
    training quantiles; values beyond the training range get the extreme
    scores."""
    if len(quantiles) == 1:  # constant column: no information
        return np.zeros(len(values))
    levels = np.linspace(0, 1, len(quantiles))
    # Repeated quantiles (ties) would send a tied value to the top of its
    # run; averaging the forward and the backward interpolation puts it in
    # the middle.
    forward = np.interp(values, quantiles, levels)
    backward = -np.interp(-values, -quantiles[::-1], -levels[::-1])
    ranks = np.clip((forward + backward) / 2, RANK_MARGIN, 1 - RANK_MARGIN)
    return ndtri(ranks)


def _bin_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Distinct quantile edges of one (standardised) column, as the network
    will compare them: in float32. Empty for a constant column."""
    if len(values) == 0:
        return np.empty(0, dtype=np.float32)
    edges = np.quantile(values, np.linspace(0, 1, n_bins + 1))
    edges = np.unique(edges.astype(np.float32))
    return edges if len(edges) >= 2 else np.empty(0, dtype=np.float32)
