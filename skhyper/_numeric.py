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

# transform encodes this many values (rows x columns) at a time: its
# temporaries (missing masks, filled and standardised float64 copies) then
# stay small, where on a whole table of 100,000 x 2,000 they took 4 GB.
TRANSFORM_CHUNK_VALUES = 2**20
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
        Standardisation: the mean and standard deviation of the filled
        column (``"standard"``, and the plain value of the ``expand`` form);
        for ``"quantile"`` and ``"piecewise_linear"``, whose ranks and bins
        do not depend on them, its median and interquartile range over
        1.349 (the standard deviation of normal data), so that a few huge
        values do not squeeze the rest of the column into one float32 value
        (the mean and standard deviation where that range is 0).
    observed_mean_ : ndarray of shape (n_columns,)
        Mean of each column's observed (not missing) training values,
        standardised (the mean an explanation starts from): 0 for a column
        centred on its mean without missing values.
    quantiles_ : list of ndarray
        Training quantiles of each column (``"quantile"``).
    bin_center_, bin_scale_ : ndarray of shape (n_columns,)
        With ``expand``: the median and scale (as above) of the scale the
        bins are taken in, where ``mean_`` and ``scale_`` standardise the
        plain value.
    bin_edges_ : list of ndarray
        Bin edges of each column in the standardised scale (with
        ``expand``: in the bins' own scale) (``"piecewise_linear"``); at
        least two distinct edges, or none for a constant column.
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
        mean, std = _column_statistics(filled)
        ranked = self.encoding != "standard"  # quantiles or bins are taken
        robust = _robust_statistics(filled, mean, std) if ranked else None
        # The network sees the standardised value itself only under
        # "standard" and in the "B" form (expand); elsewhere it sees ranks or
        # bins, whose scale is the robust one.
        self.mean_, self.scale_ = _settled(
            *((mean, std) if self._passes_value else robust), filled
        )
        # Quantiles and bins are taken of standardised values: ranks do not
        # change, and the standardised values are finite and moderate even
        # where the raw ones span the whole float range.
        standardised = self._standardise(filled)
        observed = [standardised[~missing[:, j], j] for j in range(raw.shape[1])]
        # 0 where the column was centred on the mean of its observed values.
        centred_elsewhere = self.has_missing_ | (not self._passes_value)
        self.observed_mean_ = np.array(
            [
                values.mean() if elsewhere and len(values) else 0.0
                for values, elsewhere in zip(observed, centred_elsewhere, strict=True)
            ]
        )
        if self.encoding == "quantile":
            self.quantiles_ = [_quantiles(values, N_QUANTILES) for values in observed]
        elif self.encoding == "piecewise_linear":
            if self.expand:  # the bins of the "B" form, in the robust scale
                self.bin_center_, self.bin_scale_ = _settled(*robust, filled)
                binned = self._standardise(filled, self.bin_center_, self.bin_scale_)
                observed = [binned[~missing[:, j], j] for j in range(raw.shape[1])]
            self.bin_edges_ = [_bin_edges(values, self.n_bins) for values in observed]
        return self

    @property
    def _passes_value(self) -> bool:
        """Whether the network receives the standardised value itself."""
        return self.encoding == "standard" or (
            self.encoding == "piecewise_linear" and self.expand
        )

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """The network's numeric input: encoded columns, then the indicators
        of the columns that had missing values at fit; encoded a block of
        rows at a time (every value is encoded on its own, so the blocks
        change nothing but the memory the temporaries take)."""
        block = max(1, TRANSFORM_CHUNK_VALUES // max(1, raw.shape[1]))
        first = self._transform_rows(raw[:block])
        if len(raw) <= block:
            return first
        encoded = np.empty((len(raw), first.shape[1]), dtype=np.float32)
        encoded[:block] = first
        for start in range(block, len(raw), block):
            encoded[start : start + block] = self._transform_rows(
                raw[start : start + block]
            )
        return encoded

    def _transform_rows(self, raw: np.ndarray) -> np.ndarray:
        missing = np.isnan(raw)
        filled = self._fill(raw, missing)
        encoded = self._standardise(filled)
        if self.encoding == "quantile":
            for j, quantiles in enumerate(self.quantiles_):
                encoded[:, j] = _normal_scores(encoded[:, j], quantiles)
        if self.bin_columns is not None:
            # Encoders saved before the bins had a scale of their own took
            # them of the standardised values.
            center = getattr(self, "bin_center_", self.mean_)
            scale = getattr(self, "bin_scale_", self.scale_)
            binned = self._standardise(filled, center, scale)
            encoded = np.hstack([encoded, expand_bins(binned, self.bin_edges_)])
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

    def _standardise(self, raw: np.ndarray, center=None, scale=None) -> np.ndarray:
        """``(raw - center) / scale``, clipped; ``mean_`` and ``scale_``
        unless given."""
        center = self.mean_ if center is None else center
        scale = self.scale_ if scale is None else scale
        with np.errstate(over="ignore", invalid="ignore"):
            # In place after the first pass: predict on a million rows spent
            # most of its encoding time allocating temporaries.
            standardised = np.subtract(raw, center)
            standardised /= scale
            overflowed = ~np.isfinite(standardised)
            if overflowed.any():
                # Near the float64 limit ``raw - mean`` can overflow although
                # the standardised value is moderate (1.8e308 - (-1e296) in a
                # column with scale 5e307 is 3.2): divide first there. What
                # still overflows is huge and is clipped below.
                divided_first = raw / scale - center / scale
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


# The interquartile range of a standard normal distribution.
NORMAL_IQR = 1.3489795003921634


def _robust_statistics(
    values: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median, and interquartile range over that of a normal
    distribution (its standard deviation for normal data), for the rank
    encodings. With the mean and standard deviation, a few huge values (a
    fill value such as 1e20 among ordinary numbers) set the centre and the
    scale, and the float32 network input then holds the bulk of the column
    in one value: its quantiles and bins collapse. A column whose
    interquartile range is 0 or not finite (mostly one value) keeps its
    mean and standard deviation."""
    if not len(values):
        return mean, std
    median = np.quantile(values, 0.5, axis=0, method="lower")
    lower, upper = np.quantile(values, [0.25, 0.75], axis=0, method="nearest")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = (upper - lower) / NORMAL_IQR
    robust = np.isfinite(spread) & (spread > 0)
    return np.where(robust, median, mean), np.where(robust, spread, std)


def _settled(
    center: np.ndarray, scale: np.ndarray, filled: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``center`` and ``scale`` with constant columns kept as they are:
    centred on their value with a scale of 1 (scikit-learn's
    StandardScaler convention), so that they carry no information but do
    not produce 0/0 = NaN. Constant means equal extremes: the standard
    deviation of 50 copies of 0.1 is 2.8e-17, not 0, and dividing by it
    would send 0.2 at predict to 3.6e15."""
    constant = _is_constant(filled)
    center = center.copy()
    center[constant] = filled[0, constant] if len(filled) else 0.0
    return center, np.where(constant | ~(scale > 0), 1.0, scale)


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
