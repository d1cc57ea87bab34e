"""skhyper.to_onnx: onnxruntime's outputs against predict_proba / predict.

Every test fits a tiny network for a few epochs and compares the exported
graph's outputs, row by row, with the estimator's own; the tolerance is
1e-5 (observed differences are about 1e-7, or 1e-16 on the float64 path).
"""

import numpy as np
import onnx
import pandas as pd
import pytest
from _helpers import CLASSIFIERS, ESTIMATORS, TINY, target
from scipy.special import ndtri
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skhyper import (
    ConcatClassifier,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
    onnx_inputs,
    to_onnx,
)
from skhyper._onnx import MISSING_INT64, MISSING_STRING
from skhyper._onnx_graph import GraphBuilder, interp, inverse_normal

ort = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-5
N_ROWS = 240


def session(model: onnx.ModelProto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run(model: onnx.ModelProto, X) -> dict:
    """The model's outputs for ``X``, by output name."""
    names = [output.name for output in model.graph.output]
    outputs = session(model).run(None, onnx_inputs(model, X))
    return dict(zip(names, outputs, strict=True))


def table(n_rows: int = N_ROWS, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three sensors at two sites (two context columns), a categorical
    feature, and numeric features with missing values; the label is a
    per-sensor rule."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "reading": rng.normal(size=n_rows),
            "sensor": rng.choice(["a", "b", "c"], size=n_rows),
            "level": rng.exponential(size=n_rows),
            "site": rng.choice([3, 7], size=n_rows),
            "colour": pd.Categorical(rng.choice(["red", "blue", "green"], n_rows)),
        }
    )
    X.loc[::9, "level"] = np.nan
    sign = X["sensor"].map({"a": 1.0, "b": -1.0, "c": 0.5})
    y = (sign * X["reading"] + 0.3 * X["level"].fillna(0) > 0).astype(int)
    return X, y.to_numpy()


def fit(cls, X, y, **params):
    params = {
        "context_column": ["sensor", "site"],
        "max_epochs": 3,
        "random_state": 0,
        **TINY[cls],
        **params,
    }
    return cls(**params).fit(X, target(cls, y))


def assert_matches(estimator, model, X) -> None:
    """onnxruntime's outputs equal the estimator's to TOLERANCE, and the
    labels equal predict's."""
    got = run(model, X)
    if "probabilities" in got:
        difference = np.abs(got["probabilities"] - estimator.predict_proba(X))
        assert difference.max() <= TOLERANCE
        np.testing.assert_array_equal(got["label"], estimator.predict(X))
    else:
        expected = estimator.predict(X).reshape(len(X), -1)
        assert np.abs(got["variable"] - expected).max() <= TOLERANCE


def with_unseen(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with an unseen sensor, site and colour in its first rows."""
    X = X.copy()
    X["colour"] = X["colour"].astype(str)
    X.loc[0, "sensor"] = "never seen"
    X.loc[1, "site"] = 99
    X.loc[2, "colour"] = "purple"
    return X


# -- every estimator, context forms and encodings ------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_estimator_matches(cls):
    X, y = table()
    estimator = fit(cls, X, y)
    model = to_onnx(estimator, X)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == list(X.columns)
    assert_matches(estimator, model, X)


@pytest.mark.parametrize("rank", [8, None], ids=["low-rank", "full-rank-float64"])
@pytest.mark.parametrize(
    "n_values", [(3, 2), (20, 15)], ids=["grouped", "gathered-336-combinations"]
)
@pytest.mark.parametrize("cls", [HyperNetworkClassifier, HyperNetworkRegressor])
def test_every_form_of_the_generated_layer_matches(cls, n_values, rank):
    """Rows grouped by context combination (at most GROUPED_MAX_CONTEXTS),
    else each row's low-rank factors gathered; full rank is always grouped,
    in float64 as predict computes it."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame(
        {
            "a": rng.choice([f"a{i}" for i in range(n_values[0])], N_ROWS),
            "b": rng.choice(np.arange(n_values[1]) * 10, N_ROWS),
            "x": rng.normal(size=N_ROWS),
        }
    )
    y = (X["x"] * (X["b"] - 5) > 0).astype(int).to_numpy()
    estimator = fit(cls, X, y, context_column=["a", "b"], generator_rank=rank)
    assert_matches(estimator, to_onnx(estimator, X), X)


@pytest.mark.parametrize("encoding", ["standard", "quantile", "piecewise_linear"])
@pytest.mark.parametrize("rank", [8, None], ids=["float32", "float64"])
def test_every_numeric_encoding_matches(encoding, rank):
    X, y = table()
    estimator = fit(
        HyperNetworkClassifier, X, y, numeric_encoding=encoding, generator_rank=rank
    )
    model = to_onnx(estimator, X)
    # Rows beyond the training range, at ties and missing everywhere.
    X_new = X.copy()
    X_new.loc[:5, "reading"] = [-50.0, 50.0, np.nan, 0.0, 1e30, -1e30]
    X_new.loc[6:9, "level"] = [0.0, np.nan, 1e-12, 1e3]
    assert_matches(estimator, model, X_new)


@pytest.mark.parametrize(
    "activation", ["relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu", "silu"]
)
@pytest.mark.parametrize("cls", [ConcatClassifier, HyperNetworkRegressor])
def test_every_activation_matches(cls, activation):
    """In float32 (the concat classifier) and in float64 (the full-rank
    hypernetwork), where some activations need other operators."""
    X, y = table()
    params = {"generator_rank": None} if cls is HyperNetworkRegressor else {}
    estimator = fit(cls, X, y, activation=activation, **params)
    assert_matches(estimator, to_onnx(estimator, X), X)


def test_several_contexts_and_outputs_of_a_regressor():
    """Twelve sensors in one context column, two target columns."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "sensor": rng.choice([f"s{i}" for i in range(12)], N_ROWS),
            "x": rng.normal(size=N_ROWS),
        }
    )
    y = np.column_stack([X["x"] * 2, X["x"] ** 2])
    estimator = HyperNetworkRegressor(
        "sensor", max_epochs=3, random_state=0, **TINY[HyperNetworkRegressor]
    ).fit(X, y)
    got = run(to_onnx(estimator), X)["variable"]
    assert got.shape == (N_ROWS, 2)
    assert np.abs(got - estimator.predict(X)).max() <= TOLERANCE


# -- unseen values ---------------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unseen_values_get_the_learned_unknown_code(cls):
    X, y = table()
    estimator = fit(cls, X, y, handle_unknown="learned")
    X_new = with_unseen(X)
    assert_matches(estimator, to_onnx(estimator, X), X_new)


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatClassifier])
@pytest.mark.parametrize("column", ["sensor", "site", "colour"])
def test_unseen_values_raise_in_onnx_inputs_with_handle_unknown_error(cls, column):
    """onnx_inputs raises a ValueError naming the column and the value, as
    predict does (it used to build the feed, and onnxruntime's run failed
    with "indices element out of data bounds"); a feed built without it
    still fails in onnxruntime on the out-of-range code."""
    X, y = table()
    estimator = fit(cls, X, y, handle_unknown="error")
    model = to_onnx(estimator, X)
    X_new = X.head(5).copy()
    X_new["colour"] = X_new["colour"].astype(str)
    unseen = {"sensor": "z", "site": 99, "colour": "purple"}[column]
    X_new.loc[3, column] = unseen
    with pytest.raises(ValueError, match="not seen during fit"):
        estimator.predict(X_new)
    message = (
        f"Column '{column}' holds value\\(s\\) not seen during fit: "
        f"{unseen!r}\\. Known values are .* refit with these values"
    )
    with pytest.raises(ValueError, match=message):
        onnx_inputs(model, X_new)
    # A feed built without the check (copied: float arrays may be views of X).
    feed = {k: v.copy() for k, v in onnx_inputs(model, X.head(5)).items()}
    feed[column][3, 0] = unseen
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument) as error:
        session(model).run(None, feed)
    assert "out of data bounds" in str(error.value)
    # Rows of known values alone run, and match.
    assert_matches(estimator, model, X.head(5))


def test_onnx_inputs_names_the_first_unseen_float_categories():
    """The known values come from the graph's float lookup, and the message
    lists the first five unseen values, as predict's does (rows of another
    index than 0, 1, ...)."""
    X, y = table()
    X["dial"] = np.where(X["site"] == 3, 0.25, 0.75)
    estimator = fit(HyperNetworkClassifier, X, y, context_column="dial")
    model = to_onnx(estimator, X)
    X_new = X.iloc[100:108].copy()
    X_new["dial"] = [0.25, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 0.75]
    with pytest.raises(ValueError, match="not seen during fit") as error:
        estimator.predict(X_new)
    expected = "0.5, 1.5, 2.5, 3.5, 4.5, ... (6 in all). Known values are 0.25, 0.75."
    assert expected in str(error.value)
    with pytest.raises(ValueError, match="Column 'dial' holds value") as error:
        onnx_inputs(model, X_new)
    assert expected in str(error.value)


# -- inputs: arrays, integer and float contexts, feeding -------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_numpy_array_with_a_float_context_column(cls):
    """As scikit-learn's checks fit: a float array, context at position 0."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N_ROWS, 3))
    X[:, 0] = rng.choice([0.5, 1.5, 2.25], size=N_ROWS)
    y = (X[:, 1] * (X[:, 0] - 1) > 0).astype(int)
    estimator = fit(cls, X, y, context_column=0)
    model = to_onnx(estimator, X)
    inputs = model.graph.input
    assert [i.name for i in inputs] == ["x0", "x1", "x2"]
    assert inputs[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert_matches(estimator, model, X)


def test_integer_context_and_string_labels():
    X, y = table()
    labels = np.array(["normal", "anomaly"])[y]
    estimator = fit(ConcatClassifier, X, labels, context_column="site")
    model = to_onnx(estimator, X)
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert types["site"] == onnx.TensorProto.INT64
    assert types["sensor"] == types["colour"] == onnx.TensorProto.STRING
    assert types["reading"] == onnx.TensorProto.DOUBLE
    got = run(model, X)
    np.testing.assert_array_equal(got["label"], estimator.predict(X))
    assert got["label"].dtype == object


def test_onnx_inputs_matches_columns_by_name_and_checks_them():
    X, y = table()
    estimator = fit(HyperNetworkClassifier, X, y)
    model = to_onnx(estimator)
    shuffled = X[list(reversed(X.columns))]
    feed = onnx_inputs(model, shuffled)
    assert list(feed) == list(X.columns)
    assert all(array.shape == (N_ROWS, 1) for array in feed.values())
    np.testing.assert_array_equal(feed["reading"][:, 0], X["reading"])
    with pytest.raises(ValueError, match="X has 2 columns but the model has 5"):
        onnx_inputs(model, X.to_numpy()[:, :2])
    # Extra named columns are left out; unnamed columns go by position.
    feed = onnx_inputs(model, shuffled.assign(extra=1.0))
    np.testing.assert_array_equal(feed["level"][:, 0], X["level"])
    for positional in (X.to_numpy(), X.set_axis(range(5), axis=1)):
        feed = onnx_inputs(model, positional)
        np.testing.assert_array_equal(feed["level"][:, 0], X["level"])


@pytest.mark.parametrize(
    "renamed",
    [{"reading": "Reading"}, {"reading": "x", "level": "y"}],
    ids=["misspelt", "two-renamed"],
)
def test_named_columns_that_lack_an_input_are_rejected(renamed):
    """A DataFrame with string column names must hold every input name, as
    predict's feature-name check requires: the same columns fed by position
    would silently give other outputs (as they used to)."""
    X, y = table()
    estimator = fit(ConcatClassifier, X, y)
    model = to_onnx(estimator, X)
    X_new = X.rename(columns=renamed)
    with pytest.raises(ValueError, match="feature names should match"):
        estimator.predict(X_new)
    missing = ", ".join(repr(name) for name in renamed)
    unexpected = ", ".join(repr(name) for name in renamed.values())
    message = (
        f"Inputs missing from X: {missing}\\. Columns of X that are not "
        f"inputs: {unexpected}\\. Rename the columns as at fit"
    )
    with pytest.raises(ValueError, match=message):
        onnx_inputs(model, X_new)


def test_named_columns_feed_a_model_fitted_without_names_by_position():
    """Inputs x0, x1, ... had no names at fit: a DataFrame's named columns
    go by position, as predict takes them (with scikit-learn's warning)."""
    X, y = table()
    X = X[["reading", "level", "site"]].fillna(0.0)
    estimator = fit(ConcatClassifier, X.to_numpy(), y, context_column=2)
    model = to_onnx(estimator)
    assert [i.name for i in model.graph.input] == ["x0", "x1", "x2"]
    assert_matches(estimator, model, X.to_numpy())
    got = run(model, X)["probabilities"]
    assert np.abs(got - estimator.predict_proba(X.to_numpy())).max() <= TOLERANCE


@pytest.mark.parametrize("handle_unknown", ["learned", "error"])
def test_missing_categories_count_as_unseen(handle_unknown):
    """A missing string, integer or float category is treated as predict
    treats it: the unknown code, like an unseen value, or, with
    handle_unknown="error", a ValueError from onnx_inputs (it used to reach
    onnxruntime, whose run failed on the out-of-range code)."""
    X, y = table()
    X["dial"] = np.where(X["site"] == 3, 0.25, 0.75)
    estimator = fit(
        HyperNetworkClassifier,
        X,
        y,
        context_column=["sensor", "site", "dial"],
        handle_unknown=handle_unknown,
    )
    model = to_onnx(estimator, X)
    fed_missing = {"sensor": MISSING_STRING, "site": MISSING_INT64, "dial": np.nan}
    for column, unseen in (("sensor", "z"), ("site", 99), ("dial", 0.5)):
        missing, other = X.head(3).astype({column: object}), X.head(3).copy()
        missing.loc[1, column] = None
        other.loc[1, column] = unseen
        if handle_unknown == "error":
            with pytest.raises(ValueError, match="1 missing value"):
                estimator.predict(missing)
            message = f"Column '{column}' has 1 missing value.* handle_unknown="
            with pytest.raises(ValueError, match=message):
                onnx_inputs(model, missing)
            # Fed to the graph directly, it fails like an unseen value.
            feed = {k: v.copy() for k, v in onnx_inputs(model, X.head(3)).items()}
            feed[column][1, 0] = fed_missing[column]
            with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
                session(model).run(None, feed)
        else:
            expected = run(model, other)["probabilities"]
            assert np.abs(run(model, missing)["probabilities"] - expected).max() == 0
            # predict, too, gives a missing category the unknown code.
            assert_matches(estimator, model, missing)


# -- errors ----------------------------------------------------------------------


def test_unfitted_and_foreign_estimators_are_rejected():
    with pytest.raises(NotFittedError):
        to_onnx(HyperNetworkClassifier())
    with pytest.raises(TypeError, match="exports skhyper's estimators"):
        to_onnx(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))


def test_other_columns_than_fit_are_rejected():
    X, y = table()
    estimator = fit(ConcatClassifier, X, y)
    with pytest.raises(ValueError, match="same columns, in the same order"):
        to_onnx(estimator, X.drop(columns="level"))


def test_bool_categories_cannot_be_exported():
    X, y = table()
    X["flag"] = X["reading"] > 0
    estimator = fit(ConcatClassifier, X, y, context_column="flag")
    with pytest.raises(ValueError, match="'flag' holds categories of type"):
        to_onnx(estimator)


def test_too_many_generated_weights_cannot_be_exported():
    """Full-rank updates of 192 x 192 for 31 x 31 context combinations:
    about 285 MB of float64 weights, beyond what predict caches."""
    rng = np.random.default_rng(3)
    n_rows = 300
    X = pd.DataFrame(
        {
            "a": rng.choice([f"a{i}" for i in range(30)], n_rows),
            "b": rng.choice([f"b{i}" for i in range(30)], n_rows),
            "x": rng.normal(size=n_rows),
        }
    )
    estimator = HyperNetworkClassifier(
        ["a", "b"],
        generator_rank=None,
        hidden_size=192,
        output_size=192,
        hyper_hidden_size=2,
        max_epochs=1,
        random_state=0,
    ).fit(X, X["x"] > 0)
    with pytest.raises(ValueError, match="961 combinations .* beyond the 256 MB"):
        to_onnx(estimator)


# -- the numeric building blocks ------------------------------------------------------


def run_column(build, values: np.ndarray) -> np.ndarray:
    """``build(graph, "x")`` on a float64 column, through onnxruntime."""
    graph = GraphBuilder(["x", "y"])
    graph.rename(build(graph, "x"), "y")
    double = onnx.TensorProto.DOUBLE
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            graph.nodes,
            "column",
            [onnx.helper.make_tensor_value_info("x", double, [None, 1])],
            [onnx.helper.make_tensor_value_info("y", double, [None, 1])],
            graph.initializers,
        ),
        opset_imports=[onnx.helper.make_opsetid("", 20)],
    )
    model.ir_version = 9
    return session(model).run(None, {"x": values.reshape(-1, 1)})[0].ravel()


def test_interp_equals_numpy_with_ties_and_out_of_range_values():
    knots = np.array([-2.0, -1.0, -1.0, -1.0, 0.0, 0.5, 3.0, 3.0, 7.0])
    levels = np.linspace(0, 1, len(knots))
    values = np.concatenate(
        [knots, [-5.0, 9.0, -1.5, 0.25, 2.9, 5.0], np.linspace(-3, 8, 101)]
    )
    got = run_column(lambda g, x: interp(g, x, knots, levels), values)
    np.testing.assert_allclose(got, np.interp(values, knots, levels), atol=1e-15)


def test_inverse_normal_is_within_its_stated_error():
    p = np.concatenate(
        [
            np.geomspace(1e-7, 0.5, 400),
            1 - np.geomspace(1e-7, 0.5, 400),
            np.linspace(0.01, 0.99, 401),
            [0.02425, 1 - 0.02425, 0.5],
        ]
    )
    got = run_column(inverse_normal, p)
    expected = ndtri(p)
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)
    assert relative.max() < 1.2e-9


# -- what the graph cannot reproduce, read from the fitted model ----------------


@pytest.mark.parametrize("option", ["context_attributes", "continuous_context"])
def test_an_unsupported_fitted_option_is_refused_after_set_params(option):
    """Whether the model uses continuous_context or context_attributes is
    read from the fitted encoder: clearing the parameter with set_params
    after fit changes nothing that predict runs, so the export is still
    refused (it used to export a graph that differed from predict, or fail
    with a TypeError from torch)."""
    X, y = table()
    if option == "context_attributes":
        attributes = pd.DataFrame(
            {"size": [1.0, -1.0, 0.5, 2.0]}, index=["a", "b", "c", "listed only"]
        )
        params = {
            "context_column": "sensor",
            "context_attributes": attributes,
            "handle_unknown": "learned",
        }
    else:
        params = {"context_column": "sensor", "continuous_context": "level"}
        X = X.assign(level=X["level"].fillna(0.0))
    estimator = fit(HyperNetworkClassifier, X, y, **params)
    message = f"cannot export a model fitted with {option}"
    with pytest.raises(ValueError, match=message):
        to_onnx(estimator, X)
    estimator.set_params(**{option: None})
    with pytest.raises(ValueError, match=message):
        to_onnx(estimator, X)


def test_a_parameter_set_after_fit_does_not_block_the_export():
    """The reverse: a model fitted without context_attributes exports even
    when the parameter was set afterwards (it only takes effect at the next
    fit)."""
    X, y = table()
    estimator = fit(HyperNetworkClassifier, X, y, context_column="sensor")
    attributes = pd.DataFrame({"size": [1.0, -1.0, 0.5]}, index=["a", "b", "c"])
    estimator.set_params(context_attributes=attributes)
    assert_matches(estimator, to_onnx(estimator, X), X)
