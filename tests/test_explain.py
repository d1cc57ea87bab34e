"""Per-context explanations: ``explain`` and ``plot_context_effects``.

What is checked: the contributions add up to the output the model predicts
(completeness), exactly where the network is linear along the path; they
find the feature that matters in each context of a table built so; every
estimator returns one column per non-context column, labelled as in X and
indexed like X, and the plot draws each with its own values;
categorical features, missing values and every numeric encoding are
attributed to their own column; bad arguments get errors that say what to
do; the fitted network is left as it was; the plot has the panels it
promises.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import SMALL, TINY
from sklearn.exceptions import NotFittedError

import skhyper
from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
    plot_context_effects,
)
from skhyper._explain import _kink_weights

matplotlib.use("Agg")


def _table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a categorical one and a context column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "x2": rng.normal(size=n),
            "ctx": rng.choice(["a", "b", "c"], n),
        },
        index=pd.Index(np.arange(n) * 10 + 7, name="row"),  # not 0..n-1
    )


def _switching_table(n: int = 600, seed: int = 0):
    """x1 decides the label in context "a" only, x2 in context "b" only."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "ctx": rng.choice(["a", "b"], n),
        }
    )
    y = np.where(X["ctx"] == "a", X["x1"] > 0, X["x2"] > 0).astype(int)
    return X, y


def _log_odds(model, X, label) -> np.ndarray:
    proba = model.predict_proba(X)
    k = list(model.classes_).index(label)
    return np.log(proba[:, k]) - np.log1p(-proba[:, k])


@pytest.fixture(scope="module")
def switching_model():
    X, y = _switching_table()
    model = HyperNetworkClassifier(
        "ctx",
        max_epochs=40,
        early_stopping=False,
        random_state=0,
        **SMALL[HyperNetworkClassifier],
    ).fit(X, y)
    return model, X, y


# -- completeness -----------------------------------------------------------


def test_contributions_add_up_to_the_log_odds_of_a_relu_classifier(switching_model):
    model, X, _ = switching_model
    explanation = model.explain(X, n_steps=64)
    np.testing.assert_allclose(
        explanation.sum(axis=1), _log_odds(model, X, 1), rtol=1e-3, atol=1e-3
    )
    # The reported gap is the one measured here.
    gap = np.abs(explanation.sum(axis=1) - _log_odds(model, X, 1)).max()
    assert explanation.attrs["max_completeness_gap"] == pytest.approx(gap, abs=1e-6)
    assert "log-odds of class 1" in explanation.attrs["output"]


@pytest.mark.parametrize("cls", [HyperNetworkRegressor, ConcatRegressor])
def test_contributions_add_up_to_the_prediction_of_a_regressor(cls):
    X = _table()
    y = np.where(X["ctx"] == "a", 3 * X["x1"], -X["x2"]) * 10 + 50
    model = cls("ctx", max_epochs=10, random_state=0, **SMALL[cls]).fit(X, y)
    explanation = model.explain(X, n_steps=64)
    np.testing.assert_allclose(
        explanation.sum(axis=1), model.predict(X), rtol=1e-3, atol=1e-3
    )


def test_a_smooth_network_is_integrated_to_float_precision():
    """gelu: the integrand is smooth, and Gauss-Legendre converges fast."""
    X, y = _switching_table(300)
    model = HyperNetworkClassifier(
        "ctx",
        activation="gelu",
        max_epochs=10,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    ).fit(X, y)
    explanation = model.explain(X, n_steps=32)
    np.testing.assert_allclose(
        explanation.sum(axis=1), _log_odds(model, X, 1), rtol=1e-5, atol=1e-5
    )


def _linearised(model):
    """The fitted hypernetwork with the activation and the layers after
    the generated layer taken out: its output is then linear in the
    encoded inputs (for a fixed context)."""
    model.net_.module_.after_context = torch.nn.Identity()
    model.net_.module_.fc = torch.nn.Identity()
    return model


def test_a_linear_network_is_explained_exactly_with_one_step():
    X = _table().drop(columns="colour")
    y = X["x1"] - 2 * X["x2"]
    model = _linearised(
        HyperNetworkRegressor(
            "ctx", max_epochs=3, random_state=0, **TINY[HyperNetworkRegressor]
        ).fit(X, y)
    )
    explanation = model.explain(X, n_steps=1)
    # Linear: a feature's contribution is the change of the prediction when
    # that feature alone moves from the baseline (its training mean).
    means = dict(zip(["x1", "x2"], model.encoder_.numeric_encoder_.mean_, strict=True))
    at_mean = X.assign(**means)
    for feature in ("x1", "x2"):
        alone = at_mean.assign(**{feature: X[feature]})
        np.testing.assert_allclose(
            explanation[feature],
            model.predict(alone) - model.predict(at_mean),
            atol=1e-5,
        )
    np.testing.assert_allclose(
        explanation["baseline_output"], model.predict(at_mean), atol=1e-5
    )
    np.testing.assert_allclose(explanation.sum(axis=1), model.predict(X), atol=1e-5)


def test_a_row_equal_to_the_baseline_gets_no_contribution():
    X = _table()
    model = ConcatClassifier(
        "ctx", max_epochs=3, random_state=0, **TINY[ConcatClassifier]
    ).fit(X, X["x1"] > 0)
    explanation = model.explain(X.iloc[:5], baseline=X.iloc[[2]])
    features = ["x1", "colour", "x2"]
    assert (explanation.loc[X.index[2], features] == 0).all()
    log_odds = _log_odds(model, X.iloc[:5], True)
    assert explanation.loc[X.index[2], "baseline_output"] == pytest.approx(
        log_odds[2], abs=1e-5
    )


# -- per context -------------------------------------------------------------


def test_each_context_credits_the_feature_that_decides_it(switching_model):
    model, X, y = switching_model
    assert (model.predict(X) == y).mean() > 0.9  # it has learned the rule
    magnitude = model.explain(X)[["x1", "x2"]].abs().groupby(X["ctx"]).mean()
    assert magnitude.loc["a", "x1"] > 3 * magnitude.loc["b", "x1"]
    assert magnitude.loc["b", "x2"] > 3 * magnitude.loc["a", "x2"]
    assert magnitude.loc["a", "x1"] > 3 * magnitude.loc["a", "x2"]
    assert magnitude.loc["b", "x2"] > 3 * magnitude.loc["b", "x1"]


def test_the_baseline_output_is_that_of_the_rows_own_context(switching_model):
    model, X, _ = switching_model
    explanation = model.explain(X)
    per_context = explanation["baseline_output"].groupby(X["ctx"]).agg(["min", "max"])
    # One value per context, and the two contexts differ.
    np.testing.assert_allclose(per_context["min"], per_context["max"], atol=1e-9)
    assert per_context.loc["a", "min"] != pytest.approx(per_context.loc["b", "min"])


# -- every estimator: shape, index, columns ------------------------------------


@pytest.mark.parametrize(
    "cls, kind",
    [
        (HyperNetworkClassifier, "binary"),
        (ConcatClassifier, "binary"),
        (HyperNetworkClassifier, "multiclass"),
        (ConcatClassifier, "multiclass"),
        (HyperNetworkRegressor, "single"),
        (ConcatRegressor, "single"),
        (HyperNetworkRegressor, "multi"),
        (ConcatRegressor, "multi"),
    ],
)
def test_every_estimator_explains_each_non_context_column(cls, kind):
    X = _table(120)
    rng = np.random.default_rng(1)
    y, target, output = {
        "binary": (X["x1"] > 0, None, lambda m: _log_odds(m, X, True)),
        "multiclass": (
            rng.choice(["p", "q", "s"], len(X)),
            "q",
            lambda m: _log_odds(m, X, "q"),
        ),
        "single": (X["x1"].to_numpy() * 5, None, lambda m: m.predict(X)),
        "multi": (
            np.c_[X["x1"], X["x2"] * 100],
            1,
            lambda m: m.predict(X)[:, 1],
        ),
    }[kind]
    model = cls("ctx", max_epochs=3, random_state=0, **TINY[cls]).fit(X, y)
    explanation = model.explain(X, target=target)
    assert explanation.columns.tolist() == ["x1", "colour", "x2", "baseline_output"]
    assert explanation.index.equals(X.index)
    assert explanation.dtypes.eq(np.float64).all()
    np.testing.assert_allclose(
        explanation.sum(axis=1), output(model), rtol=5e-3, atol=5e-3
    )


def test_an_array_gets_columns_named_by_position():
    X = _table(120).drop(columns="colour")
    model = HyperNetworkClassifier(
        2, max_epochs=3, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X.to_numpy(dtype=object), X["x1"] > 0)
    explanation = model.explain(X.to_numpy(dtype=object))
    assert explanation.columns.tolist() == [0, 1, "baseline_output"]
    assert explanation.index.equals(pd.RangeIndex(len(X)))


# -- categorical features, missing values, numeric encodings ---------------------


@pytest.mark.parametrize("encoding", ["standard", "quantile", "piecewise_linear"])
def test_a_changed_value_is_credited_to_its_own_column(encoding):
    """A row that differs from the baseline row in one column only: that
    column gets the whole change of the output, through its bins and its
    missing-value indicator, or through its embedding."""
    X = _table()
    X.loc[X.index[::7], "x2"] = np.nan  # x2 gets a missing-value indicator
    y = (X["x1"] + X["x2"].fillna(2) + (X["colour"] == "red")) > 0.5
    model = HyperNetworkClassifier(
        "ctx",
        numeric_encoding=encoding,
        # Trained until it has learned the rule (training accuracy 0.91-0.93):
        # 5 epochs under the defaults left a piecewise-linear model whose
        # log-odds moved by under 0.001 for some of the changes below.
        max_epochs=50,
        early_stopping=False,
        weight_decay=0.1,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    ).fit(X, y)
    assert model.encoder_.numeric_encoder_.has_missing_.tolist() == [False, True]
    reference = X.iloc[[1]].assign(x2=0.3, colour="green")
    changed = pd.concat(
        [
            reference.assign(x2=np.nan),  # missing: filled value + indicator
            reference.assign(x2=2.5),
            reference.assign(colour="red"),
            reference.assign(x1=-1.5),
        ]
    )
    explanation = model.explain(changed, baseline=reference, n_steps=64)
    change = _log_odds(model, changed, True) - _log_odds(model, reference, True)[0]
    for row, column in enumerate(["x2", "x2", "colour", "x1"]):
        others = [c for c in ["x1", "colour", "x2"] if c != column]
        assert (explanation.iloc[row][others] == 0).all()
        assert explanation.iloc[row][column] == pytest.approx(change[row], abs=1e-3)
    assert (np.abs(change) > 1e-3).all()  # the model does respond to each


def test_the_mean_baseline_is_the_mean_row_with_the_mean_embedding():
    X = _table()
    model = HyperNetworkClassifier(
        "ctx", max_epochs=3, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X["x1"] > 0)
    explanation = model.explain(X.iloc[:3])
    # Recompute the baseline's log-odds by hand, in each row's context.
    module = model.net_.module_
    colours = module.projection.embeddings[0].weight[:3].mean(dim=0)
    numeric = torch.zeros(1, 2)
    with torch.no_grad():
        features = torch.cat([numeric, colours[None]], dim=1)
        projected = module.projection.linear(features)
        codes = torch.as_tensor(model.encoder_.transform(X.iloc[:3]).context)
        hidden, _ = module.context_layer(projected.expand(3, -1), codes)
        last = module.fc(module.after_context(hidden))
        # The default linear readout: the output layer also reads `hidden`.
        logits = module.output(torch.cat([last, hidden], dim=1))
    expected = (logits[:, 1] - logits[:, 0]).numpy()
    np.testing.assert_allclose(explanation["baseline_output"], expected, atol=1e-5)


@pytest.mark.parametrize("encoding", ["standard", "piecewise_linear"])
def test_the_mean_baseline_is_the_mean_of_the_observed_values(encoding):
    """With missing values at fit a column is standardised with the mean of
    its median-filled values; the baseline is its training mean over the
    observed values all the same, as documented: a row at that mean gets
    no contribution from the column (it got one of about 0.04 here)."""
    rng = np.random.default_rng(0)
    skewed = rng.exponential(size=300)
    skewed[rng.random(300) < 0.5] = np.nan
    X = pd.DataFrame(
        {
            "x1": skewed,
            "x2": rng.normal(size=300),
            "ctx": rng.choice(["a", "b"], 300),
        }
    )
    model = HyperNetworkRegressor(
        "ctx",
        numeric_encoding=encoding,
        max_epochs=3,
        random_state=0,
        **TINY[HyperNetworkRegressor],
    ).fit(X, X["x2"])
    at_mean = X.head(5).assign(x1=np.nanmean(skewed))
    np.testing.assert_allclose(model.explain(at_mean)["x1"], 0.0, atol=1e-6)
    at_filled_mean = X.head(5).assign(x1=model.encoder_.numeric_encoder_.mean_[0])
    assert np.abs(model.explain(at_filled_mean)["x1"]).min() > 1e-3


# -- the fitted model is left alone ----------------------------------------------


def test_explaining_leaves_the_fitted_network_as_it_was(switching_model):
    model, X, _ = switching_model
    before = model.predict_proba(X)
    module = model.net_.module_
    grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    model.explain(X.head(20))
    assert not module.training
    assert all(p.dtype == torch.float32 for p in module.parameters())
    for parameter, grad in zip(module.parameters(), grads, strict=True):
        assert (parameter.grad is None) == (grad is None)
        assert grad is None or torch.equal(parameter.grad, grad)
    assert np.array_equal(model.predict_proba(X), before)


# -- errors -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def multiclass_model():
    X = _table(120)
    y = np.random.default_rng(0).choice(["p", "q", "s"], len(X))
    model = ConcatClassifier(
        "ctx", max_epochs=2, random_state=0, **TINY[ConcatClassifier]
    ).fit(X, y)
    return model, X


def test_multiclass_needs_a_target_and_names_the_classes(multiclass_model):
    model, X = multiclass_model
    with pytest.raises(ValueError, match=r"3 classes \(\['p', 'q', 's'\]\).*target="):
        model.explain(X)
    with pytest.raises(ValueError, match=r"target='z' is not a class.*'p', 'q', 's'"):
        model.explain(X, target="z")
    with pytest.raises(ValueError, match="is not a class"):
        model.explain(X, target=["p"])


def test_a_regressor_target_must_be_a_column_position():
    X = _table(120)
    model = ConcatRegressor(
        "ctx", max_epochs=2, random_state=0, **TINY[ConcatRegressor]
    ).fit(X, np.c_[X["x1"], X["x2"]])
    with pytest.raises(ValueError, match="predicts 2 target columns; pass target="):
        model.explain(X)
    with pytest.raises(ValueError, match=r"target=2 is out of range.*\[0, 1\]"):
        model.explain(X, target=2)
    with pytest.raises(TypeError, match="position of a target column"):
        model.explain(X, target="x1")
    with pytest.raises(TypeError, match="position of a target column"):
        model.explain(X, target=True)


def test_explain_before_fit_is_not_fitted():
    with pytest.raises(NotFittedError):
        HyperNetworkClassifier("ctx").explain(_table(10))


def test_other_columns_than_at_fit_are_rejected(multiclass_model):
    model, X = multiclass_model
    with pytest.raises(ValueError, match="same columns"):
        model.explain(X.drop(columns="x2"), target="p")
    with pytest.raises(ValueError, match="same columns"):
        model.explain(X, target="p", baseline=X.iloc[[0]].rename(columns={"x1": "z"}))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_steps": 0}, ValueError, "n_steps must be at least 1"),
        ({"n_steps": 2.5}, TypeError, "n_steps must be a positive integer"),
        ({"baseline": "median"}, ValueError, 'baseline must be "mean"'),
        ({"baseline": 0.0}, ValueError, 'baseline must be "mean"'),
    ],
)
def test_bad_arguments_say_what_to_pass(multiclass_model, kwargs, error, message):
    model, X = multiclass_model
    with pytest.raises(error, match=message):
        model.explain(X, target="p", **kwargs)


def test_a_baseline_of_several_rows_is_rejected(multiclass_model):
    model, X = multiclass_model
    with pytest.raises(ValueError, match="baseline has 2 rows; pass exactly one"):
        model.explain(X, target="p", baseline=X.iloc[:2])


# -- the plot ------------------------------------------------------------------------


def test_the_dependence_plot_has_a_panel_per_feature_and_a_colour_per_context(
    switching_model,
):
    model, X, _ = switching_model
    figure = plot_context_effects(model, X.head(100), n_steps=8)
    assert [ax.get_title() for ax in figure.axes] == ["x1", "x2"]
    for ax in figure.axes:
        assert len(ax.collections) == 2  # one scatter per context
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert sorted(legend) == ["a", "b"]


def test_the_heatmap_shows_the_mean_absolute_contribution(switching_model):
    model, X, _ = switching_model
    explanation = model.explain(X)
    figure = plot_context_effects(
        model, X, kind="heatmap", explanation=explanation, features=["x2", "x1"]
    )
    image = figure.axes[0].get_images()[0].get_array()
    expected = explanation[["x2", "x1"]].abs().groupby(X["ctx"]).mean()
    shown = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    np.testing.assert_allclose(image, expected.loc[shown].to_numpy())
    assert len(figure.axes) == 2  # the heatmap and its colour bar


def test_the_plot_draws_categories_and_says_which_contexts_it_left_out():
    X = _table(150)
    model = ConcatClassifier(
        "ctx", max_epochs=2, random_state=0, **TINY[ConcatClassifier]
    ).fit(X, X["x1"] > 0)
    figure = plot_context_effects(model, X, max_contexts=2, n_steps=4)
    assert "(1 more contexts not shown)" in figure._suptitle.get_text()
    colour_panel = figure.axes[1]
    labels = [t.get_text() for t in colour_panel.get_xticklabels()]
    assert labels == ["blue", "green", "red"]
    assert len(colour_panel.collections) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "bars"}, 'kind must be "dependence" or "heatmap"'),
        ({"features": ["ctx"]}, "not explained columns of X"),
        ({"max_contexts": 0}, "max_contexts must be at least 1"),
    ],
)
def test_bad_plot_arguments_say_what_to_pass(switching_model, kwargs, message):
    model, X, _ = switching_model
    with pytest.raises(ValueError, match=message):
        plot_context_effects(model, X.head(10), n_steps=2, **kwargs)


def test_an_explanation_of_other_rows_is_rejected(switching_model):
    model, X, _ = switching_model
    explanation = model.explain(X.head(10), n_steps=2)
    with pytest.raises(ValueError, match="not indexed like X"):
        plot_context_effects(model, X.tail(10), explanation=explanation)


# -- continuous contexts -------------------------------------------------------------


def test_a_continuous_context_is_held_fixed_and_grouped_by_quantile_in_the_plot():
    """y = temp * x1: x1 matters where |temp| is large, not near 0."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=600),
            "x2": rng.normal(size=600),
            "temp": rng.uniform(-1, 1, 600),
        }
    )
    y = 3 * X["temp"] * X["x1"] + 0.5 * X["x2"]
    model = HyperNetworkRegressor(
        continuous_context="temp",
        max_epochs=60,
        early_stopping=False,
        random_state=0,
        **SMALL[HyperNetworkRegressor],
    ).fit(X, y)
    explanation = model.explain(X)
    assert explanation.columns.tolist() == ["x1", "x2", "baseline_output"]
    np.testing.assert_allclose(
        explanation.sum(axis=1), model.predict(X), rtol=1e-3, atol=1e-2
    )
    x1 = explanation["x1"].abs()
    assert x1[X["temp"].abs() > 0.7].mean() > 3 * x1[X["temp"].abs() < 0.2].mean()
    figure = plot_context_effects(
        model, X, kind="heatmap", explanation=explanation, max_contexts=4
    )
    rows = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(rows) == 4 and all(row.startswith("temp in (") for row in rows)
    lower_ends = [float(row.split("(")[1].split(",")[0]) for row in rows]
    assert lower_ends == sorted(lower_ends)  # in the order of temp


def test_several_context_columns_and_a_saved_model(tmp_path):
    """Contexts are combinations of the context columns' values; a model
    loaded with skhyper.load explains exactly as the one saved."""
    X = _table(200)
    model = HyperNetworkClassifier(
        ["ctx", "colour"], max_epochs=3, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X["x1"] > 0)
    explanation = model.explain(X)
    assert explanation.columns.tolist() == ["x1", "x2", "baseline_output"]
    figure = plot_context_effects(model, X, explanation=explanation, max_contexts=9)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert set(legend) == {
        f"{c} / {k}" for c in "abc" for k in ("blue", "green", "red")
    }
    skhyper.dump(model, tmp_path / "model.skops")
    loaded = skhyper.load(tmp_path / "model.skops")
    pd.testing.assert_frame_equal(loaded.explain(X), explanation)


# -- edge cases of the plot, inference mode, baselines and kinks ------------------


@pytest.fixture(scope="module")
def continuous_model():
    """A regressor whose only context is the continuous column "temp"."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"temp": rng.normal(size=120), "x1": rng.normal(size=120)})
    model = HyperNetworkRegressor(
        continuous_context="temp",
        max_epochs=2,
        random_state=0,
        **TINY[HyperNetworkRegressor],
    ).fit(X, X["x1"] * X["temp"])
    return model, X


def _legend(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_a_continuous_context_of_few_rows_is_plotted_in_its_observed_groups(
    continuous_model,
):
    """Three rows cut into six quantile groups leave three groups empty:
    only the three with a row are drawn, and none is said to be left out
    (it said "-3 more"). One row, or one value, is one group (qcut finds
    none: nothing was drawn, and the heatmap failed in NumPy)."""
    model, X = continuous_model
    figure = plot_context_effects(model, X.head(3), n_steps=2)
    assert "not shown" not in figure._suptitle.get_text()
    assert len(_legend(figure)) == 3
    figure = plot_context_effects(model, X.head(1), n_steps=2)
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == 1
    assert _legend(figure) == [f"temp = {X['temp'].iloc[0]:.4g}"]
    figure = plot_context_effects(model, X.head(1), kind="heatmap", n_steps=2)
    assert figure.axes[0].get_images()[0].get_array().shape == (1, 1)
    constant = X.head(5).assign(temp=0.25)
    figure = plot_context_effects(model, constant, kind="heatmap", n_steps=2)
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["temp = 0.25"]


def test_rows_without_a_continuous_context_are_a_group_that_is_counted(
    continuous_model,
):
    """They were dropped from the plot without a word."""
    model, X = continuous_model
    rows = X.head(20).copy()
    rows.loc[rows.index[:4], "temp"] = np.nan
    figure = plot_context_effects(model, rows, max_contexts=3, n_steps=2)
    legend = _legend(figure)
    assert len(legend) == 3 and legend[-1] == "temp missing"
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == 20
    figure = plot_context_effects(model, rows, max_contexts=1, n_steps=2)
    assert "(1 more contexts not shown)" in figure._suptitle.get_text()


def test_an_empty_list_of_features_asks_for_one(switching_model):
    model, X, _ = switching_model
    with pytest.raises(ValueError, match="features is empty; pass at least one"):
        plot_context_effects(model, X.head(10), n_steps=2, features=[])


def test_explain_works_inside_torch_inference_mode(switching_model, tmp_path):
    """Inference mode switches autograd off (enable_grad does not switch it
    back on): explain failed there with "does not require grad"."""
    model, X, _ = switching_model
    expected = model.explain(X.head(5), baseline=X.iloc[[7]], n_steps=8)
    skhyper.dump(model, tmp_path / "model.skops")
    with torch.inference_mode():
        rows, baseline = X.head(5), X.iloc[[7]]
        # A model loaded, and predictions made, inside inference mode too.
        loaded = skhyper.load(tmp_path / "model.skops")
        loaded.predict_proba(rows)
        for estimator in (model, loaded):
            explanation = estimator.explain(rows, baseline=baseline, n_steps=8)
            pd.testing.assert_frame_equal(explanation, expected)


def test_the_baselines_context_is_ignored(switching_model):
    """As explain's docstring says: an unseen or missing context value in
    the baseline changes nothing (it was rejected as if X held it); the
    baseline's other columns are checked, with errors that name it."""
    model, X, _ = switching_model
    rows = X.head(6)
    expected = model.explain(rows, baseline=X.iloc[[0]], n_steps=8)
    for context in ("unseen", np.nan, "b" if X["ctx"].iloc[0] == "a" else "a"):
        baseline = X.iloc[[0]].assign(ctx=context)
        explanation = model.explain(rows, baseline=baseline, n_steps=8)
        pd.testing.assert_frame_equal(explanation, expected)
    with pytest.raises(ValueError, match=r"(?s)^baseline: .*same columns"):
        model.explain(rows, baseline=X.iloc[[0]].rename(columns={"x1": "z"}))


def test_the_baseline_of_a_continuous_context_is_ignored_too(continuous_model):
    model, X = continuous_model
    expected = model.explain(X.head(4), baseline=X.iloc[[9]], n_steps=4)
    for temp in (np.nan, 1e6, "hot"):
        baseline = X.iloc[[9]].astype(object).assign(temp=temp)
        explanation = model.explain(X.head(4), baseline=baseline, n_steps=4)
        pd.testing.assert_frame_equal(explanation, expected)


def _kink_weights_sum(values, slopes) -> torch.Tensor:
    """What the weights integrate the slopes to, cell by cell summed."""
    return (_kink_weights(values, slopes) * slopes).sum(dim=0)


def test_a_cell_with_two_kinks_still_reproduces_its_change():
    """One cell of [0, 1], slope 1 up to 0.3, -2 to 0.5, 1 after: its end
    slopes are equal (the trapezoid gave 1), and a cell with slopes 1, -6,
    3 places its "kink" outside the cell (the clip gave 1); each
    integrates to the change of the output all the same. Flat at both
    ends, nothing can: it is left as the trapezoid."""
    values = torch.tensor([[0.0, 0.0, 0.0], [0.4, 0.6, 0.7]], dtype=torch.float64)
    slopes = torch.tensor([[1.0, 1.0, 0.0], [1.0, 3.0, 0.0]], dtype=torch.float64)
    total = _kink_weights_sum(values, slopes)
    np.testing.assert_allclose(total.numpy(), [0.4, 0.6, 0.0], rtol=0, atol=1e-12)
    # One kink in a cell is still located exactly (and the sum is right).
    weights = _kink_weights(
        torch.tensor([[0.0], [0.25 + 0.75 * 3]], dtype=torch.float64),
        torch.tensor([[1.0], [3.0]], dtype=torch.float64),
    )
    np.testing.assert_allclose(weights[:, 0].numpy(), [0.25, 0.75], rtol=0, atol=1e-12)


def test_a_relu_network_adds_up_exactly_with_few_steps(switching_model):
    """Four cells hold several kinks on some rows: the clip of theta alone
    left gaps of 0.07; the corrected weights leave float32 rounding."""
    model, X, _ = switching_model
    explanation = model.explain(X, n_steps=4)
    assert explanation.attrs["max_completeness_gap"] < 1e-4


# -- column labels: X's own, and the plot pairs them by position -------------------


def _numbered_table(labels: list, n: int = 150) -> pd.DataFrame:
    """x1, x2 and a context column, labelled ``labels`` (integers)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "ctx": rng.choice(["a", "b"], n),
        }
    )
    X.columns = labels
    return X


def _points(ax) -> np.ndarray:
    """Every (x, y) drawn in a panel, sorted by row for comparison."""
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    return points[np.lexsort(points.T[::-1])]


def test_integer_column_labels_are_the_explanations_own():
    """scikit-learn keeps no feature_names_in_ for integer labels: explain
    named the columns 0, 1 (positions), and the plot raised KeyError: 0."""
    X = _numbered_table([10, 20, 30])
    model = HyperNetworkClassifier(  # an integer context_column is a position
        2, max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X[10] > 0)
    explanation = model.explain(X, n_steps=4)
    assert explanation.columns.tolist() == [10, 20, "baseline_output"]
    figure = plot_context_effects(model, X, explanation=explanation)
    assert [ax.get_title() for ax in figure.axes] == ["10", "20"]


def test_the_plot_pairs_each_feature_with_its_own_values():
    """Labels that permute the positions: the panel of column 1 (at
    position 0) drew the values of column 0 against column 1's
    contributions, without an error."""
    X = _numbered_table([1, 0, 2])
    model = HyperNetworkClassifier(
        2, max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X[1] > 0)
    explanation = model.explain(X, n_steps=4)
    assert explanation.columns.tolist() == [1, 0, "baseline_output"]
    figure = plot_context_effects(model, X, explanation=explanation)
    for ax, label in zip(figure.axes, [1, 0], strict=True):
        assert ax.get_title() == str(label)
        expected = np.c_[X[label], explanation[label]]
        np.testing.assert_allclose(
            _points(ax), expected[np.lexsort(expected.T[::-1])], rtol=1e-6
        )


def test_an_array_is_plotted_for_a_model_fitted_on_a_data_frame():
    """explain and predict take the array (scikit-learn only warns); the
    plot raised KeyError: 'x1'. The array's columns are its positions."""
    X = _table(100).drop(columns="colour")
    model = HyperNetworkClassifier(
        "ctx", max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X["x1"] > 0)
    array = X.to_numpy(dtype=object)
    with pytest.warns(UserWarning, match="feature names"):
        explanation = model.explain(array, n_steps=4)
        figure = plot_context_effects(model, array, explanation=explanation)
    assert explanation.columns.tolist() == [0, 1, "baseline_output"]
    assert [ax.get_title() for ax in figure.axes] == ["0", "1"]
    np.testing.assert_allclose(
        _points(figure.axes[1])[:, 0], np.sort(X["x2"].to_numpy()), rtol=1e-6
    )


def test_an_explanation_labelled_otherwise_than_x_is_rejected(switching_model):
    """The plot pairs contributions and values by label: an explanation
    labelled otherwise (of the same rows as an array) must not be paired
    with X, and a part of one cannot be told apart from a part of the
    other (panels are chosen with features=)."""
    model, X, _ = switching_model
    rows = X.head(10)
    explanation = model.explain(rows, n_steps=2)
    for other in (
        explanation[["x1", "baseline_output"]],
        explanation.set_axis([0, 1, "baseline_output"], axis=1),
    ):
        with pytest.raises(ValueError, match="explanation has the columns"):
            plot_context_effects(model, rows, explanation=other)
    with pytest.raises(TypeError, match="explanation must be the DataFrame"):
        plot_context_effects(model, rows, explanation=explanation.to_numpy())


# -- the fitted network, not the parameters ---------------------------------------


def test_explain_reads_the_fitted_network_not_the_parameters():
    """set_params without a refit leaves predict as it was; explain read
    embedding_size (a wrong split of the encoded inputs, or IndexError)
    and activation (the wrong integration rule) from the parameters."""
    X = _table(120)
    model = HyperNetworkClassifier(
        "ctx",
        embedding_size=4,
        activation="gelu",
        max_epochs=2,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    ).fit(X, X["x1"] > 0)
    expected = model.explain(X.head(10), n_steps=4)
    for params in (
        {"embedding_size": 2},
        {"embedding_size": 8},
        {"activation": "relu"},
    ):
        model.set_params(**params)
        explanation = model.explain(X.head(10), n_steps=4)
        pd.testing.assert_frame_equal(explanation, expected, check_exact=True)


# -- the baseline and the "baseline_output" column -----------------------------------


@pytest.mark.parametrize(
    "make_baseline, error, message",
    [
        (lambda X: X.iloc[:0], ValueError, "baseline has 0 rows; pass exactly one"),
        (
            lambda X: X.iloc[0],
            TypeError,
            "baseline must be a table of one row, not a Series",
        ),
        (
            lambda X: {"x1": 0.0},
            TypeError,
            "baseline must be a table of one row, not a dict",
        ),
        (
            lambda X: X.to_numpy()[0],
            ValueError,
            r"baseline is one-dimensional \(shape \(4,\)\)",
        ),
        (lambda X: [0.0, "red", 0.0, "a"], ValueError, "^baseline: .*2D array"),
    ],
)
def test_a_malformed_baseline_is_named_in_the_error(
    multiclass_model, make_baseline, error, message
):
    """They read as errors of X ("Found array with 0 sample(s)") or were
    scikit-learn's generic 2-D message."""
    model, X = multiclass_model
    with pytest.raises(error, match=message):
        model.explain(X.head(3), target="p", baseline=make_baseline(X))


def test_only_a_non_context_column_named_baseline_output_clashes():
    """Context columns get no column in the result: a context named
    "baseline_output" was rejected all the same."""
    X = _table(100).drop(columns="colour")
    model = HyperNetworkClassifier(
        "baseline_output", max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier]
    )
    model.fit(X.rename(columns={"ctx": "baseline_output"}), X["x1"] > 0)
    explanation = model.explain(X.rename(columns={"ctx": "baseline_output"}))
    assert explanation.columns.tolist() == ["x1", "x2", "baseline_output"]
    clashing = X.rename(columns={"x2": "baseline_output"})
    model = HyperNetworkClassifier(
        "ctx", max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(clashing, X["x1"] > 0)
    with pytest.raises(ValueError, match="non-context column named 'baseline_output'"):
        model.explain(clashing)


# -- the plot: colours, missing values, few context values ------------------------


def test_more_than_ten_contexts_get_distinct_colours():
    """tab10 repeated its colours from the eleventh context on."""
    X = _table(280).drop(columns="colour")
    X["ctx"] = [f"c{i:02d}" for i in range(14)] * 20
    model = HyperNetworkClassifier(
        "ctx", max_epochs=1, random_state=0, **TINY[HyperNetworkClassifier]
    ).fit(X, X["x1"] > 0)
    for n_contexts in (14, 3):
        figure = plot_context_effects(model, X, max_contexts=n_contexts, n_steps=2)
        colours = {tuple(c.get_facecolor()[0]) for c in figure.axes[0].collections}
        assert len(colours) == n_contexts


def test_rows_with_a_missing_feature_are_drawn_or_counted():
    """A missing category is drawn at a tick "(missing)" of its own (such
    rows vanished from the panel); a missing number has no place on the
    axis, and the x label says how many rows were left out."""
    X = _table(120)
    model = HyperNetworkClassifier(
        "ctx",
        handle_unknown="learned",
        max_epochs=1,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    ).fit(X.assign(x2=X["x2"].mask(X.index < 100)), X["x1"] > 0)
    rows = X.head(30).copy()
    rows.loc[rows.index[:10], "colour"] = np.nan
    rows.loc[rows.index[:3], "x2"] = np.nan
    figure = plot_context_effects(model, rows, n_steps=2)
    x1, colour, x2 = figure.axes
    points = _points(colour)
    assert len(points) == 30 and np.isfinite(points).all()
    ticks = [t.get_text() for t in colour.get_xticklabels()]
    assert ticks == ["blue", "green", "red", "(missing)"]
    assert (np.round(points[:, 0]) == 3).sum() == 10
    assert x1.get_xlabel() == "x1"
    assert x2.get_xlabel() == "x2 (3 rows missing, not drawn)"


def test_a_continuous_context_with_few_values_has_a_group_per_value():
    """Three years and six groups: quantile groups merged two years."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"x1": rng.normal(size=150), "year": rng.integers(2000, 2003, 150)}
    )
    model = HyperNetworkRegressor(
        continuous_context="year",
        max_epochs=1,
        random_state=0,
        **TINY[HyperNetworkRegressor],
    ).fit(X, X["x1"])
    figure = plot_context_effects(model, X, n_steps=2)
    assert _legend(figure) == ["year = 2000", "year = 2001", "year = 2002"]
    # Values that 4 digits cannot tell apart get more digits, one each.
    close = X.assign(year=X["year"] + 0.0001 * (X.index % 2))
    figure = plot_context_effects(model, close, n_steps=2)
    assert len(set(_legend(figure))) == 6 and "year = 2000.0001" in _legend(figure)
