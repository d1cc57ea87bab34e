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

from ._compat import import_onnx
from ._encoding import as_table

# How onnx_inputs feeds a missing category: values no fitted category may
# take (to_onnx checks), so that the graph treats them as unseen, as predict
# does with handle_unknown="learned"; a missing float category is NaN.
MISSING_STRING = "\x00missing"
MISSING_INT64 = np.iinfo(np.int64).min


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
    ``handle_unknown="error"``, it gets a code outside every table, so that
    ``InferenceSession.run`` fails with onnxruntime's ``InvalidArgument``
    ("indices element out of data bounds") where ``predict`` raises a
    ValueError; check values before serving if a friendlier message is
    needed.

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

    **Missing categories** (as :func:`onnx_inputs` feeds them: NaN for
    float categories, else a value no category may take) are treated as
    unseen values, under either ``handle_unknown``.

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
    ValueError
        If a context or categorical column holds categories that are not
        all strings, all integers or all floats, if the class labels are of
        another type, or if the generated weights of all context
        combinations exceed what ``predict`` caches (256 MB).

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
    model treats as unseen. A DataFrame whose columns include the model's
    input names is matched by name; anything else by position.

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
        If ``X`` has another number of columns than the model has inputs
        (and not all of them by name), or a numeric or integer-category
        input's column holds other values.

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
    feed = {}
    for graph_input, column in zip(model.graph.input, columns, strict=True):
        kind = graph_input.type.tensor_type.elem_type
        feed[graph_input.name] = _input_array(
            column, kind, graph_input.name, onnx
        ).reshape(-1, 1)
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
        try:
            validate_data(estimator, X, skip_check_array=True, reset=False)
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
    all the names as columns, else by position."""
    labels = [str(c) for c in table.columns]
    if all(name in labels for name in names):
        return [table.iloc[:, labels.index(name)] for name in names]
    if table.shape[1] != len(names):
        raise ValueError(
            f"X has {table.shape[1]} columns but the model has {len(names)} "
            f"inputs ({', '.join(names[:10])}); pass the columns of fit, in "
            "their order."
        )
    return [table.iloc[:, i] for i in range(len(names))]


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


def _numeric_array(column: pd.Series, name: str) -> np.ndarray:
    try:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"Column {name!r} is a numeric input but holds non-numeric values "
            f"(dtype {column.dtype})."
        ) from None
