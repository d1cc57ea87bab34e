"""One fit on several processes: data-parallel training with an
``accelerate.Accelerator``.

Hugging Face Accelerate starts the processes (``accelerate launch`` or
``torchrun``; one per GPU, or several on a CPU) and sets up
``torch.distributed`` (NCCL between GPUs, gloo on CPUs). Every process runs
the same script and calls ``fit`` on the same table; here each process
trains on its share of every batch, and the gradients are averaged after
every step (summed through shared memory between CPU processes of one
machine, ``_shared_memory.py``; else by one all-reduce), so every process
applies the same update and holds the same weights.

This is the engine of skorch's ``skorch.hf.AccelerateMixin`` (torch's
process group, as Accelerate sets it up), without the mixin. The mixin
replaces the net's ``module_`` by its DDP wrapper for the whole fit, and
that breaks what the estimators do around the step:
``DecayPath`` and ``WeightAveraging`` copy and restore ``module_.state_dict()``
(the wrapper's keys carry a ``module.`` prefix, and the mixin unwraps in the
net's ``on_train_end``, which skorch runs before the callbacks'), the
classifiers' early-stopping monitor calls ``module_.predict_outputs``, which
the wrapper does not have, and ``Accelerator.prepare`` only splits a torch
``DataLoader``, not the estimators' :class:`~skhyper._data.TensorBatches`.
So :class:`DistributedNet` keeps ``module_`` unwrapped and averages the
gradients itself (it says why), and :class:`ShardedBatches` splits each
batch between the processes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist

from ._data import TensorBatches, TensorTable
from ._net import WeightedLossNet, loss_denominator
from ._shared_memory import SharedMemorySum

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
    and the validation batches split between its processes."""
    if accelerator is None:
        return WeightedLossNet(**params)
    params["device"] = str(accelerator.device)
    for iterator in ("iterator_train", "iterator_valid"):
        params[iterator] = ShardedBatches
        params[f"{iterator}__rank"] = accelerator.process_index
        params[f"{iterator}__n_shards"] = accelerator.num_processes
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


def share_rows(net, n_rows: int, compute) -> torch.Tensor:
    """``compute(rows)``, a tensor with one entry (or row) per row of
    ``rows`` (a slice), for all ``n_rows`` rows. A net trained on several
    processes splits the work: each process computes a contiguous share and
    all of them get every share back, in order, so the result is the
    one-process result. Otherwise, one call for all rows."""
    accelerator = getattr(net, "accelerator", None)
    if accelerator is None or accelerator.num_processes == 1:
        return compute(slice(0, n_rows))
    n, rank = accelerator.num_processes, accelerator.process_index
    bounds = [n_rows * r // n for r in range(n + 1)]
    sizes = [high - low for low, high in zip(bounds, bounds[1:], strict=False)]
    mine = compute(slice(bounds[rank], bounds[rank + 1]))
    # all_gather takes equal shapes, on the process group's device.
    padded = mine.new_zeros((max(sizes), *mine.shape[1:]), device=accelerator.device)
    padded[: len(mine)] = mine
    everyone = [torch.empty_like(padded) for _ in range(n)]
    dist.all_gather(everyone, padded)
    shares = [values[:size] for values, size in zip(everyone, sizes, strict=True)]
    return torch.cat(shares).to(mine.device)


def predict_rows(net, table: TensorTable) -> torch.Tensor:
    """The fitted module's outputs for every row of ``table`` (the
    held-out split), shared out between the processes of a data-parallel
    fit by :func:`share_rows`."""

    def outputs(rows: slice) -> torch.Tensor:
        inputs, _ = table.rows(rows)
        return net.module_.predict_outputs(inputs, pad=False)

    return share_rows(net, len(table), outputs)


def broadcast_weights(module: torch.nn.Module) -> None:
    """Every process takes process 0's parameters and buffers (they are
    equal already when the seed is, but a module built differently would
    otherwise train apart without a word)."""
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def trainable_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters whose gradients the processes average, in the order
    of their flat buffer."""
    return [p for p in module.parameters() if p.requires_grad]


def flat_gradient_length(module: torch.nn.Module) -> int:
    """Length of :func:`average_gradients`' flat buffer: every trainable
    value, then one flag per trainable parameter."""
    parameters = trainable_parameters(module)
    return sum(p.numel() for p in parameters) + len(parameters)


def average_gradients(
    module: torch.nn.Module,
    n_processes: int,
    total: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Replace every gradient by its mean over the processes, summed in one
    flat buffer by ``total`` (a :class:`~skhyper._shared_memory.SharedMemorySum`
    for processes that share a machine's memory), or else by one all-reduce.

    A process may have no gradient for a parameter that another has (the
    rows of its share never reached it); it then adds zeros. One flag per
    parameter travels in the same buffer, so a parameter that no process
    reached keeps no gradient, and the optimizer skips it as it would in a
    single process.
    """
    parameters = trainable_parameters(module)
    if not parameters:
        return
    reference = parameters[0]
    pieces = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
        for p in parameters
    ]
    reached = [float(p.grad is not None) for p in parameters]
    pieces.append(torch.tensor(reached, dtype=reference.dtype, device=reference.device))
    flat = torch.cat(pieces)
    if total is None:
        dist.all_reduce(flat)
    else:
        flat = total(flat)
    flat /= n_processes
    reached_anywhere = (flat[-len(parameters) :] > 0).tolist()
    offset = 0
    for p, anywhere in zip(parameters, reached_anywhere, strict=True):
        size = p.numel()
        if anywhere:
            p.grad = flat[offset : offset + size].view_as(p)
        offset += size


class ShardedBatches(TensorBatches):
    """:class:`TensorBatches` that yields this process's share of each batch.

    Every process draws the same permutation (the same seed), cuts it into
    the same batches of ``batch_size`` rows and takes part ``rank`` of
    ``n_shards`` of each, so together the processes take exactly the steps
    of a single process, and all of them take the same number of steps
    (each step ends in a collective operation).

    The target comes as ``(target, weight, denominator)``:
    ``denominator`` is the whole batch's weight divided by ``n_shards``, so
    that the mean of the processes' losses (what the averaged gradients
    descend) is the weighted mean loss of the whole batch, also when the
    parts differ in size or weight. A process left without rows (a last
    batch with fewer rows than processes) gets one of the batch's rows with
    weight 0, which adds nothing to the gradient; a batch whose rows all
    weigh 0 adds nothing either (:func:`loss_denominator`).
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
        # Sizes and weights of the whole batches, for the epoch's record (see
        # DistributedNet.run_single_epoch).
        self.batch_sizes_, self.batch_weights_ = [], []
        for start in range(0, n_rows, self.batch_size):
            rows = order[start : start + self.batch_size]
            self.batch_sizes_.append(len(rows))
            part = rows.tensor_split(self.n_shards)[self.rank]
            if len(part) == 0:
                # Fewer rows than processes: this one still takes the step
                # (each step's all-reduce needs every process), on a
                # stand-in row of weight 0.
                inputs, (target, weight) = self.dataset.rows(rows[:1])
                weight = torch.zeros_like(weight)
            else:
                inputs, (target, weight) = self.dataset.rows(part)
            total_weight = self.dataset.weight.index_select(0, rows).sum()
            self.batch_weights_.append(total_weight)
            denominator = loss_denominator(total_weight)
            yield inputs, (target, weight, denominator / self.n_shards)


class DistributedNet(WeightedLossNet):
    """A :class:`WeightedLossNet` trained by several processes at once.

    ``module_`` stays the plain module: callbacks, validation and predict
    use it as in a single-process fit, and the fitted net holds no process
    group and pickles like any other. When training begins every process
    takes process 0's weights; after each backward pass the gradients are
    averaged over the processes in one all-reduce (:func:`average_gradients`),
    which is what ``DistributedDataParallel`` does. DDP itself is not used:
    building one imports ``torch._dynamo`` and sympy (about 800 modules:
    1.1 s of every fit on an idle core, 2.3 s with two processes on two
    cores, measured with pyinstrument). What is lost is DDP's bucketing,
    which overlaps the all-reduce with the backward pass; on two CPU
    processes of a 2-core machine, four buckets overlapped with the compute
    took longer than one sum after it (``docs/scaling.md``). Processes on
    CPUs of one machine sum the gradients through shared memory instead
    (:class:`~skhyper._shared_memory.SharedMemorySum`), which adds about
    half of what gloo's all-reduce over the loopback device adds to a step.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Gives the processes and this one's rank and device. Its
        ``DistributedDataParallelKwargs`` handler, if any, does not apply
        (a warning says so).
    **kwargs
        Those of :class:`WeightedLossNet`.
    """

    def __init__(self, *args, accelerator, **kwargs):
        super().__init__(*args, **kwargs)
        self.accelerator = accelerator

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        super().on_train_begin(net, X=X, y=y, **kwargs)
        accelerator = self.accelerator
        if accelerator.num_processes == 1:
            return
        if getattr(accelerator, "ddp_handler", None) is not None:
            warnings.warn(
                "The accelerator's DistributedDataParallelKwargs are ignored: "
                "skhyper averages the gradients itself after every step "
                "(through shared memory between CPU processes of one machine, "
                "else with an all-reduce), not through DistributedDataParallel.",
                UserWarning,
                stacklevel=2,
            )
        broadcast_weights(self.module_)
        self._gradient_sum = self._shared_gradient_sum()
        if accelerator.process_index > 0:
            # Same weights, but dropout and the unknown-context draws of
            # each process must differ; process 0 keeps the stream of a
            # single-process fit.
            torch.manual_seed(torch.initial_seed() + accelerator.process_index)

    def _shared_gradient_sum(self) -> SharedMemorySum | None:
        """The gradients' sum through shared memory where every process
        trains on a CPU of this machine; None (an all-reduce) otherwise:
        between GPUs NCCL's all-reduce is the fast path, and processes on
        several machines share no memory."""
        if torch.device(self.device).type != "cpu":
            return None
        return SharedMemorySum.open(
            flat_gradient_length(self.module_),
            self.accelerator.process_index,
            self.accelerator.num_processes,
        )

    def on_train_end(self, net, X=None, y=None, **kwargs) -> None:
        super().on_train_end(net, X=X, y=y, **kwargs)
        # The mapped buffer is this fit's alone: not kept, not pickled.
        self._gradient_sum = None

    def train_step_single(self, batch, **fit_params):
        """skorch's step on this process's share of the batch; then every
        gradient is averaged over the processes, before the gradient
        callbacks (``on_grad_computed``) and the optimizer see it."""
        step = super().train_step_single(batch, **fit_params)
        if self.accelerator.num_processes > 1:
            average_gradients(
                self.module_,
                self.accelerator.num_processes,
                getattr(self, "_gradient_sum", None),
            )
        return step

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # (target, weight): not a batch share but whole rows, as the
        # estimator's _validation_loss passes them after predict_rows.
        if len(y_true) == 2:
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
        if training:  # the data term alone, for the divergence check
            self._data_losses.append(loss.detach())
        return loss + torch.dot(penalty, weight) / denominator

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """The epoch of :class:`WeightedLossNet` on this process's share of
        each batch; then every process records the whole batches' losses and
        sizes (the means over the processes), in training and in
        validation, so that all of them see the same losses and stop at the
        same epoch."""
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if iterator is None or self.accelerator.num_processes == 1:
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
        # In validation, the sizes are the batches' weights, as
        # WeightedLossNet records them (valid_loss: the split's weighted mean).
        sizes = (
            iterator.batch_sizes_
            if training
            else torch.stack(iterator.batch_weights_).tolist()
        )
        for batch, loss, size in zip(batches, mean, sizes, strict=False):
            batch[prefix + "_loss"] = loss
            batch[prefix + "_batch_size"] = size
        if data_loss in epoch:
            epoch[data_loss] = mean[-1]
