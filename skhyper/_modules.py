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

import torch
from torch import nn

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
            nn.Dropout(dropout),
        ]
    return nn.Sequential(*layers)


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
    return rows[slot]


class ContextEmbedding(nn.Module):
    """Embeddings of one or more context columns, concatenated.

    Column ``j`` has codes ``0 .. context_sizes[j]``; the last one is its
    "unknown" code. A row of codes is also identified by one integer, its
    *combination id* (mixed radix over the columns), so that the distinct
    contexts of a batch are found with one ``torch.unique``.
    """

    def __init__(self, context_sizes: Sequence[int], embedding_size: int):
        super().__init__()
        self.context_sizes = [int(n) for n in context_sizes]
        self.columns = nn.ModuleList(
            nn.Embedding(n + 1, embedding_size) for n in self.context_sizes
        )
        radix = [n + 1 for n in self.context_sizes]
        self.n_combinations = math.prod(radix)
        if self.n_combinations >= 2**62:
            raise ValueError(
                "The context columns have too many value combinations "
                f"({' x '.join(map(str, radix))}); use fewer context columns."
            )
        strides = [math.prod(radix[j + 1 :]) for j in range(len(radix))]
        self.register_buffer("strides", torch.tensor(strides), persistent=False)
        self.register_buffer("radix", torch.tensor(radix), persistent=False)

    @property
    def output_size(self) -> int:
        return sum(column.embedding_dim for column in self.columns)

    @property
    def unknown_codes(self) -> torch.Tensor:
        return self.radix - 1

    def combination_ids(self, codes: torch.Tensor) -> torch.Tensor:
        return (codes * self.strides).sum(dim=1)

    def codes_of(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids.unsqueeze(1) // self.strides) % self.radix

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [column(codes[:, j]) for j, column in enumerate(self.columns)], dim=1
        )


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
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank
        if rank is None:
            self._factor_sizes = (in_features * out_features,)
        else:
            self._factor_sizes = (in_features * rank, rank * out_features)
        self.embedding = ContextEmbedding(context_sizes, embedding_size)
        self.generator = nn.Sequential(
            nn.Linear(self.embedding.output_size, hyper_hidden_size),
            ACTIVATIONS[activation](),
            nn.Linear(hyper_hidden_size, self.update_size),
        )
        self._zero_update_at_init()
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

    def generate_update(self, codes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The generated parts for each row of context codes
        ``(n, n_context_columns)``, in the generator's own form.

        Returns ``(dW, db)`` with ``dW`` of shape ``(n, in, out)`` when
        ``rank`` is None, else ``(A, B, db)`` with ``A`` of shape
        ``(n, in, rank)`` and ``B`` of shape ``(n, rank, out)``; ``db`` has
        shape ``(n, out)``.
        """
        flat = self.generator(self.embedding(codes))
        parts = torch.split(flat, [*self._factor_sizes, self.out_features], dim=1)
        if self.rank is None:
            return parts[0].view(-1, self.in_features, self.out_features), parts[1]
        return (
            parts[0].view(-1, self.in_features, self.rank),
            parts[1].view(-1, self.rank, self.out_features),
            parts[2],
        )

    def generate(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full weights ``(n, in, out)`` and biases ``(n, out)`` for each row
        of context codes ``(n, n_context_columns)``."""
        *weight_parts, bias_update = self.generate_update(codes)
        update = weight_parts[0]
        for factor in weight_parts[1:]:
            update = torch.bmm(update, factor)
        return update + self.base_weight, bias_update + self.base_bias

    def forward(
        self,
        inputs: torch.Tensor,
        context: torch.Tensor,
        generated: tuple[torch.Tensor, ...] | None = None,
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
        ids = self.embedding.combination_ids(context)
        present, group = torch.unique(ids, return_inverse=True)
        if generated is None:
            *factors, bias_update = self.generate_update(
                self.embedding.codes_of(present)
            )
        else:
            *factors, bias_update = (part[present] for part in generated)
        # x (W0 + A B) = x W0 + (x A) B: the full A B is never formed.
        update = grouped_product(inputs, group, factors, bias_update)
        return inputs @ self.base_weight + self.base_bias + update, update


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
        return self._mask_unknown(context, self.context_embedding.unknown_codes)

    def forward(self, numeric, categorical, context, generated=None, pooling=None):
        """The outputs (logits); in training with ``pooling`` (one
        coefficient per row), also each row's partial-pooling penalty:
        ``pooling`` times the mean square of the context-generated part of
        the row's hidden layer."""
        hidden, update = self._combine(numeric, categorical, context, generated)
        outputs = self.output(hidden)
        if pooling is None or update is None or not self.training:
            return outputs
        return outputs, pooling * update.square().mean(dim=1)

    def combine(self, numeric, categorical, context, generated=None) -> torch.Tensor:
        """The representation before the output layer."""
        return self._combine(numeric, categorical, context, generated)[0]

    @property
    def representation_size(self) -> int:
        """Width of what :meth:`combine` returns."""
        return self.output.in_features

    def predicting_weights(self) -> tuple[torch.Tensor, ...] | None:
        """Generated weights of all contexts to reuse across predict batches."""
        return None

    @torch.inference_mode()
    def predict_outputs(
        self,
        inputs: dict[str, torch.Tensor],
        batch_size: int,
        representation: bool = False,
    ) -> torch.Tensor:
        """Outputs for all rows of ``inputs`` (``numeric``, ``categorical``,
        ``context``), in eval mode, ``batch_size`` rows at a time; with
        ``representation=True``, what :meth:`combine` gives instead.

        Prediction runs on a float64 copy of the network: in float32 a row's
        output depends, at the 1e-7 level, on how many rows share its matrix
        product, and a prediction must not depend on what else is predicted
        with it. Rows are processed sorted by context, so that most batches
        hold one or two contexts and need little regrouping.
        """
        network = copy.deepcopy(self).double().eval()
        step = network.combine if representation else network
        generated = network.predicting_weights()
        ids = self.context_embedding.combination_ids(inputs["context"])
        order = torch.argsort(ids, stable=True)
        ordered = {name: tensor[order] for name, tensor in inputs.items()}
        ordered["numeric"] = ordered["numeric"].double()
        outputs = torch.cat(
            [
                step(
                    **{k: v[i : i + batch_size] for k, v in ordered.items()},
                    generated=generated,
                )
                for i in range(0, len(order), batch_size)
            ]
        )
        return torch.empty_like(outputs).index_copy_(0, order, outputs)


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
        self.context_layer = ContextLinear(
            context_sizes,
            hidden_size,
            output_size,
            embedding_size,
            hyper_hidden_size,
            activation,
            generator_rank,
        )
        self.after_context = nn.Sequential(
            ACTIVATIONS[activation](), nn.Dropout(dropout)
        )
        self.fc = fully_connected(
            [output_size] * (num_fc_layers + 1), activation, dropout
        )
        self.output = nn.Linear(output_size, n_outputs)

    @property
    def context_embedding(self) -> ContextEmbedding:
        return self.context_layer.embedding

    def _combine(self, numeric, categorical, context, generated=None):
        """The representation before the output layer, and the part of the
        generated layer's output that the context generated."""
        projected = self._project(numeric, categorical)
        hidden, update = self.context_layer(
            projected, self._mask_context(context), generated
        )
        return self.fc(self.after_context(hidden)), update

    def predicting_weights(self):
        layer = self.context_layer
        n_combinations = self.context_embedding.n_combinations
        if n_combinations * layer.update_size * 8 > PREDICT_WEIGHT_CACHE_BYTES:
            return None
        ids = torch.arange(n_combinations, device=layer.base_weight.device)
        return layer.generate_update(self.context_embedding.codes_of(ids))


class ConcatModule(_ContextNetwork):
    """[projected features, context embeddings] -> FC layers -> out.

    Parameters
    ----------
    n_numeric, categorical_sizes, context_sizes, n_outputs, hidden_size,
    embedding_size, dropout, activation, unknown_rate, bin_edges
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
        self.embedding = ContextEmbedding(context_sizes, embedding_size)
        sizes = [hidden_size + self.embedding.output_size, *hidden_layer_sizes]
        self.fc = fully_connected(sizes, activation, dropout)
        self.output = nn.Linear(sizes[-1], n_outputs)

    @property
    def context_embedding(self) -> ContextEmbedding:
        return self.embedding

    def _combine(self, numeric, categorical, context, generated=None):
        """The representation before the output layer; nothing is generated
        per context, so there is nothing to pool."""
        projected = self._project(numeric, categorical)
        embedded = self.embedding(self._mask_context(context))
        return self.fc(torch.cat([projected, embedded], dim=1)), None
