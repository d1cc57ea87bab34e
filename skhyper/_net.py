"""The skorch net the estimators train: weighted losses (with the partial
pooling penalty) and a leaner epoch loop. The callbacks are in
``_callbacks.py``."""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.dataset import get_len
from skorch.utils import to_tensor


def loss_denominator(total_weight: torch.Tensor) -> torch.Tensor:
    """A batch's total weight, to divide its weighted loss sum by; 1 where
    its rows all have weight 0, so that it contributes nothing (0, not
    0/0 = NaN, which would stop the fit as diverged)."""
    return torch.where(total_weight > 0, total_weight, 1.0)


class WeightedLossNet(NeuralNet):
    """A ``NeuralNet`` whose targets come with per-row weights.

    Batches carry ``(target, weight)``; the criterion must be built with
    ``reduction="none"``, and the batch loss is the weighted mean of the
    per-row losses (averaged over outputs first for multi-output targets).
    With all weights equal this is the ordinary mean loss. A module may
    return ``(outputs, penalty)`` in training, a penalty per row that is
    added to the row's loss before weighting (the partial pooling); the
    epoch's loss without it is then recorded as ``train_data_loss``.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target, weight = y_true
        penalty = None
        if isinstance(y_pred, tuple):  # outputs and per-row pooling penalties
            y_pred, penalty = y_pred
        losses = self.criterion_(y_pred, to_tensor(target, device=self.device))
        if losses.dim() > 1:
            losses = losses.mean(dim=tuple(range(1, losses.dim())))
        total_weight = loss_denominator(weight.sum())
        loss = torch.dot(losses, weight) / total_weight
        if penalty is None:
            return loss
        if training:  # the data term alone, for the divergence check
            self._data_losses.append(loss.detach())
        return loss + torch.dot(penalty, weight) / total_weight

    def _set_training(self, training: bool = True) -> None:
        """skorch sets the mode before every batch, and ``module.train``
        walks every submodule (8% of a profiled sensor fit); switch only
        the modules whose mode differs."""
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, but the batch losses are read back once per
        epoch instead of after every batch.

        skorch calls ``loss.item()`` per batch, which makes a GPU wait for
        each step before the next one is queued. Here the losses stay on the
        device until the epoch ends; then each batch's record gets its loss,
        so the history holds what skorch's own loop would have recorded.

        In validation, each batch's recorded size is its total weight:
        skorch averages the batches' (weighted mean) losses by their sizes,
        so ``valid_loss`` is then the weighted mean loss of the whole split
        (which early stopping compares), also over several batches of
        unequal weight.
        """
        if iterator is None:
            return
        losses, records, sizes, weights = [], [], [], []
        self._data_losses = []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            records.append(self.history[-1]["batches"][-1])
            sizes.append(get_len(batch[0]))
            self.history.record_batch(prefix + "_batch_size", sizes[-1])
            if not training:
                weights.append(batch[1][1].sum())
            self.notify("on_batch_end", batch=batch, training=training, **step)
        if losses:
            for record, loss in zip(records, torch.stack(losses).tolist(), strict=True):
                record[prefix + "_loss"] = loss
        if weights:
            for record, weight in zip(
                records, torch.stack(weights).tolist(), strict=True
            ):
                record[prefix + "_batch_size"] = weight
        if self._data_losses:
            self.history.record(
                prefix + "_data_loss", _weighted_mean(self._data_losses, sizes)
            )
        self.history.record(prefix + "_batch_count", len(losses))


def _weighted_mean(losses: list[torch.Tensor], sizes: list[int]) -> float:
    """The epoch's loss from its batches' mean losses, as skorch averages
    ``train_loss``: weighted by the batch sizes."""
    sizes_tensor = torch.tensor(sizes, dtype=torch.float64)
    return float(torch.stack(losses).double().cpu() @ sizes_tensor / sizes_tensor.sum())
