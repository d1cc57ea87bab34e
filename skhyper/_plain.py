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
    a Series' index (in the same form) after them; anything else as
    ``[None, None, None, values]``. :func:`values_from_plain` rebuilds it."""
    kind = pandas_kind(values)
    if kind is None:
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
    index = None if index is None else values_from_plain(*index)
    try:
        return _built(kind, items, dtype_from_plain(dtype), name, index)
    except (TypeError, ValueError):
        # A dtype this pandas cannot build from its name (from another
        # pandas version): the same values, with the dtype pandas infers.
        return _built(kind, items, None, name, index)


def frame_to_plain(frame: pd.DataFrame) -> dict:
    """A DataFrame's index and columns, each with its dtype, as plain data;
    :func:`frame_from_plain` rebuilds it."""
    return {
        "index": _plain_items(frame.index),
        "index_name": frame.index.name,
        "index_dtype": dtype_to_plain(frame.index.dtype),
        "columns": [
            [name, dtype_to_plain(frame[name].dtype), _plain_items(frame[name])]
            for name in frame.columns
        ],
    }


def frame_from_plain(plain: dict) -> pd.DataFrame:
    # Tables saved before "index_dtype" was stored rebuild a plain Index.
    index = values_from_plain(
        "index", plain.get("index_dtype"), plain["index_name"], plain["index"]
    )
    columns = {
        name: values_from_plain("series", dtype, name, items)
        for name, dtype, items in plain["columns"]
    }
    return pd.DataFrame(columns).set_axis(index)


def _built(kind: str, items: list, dtype, name, index: pd.Index | None):
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
    if isinstance(item, (pd.Timestamp, pd.Timedelta, pd.Period)):
        # The saved dtype parses the text back exactly (to the nanosecond,
        # with its time zone): a Series indexed by dates still saves.
        return str(item)
    return item.item() if isinstance(item, np.generic) else item
