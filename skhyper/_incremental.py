"""Training that continues: ``partial_fit`` (one pass over a chunk of rows
per call, as ``dask_ml.wrappers.Incremental`` drives it over the partitions
of a table larger than memory) and ``fit`` with ``warm_start=True``.

What one chunk cannot teach is fixed by the first call: the categories of
the context and categorical columns (declared by a pandas ``Categorical``
dtype or by the ``categories`` parameter, else the first chunk's values),
the numeric encoding and a regressor's target scale (from the first chunk,
which should therefore be a fair sample), and a classifier's classes (the
``classes`` argument, as scikit-learn requires). Later chunks are encoded
with them: an undeclared value follows ``handle_unknown``.

The network keeps training across calls with its optimizer's state (Adam's
moment estimates), also after the model has been pickled or saved with
skops between calls, as Dask does when it moves the model between workers:
the saved state carries the optimizer's state as plain arrays, and a
training net is rebuilt around it (:func:`training_net`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.utils.validation import validate_data
from skorch.history import History

from ._continuation_checks import (
    check_no_balanced_weights,
    check_unchanged,
)
from ._distributed import release_net
from ._encoding import TableEncoder, as_table
from ._persistence import optimizer_state_from_plain
from ._pooling import coefficients_of
from ._runtime import draw_seed, torch_session
from ._stack import user_stacklevel


def partial_fit(estimator, X, y, classes=None, sample_weight=None):
    """One pass over the rows of ``X`` (see the estimators' ``partial_fit``).

    All or nothing: a call that raises leaves the estimator as it was."""
    if getattr(estimator, "accelerator", None) is not None:
        # Each process would bring its own chunk; nothing would agree.
        raise ValueError(
            "partial_fit does not support accelerator; train on several "
            "processes with fit, or stream chunks with accelerator=None."
        )
    check_no_balanced_weights(estimator)
    first = not hasattr(estimator, "net_")
    module_params = estimator._module_params()
    if not first:
        check_unchanged(estimator, module_params, "partial_fit")
    with all_or_nothing(estimator):
        _partial_fit(estimator, X, y, classes, sample_weight, first, module_params)
    return estimator


def _partial_fit(estimator, X, y, classes, sample_weight, first, module_params):
    _check_y_given(estimator, y)
    table = as_table(X, type(estimator).__name__)
    _validate_columns(estimator, table, reset=first)
    if first:
        estimator._declare_targets(classes)
    elif classes is not None:
        estimator._check_same_classes(classes)
    target = estimator._encode_known_target(y, len(table))
    weight = estimator._combined_weights(table, target, sample_weight)
    if first:
        _warn_if_constant_target(estimator, target, weight)
        target = estimator._scale_target(target, weight)
        estimator.encoder_ = new_encoder(estimator, declare_dtypes=True)
        encoded = estimator.encoder_.fit_transform(table, weight)
        estimator.context_categories_ = estimator.encoder_.categories_
        estimator.batch_size_ = estimator._batch_size(len(table))
    else:
        target = estimator._apply_target_scale(target, weight)
        encoded = estimator.encoder_.transform(table)
        if estimator.batch_size != "auto":  # set_params may change it
            estimator.batch_size_ = estimator._batch_size(len(table))
    if not hasattr(estimator, "_partial_seed"):  # a new stream
        estimator._partial_seed = draw_seed(estimator.random_state)
        estimator._partial_calls = 0
        if not first:  # fitted by fit: count its training rows too
            _counts_from_fit(estimator)
    from ._data import TensorTable

    pooling = _cumulative_pooling(estimator, encoded.context, weight)
    data = TensorTable(encoded, target, weight, estimator.device, pooling)
    # A new seed per call: each pass gets its own dropout masks.
    seed = (estimator._partial_seed + estimator._partial_calls) % 2**32
    with torch_session(estimator.n_threads, seed, estimator.device):
        if first:
            net = estimator._build_net(encoded, module_params, seed, None, [])
            net.initialize()
            estimator.weight_decay_ = estimator._decays()[0]
        else:
            # Rebuilt every call (a few ms), so that a model pickled between
            # calls, as Dask does, trains exactly like one kept in memory.
            net = training_net(estimator, encoded, module_params, seed)
        net.partial_fit(data, None, epochs=1)
    _stream_shrinkage(estimator, net)
    estimator._partial_calls += 1
    estimator._keep(net)


def continue_fit(estimator, X, y, sample_weight=None):
    """``fit`` with ``warm_start=True`` on a fitted estimator: train the
    current network on ``X`` with the usual stopping rule (early stopping
    on a validation split, else convergence), at ``_continued_decay``.

    All or nothing: a call that raises leaves the estimator as it was."""
    module_params = estimator._module_params()
    check_unchanged(estimator, module_params, "warm_start")
    with all_or_nothing(estimator):
        _continue_fit(estimator, X, y, sample_weight, module_params)
    return estimator


def _continue_fit(estimator, X, y, sample_weight, module_params):
    _check_y_given(estimator, y)
    table = as_table(X, type(estimator).__name__)
    _validate_columns(estimator, table, reset=False)
    target = estimator._encode_known_target(y, len(table))
    weight = estimator._combined_weights(table, target, sample_weight)
    target = estimator._apply_target_scale(target, weight)
    encoded = estimator.encoder_.transform(table)
    earlier = _counted_rows(estimator)
    # As fit: the same device, checks across processes, seed and split.
    device, seed, train, valid = estimator._training_splits(
        encoded, target, weight, draw_seed(estimator.random_state)
    )
    budget = estimator._budget_callbacks(valid, (estimator._continued_decay(),))
    with torch_session(estimator.n_threads, seed, device):
        net = training_net(estimator, encoded, module_params, seed, valid, budget)
        net.warm_start = True  # skorch: fit continues, without initialising
        net.fit(train, None)
        estimator._fit_shrinkage(net, train, valid, earlier)
    estimator._keep(release_net(net, estimator.device))
    if hasattr(estimator, "_partial_seed"):
        # A stream goes on after this fit: its counts take this fit's rows.
        _counts_from_fit(estimator)


def _counted_rows(estimator) -> tuple | None:
    """The rows of each context that the fitted model was trained on, as
    the shrinkage counted them (None where nothing was counted)."""
    ids = getattr(estimator, "_pooled_ids", None)
    if ids is None:
        return None
    return ids, estimator._pooled_rows


@contextmanager
def all_or_nothing(estimator) -> Iterator[None]:
    """Undo whatever a failed call changed in ``estimator``.

    The fitted net is never changed in place (:func:`training_net` trains a
    copy), so the estimator's attributes as they were, and the state of a
    ``RandomState`` it draws seeds from, restore it exactly: a retry then
    trains as if the failed call had never been made."""
    saved = dict(estimator.__dict__)
    generator = estimator.random_state
    drawn = (
        generator.get_state() if isinstance(generator, np.random.RandomState) else None
    )
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        if drawn is not None:
            generator.set_state(drawn)
        raise


def _warn_if_constant_target(estimator, target: np.ndarray, weight) -> None:
    """A regressor's target scale comes from the first chunk; where that
    chunk's target is constant the scale is 1, and a later chunk of
    ordinary spread can then train badly or diverge."""
    if is_classifier(estimator):
        return
    rows = target[weight > 0]
    constant = np.flatnonzero(rows.min(axis=0) == rows.max(axis=0))
    if len(constant):
        warnings.warn(
            f"The first partial_fit chunk's target is constant (column(s) "
            f"{constant.tolist()}), so the target scale that every later chunk "
            "is trained on is 1. Make the first chunk a fair sample of the "
            "target (shuffle the rows or the partitions).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def new_encoder(estimator, declare_dtypes: bool = False) -> TableEncoder:
    """The estimator's table encoder, configured from its parameters."""
    return TableEncoder(
        estimator.context_column,
        estimator.handle_unknown,
        type(estimator).__name__,
        estimator.numeric_encoding,
        estimator.n_bins,
        estimator.continuous_context,
        estimator.context_attributes,
        categories=estimator.categories,
        declare_dtypes=declare_dtypes,
        continuous_encoding=estimator.continuous_encoding,
    )


def training_net(estimator, encoded, module_params, seed, valid=None, budget=()):
    """A net that trains on from where the fitted one stopped: built as
    ``fit`` builds it (iterators, learning rate, decay, callbacks), with the
    fitted network's weights and its optimizer's state."""
    fitted = estimator.net_
    decay = estimator._continued_decay()
    net = estimator._build_net(
        encoded, module_params, seed, valid, list(budget), decay=decay
    )
    net.initialize()
    net.module_.load_state_dict(fitted.module_.state_dict())
    # Copies of the fitted net's optimizer state and history: the fitted
    # net must stay as it is until training has succeeded (torch's
    # load_state_dict keeps the given tensors, and Adam updates them in
    # place).
    optimizer = copy.deepcopy(_fitted_optimizer_state(fitted))
    if optimizer is not None:
        built = [(g["lr"], g["weight_decay"]) for g in net.optimizer_.param_groups]
        net.optimizer_.load_state_dict(optimizer)
        # The moments go on; the step size and the decay are those the net
        # was built with (load_state_dict brings back the fitted groups'
        # options): not the annealed stage's lr, nor a decay that
        # set_params has changed since (biases stay undecayed).
        for group, (lr, weight_decay) in zip(
            net.optimizer_.param_groups, built, strict=True
        ):
            group["lr"], group["weight_decay"] = lr, weight_decay
    # The epochs so far stay in the history; new ones are appended to a new
    # list, so the fitted net's history is untouched if training fails.
    # Training writes only to its own epochs, so the earlier epochs' records
    # are shared, not copied: a deep copy made each partial_fit call cost
    # time in proportion to the calls before it.
    net.history = History(fitted.history)
    return net


def _fitted_optimizer_state(fitted) -> dict | None:
    saved = getattr(fitted, "saved_optimizer_state_", None)
    if saved is not None:  # a net rebuilt from a saved model
        return optimizer_state_from_plain(saved)
    optimizer = getattr(fitted, "optimizer_", None)
    return None if optimizer is None else optimizer.state_dict()


def _cumulative_pooling(estimator, context: np.ndarray, weight: np.ndarray):
    """Partial-pooling coefficients with each context's rows counted over
    every chunk so far, this one included: ``strength / n_c`` as in a full
    fit once the whole table has gone through."""
    strength = estimator._pooling_strength()
    if context.shape[1] == 0 or not (strength > 0 or _streamed_shrinkage(estimator)):
        return None
    # The counts so far, as arrays (plain data for pickle and skops): the
    # code rows seen, and the rows (of average weight) of each.
    keys = getattr(estimator, "_pooling_keys", context[:0])
    counts = getattr(estimator, "_pooling_counts", np.zeros(0))
    merged, index = np.unique(
        np.concatenate([keys, context]), axis=0, return_inverse=True
    )
    index = index.ravel()
    # In rows of the mean positive weight of every row so far, as a fit
    # counts them (in_rows), not of each chunk's own mean: the earlier
    # counts go back to weights first. (Where the earlier rows' weight is
    # not known, after a fit or in a file from before it was kept, they are
    # taken at this chunk's mean, as they were before.)
    earlier_rows = counts.sum()
    positive = weight[weight > 0]
    chunk_mean = positive.mean() if len(positive) else 0.0
    earlier_weight = getattr(estimator, "_pooling_weight", earlier_rows * chunk_mean)
    earlier_mean = earlier_weight / earlier_rows if earlier_rows > 0 else 0.0
    weights = np.concatenate([counts * earlier_mean, weight])
    total_weight = earlier_weight + weight.sum()
    positive_rows = earlier_rows + len(positive)
    mean = total_weight / positive_rows if positive_rows > 0 else 1.0
    estimator._pooling_keys = merged
    estimator._pooling_weight = float(total_weight)
    estimator._pooling_counts = (
        np.bincount(index, weights=weights, minlength=len(merged)) / mean
    )
    if strength <= 0:  # counted for the shrinkage only
        return None
    # As fit's: no penalty for a context whose rows so far all weigh 0.
    return coefficients_of(estimator._pooling_counts[index[len(keys) :]], strength)


def _streamed_shrinkage(estimator) -> float:
    """``partial_fit``'s shrinkage: a numeric ``context_shrinkage``; with
    ``"auto"`` none, since a stream holds out no rows to choose it on."""
    setting = estimator._shrinkage_setting()
    return 0.0 if setting in (None, "auto") else float(setting)


def _stream_shrinkage(estimator, net) -> None:
    """Shrink each context's update by its rows in every chunk so far."""
    if estimator._shrinkage_setting() is None:
        return
    module = net.module_
    keys = getattr(estimator, "_pooling_keys", None)
    prior_rows = _streamed_shrinkage(estimator)
    if keys is None or module.context_embedding.per_row or prior_rows == 0:
        estimator._set_shrinkage(module, None, None, 0.0)
        return
    device = module.context_embedding.radix.device
    ids = module.context_embedding.combination_ids(torch.as_tensor(keys, device=device))
    ids = ids.cpu().numpy()
    order = np.argsort(ids)
    rows = estimator._pooling_counts[order]
    estimator._set_shrinkage(module, ids[order], rows, prior_rows)


def _check_y_given(estimator, y) -> None:
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the "
            "target y is None."
        )


def _validate_columns(estimator, X, reset: bool) -> None:
    try:
        validate_data(estimator, X, skip_check_array=True, reset=reset)
    except ValueError as error:  # scikit-learn's message says what differs
        raise ValueError(
            f"{error}\nEvery call must pass the same columns, in the same "
            "order, as the first."
        ) from None


# -- the stream's state ------------------------------------------------------

# What partial_fit keeps from call to call: the seed and the number of calls
# (each call's dropout masks), and each context's rows so far.
_STREAM_STATE = (
    "_partial_seed",
    "_partial_calls",
    "_pooling_keys",
    "_pooling_counts",
    "_pooling_weight",
)


def forget_stream(estimator) -> None:
    """Drop what earlier ``partial_fit`` calls kept: a new ``fit`` starts a
    new model, and ``partial_fit`` after it goes on from that fit alone."""
    for name in _STREAM_STATE:
        estimator.__dict__.pop(name, None)


def _counts_from_fit(estimator) -> None:
    """Start the stream's row counts from those of the training rows of the
    ``fit`` it goes on from (``_pooled_ids``/``_pooled_rows``, by context
    combination), so that a numeric ``context_shrinkage`` counts them too."""
    counted = _counted_rows(estimator)
    if counted is None:  # no categorical context, or nothing counted
        return
    ids, rows = counted
    embedding = estimator.net_.module_.context_embedding
    ids = torch.as_tensor(ids, device=embedding.radix.device)
    # _cumulative_pooling keys its counts by rows of codes, not by ids.
    codes = ids[:, None] if len(embedding.columns) == 1 else embedding.codes_of(ids)
    estimator._pooling_keys = codes.cpu().numpy().astype(np.int64)
    estimator._pooling_counts = np.asarray(rows, dtype=np.float64)
    # The fit's rows count in its own mean weight, which is not kept.
    estimator.__dict__.pop("_pooling_weight", None)
