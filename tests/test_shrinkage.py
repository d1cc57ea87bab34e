"""``context_shrinkage``: partial pooling after training.

A context with ``n_c`` training rows keeps ``n_c / (n_c + k)`` of its
generated update and takes the rest from the mean update of the training
rows. What is checked: the blend of low-rank factors is the blend of the
updates exactly; kept shares of 1 and 0 give the unpooled network and the
mean update; training is untouched (the same weights with and
without it); the rows are counted per context combination in rows of
average weight, from the training split only; ``"auto"`` keeps a weight only
where the validation split prefers it, and none without a validation split;
continuous contexts, ``partial_fit`` and ``warm_start`` follow their
documented rules; ONNX export, skops, pickle and explanations keep the
shrinkage; a file saved before the parameter existed loads without it.
"""

from __future__ import annotations

import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import TINY, target
from sklearn.utils._param_validation import InvalidParameterError

from skhyper import HyperNetworkClassifier, HyperNetworkRegressor, dump, load
from skhyper._modules import HyperNetworkModule
from skhyper._pooling import (
    SHRINKAGE_GRID,
    _row_losses,
    context_rows,
    pooling_coefficients,
)

HYPERNETWORKS = [HyperNetworkClassifier, HyperNetworkRegressor]


def _shared_rule(n: int = 600, n_contexts: int = 80, seed: int = 0):
    """Many small contexts that all follow one rule, plus per-context noise
    in the labels only: what a context's own update learns is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "ctx": rng.choice([f"c{i}" for i in range(n_contexts)], n),
        }
    )
    value = X["x1"] - 0.5 * X["x2"] + rng.normal(scale=0.8, size=n)
    return X, value.to_numpy()


def _fit(cls, X, value, **params):
    y = value if cls is HyperNetworkRegressor else (value > 0).astype(int)
    params = {"max_epochs": 5, "random_state": 0, **TINY[cls], **params}
    return cls("ctx", **params).fit(X, target(cls, y))


def _module(rank) -> HyperNetworkModule:
    torch.manual_seed(0)
    module = HyperNetworkModule(
        3, [], [5], 2, 8, 4, 8, generator_rank=rank, dropout=0.0
    )
    with torch.no_grad():  # a generator that is not zero yet
        for parameter in module.context_layer.generator.parameters():
            parameter.normal_()
    return module.eval()


def _inputs(n: int = 30) -> dict:
    generator = torch.Generator().manual_seed(1)
    return {
        "numeric": torch.randn(n, 3, generator=generator),
        "categorical": torch.empty(n, 0, dtype=torch.long),
        "context": torch.randint(0, 5, (n, 1), generator=generator),
    }


# -- the pooled layer ---------------------------------------------------------


def _dense_updates(layer, ids: torch.Tensor):
    """Each combination's generated ``dW`` and ``db``, unpooled."""
    weight, bias = layer.generate(layer.embedding.codes_of(ids))
    return weight - layer.base_weight, bias - layer.base_bias


@pytest.mark.parametrize("rank", [3, None], ids=["low-rank", "full"])
def test_the_mean_update_is_the_row_weighted_mean_of_the_updates(rank):
    layer = _module(rank).context_layer
    ids, rows = torch.tensor([0, 2, 3]), torch.tensor([1.0, 5.0, 2.0])
    weight, bias = _dense_updates(layer, ids)
    layer.set_pooling(ids, rows, 4.0)
    share = rows / rows.sum()
    torch.testing.assert_close(
        layer.mean_weight, torch.einsum("c,cio->io", share, weight)
    )
    torch.testing.assert_close(layer.mean_bias, share @ bias)
    torch.testing.assert_close(layer.update_kept, rows / (rows + 4.0))


@pytest.mark.parametrize("rank", [3, None], ids=["low-rank", "full"])
def test_each_listed_context_keeps_its_share_and_the_others_all(rank):
    """The pooled layer ``generate`` reports is the blend, and the forward
    pass applies it: a row's generated-layer output is the projected row
    times the blended weights."""
    module = _module(rank)
    layer = module.context_layer
    ids, rows = torch.tensor([0, 2, 3]), torch.tensor([1.0, 5.0, 2.0])
    every = torch.arange(6)
    own_weight, own_bias = _dense_updates(layer, every)
    layer.set_pooling(ids, rows, 4.0)
    kept = torch.ones(6)
    kept[ids] = rows / (rows + 4.0)
    pooled_weight, pooled_bias = layer.generate(every.unsqueeze(1))
    mean_weight, mean_bias = layer.mean_weight, layer.mean_bias
    expected = mean_weight + kept[:, None, None] * (own_weight - mean_weight)
    torch.testing.assert_close(pooled_weight, expected + layer.base_weight)
    expected = mean_bias + kept[:, None] * (own_bias - mean_bias)
    torch.testing.assert_close(pooled_bias, expected + layer.base_bias)
    inputs = _inputs()
    projected = module.projection(inputs["numeric"], inputs["categorical"])
    output, _ = layer(projected, inputs["context"])
    codes = inputs["context"][:, 0]
    by_weights = torch.einsum("ni,nio->no", projected, pooled_weight[codes])
    torch.testing.assert_close(
        output, by_weights + pooled_bias[codes], rtol=1e-5, atol=1e-4
    )


def test_training_never_pools_and_no_arguments_turn_it_off():
    module = _module(3)
    inputs = _inputs()
    plain = module(**inputs)
    layer = module.context_layer
    layer.set_pooling(torch.arange(5), torch.ones(5), 100.0)
    assert not torch.allclose(module(**inputs), plain)
    module.train()  # without dropout, only the pooling could differ
    torch.testing.assert_close(module(**inputs), plain)
    module.eval()
    layer.set_pooling()
    torch.testing.assert_close(module(**inputs), plain)


# -- counting rows ------------------------------------------------------------


def test_rows_are_counted_per_combination_in_rows_of_average_weight():
    module = HyperNetworkModule(2, [], [3, 2], 2, 8, 4, 8)
    context = torch.tensor([[0, 1], [0, 1], [2, 0], [1, 1]])
    weight = torch.tensor([1.0, 3.0, 2.0, 2.0])  # mean 2
    ids, rows = context_rows(module, context, weight)
    expected_ids = module.context_embedding.combination_ids(
        torch.tensor([[0, 1], [1, 1], [2, 0]])
    )
    np.testing.assert_array_equal(ids, expected_ids.numpy())
    np.testing.assert_allclose(rows, [2.0, 1.0, 1.0])


def test_rows_of_weight_zero_count_for_nothing():
    """Neither themselves nor by lowering the mean weight: with a copy of
    every row at weight 0 the counts doubled (and pooling halved)."""
    module = HyperNetworkModule(2, [], [3, 2], 2, 8, 4, 8)
    context = torch.tensor([[0, 1], [0, 1], [2, 0], [1, 1]])
    weight = torch.tensor([1.0, 3.0, 2.0, 2.0])
    doubled = torch.cat([context, context])
    padded = torch.cat([weight, torch.zeros(4)])
    np.testing.assert_allclose(
        context_rows(module, doubled, padded)[1],
        context_rows(module, context, weight)[1],
    )
    coefficients = pooling_coefficients(doubled.numpy(), padded.numpy(), 8.0)
    np.testing.assert_allclose(
        coefficients[:4], pooling_coefficients(context.numpy(), weight.numpy(), 8.0)
    )


@pytest.mark.parametrize("train", ["fit", "partial_fit"])
def test_a_copy_of_the_table_at_weight_zero_changes_no_count(train):
    X, value = _shared_rule(n_contexts=6)
    y = (value > 0).astype(int)
    params = dict(
        context_shrinkage=4.0,
        context_pooling=10.0,
        early_stopping=False,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    )
    counts = []
    for X_, y_, w in (
        (X, y, np.ones(len(y))),
        (pd.concat([X, X]), np.r_[y, y], np.r_[np.ones(len(y)), np.zeros(len(y))]),
    ):
        model = HyperNetworkClassifier("ctx", **params)
        extra = {"classes": [0, 1]} if train == "partial_fit" else {}
        getattr(model, train)(X_, y_, sample_weight=w, **extra)
        counts.append(model._pooled_rows)
    np.testing.assert_allclose(counts[1], counts[0])


def test_validation_rows_of_weight_zero_are_no_evidence_for_shrinkage():
    """Their losses are left out of the per-row losses that choose the
    prior weight: zeros shrank the mean gain and its standard error."""
    from skhyper._data import TensorTable

    X, value = _shared_rule(n_contexts=6)
    model = _fit(HyperNetworkRegressor, X, value, context_shrinkage=0.0)

    encoded = model.encoder_.transform(X)
    scaled = (value - model.target_mean_) / model.target_scale_
    weight = np.r_[np.ones(300), np.zeros(300)]
    rows = TensorTable(encoded, scaled[:, None].astype(np.float32), weight)
    first = TensorTable(
        model.encoder_.transform(X[:300]),
        scaled[:300, None].astype(np.float32),
        weight[:300],
    )
    np.testing.assert_allclose(
        _row_losses(model.net_, rows), _row_losses(model.net_, first), rtol=1e-6
    )


# -- the estimators -------------------------------------------------------------


@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_shrinkage_changes_predictions_but_not_training(cls):
    X, value = _shared_rule()
    plain = _fit(cls, X, value, context_shrinkage=0.0)
    shrunk = _fit(cls, X, value, context_shrinkage=16.0)
    assert plain.context_shrinkage_ == 0.0
    assert shrunk.context_shrinkage_ == 16.0
    for name, tensor in plain.net_.module_.state_dict().items():
        torch.testing.assert_close(
            shrunk.net_.module_.state_dict()[name], tensor, rtol=0, atol=0
        )
    predict = "predict_proba" if cls is HyperNetworkClassifier else "predict"
    assert not np.allclose(getattr(plain, predict)(X), getattr(shrunk, predict)(X))


def test_counts_are_the_training_splits_rows():
    """600 rows and a tenth held out for early stopping: 540 counted."""
    X, value = _shared_rule()
    model = _fit(HyperNetworkRegressor, X, value, context_shrinkage=4.0)
    assert model._pooled_rows.sum() == pytest.approx(540)
    kept = model.net_.module_.context_layer.update_kept
    rows = torch.as_tensor(model._pooled_rows, dtype=torch.float32)
    torch.testing.assert_close(kept, rows / (rows + 4.0))


@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_auto_shrinks_many_tiny_contexts_of_one_rule(cls):
    """600 contexts of about 3 rows, all with one rule: a context's own
    update is noise, and the validation split says so."""
    X, value = _shared_rule(n=2000, n_contexts=600)
    model = _fit(cls, X, value, max_epochs=20, context_shrinkage="auto")
    assert model.context_shrinkage_ in SHRINKAGE_GRID


def test_auto_keeps_the_weight_with_the_lowest_validation_loss():
    """Recomputed here: the chosen weight's validation loss is the lowest of
    the grid's among those beating no shrinkage by a standard error."""
    from skhyper._pooling import set_shrinkage

    X, value = _shared_rule(n=1200, n_contexts=150)
    model = _fit(
        HyperNetworkRegressor, X, value, max_epochs=20, context_shrinkage="auto"
    )
    # The same validation split as fit's (the seed of random_state=0).
    from skhyper._data import TensorTable

    encoded = model.encoder_.transform(X)
    y = model._apply_target_scale(value.reshape(-1, 1), np.ones(len(value)))
    data = TensorTable(encoded, y.astype(np.float32), np.ones(len(X)))
    from skhyper._runtime import draw_seed

    _, valid = model._early_stopping_split(data, y, draw_seed(0))
    net, module = model.net_, model.net_.module_
    losses = {}
    for prior_rows in (0.0, *SHRINKAGE_GRID):
        set_shrinkage(module, model._pooled_ids, model._pooled_rows, prior_rows)
        losses[prior_rows] = _row_losses(net, valid)
    set_shrinkage(
        module, model._pooled_ids, model._pooled_rows, model.context_shrinkage_
    )
    chosen = losses[model.context_shrinkage_].mean()
    assert chosen <= losses[0.0].mean()
    for row_losses in losses.values():
        gain = losses[0.0] - row_losses
        error = gain.std(ddof=1) / np.sqrt(len(gain))
        if gain.mean() > error:
            assert chosen <= row_losses.mean()


def test_auto_is_none_without_a_validation_split():
    X, value = _shared_rule()
    model = _fit(
        HyperNetworkClassifier, X, value, early_stopping=False, context_shrinkage="auto"
    )
    assert model.context_shrinkage_ == 0.0
    assert model.net_.module_.context_layer.update_kept is None


@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_a_one_row_validation_split_chooses_none_without_warnings(cls):
    """One validation row has no standard error: the choice leaves the fit
    alone, as it did, but without NumPy's 16 'Degrees of freedom <= 0'
    and 'invalid value' RuntimeWarnings."""
    X, value = _shared_rule(n=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = _fit(cls, X, value, validation_fraction=0.003, max_epochs=2)
    assert model.context_shrinkage_ == 0.0


def test_continuous_contexts_are_not_shrunk():
    X, value = _shared_rule()
    X = X.assign(temperature=np.linspace(0, 1, len(X)))
    model = HyperNetworkRegressor(
        "ctx",
        continuous_context="temperature",
        context_shrinkage=8.0,
        max_epochs=3,
        random_state=0,
        **TINY[HyperNetworkRegressor],
    ).fit(X, value)
    assert model.context_shrinkage_ == 0.0
    assert model.net_.module_.context_layer.update_kept is None


def test_partial_fit_counts_every_chunk_and_auto_is_none():
    X, value = _shared_rule()
    y = (value > 0).astype(int)
    model = HyperNetworkClassifier(
        "ctx",
        categories={"ctx": sorted(X["ctx"].unique())},
        context_shrinkage=4.0,
        random_state=0,
        **TINY[HyperNetworkClassifier],
    )
    model.partial_fit(X.iloc[:300], y[:300], classes=[0, 1])
    assert model._pooled_rows.sum() == pytest.approx(300)
    model.partial_fit(X.iloc[300:], y[300:])
    assert model._pooled_rows.sum() == pytest.approx(600)
    assert model.context_shrinkage_ == 4.0
    counted = pd.Series(model._pooled_rows, index=model._pooled_ids)
    codes = model.encoder_.transform(X).context[:, 0]
    np.testing.assert_allclose(
        counted.to_numpy(), np.bincount(codes)[counted.index.to_numpy()]
    )
    streamed = HyperNetworkClassifier(
        "ctx", random_state=0, **TINY[HyperNetworkClassifier]
    )
    streamed.partial_fit(X, y, classes=[0, 1])
    assert streamed.context_shrinkage_ == 0.0


def test_a_weighted_stream_counts_rows_as_a_fit_of_its_chunks_does():
    """In rows of the mean weight of every row so far, as fit counts them:
    each chunk's own mean gave a chunk of heavy rows the count of light
    ones (the documented 'as in a full fit once the whole table has gone
    through' held only for chunks of one mean weight)."""
    X, value = _shared_rule(n_contexts=4)
    y = (value > 0).astype(int)
    heavy = (X["ctx"] == X["ctx"].iloc[0]).to_numpy()
    weight = np.where(heavy, 10.0, 1.0)
    params = dict(
        categories={"ctx": sorted(X["ctx"].unique())},
        context_shrinkage=4.0,
        early_stopping=False,  # fit counts all its rows, as the stream does
        random_state=0,
        **TINY[HyperNetworkClassifier],
    )
    streamed = HyperNetworkClassifier("ctx", **params)
    streamed.partial_fit(
        X[heavy], y[heavy], classes=[0, 1], sample_weight=weight[heavy]
    )
    streamed.partial_fit(X[~heavy], y[~heavy], sample_weight=weight[~heavy])
    fitted = HyperNetworkClassifier("ctx", **params).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(streamed._pooled_rows, fitted._pooled_rows)
    assert fitted._pooled_rows.max() > 2 * np.bincount(heavy)[1]  # weighted


def test_a_stream_pools_a_context_of_only_zero_weights_as_fit_does():
    """Its count is 0, and fit gives such a context no pooling penalty; the
    stream divided by the 0 (an infinite coefficient times a weight of 0:
    a NaN loss, reported as divergence)."""
    X, value = _shared_rule(n_contexts=4)
    weight = np.where(X["ctx"] == X["ctx"].iloc[0], 0.0, 1.0)
    params = dict(context_pooling=10.0, early_stopping=False, random_state=0)
    model = HyperNetworkRegressor("ctx", **params, **TINY[HyperNetworkRegressor])
    model.partial_fit(X, value, sample_weight=weight)
    model.partial_fit(X, value, sample_weight=weight)
    assert np.isfinite(model.history_["train_loss"]).all()
    assert np.isfinite(model.predict(X)).all()


def test_a_warm_start_fit_adds_its_rows_to_those_of_the_fit_before():
    # It counted only its own: a context with 100 rows in the first fit and
    # 2 in the second was shrunk as a context of 2 rows, and one absent
    # from the second kept its whole update.
    X, value = _shared_rule()
    model = _fit(HyperNetworkRegressor, X, value, context_shrinkage=4.0)
    before = dict(zip(model._pooled_ids.tolist(), model._pooled_rows, strict=True))
    assert sum(before.values()) == pytest.approx(540)  # a tenth held out
    new_rows = X.iloc[:60]
    model.set_params(warm_start=True, max_epochs=2)
    model.fit(new_rows, value[:60])
    after = dict(zip(model._pooled_ids.tolist(), model._pooled_rows, strict=True))
    # 60 rows are too few for a validation split: all of them count.
    assert sum(after.values()) == pytest.approx(540 + 60)
    assert set(after) == set(before)  # the 60 rows hold no new context
    absent = set(before) - set(
        model.net_.module_.context_embedding.combination_ids(
            torch.as_tensor(model.encoder_.transform(new_rows).context)
        ).tolist()
    )
    assert absent  # most of the 80 contexts are not among the 60 rows
    for context in absent:
        assert after[context] == before[context]
    assert model.net_.module_.context_layer.update_kept is not None


def test_partial_fit_after_a_warm_start_fit_counts_every_row():
    X, value = _shared_rule(n_contexts=5)
    model = HyperNetworkRegressor(
        "ctx", context_shrinkage=4.0, random_state=0, **TINY[HyperNetworkRegressor]
    )
    model.partial_fit(X.iloc[:200], value[:200])
    model.set_params(warm_start=True, max_epochs=2, early_stopping=False)
    model.fit(X.iloc[200:400], value[200:400])
    assert model._pooled_rows.sum() == pytest.approx(400)
    model.partial_fit(X.iloc[400:], value[400:])
    assert model._pooled_rows.sum() == pytest.approx(600)


def test_a_value_known_only_by_its_attributes_is_predicted_as_before():
    """Such a value has no training rows, so it keeps none of its own
    update: the update of its id hidden, which is its own code already."""
    X, value = _shared_rule(n_contexts=10)
    names = [f"c{i}" for i in range(10)] + ["new"]
    attributes = pd.DataFrame({"size": np.arange(11.0)}, index=names)
    params = {"context_attributes": attributes, "max_epochs": 3}
    plain = _fit(HyperNetworkClassifier, X, value, context_shrinkage=0.0, **params)
    shrunk = _fit(HyperNetworkClassifier, X, value, context_shrinkage=50.0, **params)
    new = X.head(20).assign(ctx="new")
    np.testing.assert_allclose(
        shrunk.predict_proba(new), plain.predict_proba(new), rtol=1e-6
    )


@pytest.mark.parametrize("rank", [8, None], ids=["float32", "float64"])
@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_onnx_export_matches(cls, rank):
    pytest.importorskip("onnxruntime")
    from test_onnx import assert_matches

    from skhyper import to_onnx

    X, value = _shared_rule()
    model = _fit(cls, X, value, context_shrinkage=8.0, generator_rank=rank)
    assert_matches(model, to_onnx(model, X), X)


@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_skops_and_pickle_round_trips_predict_identically(cls):
    X, value = _shared_rule()
    model = _fit(cls, X, value, context_shrinkage=8.0)
    buffer = io.BytesIO()
    dump(model, buffer)
    for loaded in (
        load(io.BytesIO(buffer.getvalue())),
        pickle.loads(pickle.dumps(model)),
    ):
        assert loaded.context_shrinkage_ == 8.0
        np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_a_file_from_before_the_parameter_loads_without_shrinkage():
    X, value = _shared_rule()
    model = _fit(HyperNetworkClassifier, X, value, context_shrinkage=0.0)
    state = model.__getstate__()
    for name in (
        "context_shrinkage",
        "context_shrinkage_",
        "_pooled_ids",
        "_pooled_rows",
    ):
        del state[name]
    old = HyperNetworkClassifier.__new__(HyperNetworkClassifier)
    old.__setstate__(state)
    assert old.get_params()["context_shrinkage"] == 0.0
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))


def test_contributions_still_add_up_to_the_prediction():
    X, value = _shared_rule()
    model = _fit(HyperNetworkRegressor, X, value, context_shrinkage=8.0, max_epochs=10)
    explanation = model.explain(X.head(40), n_steps=64)
    np.testing.assert_allclose(
        explanation.sum(axis=1), model.predict(X.head(40)), rtol=1e-3, atol=1e-3
    )


@pytest.mark.parametrize("bad", [-1.0, "yes"])
def test_a_bad_value_is_rejected_with_the_parameters_name(bad):
    X, value = _shared_rule()
    with pytest.raises(InvalidParameterError, match="context_shrinkage"):
        _fit(HyperNetworkClassifier, X, value, context_shrinkage=bad)


def test_both_hypernetworks_shrink_by_default():
    # Round 12 of docs/defaults.md made "auto" the regressor's default too.
    for cls in (HyperNetworkClassifier, HyperNetworkRegressor):
        assert cls().get_params()["context_shrinkage"] == "auto"


# -- contexts without training rows, and splits without weight -----------------


@pytest.mark.parametrize("shrinkage", [8.0, 0.0])
@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_a_context_seen_only_in_the_validation_split_takes_the_mean_update(
    cls, shrinkage
):
    """Sixty one-row contexts beside three large ones: a tenth of them fall
    in the validation split, so their embeddings never train. They count 0
    rows and keep none of their own update, as a context whose rows all
    weigh 0 does, instead of being left out (and keeping all of it); also
    without shrinkage (0, which "auto" often keeps), where pooling was
    switched off and they kept the update of an untrained embedding."""
    X, value = _shared_rule(n=300, n_contexts=3)
    rng = np.random.default_rng(1)
    singles = pd.DataFrame(
        {
            "x1": rng.normal(size=60),
            "x2": rng.normal(size=60),
            "ctx": [f"s{i}" for i in range(60)],
        }
    )
    X = pd.concat([X, singles], ignore_index=True)
    value = np.concatenate([value, singles["x1"].to_numpy()])
    model = _fit(cls, X, value, context_shrinkage=shrinkage)
    module = model.net_.module_
    codes = torch.as_tensor(model.encoder_.transform(X).context)
    seen = np.unique(module.context_embedding.combination_ids(codes).numpy())
    np.testing.assert_array_equal(model._pooled_ids, seen)  # every one listed
    untrained = torch.as_tensor(model._pooled_ids[model._pooled_rows == 0])
    assert len(untrained) > 0
    layer = module.context_layer
    assert layer.kept_share(untrained).eq(0).all()
    trained = torch.as_tensor(model._pooled_ids[model._pooled_rows > 0])
    if shrinkage == 0:  # the others keep their whole update
        assert layer.kept_share(trained).eq(1).all()
    with torch.no_grad():
        weight, bias = layer.generate(module.context_embedding.codes_of(untrained))
    torch.testing.assert_close(
        weight, (layer.base_weight + layer.mean_weight).expand_as(weight)
    )
    torch.testing.assert_close(
        bias, (layer.base_bias + layer.mean_bias).expand_as(bias)
    )


def _split_rows(cls, y: np.ndarray) -> np.ndarray:
    """The rows of fit's validation split with random_state=0 and the
    default validation_fraction (stratified for a classifier)."""
    from sklearn.model_selection import train_test_split

    from skhyper._runtime import draw_seed

    _, valid_rows = train_test_split(
        np.arange(len(y)),
        test_size=0.1,
        stratify=y if cls is HyperNetworkClassifier else None,
        random_state=draw_seed(0),
    )
    return valid_rows


@pytest.mark.parametrize("split", ["validation", "training"])
@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_a_split_whose_weights_sum_to_zero_is_an_error(cls, split):
    """Its weighted mean loss would be 0 / 0: NaN in every epoch, compared
    by early stopping, the decay path and context_shrinkage="auto"."""
    X, value = _shared_rule(n=200, n_contexts=3)
    y = target(cls, value if cls is HyperNetworkRegressor else (value > 0) * 1)
    in_valid = np.isin(np.arange(len(X)), _split_rows(cls, np.asarray(y)))
    weight = (in_valid if split == "training" else ~in_valid).astype(float)
    # (Explicitly: "auto" counts the rows of positive weight, too few here.)
    model = cls("ctx", max_epochs=2, early_stopping=True, random_state=0, **TINY[cls])
    message = (
        rf"The {split} split's sample weights .* sum to zero: its "
        rf"{in_valid.sum() if split == 'validation' else (~in_valid).sum()} rows"
        r".*validation_fraction=0.1.*early_stopping=False"
    )
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, sample_weight=weight)
    # A warm-start fit holds out a split too, and checks it the same way.
    model.set_params(early_stopping=False).fit(X, y, sample_weight=~in_valid * 1.0)
    model.set_params(warm_start=True, early_stopping=True)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, sample_weight=weight)


def test_the_rare_context_warning_counts_rows_whatever_their_weight():
    """As documented (fewer than 10 rows of fit), unlike the shrinkage,
    which counts rows of average weight: a 3-row context weighted 100 times
    is warned about, a 40-row context of weight 0 is not."""
    from skhyper import RareContextWarning

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "ctx": ["a"] * 60 + ["b"] * 40 + ["c"] * 3,
            "x1": rng.normal(size=103),
        }
    )
    weight = np.r_[np.ones(60), np.zeros(40), np.full(3, 100.0)]
    model = HyperNetworkRegressor(
        "ctx", max_epochs=1, random_state=0, **TINY[HyperNetworkRegressor]
    )
    with pytest.warns(RareContextWarning) as caught:
        model.fit(X, X["x1"].to_numpy(), sample_weight=weight)
    messages = [str(w.message) for w in caught if w.category is RareContextWarning]
    assert len(messages) == 1
    assert "1 value with fewer than 10 rows in fit: 'c' (3)." in messages[0]


def test_combinations_seen_outside_the_training_rows_are_listed_with_zero():
    module = HyperNetworkModule(2, [], [3, 2], 2, 8, 4, 8)
    context = torch.tensor([[0, 1], [0, 1]])
    seen = torch.tensor([[2, 0], [0, 1]])  # one new combination, one known
    ids, rows = context_rows(module, context, torch.ones(2), seen)
    expected_ids = module.context_embedding.combination_ids(
        torch.tensor([[0, 1], [2, 0]])
    )
    np.testing.assert_array_equal(ids, expected_ids.numpy())
    np.testing.assert_allclose(rows, [2.0, 0.0])
