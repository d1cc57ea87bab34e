"""Building blocks of the ONNX export: a small graph builder and the numeric
pieces that have no single ONNX operator (``np.interp`` and the inverse
normal distribution function).

Everything here works on tensor *names*: each method adds nodes to the
graph and returns the name of its result. :mod:`skhyper._onnx` assembles the
estimator's pipeline from these.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.base import is_classifier
from torch import nn

from ._modules import (
    ConcatModule,
    Dropout,
    HyperNetworkModule,
    PiecewiseLinearEncoding,
)
from ._numeric import RANK_MARGIN, STANDARDISED_CLIP
from ._onnx import MISSING_INT64, MISSING_STRING, UNSEEN_ERROR_CODE

# Operator sets: 20 of the default domain (ai.onnx), and 4 of ai.onnx.ml,
# whose LabelEncoder takes float64 keys. IR version 9 is what opset 20
# needs; onnxruntime reads it from release 1.16 on.
OPSET = 20
ML_OPSET = 4
IR_VERSION = 9

# How the exported generated layer computes x dW(c): "auto" (choose_form),
# or "grouped" or "gathered" (the benchmark sets it to compare).
CONTEXT_FORM = "auto"

# Up to this many context combinations, rows are grouped by combination;
# beyond, the graph (a handful of nodes per combination) grows large and
# each row's low-rank factors are gathered instead.
GROUPED_MAX_CONTEXTS = 256

# Standardised values of a column whose scale exceeds this can come out
# finite where ``x - mean`` overflows; only then does the graph carry the
# estimator's divide-first fallback.
OVERFLOW_SCALE = 1e300

CLASSIFIER_OUTPUTS = ("label", "probabilities")
REGRESSOR_OUTPUTS = ("variable",)

# The input type of a context or categorical column, by its categories.
CATEGORY_TYPES = {
    "string": TensorProto.STRING,
    "int64": TensorProto.INT64,
    "double": TensorProto.DOUBLE,
}

# ONNX element types of the numpy dtypes the graph uses.
ELEMENT_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.bool_): TensorProto.BOOL,
    np.dtype(object): TensorProto.STRING,
}

# Acklam's rational approximation of the inverse standard normal
# distribution function (relative error below 1.15e-9 over (0, 1)): the
# central region's numerator and denominator in r = (p - 0.5)^2, and the
# tails' in q = sqrt(-2 log p).
ACKLAM_CENTRAL_NUMERATOR = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
ACKLAM_CENTRAL_DENOMINATOR = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
    1.0,
)
ACKLAM_TAIL_NUMERATOR = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
ACKLAM_TAIL_DENOMINATOR = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
    1.0,
)
ACKLAM_TAIL_BELOW = 0.02425


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, with fresh tensor names
    that never collide with the graph's input names."""

    def __init__(self, reserved_names):
        self.nodes: list = []
        self.initializers: list = []
        self._used = set(reserved_names)
        self._counter = 0

    def fresh(self, hint: str) -> str:
        """A new tensor name starting with ``hint``."""
        while True:
            self._counter += 1
            name = f"{hint}_{self._counter}"
            if name not in self._used:
                self._used.add(name)
                return name

    def const(self, value, dtype=None, hint: str = "const") -> str:
        """An initializer holding ``value`` (an array or a scalar)."""
        array = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", **attributes) -> str:
        """One node with a single output; returns the output's name."""
        output = self.fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], domain=domain or None, **attributes
            )
        )
        return output

    def rename(self, tensor: str, name: str) -> None:
        """Expose ``tensor`` under ``name`` (a graph output)."""
        self.nodes.append(helper.make_node("Identity", [tensor], [name]))

    def cast(self, tensor: str, dtype) -> str:
        return self.op("Cast", tensor, to=ELEMENT_TYPES[np.dtype(dtype)])

    def columns(self, matrix: str, positions) -> str:
        """The columns of a 2-D tensor at ``positions``."""
        index = self.const(np.asarray(positions, dtype=np.int64), hint="columns")
        return self.op("Gather", matrix, index, axis=1)

    def concat(self, tensors: list[str], axis: int = 1) -> str:
        return (
            tensors[0] if len(tensors) == 1 else self.op("Concat", *tensors, axis=axis)
        )

    def polynomial(self, x: str, coefficients, dtype) -> str:
        """``c[0] x^(n-1) + ... + c[n-1]`` by Horner's rule."""
        result = self.const(coefficients[0], dtype)
        for coefficient in coefficients[1:]:
            result = self.op("Mul", result, x)
            result = self.op("Add", result, self.const(coefficient, dtype))
        return result


def interp(graph: GraphBuilder, x: str, xp: np.ndarray, fp: np.ndarray) -> str:
    """``np.interp(x, xp, fp)`` for a float64 column ``x`` of shape (n, 1)
    and constant increasing (ties allowed) knots ``xp``.

    Each value's segment is found by a binary search over the knots, in
    ``ceil(log2(len(xp)))`` steps of one gather and one comparison each, so
    the work grows with the logarithm of the number of knots, not with it.
    As in NumPy, a value equal to a run of tied knots takes the last of
    them, and values outside the knots take the end values.
    """
    xp = np.asarray(xp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    n_knots = len(xp)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Ties give inf or NaN slopes, which no in-range value selects.
        slopes = np.append(np.diff(fp) / np.diff(xp), 0.0)
    knots = graph.const(xp, hint="knots")
    low = graph.op("Expand", graph.const(0, np.int64), graph.op("Shape", x))
    high = graph.op("Add", low, graph.const(n_knots - 1, np.int64))
    two = graph.const(2, np.int64)
    for _ in range(int(np.ceil(np.log2(max(n_knots - 1, 1))))):
        middle = graph.op("Div", graph.op("Add", low, high), two)
        go_right = graph.op("LessOrEqual", graph.op("Gather", knots, middle), x)
        low = graph.op("Where", go_right, middle, low)
        high = graph.op("Where", go_right, high, middle)
    left = graph.op("Gather", knots, low)
    slope = graph.op("Gather", graph.const(slopes, hint="slopes"), low)
    start = graph.op("Gather", graph.const(fp, hint="values"), low)
    inside = graph.op("Add", graph.op("Mul", slope, graph.op("Sub", x, left)), start)
    below = graph.op("Less", x, graph.const(xp[0]))
    above = graph.op("GreaterOrEqual", x, graph.const(xp[-1]))
    result = graph.op("Where", below, graph.const(fp[0]), inside)
    return graph.op("Where", above, graph.const(fp[-1]), result)


def inverse_normal(graph: GraphBuilder, p: str) -> str:
    """The standard normal quantile of probabilities ``p`` (float64, in
    (0, 1)) by Acklam's approximation: relative error below 1.15e-9, far
    below the float32 rounding that follows."""
    f64 = np.float64
    centred = graph.op("Sub", p, graph.const(0.5, f64))
    r = graph.op("Mul", centred, centred)
    central = graph.op(
        "Div",
        graph.op("Mul", graph.polynomial(r, ACKLAM_CENTRAL_NUMERATOR, f64), centred),
        graph.polynomial(r, ACKLAM_CENTRAL_DENOMINATOR, f64),
    )

    def tail(probability: str) -> str:
        """The lower-tail formula at ``probability``."""
        minus_two_log = graph.op(
            "Mul", graph.op("Log", probability), graph.const(-2.0, f64)
        )
        q = graph.op("Sqrt", minus_two_log)
        return graph.op(
            "Div",
            graph.polynomial(q, ACKLAM_TAIL_NUMERATOR, f64),
            graph.polynomial(q, ACKLAM_TAIL_DENOMINATOR, f64),
        )

    # Clamping keeps each branch's logarithm finite where it is not used.
    lower_p = graph.op("Min", p, graph.const(ACKLAM_TAIL_BELOW, f64))
    upper_p = graph.op(
        "Min",
        graph.op("Sub", graph.const(1.0, f64), p),
        graph.const(ACKLAM_TAIL_BELOW, f64),
    )
    lower = tail(lower_p)
    upper = graph.op("Neg", tail(upper_p))
    in_lower = graph.op("Less", p, graph.const(ACKLAM_TAIL_BELOW, f64))
    in_upper = graph.op("Greater", p, graph.const(1 - ACKLAM_TAIL_BELOW, f64))
    result = graph.op("Where", in_lower, lower, central)
    return graph.op("Where", in_upper, upper, result)


# -- the whole model ---------------------------------------------------------


def build_model(estimator, names: list[str]) -> onnx.ModelProto:
    """The ONNX model of a fitted estimator whose columns are ``names``
    (see :func:`skhyper.to_onnx`)."""
    outputs = CLASSIFIER_OUTPUTS if is_classifier(estimator) else REGRESSOR_OUTPUTS
    graph = GraphBuilder([*names, *outputs])
    encoder = estimator.encoder_
    unseen_learned = estimator.handle_unknown == "learned"

    def codes(positions, encoders) -> list[str]:
        return [
            category_codes(graph, names[p], e, unseen_learned)
            for p, e in zip(positions, encoders, strict=True)
        ]

    context = codes(encoder.context_positions_, encoder.context_encoders_)
    categorical = codes(encoder.categorical_positions_, encoder.categorical_encoders_)
    numeric = numeric_features(
        graph, encoder.numeric_encoder_, [names[p] for p in encoder.numeric_positions_]
    )
    logits = Network(estimator.net_.module_).outputs(
        graph, numeric, categorical, context
    )
    if is_classifier(estimator):
        output_infos = classifier_outputs(graph, estimator.classes_, logits)
    else:
        output_infos = regressor_outputs(graph, estimator, logits)
    kinds = input_kinds(encoder)
    input_infos = [
        helper.make_tensor_value_info(name, kinds[position], [None, 1])
        for position, name in enumerate(names)
    ]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            type(estimator).__name__,
            input_infos,
            output_infos,
            graph.initializers,
        ),
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
        producer_name="skhyper",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# -- inputs and their encoding -------------------------------------------------


def category_kind(category_encoder) -> str:
    """``"string"``, ``"int64"`` or ``"double"``: how the column's
    categories enter the graph."""
    values = list(category_encoder.categories_)
    if all(isinstance(v, str) for v in values) and MISSING_STRING not in values:
        return "string"
    if not any(isinstance(v, (bool, np.bool_)) for v in values):
        if all(isinstance(v, Integral) for v in values) and MISSING_INT64 not in values:
            return "int64"
        if all(isinstance(v, Real) for v in values):
            return "double"
    types = sorted({type(v).__name__ for v in values})
    raise ValueError(
        f"{category_encoder.what} holds categories of type(s) {', '.join(types)}; "
        "to_onnx exports categories that are all strings, all integers or all "
        "floats. Convert the column before fit, e.g. "
        f"X[{category_encoder.name!r}].astype(str), and refit."
    )


def input_kinds(encoder) -> dict[int, int]:
    """The ONNX element type of each column's input, by position."""
    kinds = dict.fromkeys(encoder.numeric_positions_, TensorProto.DOUBLE)
    for positions, encoders in (
        (encoder.context_positions_, encoder.context_encoders_),
        (encoder.categorical_positions_, encoder.categorical_encoders_),
    ):
        for position, category_encoder in zip(positions, encoders, strict=True):
            kinds[position] = CATEGORY_TYPES[category_kind(category_encoder)]
    return kinds


def category_codes(
    graph: GraphBuilder, name: str, category_encoder, unseen_learned: bool
) -> str:
    """The codes ``[N]`` (int64) of the column input ``name``: an ai.onnx.ml
    LabelEncoder from the fitted categories to their codes, unseen values
    to the unknown code (or, without ``unseen_learned``, to
    ``UNSEEN_ERROR_CODE``)."""
    categories = category_encoder.categories_
    codes = np.arange(len(categories), dtype=np.int64)
    default = category_encoder.unknown_code if unseen_learned else UNSEEN_ERROR_CODE
    kind = category_kind(category_encoder)
    if kind == "string":
        keys = {"keys_strings": [str(v) for v in categories]}
    elif kind == "int64":
        keys = {"keys_int64s": [int(v) for v in categories]}
    else:  # float keys need the tensor attributes (ai.onnx.ml 4)
        keys = {
            "keys_tensor": numpy_helper.from_array(np.asarray(categories, np.float64))
        }
    if kind == "double":
        values = {
            "values_tensor": numpy_helper.from_array(codes),
            "default_tensor": numpy_helper.from_array(np.array([default], np.int64)),
        }
    else:
        values = {"values_int64s": codes.tolist(), "default_int64": int(default)}
    encoded = graph.op("LabelEncoder", name, domain="ai.onnx.ml", **keys, **values)
    return graph.op("Squeeze", encoded, graph.const([1], np.int64))


def numeric_features(graph: GraphBuilder, numeric_encoder, names: list[str]):
    """The network's numeric input (float32 ``[N, n_numeric + n_indicators]``)
    from the numeric column inputs ``names``, as
    :meth:`skhyper._numeric.NumericEncoder.transform` computes it; None
    without numeric columns."""
    if not names:
        return None
    raw = graph.concat(list(names))
    missing = graph.op("IsNaN", raw)
    filled = graph.op("Where", missing, graph.const(numeric_encoder.median_), raw)
    encoded = standardise(graph, numeric_encoder, filled)
    if numeric_encoder.encoding == "quantile":
        encoded = graph.concat(
            [
                normal_scores(graph, graph.columns(encoded, [j]), quantiles)
                for j, quantiles in enumerate(numeric_encoder.quantiles_)
            ]
        )
    encoded = graph.cast(encoded, np.float32)
    if not numeric_encoder.has_missing_.any():
        return encoded
    flagged = np.flatnonzero(numeric_encoder.has_missing_)
    indicators = graph.cast(graph.columns(missing, flagged), np.float32)
    return graph.concat([encoded, indicators])


def standardise(graph: GraphBuilder, numeric_encoder, filled: str) -> str:
    """``(x - mean) / scale``, clipped, in float64 as the encoder does."""
    mean, scale = numeric_encoder.mean_, numeric_encoder.scale_
    result = graph.op(
        "Div", graph.op("Sub", filled, graph.const(mean)), graph.const(scale)
    )
    if (scale > OVERFLOW_SCALE).any():
        divided_first = graph.op(
            "Sub",
            graph.op("Div", filled, graph.const(scale)),
            graph.const(mean / scale),
        )
        overflowed = graph.op("Not", graph.op("IsInf", result))
        result = graph.op("Where", overflowed, result, divided_first)
    bound = graph.const(STANDARDISED_CLIP, np.float64)
    return graph.op("Clip", result, graph.op("Neg", bound), bound)


def normal_scores(graph: GraphBuilder, column: str, quantiles: np.ndarray) -> str:
    """The quantile encoding of one standardised column ``[N, 1]``, as
    :func:`skhyper._numeric._normal_scores` computes it: the mean of the
    forward and backward interpolated ranks, clipped, then the normal
    quantile."""
    if len(quantiles) == 1:  # constant column: no information
        return graph.op("Mul", column, graph.const(0.0))
    levels = np.linspace(0, 1, len(quantiles))
    forward = interp(graph, column, quantiles, levels)
    backward = graph.op(
        "Neg", interp(graph, graph.op("Neg", column), -quantiles[::-1], -levels[::-1])
    )
    ranks = graph.op("Div", graph.op("Add", forward, backward), graph.const(2.0))
    ranks = graph.op(
        "Clip", ranks, graph.const(RANK_MARGIN), graph.const(1 - RANK_MARGIN)
    )
    return inverse_normal(graph, ranks)


# -- the network -------------------------------------------------------------


class Network:
    """The graph of a fitted (eval-mode) network, in the dtype its
    ``predict_outputs`` computes in: float32, or float64 for a
    hypernetwork whose rows are regrouped by context (full rank)."""

    def __init__(self, module: nn.Module):
        self.float64 = not module.rows_independent_in_float32
        if isinstance(module, HyperNetworkModule) and not module._caches_all_weights():
            layer = module.context_layer
            megabytes = (
                module.context_embedding.n_combinations * layer.update_size * 8 / 2**20
            )
            raise ValueError(
                "to_onnx stores the generated weights of every combination of "
                f"context values, here {module.context_embedding.n_combinations} "
                f"combinations and about {megabytes:,.0f} MB, beyond the 256 MB "
                "that predict caches. Use fewer context columns or values, a "
                "smaller generator_rank, hidden_size or output_size, or "
                "ConcatClassifier/ConcatRegressor."
            )
        # The float64 path of predict runs on a float64 copy, generator
        # included; so does this.
        self.module = copy.deepcopy(module).double() if self.float64 else module
        self.dtype = np.float64 if self.float64 else np.float32

    def param(self, tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(self.dtype)

    def outputs(self, graph, numeric, categorical: list, context: list) -> str:
        """The logits (or standardised regression outputs) of every row."""
        module = self.module
        if numeric is not None and self.float64:
            numeric = graph.cast(numeric, np.float64)
        projected = self.projection(graph, module.projection, numeric, categorical)
        readout = []  # what the output layer reads after the FC layers' output
        if isinstance(module, HyperNetworkModule):
            generated = self.context_layer(
                graph, module.context_layer, projected, context
            )
            hidden = self.sequential(graph, module.after_context, generated)
            if module.linear_readout:
                readout = [generated]
        elif isinstance(module, ConcatModule):
            embedded = [
                self.embed(graph, column, codes)
                for column, codes in zip(module.embedding.columns, context, strict=True)
            ]
            hidden = graph.concat([projected, *embedded])
        else:
            raise TypeError(f"to_onnx cannot export a {type(module).__name__}.")
        hidden = self.sequential(graph, module.fc, hidden)
        return self.linear(graph, module.output, graph.concat([hidden, *readout]))

    def projection(self, graph, projection, numeric, categorical: list) -> str:
        parts = []
        if numeric is not None:
            if isinstance(projection.numeric_encoding, PiecewiseLinearEncoding):
                numeric = self.piecewise_linear(
                    graph, projection.numeric_encoding, numeric
                )
            parts.append(numeric)
        parts += [
            self.embed(graph, embedding, codes)
            for embedding, codes in zip(projection.embeddings, categorical, strict=True)
        ]
        projected = self.linear(graph, projection.linear, graph.concat(parts))
        return self.activation(graph, projection.activation, projected)

    def piecewise_linear(self, graph, encoding, numeric: str) -> str:
        """``clamp((x - left) / width, 0, 1)`` per bin, then the indicator
        columns unchanged (:class:`PiecewiseLinearEncoding`)."""
        values = graph.columns(numeric, encoding.column.cpu().numpy())
        bins = graph.op(
            "Div",
            graph.op("Sub", values, graph.const(self.param(encoding.left))),
            graph.const(self.param(encoding.width)),
        )
        bins = graph.op(
            "Clip", bins, graph.const(0, self.dtype), graph.const(1, self.dtype)
        )
        n_columns = encoding.n_encoded + self.n_indicators(encoding)
        rest = range(encoding.n_encoded, n_columns)
        return graph.concat([bins, graph.columns(numeric, list(rest))])

    def n_indicators(self, encoding) -> int:
        projection = self.module.projection
        n_embedded = sum(e.embedding_dim for e in projection.embeddings)
        return projection.linear.in_features - n_embedded - len(encoding.left)

    def embed(self, graph, embedding: nn.Embedding, codes: str) -> str:
        return graph.op("Gather", graph.const(self.param(embedding.weight)), codes)

    def linear(self, graph, layer: nn.Linear, x: str) -> str:
        return graph.op(
            "Gemm",
            x,
            graph.const(self.param(layer.weight)),
            graph.const(self.param(layer.bias)),
            transB=1,
        )

    def sequential(self, graph, layers: nn.Sequential, x: str) -> str:
        for layer in layers:
            if isinstance(layer, nn.Linear):
                x = self.linear(graph, layer, x)
            elif not isinstance(layer, (Dropout, nn.Dropout)):  # eval: identity
                x = self.activation(graph, layer, x)
        return x

    def activation(self, graph, layer: nn.Module, x: str) -> str:
        """The activation module ``layer`` applied to ``x``. ONNX Runtime
        has no float64 kernels of Erf, Elu and LeakyRelu, so those are
        written with other operators (GELU's error function in float32,
        which moves a float64 result by about 1e-7)."""
        dtype = self.dtype
        if isinstance(layer, nn.Identity):
            return x
        if isinstance(layer, nn.ReLU):
            return graph.op("Relu", x)
        if isinstance(layer, nn.Tanh):
            return graph.op("Tanh", x)
        if isinstance(layer, nn.Sigmoid):
            return graph.op("Sigmoid", x)
        if isinstance(layer, nn.SiLU):
            if not self.float64:
                return graph.op("Mul", x, graph.op("Sigmoid", x))
            # x / (1 + exp(-x)): onnxruntime before 1.32 (seen in 1.23)
            # fuses x * Sigmoid(x) into a QuickGelu that has no float64
            # kernel, and the session fails to run.
            exp = graph.op("Exp", graph.op("Neg", x))
            return graph.op("Div", x, graph.op("Add", exp, graph.const(1, dtype)))
        positive = graph.op("Greater", x, graph.const(0, dtype))
        if isinstance(layer, nn.LeakyReLU):
            slope = graph.const(layer.negative_slope, dtype)
            return graph.op("Where", positive, x, graph.op("Mul", x, slope))
        if isinstance(layer, nn.ELU):
            alpha = graph.const(layer.alpha, dtype)
            below = graph.op("Sub", graph.op("Exp", x), graph.const(1, dtype))
            return graph.op("Where", positive, x, graph.op("Mul", below, alpha))
        if isinstance(layer, nn.GELU) and layer.approximate == "none":
            scaled = graph.op("Mul", x, graph.const(np.sqrt(0.5), dtype))
            erf = graph.op("Erf", graph.cast(scaled, np.float32))
            one_plus = graph.op("Add", graph.cast(erf, dtype), graph.const(1, dtype))
            return graph.op(
                "Mul", graph.op("Mul", x, one_plus), graph.const(0.5, dtype)
            )
        raise TypeError(f"to_onnx cannot export the activation {layer!r}.")

    # -- the generated layer --------------------------------------------------

    def context_layer(self, graph, layer, x: str, context: list) -> str:
        """``x W0 + b0 + x dW(c) + db(c)`` with each row's context ``c``;
        the updates of every context combination are generated here, once,
        by the fitted generator."""
        embedding = layer.embedding
        with torch.inference_mode():
            generated = layer.generate_update(embedding.all_codes())
        *factors, bias_update = (self.param(part) for part in generated)
        ids = self.combination_ids(graph, embedding, context)
        base = graph.op(
            "Gemm",
            x,
            graph.const(self.param(layer.base_weight)),
            graph.const(self.param(layer.base_bias)),
        )
        form = CONTEXT_FORM
        if form == "auto":
            form = choose_form(layer.rank, len(bias_update))
        update = getattr(self, f"{form}_update")(graph, x, ids, *factors)
        # Every form gathers the bias by id: an unseen value's out-of-range
        # code (handle_unknown="error") fails here.
        update = graph.op(
            "Add", update, graph.op("Gather", graph.const(bias_update), ids)
        )
        if layer.update_kept is not None:
            update = self.pooled_update(graph, layer, x, ids, update)
        return graph.op("Add", base, update)

    def pooled_update(self, graph, layer, x: str, ids: str, update: str) -> str:
        """``mean + kept(c) * (update - mean)``, the partial pooling of
        :meth:`ContextLinear.set_pooling`: each combination's kept share
        gathered by id, the mean update a dense layer."""
        with torch.inference_mode():
            every_id = torch.arange(
                layer.embedding.n_combinations, device=layer.pooled_ids.device
            )
            kept = self.param(layer.kept_share(every_id))
        kept = graph.op(
            "Unsqueeze",
            graph.op("Gather", graph.const(kept), ids),
            graph.const([1], np.int64),
        )
        mean = graph.op(
            "Gemm",
            x,
            graph.const(self.param(layer.mean_weight)),
            graph.const(self.param(layer.mean_bias)),
        )
        return graph.op(
            "Add", mean, graph.op("Mul", kept, graph.op("Sub", update, mean))
        )

    @staticmethod
    def combination_ids(graph, embedding, context: list) -> str:
        """Each row's combination id (:meth:`ContextEmbedding.combination_ids`)."""
        ids = None
        for codes, stride in zip(context, embedding.strides.tolist(), strict=True):
            term = (
                codes
                if stride == 1
                else graph.op("Mul", codes, graph.const(stride, np.int64))
            )
            ids = term if ids is None else graph.op("Add", ids, term)
        return ids

    def gathered_update(self, graph, x: str, ids: str, a: np.ndarray, b: np.ndarray):
        """``x A(c) B(c)`` with each row's factors gathered: a batched
        product of ``[N, 1, in]`` rows by ``[N, in, rank]`` factors."""
        rows = graph.op("Unsqueeze", x, graph.const([1], np.int64))
        low = graph.op("MatMul", rows, graph.op("Gather", graph.const(a), ids))
        high = graph.op("MatMul", low, graph.op("Gather", graph.const(b), ids))
        return graph.op("Squeeze", high, graph.const([1], np.int64))

    def grouped_update(self, graph, x: str, ids: str, *factors: np.ndarray):
        """``x dW(c)`` (or ``x A(c) B(c)``) by groups: the rows of each
        context combination gathered (NonZero), multiplied by its factors,
        and scattered back in one ScatterND; rows of no combination stay
        0."""
        n_contexts, n_out = len(factors[0]), factors[-1].shape[2]
        row_lists, products = [], []
        for k in range(n_contexts):
            is_k = graph.op("Equal", ids, graph.const(k, np.int64))
            rows = graph.op("Transpose", graph.op("NonZero", is_k))  # [M, 1]
            product = graph.op(
                "Gather", x, graph.op("Squeeze", rows, graph.const([1], np.int64))
            )
            for factor in factors:
                product = graph.op("MatMul", product, graph.const(factor[k]))
            row_lists.append(rows)
            products.append(product)
        n_rows = graph.op(
            "Slice",
            graph.op("Shape", x),
            graph.const([0], np.int64),
            graph.const([1], np.int64),
        )
        shape = graph.op("Concat", n_rows, graph.const([n_out], np.int64), axis=0)
        zeros = graph.op(
            "ConstantOfShape",
            shape,
            value=numpy_helper.from_array(np.zeros(1, dtype=self.dtype)),
        )
        return graph.op(
            "ScatterND",
            zeros,
            graph.concat(row_lists, axis=0),
            graph.concat(products, axis=0),
        )


def choose_form(rank: int | None, n_contexts: int) -> str:
    """The exported form of the generated layer (see ``CONTEXT_FORM``):
    grouped by context combination, as the estimator's float64 path does
    for full-rank layers and whenever the combinations are few; beyond
    ``GROUPED_MAX_CONTEXTS``, each row's low-rank factors are gathered.
    Measured with ``python benchmarks/bench_speed.py --sections onnx``."""
    if rank is None or n_contexts <= GROUPED_MAX_CONTEXTS:
        return "grouped"
    return "gathered"


# -- outputs -----------------------------------------------------------------


def classifier_outputs(graph: GraphBuilder, classes: np.ndarray, logits: str) -> list:
    """``label`` (the most probable class, ``predict``) and
    ``probabilities`` (the softmax in float64, ``predict_proba``)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        table, label_type = classes.astype(np.int64), TensorProto.INT64
    elif classes.dtype.kind == "f":
        table, label_type = classes.astype(np.float64), TensorProto.DOUBLE
    elif classes.dtype.kind == "b":
        table, label_type = classes, TensorProto.BOOL
    elif all(isinstance(c, str) for c in classes):
        table, label_type = classes.astype(object), TensorProto.STRING
    else:
        raise ValueError(
            f"to_onnx exports integer, float, bool or string class labels; "
            f"classes_ has dtype {classes.dtype}. Encode the labels (e.g. with "
            "LabelEncoder) and refit."
        )
    best = graph.op("ArgMax", logits, axis=1, keepdims=0)
    graph.rename(graph.op("Gather", graph.const(table, hint="classes"), best), "label")
    proba = graph.op("Softmax", graph.cast(logits, np.float64), axis=1)
    graph.rename(proba, "probabilities")
    return [
        helper.make_tensor_value_info("label", label_type, [None]),
        helper.make_tensor_value_info(
            "probabilities", TensorProto.DOUBLE, [None, len(classes)]
        ),
    ]


def regressor_outputs(graph: GraphBuilder, estimator, outputs: str) -> list:
    """``variable``: the outputs in float64, mapped back to the target's
    scale."""
    scaled = graph.op(
        "Mul", graph.cast(outputs, np.float64), graph.const(estimator.target_scale_)
    )
    graph.rename(
        graph.op("Add", scaled, graph.const(estimator.target_mean_)), "variable"
    )
    return [
        helper.make_tensor_value_info(
            "variable", TensorProto.DOUBLE, [None, len(estimator.target_mean_)]
        )
    ]
