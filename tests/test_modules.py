"""The torch modules against a slow but obvious per-row reference."""

import pytest
import torch

from skhyper._modules import (
    ConcatModule,
    ContextEmbedding,
    ContextLinear,
    HyperNetworkModule,
    pad_by_group,
)


def _trained_like(module: torch.nn.Module) -> torch.nn.Module:
    # A fresh generator's update is zero; give it random weights so that the
    # contexts really differ.
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.1)
    return module


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("n_present", [1, 2, 5])
def test_context_linear_matches_per_row_weights(rank, n_present):
    torch.manual_seed(0)
    layer = _trained_like(ContextLinear([9], 4, 5, 3, 7, "relu", rank=rank))
    inputs = torch.randn(40, 4)
    context = (torch.randint(0, n_present, (40,)) * 2)[:, None]  # codes 0, 2, ...
    weight, bias = layer.generate(context)  # per row: the obvious reference
    expected = torch.einsum("ri,rio->ro", inputs, weight) + bias
    output, update = layer(inputs, context)
    torch.testing.assert_close(output, expected)
    # The generated part is what the context adds to the shared layer.
    shared = inputs @ layer.base_weight + layer.base_bias
    torch.testing.assert_close(update, expected - shared)


@pytest.mark.parametrize("rank", [None, 2])
def test_several_context_columns_combine(rank):
    torch.manual_seed(2)
    layer = _trained_like(ContextLinear([3, 4], 3, 3, 2, 5, "tanh", rank=rank))
    inputs = torch.randn(50, 3)
    context = torch.stack([torch.randint(0, 4, (50,)), torch.randint(0, 5, (50,))], 1)
    weight, bias = layer.generate(context)
    expected = torch.einsum("ri,rio->ro", inputs, weight) + bias
    torch.testing.assert_close(layer(inputs, context)[0], expected)


def test_combination_ids_round_trip():
    embedding = ContextEmbedding([2, 3, 4], 2)
    codes = torch.tensor([[0, 0, 0], [2, 3, 4], [1, 2, 3]])  # 2, 3, 4: unknown
    ids = embedding.combination_ids(codes)
    assert len(set(ids.tolist())) == 3 and ids.max() < embedding.n_combinations
    torch.testing.assert_close(embedding.codes_of(ids), codes)


@pytest.mark.parametrize("rank", [None, 4])
def test_generated_update_starts_at_zero(rank):
    layer = ContextLinear([3], 8, 6, 4, 5, "relu", rank=rank)
    weight, bias = layer.generate(torch.arange(4)[:, None])
    for code in range(4):  # every context starts with the shared base layer
        torch.testing.assert_close(weight[code], layer.base_weight)
        torch.testing.assert_close(bias[code], layer.base_bias)


@pytest.mark.parametrize(
    "module",
    [
        HyperNetworkModule(3, [4], [5], 2, 8, 4, 8),
        HyperNetworkModule(3, [], [5, 2], 2, 8, 4, 8, generator_rank=2),
        ConcatModule(3, [4], [5], 2, 8, (8,)),
    ],
    ids=["hyper", "hyper-low-rank-two-contexts", "concat"],
)
def test_predict_outputs_equals_the_training_forward(module):
    torch.manual_seed(3)
    module = _trained_like(module).eval()
    n_cat = len(module.projection.embeddings)
    sizes = module.context_embedding.context_sizes
    inputs = {
        "numeric": torch.randn(70, 3),
        "categorical": torch.randint(0, 5, (70, n_cat)),
        "context": torch.stack([torch.randint(0, n + 1, (70,)) for n in sizes], 1),
    }
    with torch.no_grad():
        expected = module(**inputs).double()
    predicted = module.predict_outputs(inputs).double()
    torch.testing.assert_close(predicted, expected, atol=1e-5, rtol=1e-5)


def test_pad_by_group_round_trips_rows():
    inputs = torch.arange(14.0).view(7, 2)
    group = torch.tensor([2, 0, 2, 1, 0, 2, 2])
    padded, slot = pad_by_group(inputs, group, 3)
    assert padded.shape == (3, 4, 2)  # the largest group has 4 rows
    torch.testing.assert_close(padded.view(-1, 2)[slot], inputs)
    assert padded.abs().sum() == inputs.abs().sum()  # padding is zero


def test_generator_size_does_not_grow_with_input_columns():
    sizes = [
        sum(
            p.numel()
            for p in HyperNetworkModule(n, [], [3], 2).context_layer.parameters()
        )
        for n in (3, 300)
    ]
    assert sizes[0] == sizes[1]


def test_generated_layer_sees_a_linear_map_of_the_features():
    """Projection then generated layer is affine in the features within each
    context (no activation between them), so a rule that is linear per
    context is directly representable; the concat network keeps its
    activation after the projection."""
    torch.manual_seed(0)
    module = _trained_like(HyperNetworkModule(3, [], [4], 2, hidden_size=8))
    x1, x2 = torch.randn(6, 3), torch.randn(6, 3)
    context = torch.tensor([[0], [1], [2], [3], [0], [1]])
    empty = torch.empty(6, 0, dtype=torch.long)

    def pre_activation(x):
        projected = module.projection(x, empty)
        return module.context_layer(projected, context)[0]

    mixed = pre_activation(0.3 * x1 + 0.7 * x2)
    expected = 0.3 * pre_activation(x1) + 0.7 * pre_activation(x2)
    torch.testing.assert_close(mixed, expected)
    concat = ConcatModule(3, [], [4], 2, hidden_size=8)
    assert isinstance(concat.projection.activation, torch.nn.ReLU)


def test_pooling_penalty_is_the_rows_generated_part_in_training_only():
    """With ``pooling``, training returns each row's penalty: its
    coefficient times the mean square of what the context generated; in
    eval mode, and for concat, the outputs alone."""
    torch.manual_seed(0)
    module = _trained_like(HyperNetworkModule(3, [], [4], 2, hidden_size=8))
    numeric = torch.randn(10, 3)
    categorical = torch.empty(10, 0, dtype=torch.long)
    context = torch.randint(0, 4, (10, 1))
    pooling = torch.linspace(0.5, 5.0, 10)
    module.train()
    module.projection.train(False)  # no dropout there anyway; keep it explicit
    torch.manual_seed(1)
    outputs, penalty = module(numeric, categorical, context, pooling=pooling)
    projected = module.projection(numeric, categorical)
    _, update = module.context_layer(projected, context)
    torch.testing.assert_close(penalty, pooling * update.square().mean(dim=1))
    module.eval()
    assert isinstance(
        module(numeric, categorical, context, pooling=pooling), torch.Tensor
    )
    concat = ConcatModule(3, [], [4], 2, hidden_size=8).train()
    assert isinstance(
        concat(numeric, categorical, context, pooling=pooling), torch.Tensor
    )
