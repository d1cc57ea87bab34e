"""Partial pooling of rare contexts, two ways.

``context_pooling`` penalises, in training, the size of each context's
generated update by ``strength / n_c`` (:func:`pooling_coefficients`), a
Gaussian prior that holds back every context's update while it trains;
``n_c`` counts the context's rows passed to fit, the early-stopping
validation split's included (the coefficients are computed before the
split).

``context_shrinkage`` leaves training alone and shrinks the fitted updates
afterwards, as a mixed-effects model's estimate of a group's effect is
shrunk towards the population's: a context with ``n_c`` training rows keeps
the share ``n_c / (n_c + k)`` of its own generated update and takes the rest
from the mean update over the training rows. ``n_c`` counts the rows of the
training split (not the early-stopping validation split), in rows of average
positive sample weight (:func:`in_rows`): a context seen in fit only in the
validation split, or only with weight zero, has ``n_c = 0`` and takes the
mean update whole, since its embedding never trained (the
``RareContextWarning``, by contrast, counts every row passed to fit,
whatever its weight). The mean update is not the
update of a hidden or average embedding: with ``handle_unknown="error"``
the unknown embedding never trains, and the generator is not linear, so the
layer of a mean embedding is not a mean layer. ``k``, the prior's weight in
rows, is a number or chosen on the early-stopping validation split
(:func:`choose_shrinkage`): the empirical-Bayes choice, made on rows the
network did not train on.
"""

from __future__ import annotations

import numpy as np
import torch

from ._distributed import predict_rows

# The prior weights, in rows, that context_shrinkage="auto" tries beside 0:
# a context with k training rows keeps half of its own update.
SHRINKAGE_GRID = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


def in_rows(weight):
    """``weight`` (a NumPy array or a tensor) in rows of the mean positive
    weight: each context's count is then its number of rows when the
    weights are uniform, whatever their scale, and rows of weight 0 count
    for nothing, neither themselves nor by lowering the mean (all 0 where
    no row weighs anything)."""
    positive = weight[weight > 0]
    return weight / positive.mean() if len(positive) else weight * 0


def pooling_coefficients(
    context: np.ndarray, weight: np.ndarray, strength: float
) -> np.ndarray:
    """Each row's partial-pooling coefficient, ``strength / n_c``, where
    ``n_c`` is the number of rows of the row's context (its combination of
    context values) in ``context``, counted by :func:`in_rows`:
    ``fit`` passes all its rows, the validation split's included.

    Added to every row's loss, ``n_c`` such terms make each context's
    penalty ``strength`` times the mean square of its generated update,
    against a data term that grows with ``n_c``: the Gaussian prior of a
    mixed-effects model, so a context with few rows is shrunk strongly
    towards the shared layer and one with many rows hardly at all.
    """
    _, group = np.unique(context, axis=0, return_inverse=True)
    group = group.ravel()
    rows = np.bincount(group, weights=in_rows(weight))
    return coefficients_of(rows, strength)[group]


def coefficients_of(rows: np.ndarray, strength: float) -> np.ndarray:
    """``strength / rows``, and 0 where ``rows`` is 0: a context whose rows
    all weigh 0 adds nothing to the loss, and an infinite coefficient times
    their weight of 0 would make it NaN."""
    with np.errstate(divide="ignore"):
        return np.where(rows > 0, strength / rows, 0.0)


def context_rows(
    module: torch.nn.Module,
    context: torch.Tensor,
    weight: torch.Tensor,
    seen: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The context combinations of the training rows (sorted ids, see
    :meth:`ContextEmbedding.combination_ids`) and each one's rows, counted
    by :func:`in_rows`.

    ``seen`` holds the context codes of rows that fit saw but did not train
    on (the validation split): their combinations are listed too, with the
    training rows they have, 0 where they have none. Listed with 0 rows, a
    combination takes the mean update whole; left out, it would keep its
    own update, generated from an embedding that never trained.
    """
    embedding = module.context_embedding
    ids = embedding.combination_ids(context)
    share = in_rows(weight).double()
    if seen is not None:
        ids = torch.cat([ids, embedding.combination_ids(seen)])
        share = torch.cat([share, share.new_zeros(len(seen))])
    unique, group = torch.unique(ids, return_inverse=True)
    rows = torch.zeros(len(unique), dtype=torch.float64, device=share.device)
    rows.index_add_(0, group, share)
    return unique.cpu().numpy(), rows.cpu().numpy()


def add_rows(
    earlier: tuple[np.ndarray, np.ndarray] | None, ids: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each combination's rows over two fits: a warm-start fit's ``ids``
    and ``rows`` added to the ``earlier`` ones of the fit it goes on from
    (None: nothing counted then), so that a context's share reflects every
    row it was trained on."""
    if earlier is None:
        return ids, rows
    all_ids = np.concatenate([earlier[0], ids])
    unique, group = np.unique(all_ids, return_inverse=True)
    summed = np.bincount(group, weights=np.concatenate([earlier[1], rows]))
    return unique, summed


def set_shrinkage(
    module: torch.nn.Module, ids: np.ndarray, rows: np.ndarray, prior_rows: float
) -> None:
    """Make ``module`` predict with each context's update shrunk by
    ``prior_rows`` (0: not at all)."""
    module.context_layer.set_pooling(ids, rows, prior_rows)


def choose_shrinkage(
    net, valid, ids: np.ndarray, rows: np.ndarray, grid=SHRINKAGE_GRID
) -> float:
    """The prior weight with the lowest validation loss, if it beats no
    shrinkage by more than the standard error of the paired per-row loss
    differences (else 0): the choice errs towards leaving the fit alone.
    Leaves ``net`` predicting with the chosen shrinkage."""
    set_shrinkage(net.module_, ids, rows, 0.0)
    baseline = _row_losses(net, valid)
    if len(baseline) < 2:  # no standard error to judge a gain by
        return 0.0
    best, best_gain = 0.0, 0.0
    for prior_rows in grid:
        set_shrinkage(net.module_, ids, rows, prior_rows)
        differences = baseline - _row_losses(net, valid)
        gain = float(differences.mean())
        error = float(differences.std(ddof=1) / np.sqrt(len(differences)))
        if gain > best_gain and gain > error:
            best, best_gain = prior_rows, gain
    set_shrinkage(net.module_, ids, rows, best)
    return best


def _row_losses(net, valid) -> np.ndarray:
    """Each validation row's loss, times its weight in rows (:func:`in_rows`),
    for the rows of positive weight: a row of weight 0 is no evidence, and
    its zero would shrink both the mean gain and its standard error."""
    outputs = predict_rows(net, valid)
    with torch.no_grad():
        losses = net.criterion_(outputs.float(), valid.target)
        if losses.dim() > 1:
            losses = losses.mean(dim=tuple(range(1, losses.dim())))
        weight = in_rows(valid.weight)
        kept = weight > 0
        return (losses[kept] * weight[kept]).double().cpu().numpy()
