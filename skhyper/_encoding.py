"""Turning a user's table into the tensors the torch modules need.

A table (DataFrame, 2-D array or list of rows) is split into

* the *context* column(s), encoded as integer codes (``_categories.py``),
* other categorical columns (category, string, or object columns of
  strings), encoded the same way and embedded by the network, and
* the numeric columns (bool included), converted to float; missing values
  are filled and flagged and the columns encoded by
  :class:`~skhyper._numeric.NumericEncoder` (``_numeric.py``).

Every check that can fail names the column (and, where useful, the value) so
that the error tells the user what to change.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype
from scipy import sparse
from sklearn.utils.validation import check_array

from ._attributes import AttributeTable, attributes_digest
from ._categories import CategoryEncoder, preview, repeated_labels
from ._compat import is_arrow_categorical
from ._numeric import NumericEncoder, holds_numbers
from ._stack import user_stacklevel

HANDLE_UNKNOWN_OPTIONS = ("error", "learned")

# A context value with fewer training rows than this gets a RareContextWarning.
RARE_CONTEXT_ROWS = 10


class RareContextWarning(UserWarning):
    """Warning: a context value has fewer than 10 rows in fit.

    ``RARE_CONTEXT_ROWS`` sets the number. Only a ``fit`` that starts a new
    model warns (not ``partial_fit``, nor a ``warm_start`` continuation),
    counting the rows given to it, before the early-stopping split and
    whatever their ``sample_weight``; ``context_shrinkage``
    counts the training split's rows in units of average weight. Such a
    value's generated layer rests on a handful of rows.
    ``context_pooling`` (off by default) holds it back towards the layer
    all contexts share while it trains, and ``context_shrinkage``
    (``"auto"`` by default) shrinks it
    afterwards towards the training rows' mean layer; without them, it is
    held back only by the weight decay and may fit those rows' noise. The
    fit goes on; the warning names the values so that you can decide (merge
    rare values into an "other" category, give them ``context_attributes``,
    or set one of the two). ``ConcatClassifier`` and
    ``ConcatRegressor`` have neither option: there, such a value's
    embedding rests on its few rows.

    See Also
    --------
    HyperNetworkClassifier : Its ``context_pooling`` and
        ``context_shrinkage`` shrink rare contexts.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np, pandas as pd
    >>> from skhyper import ConcatClassifier, RareContextWarning
    >>> X = pd.DataFrame({"x": np.arange(40.0),
    ...                   "site": ["a"] * 37 + ["b"] * 3})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = ConcatClassifier("site", max_epochs=2).fit(X, X["x"] > 20)
    >>> [str(w.message)[:53] for w in caught
    ...  if issubclass(w.category, RareContextWarning)]
    ["The context column 'site' has 1 value with fewer than"]
    """


def warn_rare_contexts(codes: np.ndarray, encoders: list[CategoryEncoder]) -> None:
    """Warn (:class:`RareContextWarning`) about the context values seen in
    fewer than ``RARE_CONTEXT_ROWS`` rows of ``codes``."""
    for j, encoder in enumerate(encoders):
        counts = np.bincount(codes[:, j], minlength=len(encoder.categories_))
        rare = np.flatnonzero(counts[: len(encoder.categories_)] < RARE_CONTEXT_ROWS)
        if not len(rare):
            continue
        listed = ", ".join(
            f"{encoder.categories_[i]!r} ({counts[i]})" for i in rare[:5]
        ) + (f", ... ({len(rare)} in all)" if len(rare) > 5 else "")
        plural = "value" if len(rare) == 1 else "values"
        warnings.warn(
            f"{encoder.what} has {len(rare)} {plural} with fewer than "
            f"{RARE_CONTEXT_ROWS} rows in fit: {listed}. What the model "
            "learns for them rests on those few rows. HyperNetworkClassifier "
            "and HyperNetworkRegressor shrink their generated layers towards "
            "the shared layer where context_pooling or context_shrinkage is "
            "on; ConcatClassifier and ConcatRegressor have no such shrinkage. "
            "Consider merging rare values into one category or describing them "
            f"with context_attributes.{_measurement_hint(encoder)}",
            RareContextWarning,
            stacklevel=user_stacklevel(),
        )


def _measurement_hint(encoder: CategoryEncoder) -> str:
    """For a context of fractional numbers (each a category of its own,
    most of them rare): the parameter that reads them as numbers."""
    values = encoder.categories_
    fractional = [
        v
        for v in values
        if isinstance(v, (float, np.floating)) and np.isfinite(v) and v != int(v)
    ]
    if not fractional:
        return ""
    return (
        f" It holds fractional numbers ({fractional[0]!r}, ...), each a category "
        "of its own: if they measure something (an age, a temperature), pass "
        f"continuous_context={encoder.name!r} instead, which reads them as "
        "numbers."
    )


@dataclass(frozen=True)
class EncodedTable:
    """The network inputs made from one table."""

    numeric: np.ndarray  # (n_samples, n_numeric + n_indicators) float32
    categorical: np.ndarray  # (n_samples, n_categorical) int64 codes
    context: np.ndarray  # (n_samples, n_context_columns) int64 codes
    # (n_samples, encoded width + n_indicators) float32: continuous contexts
    continuous: np.ndarray | None = None


def as_table(X, estimator_name: str) -> pd.DataFrame:
    """Return ``X`` as a DataFrame whose columns keep their own dtypes.

    Arrays and lists become a DataFrame with integer column labels; a list of
    rows goes through an object array so that strings and numbers in
    different columns keep their types. Other data frames (a pyarrow
    ``Table``, a polars ``DataFrame``) become pandas ones with their column
    names, as scikit-learn's estimators take them.
    """
    if sparse.issparse(X):
        raise TypeError(
            f"{estimator_name} does not accept sparse input; pass a dense "
            "array or DataFrame instead, e.g. X.toarray()."
        )
    if not isinstance(X, pd.DataFrame) and _is_other_data_frame(X):
        X = X.to_pandas()
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                f"of 1 is required by {estimator_name}."
            )
        if X.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                f"of 1 is required by {estimator_name}."
            )
        _check_column_labels(X.columns)
        return X
    if isinstance(X, (list, tuple)):
        _check_rows(X, estimator_name)
        X = np.array(X, dtype=object)
    array = check_array(
        X,
        dtype=None,
        ensure_all_finite=False,
        ensure_2d=True,
        allow_nd=False,
        estimator=estimator_name,
    )
    return pd.DataFrame(array)


def _is_other_data_frame(X) -> bool:
    """A data frame of another library that converts itself to pandas (it
    speaks the Arrow stream interface, as pyarrow's and polars' do, or the
    older interchange protocol, which polars 2 dropped): converted, its
    column names are kept, as scikit-learn keeps them."""
    speaks = hasattr(X, "__arrow_c_stream__") or hasattr(X, "__dataframe__")
    return speaks and callable(getattr(X, "to_pandas", None))


def _check_column_labels(columns: pd.Index) -> None:
    """One flat label per column: a column is found by its label, and a
    MultiIndex label or a repeated one names no single column."""
    if isinstance(columns, pd.MultiIndex):
        raise ValueError(
            f"X has MultiIndex columns ({preview(list(columns), limit=3)}); "
            "flatten them first, e.g. X.columns = ['_'.join(map(str, c)) for c "
            "in X.columns]."
        )
    repeated = repeated_labels(columns)
    if repeated:
        raise ValueError(
            f"X has the column name(s) {preview(repeated)} more than once; "
            "rename or drop the repeats."
        )


def _check_rows(rows, estimator_name: str) -> None:
    """Reject an empty or ragged list of rows before NumPy turns it into a
    1-D object array (whose error would print every row)."""
    if len(rows) == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape=(0, 0)) while a minimum of 1 "
            f"is required by {estimator_name}: X is an empty list."
        )

    def row_length(row):
        if isinstance(row, (list, tuple)):
            return len(row)
        if isinstance(row, np.ndarray) and row.ndim == 1:
            return row.shape[0]
        return None

    lengths = [row_length(row) for row in rows]
    if all(length is None for length in lengths):
        return  # a flat list: check_array explains how to reshape it
    for i, length in enumerate(lengths):
        if length is None:
            raise ValueError(
                f"X is a list of rows, but the row at position {i} is "
                f"{rows[i]!r} of type {type(rows[i]).__name__}, not a list of "
                "values. Give every row as a list with one value per column."
            )
        if length != lengths[0]:
            raise ValueError(
                f"X is a list of rows of different lengths: the row at "
                f"position 0 has {lengths[0]} values but the row at position "
                f"{i} has {length}. Give every row one value per column."
            )


def is_categorical_feature(column: pd.Series) -> bool:
    """Category and string columns (pandas' or pyarrow's), and object
    columns holding only strings."""
    if isinstance(column.dtype, (pd.CategoricalDtype, pd.StringDtype)):
        return True
    if is_arrow_categorical(column.dtype):
        return True
    if is_object_dtype(column.dtype):
        kind = pd.api.types.infer_dtype(column.to_numpy(), skipna=True)
        return kind in ("string", "bytes")
    return False


def column_label(table: pd.DataFrame, position: int) -> str:
    """How an error message names the column at ``position``."""
    name = table.columns[position]
    return repr(name) if isinstance(name, str) else f"at position {position}"


def _unnamed_columns_message(columns: pd.Index) -> str:
    """Why a name finds no column in ``columns``, none of which is a string."""
    if list(columns) == list(range(len(columns))):
        return (
            "X has no column names (it is an array); pass an integer position instead"
        )
    return (
        f"X's column labels are {preview(columns, limit=10)}, none of them a "
        "string; pass an integer position instead"
    )


def resolve_context_positions(table: pd.DataFrame, context_column) -> list[int]:
    """Positions of the context column(s): one, or one per list entry."""
    if not isinstance(context_column, (list, tuple)):
        return [resolve_context_position(table, context_column)]
    if not context_column:
        raise ValueError(
            "context_column is an empty list; name at least one column, or "
            "pass None to use a DataFrame's single non-numeric column."
        )
    if isinstance(context_column, tuple) and context_column in table.columns:
        # A tuple lists columns; one label that is a tuple names no column.
        raise ValueError(
            f"context_column={context_column!r} is read as a list of "
            f"{len(context_column)} columns, but it is the label of one column "
            "of X; pass that column's integer position "
            f"({table.columns.get_loc(context_column)}), or give X string "
            "column names."
        )
    positions = [resolve_context_position(table, c) for c in context_column]
    if len(set(positions)) < len(positions):
        raise ValueError(
            f"context_column={context_column!r} names the same column twice."
        )
    return positions


def list_is_empty(value) -> bool:
    return isinstance(value, (list, tuple)) and not value


def resolve_context_position(
    table: pd.DataFrame, context_column, parameter: str = "context_column"
) -> int:
    """Find the position of the context column in ``table``.

    A string names a DataFrame column; an integer is a position (as in
    scikit-learn's ColumnTransformer). ``None`` picks the single non-numeric
    column of a DataFrame, and is an error when there is not exactly one.
    """
    n_columns = table.shape[1]
    if context_column is None:
        text_columns = [
            i for i in range(n_columns) if is_categorical_feature(table.iloc[:, i])
        ]
        has_names = all(isinstance(c, str) for c in table.columns)
        if len(text_columns) == 1 and has_names:
            return text_columns[0]
        found = (
            f"found {len(text_columns)} non-numeric columns "
            f"({preview(table.columns[text_columns])})"
            if has_names
            else "X has no column names"
        )
        raise ValueError(
            "context_column=None picks the single non-numeric column of a "
            f"DataFrame, but {found}. Pass context_column=<column name> for a "
            "DataFrame or context_column=<integer position> for an array."
        )
    if isinstance(context_column, (bool, np.bool_)) or not isinstance(
        context_column, (str, Integral)
    ):
        raise TypeError(
            f"{parameter} must be a column name (str), an integer position, "
            f"a list of these, or None; got {context_column!r} of type "
            f"{type(context_column).__name__}."
        )
    if isinstance(context_column, str):
        if context_column not in table.columns:
            available = (
                f"X's columns are {preview(table.columns, limit=10)}"
                if any(isinstance(c, str) for c in table.columns)
                else _unnamed_columns_message(table.columns)
            )
            raise ValueError(
                f"{parameter}={context_column!r} is not a column of X; "
                f"{available}.{_close_names(context_column, table.columns)}"
            )
        return int(table.columns.get_loc(context_column))
    labelled = _integer_label_position(table, context_column)
    if not -n_columns <= context_column < n_columns:
        raise ValueError(
            f"{parameter}={context_column} is out of range: X has "
            f"{n_columns} feature(s), so the position must be in "
            f"[0, {n_columns - 1}]{labelled}."
        )
    position = int(context_column) % n_columns
    if labelled and table.columns[position] != context_column:
        # The label names another column than the position: either reading
        # would be a guess, and the wrong one fits a silently wrong model.
        at_position = table.columns[position]
        shown = repr(at_position) if isinstance(at_position, str) else at_position
        raise ValueError(
            f"{parameter}={context_column} is read as a position, the column "
            f"labelled {shown}{labelled}. Integer labels that are not their "
            "positions are ambiguous: give X string column names, e.g. "
            "X.columns = X.columns.astype(str), and name the column."
        )
    return position


def _close_names(name: str, columns) -> str:
    """A hint at the columns ``name`` was likely meant to be: another case,
    or the prefix a ColumnTransformer gives the columns it outputs
    (``remainder__site``, ``onehot__site``), or a close spelling."""
    names = [c for c in columns if isinstance(c, str)]
    found = [c for c in names if c.lower() == name.lower()]
    prefixed = [c for c in names if c.endswith(f"__{name}")]
    found += prefixed or difflib.get_close_matches(name, names, n=3, cutoff=0.8)
    if not found:
        return ""
    hint = f" Did you mean {preview(list(dict.fromkeys(found)))}?"
    if prefixed:
        hint += (
            " A ColumnTransformer prefixes the names of the columns it outputs; "
            "pass verbose_feature_names_out=False to it to keep them."
        )
    return hint


def _integer_label_position(table: pd.DataFrame, label) -> str:
    """'', or where ``table`` has a column labelled with the integer
    ``label`` (integers are positions, as in ColumnTransformer)."""
    matches = [
        i for i, c in enumerate(table.columns) if type(c) is not bool and c == label
    ]
    if len(matches) != 1:
        return ""
    return f"; X has a column labelled {label} at position {matches[0]}"


def _numeric_column(table: pd.DataFrame, position: int) -> np.ndarray:
    """Convert one non-context column to float64, or say why it cannot be."""
    column = table.iloc[:, position]
    if isinstance(column.dtype, pd.SparseDtype):
        # Its values, as scikit-learn's estimators read a sparse column
        # (made dense column by column: checking every dtype of X on each
        # call would cost a one-row predict more than this rare case).
        column = column.sparse.to_dense()
    label = column_label(table, position)
    dtype = column.dtype
    if is_bool_dtype(dtype) or is_numeric_dtype(dtype):
        if np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind == "c":
            raise ValueError(f"Complex data not supported (column {label}).")
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if is_object_dtype(dtype):
        return _object_column_to_float(
            column.to_numpy(), label, table.columns[position]
        )
    if is_categorical_feature(column):
        # Only at predict: at fit such a column is encoded as categories.
        raise ValueError(
            f"Column {label} was numeric at fit but holds {dtype} values now; "
            f"pass it as numbers, e.g. X[{table.columns[position]!r}].astype(float)."
        )
    raise ValueError(
        f"Column {label} has dtype {dtype}, which is neither numeric nor "
        "categorical: convert it first (e.g. a date to a number of days), or "
        "drop it."
    )


def _object_column_to_float(values: np.ndarray, label: str, name) -> np.ndarray:
    """Convert an object column of numbers (and None) to float64."""
    if holds_numbers(values):
        return pd.to_numeric(values).astype(np.float64)
    present = [value for value in values if not _is_missing(value)]
    if present and all(isinstance(value, (str, bytes)) for value in present):
        # Only strings: at fit such a column is categorical, so this is
        # predict on a column that was numeric (pandas before 3 holds a
        # column of strings as object, not as the str dtype).
        raise ValueError(
            f"Column {label} was numeric at fit but holds strings now (e.g. "
            f"{present[0]!r}); pass it as numbers, e.g. X[{name!r}].astype(float)."
        )
    for value in values:
        if isinstance(value, (str, bytes)):
            raise ValueError(
                f"Column {label} must be numeric but holds the string {value!r} "
                "among numbers. Fix that value; a column of only strings would "
                f"be encoded as categorical (e.g. X[{name!r}].astype(str)), and "
                f"if it is the context, pass context_column={name!r}."
            )
        # np.timedelta64 counts as a numbers.Real, but float() refuses it.
        not_a_number = not isinstance(value, (Real, Decimal)) or isinstance(
            value, np.timedelta64
        )
        if not_a_number and not _is_missing(value):
            raise TypeError(
                f"Column {label} holds {value!r} of type {type(value).__name__}: "
                "each value must be a string or a number (convert dates and "
                "durations to numbers first, e.g. to days)."
            )
    return np.array([np.nan if _is_missing(v) else float(v) for v in values])


def _is_missing(value) -> bool:
    """None, NaN, pd.NA and pd.NaT: a missing value, whatever its kind
    (infer_dtype skips only some of them)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _column_key(table: pd.DataFrame, key):
    """The name of the column that ``key`` names or, if it is an integer
    position of ``table`` rather than a name, of the one at that position;
    ``key`` itself if neither (the caller says it is not a column)."""
    if key in table.columns:
        return key
    n_columns = table.shape[1]
    if isinstance(key, Integral) and not isinstance(key, bool):
        if -n_columns <= key < n_columns:
            return table.columns[key]
    return key


def _tables_by_column(table: pd.DataFrame, given: dict) -> dict:
    """``context_attributes``' tables by column name, as keyed by name or by
    position (as categories may be); two keys for one column are an error,
    since one table would be silently dropped."""
    tables, keys = {}, {}
    for key, value in given.items():
        column = _column_key(table, key)
        if column in tables:
            raise ValueError(
                f"context_attributes has tables for both {keys[column]!r} and "
                f"{key!r}, which name the same column {column!r}; give each "
                "context column one table, keyed by its name."
            )
        tables[column], keys[column] = value, key
    return tables


def _check_declared_once(table: pd.DataFrame, categories: dict, coded) -> None:
    """Each column of ``coded`` (positions) declared by name or by position,
    not both: the name's list is read, and the other would be silently
    dropped. (A position that is also a column's name is that column's.)"""
    for position in coded:
        name = table.columns[position]
        if (
            name in categories
            and position in categories
            and position not in table.columns
        ):
            raise ValueError(
                f"categories declares values for both {name!r} and "
                f"{position!r}, which name the same column {name!r}; "
                "declare each column's values once, keyed by its name."
            )


def _check_some_values(
    raw: np.ndarray, table: pd.DataFrame, positions: list[int]
) -> None:
    """A continuous context column with no value at fit gives the generator
    nothing to learn from (as a categorical one of only missing values)."""
    empty = [
        column_label(table, positions[j])
        for j in np.flatnonzero(np.isnan(raw).all(axis=0))
    ]
    if empty:
        raise ValueError(
            f"The continuous context column {empty[0]} has only missing "
            "values (on the rows of positive sample_weight), so there is "
            "nothing to learn from it: fill it, or leave it out of "
            "continuous_context."
        )


def _check_no_infinity(values: np.ndarray, labels: list[str]) -> None:
    """Infinities are an error; NaN is a missing value the encoder fills and
    flags."""
    infinite = np.isinf(values)
    if not infinite.any():
        return
    bad_columns = np.flatnonzero(infinite.any(axis=0))
    details = [
        f"column {labels[j]} ({int(infinite[:, j].sum())} infinite)"
        for j in bad_columns[:5]
    ]
    raise ValueError(
        "Input X contains infinity in "
        + "; ".join(details)
        + ". Replace these values with finite numbers, or with NaN to treat "
        "them as missing (missing numeric values are encoded with a learned "
        "indicator)."
    )


class TableEncoder:
    """Split a table into encoded numeric features, categorical codes and
    context codes.

    Parameters
    ----------
    context_column : str, int, list of these, or None
        See the estimators' documentation.
    handle_unknown : {"error", "learned"}
        What ``transform`` does with a context or category value not seen by
        ``fit``: raise, or give it the column's unknown code.
    estimator_name : str
        Used in error messages.
    numeric_encoding : {"standard", "quantile", "piecewise_linear"}
        How the numeric columns are encoded (:class:`NumericEncoder`).
    n_bins : int
        Bins per column for ``"piecewise_linear"``.
    continuous_context : str, int, list of these, or None
        Numeric context columns, encoded as ``continuous_encoding`` says
        (missing values filled and flagged) and fed to the generator as
        numbers.
    continuous_encoding : {"standard", "quantile", "piecewise_linear"}
        How the continuous context columns are encoded
        (:class:`NumericEncoder`; ``"piecewise_linear"`` bins are expanded
        here, after the standardised values, since the generator reads them
        directly).
    context_attributes : DataFrame, dict or None
        Attributes of the categorical context columns' values
        (:class:`~skhyper._attributes.AttributeTable`).
    categories : dict or None
        Declared values of context and categorical columns, by column name
        (or position): they are the categories, whether or not ``X`` holds
        them all.
    declare_dtypes : bool
        Whether a pandas ``Categorical`` column's categories are its
        declared values (``partial_fit``), rather than the values it holds.
    """

    def __init__(
        self,
        context_column,
        handle_unknown: str,
        estimator_name: str,
        numeric_encoding: str = "standard",
        n_bins: int = 16,
        continuous_context=None,
        context_attributes=None,
        categories=None,
        declare_dtypes: bool = False,
        continuous_encoding: str = "piecewise_linear",
    ):
        self.context_column = context_column
        self.handle_unknown = handle_unknown
        self.estimator_name = estimator_name
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.continuous_context = continuous_context
        self.context_attributes = context_attributes
        self.categories = categories
        self.declare_dtypes = declare_dtypes
        self.continuous_encoding = continuous_encoding

    def fit_transform(self, X, sample_weight=None) -> EncodedTable:
        """Learn the encoding of ``X`` and encode it. The numeric and
        continuous-context statistics (centre, scale, quantiles, bins) are
        taken over the rows of positive ``sample_weight`` (all rows when it
        is None): a row of weight 0 counts for nothing in the fit, so a
        placeholder value on it (1e10, a sentinel) must not set the scale
        of a column. The categories come from every row."""
        table = as_table(X, self.estimator_name)
        counted = slice(None) if sample_weight is None else sample_weight > 0
        self._resolve_context_columns(table)
        self.n_columns_ = table.shape[1]
        context = self.context_positions_ + self.continuous_positions_
        others = [i for i in range(self.n_columns_) if i not in context]
        if not others:
            names = ", ".join(column_label(table, i) for i in context)
            raise ValueError(
                f"X has {self.n_columns_} feature(s) and all are context "
                f"columns ({names}); {self.estimator_name} needs at least one "
                "other feature for the context to act on."
            )
        self.categorical_positions_ = [
            i for i in others if is_categorical_feature(table.iloc[:, i])
        ]
        self.numeric_positions_ = [
            i for i in others if i not in self.categorical_positions_
        ]
        self.context_encoders_ = [
            self._category_encoder(table, i, "The context column")
            for i in self.context_positions_
        ]
        self.categorical_encoders_ = [
            self._category_encoder(table, i, "The categorical column")
            for i in self.categorical_positions_
        ]
        self._check_declared_columns(table)
        context = self._fit_codes(
            table, self.context_positions_, self.context_encoders_
        )
        categorical = self._fit_codes(
            table, self.categorical_positions_, self.categorical_encoders_
        )
        self.attribute_tables_ = self._fit_attributes(table)
        # Kept through a save, which drops the tables: a continued fit can
        # still tell whether context_attributes changed since.
        self.attributes_digest_ = attributes_digest(self.context_attributes)

        raw = self._numeric_matrix(table, self.numeric_positions_)
        self.numeric_encoder_ = NumericEncoder(self.numeric_encoding, self.n_bins)
        self.numeric_encoder_.fit(raw[counted])
        continuous = None
        if self.continuous_positions_:
            raw_context = self._numeric_matrix(table, self.continuous_positions_)
            _check_some_values(raw_context[counted], table, self.continuous_positions_)
            self.continuous_encoder_ = NumericEncoder(
                self.continuous_encoding, self.n_bins, expand=True
            ).fit(raw_context[counted])
            continuous = self.continuous_encoder_.transform(raw_context)
        return EncodedTable(
            self.numeric_encoder_.transform(raw), categorical, context, continuous
        )

    def transform(self, X) -> EncodedTable:
        # The caller has checked the number and names of columns against fit.
        table = as_table(X, self.estimator_name)
        continuous = None
        if self.continuous_positions_:
            continuous = self.continuous_encoder_.transform(
                self._numeric_matrix(table, self.continuous_positions_)
            )
        return EncodedTable(
            self.numeric_encoder_.transform(
                self._numeric_matrix(table, self.numeric_positions_)
            ),
            self._codes(table, self.categorical_positions_, self.categorical_encoders_),
            self._codes(table, self.context_positions_, self.context_encoders_),
            continuous,
        )

    def __getstate__(self) -> dict:
        # The attribute tables are encoded in attribute_tables_ at fit, and
        # the declared categories in the category encoders (only fit reads
        # ``categories``); the user's values (pandas objects, which skops
        # does not store, or trusts only with extra types) stay with the
        # estimator's parameters, which its __getstate__ makes plain.
        return {**self.__dict__, "context_attributes": None, "categories": None}

    @property
    def continuous_positions_(self) -> list[int]:
        return getattr(self, "_continuous_positions", [])

    def _resolve_context_columns(self, table: pd.DataFrame) -> None:
        """Positions of the categorical and the continuous context columns;
        with ``continuous_context`` and ``context_column=None`` (or an empty
        list), only the continuous ones."""
        continuous = self.continuous_context
        if continuous is None:
            self.context_positions_ = resolve_context_positions(
                table, self.context_column
            )
            return
        names = continuous if isinstance(continuous, (list, tuple)) else [continuous]
        if not names:
            raise ValueError(
                "continuous_context is an empty list; name at least one numeric "
                "column, or pass None."
            )
        self._continuous_positions = [
            resolve_context_position(table, c, "continuous_context") for c in names
        ]
        if len(set(self._continuous_positions)) < len(names):
            raise ValueError(
                f"continuous_context={continuous!r} names the same column twice."
            )
        self.context_positions_ = (
            []
            if self.context_column is None or list_is_empty(self.context_column)
            else resolve_context_positions(table, self.context_column)
        )
        for position in self._continuous_positions:
            label = column_label(table, position)
            if position in self.context_positions_:
                raise ValueError(
                    f"The column {label} is in both context_column and "
                    "continuous_context; a context column is either categorical "
                    "or continuous."
                )
            if is_categorical_feature(table.iloc[:, position]):
                raise ValueError(
                    f"continuous_context names the column {label}, which holds "
                    "categories, not numbers; list it in context_column instead."
                )

    def _fit_attributes(self, table: pd.DataFrame) -> list[AttributeTable | None]:
        """One :class:`AttributeTable` per categorical context column that
        ``context_attributes`` describes (None for the others)."""
        given = self.context_attributes
        if given is None:
            return [None] * len(self.context_positions_)
        keys = [table.columns[i] for i in self.context_positions_]
        if not keys:
            raise ValueError(
                "context_attributes describes the values of a categorical "
                "context column, but this model has none: name that column in "
                "context_column (next to continuous_context, if any)."
            )
        if not isinstance(given, dict):
            if len(keys) != 1:
                raise ValueError(
                    f"context_attributes is one table, but there are {len(keys)} "
                    "categorical context columns; pass a dict {context column: "
                    "DataFrame} instead."
                )
            given = {keys[0]: given}
        given = _tables_by_column(table, given)
        unknown = [key for key in given if key not in keys]
        if unknown:
            raise ValueError(
                f"context_attributes has tables for {preview(unknown)}, which "
                f"are not categorical context columns ({preview(keys)})."
            )
        tables = []
        for key, encoder in zip(keys, self.context_encoders_, strict=True):
            if key not in given:
                tables.append(None)
                continue
            attributes = AttributeTable(given[key], encoder.what).fit(
                encoder.categories_
            )
            encoder.list_values(attributes.listed_only_)
            tables.append(attributes)
        return tables

    @property
    def categories_(self) -> np.ndarray | list[np.ndarray]:
        """The context values seen at fit: one array, or one per column when
        ``context_column`` is a list or there is no categorical context."""
        categories = [encoder.categories_ for encoder in self.context_encoders_]
        one = not isinstance(self.context_column, (list, tuple))
        return categories[0] if one and len(categories) == 1 else categories

    def code_of(self, value) -> np.ndarray:
        """The codes of one context value (a tuple with several context
        columns), with the same rules as ``transform``: a missing value is an
        error, and an unseen one is an error or the unknown code, as
        ``handle_unknown`` says."""
        if not self.context_encoders_:
            if value is None:
                return np.empty(0, dtype=np.int64)
            raise ValueError(
                f"Got the context value {value!r}, but this model has no "
                "categorical context column; give only its continuous values."
            )
        several = isinstance(self.context_column, (list, tuple))
        if several and not isinstance(value, (list, tuple)):
            # A string is a sequence too, but "ab" is not the pair ("a", "b").
            raise ValueError(
                f"Expected a tuple of {len(self.context_encoders_)} context "
                f"values, one per context column; got {value!r}."
            )
        values = value if several else [value]
        if len(values) != len(self.context_encoders_):
            raise ValueError(
                f"Expected a tuple of {len(self.context_encoders_)} context "
                f"values, one per context column; got {value!r}."
            )
        return np.array(
            [
                encoder.encode(pd.Series([v], dtype=object))[0]
                for encoder, v in zip(self.context_encoders_, values, strict=True)
            ]
        )

    def continuous_values(self, values) -> np.ndarray:
        """One row of encoded continuous context from its raw ``values``,
        one per ``continuous_context`` column."""
        n_columns = len(self.continuous_positions_)
        # Bools are numbers here as in fit, where a bool column is numeric.
        numbers = values is not None and all(
            isinstance(v, (Real, Decimal, np.bool_))
            for v in np.ravel(np.asarray(values, dtype=object))
        )
        raw = np.asarray(values, dtype=np.float64).reshape(1, -1) if numbers else None
        if raw is None or raw.shape[1] != n_columns:
            raise ValueError(
                f"continuous must give {n_columns} number(s), one per "
                f"continuous_context column; got {values!r}."
            )
        if np.isinf(raw).any():
            raise ValueError(
                f"continuous holds an infinite value ({values!r}); give finite "
                "numbers (NaN for a missing one, which is filled as at predict)."
            )
        return self.continuous_encoder_.transform(raw)

    def _category_encoder(self, table, position, role: str) -> CategoryEncoder:
        what = f"{role} {column_label(table, position)}"
        return CategoryEncoder(
            what,
            table.columns[position],
            self.handle_unknown,
            # Only partial_fit declares categories by dtype: a stream.
            streamed=self.declare_dtypes,
        )

    @staticmethod
    def _codes(table, positions, encoders) -> np.ndarray:
        """One column of codes per encoder: shape (n_rows, len(encoders))."""
        codes = np.empty((len(table), len(encoders)), dtype=np.int64)
        for j, (position, encoder) in enumerate(zip(positions, encoders, strict=True)):
            codes[:, j] = encoder.encode(table.iloc[:, position])
        return codes

    def _fit_codes(self, table, positions, encoders) -> np.ndarray:
        """:meth:`_codes`, fitting each encoder (on its declared values,
        where there are some)."""
        codes = np.empty((len(table), len(encoders)), dtype=np.int64)
        for j, (position, encoder) in enumerate(zip(positions, encoders, strict=True)):
            column = table.iloc[:, position]
            codes[:, j] = encoder.fit(column, self._declared(table, position))
        return codes

    def _declared(self, table: pd.DataFrame, position: int):
        """The values declared for the column at ``position``, or None."""
        name = table.columns[position]
        for key in (name, position):
            if self.categories and key in self.categories:
                return self.categories[key]
        column = table.iloc[:, position]
        if self.declare_dtypes and isinstance(column.dtype, pd.CategoricalDtype):
            return column.cat.categories
        return None

    def _check_declared_columns(self, table: pd.DataFrame) -> None:
        """``categories`` may only name context and categorical columns."""
        if not self.categories:
            return
        coded = self.context_positions_ + self.categorical_positions_
        names = [table.columns[i] for i in coded]
        wrong = [k for k in self.categories if k not in names and k not in coded]
        if wrong:
            raise ValueError(
                f"categories names {preview(wrong)}, which are not categorical "
                f"context or categorical feature columns of X ({preview(names)}); "
                "declare values only for those."
            )
        _check_declared_once(table, self.categories, coded)

    @staticmethod
    def _numeric_matrix(table: pd.DataFrame, positions: list[int]) -> np.ndarray:
        # Filled column by column: a list of the columns and its stacked
        # copy held the table twice.
        values = np.empty((len(table), len(positions)))
        for j, position in enumerate(positions):
            values[:, j] = _numeric_column(table, position)
        _check_no_infinity(values, [column_label(table, i) for i in positions])
        return values
