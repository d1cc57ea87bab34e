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

import datetime
import hashlib
import json
from numbers import Real

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype

from ._categories import lookup_index, mid_sentence, preview, repeated_labels
from ._numeric import NumericEncoder, holds_numbers
from ._plain import (
    FRAME_DETAILS,
    arrays_from_plain,
    arrays_to_plain,
    frame_from_plain,
    frame_to_plain,
)

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
        seen = np.asarray(seen, dtype=object)
        rows = self._rows(table, seen)
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

    def _rows(self, table: pd.DataFrame, seen: np.ndarray) -> pd.DataFrame:
        """The rows of the values ``seen`` (in their order), then those of
        the values listed only in the table (``listed_only_``)."""
        # Found by label: .loc would read a list of bools (a bool context's
        # values) as a row mask.
        positions = lookup_index(table.index).get_indexer(seen)
        if (positions < 0).any():
            raise ValueError(self._absent_message(seen[positions < 0], table.index))
        listed_only = np.ones(len(table), dtype=bool)
        listed_only[positions] = False
        self.listed_only_ = np.asarray(list(table.index[listed_only]), dtype=object)
        return table.iloc[np.concatenate([positions, np.flatnonzero(listed_only)])]

    def _absent_message(self, absent: np.ndarray, index: pd.Index) -> str:
        """Why the values ``absent`` have no row in a table of ``index``."""
        text = (
            f"context_attributes for {self._named} has no row for "
            f"{preview(absent)}, a value of the training data (or declared "
            "in categories)."
        )
        return text + (
            _type_mismatch(absent, index)
            or " Give every such context value a row of attributes."
        )

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
        if isinstance(table.index, pd.MultiIndex):
            raise ValueError(
                f"context_attributes for {self._named} has a MultiIndex "
                f"({table.index.nlevels} levels); index the table by the context "
                "column's values alone (one level), e.g. with "
                "table.droplevel(...) or table.reset_index().set_index(<column>)."
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
        _check_kind(column, name)
        missing = column.isna().to_numpy()
        if len(missing) and missing.all():
            raise ValueError(
                f"The {name} has only missing values; drop the column, or "
                "fill it with a value."
            )
        if missing.any():
            raise ValueError(
                f"The {name} has missing values, for "
                f"{preview(list(column.index[missing]))}; fill them (for example "
                "with the column's median) first."
            )
        if _is_numeric(column):
            if not np.isfinite(column.to_numpy(dtype=np.float64)).all():
                raise ValueError(f"The {name} holds infinite values.")
            return
        other = [v for v in column.to_numpy() if not isinstance(v, (str, Real))]
        if other:
            raise TypeError(
                f"The {name} must hold numbers or category labels (strings); "
                f"it holds {other[0]!r} of type {type(other[0]).__name__}. "
                "Convert such values to "
                f"numbers, or to labels (e.g. table[{column.name!r}].astype(str))."
            )

    def __getstate__(self) -> dict:
        # The user's DataFrame is not kept: what predict needs is encoded.
        state = {key: value for key, value in self.__dict__.items() if key != "table"}
        return arrays_to_plain(state, ("listed_only_",))  # e.g. pd.cut's bins

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(arrays_from_plain(state, ("listed_only_",)))


# Dates, times and durations: a timedelta64 even counts as a numbers.Real,
# and would be one-hot encoded by duration (and stored as pandas objects
# that skhyper.load does not trust).
_TIME_TYPES = (
    datetime.date,
    datetime.time,
    datetime.timedelta,
    np.datetime64,
    np.timedelta64,
    pd.Period,
)


def _check_kind(column: pd.Series, name: str) -> None:
    """Reject complex numbers (their imaginary part would be dropped) and
    dates, times and durations (not numbers until the user says in what
    unit), whether as a dtype or as values of an object column."""
    dtype = column.dtype
    values = column.to_numpy() if is_object_dtype(dtype) else np.empty(0)
    if getattr(dtype, "kind", "") == "c" or any(
        isinstance(v, (complex, np.complexfloating)) for v in values
    ):
        raise ValueError(
            f"Complex data not supported: the {name} holds complex numbers; "
            "give their real and imaginary parts as two columns."
        )
    if (
        getattr(dtype, "kind", "") in "mM"
        or isinstance(dtype, pd.PeriodDtype)
        or any(isinstance(v, _TIME_TYPES) for v in values)
    ):
        shown = f"table[{column.name!r}]"
        raise TypeError(
            f"The {name} holds dates, times or durations ({dtype}), which are "
            "not numbers; convert it to numbers first (e.g. a date to the days "
            f"since a fixed date, ({shown} - pd.Timestamp('2020-01-01')).dt.days, "
            f"or a duration to days, {shown}.dt.days), or drop it."
        )


def _value_kind(value) -> str:
    """What kind of value a context value or index label is, for telling
    apart an index and a column of different types ('1' and 1)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, Real):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _type_name(value) -> str:
    """The Python type of ``value`` (of a NumPy scalar, its Python twin)."""
    return type(value.item() if isinstance(value, np.generic) else value).__name__


def _type_mismatch(absent: np.ndarray, index: pd.Index) -> str:
    """'', or a sentence saying that the table's index and the context
    column hold values of different types (the string '1' is no row for
    the number 1), with how to convert the index."""
    if not len(index):
        return ""
    by_text = {str(label): label for label in index}
    twins = [by_text[str(v)] for v in absent if str(v) in by_text]
    shared_kinds = {_value_kind(v) for v in index} & {_value_kind(v) for v in absent}
    if not twins and shared_kinds:
        return ""
    label = twins[0] if twins else index[0]
    target = _type_name(absent[0])
    example = (
        f", e.g. table.index = table.index.astype({target})"
        if target in ("int", "float", "str")
        else ""
    )
    return (
        f" Its index and the context column hold different types: the index "
        f"{_type_name(label)} values (e.g. {preview([label])}), the column "
        f"{target} values (e.g. {preview(absent[:1])}). Convert the index to "
        f"the column's type{example}."
    )


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


def attributes_digest(given, *, strings_alike: bool = True) -> str | None:
    """A fingerprint of ``context_attributes`` (a DataFrame or a dict of
    them): equal for equal tables (values, dtypes, index, names and order),
    also after a save and load, and under pandas 2 and 3 alike; None for
    anything else, or where a value has no exact plain form (then nothing
    can be compared). ``strings_alike=False`` gives the digest that
    earlier versions saved, in which strings held as ``object`` differ
    from the same strings held as pandas 3's ``str``."""
    plain = attributes_to_plain(given)
    if plain is given:  # not tables
        return None
    # Without what the encoded values do not depend on, so that a digest
    # saved before those details were stored still matches its table.
    for _, table in plain[_PLAIN_MARK]:
        for detail in FRAME_DETAILS:
            table.pop(detail, None)
        if strings_alike:
            _name_string_dtypes_alike(table)
    try:
        text = json.dumps(plain, default=_refuse)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _name_string_dtypes_alike(table: dict) -> None:
    """pandas 2 holds a column (or index) of strings as ``object``, pandas 3
    as ``str``: one name for both, so that a model saved under one version
    and trained on under the other sees the same table as the same."""

    def alike(dtype, items):
        only_strings = items and all(isinstance(item, str) for item in items)
        return "str" if dtype == "object" and only_strings else dtype

    table["index_dtype"] = alike(table.get("index_dtype"), table["index"])
    table["columns"] = [
        [name, alike(dtype, items), items] for name, dtype, items in table["columns"]
    ]


def _refuse(value):
    raise TypeError(f"no exact plain form for {type(value).__name__}")


def attributes_from_plain(plain):
    if not (isinstance(plain, dict) and _PLAIN_MARK in plain):
        return plain
    tables = {key: frame_from_plain(table) for key, table in plain[_PLAIN_MARK]}
    return next(iter(tables.values())) if plain["single"] else tables
