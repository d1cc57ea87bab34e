"""Contexts beyond an id (issue 15): continuous context columns, and known
attributes of the context values (``context_attributes``), for which a value
never seen at fit still gets a layer of its own."""

import io
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import CLASSIFIERS, ESTIMATORS, REGRESSORS, TINY, outputs, target
from sklearn.base import clone
from sklearn.metrics import r2_score, roc_auc_score

import skhyper
from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)
from skhyper._attributes import AttributeTable
from skhyper._modules import ContextEmbedding, PiecewiseLinearEncoding


def make_model(cls, **params):
    return cls(**{"max_epochs": 3, "random_state": 0, **TINY[cls], **params})


def varying_table(n=300, seed=0):
    """``y`` depends on ``x`` through a slope that varies smoothly with
    ``age``; ``site`` is a categorical context."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.uniform(0, 10, n),
            "site": rng.choice(["north", "south"], n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    value = np.sin(X["age"]) * X["x"] + 0.3 * X["z"]
    return X, value.to_numpy(), (value > 0).astype(int).to_numpy()


def target_for(cls, value, label):
    return value if cls in REGRESSORS else label


# -- continuous contexts ---------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "context_column, continuous",
    [(None, "age"), ([], ["age"]), ("site", "age"), ("site", ["age", "z"])],
    ids=["only", "only-empty-list", "mixed", "two-continuous"],
)
def test_continuous_context_fits_and_predicts(cls, context_column, continuous):
    X, value, label = varying_table()
    model = make_model(
        cls, context_column=context_column, continuous_context=continuous
    ).fit(X, target_for(cls, value, label))
    predicted = outputs(model, X)
    assert np.isfinite(predicted).all() and len(predicted) == len(X)
    # A continuous context is not also a feature.
    encoder = model.encoder_
    names = [X.columns[i] for i in encoder.continuous_positions_]
    assert names == ([continuous] if isinstance(continuous, str) else continuous)
    assert not set(encoder.continuous_positions_) & set(encoder.numeric_positions_)
    # The prediction changes with the continuous value, all else equal.
    older = X.assign(age=X["age"] + 3.0)
    assert not np.allclose(outputs(model, older), predicted)


def test_continuous_context_learns_a_varying_coefficient():
    # y = sin(age) * x: the hypernetwork makes a layer per age; concat has
    # to build the product sin(age) * x out of ReLUs.
    X, value, _ = varying_table(n=2400, seed=1)
    X = X.drop(columns="site")
    train, test = slice(0, 1800), slice(1800, None)
    scores = {}
    for cls in (HyperNetworkRegressor, ConcatRegressor):
        model = cls(context_column=None, continuous_context="age", random_state=0)
        model.set_params(max_epochs=40, hidden_size=32)
        model.fit(X.iloc[train], value[train])
        scores[cls] = r2_score(value[test], model.predict(X.iloc[test]))
    assert scores[HyperNetworkRegressor] > 0.9
    assert scores[HyperNetworkRegressor] > scores[ConcatRegressor]


def step_table(n=1600, seed=2):
    """The slope of ``x`` jumps at ``temperature`` 5 and 20 (three regimes):
    a sharp change of the rule with the context value."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"temperature": rng.uniform(-10, 35, n), "x": rng.normal(size=n)})
    slope = np.array([-2.0, 2.0, 0.0])[np.digitize(X["temperature"], [5.0, 20.0])]
    return X, slope * X["x"].to_numpy()


def fit_on_bins(cls, n: int, max_epochs: int):
    """``cls`` fitted on :func:`step_table` with the temperature as a
    piecewise-linear continuous context of 8 bins."""
    X, y = step_table(n=n)
    model = cls(
        continuous_context="temperature",
        continuous_encoding="piecewise_linear",
        n_bins=8,
        max_epochs=max_epochs,
        random_state=0,
    )
    return model.fit(X, y), X


def test_piecewise_linear_context_expands_over_quantile_bins():
    model, X = fit_on_bins(HyperNetworkRegressor, n=400, max_epochs=2)
    encoder = model.encoder_.continuous_encoder_
    assert len(encoder.bin_edges_[0]) == 9
    # The standardised value, then its 8 bins.
    assert encoder.bin_columns == (1, 9)
    assert model.net_.module_.context_embedding.continuous_size == 9
    raw = X[["temperature"]].to_numpy()
    standardised = encoder._standardise(raw)
    encoded = model.encoder_.transform(X).continuous
    np.testing.assert_allclose(encoded[:, 0], standardised[:, 0], atol=1e-6)
    # The same numbers as the network's own expansion of numeric features,
    # of the value in the bins' robust scale (median, interquartile range).
    binned = encoder._standardise(raw, encoder.bin_center_, encoder.bin_scale_)
    assert binned[:, 0] == pytest.approx(
        (raw[:, 0] - np.median(raw)) / encoder.bin_scale_[0], abs=0.05
    )
    in_network = PiecewiseLinearEncoding(encoder.bin_edges_)(
        torch.tensor(binned).float()
    )
    np.testing.assert_allclose(encoded[:, 1:], in_network.numpy(), atol=1e-6)
    # Every value fills the bins left of it and none right of it.
    assert np.all(np.diff(encoded[:, 1:], axis=1) <= 0)


def test_a_few_fill_values_in_a_continuous_context_leave_its_bins():
    """5 values of 1e12 among 400 temperatures: with the bins taken of the
    mean/std-standardised value the other rows fell in one float32 step,
    and 2 of 9 edges were left (AUC 0.63 against 0.97 for the quantile
    encoding in an audit). The plain value stays standardised as before."""
    X, y = step_table(n=400)
    X.loc[:4, "temperature"] = 1e12
    model = HyperNetworkRegressor(
        continuous_context="temperature", n_bins=8, max_epochs=1, random_state=0
    ).fit(X, y)
    encoder = model.encoder_.continuous_encoder_
    assert len(encoder.bin_edges_[0]) == 9
    bins = model.encoder_.transform(X).continuous[5:, 1:]
    assert len(np.unique(bins, axis=0)) > 300
    temperature = X["temperature"].to_numpy()
    assert encoder.mean_[0] == pytest.approx(temperature.mean())
    assert encoder.scale_[0] == pytest.approx(temperature.std())


@pytest.mark.parametrize("cls", [HyperNetworkRegressor, ConcatRegressor])
def test_piecewise_linear_bins_start_with_zero_weight(cls):
    # The "B" form: the first layer that reads the context starts out
    # reading the standardised value alone; the bins' weights start at zero.
    model, X = fit_on_bins(cls, n=200, max_epochs=1)
    assert model.net_.get_params_for("module")["continuous_bins"] == (1, 9)
    model.net_.initialize_module()
    module = model.net_.module_
    if cls is HyperNetworkRegressor:
        weight = module.context_layer.generator[0].weight
        value_column = weight.shape[1] - 9
    else:
        weight = module.fc[0].weight
        value_column = module.projection.linear.out_features
    assert torch.all(weight[:, value_column + 1 : value_column + 9] == 0)
    assert torch.any(weight[:, value_column] != 0)
    # So an untrained network's output follows the value, not its bins.
    inputs = model.encoder_.transform(X)
    shifted = inputs.continuous.copy()
    shifted[:, 1:] = 1.0 - shifted[:, 1:]
    module.eval()
    with torch.no_grad():
        rows = {
            "numeric": torch.tensor(inputs.numeric),
            "categorical": torch.tensor(inputs.categorical),
            "context": torch.tensor(inputs.context),
        }
        before = module(**rows, continuous=torch.tensor(inputs.continuous))
        after = module(**rows, continuous=torch.tensor(shifted))
    torch.testing.assert_close(before, after)


@pytest.mark.parametrize("encoding", ["standard", "quantile", "piecewise_linear"])
def test_each_continuous_encoding_round_trips_and_handles_missing(encoding):
    X, value, _ = varying_table()
    X.loc[::7, "age"] = np.nan
    model = make_model(
        HyperNetworkRegressor,
        context_column="site",
        continuous_context="age",
        continuous_encoding=encoding,
    ).fit(X, value)
    width = {"standard": 1, "quantile": 1, "piecewise_linear": 1 + 16}[encoding]
    assert model.net_.module_.context_embedding.continuous_size == width + 1
    assert np.isfinite(model.predict(X.assign(age=np.nan))).all()
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    loaded = skhyper.load(io.BytesIO(buffer.getvalue()))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    weights = model.generated_weights(context_value="north", continuous=[4.0])
    assert all(np.isfinite(w).all() for w in weights)


@pytest.mark.parametrize("encoding", ["standard", "quantile", "piecewise_linear"])
def test_a_constant_continuous_context_still_fits(encoding):
    # A column that never varied at fit has no bins; it must still give the
    # generator an input, not an empty one.
    X, value, _ = varying_table()
    X["age"] = 3.0
    model = make_model(
        HyperNetworkRegressor, continuous_context="age", continuous_encoding=encoding
    ).fit(X.drop(columns="site"), value)
    # piecewise_linear: the standardised value and one zero column of bins.
    width = 2 if encoding == "piecewise_linear" else 1
    assert model.net_.module_.context_embedding.continuous_size == width
    assert np.isfinite(model.predict(X.drop(columns="site").assign(age=7.0))).all()


def test_piecewise_linear_context_follows_a_step_in_the_rule():
    # Three regimes of the slope: bins of the temperature let the generator
    # switch the layer at the thresholds; the standardised value makes the
    # generator's small MLP bend a straight line into steps.
    X, y = step_table()
    train, test = slice(0, 1200), slice(1200, None)
    scores = {}
    for encoding in ("standard", "piecewise_linear"):
        model = HyperNetworkRegressor(
            continuous_context="temperature",
            continuous_encoding=encoding,
            max_epochs=30,
            hidden_size=32,
            weight_decay=0.1,
            random_state=0,
        ).fit(X.iloc[train], y[train])
        scores[encoding] = r2_score(y[test], model.predict(X.iloc[test]))
    assert scores["piecewise_linear"] > 0.9
    assert scores["piecewise_linear"] > scores["standard"]


def test_missing_continuous_values_are_filled_and_flagged():
    X, value, _ = varying_table()
    X.loc[::5, "age"] = np.nan
    model = make_model(
        HyperNetworkRegressor, context_column="site", continuous_context="age"
    ).fit(X, value)
    assert model.encoder_.continuous_encoder_.n_indicators == 1
    assert np.isfinite(model.predict(X.assign(age=np.nan))).all()


@pytest.mark.parametrize(
    "params, error, message",
    [
        (
            {"context_column": "site", "continuous_context": "site"},
            ValueError,
            r"'site' is in both context_column and continuous_context",
        ),
        (
            {"context_column": None, "continuous_context": "site"},
            ValueError,
            r"continuous_context names the column 'site', which holds categories",
        ),
        (
            {"context_column": None, "continuous_context": "height"},
            ValueError,
            r"continuous_context='height' is not a column of X",
        ),
        (
            {"context_column": None, "continuous_context": 7},
            ValueError,
            r"continuous_context=7 is out of range",
        ),
        (
            {"context_column": None, "continuous_context": []},
            ValueError,
            r"continuous_context is an empty list",
        ),
        (
            {"context_column": None, "continuous_context": ["age", "age"]},
            ValueError,
            r"names the same column twice",
        ),
        (
            {"context_column": None, "continuous_context": 1.5},
            ValueError,
            r"continuous_context",
        ),
    ],
)
def test_bad_continuous_context_is_a_clear_error(params, error, message):
    X, value, _ = varying_table(n=40)
    with pytest.raises(error, match=message):
        make_model(HyperNetworkRegressor, **params).fit(X, value)


def test_infinite_continuous_context_is_an_error_naming_the_column():
    X, value, _ = varying_table(n=40)
    X.loc[3, "age"] = np.inf
    with pytest.raises(ValueError, match=r"infinity in column 'age'"):
        make_model(
            HyperNetworkRegressor, context_column=None, continuous_context="age"
        ).fit(X, value)


def test_a_continuous_context_of_only_missing_values_is_an_error():
    # As for a categorical context of only missing values: nothing to learn.
    X, value, _ = varying_table(n=40)
    X["age"] = np.nan
    model = make_model(
        HyperNetworkRegressor, context_column=None, continuous_context="age"
    )
    with pytest.raises(ValueError, match=r"column 'age' has only missing values"):
        model.fit(X, value)


@pytest.mark.parametrize("dtype", ["str", "category", "object"])
@pytest.mark.parametrize("column", ["age", "z"])
def test_a_numeric_column_given_as_labels_at_predict_says_it_was_numeric(dtype, column):
    """Strings in an object column (how pandas before 3 holds them) were
    said to be "among numbers", with advice about fit."""
    X, value, _ = varying_table(n=60)
    model = make_model(
        HyperNetworkRegressor, context_column="site", continuous_context="age"
    ).fit(X, value)
    labels = X[column].round().astype(str).astype(dtype)
    with pytest.raises(ValueError, match=rf"'{column}' was numeric at fit but holds"):
        model.predict(X.assign(**{column: labels}))


@pytest.mark.parametrize(
    "context_column, call, message",
    [
        (None, {"context_value": "north", "continuous": [3.0]}, r"no categorical"),
        (None, {"continuous": ["3"]}, r"must give 1 number"),
        (None, {"continuous": [np.inf]}, r"infinite value"),
        (["site", "shift"], {"context_value": "ab", "continuous": [3.0]}, "tuple"),
    ],
    ids=["value-without-categorical", "string", "infinite", "string-for-a-pair"],
)
def test_generated_weights_reject_what_predict_would(context_column, call, message):
    X, value, _ = varying_table(n=60)
    X["shift"] = np.where(X["z"] > 0, "a", "b")
    model = make_model(
        HyperNetworkRegressor, context_column=context_column, continuous_context="age"
    )
    model.fit(X if context_column else X.drop(columns=["site", "shift"]), value)
    with pytest.raises(ValueError, match=message):
        model.generated_weights(**call)


def test_a_bool_continuous_context_value_is_its_number_in_generated_weights():
    # fit and predict read a bool column as numbers; so does generated_weights.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"holiday": rng.random(60) < 0.3, "x": rng.normal(size=60)})
    model = make_model(
        HyperNetworkRegressor, context_column=None, continuous_context="holiday"
    ).fit(X, X["x"].to_numpy())
    expected = model.generated_weights(continuous=[1.0])
    for value in (True, np.True_):
        for got, want in zip(
            model.generated_weights(continuous=[value]), expected, strict=True
        ):
            np.testing.assert_array_equal(got, want)


def test_each_row_gets_the_layer_its_continuous_value_generates():
    X, value, _ = varying_table(n=200)
    model = make_model(
        HyperNetworkRegressor, context_column="site", continuous_context="age"
    ).fit(X, value)
    module = model.net_.module_
    row = X.iloc[[5]]
    weight, bias = model.generated_weights("north", continuous=[row["age"].iloc[0]])
    other, _ = model.generated_weights("north", continuous=[row["age"].iloc[0] + 2])
    assert not np.allclose(weight, other)
    inputs = skhyper._data.TensorTable(model.encoder_.transform(row)).inputs
    with torch.inference_mode():
        projected = module._project(inputs["numeric"], inputs["categorical"])
        hidden, _ = module.context_layer(
            projected, inputs["context"], continuous=inputs["continuous"]
        )
    if row["site"].iloc[0] == "north":
        expected = projected.numpy() @ weight + bias
        np.testing.assert_allclose(hidden.numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"continuous must give 1 number"):
        model.generated_weights("north")


def test_continuous_predictions_do_not_depend_on_the_other_rows():
    X, value, _ = varying_table(n=1200)
    model = make_model(
        HyperNetworkRegressor, context_column=None, continuous_context="age"
    ).fit(X.drop(columns="site"), value)
    X = X.drop(columns="site")
    whole = model.predict(X)
    for i in [0, 7, 1100]:
        np.testing.assert_allclose(
            model.predict(X.iloc[[i]])[0], whole[i], rtol=1e-6, atol=1e-7
        )


def test_pooling_is_skipped_without_a_categorical_context():
    X, _, label = varying_table(n=200)
    model = make_model(
        HyperNetworkClassifier,
        context_column=None,
        continuous_context="age",
        context_pooling=300.0,
    ).fit(X.drop(columns="site"), label)
    assert "train_data_loss" not in model.history_
    assert model.context_embeddings_.shape == (0, 0)


# -- context attributes ------------------------------------------------------------


def store_table(n_stores=12, n=600, seed=0):
    """Stores whose slope is set by their (known) size and region."""
    rng = np.random.default_rng(seed)
    stores = [f"s{k}" for k in range(n_stores)]
    attributes = pd.DataFrame(
        {
            "size": rng.normal(size=n_stores),
            "region": rng.choice(["east", "west"], n_stores),
        },
        index=pd.Index(stores, name="store"),
    )
    slope = np.tanh(2 * attributes["size"]) * np.where(
        attributes["region"] == "east", 1.0, -1.0
    )
    codes = rng.integers(0, n_stores, n)
    X = pd.DataFrame(
        {
            "store": np.array(stores)[codes],
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    logit = 3 * slope.to_numpy()[codes] * X["x"] + 0.5 * X["z"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy(), attributes


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_value_listed_only_in_the_attributes_is_predicted_from_them(cls):
    X, y, attributes = store_table()
    # s10 and s11 are never seen; s11 gets s10's attributes.
    attributes.loc["s11"] = attributes.loc["s10"]
    seen = ~X["store"].isin(["s10", "s11"])
    model = make_model(cls, context_column="store", context_attributes=attributes).fit(
        X[seen], target(cls, y[seen])
    )
    listed = outputs(model, X.assign(store="s10"))
    assert np.isfinite(listed).all()
    # Same attributes, same layer (to float32 rounding: the two codes sit in
    # different columns of the dense form's product); other attributes,
    # another layer.
    np.testing.assert_allclose(
        outputs(model, X.assign(store="s11")), listed, rtol=1e-6, atol=1e-7
    )
    assert not np.allclose(outputs(model, X.assign(store="s0")), listed)
    # A value in neither the data nor the table follows handle_unknown.
    with pytest.raises(ValueError, match=r"not seen during fit: 'nowhere'"):
        model.predict(X.assign(store="nowhere"))


def test_an_unlisted_value_with_learned_unknown_gets_the_unknown_layer():
    X, y, attributes = store_table()
    model = make_model(
        HyperNetworkClassifier,
        context_column="store",
        context_attributes=attributes,
        handle_unknown="learned",
    ).fit(X, y)
    unknown = outputs(model, X.assign(store="nowhere"))
    assert np.array_equal(outputs(model, X.assign(store="elsewhere")), unknown)


def test_attributes_generalise_to_unseen_values():
    # Train on 28 of 40 stores, score rows of the other 12: with the stores'
    # attributes the model does about as well as on seen stores, and far
    # better than with the one "unknown" embedding. (With 14 training
    # stores, too few to learn the slope from two attributes, it did not.)
    X, y, attributes = store_table(n_stores=40, n=4000, seed=3)
    unseen = X["store"].isin([f"s{k}" for k in range(28, 40)]).to_numpy()
    seen_rows = np.flatnonzero(~unseen)
    train, held_out = seen_rows[:2200], seen_rows[2200:]
    common = {"context_column": "store", "random_state": 0, "hidden_size": 32}
    with_attributes = HyperNetworkClassifier(
        **common, context_attributes=attributes
    ).fit(X.iloc[train], y[train])
    without = HyperNetworkClassifier(**common, handle_unknown="learned").fit(
        X.iloc[train], y[train]
    )

    def auc(model, rows):
        return roc_auc_score(y[rows], model.predict_proba(X.iloc[rows])[:, 1])

    seen_auc = auc(with_attributes, held_out)
    unseen_auc = auc(with_attributes, np.flatnonzero(unseen))
    assert unseen_auc >= 0.9 * seen_auc
    assert unseen_auc > auc(without, np.flatnonzero(unseen)) + 0.1


def test_attributes_for_several_context_columns_as_a_dict():
    X, y, attributes = store_table()
    X["shift"] = np.where(X["z"] > 0, "day", "night")
    shifts = pd.DataFrame({"hours": [8.0, 10.0]}, index=["day", "night"])
    model = make_model(
        HyperNetworkClassifier,
        context_column=["store", "shift"],
        context_attributes={"store": attributes, "shift": shifts},
    ).fit(X, y)
    assert [t is not None for t in model.encoder_.attribute_tables_] == [True, True]
    assert np.isfinite(model.predict_proba(X)).all()
    only_store = make_model(
        HyperNetworkClassifier,
        context_column=["store", "shift"],
        context_attributes={"store": attributes},
    ).fit(X, y)
    assert [t is not None for t in only_store.encoder_.attribute_tables_] == [
        True,
        False,
    ]


def _bad(attributes):
    return attributes


@pytest.mark.parametrize(
    "edit, context_column, error, message",
    [
        (
            lambda a: a.drop(index="s3"),
            "store",
            ValueError,
            r"has no row for 's3', a value of the training data",
        ),
        (
            lambda a: pd.concat([a, a.iloc[[0]]]),
            "store",
            ValueError,
            r"context_attributes for the context column 'store' lists 's0' more "
            "than once",
        ),
        (
            lambda a: a.assign(size=a["size"].where(a.index != "s2")),
            "store",
            ValueError,
            r"The context_attributes column 'size' \(for the context column "
            r"'store'\) has missing values, for 's2'",
        ),
        (
            lambda a: a.assign(size=np.where(a.index == "s1", np.inf, a["size"])),
            "store",
            ValueError,
            r"'size' .* holds infinite values",
        ),
        (lambda a: a[[]], "store", ValueError, r"has no attribute columns"),
        (lambda a: a.to_dict(), "store", ValueError, r"which are not categorical"),
        (lambda a: a.to_numpy(), "store", ValueError, r"context_attributes"),
        (
            lambda a: a,
            ["store", "shift"],
            ValueError,
            r"is one table, but there are 2 categorical context columns",
        ),
        (
            lambda a: a.assign(size=["big"] + [{"a": 1}] * (len(a) - 1)),
            "store",
            TypeError,
            r"'size' .* must hold numbers or category labels .*; it holds "
            r"\{'a': 1\} of type dict",
        ),
        (
            lambda a: pd.concat([a, a[["size"]]], axis=1),
            "store",
            ValueError,
            r"has the column\(s\) 'size' more than once",
        ),
        (
            lambda a: a.assign(size=pd.to_timedelta(np.arange(len(a)), unit="D")),
            "store",
            TypeError,
            r"'size' .* holds dates, times or durations .* convert it to numbers",
        ),
        (
            lambda a: a.assign(size=pd.date_range("2024-01-01", periods=len(a))),
            "store",
            TypeError,
            r"'size' .* holds dates, times or durations .* convert it to numbers "
            r"first \(e\.g\. a date to the days since a fixed date",
        ),
        (
            lambda a: a.assign(size=pd.period_range("2024-01", periods=len(a))),
            "store",
            TypeError,
            r"'size' .* holds dates, times or durations",
        ),
        (
            lambda a: a.assign(size=a["size"] + 1j),
            "store",
            ValueError,
            r"Complex data not supported: the context_attributes column 'size'",
        ),
        (
            lambda a: a.set_index("region", append=True),
            "store",
            ValueError,
            r"context_attributes for the context column 'store' has a MultiIndex "
            r"\(2 levels\); index the table by the context column's values alone",
        ),
        (
            lambda a: a.assign(size=np.nan),
            "store",
            ValueError,
            r"'size' .* has only missing values; drop the column, or fill it",
        ),
        (
            lambda a: {"store": a, 0: a.assign(size=100 * a["size"])},
            "store",
            ValueError,
            r"tables for both 'store' and 0, which name the same column 'store'",
        ),
    ],
    ids=[
        "seen-value-absent",
        "duplicated",
        "missing",
        "infinite",
        "no-columns",
        "dict-wrong-key",
        "array",
        "one-table-two-columns",
        "objects",
        "duplicated-columns",
        "durations",
        "dates",
        "periods",
        "complex",
        "multiindex",
        "all-missing",
        "keyed-by-name-and-position",
    ],
)
def test_bad_attributes_are_a_clear_error(edit, context_column, error, message):
    X, y, attributes = store_table(n=200)
    X["shift"] = np.where(X["z"] > 0, "day", "night")
    model = make_model(
        HyperNetworkClassifier,
        context_column=context_column,
        context_attributes=edit(attributes),
    )
    with pytest.raises(error, match=message):
        model.fit(X, y)


def test_attribute_tables_may_be_keyed_by_position_as_categories_are():
    X, y, attributes = store_table(n=200)
    by_name = make_model(
        HyperNetworkClassifier,
        context_column="store",
        context_attributes={"store": attributes},
    ).fit(X, y)
    position = list(X.columns).index("store")
    for key in (position, position - X.shape[1]):
        by_position = make_model(
            HyperNetworkClassifier,
            context_column="store",
            context_attributes={key: attributes},
        ).fit(X, y)
        np.testing.assert_array_equal(
            by_position.predict_proba(X), by_name.predict_proba(X)
        )


def test_categories_keyed_by_name_and_position_is_an_error():
    # The name's list was read and the position's silently dropped.
    X, y, _ = store_table(n=200)
    stores = sorted(X["store"].unique())
    model = make_model(
        HyperNetworkClassifier,
        context_column="store",
        categories={"store": stores, 0: stores[:3]},
    )
    with pytest.raises(
        ValueError, match=r"categories declares values for both 'store' and 0"
    ):
        model.fit(X, y)


def test_an_index_of_another_type_than_the_context_column_says_so():
    X, y, attributes = store_table(n=200)
    X["store"] = X["store"].str[1:].astype(int)
    attributes.index = attributes.index.str[1:]  # '0', '1', ...: strings
    model = make_model(
        HyperNetworkClassifier, context_column="store", context_attributes=attributes
    )
    with pytest.raises(
        ValueError,
        match=r"has no row for 0, 1, .* index and the context column hold "
        r"different types: the index str values \(e\.g\. '0'\), the column int "
        r"values \(e\.g\. 0\)\. .* table\.index = table\.index\.astype\(int\)",
    ):
        model.fit(X, y)


def test_the_unseen_value_error_names_the_values_listed_in_the_attributes():
    # Predict accepts them: "Known values" that left them out misled.
    X, y, attributes = store_table(n=200)
    seen = ~X["store"].isin(["s10", "s11"])
    model = make_model(
        HyperNetworkClassifier, context_column="store", context_attributes=attributes
    ).fit(X[seen], y[seen])
    with pytest.raises(
        ValueError,
        match=r"Known values are 's0', .* \(10 in all\), and 's10', 's11' "
        r"through their rows in context_attributes\.",
    ):
        model.predict(X.assign(store="nowhere"))


def test_a_bool_context_column_finds_its_attributes_by_label():
    # pandas reads table.loc[[False, True]] as a row mask, not as labels.
    table = pd.DataFrame({"traffic": [1.0, 3.0]}, index=[False, True])
    encoded = AttributeTable(table, "The context column 'c'").fit(
        np.array([True], dtype=object)
    )
    assert list(encoded.listed_only_) == [False]
    np.testing.assert_allclose(encoded.matrix_, [[0.0], [-2.0]])
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"weekend": rng.random(60) < 0.4, "x": rng.normal(size=60)})
    model = make_model(
        HyperNetworkClassifier, context_column="weekend", context_attributes=table
    ).fit(X[X["weekend"]], (X["x"] > 0).astype(int)[X["weekend"]])
    # False is listed only in the table: predicted from its attributes.
    assert np.isfinite(model.predict_proba(X.assign(weekend=False))).all()


def test_attributes_without_a_categorical_context_say_to_name_one():
    X, y, attributes = store_table(n=200)
    X["temperature"] = np.linspace(-5, 30, len(X))
    model = make_model(
        HyperNetworkClassifier,
        context_column=None,
        continuous_context="temperature",
        context_attributes=attributes,
    )
    with pytest.raises(ValueError, match=r"name that column in context_column"):
        model.fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_an_extreme_attribute_of_a_listed_only_value_gives_finite_outputs(cls):
    # Standardised and clipped as X's own numbers are: 1e30 used to turn the
    # listed-only value's generated layer into NaN.
    X, y, attributes = store_table(n=200)
    attributes.loc["huge"] = [1e30, "east"]
    model = make_model(cls, context_column="store", context_attributes=attributes)
    model.fit(X, target(cls, y))
    assert np.isfinite(outputs(model, X.assign(store="huge").head(5))).all()


def test_attributes_near_the_float_limit_still_fit():
    X, y, attributes = store_table(n=200)
    attributes["size"] = 1.5e308 * np.sign(attributes["size"])
    model = make_model(
        HyperNetworkClassifier, context_column="store", context_attributes=attributes
    ).fit(X, y)
    assert np.isfinite(model.encoder_.attribute_tables_[0].matrix_).all()
    assert np.isfinite(model.predict_proba(X)).all()


def test_an_object_column_of_numbers_is_a_numeric_attribute():
    # As X's own object columns of numbers are read: one-hot levels would
    # give a listed-only value's size a level no training value had.
    table = pd.DataFrame(
        {"size": [1.0, 3.0, 10.0], "region": ["e", "w", "e"]}, index=["a", "b", "z"]
    )
    seen = np.array(["a", "b"], dtype=object)
    as_floats = AttributeTable(table, "The context column 'c'").fit(seen)
    as_objects = AttributeTable(
        table.astype({"size": object}), "The context column 'c'"
    ).fit(seen)
    assert as_objects.numeric_ == ["size"]
    np.testing.assert_array_equal(as_objects.matrix_, as_floats.matrix_)


def test_round_trips_keep_the_attribute_tables_dtypes():
    X, y, attributes = store_table(n=200)
    attributes = attributes.assign(
        region=pd.Categorical(
            attributes["region"], categories=["west", "east", "north"], ordered=True
        )
    ).set_axis(pd.CategoricalIndex(attributes.index, name="store"))
    model = make_model(
        HyperNetworkClassifier, context_column="store", context_attributes=attributes
    ).fit(X, y)
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    for other in (
        skhyper.load(io.BytesIO(buffer.getvalue())),
        pickle.loads(pickle.dumps(model)),
    ):
        pd.testing.assert_frame_equal(
            other.get_params()["context_attributes"], attributes
        )


def test_attribute_table_encodes_over_the_seen_values():
    table = pd.DataFrame(
        {"size": [1.0, 3.0, 10.0], "region": ["e", "w", "e"]}, index=["a", "b", "z"]
    )
    encoded = AttributeTable(table, "The context column 'c'").fit(
        np.array(["a", "b"], dtype=object)
    )
    assert list(encoded.listed_only_) == ["z"]
    # size standardised with the seen values' mean 2 and std 1; region one-hot.
    np.testing.assert_allclose(
        encoded.matrix_, [[-1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [8.0, 1.0, 0.0]]
    )


def test_attribute_table_names_the_columns_that_key_its_state():
    # What skhyper.dump checks can be stored as JSON keys: the categorical
    # attributes' names, known once fitted.
    table = pd.DataFrame(
        {"size": [1.0, 3.0], "region": ["e", "w"], 7: ["x", "y"]}, index=["a", "b"]
    )
    attributes = AttributeTable(table, "The context column 'c'")
    assert attributes.state_keys == []
    attributes.fit(np.array(["a", "b"], dtype=object))
    assert attributes.state_keys == ["region", 7]


def test_embedding_codes_follow_the_attribute_layout():
    # 2 seen values, 1 listed only: codes 0-1 seen, 2 unknown, 3-4 the seen
    # values with their id hidden, 5 the listed-only value.
    embedding = ContextEmbedding([2], 4, attributes=[np.eye(3, dtype=np.float32)])
    codes = torch.arange(6).unsqueeze(1)
    assert embedding.n_combinations == 6
    assert embedding.hidden_codes(codes)[:, 0].tolist() == [3, 4, 2, 3, 4, 5]
    out = embedding(codes)
    ids, attributes = out[:, :4], out[:, 4:]
    unknown = embedding.columns[0].weight[2]
    for code in (2, 3, 4, 5):
        assert torch.equal(ids[code], unknown)
    assert torch.equal(attributes[3], attributes[0])
    assert torch.equal(attributes[2], torch.zeros(3))
    assert torch.equal(attributes[5], torch.tensor([0.0, 0.0, 1.0]))


# -- the rest of the API with the new contexts ----------------------------------


def test_round_trips_keep_continuous_contexts_and_attributes():
    X, y, attributes = store_table()
    X["temperature"] = np.linspace(-5, 30, len(X))
    model = make_model(
        HyperNetworkClassifier,
        context_column="store",
        continuous_context="temperature",
        context_attributes=attributes,
    ).fit(X, y)
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    loaded = skhyper.load(io.BytesIO(buffer.getvalue()))
    for other in (loaded, pickle.loads(pickle.dumps(model))):
        assert np.array_equal(other.predict_proba(X), model.predict_proba(X))
        pd.testing.assert_frame_equal(other.context_attributes, attributes)
    cloned = clone(model)
    pd.testing.assert_frame_equal(cloned.context_attributes, attributes)
    assert cloned.continuous_context == "temperature"


@pytest.mark.parametrize("option", ["continuous_context", "context_attributes"])
def test_onnx_export_names_the_option_it_cannot_export(option):
    X, y, attributes = store_table(n=200)
    X["temperature"] = np.linspace(-5, 30, len(X))
    value = {"continuous_context": "temperature", "context_attributes": attributes}
    model = make_model(
        ConcatClassifier, context_column="store", **{option: value[option]}
    ).fit(X, y)
    with pytest.raises(
        ValueError, match=rf"cannot export a model fitted with {option}"
    ):
        skhyper.to_onnx(model, X)


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_integer_context_columns_stay_categorical(cls):
    X, _, label = varying_table()
    X["site"] = np.where(X["site"] == "north", 1, 2)
    model = make_model(cls, context_column="site").fit(X, label)
    assert model.encoder_.continuous_positions_ == []
    assert list(model.context_categories_) == [1, 2]


# -- rare contexts -----------------------------------------------------------------


def test_rare_context_values_get_a_warning_naming_them():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame(
        {
            "ctx": ["big"] * 150 + ["mid"] * 41 + ["tiny"] * 3 + ["small"] * 6,
            "shift": rng.choice(["day", "night"], n),
            "x": rng.normal(size=n),
        }
    )
    y = (X["x"] > 0).astype(int)
    model = make_model(HyperNetworkClassifier, context_column=["ctx", "shift"])
    with pytest.warns(skhyper.RareContextWarning) as caught:
        model.fit(X, y)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1  # "shift" has ~100 rows per value
    assert messages[0].startswith(
        "The context column 'ctx' has 2 values with fewer than 10 rows in "
        "fit: 'small' (6), 'tiny' (3)."
    )
    assert model.predict(X).shape == (n,)


def test_no_rare_context_warning_at_ten_rows_or_more():
    X = pd.DataFrame({"ctx": ["a"] * 10 + ["b"] * 30, "x": np.arange(40.0)})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", skhyper.RareContextWarning)
        make_model(ConcatClassifier, context_column="ctx").fit(X, X["x"] > 15)


def test_the_rare_context_warning_is_true_of_concat_models():
    # They have no generated layers, nor context_pooling/context_shrinkage.
    X = pd.DataFrame({"ctx": ["a"] * 3 + ["b"] * 30, "x": np.arange(33.0)})
    with pytest.warns(skhyper.RareContextWarning) as caught:
        make_model(ConcatClassifier, context_column="ctx").fit(X, X["x"] > 15)
    assert caught[0].filename == __file__  # the user's line, past fit's wrappers
    message = str(caught[0].message)
    assert "Their generated layers rest on those rows alone" not in message
    assert "ConcatClassifier and ConcatRegressor have no such shrinkage" in message


def test_a_context_of_fractional_numbers_is_pointed_to_continuous_context():
    """A measurement named as the context (an index of body mass, say)
    becomes one category per value, nearly all rare, without a word on the
    parameter that reads it as a number."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"bmi": rng.normal(25, 4, 60).round(1), "x": rng.normal(size=60)})
    with pytest.warns(skhyper.RareContextWarning, match=r"continuous_context='bmi'"):
        make_model(ConcatClassifier, context_column="bmi").fit(X, X["x"] > 0)
    # Whole numbers (codes, years) stay categories without the hint.
    X["bmi"] = X["bmi"].round()
    with pytest.warns(skhyper.RareContextWarning) as caught:
        make_model(ConcatClassifier, context_column="bmi").fit(X, X["x"] > 0)
    assert "continuous_context" not in str(caught[0].message)


# -- intervals as context values (pd.cut's bins) ---------------------------------


@pytest.mark.parametrize("cls", [HyperNetworkClassifier, ConcatRegressor])
def test_interval_contexts_are_found_by_equality_not_by_containment(cls):
    """pandas looks intervals up in an IntervalIndex, which found a number by
    the bin that holds it (0.3 took the layer of (0, 0.5]) and could not
    look up overlapping intervals at all (a raw InvalidIndexError at fit)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=90), "z": rng.normal(size=90)})
    X["bin"] = pd.cut(rng.uniform(size=90), [0.0, 0.5, 1.0])
    y = target(cls, (X["x"] > 0).astype(int).to_numpy())
    model = make_model(cls, context_column="bin").fit(X, y)
    with pytest.raises(ValueError, match=r"not seen during fit: 0\.3"):
        model.predict(X.head(2).assign(bin=0.3))
    # Overlapping intervals: windows that share their start.
    windows = [pd.Interval(0, 1 + k % 3) for k in range(len(X))]
    X["bin"] = pd.Series(windows, dtype=object)
    model = make_model(cls, context_column="bin").fit(X, y)
    assert len(model.context_categories_) == 3
    codes = model.encoder_.context_encoders_[0].encode(X["bin"])
    assert np.array_equal(codes, np.arange(len(X)) % 3)
