"""The two network architectures as estimator mixins, and the documentation
that every estimator shares.

A mixin says which torch module an estimator trains, which of the
estimator's parameters configure it, and how they are validated. The task
(classification or regression) comes from the other base class.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, StrOptions
from ._modules import ConcatModule, HyperNetworkModule
from ._runtime import torch_session

SHARED_PARAMETERS_DOC = """\
context_column : str, int, list of these, or None, default=None
        The column whose value changes what the other features mean. A column
        name for a DataFrame, an integer position for an array (as in
        ``ColumnTransformer``). With ``None``, a DataFrame's single
        non-numeric column is used (anything else raises a ``ValueError``),
        unless ``continuous_context`` is set: then there is no categorical
        context, and non-numeric columns are categorical features.
        A list names several context columns (e.g. ``["sensor_type",
        "site"]``): their embeddings, concatenated, drive the network. The
        context may hold strings, integers, or pandas ``category`` /
        ``string`` / ``object`` values; they are encoded at fit. Missing
        context values (None/NaN) are an error with
        ``handle_unknown="error"``: fill them with an explicit category
        first. With ``"learned"`` they get the unknown embedding, at fit
        and at predict.

        Of the other columns, numeric ones (bool included) are encoded as
        ``numeric_encoding`` says, and categorical ones (``category`` or
        ``string`` dtype, or ``object`` columns of strings) get a learned
        embedding each; both are projected together. Unseen categories at
        predict follow ``handle_unknown``.
    continuous_context : str, int, list of these, or None, default=None
        Numeric column(s) that drive the generator *as numbers* (age, time,
        temperature): a varying-coefficient model, where the layer changes
        with the value. They are encoded as ``continuous_encoding`` says
        (a missing value gets the training median and a 0/1 "missing"
        input) and concatenated with the categorical context's embeddings;
        like ``context_column``, they are not also fed as features. With
        ``context_column=None`` (or ``[]``) they are the only context. In
        the hypernetwork every row then gets a generated layer of its own,
        which costs more per row than a categorical context (whose layers
        are shared by its rows).
    continuous_encoding : {"standard", "quantile", "piecewise_linear"}, \
default=CONTINUOUS_ENCODING_DEFAULT
        How ``continuous_context`` columns are encoded, fitted on the
        training rows. ``"piecewise_linear"`` feeds each column's
        standardised value together with its expansion over up to
        ``n_bins`` quantile bins, the bins' weights starting at zero (the
        "B" form of piecewise-linear embeddings: Gorishniy et al., NeurIPS
        2022, and TabM, ICLR 2025): the generator starts from the plain
        value and learns sharp changes between regimes of it (a threshold
        temperature) where they help. ``"standard"`` feeds the standardised
        value alone, from which the generator's small MLP makes smooth
        changes more easily than sharp ones; ``"quantile"`` its normal
        score, as for ``numeric_encoding``. The default was chosen on the
        context benchmark's tuning half (``docs/defaults.md``, round 8).
        Ignored without ``continuous_context``.
    context_attributes : DataFrame, dict of DataFrames, or None, default=None
        Known attributes of the categorical context's values: a DataFrame
        indexed by the values of the (single) context column, with numeric
        and/or categorical columns (size, region, unit, ...), or a dict
        ``{context column: DataFrame}`` with several context columns (by
        name, or by position as in ``categories``). Every
        value seen at fit (or declared in ``categories``) needs a row; no
        missing values; numbers and labels only (convert dates first). The generator
        reads the row's attributes (numeric ones standardised over the
        values seen at fit, categorical ones one-hot) next to its value's
        embedding. In training the value's id is hidden for a quarter of
        the rows, so the attributes alone learn to make a layer: a value
        listed in the table but not seen at fit is predicted from its
        attributes (with the "unknown" id embedding), whatever
        ``handle_unknown`` says; a value in neither follows
        ``handle_unknown``.
    categories : dict or None, default=None
        Values declared up front for context and categorical columns, by
        column name (or position for an array): ``{"site": ["a", "b",
        "c"]}``. They are the column's categories whether or not the
        training rows hold them all, which ``partial_fit`` needs, since a
        chunk may lack some (there a pandas ``Categorical`` column's
        categories declare them too). A value outside them follows
        ``handle_unknown``. A declared value that training never meets
        keeps its initial, random embedding.
    numeric_encoding : {"standard", "quantile", "piecewise_linear"}, \
default=NUMERIC_ENCODING_DEFAULT
        How numeric columns enter the network, each fitted on the training
        rows. ``"standard"``: standardised with the training mean and
        standard deviation. ``"quantile"``: mapped through the training
        quantiles to standard normal scores, so only ranks count (robust to
        heavy tails and skew). ``"piecewise_linear"``: each column is
        expanded over up to ``n_bins`` quantile bins (Gorishniy et al.,
        NeurIPS 2022), so the first layer can shape an irregular effect of
        one feature bin by bin. These two centre and scale each column by
        its median and interquartile range, so a few fill values (1e20)
        among ordinary numbers leave the others' ranks and bins. In every
        case a missing value (NaN, None, ``pd.NA``) is filled with the
        column's training median and flagged by a 0/1 "missing" input per
        column that had missing values at fit, so the network learns what
        a missing value means; a missing value at predict in a column that
        had none at fit gets the median. Infinite values are an error.
    n_bins : int, default=16
        Largest number of quantile bins per column for
        ``numeric_encoding="piecewise_linear"``.
    hidden_size : int, default=128
        Size of the linear projection of the non-context features
        (followed by the activation in the concat networks; the
        hypernetwork's generated layer takes it as it is).
    embedding_size : int, default=16
        Size of each learned embedding (per context column and per
        categorical feature).
    dropout : float, default=0.1
        Dropout rate of the fully connected layers.
    activation : {"relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu", \
"silu"}, default="relu"
        Activation function used throughout the network.
    max_epochs : int, default=200
        Most passes over the training data; a fit usually stops earlier (see
        ``early_stopping``).
    lr : float, default=1e-3
        Learning rate of the Adam optimizer (AdamW, with decoupled weight
        decay).
    weight_decay : "auto" or float, default=WEIGHT_DECAY_DEFAULT
        Decoupled weight decay of AdamW on the weights (biases are not
        decayed): each step multiplies every weight by
        ``1 - lr * weight_decay``. Decay keeps the network from fitting
        noise and pulls contexts with few rows towards what the others
        share, but it also caps how large the weights, and so how sharp
        the learned rules, can get. ``"auto"`` lets the validation split
        choose between two fits on the same training rows: one along a
        decay path (it starts at decay 7 and, each time the validation
        score stops improving, goes back to the best weights and continues
        with a weaker decay: 2, 0.5, then 0.1; when 0.1 stalls too, a last
        stage goes back to the best weights, under their decay, at a tenth
        of the learning rate; the best weights of the whole path are
        kept), and one with decay 0.1 trained until the training loss
        converges. The path suits small and noisy tables, the weak
        decay sharp rules on enough data; the fit with the better
        validation score is kept (``weight_decay_`` tells which decay its
        weights had). This costs about two fits. Without a validation
        split, ``"auto"`` means 7. A number fixes the
        decay; ``0`` is plain Adam. The shrinkage per step grows with
        ``lr``: lower ``weight_decay`` when raising ``lr``.
    weight_averaging : float, default=WEIGHT_AVERAGING_DEFAULT
        Fraction of the last epochs whose weights are averaged into the
        fitted model (stochastic weight averaging) in a fit without a
        validation split: when ``ceil(weight_averaging * max_epochs)`` is
        above 1, such a fit runs all ``max_epochs`` and averages the weights
        at the end of each of those last epochs. Otherwise (``0``, or a
        fraction of at most one epoch) it keeps the last epoch's weights
        and stops on convergence. Ignored with a validation split, which keeps
        the best epoch's weights instead.
    batch_size : int or "auto", default="auto"
        Rows per training step. ``"auto"`` uses 128 rows up to about 5,800
        training rows; beyond, the power of two nearest to a 32nd of the
        training rows (about 32 steps per epoch), at most 4,096 on a CPU and
        16,384 on a GPU, where larger steps cost little more than small
        ones. ``lr`` is then scaled by ``sqrt(batch_size_ / 128)``, the
        square-root rule for Adam (Malladi et al., NeurIPS 2022), so that
        ``lr`` keeps meaning the rate at 128 rows. ``batch_size_`` records
        the size used.
    early_stopping : "auto" or bool, default="auto"
        Whether to hold out ``validation_fraction`` of the training rows
        (stratified for classifiers, drawn with ``random_state``) and stop
        when their loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, keeping the weights of the best epoch
        (and walking the decay path with ``weight_decay="auto"``). When it
        stalls, a last stage trains on from the best weights at a tenth of
        the learning rate, until it stalls in turn; its epochs count like
        any others for the best one.
        ``"auto"`` does so from 200 training rows on (of positive
        ``sample_weight``), where the split holds
        rows of two classes or more (a classifier's rare class with too few
        rows for it would leave the split blind to it). Without a validation
        split the fit stops when the training loss has not improved by
        ``tol`` for ``n_iter_no_change`` epochs, as ``MLPClassifier`` does,
        or after ``max_epochs``.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping and of the convergence rule, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the monitored loss that counts as an
        improvement.
    handle_unknown : {"error", "learned"}, default="error"
        What to do with a context value (or a value of a categorical feature)
        at predict that was not seen at fit. ``"error"`` raises a
        ``ValueError`` naming the values. ``"learned"`` predicts them with an
        extra "unknown" embedding per column; to train it, 5% of the training
        values of each context and categorical column are replaced by
        "unknown" in each epoch, which costs those rows that information.
    n_threads : int or None, default=1
        Torch intra-op threads used inside ``fit`` and ``predict``; the
        previous setting is restored afterwards. One thread is fastest for
        networks of this size (torch's default thread count made a training
        step about 100 times slower on a 2-core machine). ``None`` leaves
        torch's setting alone.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the
        early-stopping split. An int makes fits bit-identical; torch's global
        random state is left unchanged.
    verbose : int, default=0
        ``1`` prints a table with one line per epoch (losses, duration);
        ``2`` also shows a progress bar over the batches of each epoch.
    device : str or torch.device, default="cpu"
        Torch device to train and predict on, e.g. ``"cuda"``.
    warm_start : bool, default=False
        When the estimator is fitted, ``fit`` continues training the
        current network (its weights, its optimizer's state, its encoders)
        on the given rows, with the usual stopping rule and the kept weight
        decay (or ``weight_decay``, if set to a number since), instead of
        starting a new one; a regressor keeps the target scale of the first
        fit (a target far outside it gets a ``UserWarning``: refit with
        ``warm_start=False`` to take its scale); ``batch_size_`` is chosen
        for the new rows as ``fit`` chooses it, and each context's rows for
        ``context_shrinkage`` add to those of the fit it goes on from. The
        columns, the classes and the parameters of the architecture and the
        encoding must be those of the first fit (a ``ValueError`` names any
        that changed); values it did not see follow ``handle_unknown``. A
        continued fit that raises leaves the model as it was.
    checkpoint : str, path-like or None, default=None
        A directory (created if missing) where ``fit`` saves, after every
        epoch, what it needs to go on: the weights, the optimizer's state,
        the history, the early-stopping and convergence counters, the
        random states. A later ``fit`` with the same parameters, the same
        training data and the same directory resumes from the last
        completed epoch, so a killed fit loses at most one epoch; with an
        integer ``random_state`` on a CPU the result is bit-identical to an
        uninterrupted fit. A finished fit's checkpoint gives back the
        fitted model without training again. A checkpoint of other
        parameters or data (``verbose`` and ``n_threads`` aside) is never
        resumed: ``fit`` warns, starts afresh and replaces it. With
        ``random_state=None`` a resumed fit keeps the seed it began with.
        ``partial_fit`` and a ``warm_start`` continuation do not use it,
        and it cannot be combined with ``accelerator``. One directory per
        fit: do not share it between concurrent fits.
        ``resumed_from_epoch_`` tells how many epochs came from it. See
        ``docs/scaling.md``.
    accelerator : accelerate.Accelerator or None, default=None
        Train one fit on several processes (GPUs, CPU processes or
        machines) started by ``accelerate launch`` or ``torchrun``: every
        process runs the same script and calls ``fit`` with the same
        table; each trains on its share of every batch and the gradients
        are averaged after every step (summed through shared memory when
        every process trains on a CPU of one machine, else by an
        all-reduce), so all of them take the steps of a single-process
        fit, with ``batch_size`` (or ``"auto"``) the whole batch, and end
        with the same model. Training runs on the accelerator's device;
        the fitted model then moves to ``device`` and predicts, pickles
        and saves like any other (without the accelerator: a copy or a
        loaded model has ``accelerator=None``).
        With one process it changes nothing. On a machine without GPUs
        create it with ``Accelerator(cpu=True)``. float32 only (no mixed
        precision), no gradient accumulation; not with ``partial_fit`` or
        ``checkpoint``. See ``docs/scaling.md``."""

HYPERNETWORK_PARAMETERS_DOC = """\
hyper_hidden_size : int, default=64
        Hidden size of the weight generator.
    output_size : int, default=128
        Output size of the generated layer and of the fully connected layers
        after it.
    num_fc_layers : int, default=1
        Number of ``output_size -> output_size`` fully connected layers after
        the generated layer.
    generator_rank : int or None, default=8
        The generator outputs the weight update as the product of an
        ``(hidden_size, r)`` and an ``(r, output_size)`` factor, with
        ``hyper_hidden_size * (r * (hidden_size + output_size) + output_size)``
        parameters in its output layer (about 140 thousand with the
        defaults). ``None`` generates the update entry by entry, as the
        reference combiner does: ``hyper_hidden_size * (hidden_size + 1) *
        output_size`` parameters (about 1.06 million), which dominate
        training time. On the quality benchmark's 12 tasks rank 8 matched
        the full generator's ROC AUC (mean difference under 0.01) in about
        half the fit time; see ``docs/defaults.md``.
    linear_readout : bool, default=True
        Whether the output layer also reads the generated layer's output
        before its activation, ``x W(c) + b(c)`` on the projected features,
        beside the output of the fully connected layers. That output is
        linear in the features with coefficients that the context sets, so
        the varying-coefficient model is part of the network and the layers
        after the generated one learn what departs from it. The output
        layer's weights for the fully connected layers start at zero, so
        an untrained network is that varying-coefficient model and the
        non-linear part grows as far as training finds it useful.
        ``transform`` then returns both, ``2 * output_size`` columns. On
        the benchmarks' tuning half the readout gained 0.0017 mean score
        over 26 tasks (paired standard error 0.0010; ``docs/defaults.md``,
        round 9), and starting from it 0.0016 more (0.0010; round 11);
        ``False`` is the network of the reference combiner.
    context_pooling : float, default=CONTEXT_POOLING_DEFAULT
        Partial pooling of the contexts towards the shared layer, as a
        mixed-effects model pools groups: each training row's loss gets
        ``context_pooling / n_c`` times the mean square of what its context
        generated (``x dW(c) + db(c)``), ``n_c`` being the number of
        rows of its context passed to fit (in rows of average sample
        weight; the early-stopping validation split's rows count too,
        unlike ``context_shrinkage``'s). A context with few rows is thus
        pulled strongly towards the shared weights ``W0``, one with many
        rows hardly at all. ``0`` (the default) turns it off: on the
        benchmark's tuning half every strength tried (10 to 300) cost more
        than 0.005 ROC AUC on some task, most where many small contexts
        share a low-dimensional rule, which the embeddings learn without
        it (``docs/defaults.md``, round 7). Try it (e.g. 30) where most
        contexts have a handful of rows and unrelated rules.
    context_shrinkage : float or "auto", default=CONTEXT_SHRINKAGE_DEFAULT
        Partial pooling after training, as a mixed-effects model shrinks a
        group's estimated effect towards the population's: a context
        (combination of context values) with ``n_c`` training rows keeps
        the share ``n_c / (n_c + context_shrinkage)`` of its generated
        update ``dW(c), db(c)`` and takes the rest from the mean update over
        the training rows. So a context with ``context_shrinkage`` rows
        keeps half of its own; a value never seen at fit (an unseen value,
        one known by its attributes alone) keeps its own, and one seen only
        in the validation split takes the mean update whole. ``n_c`` counts
        every row the model trained on: over all ``partial_fit`` calls, and
        for a ``warm_start`` fit, its rows added to those of the fit it goes
        on from. Training
        is unchanged, and ``generated_weights``, ``transform``, ``explain``
        and ONNX export all see the pooled layers. ``"auto"`` tries 0 and
        1, 2, 4, ... 128 on the early-stopping validation split and keeps
        the lowest validation loss if it beats no shrinkage by more than
        its standard error (0 without a validation split, and for
        ``partial_fit``). The weight used is ``context_shrinkage_``.
        Continuous contexts (every row its own context) are not shrunk.
        ``"auto"`` is the classifier's default since round 10
        (``docs/defaults.md``): on 21 tuning tasks it gained +0.0004 mean
        ROC AUC (standard error 0.0003), losing at most 0.004 (where many
        small contexts share a low-dimensional rule). It is the
        regressor's since round 12: +0.0012 mean R² (standard error
        0.0007) on the regression twins of the rare-context tasks."""

CONCAT_PARAMETERS_DOC = """\
hidden_layer_sizes : tuple of int, default=(128, 64)
        Sizes of the fully connected layers after the concatenation."""

SHARED_ATTRIBUTES_DOC = """\
context_categories_ : ndarray of shape (n_contexts,) or list of ndarray
        The categorical context's values, in the order of their codes: those
        seen during fit, or those declared (``categories``, or in
        ``partial_fit`` a pandas ``Categorical`` column's categories). A list
        of one array per column when ``context_column`` is a list; ``[]``
        with only ``continuous_context``.
    n_features_in_ : int
        Number of features seen during fit, context included.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during fit. Defined only when ``X`` has
        feature names that are all strings.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module.
    history_ : DataFrame
        One row per epoch of the kept fit: ``train_loss`` (the objective,
        with the partial-pooling penalty when ``context_pooling > 0``, and
        then also ``train_data_loss``, the loss without it); when that fit
        used the validation split (early stopping along the decay path),
        also ``valid_loss``, ``weight_decay``, ``lr`` (the learning rate:
        a tenth of the first in the last, annealed stage) and, for
        classifiers,
        ``valid_monitor`` (what early stopping minimises: one minus the
        validation ROC AUC, plus 0.01 times the validation log loss to
        break ties); and ``dur`` (seconds).
    n_iter_ : int
        Number of epochs run.
    resumed_from_epoch_ : int
        Epochs of this fit that were taken from ``checkpoint`` rather than
        trained (summed over both fits of ``weight_decay="auto"``); 0 for a
        fit that started afresh or ran without a checkpoint.
    weight_decay_ : float
        The weight decay of the kept weights: with ``weight_decay="auto"``
        and a validation split, the point of the path chosen by it.
    batch_size_ : int
        Rows per training step (see ``batch_size``).
    context_embeddings_ : DataFrame of shape (n_contexts, embedding_size)
        The learned embedding of each context value (index); with several
        context columns the index is (column, value).
    encoder_ : TableEncoder
        How ``X`` becomes the network's input, learned at fit: which
        columns are context, categorical and numeric, each categorical and
        context column's categories (``categories_`` per column), and the
        numeric encoding (``numeric_encoder_``). ``transform(X)`` gives the
        encoded arrays; reading it is supported, changing it is not."""

HYPERNETWORK_ATTRIBUTES_DOC = """
    context_shrinkage_ : float
        The prior weight, in rows, by which each context's generated update
        was shrunk after training (``context_shrinkage``; 0: not at all)."""

HYPERNETWORK_DESCRIPTION = """\
The numeric (non-context) features are standardised and projected
    linearly to ``hidden_size``, with no activation, so that the generated
    layer acts on a linear map of the features and a rule that is linear
    within each context is easy to represent. The context value is
    embedded, and a small generator MLP
    (embedding -> ``hyper_hidden_size`` -> activation -> output) produces the
    weight matrix and bias of a ``hidden_size -> output_size`` layer for that
    context. ``num_fc_layers`` fully connected layers of ``output_size`` and
    the output layer follow. Everything is learned end to end.

    A categorical context's layer is generated per context, not per row:
    in training for every context at each step (beyond 1,024 context
    combinations, for the batch's own), for prediction once, and kept
    for later predictions until the network changes (while all fit in
    256 MB; the model then holds them in memory). Rows go through it
    without a weight matrix per row: a rank-``r`` update ``A(c) B(c)`` is
    applied one factor at a time (on a CPU, in training densely over all
    contexts while they are few, else with the rows regrouped by context
    (each row's factors gathered where a batch's contexts are too uneven
    for that), and in prediction as sums of factor rows; on a GPU, with
    each row's factors gathered). A full-rank update is applied to the
    rows regrouped by context, in one batched matrix product.
    A continuous context gives each row a layer of its own: a per-row
    product with its generated factors, which with ``generator_rank=None``
    builds a ``hidden_size x output_size`` matrix per row.

    **Initialisation.** The generated layer is ``W(c) = W0 + dW(c)`` (and
    likewise for the bias): ``W0`` is initialised like ``torch.nn.Linear``
    and the generator's last layer starts at zero, so at the start every
    context gets an ordinary, well-scaled layer and the context-specific
    part ``dW(c)`` grows only as the data supports it. A generator whose raw
    output is the weight matrix, initialised the usual way, gives weights
    of the wrong scale and unstable training (Chang et al., ICLR 2020); the
    residual form fixes the scale without depending on the embedding's
    (Ortiz et al., ICLR 2024)."""

CONCAT_DESCRIPTION = """\
The numeric (non-context) features are standardised and projected to
    ``hidden_size``; the context value is embedded; the two are concatenated
    and go through fully connected layers of ``hidden_layer_sizes`` (with
    activation and dropout) and the output layer. Data handling and training
    are exactly those of the hypernetwork estimators, so the two compare
    fairly."""


def fill_docstring(estimator: type, **sections: str) -> None:
    """Put the shared documentation sections into ``estimator.__doc__``."""
    parameters = inspect.signature(estimator).parameters
    shared = SHARED_PARAMETERS_DOC
    for name in (
        "weight_decay",
        "weight_averaging",
        "context_pooling",
        "context_shrinkage",
        "numeric_encoding",
        "continuous_encoding",
    ):
        if name in parameters:
            placeholder = f"{name.upper()}_DEFAULT"
            default = parameters[name].default
            value = f'"{default}"' if isinstance(default, str) else repr(default)
            shared = shared.replace(placeholder, value)
            sections = {k: v.replace(placeholder, value) for k, v in sections.items()}
    attributes = SHARED_ATTRIBUTES_DOC
    if "context_shrinkage" in parameters:
        attributes += HYPERNETWORK_ATTRIBUTES_DOC
    doc = _indented_as_written(estimator.__doc__).format(
        shared_parameters=shared,
        shared_attributes=attributes,
        **sections,
    )
    estimator.__doc__ = _parameters_in_signature_order(doc, list(parameters))


def _indented_as_written(doc: str) -> str:
    """``doc`` with the class body's indentation it was written with.

    Python 3.13 strips a docstring's common indentation when it compiles
    it; the shared sections spliced into it here are indented for a class
    body, and ``import skhyper`` failed there.
    """
    first, _, rest = doc.partition("\n")
    lines = [line for line in rest.splitlines() if line.strip()]
    if lines and min(len(line) - len(line.lstrip()) for line in lines) == 0:
        rest = textwrap.indent(rest, "    ")
    return f"{first}\n{rest}"


def _parameters_in_signature_order(doc: str, names: list[str]) -> str:
    """Reorder the Parameters section of ``doc`` as ``names`` are ordered.

    The shared sections are written once for all estimators, while each
    signature interleaves them; numpydoc (and a reader) expect the
    documented order to be the signature's.
    """
    head, rest = doc.split("Parameters\n    ----------\n", 1)
    # The section ends where the next one's underlined title begins.
    section, tail = re.split(r"\n\n(?=    \w[\w ]*\n    -+\n)", rest, maxsplit=1)
    entries = re.split(r"\n(?=    \w+ : )", section)
    by_name = {entry.split(" : ", 1)[0].strip(): entry for entry in entries}
    if sorted(by_name) != sorted(names):
        raise RuntimeError(
            f"The docstring's parameters {sorted(by_name)} do not match the "
            f"signature's {sorted(names)}."
        )
    ordered = "\n".join(by_name[name] for name in names)
    return f"{head}Parameters\n    ----------\n{ordered}\n\n{tail}"


class HyperNetworkArchitecture:
    """Mixin: train a :class:`HyperNetworkModule`."""

    _module_class = HyperNetworkModule
    _parameters_since_first_format = {
        "linear_readout": False,
        "context_shrinkage": 0.0,
    }
    _architecture_constraints = {
        "hyper_hidden_size": [Interval(Integral, 1, None, closed="left")],
        "output_size": [Interval(Integral, 1, None, closed="left")],
        "num_fc_layers": [Interval(Integral, 0, None, closed="left")],
        "generator_rank": [Interval(Integral, 1, None, closed="left"), None],
        "linear_readout": ["boolean"],
        "context_pooling": [Interval(Real, 0, None, closed="left")],
        "context_shrinkage": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
    }

    def _pooling_strength(self) -> float:
        return float(self.context_pooling)

    def _shrinkage_setting(self) -> float | str:
        return self.context_shrinkage

    def generated_weights(
        self, context_value=None, continuous=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The weight matrix and bias that a context generates.

        Parameters
        ----------
        context_value : object or tuple, default=None
            A value of the context column seen during fit (or listed in
            ``context_attributes``, or any value with
            ``handle_unknown="learned"``: unseen values get the
            unknown-context weights); a tuple of values, one per column, when
            ``context_column`` is a list. None when the only context is
            continuous.
        continuous : sequence of float, default=None
            With ``continuous_context``: the raw values of its columns, in
            their order.

        Returns
        -------
        weight : ndarray of shape (hidden_size, output_size)
            Maps the projected features to the generated layer's output:
            ``output = projected @ weight + bias``.
        bias : ndarray of shape (output_size,)
            The generated layer's bias.
        """
        check_is_fitted(self, "net_")
        encoder = self.encoder_
        codes = encoder.code_of(context_value)
        layer = self.net_.module_.context_layer
        device = layer.base_weight.device
        values = None
        if encoder.continuous_positions_:
            values = torch.as_tensor(
                encoder.continuous_values(continuous), device=device
            )
        elif continuous is not None:
            raise ValueError(
                "continuous is only for a model with continuous_context; this "
                "one has none."
            )
        # The thread count of every other torch call on the estimator.
        with torch_session(self.n_threads), torch.inference_mode():
            codes = torch.as_tensor(codes, device=device)[None, :]
            weight, bias = layer.generate(codes, values)
        return weight[0].cpu().numpy(), bias[0].cpu().numpy()

    def _module_params(self) -> dict:
        return {
            "hidden_size": self.hidden_size,
            "hyper_hidden_size": self.hyper_hidden_size,
            "output_size": self.output_size,
            "num_fc_layers": self.num_fc_layers,
            "generator_rank": self.generator_rank,
            "linear_readout": bool(self.linear_readout),
            "embedding_size": self.embedding_size,
            "dropout": self.dropout,
            "activation": self.activation,
        }


class ConcatArchitecture:
    """Mixin: train a :class:`ConcatModule`."""

    _module_class = ConcatModule
    _architecture_constraints = {"hidden_layer_sizes": ["array-like"]}

    def _module_params(self) -> dict:
        sizes = list(self.hidden_layer_sizes)
        if not sizes or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a non-empty sequence of positive "
                f"integers; got {self.hidden_layer_sizes!r}."
            )
        return {
            "hidden_size": self.hidden_size,
            "hidden_layer_sizes": tuple(int(s) for s in sizes),
            "embedding_size": self.embedding_size,
            "dropout": self.dropout,
            "activation": self.activation,
        }
