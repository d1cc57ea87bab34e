"""pandas values as plain data (lists, strings, numbers, None) and back.

The estimators' pandas parameters (``context_attributes``, pandas values in
``categories``) are saved in this form by their ``__getstate__``: skops
stores no pandas object, and one it can store (an ``ArrowStringArray``)
would need pandas and pyarrow types trusted at load. Both parameters go
through the same functions, so that a dtype comes back the same in either,
a categorical one with its declared categories and order.

The forms are what earlier versions wrote, so that their files still load:
a dtype is a string or ``["category", categories, ordered]``; a value is
``[kind, dtype, name, items]``, with a Series' index after them in the same
form; a DataFrame is a dict of its index and its columns.
"""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd

# The pandas containers a value comes in, by how it is rebuilt: an Index
# (X[c].cat.categories), a Series, or an ExtensionArray (X[c].unique(): an
# ArrowStringArray under pandas 3, or a Categorical).
_KINDS = {
    "index": pd.Index,
    "series": pd.Series,
    "array": pd.api.extensions.ExtensionArray,
}


def _object_array(items: list) -> np.ndarray:
    values = np.empty(len(items), dtype=object)
    values[:] = items
    return values


# Plain containers of a parameter's values, rebuilt as they were given.
_SEQUENCES = {"list": list, "tuple": tuple, "ndarray": _object_array}


def _sequence_kind(values) -> str | None:
    if isinstance(values, np.ndarray):
        return "ndarray" if values.dtype == object and values.ndim == 1 else None
    return type(values).__name__ if type(values) in (list, tuple) else None


def dtype_to_plain(dtype) -> str | list:
    """A dtype as its name, or for a categorical one its name, categories
    and order (the name alone would lose the declared categories)."""
    if isinstance(dtype, pd.CategoricalDtype):
        categories = _plain_items(dtype.categories)
        return ["category", categories, bool(dtype.ordered)]
    return str(dtype)


def dtype_from_plain(plain):
    """The dtype that :func:`dtype_to_plain` described (None stays None)."""
    if isinstance(plain, list):
        _, categories, ordered = plain
        categories = [scalar_from_plain(category) for category in categories]
        return pd.CategoricalDtype(categories, ordered=ordered)
    return plain


def pandas_kind(values) -> str | None:
    """``"index"``, ``"series"`` or ``"array"``; None for anything else."""
    for kind, container in _KINDS.items():
        if isinstance(values, container):
            return kind
    return None


def values_to_plain(values) -> list:
    """``[kind, dtype, name, items]`` of an Index, Series or pandas array,
    a Series' index (in the same form) after them; a list, tuple or NumPy
    array holding values that :func:`scalar_to_plain` makes plain (pd.cut's
    intervals, dates) as ``[container, None, None, items]``; anything else
    as ``[None, None, None, values]``. :func:`values_from_plain` rebuilds
    it."""
    kind = pandas_kind(values)
    if kind is None:
        container = _sequence_kind(values)
        items = None if container is None else _scalars_made_plain(values)
        if items is not None:
            return [container, None, None, items]
        return [None, None, None, values]
    name = getattr(values, "name", None)
    plain = [kind, dtype_to_plain(values.dtype), name, _plain_items(values)]
    if kind == "series":
        plain.append(values_to_plain(values.index))
    return plain


def values_from_plain(kind, dtype, name, items, index=None):
    """The value that :func:`values_to_plain` described. Without an
    ``index`` (a Series saved before it was stored), a Series gets the
    default one."""
    if kind is None:
        return items
    if kind in _SEQUENCES:
        return _SEQUENCES[kind]([scalar_from_plain(item) for item in items])
    index = None if index is None else values_from_plain(*index)
    try:
        return _built(kind, items, dtype_from_plain(dtype), name, index)
    except (TypeError, ValueError):
        # A dtype this pandas cannot build from its name (from another
        # pandas version): the same values, with the dtype pandas infers.
        return _built(kind, items, None, name, index)


# What frame_to_plain stores of a table beyond its values, dtypes, index and
# names: the columns' own name, and that the index is a RangeIndex.
FRAME_DETAILS = ("columns_name", "index_range")


def frame_to_plain(frame: pd.DataFrame) -> dict:
    """A DataFrame's index and columns, each with its dtype, as plain data;
    :func:`frame_from_plain` rebuilds it."""
    plain = {
        "index": _plain_items(frame.index),
        "index_name": frame.index.name,
        "index_dtype": dtype_to_plain(frame.index.dtype),
        "columns": [
            [name, dtype_to_plain(frame[name].dtype), _plain_items(frame[name])]
            for name in frame.columns
        ],
        "columns_name": frame.columns.name,
    }
    if isinstance(frame.index, pd.RangeIndex):  # not an Index of its numbers
        index = frame.index
        plain["index_range"] = [index.start, index.stop, index.step]
    return plain


def frame_from_plain(plain: dict) -> pd.DataFrame:
    # Tables saved before "index_dtype" was stored rebuild a plain Index.
    index = values_from_plain(
        "index", plain.get("index_dtype"), plain["index_name"], plain["index"]
    )
    if "index_range" in plain:
        index = pd.RangeIndex(*plain["index_range"], name=plain["index_name"])
    columns = {
        name: values_from_plain("series", dtype, name, items)
        for name, dtype, items in plain["columns"]
    }
    frame = pd.DataFrame(columns).set_axis(index)
    # Tables saved before the columns' name was stored have none.
    frame.columns.name = plain.get("columns_name")
    return frame


def _built(kind: str, items: list, dtype, name, index: pd.Index | None):
    items = [scalar_from_plain(item) for item in items]
    if kind == "index":
        return pd.Index(items, dtype=dtype, name=name)
    if kind == "series":
        return pd.Series(items, dtype=dtype, name=name, index=index)
    return pd.array(items, dtype=dtype)


def _plain_items(values) -> list:
    """The items of a pandas value as a list of builtins: NumPy scalars
    (``tolist`` keeps some) as Python ones, dates, durations and periods as
    text, and ``pd.NA`` and ``pd.NaT`` as None (skops stores none of these
    pandas scalars)."""
    return [_plain_item(item) for item in values.tolist()]


def _plain_item(item):
    if item is pd.NA or item is pd.NaT:
        return None
    if isinstance(item, (pd.Interval, decimal.Decimal)) or _is_plain_date(item):
        # No dtype parses these back from text (an interval's dtype names
        # only its bounds' type; an object column holds the others).
        return scalar_to_plain(item)
    if isinstance(item, (pd.Timestamp, pd.Timedelta, pd.Period)):
        # The saved dtype parses the text back exactly (to the nanosecond,
        # with its time zone): a Series indexed by dates still saves.
        return str(item)
    return item.item() if isinstance(item, np.generic) else item


# -- single values: a context value that is an object skops would refuse ---------

# Context values (categories_, listed_only_) that skops would store as pandas
# or standard-library objects, whose types load does not trust (pd.cut's
# intervals, dates, decimals), are stored as a list marked with this tag and
# the value's kind; a context value is never a list (_categories refuses
# containers), so the mark cannot be a user's value.
_SCALAR_TAG = "skhyper.value"


def scalar_to_plain(item):
    """``item`` as a tagged list of builtins when it is an interval,
    timestamp, duration, period, date or time, or decimal that comes back
    equal (with its type and time zone) from :func:`scalar_from_plain`;
    anything else as it is."""
    try:
        plain = _tagged(item)
        if plain is None:
            return item
        back = scalar_from_plain(plain)
    except (TypeError, ValueError, LookupError, OverflowError):
        # E.g. a zone not known by its name (ZoneInfoNotFoundError), or a
        # date beyond nanoseconds' range (9999-12-31: OutOfBoundsDatetime).
        return item
    same_zone = str(getattr(back, "tzinfo", None)) == str(getattr(item, "tzinfo", None))
    if type(back) is type(item) and back == item and same_zone:
        return plain
    return item  # e.g. a time zone its name does not rebuild: kept as it is


def scalar_from_plain(plain):
    """The value that :func:`scalar_to_plain` tagged (anything else as it
    is)."""
    if not (isinstance(plain, list) and plain and plain[0] == _SCALAR_TAG):
        return plain
    kind, *parts = plain[1:]
    return _REBUILD[kind](*parts)


def objects_to_plain(values: np.ndarray):
    """An object array of context values, as a marked list where
    :func:`scalar_to_plain` changes any of its items (the array itself
    where it changes none, as files written before held)."""
    plain = _scalars_made_plain(values)
    return values if plain is None else {_SCALAR_TAG: plain}


def arrays_to_plain(state: dict, keys: tuple[str, ...]) -> dict:
    """``state`` (an object's ``__getstate__``) with its object arrays of
    context values under ``keys`` made plain (:func:`objects_to_plain`)."""
    return {k: objects_to_plain(v) if k in keys else v for k, v in state.items()}


def arrays_from_plain(state: dict, keys: tuple[str, ...]) -> dict:
    """What :func:`arrays_to_plain` made plain, rebuilt."""
    return {k: objects_from_plain(v) if k in keys else v for k, v in state.items()}


def _scalars_made_plain(values) -> list | None:
    """The items of ``values`` through :func:`scalar_to_plain`, or None
    where it changes none of them (nothing to store otherwise)."""
    items = [scalar_to_plain(item) for item in values]
    if any(p is not v for p, v in zip(items, values, strict=True)):
        return items
    return None


def objects_from_plain(plain):
    """The object array that :func:`objects_to_plain` made plain."""
    if not (isinstance(plain, dict) and _SCALAR_TAG in plain):
        return plain
    return _object_array([scalar_from_plain(item) for item in plain[_SCALAR_TAG]])


def _is_plain_date(item) -> bool:
    # pd.Timestamp is a datetime, and a datetime is a date.
    return isinstance(item, (datetime.date, datetime.time)) and not isinstance(
        item, pd.Timestamp
    )


def _tagged(item) -> list | None:
    if isinstance(item, pd.Interval):
        left, right = scalar_to_plain(item.left), scalar_to_plain(item.right)
        return [_SCALAR_TAG, "interval", left, right, item.closed]
    if isinstance(item, pd.Timestamp):
        zone = None if item.tz is None else str(item.tz)
        return [_SCALAR_TAG, "timestamp", item.as_unit("ns").value, item.unit, zone]
    if isinstance(item, pd.Timedelta):
        return [_SCALAR_TAG, "timedelta", item.as_unit("ns").value, item.unit]
    if isinstance(item, pd.Period):
        return [_SCALAR_TAG, "period", str(item), item.freqstr]
    if isinstance(item, decimal.Decimal):
        return [_SCALAR_TAG, "decimal", str(item)]
    if _is_plain_date(item):
        return [_SCALAR_TAG, type(item).__name__, item.isoformat()]
    return None


_REBUILD = {
    "interval": lambda left, right, closed: pd.Interval(
        scalar_from_plain(left), scalar_from_plain(right), closed=closed
    ),
    "timestamp": lambda ns, unit, zone: pd.Timestamp(ns, tz=zone).as_unit(unit),
    "timedelta": lambda ns, unit: pd.Timedelta(ns).as_unit(unit),
    "period": lambda text, freq: pd.Period(text, freq=freq),
    "decimal": decimal.Decimal,
    "date": datetime.date.fromisoformat,
    "datetime": datetime.datetime.fromisoformat,
    "time": datetime.time.fromisoformat,
}
