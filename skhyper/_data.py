"""Feeding encoded tables to skorch without per-row Python work.

skorch's default ``DataLoader`` fetches every row through ``__getitem__`` and
collates them again, which costs more than the forward pass of these small
networks. Here the whole table lives in a few tensors (on the training device)
and every batch is one index operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ._encoding import EncodedTable


class TensorTable(torch.utils.data.Dataset):
    """Encoded features, and optionally targets and row weights, as tensors
    on one device.

    A batch is ``(inputs, (target, weight))``: the module gets ``inputs`` as
    keyword arguments, the loss gets the weighted target. ``pooling`` holds
    each row's partial-pooling coefficient (see
    :func:`skhyper._pooling.pooling_coefficients`).
    """

    def __init__(
        self,
        encoded: EncodedTable,
        target: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        device="cpu",
        pooling: np.ndarray | None = None,
    ):
        self.numeric = _as_tensor(encoded.numeric, device)
        self.categorical = _as_tensor(encoded.categorical, device)
        self.context = _as_tensor(encoded.context, device)
        self.continuous = _as_tensor(encoded.continuous, device)
        self.target = _as_tensor(target, device)
        self.weight = _as_tensor(weight, device, torch.float32)
        self.pooling = _as_tensor(pooling, device, torch.float32)

    def __len__(self) -> int:
        return len(self.context)

    def subset(self, index: np.ndarray) -> TensorTable:
        """The rows at ``index`` as a table of their own."""
        part = object.__new__(TensorTable)
        for name, tensor in vars(self).items():
            setattr(part, name, None if tensor is None else tensor[index])
        return part

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        """The module's keyword inputs for all rows (with the rows'
        partial-pooling coefficients, when training with them)."""
        inputs = {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "context": self.context,
        }
        if self.continuous is not None:
            inputs["continuous"] = self.continuous
        if self.pooling is not None:
            inputs["pooling"] = self.pooling
        return inputs

    def rows(self, index) -> tuple[dict[str, torch.Tensor], tuple | None]:
        """The module inputs and the (target, weight) of the rows at ``index``
        (a slice, or a tensor of row numbers)."""
        take = _take(index)
        inputs = {name: take(tensor) for name, tensor in self.inputs.items()}
        if self.target is None:
            return inputs, None
        return inputs, (take(self.target), take(self.weight))

    def __getitem__(self, index):
        return self.rows(index)


def _take(index):
    """A function that takes the rows at ``index`` from a tensor:
    ``index_select`` for a tensor of row numbers (several times faster on a
    CPU than ``tensor[index]``), plain slicing otherwise."""
    if isinstance(index, torch.Tensor):
        return lambda tensor: tensor.index_select(0, index)
    return lambda tensor: tensor[index]


class TensorBatches:
    """A skorch iterator over :class:`TensorTable` batches.

    Parameters
    ----------
    dataset : TensorTable
    batch_size : int
    shuffle : bool
        Draw a new permutation of the rows every time it is iterated.
    random_state : numpy.random.RandomState or None
        Source of the permutations. skorch builds a new iterator each epoch,
        so the (picklable) generator is shared across epochs and each epoch
        gets a fresh order.
    """

    def __init__(
        self,
        dataset: TensorTable,
        batch_size: int,
        shuffle: bool = False,
        random_state: np.random.RandomState | None = None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        n_rows = len(self.dataset)
        if self.shuffle:
            order = self.row_order()
            for start in range(0, n_rows, self.batch_size):
                yield self.dataset.rows(order[start : start + self.batch_size])
        else:
            for start in range(0, n_rows, self.batch_size):
                yield self.dataset.rows(slice(start, start + self.batch_size))

    def row_order(self) -> torch.Tensor:
        """This epoch's order of the rows, on the table's device: a new
        permutation when shuffling, else the rows as they are."""
        n_rows = len(self.dataset)
        device = self.dataset.context.device
        if not self.shuffle:
            return torch.arange(n_rows, device=device)
        rng = self.random_state or np.random.mtrand._rand
        return torch.as_tensor(rng.permutation(n_rows), device=device)


def _as_tensor(values: np.ndarray | None, device, dtype=None) -> torch.Tensor | None:
    """``values`` as a tensor on ``device`` (None stays None). torch shares
    an array's memory where it can, and warns when the array is read-only,
    as pandas' copy-on-write hands out (e.g. a ``sample_weight`` Series's
    values): such an array is copied first."""
    if values is None:
        return None
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values, dtype=dtype, device=device)
