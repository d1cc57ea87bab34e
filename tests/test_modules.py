"""The torch modules against a slow but obvious per-row reference."""

import pytest
import torch

from skhyper._modules import ContextLinear, HyperNetworkModule, pad_by_group


def _trained_like(layer: ContextLinear) -> ContextLinear:
    # A fresh layer's generated update is zero; give it random weights so
    # that the contexts really differ.
    with torch.no_grad():
        for parameter in layer.generator.parameters():
            parameter.normal_(0, 0.1)
    return layer


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("n_present", [1, 2, 5])
def test_context_linear_matches_per_row_weights(rank, n_present):
    torch.manual_seed(0)
    layer = _trained_like(ContextLinear(9, 4, 5, 3, 7, "relu", rank=rank))
    inputs = torch.randn(40, 4)
    context = torch.randint(0, n_present, (40,)) * 2  # codes 0, 2, 4, ...
    weight, bias = layer.generate(context)  # per row: the obvious reference
    expected = torch.einsum("ri,rio->ro", inputs, weight) + bias
    torch.testing.assert_close(layer(inputs, context), expected)


@pytest.mark.parametrize("rank", [None, 2])
def test_cached_update_gives_the_same_outputs(rank):
    torch.manual_seed(1)
    layer = _trained_like(ContextLinear(4, 3, 3, 2, 5, "tanh", rank=rank))
    inputs, context = torch.randn(30, 3), torch.randint(0, 5, (30,))
    cached = layer.generate_update(torch.arange(5))
    torch.testing.assert_close(layer(inputs, context, cached), layer(inputs, context))


@pytest.mark.parametrize("rank", [None, 4])
def test_generated_update_starts_at_zero(rank):
    layer = ContextLinear(3, 8, 6, 4, 5, "relu", rank=rank)
    weight, bias = layer.generate(torch.arange(4))
    for code in range(4):  # every context starts with the shared base layer
        torch.testing.assert_close(weight[code], layer.base_weight)
        torch.testing.assert_close(bias[code], layer.base_bias)


def test_pad_by_group_round_trips_rows():
    inputs = torch.arange(14.0).view(7, 2)
    group = torch.tensor([2, 0, 2, 1, 0, 2, 2])
    padded, slot = pad_by_group(inputs, group, 3)
    assert padded.shape == (3, 4, 2)  # the largest group has 4 rows
    torch.testing.assert_close(padded.view(-1, 2)[slot], inputs)
    assert padded.abs().sum() == inputs.abs().sum()  # padding is zero


def test_generator_size_does_not_grow_with_input_columns():
    sizes = [
        sum(p.numel() for p in HyperNetworkModule(n, 3, 2).context_layer.parameters())
        for n in (3, 300)
    ]
    assert sizes[0] == sizes[1]
