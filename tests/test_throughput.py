"""The speed-ups of training and predicting keep the results they replaced.

* ``FusedAdamW`` updates bitwise like ``torch.optim.AdamW(fused=True)``,
  saves, loads and pickles its state, and a fit never imports
  ``torch._dynamo``;
* ``Dropout`` drops a fraction ``p`` and scales the rest by ``1 / (1 - p)``;
* the three forms of ``ContextLinear`` compute the same outputs and
  gradients, and ``choose_form`` picks them as documented;
* a row's prediction (and representation) is bitwise the same whatever else
  is predicted with it;
* the fast validation metrics equal scikit-learn's;
* the epoch loop that reads batch losses back once per epoch records what
  skorch's own loop records;
* on a GPU, a training step does not synchronise with the host.
"""

import copy
import pickle
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import outputs
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score
from torch import nn

from skhyper import (
    ConcatClassifier,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)
from skhyper._base import pooling_coefficients
from skhyper._compat import embedding_bag_differentiates_weights_alone, has_fused_adamw
from skhyper._data import TensorTable
from skhyper._metrics import binary_roc_auc, log_loss, roc_auc
from skhyper._modules import (
    CONTEXT_FORMS,
    PREDICT_BLOCK_ROWS,
    ContextLinear,
    Dropout,
    bag_rows,
    choose_form,
    summed_low_rank,
)
from skhyper._net import WeightedLossNet
from skhyper._optim import FusedAdamW, adamw_class

REPO_ROOT = Path(__file__).resolve().parents[1]
FORMS = sorted(CONTEXT_FORMS)


# -- FusedAdamW --------------------------------------------------------------


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _groups(model):
    """Weights with decay, biases without: as the estimators group them."""
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return [
        {"params": weights, "weight_decay": 0.5},
        {"params": biases, "weight_decay": 0.0},
    ]


def _torch_adamw(model, lr=0.01):
    return torch.optim.AdamW(_groups(model), lr=lr, betas=(0.8, 0.99), fused=True)


def _fused_adamw(model, lr=0.01):
    return FusedAdamW(_groups(model), lr=lr, betas=(0.8, 0.99))


def _batch(step):
    generator = torch.Generator().manual_seed(1000 + step)
    return torch.randn(16, 5, generator=generator), torch.randn(
        16, 3, generator=generator
    )


def _train(model, optimizer, steps):
    for step in steps:
        inputs, target = _batch(step)
        optimizer.zero_grad()
        loss = (model(inputs) - target).square().mean()
        loss.backward()
        optimizer.step()


def _assert_same_parameters(model, other):
    for (name, mine), theirs in zip(
        model.named_parameters(), other.parameters(), strict=True
    ):
        assert torch.equal(mine, theirs), name


def _assert_differs(model, other):
    assert any(
        not torch.equal(mine, theirs)
        for mine, theirs in zip(model.parameters(), other.parameters(), strict=True)
    )


# Before torch 2.4 the fused kernel has no CPU version: the estimators train
# with torch.optim.AdamW there (tests/test_contract.py checks that choice).
needs_fused_adamw = pytest.mark.skipif(
    not has_fused_adamw(), reason="this torch has no CPU kernel for fused AdamW"
)


@needs_fused_adamw
def test_fused_adamw_is_the_optimizer_the_estimators_use():
    assert adamw_class() is FusedAdamW  # this torch has the fused kernel
    assert isinstance(_fused_adamw(_model()), torch.optim.Optimizer)


@needs_fused_adamw
def test_fused_adamw_updates_bitwise_like_torch_adamw():
    ours, theirs = _model(), _model()
    _train(ours, _fused_adamw(ours), range(6))
    _train(theirs, _torch_adamw(theirs), range(6))
    _assert_same_parameters(ours, theirs)
    _assert_differs(ours, _model())  # the steps did move the parameters


@needs_fused_adamw
def test_fused_adamw_state_dict_continues_the_run():
    uninterrupted = _model()
    optimizer = _fused_adamw(uninterrupted)
    _train(uninterrupted, optimizer, range(3))
    # As after torch.save and torch.load: a copy of the state, not the tensors
    # the running optimizer keeps updating.
    saved = copy.deepcopy(optimizer.state_dict())
    resumed = copy.deepcopy(uninterrupted)
    # Other options at construction: loading must restore the saved ones.
    fresh = FusedAdamW(_groups(resumed), lr=0.5, betas=(0.5, 0.5))
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.01
    assert fresh.param_groups[1]["weight_decay"] == 0.0
    _train(uninterrupted, optimizer, range(3, 7))
    _train(resumed, fresh, range(3, 7))
    _assert_same_parameters(resumed, uninterrupted)


@needs_fused_adamw
def test_fused_adamw_state_dict_counts_steps():
    model = _model()
    optimizer = _fused_adamw(model)
    _train(model, optimizer, range(4))
    state = optimizer.state_dict()
    assert sorted(state["state"]) == list(range(4))  # every parameter, by position
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    for entry in state["state"].values():
        assert float(entry["step"]) == 4


@needs_fused_adamw
def test_fused_adamw_pickles_with_its_model():
    model = _model()
    optimizer = _fused_adamw(model)
    _train(model, optimizer, range(3))
    model_copy, optimizer_copy = pickle.loads(pickle.dumps((model, optimizer)))
    first = next(model_copy.parameters())
    assert optimizer_copy.param_groups[0]["params"][0] is first
    _train(model, optimizer, range(3, 6))
    _train(model_copy, optimizer_copy, range(3, 6))
    _assert_same_parameters(model_copy, model)


@needs_fused_adamw
def test_fused_adamw_follows_a_changed_learning_rate():
    ours, theirs, unchanged = _model(), _model(), _model()
    ours_opt, theirs_opt = _fused_adamw(ours), _torch_adamw(theirs)
    unchanged_opt = _fused_adamw(unchanged)
    runs = [(ours, ours_opt), (theirs, theirs_opt), (unchanged, unchanged_opt)]
    for model, optimizer in runs:
        _train(model, optimizer, range(2))
    ours_opt.param_groups[0]["lr"] = 0.1
    theirs_opt.param_groups[0]["lr"] = 0.1
    for model, optimizer in runs:
        _train(model, optimizer, range(2, 5))
    _assert_same_parameters(ours, theirs)
    _assert_differs(ours, unchanged)


@needs_fused_adamw
def test_fused_adamw_rejects_state_of_other_groups():
    model = _model()
    optimizer = _fused_adamw(model)
    _train(model, optimizer, range(2))
    saved = optimizer.state_dict()
    one_group = FusedAdamW(_model().parameters())
    with pytest.raises(ValueError, match="parameter groups"):
        one_group.load_state_dict(saved)
    other = _model()
    weights, biases = _groups(other)
    regrouped = FusedAdamW(  # two groups, but of other sizes
        [
            {"params": weights["params"][:1]},
            {"params": weights["params"][1:] + biases["params"]},
        ]
    )
    with pytest.raises(ValueError, match="parameter groups"):
        regrouped.load_state_dict(saved)


@needs_fused_adamw
def test_fit_does_not_import_torch_dynamo():
    code = textwrap.dedent(
        """
        import sys
        from skhyper import HyperNetworkClassifier
        from skhyper._testing import make_context_frame

        X, y = make_context_frame(300)
        model = HyperNetworkClassifier(context_column="ctx", max_epochs=2)
        model.fit(X, y).predict_proba(X)
        print("torch._dynamo" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


# -- Dropout -------------------------------------------------------------------


def test_dropout_passes_input_through_in_eval_and_at_zero():
    inputs = torch.randn(50, 8)
    assert Dropout(0.3).eval()(inputs) is inputs
    assert Dropout(0.0).train()(inputs) is inputs


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_drops_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    scale = 1 / (1 - p)  # 1.25 and 2: exact in float32
    inputs = torch.randn(1000, 1000).requires_grad_()
    outputs = Dropout(p).train()(inputs)
    kept = outputs != 0
    assert abs((~kept).float().mean().item() - p) < 0.01
    assert torch.equal(outputs[kept], inputs.detach()[kept] * scale)
    grad = torch.randn_like(inputs)
    outputs.backward(grad)
    assert torch.equal(inputs.grad, grad * kept * scale)


def test_dropout_draws_a_new_mask_each_call():
    dropout = Dropout(0.5).train()
    ones = torch.ones(1000)
    assert not torch.equal(dropout(ones), dropout(ones))


# -- ContextLinear's forms -----------------------------------------------------


def _random_weights(module):
    # A fresh generator's update is zero; make the contexts really differ.
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.3)
    return module


def _run_form(layer, form, inputs, context, generated=None):
    """Outputs, the generated part and the gradients of a random loss."""
    layer = copy.deepcopy(layer)
    layer.form = form
    inputs = inputs.clone().requires_grad_()
    output, update = layer(inputs, context, generated)
    generator = torch.Generator().manual_seed(7)
    loss = (output * torch.randn(output.shape, generator=generator)).sum()
    loss = loss + (update * torch.randn(update.shape, generator=generator)).sum()
    loss.backward()
    grads = {name: p.grad for name, p in layer.named_parameters()}
    return output.detach(), update.detach(), inputs.grad, grads


@pytest.mark.parametrize(
    ("context_sizes", "n_present"),
    [([5], 1), ([5], 3), ([5], 6), ([3, 4], 20), ([1100], 40)],
    ids=["one-present", "three-present", "all-present", "two-columns", "many"],
)
def test_forms_agree_in_training(context_sizes, n_present):
    layer = _random_weights(
        ContextLinear(context_sizes, 6, 4, 3, 7, "relu", rank=3)
    ).train()
    generator = torch.Generator().manual_seed(n_present)
    inputs = torch.randn(64, 6, generator=generator)
    # Codes up to each column's unknown code, from n_present combinations.
    radix = torch.tensor(context_sizes) + 1
    choices = torch.stack(
        [torch.randint(0, int(n), (n_present,), generator=generator) for n in radix],
        dim=1,
    )
    context = choices[torch.randint(0, n_present, (64,), generator=generator)]
    reference = _run_form(layer, "grouped", inputs, context)
    for form in ("dense", "gathered", "summed"):
        output, update, input_grad, grads = _run_form(layer, form, inputs, context)
        torch.testing.assert_close(output, reference[0], msg=form)
        torch.testing.assert_close(update, reference[1], msg=form)
        torch.testing.assert_close(input_grad, reference[2], msg=form)
        assert grads.keys() == reference[3].keys()
        for name, grad in grads.items():
            expected = reference[3][name]
            if expected is None:  # e.g. the embedding of no present context
                assert grad is None or not grad.any(), (form, name)
            else:
                torch.testing.assert_close(grad, expected, msg=f"{form} {name}")


def test_forms_agree_on_generated_weights_in_eval():
    layer = _random_weights(ContextLinear([3, 4], 6, 4, 3, 7, "relu", rank=3)).eval()
    generated = layer.generate_update(layer.embedding.all_codes())
    inputs = torch.randn(50, 6)
    context = torch.stack([torch.randint(0, 4, (50,)), torch.randint(0, 5, (50,))], 1)
    outputs = {}
    for form in FORMS:
        layer.form = form
        outputs[form] = layer(inputs, context, generated)[0]
    for form in FORMS:
        torch.testing.assert_close(outputs[form], outputs["grouped"], msg=form)


def test_bag_rows_switch_to_int64_past_int32():
    index = torch.tensor([0, 2, 1])
    rows = bag_rows(index, 3, 4)
    assert rows.dtype == torch.int32
    assert rows.tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [4, 5, 6, 7]]
    # A table of 2**31 rows or more: its row numbers need int64.
    far = bag_rows(torch.tensor([2**28]), 2**28 + 1, 8)
    assert far.dtype == torch.int64
    assert far[0, 0].item() == 2**31 and far[0, -1].item() == 2**31 + 7


def test_summed_form_rows_do_not_depend_on_their_block():
    """What the summed form computes, each row's context-generated part,
    has the same bits for a row alone, in a block or shuffled. The shared
    layer's product is checked on shuffles only: a one-row matrix product
    may round differently from a block's (it does on CPUs with AVX-512),
    which is why prediction pads every block to ``PREDICT_BLOCK_ROWS``."""
    layer = _random_weights(ContextLinear([30], 6, 4, 3, 7, "relu", rank=3)).eval()
    layer.form = "summed"
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(40, 6, generator=generator)
    context = torch.randint(0, 30, (40, 1), generator=generator)
    with torch.no_grad():
        whole, whole_update = layer(inputs, context)
        order = torch.randperm(40, generator=generator)
        shuffled, shuffled_update = layer(inputs[order], context[order])
        assert torch.equal(shuffled, whole[order])
        assert torch.equal(shuffled_update, whole_update[order])
        for i in (0, 17, 39):
            alone = layer(inputs[i : i + 1], context[i : i + 1])[1]
            assert torch.equal(alone[0], whole_update[i]), i


@pytest.mark.parametrize(
    "weights_alone",
    [
        pytest.param(
            True,
            marks=pytest.mark.skipif(
                not embedding_bag_differentiates_weights_alone(),
                reason="this torch's embedding_bag fails there (before 2.6)",
            ),
        ),
        False,
    ],
)
def test_the_summed_form_gives_gradients_for_inputs_of_a_frozen_layer(
    monkeypatch, weights_alone
):
    """Explain differentiates the inputs of a frozen network: before torch
    2.6, embedding_bag failed an internal assert there, so the summed form
    hands those products to the gathered one (the same numbers)."""
    import skhyper._modules as modules

    monkeypatch.setattr(
        modules, "embedding_bag_differentiates_weights_alone", lambda: weights_alone
    )
    if not weights_alone:  # the torch of before 2.6, as far as this form goes

        def refuse(*args, **kwargs):
            raise RuntimeError("isDifferentiableType INTERNAL ASSERT FAILED")

        monkeypatch.setattr(modules.nn.functional, "embedding_bag", refuse)
    generator = torch.Generator().manual_seed(5)
    a, b = (torch.randn(4, *s, generator=generator).double() for s in [(6, 3), (3, 7)])
    bias = torch.randn(4, 7, generator=generator).double()
    index = torch.randint(0, 4, (10,), generator=generator)
    x = torch.randn(10, 6, generator=generator).double()
    weight = a[index] @ b[index]  # each row's generated matrix
    output = torch.bmm(x.unsqueeze(1), weight).squeeze(1) + bias[index]
    inputs = x.clone().requires_grad_(True)
    summed = summed_low_rank(inputs, index, [a, b], bias)
    torch.testing.assert_close(summed, output)
    summed.square().sum().backward()
    expected = 2 * torch.bmm(output.unsqueeze(1), weight.transpose(1, 2)).squeeze(1)
    torch.testing.assert_close(inputs.grad, expected)


def test_choose_form():
    for device in ("cpu", "cuda"):
        for independent in (False, True):
            assert choose_form(None, 3, device, independent) == "grouped"
            assert choose_form(None, 5000, device, independent) == "grouped"
    for independent in (False, True):
        # On the GPU the gathered form was fastest at every size measured.
        assert choose_form(3, 5, "cuda", independent) == "gathered"
    assert choose_form(3, 5, "cpu", batch_independent=False) == "dense"
    assert choose_form(8, 100, "cpu", batch_independent=False) == "grouped"
    # Prediction on a CPU sums each row's product from the factors in place,
    # whatever the number of contexts.
    for n_contexts in (5, 100, 10_000):
        assert choose_form(8, n_contexts, "cpu", batch_independent=True) == "summed"
    assert choose_form(8, 100, "cuda", batch_independent=False) == "gathered"
    assert choose_form(8, 100, "cuda", batch_independent=True) == "gathered"
    assert choose_form(8, 21, "cpu") == "grouped"
    assert choose_form(8, 201, "cuda") == "gathered"


def _record_forms(monkeypatch) -> list[str]:
    """The names of the context forms called from now on, in order."""
    calls = []
    for name, function in CONTEXT_FORMS.items():

        def recording(*args, _name=name, _function=function):
            calls.append(_name)
            return _function(*args)

        monkeypatch.setitem(CONTEXT_FORMS, name, recording)
    return calls


def test_auto_form_follows_choose_form(monkeypatch):
    calls = _record_forms(monkeypatch)
    layer = _random_weights(ContextLinear([30], 6, 4, 3, 7, "relu", rank=3))
    inputs, context = torch.randn(20, 6), torch.randint(0, 30, (20, 1))
    assert layer.form == "auto"
    layer.train()(inputs, context)
    layer.eval()(inputs, context)
    small = _random_weights(ContextLinear([4], 6, 4, 3, 7, "relu", rank=3))
    small.train()(inputs, context % 4)
    full = _random_weights(ContextLinear([30], 6, 4, 3, 7, "relu", rank=None))
    full.eval()(inputs, context)
    assert calls == ["grouped", "summed", "dense", "grouped"]


# -- Batch independence of predict ---------------------------------------------

PIECES = [1, 2, 7, 1000, 1025]  # with the whole: one block, two, a padded last


def _table(n, seed, n_contexts=6):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(4)})
    X["colour"] = rng.choice(["red", "green", "blue"], size=n)
    X["ctx"] = rng.choice([f"c{k}" for k in range(n_contexts)], size=n)
    sign = np.where(X["ctx"].isin(["c0", "c1", "c2"]), 1.0, -1.0)
    score = sign * X["x0"] + 0.5 * X["x1"] * (X["colour"] == "red")
    return X, score.to_numpy()


@pytest.fixture(
    scope="module",
    params=[
        (HyperNetworkClassifier, 6),  # few contexts: dense in training
        (HyperNetworkClassifier, 20),  # more: summed at predict, on a CPU
        (ConcatClassifier, 6),
        (HyperNetworkRegressor, 6),
    ],
    ids=lambda param: f"{param[0].__name__}-{param[1]}-contexts",
)
def fitted(request):
    cls, n_contexts = request.param
    X, score = _table(1500, seed=0, n_contexts=n_contexts)
    y = score if cls is HyperNetworkRegressor else (score > 0).astype(int)
    model = cls(context_column="ctx", max_epochs=3, random_state=0)
    return model.fit(X, y), n_contexts


@pytest.mark.parametrize("method", ["predict", "transform"])
def test_prediction_of_a_row_does_not_depend_on_the_others(fitted, method):
    fitted, n_contexts = fitted
    X, _ = _table(sum(PIECES), seed=1, n_contexts=n_contexts)
    assert len(X) > PREDICT_BLOCK_ROWS
    predict = {"predict": partial(outputs, fitted), "transform": fitted.transform}[
        method
    ]
    whole = predict(X)
    assert len(whole) == len(X)
    for i in [0, 1, 500, 1023, 1024, len(X) - 1]:
        single = predict(X.iloc[[i]])
        assert np.array_equal(single[0], whole[i]), f"row {i} alone"
    order = np.random.default_rng(2).permutation(len(X))
    shuffled = predict(X.iloc[order])
    assert np.array_equal(shuffled, whole[order]), "shuffled rows"
    bounds = np.cumsum([0, *PIECES])
    pieces = [
        predict(X.iloc[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    assert np.array_equal(np.concatenate(pieces), whole), "pieces 1, 2, 7, 1000, 1025"


# -- Validation metrics --------------------------------------------------------


def _weights(rng, n, dtype=np.float32):
    weight = rng.uniform(0, 3, size=n).astype(dtype)
    weight[::17] = 0  # rows that count for nothing
    return weight


# The classifiers' early stopping passes the validation weights as float32
# (TensorTable.weight); float64 is what scikit-learn computes in.
WEIGHT_DTYPES = pytest.mark.parametrize(
    "dtype", [np.float64, np.float32], ids=["float64", "float32"]
)


@WEIGHT_DTYPES
@pytest.mark.parametrize("seed", range(3))
def test_binary_roc_auc_equals_sklearn_with_ties_and_weights(seed, dtype):
    rng = np.random.default_rng(seed)
    n = 400
    target = rng.integers(0, 2, size=n)
    score = np.round(rng.normal(size=n) + target, 1)  # many tied scores
    weight = _weights(rng, n, dtype)
    expected = roc_auc_score(target, score, sample_weight=weight)
    assert binary_roc_auc(target == 1, score, weight) == pytest.approx(
        expected, abs=1e-12
    )
    proba = np.column_stack([1 - score, score])
    assert roc_auc(target, proba, weight) == pytest.approx(expected, abs=1e-12)


def test_binary_roc_auc_of_constant_scores_is_one_half():
    target = np.array([0, 1, 0, 1, 1])
    assert binary_roc_auc(target == 1, np.zeros(5), np.ones(5)) == 0.5


@WEIGHT_DTYPES
@pytest.mark.parametrize("seed", range(3))
def test_multiclass_roc_auc_equals_sklearn_ovr(seed, dtype):
    rng = np.random.default_rng(seed)
    n = 500
    target = rng.integers(0, 4, size=n)
    # Few distinct logit rows: many tied probabilities.
    logits = rng.integers(0, 3, size=(n, 4)).astype(float)
    logits[np.arange(n), target] += rng.integers(0, 2, size=n)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weight = _weights(rng, n, dtype)
    expected = roc_auc_score(
        target, proba, multi_class="ovr", labels=[0, 1, 2, 3], sample_weight=weight
    )
    assert roc_auc(target, proba, weight) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 5])
def test_log_loss_equals_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    n = 300
    target = rng.integers(0, n_classes, size=n)
    logits = rng.normal(scale=3, size=(n, n_classes)).astype(np.float32)
    weight = _weights(rng, n)
    proba = torch.softmax(torch.as_tensor(logits).double(), dim=1).numpy()
    expected = sk_log_loss(
        target, proba, sample_weight=weight, labels=list(range(n_classes))
    )
    got = log_loss(
        torch.as_tensor(logits), torch.as_tensor(target), torch.as_tensor(weight)
    )
    assert got == pytest.approx(expected, abs=1e-12)


# -- The epoch loop ------------------------------------------------------------


def test_epoch_loop_records_every_batch_loss(monkeypatch):
    seen = {"train": [], "valid": []}
    train_step = WeightedLossNet.train_step
    validation_step = WeightedLossNet.validation_step

    def recording_train(self, batch, **fit_params):
        step = train_step(self, batch, **fit_params)
        seen["train"].append(step["loss"].item())
        return step

    def recording_valid(self, batch, **fit_params):
        step = validation_step(self, batch, **fit_params)
        seen["valid"].append(step["loss"].item())
        return step

    monkeypatch.setattr(WeightedLossNet, "train_step", recording_train)
    monkeypatch.setattr(WeightedLossNet, "validation_step", recording_valid)
    X, score = _table(330, seed=3)
    model = HyperNetworkClassifier(
        context_column="ctx",
        max_epochs=3,
        batch_size=64,
        early_stopping=True,
        weight_decay=0.1,  # one net, not the decay path and a second fit
        validation_fraction=0.1,
        n_iter_no_change=5,
        random_state=0,
    ).fit(X, (score > 0).astype(int))
    history = model.net_.history
    assert len(history) == 3
    n_train = 330 - 33
    recorded = {"train": [], "valid": []}
    for epoch in history:
        for prefix in ("train", "valid"):
            batches = [b for b in epoch["batches"] if f"{prefix}_loss" in b]
            sizes = [b[f"{prefix}_batch_size"] for b in batches]
            losses = [b[f"{prefix}_loss"] for b in batches]
            recorded[prefix] += losses
            assert epoch[f"{prefix}_batch_count"] == len(batches)
            assert sum(sizes) == (n_train if prefix == "train" else 33)
            assert epoch[f"{prefix}_loss"] == pytest.approx(
                np.average(losses, weights=sizes), rel=1e-12
            )
        train_batches = [b for b in epoch["batches"] if "train_batch_size" in b]
        assert all("train_loss" in b for b in train_batches)
        assert [b["train_batch_size"] for b in train_batches] == [64] * 4 + [41]
    # Every batch's loss, in the order the steps computed them.
    assert recorded == seen
    assert len(seen["train"]) == 15
    assert "valid_loss" in model.history_


# -- GPU -----------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("n_contexts", [20, 200])
def test_cuda_training_step_does_not_synchronise(n_contexts):
    rng = np.random.default_rng(0)
    n = max(400, 10 * n_contexts)
    X = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(3)})
    X["ctx"] = rng.choice([f"c{k}" for k in range(n_contexts)], size=n)
    y = (X["x0"] > 0).astype(int).to_numpy()
    model = HyperNetworkClassifier(
        context_column="ctx", max_epochs=1, device="cuda", random_state=0
    ).fit(X, y)
    net = model.net_
    layer = net.module_.context_layer
    assert choose_form(layer.rank, layer.embedding.n_combinations, "cuda") == "gathered"
    encoded = model.encoder_.transform(X)
    target = np.searchsorted(model.classes_, y)
    weight = np.ones(n, dtype=np.float32)
    pooling = pooling_coefficients(encoded.context, weight, model.context_pooling)
    data = TensorTable(encoded, target, weight, device="cuda", pooling=pooling)
    batch = data.rows(torch.arange(128, device="cuda"))
    before = [p.detach().clone() for p in net.module_.parameters()]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step = net.train_step(batch)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.isfinite(step["loss"]).item()
    after = list(net.module_.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_uneven_groups_train_in_the_gathered_form(monkeypatch):
    """Regrouping pads every context's rows to the largest group's size: a
    batch with one context of 70 rows among 30 (a user id's long tail, or
    the "unknown" code of handle_unknown="learned") multiplied 31 x 70 rows
    for 100, and epochs ran 7-17x slower than the gathered form's. Such a
    batch is gathered; an even one is still regrouped, and a full-rank
    update (too large to gather per row) always is."""
    from skhyper._modules import regrouping_pays

    calls = _record_forms(monkeypatch)
    uneven = torch.cat([torch.zeros(70, dtype=torch.long), torch.arange(30)])
    even = torch.arange(100) % 30
    assert not regrouping_pays(torch.unique(uneven, return_inverse=True)[1])
    assert regrouping_pays(torch.unique(even, return_inverse=True)[1])
    inputs = torch.randn(100, 6)
    layer = _random_weights(ContextLinear([30], 6, 4, 3, 7, "relu", rank=3)).train()
    outputs = [layer(inputs, codes[:, None])[0] for codes in (uneven, even)]
    full = _random_weights(ContextLinear([30], 6, 4, 3, 7, "relu", rank=None))
    full.train()(inputs, uneven[:, None])
    assert calls == ["gathered", "grouped", "grouped"]
    layer.form = "grouped"  # the forms agree on the uneven batch
    torch.testing.assert_close(layer(inputs, uneven[:, None])[0], outputs[0])


def test_generated_weights_are_kept_between_predictions_until_they_change():
    """A one-row predict generated every context's update anew: 130 ms at
    10,000 contexts. They are kept while the context layer's tensors hold
    the same values; a change, even one torch does not count, is seen by
    the next prediction."""
    import pickle

    from skhyper import HyperNetworkClassifier
    from skhyper._testing import make_context_frame

    X, y = make_context_frame(n=200, seed=0)
    X["ctx"] = [f"c{i % 20}" for i in range(len(X))]  # 10 rows each
    model = HyperNetworkClassifier("ctx", hidden_size=8, max_epochs=2, random_state=0)
    model.fit(X, y)
    layer = model.net_.module_.context_layer
    generated = []
    original = layer.generate_update

    def counting(*args, **kwargs):
        generated.append(1)
        return original(*args, **kwargs)

    layer.generate_update = counting
    first = model.predict_proba(X.iloc[:1])
    assert np.array_equal(model.predict_proba(X.iloc[:1]), first)
    assert np.array_equal(model.predict_proba(X)[:1], first)
    assert len(generated) == 1
    module = model.net_.module_
    assert "_kept_weights" not in module.__getstate__()  # not saved
    # As the fused AdamW step changes the generator: in place, without
    # moving torch's version counter (a key built on it went stale).
    weight = next(layer.generator.parameters())
    version = weight._version
    weight.data.add_(0.5)
    assert weight._version == version
    changed = model.predict_proba(X)
    assert len(generated) == 2 and not np.array_equal(changed[:1], first)
    fresh = pickle.loads(pickle.dumps(model))
    assert np.array_equal(fresh.predict_proba(X), changed)
    model.partial_fit(X, y)
    assert np.array_equal(
        model.predict_proba(X), pickle.loads(pickle.dumps(model)).predict_proba(X)
    )


def test_a_fit_keeps_no_generated_weights_from_its_validation_scoring():
    """Scoring the validation split during fit (weight_decay="auto" compares
    its two fits there) predicts in eval mode and kept that network's
    weights: out of date for the network kept, and on the training device."""
    from skhyper import HyperNetworkRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])
    X["ctx"] = pd.Categorical(rng.integers(0, 8, len(X)).astype(str))
    small = dict(hidden_size=8, hyper_hidden_size=8, output_size=8, embedding_size=4)
    model = HyperNetworkRegressor("ctx", max_epochs=4, random_state=0, **small)
    model.fit(X, X["a"].to_numpy())  # 600 rows: a validation split
    assert "_kept_weights" not in model.net_.module_.__dict__
    model.predict(X.iloc[:1])
    assert "_kept_weights" in model.net_.module_.__dict__
