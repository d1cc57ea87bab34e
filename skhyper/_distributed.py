"""One fit on several processes: data-parallel training with an
``accelerate.Accelerator``.

Hugging Face Accelerate starts the processes (``accelerate launch`` or
``torchrun``; one per GPU, or several on a CPU) and sets up
``torch.distributed`` (NCCL between GPUs, gloo on CPUs). Every process runs
the same script and calls ``fit`` on the same table; here each process
trains on its share of every batch, and ``DistributedDataParallel`` averages
the gradients, so every process applies the same update and holds the same
weights.

This is the engine of skorch's ``skorch.hf.AccelerateMixin``, without the
mixin. The mixin replaces the net's ``module_`` by its DDP wrapper for the
whole fit, and that breaks what the estimators do around the step:
``DecayPath`` and ``WeightAveraging`` copy and restore ``module_.state_dict()``
(the wrapper's keys carry a ``module.`` prefix, and the mixin unwraps in the
net's ``on_train_end``, which skorch runs before the callbacks'), the
classifiers' early-stopping monitor calls ``module_.predict_outputs``, which
the wrapper does not have, and ``Accelerator.prepare`` only splits a torch
``DataLoader``, not the estimators' :class:`~skhyper._data.TensorBatches`.
So :class:`DistributedNet` keeps ``module_`` unwrapped and sends only the
training forward pass through DDP, and :class:`ShardedBatches` splits each
batch between the processes.
"""

from __future__ import annotations

import inspect
import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ._data import TensorBatches, TensorTable
from ._net import WeightedLossNet

# Accelerate's distributed types that are plain data parallelism, which is
# what DistributedNet does; DeepSpeed, FSDP, Megatron and XLA shard or
# compile the model and are not supported.
DATA_PARALLEL_TYPES = ("NO", "MULTI_CPU", "MULTI_GPU", "MULTI_XPU", "MULTI_NPU")


def check_accelerator(accelerator) -> None:
    """Raise a ``TypeError``/``ValueError`` saying what to change when
    ``accelerator`` is not an ``accelerate.Accelerator`` set up for plain
    data-parallel training."""
    needed = ("num_processes", "process_index", "device", "distributed_type")
    if not all(hasattr(accelerator, name) for name in needed):
        raise TypeError(
            "accelerator must be an accelerate.Accelerator (or None), got "
            f"{type(accelerator).__name__}."
        )
    kind = getattr(accelerator.distributed_type, "value", accelerator.distributed_type)
    if str(kind) not in DATA_PARALLEL_TYPES:
        raise ValueError(
            f"accelerator uses {kind}; skhyper trains with plain data "
            "parallelism only (the networks are small enough to fit on one "
            f"device): launch without DeepSpeed, FSDP or XLA ({DATA_PARALLEL_TYPES})."
        )
    if str(accelerator.mixed_precision) != "no":
        raise ValueError(
            f"accelerator has mixed_precision={accelerator.mixed_precision!r}; "
            "skhyper trains in float32 only. Create the Accelerator with "
            "mixed_precision='no' (and launch without --mixed_precision)."
        )
    if accelerator.gradient_accumulation_steps != 1:
        raise ValueError(
            "accelerator has gradient_accumulation_steps="
            f"{accelerator.gradient_accumulation_steps}; skhyper does not "
            "accumulate gradients. Raise batch_size instead."
        )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > accelerator.num_processes:
        raise ValueError(
            f"This script was launched as {launched} processes but the "
            f"accelerator sees {accelerator.num_processes}, so each process "
            "would train alone. On a machine without GPUs create it with "
            "accelerate.Accelerator(cpu=True)."
        )


def training_device(accelerator, device) -> str:
    """Where the table and the net live during training: the accelerator's
    device (each process's own GPU) if there is one, else ``device``."""
    if accelerator is None:
        return device
    check_accelerator(accelerator)
    return str(accelerator.device)


def agree_on_fit(accelerator, seed: int, data: TensorTable) -> int:
    """The seed of process 0, after checking that every process was given
    the same table.

    Every process must split, shuffle and initialise alike, so they all
    take process 0's seed (``random_state=None`` draws a different one in
    each). Each process then trains on its own share of the rows, which is
    only right if the rows are the same everywhere: a process given a
    different table (say, its own file) is refused on every process at once
    rather than training on a mixture.
    """
    if accelerator is None or accelerator.num_processes == 1:
        return seed
    mine = torch.tensor(
        [float(seed), *_fingerprint(data)],
        dtype=torch.float64,
        device=accelerator.device,
    )
    everyone = [torch.empty_like(mine) for _ in range(accelerator.num_processes)]
    dist.all_gather(everyone, mine)
    tables = torch.stack(everyone).cpu()
    if not bool((tables[:, 1:] == tables[0, 1:]).all()):
        raise ValueError(
            "With an accelerator every process must pass the same X, y and "
            "sample_weight to fit (it splits the rows between the processes "
            "itself), but the tables differ: rows per process "
            f"{tables[:, 1].long().tolist()}. Load the whole table in every "
            "process; for a table that does not fit in memory use "
            "partial_fit on chunks instead."
        )
    return int(tables[0, 0])


def _fingerprint(data: TensorTable) -> list[float]:
    """Row count and column sums of the encoded table: equal on every
    process given the same table (the same sums in the same order). Always
    of the same length, which the all-gather needs."""
    tensors = [data.numeric, data.categorical, data.context, data.target]
    tensors += [data.weight, data.continuous]
    sums = [0.0 if t is None else float(t.double().nansum()) for t in tensors]
    return [float(len(data)), *sums]


def make_net(accelerator, **params) -> WeightedLossNet:
    """The skorch net the estimator trains: a :class:`WeightedLossNet`, or a
    :class:`DistributedNet` on the accelerator's device with the training
    batches split between its processes."""
    if accelerator is None:
        return WeightedLossNet(**params)
    params["device"] = str(accelerator.device)
    params["iterator_train"] = ShardedBatches
    params["iterator_train__rank"] = accelerator.process_index
    params["iterator_train__n_shards"] = accelerator.num_processes
    if params.get("callbacks__print_log", True) is not None:
        params["callbacks__print_log__sink"] = accelerator.print  # process 0 only
    return DistributedNet(accelerator=accelerator, **params)


def release_net(net: WeightedLossNet, device) -> WeightedLossNet:
    """After training on the accelerator's device, the fitted net on the
    estimator's own ``device``, where ``predict`` runs (a no-op on CPUs)."""
    if not isinstance(net, DistributedNet) or str(net.device) == str(device):
        return net
    net.module_.to(device)
    net.criterion_.to(device)
    for state in net.optimizer_.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.to(device)
    net.device = device
    return net


def _no_buffer_sync() -> dict:
    """DDP's option not to broadcast the buffers before every forward pass:
    they (the bin edges) never change. Its name changed in torch 2.13."""
    names = inspect.signature(DistributedDataParallel).parameters
    if "forward_sync_buffers" in names:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


class ShardedBatches(TensorBatches):
    """:class:`TensorBatches` that yields this process's share of each batch.

    Every process draws the same permutation (the same seed), cuts it into
    the same batches of ``batch_size`` rows and takes part ``rank`` of
    ``n_shards`` of each, so together the processes take exactly the steps
    of a single process, and all of them take the same number of steps
    (which DDP needs: each step is a collective operation).

    The target comes as ``(target, weight, denominator)``:
    ``denominator`` is the whole batch's weight divided by ``n_shards``, so
    that the mean of the processes' losses (what DDP's averaged gradients
    descend) is the weighted mean loss of the whole batch, also when the
    parts differ in size or weight. A process left without rows (a last
    batch with fewer rows than processes) gets one of the batch's rows with
    weight 0, which adds nothing to the gradient.
    """

    def __init__(
        self,
        dataset: TensorTable,
        batch_size: int,
        shuffle: bool = False,
        random_state: np.random.RandomState | None = None,
        rank: int = 0,
        n_shards: int = 1,
    ):
        super().__init__(dataset, batch_size, shuffle, random_state)
        self.rank = rank
        self.n_shards = n_shards

    def __iter__(self):
        n_rows = len(self.dataset)
        order = self.row_order()
        # Sizes of the whole batches, for the epoch's record (see
        # DistributedNet.run_single_epoch).
        self.batch_sizes_ = []
        for start in range(0, n_rows, self.batch_size):
            rows = order[start : start + self.batch_size]
            self.batch_sizes_.append(len(rows))
            part = rows.tensor_split(self.n_shards)[self.rank]
            if len(part) == 0:
                # Fewer rows than processes: this one still takes the step
                # (DDP needs every process), on a stand-in row of weight 0.
                inputs, (target, weight) = self.dataset.rows(rows[:1])
                weight = torch.zeros_like(weight)
            else:
                inputs, (target, weight) = self.dataset.rows(part)
            denominator = self.dataset.weight.index_select(0, rows).sum()
            yield inputs, (target, weight, denominator / self.n_shards)


class DistributedNet(WeightedLossNet):
    """A :class:`WeightedLossNet` trained by several processes at once.

    ``module_`` stays the plain module: callbacks, validation and predict
    use it as in a single-process fit. Only the training forward pass goes
    through a ``DistributedDataParallel`` wrapper of it, built when
    training begins (which copies process 0's weights to every process) and
    dropped when it ends, so the fitted net holds no process group and
    pickles like any other.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Gives the processes, this one's rank and device, and DDP options
        (its ``DistributedDataParallelKwargs`` handler, if any).
    **kwargs
        Those of :class:`WeightedLossNet`.
    """

    def __init__(self, *args, accelerator, **kwargs):
        super().__init__(*args, **kwargs)
        self.accelerator = accelerator
        # A dict, not an attribute holding the wrapper: skorch would
        # register a torch module set as an attribute as a part of the net.
        self._replica = {}

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        super().on_train_begin(net, X=X, y=y, **kwargs)
        accelerator = self.accelerator
        if accelerator.num_processes == 1:
            return
        device = torch.device(accelerator.device)
        handler = getattr(accelerator, "ddp_handler", None)
        options = handler.to_kwargs() if handler is not None else {}
        self._replica["ddp"] = DistributedDataParallel(
            self.module_,
            device_ids=[device] if device.type == "cuda" else None,
            **_no_buffer_sync(),
            **options,
        )
        if accelerator.process_index > 0:
            # Same weights (DDP copied process 0's), but dropout and the
            # unknown-context draws of each process must differ; process 0
            # keeps the stream of a single-process fit.
            torch.manual_seed(torch.initial_seed() + accelerator.process_index)

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        self._replica.clear()
        super().on_train_end(net, X=X, y=y, **kwargs)

    def infer(self, x, **fit_params):
        ddp = self._replica.get("ddp")
        if ddp is None or not self.module_.training:
            return super().infer(x, **fit_params)
        return ddp(**self._merge_x_and_fit_params(x, fit_params))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if len(y_true) == 2:  # validation: the whole split on every process
            return super().get_loss(y_pred, y_true, X=X, training=training)
        target, weight, denominator = y_true
        penalty = None
        if isinstance(y_pred, tuple):
            y_pred, penalty = y_pred
        losses = self.criterion_(y_pred, target)
        if losses.dim() > 1:
            losses = losses.mean(dim=tuple(range(1, losses.dim())))
        # Not the part's mean: a part may weigh nothing (a stand-in row in
        # a last batch with fewer rows than processes); its loss is then 0.
        loss = torch.dot(losses, weight) / denominator
        if penalty is None:
            return loss
        self._data_losses.append(loss.detach())
        return loss + torch.dot(penalty, weight) / denominator

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """The epoch of :class:`WeightedLossNet`; then, in training, every
        process records the whole batches' losses and sizes (the means over
        the processes), so that all of them see the same training loss and
        stop at the same epoch."""
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if iterator is None or not training or self.accelerator.num_processes == 1:
            return
        epoch = self.history[-1]
        batches = epoch["batches"][-len(iterator.batch_sizes_) :]
        values = [batch[prefix + "_loss"] for batch in batches]
        data_loss = prefix + "_data_loss"
        if data_loss in epoch:
            values.append(epoch[data_loss])
        mean = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(mean)
        mean = (mean / self.accelerator.num_processes).tolist()
        for batch, loss, size in zip(
            batches, mean, iterator.batch_sizes_, strict=False
        ):
            batch[prefix + "_loss"] = loss
            batch[prefix + "_batch_size"] = size
        if data_loss in epoch:
            epoch[data_loss] = mean[-1]
