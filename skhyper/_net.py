"""The skorch net the estimators train: weighted losses and its callbacks."""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.utils import to_tensor


class WeightedLossNet(NeuralNet):
    """A ``NeuralNet`` whose targets come with per-row weights.

    Batches carry ``(target, weight)``; the criterion must be built with
    ``reduction="none"``, and the batch loss is the weighted mean of the
    per-row losses (averaged over outputs first for multi-output targets).
    With all weights equal this is the ordinary mean loss. A module may
    return ``(outputs, penalty)`` in training, a penalty per row that is
    added to the row's loss before weighting (the partial pooling).
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target, weight = y_true
        penalty = None
        if isinstance(y_pred, tuple):  # outputs and per-row pooling penalties
            y_pred, penalty = y_pred
        losses = self.criterion_(y_pred, to_tensor(target, device=self.device))
        if losses.dim() > 1:
            losses = losses.mean(dim=tuple(range(1, losses.dim())))
        if penalty is not None:
            losses = losses + penalty
        return torch.dot(losses, weight) / weight.sum()
