"""Export a fitted estimator, data encoding included, to ONNX.

:func:`to_onnx` writes the whole prediction pipeline, from the raw columns
of ``X`` to the outputs of ``predict_proba`` / ``predict``, as one ONNX graph
that onnxruntime (or any ONNX runtime with the ``ai.onnx.ml`` domain) runs
without torch, skorch, pandas or scikit-learn. :func:`onnx_inputs` turns a
table into the dict that ``InferenceSession.run`` takes.

The graph is built operator by operator with ``onnx.helper`` from the fitted
encoders and the network's weights (``torch.onnx`` would export the network
alone, not the encoding of strings, missing values and quantiles).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, validate_data

from ._categories import preview
from ._compat import import_onnx
from ._encoding import as_table

# How onnx_inputs feeds a missing category: values no fitted category may
# take (to_onnx checks), so that the graph treats them as unseen, as predict
# does with handle_unknown="learned"; a missing float category is NaN.
MISSING_STRING = "\x00missing"
MISSING_INT64 = np.iinfo(np.int64).min

# With handle_unknown="error", the graph's category lookup (an ai.onnx.ml
# LabelEncoder) maps an unseen value to this code, out of range of every
# embedding and weight table: onnxruntime's Gather then fails. onnx_inputs
# tells such a lookup by this default and checks the values first.
UNSEEN_ERROR_CODE = 2**31 - 1


def to_onnx(estimator, X=None):
    """Export a fitted skhyper estimator to an ONNX model.

    The graph reproduces ``predict_proba`` and ``predict`` (classifiers) or
    ``predict`` (regressors) from the raw columns: the encoding of context
    and categorical columns, the filling, flagging and encoding of numeric
    columns, the network in eval mode (no dropout) and the last step
    (softmax, or the regressor's de-standardisation).

    **Inputs.** One input per column of ``X``, in the column order of
    ``fit``, each of shape ``[N, 1]``, named like the columns (as skl2onnx
    names a DataFrame's); without string column names (a NumPy array),
    ``x0``, ``x1``, .... Numeric columns are ``tensor(double)``, so that
    standardisation sees the same float64 values as ``predict`` and rounds to
    float32 only where the estimator does; NaN is a missing value, filled
    with the training median and flagged as in ``fit``. A context or
    categorical column is ``tensor(string)`` when its categories are
    strings, ``tensor(int64)`` when they are integers and ``tensor(double)``
    when they are floats (e.g. a float column of an array used as the
    context). :func:`onnx_inputs` builds these inputs from a table.

    **Outputs.** Classifiers: ``label`` (shape ``[N]``, the ``classes_``
    dtype: int64, double, bool or string) and ``probabilities`` (``[N,
    n_classes]``, double, columns in ``classes_`` order; a plain tensor, not
    skl2onnx's list of dicts). Regressors: ``variable`` (``[N, n_outputs]``,
    double; ``predict`` gives the same values, 1-D for one target).

    **Unseen values.** With ``handle_unknown="learned"``, an unseen context
    or category gets the learned unknown code, as in ``predict``. With
    ``handle_unknown="error"``, :func:`onnx_inputs` raises a ValueError
    naming the column and the values, as ``predict`` does; it reads the
    known values from the graph's own category lookup. In the graph, such
    a value gets a code outside every table, so that a feed built without
    :func:`onnx_inputs` (a server in another language) makes
    ``InferenceSession.run`` fail with onnxruntime's ``InvalidArgument``
    ("indices element out of data bounds"); check values there first if a
    friendlier message is needed.

    **Precision.** The network runs in float32 as ``predict`` does, or in
    float64 where ``predict`` does (a full-rank generated layer,
    ``generator_rank=None``). The generated layer's weights of every context
    combination are computed here by the fitted generator itself and stored
    in the model, as ``predict`` caches them. The quantile encoding's normal
    scores use an approximation with relative error below 1.2e-9 before the
    float32 rounding. Outputs agree with ``predict_proba`` / ``predict`` to
    about 1e-6 (``tests/test_onnx.py`` requires 1e-5); a regressor's in
    units of its standardised target, so in the target's own units the
    gap scales with ``target_scale_`` (float32 rounding, multiplied back).

    **Missing categories** (None, NaN or ``pd.NA``) follow ``predict``:
    with ``handle_unknown="learned"`` they get the learned unknown code
    (:func:`onnx_inputs` feeds NaN for float categories, else a value no
    category may take, which the graph treats as unseen); with
    ``handle_unknown="error"``, :func:`onnx_inputs` raises a ValueError, and
    such a value fed to the graph directly fails like an unseen one.

    **Differences from predict.** The graph does not validate its input:
    an infinite numeric value is clipped like a huge one where ``predict``
    raises.

    Parameters
    ----------
    estimator : HyperNetworkClassifier, ConcatClassifier, \
HyperNetworkRegressor or ConcatRegressor
        A fitted estimator.
    X : DataFrame or array-like of shape (n_samples, n_features), default=None
        Optional rows like those the model will serve; when given, its
        columns are checked against ``fit``'s (count and names), as
        ``predict`` would.

    Returns
    -------
    model : onnx.ModelProto
        The model; it passes ``onnx.checker.check_model``. Save it with
        ``onnx.save(model, path)``.

    Raises
    ------
    TypeError
        If ``estimator`` is not one of skhyper's estimators.
    ValueError
        If the model was fitted with ``continuous_context`` or
        ``context_attributes`` (the graph holds the layers of the
        categorical context values seen at fit only), if ``X`` has other
        columns than ``fit``, if a context or categorical column holds
        categories that are not all strings, all integers or all floats, if
        the class labels are of another type, or if the generated weights
        of all context combinations exceed what ``predict`` caches (256 MB).

    See Also
    --------
    onnx_inputs : The input feed of the exported model for a table.

    Examples
    --------
    >>> import numpy as np, pandas as pd, onnxruntime
    >>> from skhyper import HyperNetworkClassifier, onnx_inputs, to_onnx
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"reading": rng.normal(size=200),
    ...                   "sensor": rng.choice(["a", "b"], size=200)})
    >>> y = np.where(X["sensor"] == "a", X["reading"] > 0, X["reading"] < 0)
    >>> clf = HyperNetworkClassifier(context_column="sensor", max_epochs=3,
    ...                              hidden_size=8, random_state=0).fit(X, y)
    >>> model = to_onnx(clf, X)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['reading', 'sensor'], ['label', 'probabilities'])
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())
    >>> label, proba = session.run(None, onnx_inputs(model, X))
    >>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-5)
    True
    """
    import_onnx()
    _check_estimator(estimator, X)
    from ._onnx_graph import build_model

    return build_model(estimator, input_names(estimator))


def onnx_inputs(model, X) -> dict[str, np.ndarray]:
    """The inputs of an exported model for the rows of ``X``.

    Each column becomes an ``[N, 1]`` array of the type its model input
    declares: float64 for numeric columns (bool and object columns of
    numbers are converted, None and ``pd.NA`` become NaN), int64 or float64
    for integer or float categories, and an object array of ``str`` for
    string categories (pandas ``category`` columns included). A missing
    category becomes NaN (float categories), ``MISSING_INT64`` (the
    smallest int64) or ``MISSING_STRING`` (``"\\x00missing"``), which the
    model treats as unseen: the learned unknown code, as in ``predict``.
    For a model exported with ``handle_unknown="error"``, an unseen or
    missing category raises a ValueError instead, as ``predict`` does; the
    known values are read from the model's category lookup.

    A DataFrame whose columns include the model's input names is matched
    by name, in any order (other columns are ignored). A DataFrame with
    string column names that lack one of them raises, as ``predict`` does,
    unless the model was fitted without column names (inputs ``x0``,
    ``x1``, ...). Arrays, lists, such models and DataFrames without string
    column names are matched by position.

    Parameters
    ----------
    model : onnx.ModelProto
        A model from :func:`to_onnx`.
    X : DataFrame or array-like of shape (n_samples, n_features)
        The rows to predict, with the columns of ``fit``.

    Returns
    -------
    inputs : dict of str to ndarray
        The feed of ``onnxruntime.InferenceSession.run``.

    Raises
    ------
    ValueError
        If ``X`` has string column names without all the model's input
        names (and the inputs are named from fit), or, matched by position,
        another number of columns than the model has inputs; if a numeric
        or integer-category input's column holds other values; or, for a
        model exported with ``handle_unknown="error"``, if a context or
        categorical column holds a value not seen during fit or a missing
        value, as ``predict`` raises.

    See Also
    --------
    to_onnx : Export the estimator whose inputs these are.

    Examples
    --------
    See :func:`to_onnx`.
    """
    onnx = import_onnx()
    table = as_table(X, "onnx_inputs")
    names = [graph_input.name for graph_input in model.graph.input]
    columns = _columns_for(table, names)
    categories = _error_lookups(model, onnx)
    feed = {}
    for graph_input, column in zip(model.graph.input, columns, strict=True):
        name = graph_input.name
        kind = graph_input.type.tensor_type.elem_type
        values = _input_array(column, kind, name, onnx)
        if name in categories:
            _check_categories(column, values, name, categories[name])
        feed[name] = values.reshape(-1, 1)
    return feed


def input_names(estimator) -> list[str]:
    """The ONNX input names of a fitted estimator's columns."""
    if hasattr(estimator, "feature_names_in_"):
        return [str(name) for name in estimator.feature_names_in_]
    return [f"x{i}" for i in range(estimator.n_features_in_)]


# -- checks and inputs -------------------------------------------------------


def _check_estimator(estimator, X) -> None:
    from ._base import _ContextEstimator

    if not isinstance(estimator, _ContextEstimator):
        raise TypeError(
            "to_onnx exports skhyper's estimators (HyperNetworkClassifier, "
            "ConcatClassifier, HyperNetworkRegressor, ConcatRegressor); got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(estimator, "net_")
    option = _unsupported_fitted_option(estimator.encoder_)
    if option is not None:
        raise ValueError(
            f"to_onnx cannot export a model fitted with {option} yet: the "
            "graph generates the layers of the categorical context values "
            "seen at fit only. Serve it with skhyper.dump/load (skops) or "
            "pickle instead."
        )
    if X is not None:
        table = as_table(X, "to_onnx")
        try:
            validate_data(estimator, table, skip_check_array=True, reset=False)
        except ValueError as error:
            raise ValueError(
                f"{error}\nPass to_onnx the same columns, in the same order, as at fit."
            ) from None


def _unsupported_fitted_option(encoder) -> str | None:
    """The option the fitted encoder uses that the graph cannot reproduce
    (``"continuous_context"`` or ``"context_attributes"``), or None.

    Read from the fitted state, not the parameters: ``set_params`` after
    fit changes a parameter but not the model that ``predict`` runs.
    """
    if encoder.continuous_positions_:
        return "continuous_context"
    if any(table is not None for table in getattr(encoder, "attribute_tables_", [])):
        return "context_attributes"
    return None


def _columns_for(table: pd.DataFrame, names: list[str]) -> list[pd.Series]:
    """The column of ``table`` for each input: by name when the table has
    all the names as columns; else by position, unless the table has string
    column names and the inputs have names from fit."""
    labels = [str(c) for c in table.columns]
    if all(name in labels for name in names):
        return [table.iloc[:, labels.index(name)] for name in names]
    # Named columns that miss an input are the wrong columns, or misspelt:
    # fed by position they would silently give other outputs (predict's
    # feature-name check refuses them too). Inputs x0, x1, ... had no names
    # at fit, so any named columns go by position, as predict takes them
    # (a model fitted on columns named so cannot be told apart).
    if any(isinstance(c, str) for c in table.columns) and not _unnamed(names):
        _raise_unmatched(list(table.columns), names)
    if table.shape[1] != len(names):
        raise ValueError(
            f"X has {table.shape[1]} columns but the model has {len(names)} "
            f"inputs ({', '.join(names[:10])}); pass the columns of fit, in "
            "their order."
        )
    return [table.iloc[:, i] for i in range(len(names))]


def _unnamed(names: list[str]) -> bool:
    """Whether ``names`` are the inputs of a model fitted without column
    names (see :func:`input_names`)."""
    return names == [f"x{i}" for i in range(len(names))]


def _raise_unmatched(columns: list, names: list[str]) -> None:
    labels = [str(c) for c in columns]
    missing = [name for name in names if name not in labels]
    unexpected = [c for c in columns if str(c) not in names]
    listed = f" Columns of X that are not inputs: {preview(unexpected)}."
    raise ValueError(
        "The column names of X should match the model's inputs, the column "
        f"names of fit. Inputs missing from X: {preview(missing)}."
        f"{listed if unexpected else ''} Rename the columns as at fit (a "
        "DataFrame's columns are matched by name), or, if they are in fit's "
        "order, pass X.to_numpy() to feed them by position."
    )


def _input_array(column: pd.Series, kind: int, name: str, onnx) -> np.ndarray:
    types = onnx.TensorProto
    if kind == types.DOUBLE:  # numbers, or float categories: NaN if missing
        return _numeric_array(column, name)
    missing = column.isna().to_numpy()
    if kind == types.STRING:
        values = np.array(column.astype(str), dtype=object)
        values[missing] = MISSING_STRING
        return values
    values = np.array(column, dtype=object)
    values[missing] = MISSING_INT64
    try:
        integers = values.astype(np.int64)
    except (TypeError, ValueError):
        integers = None
    if integers is None or not np.array_equal(integers, values):
        raise ValueError(
            f"Column {name!r} is an input of integer categories but holds "
            f"other values (dtype {column.dtype}); pass its values as at fit."
        )
    return integers


def _error_lookups(model, onnx) -> dict[str, np.ndarray]:
    """The categories of each column input that the graph looks up with
    ``handle_unknown="error"``, by input name.

    They are read from the graph itself: the keys of the LabelEncoder that
    reads the input, when its default (the code of any other value) is
    ``UNSEEN_ERROR_CODE``. That lookup is what decides, at run time,
    whether a value fails, so the check cannot disagree with it. A copy in
    the model's metadata would be a second source of truth, needing a
    format and version of its own, and could go stale when a tool edits or
    strips the model; read from the graph, models exported before this
    check get it too. An input without such a lookup is not checked.
    """
    inputs = {graph_input.name for graph_input in model.graph.input}
    lookups = {}
    for node in model.graph.node:
        if (
            node.op_type == "LabelEncoder"
            and node.domain == "ai.onnx.ml"
            and node.input[0] in inputs
        ):
            attributes = {
                a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
            }
            if _lookup_default(attributes, onnx) == UNSEEN_ERROR_CODE:
                lookups[node.input[0]] = _lookup_keys(attributes, onnx)
    return lookups


def _lookup_default(attributes: dict, onnx) -> int | None:
    if "default_tensor" in attributes:
        return onnx.numpy_helper.to_array(attributes["default_tensor"]).item()
    return attributes.get("default_int64")


def _lookup_keys(attributes: dict, onnx) -> np.ndarray:
    if "keys_strings" in attributes:
        keys = [key.decode("utf-8") for key in attributes["keys_strings"]]
        return np.asarray(keys, dtype=object)
    if "keys_int64s" in attributes:
        return np.asarray(attributes["keys_int64s"], dtype=np.int64)
    return onnx.numpy_helper.to_array(attributes["keys_tensor"])


def _check_categories(
    column: pd.Series, values: np.ndarray, name: str, categories: np.ndarray
) -> None:
    """Raise, as ``predict`` does with ``handle_unknown="error"``, if the
    column holds missing values or values (as fed, ``values``) outside the
    graph's ``categories``."""
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"Column {name!r} has {int(missing.sum())} missing value(s) "
            "(None/NaN/NA), and the model was exported with "
            'handle_unknown="error": missing categories are not guessed. Fill '
            "them with a category seen at fit, drop those rows, or refit with "
            'handle_unknown="learned" (to give them the learned '
            "unknown-category representation) and export again."
        )
    # isin on a Series of the fed dtype: an Index of strings (get_indexer)
    # would first convert 100,000 values, costing several times the feed.
    fed = pd.Series(values, dtype=values.dtype, copy=False)
    unseen = ~fed.isin(categories).to_numpy()  # by position: X's index may differ
    if unseen.any():
        raise ValueError(
            f"Column {name!r} holds value(s) not seen during fit: "
            f"{preview(pd.unique(column[unseen]))}. Known values are "
            f"{preview(categories)}. The model was exported with "
            'handle_unknown="error": drop those rows, or refit with these '
            'values (or with handle_unknown="learned", to predict them with a '
            "learned unknown-category representation) and export again."
        )


def _numeric_array(column: pd.Series, name: str) -> np.ndarray:
    try:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"Column {name!r} is a numeric input but holds non-numeric values "
            f"(dtype {column.dtype})."
        ) from None
