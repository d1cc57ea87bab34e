"""What a continued fit checks before it trains on: ``partial_fit`` after
its first call, and ``fit`` with ``warm_start=True``.

A continued fit keeps the fitted network and encoders, so a parameter
changed with ``set_params`` since could not take effect: the architecture's
(the weights would not fit) and the encoding's (the encoders are kept). It
is an error that names the parameter, as are ``class_weight="balanced"``
computed per chunk. (Malformed ``classes``, new classes and undeclared
values are refused by the classifier and the category encoders themselves.)
"""

from __future__ import annotations

import pandas as pd

from ._attributes import attributes_digest
from ._categories import _sorted_categories
from ._encoding import TableEncoder

# Module parameters that may change between calls: dropout is applied in
# training only, so the fitted weights fit any rate.
_FREE_MODULE_PARAMS = ("dropout",)

# Parameters that the fitted encoder holds as its own attributes.
_ENCODER_PARAMS = (
    "context_column",
    "continuous_context",
    "handle_unknown",
    "numeric_encoding",
    "n_bins",
    "continuous_encoding",
)


def check_unchanged(estimator, module_params: dict, how: str) -> None:
    """Raise if ``set_params`` changed a parameter that the fitted network
    or encoder was built from: training on could not honour it (a network
    of other sizes cannot take the fitted weights; the encoder's categories
    and bins are those of the first call), so say so before any work."""
    changes = _changed_architecture(estimator, module_params)
    changes += _changed_encoding(estimator)
    if not changes:
        return
    listed = "; ".join(
        f"{name} was {_shown(old)} at fit and is {_shown(new)} now"
        for name, old, new in changes
    )
    back = ", ".join(f"{name}={_shown(old)}" for name, old, _ in changes)
    fresh = (
        "fit with warm_start=False"
        if how == "warm_start"
        else "a new estimator's partial_fit"
    )
    call = "A warm-start fit" if how == "warm_start" else "partial_fit"
    raise ValueError(
        f"{call} trains the fitted model on, which keeps the parameters it "
        f"was built with, but set_params changed them: {listed}. Set them "
        f"back (set_params({back})), or train a new model with the new "
        f"values from scratch ({fresh})."
    )


def _changed_architecture(estimator, module_params: dict) -> list[tuple]:
    fitted = estimator.net_.get_params_for("module")
    return [
        (name, fitted[name], value)
        for name, value in module_params.items()
        if name not in _FREE_MODULE_PARAMS
        and name in fitted
        and _comparable(fitted[name]) != _comparable(value)
    ]


def _changed_encoding(estimator) -> list[tuple]:
    encoder = estimator.encoder_
    changes = [
        (name, getattr(encoder, name), getattr(estimator, name))
        for name in _ENCODER_PARAMS
        if hasattr(encoder, name)  # a file from before the parameter
        and _comparable(getattr(encoder, name)) != _comparable(getattr(estimator, name))
    ]
    fitted = _fitted_categories(encoder)
    given = _declared_by_column(encoder, estimator.categories)
    # After a round trip the encoder holds only the declared columns, not
    # the parameter (a Categorical dtype may have declared the others), so
    # only the columns that the parameter names can be compared.
    known = getattr(encoder, "categories", None) is not None
    if (known and given != fitted) or any(
        fitted.get(column) != values for column, values in given.items()
    ):
        changes.append(("categories", fitted or None, estimator.categories))
    if not _same_attributes(encoder, estimator.context_attributes):
        fitted = encoder.context_attributes
        if fitted is None and _has_attribute_tables(encoder):
            fitted = _UNSAVED_TABLES
        changes.append(("context_attributes", fitted, estimator.context_attributes))
    return changes


class _UnsavedTables:
    """What a message shows for the fitted tables after a round trip."""

    def __repr__(self) -> str:
        return "<the tables of fit, which a saved model does not keep>"


_UNSAVED_TABLES = _UnsavedTables()


def _shown(value) -> str:
    """A parameter's value as a message shows it: a table by its shape."""
    if isinstance(value, pd.DataFrame):
        return f"<a DataFrame of shape {value.shape}>"
    if isinstance(value, dict) and any(
        isinstance(v, pd.DataFrame) for v in value.values()
    ):
        return "{" + ", ".join(f"{k!r}: {_shown(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _comparable(value):
    """``value`` with lists as tuples: a saved model may hold either."""
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value


def _fitted_categories(encoder: TableEncoder) -> dict:
    """The declared values of each coded column, by column name: of the
    ``categories`` the encoder was fitted with where it still holds them,
    else (after a round trip) of every column with declared values."""
    if getattr(encoder, "categories", None) is not None:
        return _declared_by_column(encoder, encoder.categories)
    return {
        coder.name: list(coder.categories_)
        for coder in encoder.context_encoders_ + encoder.categorical_encoders_
        if getattr(coder, "declared_", False)
    }


def _declared_by_column(encoder: TableEncoder, categories) -> dict:
    """``categories`` keyed by column name (a key may be a position) with
    each list of values in the encoder's sorted order."""
    names = {
        position: coder.name
        for position, coder in zip(
            encoder.context_positions_ + encoder.categorical_positions_,
            encoder.context_encoders_ + encoder.categorical_encoders_,
            strict=True,
        )
    }
    declared = {}
    for key, values in (categories or {}).items():
        column = key if key in names.values() else names.get(key, key)
        declared[column] = list(_sorted_categories(pd.Series(list(values))))
    return declared


def _same_attributes(encoder: TableEncoder, given) -> bool:
    """Whether ``context_attributes`` is the table(s) the encoder was fitted
    with. After a round trip the encoder keeps only their encoding and a
    digest (the user's tables are not saved): the digests are compared then
    (a file from before the digest cannot tell)."""
    fitted = getattr(encoder, "context_attributes", None)
    if fitted is None and _has_attribute_tables(encoder):
        saved = getattr(encoder, "attributes_digest_", None)
        # Files saved before strings held as object and as str were alike
        # in the digest hold the other form (computed only if needed).
        return (
            saved is None
            or saved == attributes_digest(given)
            or saved == attributes_digest(given, strings_alike=False)
        )
    if fitted is None or given is None:
        return fitted is None and given is None
    if isinstance(fitted, pd.DataFrame) or isinstance(given, pd.DataFrame):
        return (
            isinstance(fitted, pd.DataFrame)
            and isinstance(given, pd.DataFrame)
            and fitted.equals(given)
        )
    return fitted.keys() == given.keys() and all(
        _same_attributes_table(fitted[key], given[key]) for key in fitted
    )


def _has_attribute_tables(encoder: TableEncoder) -> bool:
    return any(t is not None for t in getattr(encoder, "attribute_tables_", []))


def _same_attributes_table(fitted, given) -> bool:
    if isinstance(fitted, pd.DataFrame) and isinstance(given, pd.DataFrame):
        return fitted.equals(given)
    return fitted is given


def check_no_balanced_weights(estimator) -> None:
    """As scikit-learn's ``SGDClassifier``: one chunk cannot say how
    frequent each class is in the whole target."""
    if getattr(estimator, "class_weight", None) != "balanced":
        return
    raise ValueError(
        'class_weight="balanced" needs the class frequencies of the whole '
        "target, which partial_fit never sees (it would weight each chunk by "
        "its own frequencies; a chunk of one class would get no weighting at "
        "all). Compute the weights once and pass them as a dict, e.g. "
        "class_weight=dict(zip(classes, compute_class_weight('balanced', "
        "classes=classes, y=sample_of_y))) with "
        "sklearn.utils.class_weight.compute_class_weight and a fair sample of "
        "the target."
    )
