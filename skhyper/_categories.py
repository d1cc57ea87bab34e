"""Integer codes for one categorical column: a context or a categorical
feature.

Values seen during fit get the codes ``0 .. n_categories - 1`` (in sorted
order); with ``handle_unknown="learned"`` any other value gets the extra
code ``n_categories``, whose embedding the network learns. Missing values
(None, NaN, ``pd.NA``) get that code too with ``handle_unknown="learned"``,
at fit and at predict: "not a known category" is what the unknown embedding
learns. With ``handle_unknown="error"`` they are an error, because guessing
a category for them would be silent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype

from ._plain import arrays_from_plain, arrays_to_plain


def preview(values, limit: int = 5) -> str:
    """A short, readable list of values for an error message."""
    # NumPy scalars as plain Python values: 0.5, not np.float64(0.5).
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def repeated_labels(labels: pd.Index) -> list:
    """The labels that occur more than once, each once, in order (for a
    message about repeated column names or index values)."""
    return list(pd.unique(labels[labels.duplicated()]))


def mid_sentence(what: str) -> str:
    """How a column named at the start of a message (``"The context column
    'c'"``) reads inside one (``"the context column 'c'"``)."""
    return what[:1].lower() + what[1:]


def _explain_unhashable(values: np.ndarray, what: str) -> None:
    """After hashing ``values`` failed: name the dict, list or other
    unhashable value that made it fail."""
    for value in values:
        if not pd.api.types.is_hashable(value) or not pd.api.types.is_scalar(value):
            raise TypeError(
                f"{what} holds {value!r} of type {type(value).__name__}: each "
                "argument must be a string or a number."
            )


# Values that hash but hold several values: as a context value a tuple
# would read as one value per context column (generated_weights), and as
# an index label as a MultiIndex row.
_CONTAINERS = (tuple, list, set, frozenset, dict, np.ndarray)


# What pandas infers for values that hold no container: those need no scan.
_SCALAR_KINDS = frozenset(
    {"string", "bytes", "integer", "floating", "mixed-integer-float", "decimal",
     "boolean", "empty", "datetime", "datetime64", "date", "time", "timedelta",
     "timedelta64", "period", "interval", "categorical"}
)  # fmt: skip


def _reject_containers(values: np.ndarray, what: str) -> None:
    """Raise a TypeError naming the first tuple, list or other container
    among ``values`` (an object array). Only values that pandas infers as
    of mixed kinds ("mixed", "mixed-integer", ...) are scanned one by one."""
    if pd.api.types.infer_dtype(values, skipna=True) in _SCALAR_KINDS:
        return
    for value in values:
        if isinstance(value, _CONTAINERS):
            raise TypeError(
                f"{what} holds {value!r} of type {type(value).__name__}: each "
                "value must be a string or a number. Join a pair of values "
                "into one (e.g. 's1|2'), or pass them as two context columns."
            )


def lookup_index(values) -> pd.Index:
    """An index that finds each of ``values`` by equality. pandas makes
    intervals (``pd.cut``'s bins) an IntervalIndex, which finds a number
    by the bin that holds it and cannot look up overlapping intervals at
    all; an object index of them finds an interval by itself."""
    index = pd.Index(values)
    if isinstance(index, pd.IntervalIndex):
        return pd.Index(np.asarray(values, dtype=object), dtype=object)
    return index


def _sorted_categories(values) -> np.ndarray:
    unique = np.asarray(pd.unique(values), dtype=object)
    try:
        ordered = sorted(unique)
    except TypeError:  # mixed types, e.g. ints and strings
        ordered = sorted(unique, key=lambda v: (type(v).__name__, str(v)))
    return np.asarray(ordered, dtype=object)


# The fitted arrays of context values, saved by __getstate__ as plain data.
_VALUE_ARRAYS = ("categories_", "listed_only_")


class CategoryEncoder:
    """Codes for the values of one column.

    Parameters
    ----------
    what : str
        How messages name the column, e.g. ``"The context column 'sensor'"``.
    name : object
        The column's key in ``X``, for the suggested fix.
    handle_unknown : {"error", "learned"}
    streamed : bool, default=False
        Fitted by a first ``partial_fit`` call: an unseen value's message
        then says to declare every value up front, not to refit.
    """

    def __init__(self, what: str, name, handle_unknown: str, streamed: bool = False):
        self.what = what
        self.name = name
        self.handle_unknown = handle_unknown
        self.streamed = streamed

    def fit(self, column: pd.Series, declared=None) -> np.ndarray:
        """Learn the categories of ``column`` and return its codes; with
        ``declared`` values, those are the categories, and a value of
        ``column`` outside them is unseen (``handle_unknown``)."""
        if declared is not None:
            return self._declare(declared, column)
        missing = self._check(column)
        if is_object_dtype(column.dtype):
            _reject_containers(column.to_numpy()[~missing], self.what)
        if missing.all():
            raise ValueError(
                f"{self.what} has only missing values (None/NaN/NA): there "
                "is no category to learn. Fill them with explicit categories."
            )
        self.categories_ = self._hashed(column[~missing], _sorted_categories)
        self._index = lookup_index(self.categories_)
        codes = self._index.get_indexer(column).astype(np.int64)
        codes[missing] = self.unknown_code
        return codes

    def _declare(self, declared, column: pd.Series) -> np.ndarray:
        if isinstance(declared, (str, bytes)):
            # list("abc") would declare 'a', 'b' and 'c'.
            raise TypeError(
                f"The categories declared for {mid_sentence(self.what)} must be "
                f"a list of values, not the string {declared!r}; e.g. "
                f"[{declared!r}] for a single value."
            )
        try:
            values = pd.Series(list(declared), dtype=object)
        except TypeError:  # not iterable, e.g. a number
            raise TypeError(
                f"The categories declared for {mid_sentence(self.what)} must be "
                f"a list of values, not {declared!r} of type "
                f"{type(declared).__name__}; e.g. [{declared!r}] for a single "
                "value."
            ) from None
        _reject_containers(
            values.to_numpy(), f"The categories declared for {mid_sentence(self.what)}"
        )
        if values.isna().any() or not len(values):
            raise ValueError(
                f"The categories declared for {mid_sentence(self.what)} must be a "
                "non-empty list of values without missing ones."
            )
        self.categories_ = _sorted_categories(values)
        self._index = lookup_index(self.categories_)
        self.declared_ = True
        return self.encode(column)

    @property
    def unknown_code(self) -> int:
        return len(self.categories_)

    def __getstate__(self) -> dict:
        # The pandas Index is rebuilt from categories_ on load: skops stores
        # only plain values and arrays. Values such as pd.cut's intervals or
        # dates are stored as plain data, so that load trusts no pandas type.
        state = {key: value for key, value in self.__dict__.items() if key != "_index"}
        return arrays_to_plain(state, _VALUE_ARRAYS)

    def __setstate__(self, state: dict) -> None:
        state = arrays_from_plain(state, _VALUE_ARRAYS)
        self.__dict__.update(state)
        if "categories_" in state:
            self._index = lookup_index(self.categories_)

    def list_values(self, values: np.ndarray) -> None:
        """Give ``values``, not seen at fit but listed in the column's
        ``context_attributes``, codes of their own after the seen values'
        (see ``_attributes.ATTRIBUTE_CODE_LAYOUT``)."""
        self.listed_only_ = np.asarray(values, dtype=object)

    def encode(self, column: pd.Series) -> np.ndarray:
        """Codes of ``column``; unseen values follow ``handle_unknown``."""
        missing = self._check(column)
        codes = self._hashed(column, self._index.get_indexer).astype(np.int64)
        unseen = (codes < 0) & ~missing
        listed = getattr(self, "listed_only_", None)
        if unseen.any() and listed is not None and len(listed):
            position = lookup_index(listed).get_indexer(column[unseen])
            found = position >= 0
            first = 2 * len(self.categories_) + 1
            codes[np.flatnonzero(unseen)[found]] = first + position[found]
            unseen = (codes < 0) & ~missing
        if unseen.any():
            if self.handle_unknown == "error" and getattr(self, "declared_", False):
                raise ValueError(
                    f"{self.what} holds value(s) that were not declared: "
                    f"{preview(pd.unique(column[unseen]))}. "
                    f"{self._known_values('Declared')} Declare every value up "
                    "front (the categories parameter, or the column's pandas "
                    'Categorical dtype), or pass handle_unknown="learned" to '
                    "predict them with a learned unknown-category "
                    "representation."
                )
            if self.handle_unknown == "error":
                raise ValueError(self._unseen_message(pd.unique(column[unseen])))
        codes[codes < 0] = self.unknown_code
        return codes

    def _known_values(self, which: str = "Known") -> str:
        """The values ``encode`` accepts, as a sentence: the categories and
        any listed only in the column's ``context_attributes``."""
        known = f"{which} values are {preview(self.categories_)}"
        listed = getattr(self, "listed_only_", ())
        if not len(listed):
            return known + "."
        return (
            f"{known}, and {preview(listed)} through their rows in context_attributes."
        )

    def _unseen_message(self, unseen) -> str:
        known = self._known_values()
        learned = (
            'handle_unknown="learned" to predict them with a learned '
            "unknown-category representation."
        )
        # getattr: encoders pickled before streamed existed.
        if not getattr(self, "streamed", False):
            return (
                f"{self.what} holds value(s) not seen during fit: "
                f"{preview(unseen)}. {known} Refit with these values, or pass "
                f"{learned}"
            )
        # A stream's first call fixed the categories; a refit of the same
        # stream would fix them the same way.
        return (
            f"{self.what} holds value(s) not seen when the model was first "
            f"fitted: {preview(unseen)}. {known} The first fit or partial_fit "
            "call fixes the categories: declare every value up front in a new "
            f"estimator, with categories={{{self.name!r}: [...all values...]}} "
            f"or a pandas Categorical column with all categories, or give it {learned}"
        )

    def _hashed(self, column: pd.Series, operation):
        """``operation(column)``, which hashes the values; an unhashable
        value gets a TypeError that names it."""
        try:
            return operation(column)
        except TypeError:
            if is_object_dtype(column.dtype):
                _explain_unhashable(column.to_numpy(), self.what)
            raise

    def _check(self, column: pd.Series) -> np.ndarray:
        """Reject infinite values, and missing ones unless
        ``handle_unknown="learned"``; return the mask of missing values."""
        missing = column.isna().to_numpy()
        if missing.any() and self.handle_unknown == "error":
            raise ValueError(
                f"{self.what} has {int(missing.sum())} missing value(s) "
                "(None/NaN/NA). Missing categories are not guessed: fill them "
                f'with an explicit category, e.g. X[{self.name!r}].fillna("missing"), '
                'drop those rows, or pass handle_unknown="learned" to give '
                "them the learned unknown-category representation."
            )
        if column.dtype.kind in "fO":
            values = column.to_numpy()[~missing]
            infinite = np.asarray((values == np.inf) | (values == -np.inf), dtype=bool)
            if infinite.any():
                raise ValueError(
                    f"{self.what} holds infinite value(s) "
                    f"{preview(pd.unique(values[infinite]))}; a category must "
                    "be a finite value."
                )
        return missing
