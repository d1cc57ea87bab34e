"""The torch modules behind the estimators.

Both networks take the same two inputs, ``numeric`` (standardised non-context
features, float32) and ``context`` (integer codes), and return one row of
outputs (logits) per sample. They differ only in how the context enters:

* :class:`HyperNetworkModule` turns the context into the weights and bias of
  one layer (:class:`ContextLinear`);
* :class:`ConcatModule` embeds the context and concatenates it with the
  projected numeric features.

Each context column's codes run from ``0`` to its number of values; the last
code stands for "a value not seen during fit" and gets a learned
embedding of its own.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._compat import embedding_bag_differentiates_weights_alone

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
}

# At predict time, the weights of every context are generated once when they
# fit in this many bytes; otherwise they are generated per batch.
PREDICT_WEIGHT_CACHE_BYTES = 256 * 2**20

# Context combinations generated at once when set_pooling averages them.
POOLING_CHUNK = 4096

# Rows of every forward pass at predict time (see predict_outputs): large
# enough to amortise the per-call overhead of these small networks, small
# enough that predicting one row stays cheap.
PREDICT_BLOCK_ROWS = 1024

# Rows per forward pass of the float64 prediction of full-rank networks.
FLOAT64_BATCH_ROWS = 8192


class Dropout(nn.Module):
    """``nn.Dropout`` with a cheaper mask: a uniform draw thresholded in
    place, then one product.

    On a CPU, ``nn.Dropout`` draws its mask with ``bernoulli_``, which took a
    fifth of a training step of the default hypernetwork (torch profiler,
    batch 2048, one thread); this mask costs 0.86 ms against 2.18 ms forward
    and backward on a 2048 x 128 batch. The kept values are scaled by
    ``1 / (1 - p)``, as in ``nn.Dropout``.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return inputs
        mask = torch.empty_like(inputs).uniform_().ge_(self.p).mul_(1 / (1 - self.p))
        return inputs * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def fully_connected(
    sizes: Sequence[int], activation: str, dropout: float
) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...``, each followed by the
    activation and dropout."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [
            nn.Linear(n_in, n_out),
            ACTIVATIONS[activation](),
            Dropout(dropout),
        ]
    return nn.Sequential(*layers)


@torch.no_grad()
def zero_input_columns(layer: nn.Linear, columns: tuple[int, int] | None) -> None:
    """Zero the weights that ``layer`` gives its inputs ``start:stop``.

    For the bins of a piecewise-linear continuous context: with their
    weights at zero the layer starts out reading the plain standardised
    value, and the bins add sharper changes only as training finds them
    useful (the "B" form of piecewise-linear embeddings, Gorishniy et al.,
    TabM, ICLR 2025)."""
    if columns is not None:
        layer.weight[:, columns[0] : columns[1]] = 0.0


@torch.no_grad()
def add_zero_inputs(layer: nn.Linear, n_inputs: int) -> None:
    """Widen ``layer`` by ``n_inputs`` inputs in front of its own, whose
    weights are zero, in place and without drawing random numbers: the
    widened layer starts out reading only its original inputs, now its last
    ones, exactly as the narrow layer did."""
    zeros = layer.weight.new_zeros(layer.out_features, n_inputs)
    layer.weight = nn.Parameter(torch.cat([zeros, layer.weight.detach()], dim=1))
    layer.in_features += n_inputs


def pad_by_group(
    inputs: torch.Tensor, group: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lay the rows of each group out in a zero-padded block per group.

    Parameters
    ----------
    inputs : (n_rows, n_in) tensor
    group : (n_rows,) long tensor with values in ``[0, n_groups)``
    n_groups : int

    Returns
    -------
    padded : (n_groups, largest_group, n_in) tensor
        Row ``r`` of group ``g`` sits in ``padded[g, r]``; the rest is zero.
    slot : (n_rows,) long tensor
        Where each input row went in ``padded.view(-1, n_in)``, so that
        ``result.view(-1, n_out)[slot]`` brings a per-group result back to
        input order.

    One batched matmul on ``padded`` then serves all groups; its size is
    bounded by ``n_groups * largest_group`` rows, never by a weight matrix
    per row.
    """
    n_rows, n_in = inputs.shape
    order = torch.argsort(group, stable=True)
    counts = torch.bincount(group, minlength=n_groups)
    largest = int(counts.max())
    group_start = torch.cumsum(counts, 0) - counts
    sorted_group = group[order]
    rank = torch.arange(n_rows, device=inputs.device) - group_start[sorted_group]
    slot = torch.empty_like(group)
    slot[order] = sorted_group * largest + rank
    padded = inputs.new_zeros(n_groups * largest, n_in).index_copy(0, slot, inputs)
    return padded.view(n_groups, largest, n_in), slot


def grouped_product(
    inputs: torch.Tensor,
    group: torch.Tensor,
    factors: list[torch.Tensor],
    bias: torch.Tensor,
) -> torch.Tensor:
    """``inputs[r] @ factors[0][g] @ factors[1][g] ... + bias[g]`` for each
    row ``r`` of group ``g = group[r]``, one batched matmul per factor."""
    n_groups = len(bias)
    if n_groups == 1:  # plain matmuls: no regrouping needed
        for factor in factors:
            inputs = inputs @ factor[0]
        return inputs + bias[0]
    rows, slot = pad_by_group(inputs, group, n_groups)
    for factor in factors:
        rows = torch.bmm(rows, factor)
    rows = (rows + bias.unsqueeze(1)).view(-1, bias.shape[1])
    return rows.index_select(0, slot)


def dense_low_rank(
    inputs: torch.Tensor,
    index: torch.Tensor,
    factors: list[torch.Tensor],
    bias: torch.Tensor,
) -> torch.Tensor:
    """``inputs[r] @ A[g] @ B[g] + bias[g]`` with ``g = index[r]``, as two
    large matrix products over all contexts at once.

    Every row is multiplied by every context's ``A`` (``n_in x (K * rank)``);
    a mask keeps each row's own context's ``rank`` columns, and one product
    with all ``B`` factors stacked (``(K * rank) x n_out``) finishes. It does
    ``K`` times the arithmetic of the per-row form but in two dense
    products, which is faster while ``K * rank`` is small
    (``DENSE_MAX_WIDTH``).
    """
    a, b = factors
    n_contexts, n_in, rank = a.shape
    every = inputs @ a.transpose(0, 1).reshape(n_in, n_contexts * rank)
    own = index.unsqueeze(1) == torch.arange(n_contexts, device=index.device)
    every = every.view(-1, n_contexts, rank) * own.unsqueeze(2)
    every = every.view(-1, n_contexts * rank) @ b.reshape(n_contexts * rank, -1)
    return every + bias.index_select(0, index)


def gathered_low_rank(
    inputs: torch.Tensor,
    index: torch.Tensor,
    factors: list[torch.Tensor],
    bias: torch.Tensor,
) -> torch.Tensor:
    """``inputs[r] @ A[g] @ B[g] + bias[g]`` with ``g = index[r]``, with each
    row's factors gathered: ``n_rows x n_in x rank`` work whatever the
    number of contexts, and no sorting or regrouping."""
    a, b = factors
    # index_select, not a[index]: 15x faster on a CPU for these shapes.
    low = torch.bmm(inputs.unsqueeze(1), a.index_select(0, index))
    own_bias = bias.index_select(0, index).unsqueeze(1)
    return torch.baddbmm(own_bias, low, b.index_select(0, index)).squeeze(1)


def summed_low_rank(
    inputs: torch.Tensor,
    index: torch.Tensor,
    factors: list[torch.Tensor],
    bias: torch.Tensor,
) -> torch.Tensor:
    """``inputs[r] @ A[g] @ B[g] + bias[g]`` with ``g = index[r]``, as two
    weighted sums of factor rows (``embedding_bag``).

    ``(inputs[r] @ A[g])[k]`` is the sum over ``j`` of ``inputs[r, j] *
    A[g, j, k]``: a bag of the rows ``A[g, j]`` of ``A`` laid out as one
    table, weighted by the row's inputs; the product with ``B[g]`` is a bag
    of its ``rank`` rows. It does the gathered form's arithmetic, but reads
    each context's factors where they lie instead of first copying
    ``n_rows x (n_in + n_out) x rank`` numbers (8 MiB per 1,024-row block
    of the default network); each row is its own bag, so no row's result
    depends on the others.
    """
    a, b = factors
    if inputs.requires_grad and not (
        a.requires_grad or embedding_bag_differentiates_weights_alone()
    ):
        # Explaining a frozen network on torch before 2.6: the same product.
        return gathered_low_rank(inputs, index, factors, bias)
    n_contexts, n_in, rank = a.shape
    low = nn.functional.embedding_bag(
        bag_rows(index, n_contexts, n_in),
        a.reshape(n_contexts * n_in, rank),
        per_sample_weights=inputs,
        mode="sum",
    )
    own_bias = bias.index_select(0, index)
    return own_bias + nn.functional.embedding_bag(
        bag_rows(index, n_contexts, rank),
        b.reshape(n_contexts * rank, -1),
        per_sample_weights=low,
        mode="sum",
    )


def bag_rows(index: torch.Tensor, n_contexts: int, width: int) -> torch.Tensor:
    """Rows ``index[r] * width`` to ``index[r] * width + width - 1`` of a
    table of ``n_contexts * width`` rows, for each ``r``: in int32, half the
    memory, while the table's row numbers fit; else in int64."""
    dtype = torch.int32 if n_contexts * width < 2**31 else torch.int64
    first = index.to(dtype).unsqueeze(1) * width
    return first + torch.arange(width, dtype=dtype, device=index.device)


def _dense(weight_parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """``dW`` ``(n, in, out)`` from its generated parts (``dW`` or ``A, B``)."""
    update = weight_parts[0]
    for factor in weight_parts[1:]:
        update = torch.bmm(update, factor)
    return update


def _weighted_sum(weights: torch.Tensor, weight_parts) -> torch.Tensor:
    """``sum_i weights[i] * dW_i`` without building each ``A_i B_i``: the
    weighted ``A`` side by side, times the ``B`` stacked."""
    if len(weight_parts) == 1:
        return torch.einsum("n,nio->io", weights, weight_parts[0])
    a, b = weight_parts
    n, n_in, rank = a.shape
    scaled = (a * weights[:, None, None]).permute(1, 0, 2).reshape(n_in, n * rank)
    return scaled @ b.reshape(n * rank, -1)


def per_row_product(
    inputs: torch.Tensor, factors: list[torch.Tensor], bias: torch.Tensor
) -> torch.Tensor:
    """``inputs[r] @ factors[0][r] @ factors[1][r] ... + bias[r]``: every row
    with a generated layer of its own (continuous contexts)."""
    rows = inputs.unsqueeze(1)
    for factor in factors:
        rows = torch.bmm(rows, factor)
    return rows.squeeze(1) + bias


# How ContextLinear computes x (A B)(c) + db(c) for a batch; see choose_form.
CONTEXT_FORMS = {
    "grouped": grouped_product,
    "dense": dense_low_rank,
    "gathered": gathered_low_rank,
    "summed": summed_low_rank,
}

# The dense form while the number of contexts times the rank is at most
# this, by device type (measured by benchmarks/bench_context_forms.py: on
# this project's CPU dense wins for a few contexts; on an H200 the gathered
# form was faster at every size, 3 contexts included; docs/performance.md).
DENSE_MAX_WIDTH = {"cpu": 64, "cuda": 0}

# The grouped form multiplies a padded block of the largest group's size per
# group of the batch; once those blocks hold more than this many times the
# batch's rows, the gathered form (a fixed cost per row) is faster in CPU
# training: one context of 5% of the rows among many ("unknown" with
# handle_unknown="learned") or user ids' long tail made epochs 7-17x slower.
# Crossover measured at 6-8x for batches of 256 and 2,048 rows.
GROUPED_MAX_PADDING = 6

# Up to this many context combinations, every context's update is generated
# at every step, which needs no torch.unique and so never waits for a GPU;
# beyond it, only the contexts present in the batch are generated.
GENERATE_ALL_MAX = 1024

# In a context column with attributes, at least this share of the training
# rows have the value's id hidden each epoch, so that the generator learns
# to make a layer from the attributes alone: what a value listed only in
# the attribute table gets at predict.
ATTRIBUTE_HIDE_RATE = 0.25


def regrouping_pays(index: torch.Tensor) -> bool:
    """Whether the grouped form's padded blocks for rows of groups ``index``
    stay within ``GROUPED_MAX_PADDING`` times the rows."""
    counts = torch.bincount(index)
    return len(counts) * int(counts.max()) <= GROUPED_MAX_PADDING * len(index)


def choose_form(
    rank: int | None,
    n_contexts: int,
    device_type: str = "cpu",
    batch_independent: bool = False,
) -> str:
    """The form of :class:`ContextLinear`'s product for a generated update
    of ``rank`` (None: full) over ``n_contexts`` contexts.

    * A full-rank update is an ``n_in x n_out`` matrix per context, too large
      to gather per row, so its rows are regrouped by context.
    * Prediction on a CPU (``batch_independent``) sums each row's product
      from the factors where they lie: of the forms whose rows do not
      depend on each other, level with the dense one at 3 contexts, the
      fastest from 5 to 1,000, and at least level with the gathered one at
      10,000 (``bench_context_forms.py --predict``).
    * In training, a low-rank update is multiplied densely while the
      contexts are few, on a CPU (on an H200 the gathered form was faster
      at every size).
    * Otherwise, on a CPU, regrouping is fastest in training (unless a
      batch's groups are too uneven: :func:`regrouping_pays`, checked per
      batch); a GPU gathers each row's factors, in training and prediction
      alike: regrouping reads the largest group's size back to the host,
      and the summed form was not measured there.
    """
    if rank is None:
        return "grouped"
    if device_type == "cpu" and batch_independent:
        return "summed"
    if n_contexts * rank <= DENSE_MAX_WIDTH.get(device_type, DENSE_MAX_WIDTH["cuda"]):
        return "dense"
    if device_type == "cpu":
        return "grouped"
    return "gathered"


class ContextEmbedding(nn.Module):
    """What the generator reads about a row's context: the embeddings of one
    or more categorical context columns, each column's known attributes (if
    any), and the continuous context values, concatenated.

    Column ``j`` has codes ``0 .. context_sizes[j]``; the last one is its
    "unknown" code. A column with an attribute matrix has more codes (see
    ``_attributes.ATTRIBUTE_CODE_LAYOUT``): the seen values again with their
    id hidden, and the values listed only in the attribute table, all of
    which share the unknown id embedding but keep their own attributes. A
    row of codes is also identified by one integer, its *combination id*
    (mixed radix over the columns), so that the distinct contexts of a batch
    are found with one ``torch.unique``. Continuous values have no codes:
    with them every row is a context of its own.

    Parameters
    ----------
    context_sizes : sequence of int
        Values seen at fit, per categorical context column.
    embedding_size : int
    attributes : sequence of (array or None), optional
        Per column, the encoded attributes of its seen values (in code
        order) followed by those of the values listed only in its table.
    continuous_size : int
        Width of the encoded continuous context.
    """

    def __init__(
        self,
        context_sizes: Sequence[int],
        embedding_size: int,
        attributes: Sequence | None = None,
        continuous_size: int = 0,
    ):
        super().__init__()
        self.context_sizes = [int(n) for n in context_sizes]
        self.continuous_size = int(continuous_size)
        self.columns = nn.ModuleList(
            nn.Embedding(n + 1, embedding_size) for n in self.context_sizes
        )
        attributes = attributes or [None] * len(self.context_sizes)
        self.attribute_columns = [j for j, a in enumerate(attributes) if a is not None]
        radix = []
        for j, n_seen in enumerate(self.context_sizes):
            tables = _attribute_code_tables(n_seen, attributes[j])
            radix.append(len(tables[0]))
            for name, table in zip(("id_of_code", "hidden_code"), tables, strict=True):
                self.register_buffer(f"{name}_{j}", table, persistent=False)
            if attributes[j] is not None:
                self.register_buffer(
                    f"attributes_{j}",
                    _attribute_rows(n_seen, attributes[j]),
                    persistent=False,
                )
        self.n_combinations = math.prod(radix)
        if self.n_combinations >= 2**62:
            raise ValueError(
                "The context columns have too many value combinations "
                f"({' x '.join(map(str, radix))}); use fewer context columns."
            )
        strides = [math.prod(radix[j + 1 :]) for j in range(len(radix))]
        self.register_buffer("strides", torch.tensor(strides), persistent=False)
        self.register_buffer("radix", torch.tensor(radix), persistent=False)
        self.register_buffer(
            "seen_unknown",
            torch.tensor(self.context_sizes, dtype=torch.long),
            persistent=False,
        )

    @property
    def output_size(self) -> int:
        attribute_width = sum(
            getattr(self, f"attributes_{j}").shape[1] for j in self.attribute_columns
        )
        embedded = sum(column.embedding_dim for column in self.columns)
        return embedded + attribute_width + self.continuous_size

    def continuous_columns(self, columns: tuple[int, int] | None, after: int = 0):
        """Columns ``start:stop`` of the continuous input, as positions in
        the input of a layer that reads this module's output after ``after``
        other columns (None stays None)."""
        if columns is None:
            return None
        offset = after + self.output_size - self.continuous_size
        return offset + columns[0], offset + columns[1]

    @property
    def unknown_codes(self) -> torch.Tensor:
        """Each column's code for a value neither seen nor listed."""
        return self.seen_unknown

    @property
    def per_row(self) -> bool:
        """Whether every row is a context of its own (continuous values)."""
        return self.continuous_size > 0

    def hidden_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """The codes with each column's value id hidden: the unknown code,
        or, for a column with attributes, the code that keeps the value's
        attributes."""
        return torch.stack(
            [
                getattr(self, f"hidden_code_{j}").index_select(0, codes[:, j])
                for j in range(codes.shape[1])
            ],
            dim=1,
        )

    def combination_ids(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.shape[1] == 1:  # one context column: its codes are the ids
            return codes[:, 0]
        return (codes * self.strides).sum(dim=1)

    def codes_of(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids.unsqueeze(1) // self.strides) % self.radix

    def all_codes(self) -> torch.Tensor:
        """The codes of every combination, in combination-id order."""
        ids = torch.arange(self.n_combinations, device=self.radix.device)
        if len(self.columns) == 1:
            return ids.unsqueeze(1)
        return self.codes_of(ids)

    def forward(
        self, codes: torch.Tensor, continuous: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = []
        for j, column in enumerate(self.columns):
            if j in self.attribute_columns:
                ids = getattr(self, f"id_of_code_{j}").index_select(0, codes[:, j])
                parts += [
                    column(ids),
                    getattr(self, f"attributes_{j}").index_select(0, codes[:, j]),
                ]
            else:
                parts.append(column(codes[:, j]))
        if self.continuous_size:
            parts.append(continuous)
        if len(parts) == 1:
            return parts[0]
        return torch.cat(parts, dim=1)


def _attribute_code_tables(n_seen: int, attributes) -> tuple[torch.Tensor, ...]:
    """For every code of a column: the row of its id embedding, and the
    code that hides its id (``_attributes.ATTRIBUTE_CODE_LAYOUT``)."""
    if attributes is None:
        return torch.arange(n_seen + 1), torch.full((n_seen + 1,), n_seen)
    n_listed_only = len(attributes) - n_seen
    n_codes = 2 * n_seen + 1 + n_listed_only
    codes = torch.arange(n_codes)
    id_of_code = torch.clamp(codes, max=n_seen)
    hidden_code = torch.where(codes < n_seen, codes + n_seen + 1, codes)
    return id_of_code, hidden_code


def _attribute_rows(n_seen: int, attributes) -> torch.Tensor:
    """The attributes of every code: the seen values, zeros for unknown,
    the seen values again, then the values listed only in the table."""
    matrix = torch.as_tensor(np.asarray(attributes), dtype=torch.float32)
    seen, listed_only = matrix[:n_seen], matrix[n_seen:]
    unknown = matrix.new_zeros(1, matrix.shape[1])
    return torch.cat([seen, unknown, seen, listed_only])


class PiecewiseLinearEncoding(nn.Module):
    """Expand numeric columns over their quantile bins (piecewise-linear
    encoding, Gorishniy et al., "On Embeddings for Numerical Features in
    Tabular Deep Learning", NeurIPS 2022).

    A column with edges ``e_0 < e_1 < ... < e_T`` becomes ``T`` numbers, one
    per bin: ``clamp((x - e_{t-1}) / (e_t - e_{t-1}), 0, 1)``, i.e. 1 for the
    bins left of ``x``, the fraction of its own bin that ``x`` covers, and 0
    for the bins to its right. A linear layer on top is then an arbitrary
    piecewise-linear function of each column, with one slope per bin, so a
    sharp threshold needs a few moderate weights instead of a huge one.
    Values beyond the training range saturate, as a tree's do; a column that
    was constant at fit contributes no bins.

    Columns after ``len(bin_edges)`` (the missing-value indicators) pass
    through unchanged.

    Parameters
    ----------
    bin_edges : sequence of 1-D arrays
        The edges of each encoded column (in the scale of the input).
    """

    def __init__(self, bin_edges: Sequence):
        super().__init__()
        self.n_encoded = len(bin_edges)
        lefts, widths, columns = [], [], []
        for j, edges in enumerate(bin_edges):
            edges = torch.as_tensor(edges, dtype=torch.float32)
            lefts.append(edges[:-1])
            widths.append(edges[1:] - edges[:-1])
            columns.append(torch.full((max(len(edges) - 1, 0),), j, dtype=torch.long))
        self.register_buffer("left", torch.cat([torch.zeros(0), *lefts]))
        self.register_buffer("width", torch.cat([torch.ones(0), *widths]))
        self.register_buffer(
            "column", torch.cat([torch.zeros(0, dtype=torch.long), *columns])
        )

    def output_size(self, n_inputs: int) -> int:
        """Width of the output for ``n_inputs`` input columns."""
        return len(self.left) + n_inputs - self.n_encoded

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        values = numeric[:, self.column]
        bins = torch.clamp((values - self.left) / self.width, 0.0, 1.0)
        return torch.cat([bins, numeric[:, self.n_encoded :]], dim=1)


class FeatureProjection(nn.Module):
    """Numeric features and embedded categorical features -> one linear
    projection -> activation (none when ``activation`` is None).

    Each categorical column has its own embedding (its last code is the
    "unknown" code); the embeddings are concatenated with the numeric
    features before the projection. With ``bin_edges``, the first numeric
    columns are first expanded by :class:`PiecewiseLinearEncoding`.
    """

    def __init__(
        self,
        n_numeric: int,
        categorical_sizes: Sequence[int],
        embedding_size: int,
        hidden_size: int,
        activation: str | None,
        bin_edges: Sequence | None = None,
    ):
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n + 1, embedding_size) for n in categorical_sizes
        )
        unknown = torch.tensor([int(n) for n in categorical_sizes], dtype=torch.long)
        self.register_buffer("unknown_codes", unknown, persistent=False)
        self.numeric_encoding = (
            nn.Identity() if bin_edges is None else PiecewiseLinearEncoding(bin_edges)
        )
        if bin_edges is not None:
            n_numeric = self.numeric_encoding.output_size(n_numeric)
        n_in = n_numeric + embedding_size * len(self.embeddings)
        self.linear = nn.Linear(n_in, hidden_size)
        self.activation = (
            nn.Identity() if activation is None else ACTIVATIONS[activation]()
        )

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        numeric = self.numeric_encoding(numeric)
        if self.embeddings:
            embedded = [e(categorical[:, j]) for j, e in enumerate(self.embeddings)]
            numeric = torch.cat([numeric, *embedded], dim=1)
        return self.activation(self.linear(numeric))


class ContextLinear(nn.Module):
    """A linear layer whose weight and bias are generated from the context.

    The context code is embedded, and a generator MLP (embedding ->
    ``hyper_hidden_size`` -> activation -> output) produces an update for the
    layer's weight matrix and bias::

        W(c) = W0 + dW(c),   b(c) = b0 + db(c)

    ``W0`` and ``b0`` are initialised like an ``nn.Linear`` layer and the
    generator's output layer starts at zero, so at initialisation every
    context gets exactly a normally initialised layer and the context-specific
    part grows from zero as training finds it useful. This residual form
    (Ortiz et al., ICLR 2024) avoids the badly scaled generated weights of a
    plainly initialised generator (Chang et al., ICLR 2020) without depending
    on the embedding's scale.

    With ``rank=None`` the generator outputs ``dW(c)`` entry by entry, so its
    output layer has ``hyper_hidden_size * (in * out + out)`` parameters.
    With an integer ``rank`` it outputs two factors, ``dW(c) = A(c) B(c)``
    with ``A(c)`` of shape ``(in, rank)`` and ``B(c)`` of shape
    ``(rank, out)``: ``hyper_hidden_size * (rank * (in + out) + out)``
    parameters. As in LoRA, the part of the output layer that makes ``A``
    starts at zero (so ``dW = 0`` at initialisation) and the part that makes
    ``B`` starts random (so ``A`` receives gradient).

    The generator's size depends on ``in_features`` and ``out_features``
    only, never on the number of raw input columns.

    ``continuous_bins`` (``start, stop`` within the continuous context
    input) marks piecewise-linear bins, whose weights in the generator's
    first layer start at zero (:func:`zero_input_columns`).
    """

    def __init__(
        self,
        context_sizes: Sequence[int],
        in_features: int,
        out_features: int,
        embedding_size: int,
        hyper_hidden_size: int,
        activation: str,
        rank: int | None = None,
        attributes: Sequence | None = None,
        continuous_size: int = 0,
        continuous_bins: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank
        if rank is None:
            self._factor_sizes = (in_features * out_features,)
        else:
            self._factor_sizes = (in_features * rank, rank * out_features)
        self.embedding = ContextEmbedding(
            context_sizes, embedding_size, attributes, continuous_size
        )
        # "auto" or a key of CONTEXT_FORMS (benchmarks set it to compare).
        self.form = "auto"
        # Partial pooling at prediction (set_pooling): the sorted combination
        # ids seen in training, the share of its own update each keeps, and
        # the training rows' mean update that makes up the rest.
        for name in ("pooled_ids", "update_kept", "mean_weight", "mean_bias"):
            self.register_buffer(name, None, persistent=False)
        self.generator = nn.Sequential(
            nn.Linear(self.embedding.output_size, hyper_hidden_size),
            ACTIVATIONS[activation](),
            nn.Linear(hyper_hidden_size, self.update_size),
        )
        self._zero_update_at_init()
        zero_input_columns(
            self.generator[0], self.embedding.continuous_columns(continuous_bins)
        )
        bound = 1.0 / math.sqrt(in_features)
        self.base_weight = nn.Parameter(
            torch.empty(in_features, out_features).uniform_(-bound, bound)
        )
        self.base_bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    @property
    def update_size(self) -> int:
        """Numbers the generator outputs per context (factors and bias)."""
        return sum(self._factor_sizes) + self.out_features

    @torch.no_grad()
    def _zero_update_at_init(self) -> None:
        output_layer = self.generator[-1]
        output_layer.bias.zero_()
        if self.rank is None:
            output_layer.weight.zero_()
        else:  # zero the rows that make A (and the bias); keep B's random
            n_a = self._factor_sizes[0]
            output_layer.weight[:n_a].zero_()
            output_layer.weight[n_a + self._factor_sizes[1] :].zero_()

    def generate_update(
        self, codes: torch.Tensor, continuous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The generated parts for each row of context codes
        ``(n, n_context_columns)`` (and continuous context values, if the
        layer has them), in the generator's own form.

        Returns ``(dW, db)`` with ``dW`` of shape ``(n, in, out)`` when
        ``rank`` is None, else ``(A, B, db)`` with ``A`` of shape
        ``(n, in, rank)`` and ``B`` of shape ``(n, rank, out)``; ``db`` has
        shape ``(n, out)``.
        """
        flat = self.generator(self.embedding(codes, continuous))
        parts = torch.split(flat, [*self._factor_sizes, self.out_features], dim=1)
        if self.rank is None:
            return parts[0].view(-1, self.in_features, self.out_features), parts[1]
        return (
            parts[0].view(-1, self.in_features, self.rank),
            parts[1].view(-1, self.rank, self.out_features),
            parts[2],
        )

    def _updates_for(
        self,
        ids: torch.Tensor,
        generated: tuple[torch.Tensor, ...] | None,
        grouped: bool,
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The generated updates a batch needs and each row's index into
        them: those of every context (no ``torch.unique``, so no wait for a
        GPU) unless the form regroups rows or the contexts are too many,
        then those of the batch's own contexts."""
        everything = generated is not None or (
            self.embedding.n_combinations <= GENERATE_ALL_MAX
        )
        if everything and not grouped:
            if generated is None:
                generated = self.generate_update(self.embedding.all_codes())
            return generated, ids
        present, index = torch.unique(ids, return_inverse=True)
        if generated is None:
            return self.generate_update(self.embedding.codes_of(present)), index
        return tuple(part[present] for part in generated), index

    def generate(
        self, codes: torch.Tensor, continuous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Full weights ``(n, in, out)`` and biases ``(n, out)`` for each row
        of context codes ``(n, n_context_columns)`` (and of continuous
        context values), pooled as prediction pools them."""
        *weight_parts, bias_update = self.generate_update(codes, continuous)
        update = _dense(weight_parts)
        if self._pools(codes):
            kept = self.kept_share(self.embedding.combination_ids(codes))
            update = self.mean_weight + kept[:, None, None] * (
                update - self.mean_weight
            )
            bias_update = self.mean_bias + kept[:, None] * (
                bias_update - self.mean_bias
            )
        return update + self.base_weight, bias_update + self.base_bias

    def _pools(self, codes: torch.Tensor) -> bool:
        """Whether this pass pools (:meth:`set_pooling`): in eval mode, for
        categorical contexts only."""
        return (
            self.update_kept is not None
            and not self.training
            and not self.embedding.per_row
            and codes.shape[1] > 0
        )

    @torch.no_grad()
    def set_pooling(
        self,
        ids: torch.Tensor | np.ndarray | None = None,
        rows: torch.Tensor | np.ndarray | None = None,
        prior_rows: float = 0.0,
    ) -> None:
        """Pool at prediction, as a mixed-effects model shrinks a group's
        effect towards the population's: the context combination ``ids[i]``
        (sorted), with ``rows[i]`` training rows, keeps the share
        ``rows / (rows + prior_rows)`` of its generated update and takes the
        rest from the rows' mean update (``sum rows[i] * update[i] / sum
        rows``). A combination not listed (no training rows: an unseen
        value's unknown code, a value known by its attributes alone, an
        unseen combination of seen values) keeps its own update. One listed
        with 0 rows (seen at fit in the validation split only, so its
        embedding never trained) takes the mean update whole, at any
        ``prior_rows``: the limit of its share as the rows go to 0. No
        arguments (or ``prior_rows=0`` with rows for every combination) turn
        it off. Training never pools."""
        names = ("pooled_ids", "update_kept", "mean_weight", "mean_bias")
        rows = None if rows is None else torch.as_tensor(rows, dtype=torch.float64)
        if ids is None or (prior_rows <= 0 and bool((rows > 0).all())):
            for name in names:
                setattr(self, name, None)
            return
        device = self.base_weight.device
        ids = torch.as_tensor(ids, device=device, dtype=torch.long)
        rows = rows.to(device)
        share = rows / rows.sum()
        dtype = self.base_weight.dtype
        mean_weight = torch.zeros(
            self.in_features, self.out_features, device=device, dtype=dtype
        )
        mean_bias = torch.zeros(self.out_features, device=device, dtype=dtype)
        was_training = self.training
        self.eval()
        for start in range(0, len(ids), POOLING_CHUNK):
            chunk = slice(start, start + POOLING_CHUNK)
            codes = self.embedding.codes_of(ids[chunk])
            *weight_parts, bias_update = self.generate_update(codes)
            weights = share[chunk].to(bias_update.dtype)
            mean_bias += weights @ bias_update
            mean_weight += _weighted_sum(weights, weight_parts)
        self.train(was_training)
        # 0 rows: 0 (0 / 0 where prior_rows is 0, a NaN that where drops).
        kept = torch.where(rows > 0, rows / (rows + prior_rows), 0.0)
        values = (ids, kept.float(), mean_weight, mean_bias)
        for name, value in zip(names, values, strict=True):
            setattr(self, name, value)

    def kept_share(self, ids: torch.Tensor) -> torch.Tensor:
        """Each combination id's share of its own update under
        :meth:`set_pooling` (all of it for one not listed)."""
        position = torch.searchsorted(self.pooled_ids, ids)
        position = position.clamp(max=len(self.pooled_ids) - 1)
        listed = self.pooled_ids.index_select(0, position) == ids
        kept = self.update_kept.index_select(0, position)
        return torch.where(listed, kept, torch.ones_like(kept))

    def forward(
        self,
        inputs: torch.Tensor,
        context: torch.Tensor,
        generated: tuple[torch.Tensor, ...] | None = None,
        continuous: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply each row's context layer to ``inputs``.

        ``context`` holds a row of codes per input row. ``generated`` is an
        optional :meth:`generate_update` of every context combination (by
        :meth:`ContextEmbedding.combination_ids`), computed once for
        prediction.

        Returns the layer's output and the part of it that the context
        generated, ``x dW(c) + db(c)``, whose size the partial pooling
        penalises.
        """
        if self.embedding.per_row:  # continuous contexts: a layer per row
            *factors, bias_update = self.generate_update(context, continuous)
            update = per_row_product(inputs, factors, bias_update)
            shared = torch.addmm(self.base_bias, inputs, self.base_weight)
            return shared + update, update
        ids = self.embedding.combination_ids(context)
        form = self.form
        if form == "auto":
            form = choose_form(
                self.rank,
                self.embedding.n_combinations,
                inputs.device.type,
                batch_independent=not self.training,
            )
        parts, index = self._updates_for(ids, generated, form == "grouped")
        if self.form == "auto" and form == "grouped" and self.rank is not None:
            form = "grouped" if regrouping_pays(index) else "gathered"
        *factors, bias_update = parts
        update = CONTEXT_FORMS[form](inputs, index, factors, bias_update)
        if self._pools(context):
            kept = self.kept_share(ids).to(update.dtype).unsqueeze(1)
            mean = torch.addmm(self.mean_bias, inputs, self.mean_weight)
            update = mean + kept * (update - mean)
        return torch.addmm(self.base_bias, inputs, self.base_weight) + update, update


class _ContextNetwork(nn.Module):
    """What both networks share: the input projection, the unknown-context
    training trick and a batched, gradient-free prediction path.

    Subclasses define ``context_embedding`` (a :class:`ContextEmbedding`),
    ``combine`` (inputs -> representation) and ``output`` (the last layer).
    """

    # Whether the activation follows the input projection.
    activate_projection = True

    def __init__(
        self,
        n_numeric: int,
        categorical_sizes: Sequence[int],
        embedding_size: int,
        hidden_size: int,
        activation: str,
        unknown_rate: float,
        bin_edges: Sequence | None,
    ):
        super().__init__()
        self.projection = FeatureProjection(
            n_numeric,
            categorical_sizes,
            embedding_size,
            hidden_size,
            activation if self.activate_projection else None,
            bin_edges,
        )
        self.unknown_rate = unknown_rate

    def _mask_unknown(self, codes: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
        """In training, replace a random ``unknown_rate`` of the codes by
        their column's unknown code, so that its embedding learns an average
        category."""
        if not self.training or self.unknown_rate == 0 or codes.shape[1] == 0:
            return codes
        mask = torch.rand(codes.shape, device=codes.device) < self.unknown_rate
        return torch.where(mask, unknown, codes)

    def _project(self, numeric, categorical) -> torch.Tensor:
        categorical = self._mask_unknown(categorical, self.projection.unknown_codes)
        return self.projection(numeric, categorical)

    def _mask_context(self, context: torch.Tensor) -> torch.Tensor:
        """In training, hide the value id of a random share of the context
        codes: ``unknown_rate`` of them, so that the unknown embedding
        learns an average context, and at least ``ATTRIBUTE_HIDE_RATE`` in
        a column with attributes, so that the attributes alone learn to
        make a context's layer (what a value listed only in the attribute
        table gets)."""
        embedding = self.context_embedding
        if not self.training or context.shape[1] == 0:
            return context
        rates = [
            max(self.unknown_rate, ATTRIBUTE_HIDE_RATE)
            if j in embedding.attribute_columns
            else self.unknown_rate
            for j in range(context.shape[1])
        ]
        if max(rates) == 0:
            return context
        draws = torch.rand(context.shape, device=context.device)
        if len(set(rates)) == 1:
            mask = draws < rates[0]
        else:
            mask = draws < torch.tensor(rates, device=context.device)
        return torch.where(mask, embedding.hidden_codes(context), context)

    def forward(
        self,
        numeric,
        categorical,
        context,
        generated=None,
        pooling=None,
        continuous=None,
    ):
        """The outputs (logits); in training with ``pooling`` (one
        coefficient per row), also each row's partial-pooling penalty:
        ``pooling`` times the mean square of the context-generated part of
        the row's hidden layer."""
        hidden, update = self._combine(
            numeric, categorical, context, generated, continuous
        )
        outputs = self.output(hidden)
        if pooling is None or update is None or not self.training:
            return outputs
        return outputs, pooling * update.square().mean(dim=1)

    def combine(
        self, numeric, categorical, context, generated=None, continuous=None
    ) -> torch.Tensor:
        """The representation before the output layer."""
        return self._combine(numeric, categorical, context, generated, continuous)[0]

    @property
    def representation_size(self) -> int:
        """Width of what :meth:`combine` returns."""
        return self.output.in_features

    def forget_kept_weights(self) -> None:
        """Drop the generated weights kept by :meth:`predicting_weights`
        (those of the validation scoring, once a fit ends: out of date, and
        on the training device)."""
        self.__dict__.pop("_kept_weights", None)

    def predicting_weights(self, keep: bool = False) -> tuple[torch.Tensor, ...] | None:
        """Generated weights of all contexts to reuse across predict batches
        (with ``keep``, across calls too, while the weights are unchanged)."""
        return None

    # Whether a float32 forward pass in eval mode computes each row on its
    # own, whatever the other rows of the batch (see predict_outputs).
    rows_independent_in_float32 = True

    @torch.inference_mode()
    def predict_outputs(
        self,
        inputs: dict[str, torch.Tensor],
        representation: bool = False,
        pad: bool = True,
    ) -> torch.Tensor:
        """Outputs for all rows of ``inputs`` (``numeric``, ``categorical``,
        ``context``), in eval mode and without gradients; with
        ``representation=True``, what :meth:`combine` gives instead.

        A row's output must not depend on what else is predicted with it,
        but in float32 a matrix product's rounding can depend on how many
        rows it has (here: 1 or 2 rows differ from more, at the 1e-7
        level). So every forward pass gets exactly ``PREDICT_BLOCK_ROWS``
        rows, the last block padded with copies of the first row, and every
        layer then treats each row alike. A network whose eval forward
        regroups rows by context (``rows_independent_in_float32`` false)
        runs on a float64 copy instead, where the differences are 1e-16.

        ``pad=False`` skips the padding (and the float64 copy): for scoring
        a fixed validation split during training, where only speed matters.
        """
        if pad and not self.rows_independent_in_float32:
            return self._predict_in_float64(inputs, representation)
        if not self.training:  # a fitted network: shared by threads, left as is
            return self._predict_in_blocks(inputs, representation, pad, keep=True)
        self.eval()  # scoring during training, in the fitting thread
        try:
            return self._predict_in_blocks(inputs, representation, pad, keep=False)
        finally:
            self.train()

    def _predict_in_blocks(self, inputs, representation: bool, pad: bool, keep: bool):
        return _in_blocks(
            self.combine if representation else self,
            inputs,
            self.predicting_weights(keep),
            PREDICT_BLOCK_ROWS,
            pad,
        )

    def _predict_in_float64(self, inputs, representation: bool) -> torch.Tensor:
        """:meth:`predict_outputs` on a float64 copy, rows sorted by context
        so that most batches hold one or two contexts to regroup."""
        network = copy.deepcopy(self).double().eval()
        step = network.combine if representation else network
        generated = network.predicting_weights()
        ids = self.context_embedding.combination_ids(inputs["context"])
        order = torch.argsort(ids, stable=True)
        ordered = {name: tensor[order] for name, tensor in inputs.items()}
        for name in ("numeric", "continuous"):
            if name in ordered:
                ordered[name] = ordered[name].double()
        outputs = _in_blocks(step, ordered, generated, FLOAT64_BATCH_ROWS, pad=False)
        return torch.empty_like(outputs).index_copy_(0, order, outputs)


def _in_blocks(
    step, inputs: dict, generated, block_rows: int, pad: bool = True
) -> torch.Tensor:
    """``step`` over ``inputs`` in blocks of exactly ``block_rows`` rows,
    the last padded (if ``pad``) with copies of its first row; the
    padding's outputs are dropped. Only the last block is copied."""
    n_rows = len(inputs["context"])
    outputs = []
    for start in range(0, n_rows, block_rows):
        block = {
            name: tensor[start : start + block_rows] for name, tensor in inputs.items()
        }
        n_block = len(block["context"])
        if pad and n_block < block_rows:
            block = {
                name: torch.cat(
                    [tensor, tensor[:1].expand(block_rows - n_block, *tensor.shape[1:])]
                )
                for name, tensor in block.items()
            }
        outputs.append(step(**block, generated=generated)[:n_block])
    if not outputs:  # no rows: one empty pass gives the output's width
        return step(**inputs, generated=generated)
    return torch.cat(outputs)


class HyperNetworkModule(_ContextNetwork):
    """Features -> linear projection -> context-generated layer -> FC -> out.

    No activation sits between the projection and the generated layer, so
    the generated layer acts on a linear map of the features themselves:
    ``W(c)`` applied to ``P x`` is a per-context linear map ``P W(c)`` of
    ``x``, and a rule that is linear within each context is one generated
    unit away. (With an activation there, the quality benchmark's tasks
    with linear per-context rules lost 0.02-0.04 AUC; see
    ``docs/defaults.md``.)

    Parameters
    ----------
    n_numeric : int
        Number of numeric input features.
    categorical_sizes : sequence of int
        Number of categories of each categorical (non-context) feature.
    context_sizes : sequence of int
        Number of distinct values of each context column seen during fit.
    n_outputs : int
        Size of the output (number of classes or targets).
    hidden_size : int
        Size of the projection of the features.
    hyper_hidden_size : int
        Hidden size of the weight generator.
    output_size : int
        Output size of the generated layer and of the FC layers after it.
    num_fc_layers : int
        Number of ``output_size -> output_size`` layers after the generated one.
    generator_rank : int or None
        Rank of the generated weight update; ``None`` generates it in full.
    embedding_size : int
        Size of each context and categorical embedding.
    dropout : float
        Dropout after the generated layer and after each FC layer.
    activation : str
        One of :data:`ACTIVATIONS`.
    unknown_rate : float
        Fraction of training context codes replaced by the unknown code.
    bin_edges : sequence of 1-D arrays or None
        Quantile bin edges of the first numeric columns, which are then
        piecewise-linear encoded (:class:`PiecewiseLinearEncoding`); None
        feeds the numeric columns as they are.
    context_attributes : sequence of (array or None), optional
        Encoded attributes of each context column's values
        (:class:`ContextEmbedding`).
    continuous_size : int
        Width of the encoded continuous context; with one, every row gets
        a generated layer of its own.
    continuous_bins : (int, int) or None
        Where the piecewise-linear bins lie in the continuous context
        input (``NumericEncoder.bin_columns``); their first weights start
        at zero.
    linear_readout : bool
        Whether the output layer also reads the generated layer's output
        before its activation, ``P x W(c) + b(c)``, beside the last FC
        layer's. That output is linear in the features with coefficients
        set by the context, so the varying-coefficient model is part of
        the network, and the layers after the generated one learn what
        departs from it. The FC layers' weights in the output layer start
        at zero: an untrained network is the varying-coefficient model,
        and the non-linear part grows as far as training finds it useful.
    """

    activate_projection = False

    def __init__(
        self,
        n_numeric: int,
        categorical_sizes: Sequence[int],
        context_sizes: Sequence[int],
        n_outputs: int,
        hidden_size: int = 128,
        hyper_hidden_size: int = 64,
        output_size: int = 128,
        num_fc_layers: int = 1,
        generator_rank: int | None = None,
        embedding_size: int = 16,
        dropout: float = 0.1,
        activation: str = "relu",
        unknown_rate: float = 0.0,
        bin_edges: Sequence | None = None,
        context_attributes: Sequence | None = None,
        continuous_size: int = 0,
        continuous_bins: tuple[int, int] | None = None,
        linear_readout: bool = False,
    ):
        super().__init__(
            n_numeric,
            categorical_sizes,
            embedding_size,
            hidden_size,
            activation,
            unknown_rate,
            bin_edges,
        )
        self.linear_readout = linear_readout
        self.context_layer = ContextLinear(
            context_sizes,
            hidden_size,
            output_size,
            embedding_size,
            hyper_hidden_size,
            activation,
            generator_rank,
            context_attributes,
            continuous_size,
            continuous_bins,
        )
        self.after_context = nn.Sequential(ACTIVATIONS[activation](), Dropout(dropout))
        self.fc = fully_connected(
            [output_size] * (num_fc_layers + 1), activation, dropout
        )
        self.output = nn.Linear(output_size, n_outputs)
        if linear_readout:
            # The drawn weights read the generated layer's output, which
            # _combine appends to the representation; the FC layers' output
            # before it starts with zero weights.
            add_zero_inputs(self.output, output_size)

    @property
    def context_embedding(self) -> ContextEmbedding:
        return self.context_layer.embedding

    def _combine(self, numeric, categorical, context, generated=None, continuous=None):
        """The representation before the output layer (with
        ``linear_readout``, followed by the generated layer's output), and
        the part of the generated layer's output that the context generated."""
        projected = self._project(numeric, categorical)
        generated_output, update = self.context_layer(
            projected, self._mask_context(context), generated, continuous
        )
        hidden = self.fc(self.after_context(generated_output))
        if self.linear_readout:
            hidden = torch.cat([hidden, generated_output], dim=1)
        return hidden, update

    def _caches_all_weights(self) -> bool:
        n_combinations = self.context_embedding.n_combinations
        update_bytes = self.context_layer.update_size * 8
        return n_combinations * update_bytes <= PREDICT_WEIGHT_CACHE_BYTES

    def predicting_weights(self, keep: bool = False):
        """Every context's generated update, for the blocks of a prediction.

        With ``keep`` (a fitted network's predictions), they are kept for the
        next call, and reused while the tensors they came from (the context
        layer's parameters and buffers) hold the same values, compared
        exactly: generating 10,000 contexts' updates took 130 ms, which a
        one-row ``predict`` paid every call. (Not by torch's version
        counters: the fused AdamW step changes parameters without moving
        them.) The same computation, so the outputs are those of a fresh
        one."""
        if self.context_embedding.per_row or not self._caches_all_weights():
            return None
        layer = self.context_layer
        sources = [*layer.parameters(), *layer.buffers()] if keep else None
        kept = self.__dict__.get("_kept_weights")
        if sources is not None and kept is not None and _same(kept[0], sources):
            return kept[1]
        parts = layer.generate_update(self.context_embedding.all_codes())
        # Views into the generator's output, one row per context: laid out
        # once here, not copied by every block of the summed form.
        parts = tuple(part.contiguous() for part in parts)
        if sources is not None:
            copies = [tensor.detach().clone() for tensor in sources]
            self.__dict__["_kept_weights"] = (copies, parts)
        return parts

    def __getstate__(self) -> dict:
        # Kept generated weights are a cache, rebuilt by the first prediction.
        state = super().__getstate__()
        return {key: value for key, value in state.items() if key != "_kept_weights"}

    @property
    def rows_independent_in_float32(self) -> bool:
        """A low-rank update is applied row by row (summed, gathered or
        dense) once every context's weights are generated together; a
        full-rank one is applied per group of rows, and without the cache
        the generator runs on each batch's own contexts."""
        if self.context_embedding.per_row:  # each row's own layer, in bmm
            return True
        return self.context_layer.rank is not None and self._caches_all_weights()


def _same(kept: list[torch.Tensor], current: list[torch.Tensor]) -> bool:
    """Whether two lists of tensors hold the same values, tensor by tensor."""
    return len(kept) == len(current) and all(
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.device == b.device
        and torch.equal(a, b)
        for a, b in zip(kept, current, strict=True)
    )


class ConcatModule(_ContextNetwork):
    """[projected features, context embeddings] -> FC layers -> out.

    Parameters
    ----------
    n_numeric, categorical_sizes, context_sizes, n_outputs, hidden_size,
    embedding_size, dropout, activation, unknown_rate, bin_edges,
    context_attributes, continuous_size, continuous_bins
        As for :class:`HyperNetworkModule`.
    hidden_layer_sizes : sequence of int
        Sizes of the FC layers after the concatenation.
    """

    def __init__(
        self,
        n_numeric: int,
        categorical_sizes: Sequence[int],
        context_sizes: Sequence[int],
        n_outputs: int,
        hidden_size: int = 128,
        hidden_layer_sizes: Sequence[int] = (128, 64),
        embedding_size: int = 16,
        dropout: float = 0.1,
        activation: str = "relu",
        unknown_rate: float = 0.0,
        bin_edges: Sequence | None = None,
        context_attributes: Sequence | None = None,
        continuous_size: int = 0,
        continuous_bins: tuple[int, int] | None = None,
    ):
        super().__init__(
            n_numeric,
            categorical_sizes,
            embedding_size,
            hidden_size,
            activation,
            unknown_rate,
            bin_edges,
        )
        self.embedding = ContextEmbedding(
            context_sizes, embedding_size, context_attributes, continuous_size
        )
        sizes = [hidden_size + self.embedding.output_size, *hidden_layer_sizes]
        self.fc = fully_connected(sizes, activation, dropout)
        # The embedding comes after the projected features.
        zero_input_columns(
            self.fc[0],
            self.embedding.continuous_columns(continuous_bins, after=hidden_size),
        )
        self.output = nn.Linear(sizes[-1], n_outputs)

    @property
    def context_embedding(self) -> ContextEmbedding:
        return self.embedding

    def _combine(self, numeric, categorical, context, generated=None, continuous=None):
        """The representation before the output layer; nothing is generated
        per context, so there is nothing to pool."""
        projected = self._project(numeric, categorical)
        embedded = self.embedding(self._mask_context(context), continuous)
        return self.fc(torch.cat([projected, embedded], dim=1)), None
