"""Known attributes of a categorical context's values (``context_attributes``).

A table indexed by the values of a context column (a store's size and
region, a sensor model's range) gives each value a row of numbers that the
generator reads next to the value's own embedding. A value listed in the
table but absent from the training rows still has its attributes, so it gets
a layer made from them instead of the average "unknown" one.

:class:`AttributeTable` checks the user's table and encodes it: numeric
columns standardised with the statistics of the values seen at fit,
categorical ones one-hot over the values the table lists. The codes of such
a context column follow :data:`ATTRIBUTE_CODE_LAYOUT`.
"""

from __future__ import annotations

import hashlib
import json
from numbers import Real

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype

from ._categories import mid_sentence, preview, repeated_labels
from ._numeric import NumericEncoder, holds_numbers
from ._plain import frame_from_plain, frame_to_plain

# With attributes, a context column of S values seen at fit and U values
# listed only in the table has 2 * S + 1 + U codes. The network looks up the
# id embedding of code min(code, S) and the attributes of each code.
ATTRIBUTE_CODE_LAYOUT = """\
0 .. S-1        the values seen at fit: id embedding and attributes
S               unknown (unseen and not listed): unknown embedding, zero attributes
S+1 .. 2S       the seen values with their id hidden (training only): unknown
                embedding and the value's attributes
2S+1 .. 2S+U    values listed in the table but not seen at fit: unknown
                embedding and their attributes"""


class AttributeTable:
    """The encoded attributes of one context column's values.

    Parameters
    ----------
    table : DataFrame
        Indexed by the column's values; numeric (bool included) or
        categorical (``category``, ``string``, ``object`` of strings)
        attribute columns, no missing values.
    what : str
        How messages name the context column.

    Attributes
    ----------
    matrix_ : ndarray of shape (n_seen + n_listed_only, n_attributes_out)
        Encoded attributes of the values seen at fit (in their code order),
        then of the values listed only in the table.
    listed_only_ : ndarray
        The values listed in the table but not seen at fit, in table order.
    """

    def __init__(self, table, what: str):
        self.table = table
        self.what = what

    @property
    def _named(self) -> str:
        """The context column as messages name it mid-sentence."""
        return mid_sentence(self.what)

    def fit(self, seen: np.ndarray) -> AttributeTable:
        """Encode the table for the context values ``seen`` at fit (in code
        order: those of the training rows and any declared in
        ``categories``); every one of them must be listed."""
        table = self._checked_table()
        absent = [value for value in seen if value not in table.index]
        if absent:
            raise ValueError(
                f"context_attributes for {self._named} has no row for "
                f"{preview(absent)}, a value of the training data (or declared "
                "in categories). Give every such context value a row of "
                "attributes."
            )
        seen_index = pd.Index(seen)
        self.listed_only_ = np.asarray(
            [value for value in table.index if value not in seen_index], dtype=object
        )
        rows = table.loc[list(seen) + list(self.listed_only_)]
        self.columns_ = list(table.columns)
        self.numeric_ = [c for c in table.columns if _is_numeric(table[c])]
        values = rows[self.numeric_].to_numpy(dtype=np.float64)
        # Standardised as X's numeric columns are, with statistics of the
        # seen values: finite for any finite attribute, and an extreme one
        # (1e30 for a value listed only here) clipped instead of turning
        # its generated layer into NaN.
        standardiser = NumericEncoder("standard").fit(values[: len(seen)])
        self.mean_, self.scale_ = standardiser.mean_, standardiser.scale_
        self.levels_ = {
            c: _sorted_levels(table[c]) for c in table.columns if c not in self.numeric_
        }
        self.matrix_ = self._encode(rows, standardiser.transform(values))
        return self

    @property
    def n_outputs(self) -> int:
        return self.matrix_.shape[1]

    @property
    def state_keys(self) -> list:
        """The column names that key the fitted state's dicts (those of the
        categorical attributes); empty before fit. A saver that stores dict
        keys in a restricted form (skops: JSON keys) checks these."""
        return list(getattr(self, "levels_", {}))

    def _encode(self, rows: pd.DataFrame, standardised: np.ndarray) -> np.ndarray:
        parts = [standardised]
        for column, levels in self.levels_.items():
            parts.append(
                (rows[column].to_numpy()[:, None] == levels[None, :]).astype(float)
            )
        return np.hstack(parts).astype(np.float32)

    def _checked_table(self) -> pd.DataFrame:
        table = self.table
        if not isinstance(table, pd.DataFrame):
            raise TypeError(
                f"context_attributes for {self._named} must be a DataFrame "
                f"indexed by the context values; got {type(table).__name__}."
            )
        if table.shape[1] == 0:
            raise ValueError(
                f"context_attributes for {self._named} has no attribute columns."
            )
        repeated = repeated_labels(table.columns)
        if repeated:
            raise ValueError(
                f"context_attributes for {self._named} has the column(s) "
                f"{preview(repeated)} more than once; give each "
                "attribute one column (rename or drop the repeats)."
            )
        table = _numbers_as_floats(table)
        if table.index.hasnans:
            raise ValueError(
                f"context_attributes for {self._named} has a missing value in "
                "its index; every row must be indexed by a context value."
            )
        repeated = repeated_labels(table.index)
        if repeated:
            raise ValueError(
                f"context_attributes for {self._named} lists "
                f"{preview(repeated)} more than once; give "
                "each context value one row."
            )
        for column in table.columns:
            self._check_column(table[column])
        return table

    def _check_column(self, column: pd.Series) -> None:
        name = f"context_attributes column {column.name!r} (for {self._named})"
        if column.isna().any():
            missing = list(column.index[column.isna().to_numpy()])
            raise ValueError(
                f"The {name} has missing values, for {preview(missing)}; fill "
                "them (for example with the column's median) first."
            )
        if _is_numeric(column):
            if not np.isfinite(column.to_numpy(dtype=np.float64)).all():
                raise ValueError(f"The {name} holds infinite values.")
            return
        values = column.to_numpy()
        if not all(isinstance(v, (str, Real)) for v in values):
            raise TypeError(
                f"The {name} must hold numbers or category labels (strings); "
                f"it holds {type(values[0]).__name__} values."
            )

    def __getstate__(self) -> dict:
        # The user's DataFrame is not kept: what predict needs is encoded.
        state = dict(self.__dict__)
        state.pop("table", None)
        return state


def _numbers_as_floats(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns that hold only numbers (from a transposed or
    row-by-row built table, or JSON) as float64, as X's own object columns
    of numbers are read: one-hot levels would lose their size and order."""
    numbers = [
        c
        for c in table.columns
        if is_object_dtype(table[c].dtype) and holds_numbers(table[c].to_numpy())
    ]
    if not numbers:
        return table
    return table.astype({c: np.float64 for c in numbers})


def _is_numeric(column: pd.Series) -> bool:
    return is_bool_dtype(column.dtype) or (
        is_numeric_dtype(column.dtype)
        and not isinstance(column.dtype, pd.CategoricalDtype)
    )


def _sorted_levels(column: pd.Series) -> np.ndarray:
    levels = pd.unique(column.astype(object))
    return np.asarray(sorted(levels, key=lambda v: (type(v).__name__, v)), dtype=object)


# -- the parameter as plain data, for __getstate__ (skops stores no pandas) ----

_PLAIN_MARK = "skhyper.context_attributes"


def attributes_to_plain(given):
    """``context_attributes`` (a DataFrame or a dict of them) as lists and
    strings only; :func:`attributes_from_plain` rebuilds it."""
    if isinstance(given, pd.DataFrame):
        return {_PLAIN_MARK: [[None, frame_to_plain(given)]], "single": True}
    if isinstance(given, dict) and all(
        isinstance(t, pd.DataFrame) for t in given.values()
    ):
        items = [[key, frame_to_plain(table)] for key, table in given.items()]
        return {_PLAIN_MARK: items, "single": False}
    return given


def attributes_digest(given) -> str | None:
    """A fingerprint of ``context_attributes`` (a DataFrame or a dict of
    them): equal for equal tables (values, dtypes, index, names and order),
    also after a save and load; None for anything else, or where a value has
    no exact plain form (then nothing can be compared)."""
    plain = attributes_to_plain(given)
    if plain is given:  # not tables
        return None
    try:
        text = json.dumps(plain, default=_refuse)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _refuse(value):
    raise TypeError(f"no exact plain form for {type(value).__name__}")


def attributes_from_plain(plain):
    if not (isinstance(plain, dict) and _PLAIN_MARK in plain):
        return plain
    tables = {key: frame_from_plain(table) for key, table in plain[_PLAIN_MARK]}
    return next(iter(tables.values())) if plain["single"] else tables
