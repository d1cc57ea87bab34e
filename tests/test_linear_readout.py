"""``linear_readout``: the output layer also reads the generated layer's
output, ``P x W(c) + b(c)``, beside the FC layers'.

What is checked: the FC layers' weights in the output layer start at
zero and the readout's are the draws the plain network's output layer
gets, so an untrained network is the varying-coefficient model (linear in
the features within a context); the representation is
the FC output followed by the generated layer's output, which equals the
weights ``generated_weights`` reports applied to the projected features;
a varying-coefficient rule is learned through it; ONNX export, skops and
pickle round trips and explanations keep working; a file saved before the
parameter existed loads as the network it holds.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import SMALL, TINY, target
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from skhyper import HyperNetworkClassifier, HyperNetworkRegressor, dump, load
from skhyper._modules import HyperNetworkModule

HYPERNETWORKS = [HyperNetworkClassifier, HyperNetworkRegressor]


def _table(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two features and a context whose slopes differ: ``y = a(c) x1 + b(c) x2``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "ctx": rng.choice(["a", "b", "c", "d"], n),
        }
    )
    slope1 = X["ctx"].map({"a": 2.0, "b": -1.0, "c": 0.5, "d": 0.0})
    slope2 = X["ctx"].map({"a": 0.0, "b": 1.0, "c": -2.0, "d": 1.5})
    value = slope1 * X["x1"] + slope2 * X["x2"]
    return X, value.to_numpy()


def _fit(cls, X, value, **params):
    y = value if cls is HyperNetworkRegressor else (value > 0).astype(int)
    params = {"max_epochs": 3, "random_state": 0, **TINY[cls], **params}
    return cls("ctx", **params).fit(X, target(cls, y))


def _module(linear_readout: bool) -> HyperNetworkModule:
    torch.manual_seed(0)
    module = HyperNetworkModule(3, [4], [5], 2, 8, 4, 8, linear_readout=linear_readout)
    return module.eval()


def _inputs(n: int = 20) -> dict:
    generator = torch.Generator().manual_seed(1)
    return {
        "numeric": torch.randn(n, 3, generator=generator),
        "categorical": torch.randint(0, 4, (n, 1), generator=generator),
        "context": torch.randint(0, 5, (n, 1), generator=generator),
    }


def test_an_untrained_network_is_the_varying_coefficient_model():
    plain, with_readout = _module(False), _module(True)
    assert with_readout.output.weight.shape == (2, 16)
    assert torch.all(with_readout.output.weight[:, :8] == 0)  # the FC layers'
    # The readout gets the draws of the plain output layer: no other
    # random numbers, so the rest of the network is the same.
    torch.testing.assert_close(
        with_readout.output.weight[:, 8:], plain.output.weight, rtol=0, atol=0
    )
    first, second = _inputs(), _inputs()
    second["numeric"] = torch.randn(20, 3, generator=torch.Generator().manual_seed(2))
    between = {**first, "numeric": 0.3 * first["numeric"] + 0.7 * second["numeric"]}

    def mixed(module):
        return 0.3 * module(**first) + 0.7 * module(**second)

    # Within each row's context the output is affine in the features...
    torch.testing.assert_close(with_readout(**between), mixed(with_readout))
    # ...which the plain network, through its activation, is not.
    assert not torch.allclose(plain(**between), mixed(plain), atol=1e-4)


def test_the_representation_ends_with_the_generated_layers_output():
    module = _module(True)
    inputs = _inputs()
    representation = module.combine(**inputs)
    assert representation.shape == (20, module.representation_size) == (20, 16)
    projected = module.projection(inputs["numeric"], inputs["categorical"])
    generated, _ = module.context_layer(projected, inputs["context"])
    torch.testing.assert_close(representation[:, 8:], generated)
    torch.testing.assert_close(
        module(**inputs), module.output(representation), rtol=0, atol=0
    )


def test_transform_and_feature_names_have_both_parts():
    X, value = _table()
    model = _fit(HyperNetworkRegressor, X, value, linear_readout=True)
    output_size = TINY[HyperNetworkRegressor]["output_size"]
    assert model.transform(X).shape == (len(X), 2 * output_size)
    assert len(model.get_feature_names_out()) == 2 * output_size


def test_the_generated_part_is_what_generated_weights_reports():
    """For the rows of one context, the last ``output_size`` columns of
    ``transform`` are ``projected @ weight + bias``."""
    X, value = _table()
    model = _fit(HyperNetworkRegressor, X, value, linear_readout=True)
    rows = X[X["ctx"] == "b"]
    weight, bias = model.generated_weights("b")
    network = model.net_.module_
    numeric = torch.as_tensor(model.encoder_.transform(rows).numeric)
    empty = torch.empty(len(rows), 0, dtype=torch.long)
    with torch.inference_mode():
        projected = network.projection(numeric, empty).double().numpy()
    output_size = weight.shape[1]
    np.testing.assert_allclose(
        model.transform(rows)[:, output_size:], projected @ weight + bias, atol=1e-5
    )


def test_a_varying_coefficient_rule_is_learned_through_the_readout():
    """``y = a(c) x1 + b(c) x2`` is exactly the readout's model."""
    X, value = _table(800)
    X_train, X_test, y_train, y_test = train_test_split(X, value, random_state=0)
    model = HyperNetworkRegressor(
        "ctx",
        linear_readout=True,
        max_epochs=60,
        random_state=0,
        **SMALL[HyperNetworkRegressor],
    ).fit(X_train, y_train)
    assert r2_score(y_test, model.predict(X_test)) > 0.95
    # The readout is used: its weights moved away from zero.
    readout = model.net_.module_.output.weight[
        :, -SMALL[HyperNetworkRegressor]["output_size"] :
    ]
    assert readout.abs().max() > 1e-3


@pytest.mark.parametrize("rank", [8, None], ids=["float32", "float64"])
@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_onnx_export_matches(cls, rank):
    pytest.importorskip("onnxruntime")
    from test_onnx import assert_matches

    from skhyper import to_onnx

    X, value = _table()
    model = _fit(cls, X, value, linear_readout=True, generator_rank=rank)
    assert_matches(model, to_onnx(model, X), X)


@pytest.mark.parametrize("cls", HYPERNETWORKS)
def test_skops_and_pickle_round_trips_predict_identically(cls):
    X, value = _table()
    model = _fit(cls, X, value, linear_readout=True)
    buffer = io.BytesIO()
    dump(model, buffer)
    for loaded in (
        load(io.BytesIO(buffer.getvalue())),
        pickle.loads(pickle.dumps(model)),
    ):
        assert loaded.linear_readout is True
        np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_a_file_from_before_the_parameter_loads_as_the_network_it_holds():
    """Such a file has no ``linear_readout`` among the estimator's
    parameters nor the network's: it is read as ``False``, whatever the
    default now is."""
    X, value = _table()
    model = _fit(HyperNetworkClassifier, X, value, linear_readout=False)
    state = model.__getstate__()
    del state["linear_readout"]
    del state["net_"]["module_params"]["linear_readout"]
    old = HyperNetworkClassifier.__new__(HyperNetworkClassifier)
    old.__setstate__(state)
    assert old.get_params()["linear_readout"] is False
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))


def test_contributions_still_add_up_to_the_prediction():
    X, value = _table()
    model = _fit(HyperNetworkRegressor, X, value, linear_readout=True, max_epochs=10)
    explanation = model.explain(X.head(40), n_steps=64)
    np.testing.assert_allclose(
        explanation.sum(axis=1), model.predict(X.head(40)), rtol=1e-3, atol=1e-3
    )


def test_a_non_boolean_is_rejected_with_the_parameters_name():
    X, value = _table()
    with pytest.raises(InvalidParameterError, match="linear_readout"):
        _fit(HyperNetworkClassifier, X, value, linear_readout="yes")
