"""One fit on several processes through an ``accelerate.Accelerator``.

The two-process tests launch ``examples/distributed_training.py`` with
``accelerate launch`` (two CPU processes joined over gloo), comparing it
with the same fit in this process, and a script whose processes pass
different tables with ``torchrun``; the others run in this process, where
an Accelerator has one process.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import math
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

import skhyper
from skhyper import HyperNetworkClassifier, HyperNetworkRegressor
from skhyper._data import TensorBatches, TensorTable
from skhyper._distributed import (
    DistributedNet,
    ShardedBatches,
    average_gradients,
    flat_gradient_length,
    make_net,
)

accelerate = pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "distributed_training.py"


def _example():
    """The example script as a module (its table and model builders)."""
    spec = importlib.util.spec_from_file_location("distributed_training", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def accelerator():
    return accelerate.Accelerator(cpu=True)


def _table(n_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n_rows),
            "b": rng.normal(size=n_rows),
            "kind": rng.choice(["p", "q", "r"], size=n_rows),
        }
    )
    sign = X["kind"].map({"p": 1.0, "q": -1.0, "r": 0.5}).to_numpy()
    return X, sign * X["a"] + 0.3 * X["b"]


@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_one_process_accelerator_trains_the_same_model(accelerator, task):
    """With one process, the accelerated fit is the plain fit, bit for bit
    (same rows per step, same loss arithmetic, same random streams); the
    fitted model pickles and saves without the accelerator."""
    X, target = _table()
    if task == "classifier":
        y, make = target > 0, HyperNetworkClassifier
    else:
        y, make = target, HyperNetworkRegressor
    params = dict(context_column="kind", hidden_size=8, max_epochs=3, random_state=0)
    plain = make(**params).fit(X, y)
    accelerated = make(**params, accelerator=accelerator).fit(X, y)
    assert isinstance(accelerated.net_, DistributedNet)

    def outputs(model):
        if task == "classifier":
            return model.predict_proba(X)
        return model.predict(X)

    np.testing.assert_array_equal(outputs(accelerated), outputs(plain))
    assert accelerated.n_iter_ == plain.n_iter_

    restored = pickle.loads(pickle.dumps(accelerated))
    assert restored.accelerator is None
    assert accelerated.accelerator is accelerator  # the original keeps it
    np.testing.assert_array_equal(outputs(restored), outputs(plain))
    buffer = io.BytesIO()
    skhyper.dump(accelerated, buffer)
    loaded = skhyper.load(io.BytesIO(buffer.getvalue()))
    assert loaded.accelerator is None
    np.testing.assert_array_equal(outputs(loaded), outputs(plain))


def _tensor_table(n_rows: int, seed: int = 0) -> TensorTable:
    """A TensorTable of random values with unequal row weights."""
    rng = np.random.default_rng(seed)
    table = object.__new__(TensorTable)
    table.numeric = torch.as_tensor(rng.normal(size=(n_rows, 2)), dtype=torch.float32)
    table.categorical = torch.zeros((n_rows, 0), dtype=torch.int64)
    table.context = torch.as_tensor(rng.integers(3, size=(n_rows, 1)))
    table.continuous = None
    table.target = torch.as_tensor(rng.normal(size=n_rows), dtype=torch.float32)
    table.weight = torch.as_tensor(
        rng.uniform(0.1, 2, size=n_rows), dtype=torch.float32
    )
    table.pooling = None
    return table


@pytest.mark.parametrize("n_shards", [2, 3])
def test_shards_make_up_the_single_process_batches(n_shards):
    """Together the processes' parts are the one-process batches, row for
    row, and their losses average to the whole batch's weighted mean, also
    for a last batch with fewer rows than processes."""
    table = _tensor_table(n_rows=2 * 16 + 1)  # the last batch holds one row

    def batches(iterator_class, **kwargs):
        iterator = iterator_class(
            table, 16, shuffle=True, random_state=np.random.RandomState(7), **kwargs
        )
        return list(iterator), iterator

    single, _ = batches(TensorBatches)
    shards = [
        batches(ShardedBatches, rank=r, n_shards=n_shards) for r in range(n_shards)
    ]
    assert all(len(parts) == len(single) for parts, _ in shards)
    assert shards[0][1].batch_sizes_ == [16, 16, 1]
    # The last batch's one row goes to process 0; the others get a
    # stand-in row that weighs nothing.
    for rank, (parts, _) in enumerate(shards):
        assert len(parts[-1][0]["context"]) == 1
        assert (float(parts[-1][1][1].sum()) > 0) == (rank == 0)

    for step, (inputs, (target, weight)) in enumerate(single):
        parts = [parts[step] for parts, _ in shards]
        # Stand-ins aside, the parts are the batch's rows.
        parts = [p for p in parts if float(p[1][1].sum()) > 0]
        torch.testing.assert_close(
            torch.cat([p[0]["numeric"] for p in parts]), inputs["numeric"]
        )
        torch.testing.assert_close(torch.cat([p[1][1] for p in parts]), weight)
        torch.testing.assert_close(torch.cat([p[1][0] for p in parts]), target)
        # Any per-row loss will do; the first feature squared.
        whole = torch.dot(inputs["numeric"][:, 0] ** 2, weight) / weight.sum()
        shard_losses = [
            torch.dot(p[0]["numeric"][:, 0] ** 2, p[1][1]) / p[1][2] for p in parts
        ]
        assert all(math.isfinite(loss) for loss in shard_losses)
        torch.testing.assert_close(sum(shard_losses) / n_shards, whole)


def test_shards_record_each_whole_batchs_weight():
    """Validation batches are recorded with their weight (so valid_loss is
    the split's weighted mean), and a batch whose rows all weigh 0 has a
    loss of 0 on every process, not 0/0: an accelerated fit with such a
    batch stopped as diverged, where the plain fit trains."""
    table = _tensor_table(n_rows=3 * 8)
    table.weight[:8] = 0.0
    for rank in range(2):
        iterator = ShardedBatches(table, 8, rank=rank, n_shards=2)
        parts = list(iterator)
        weights = [float(w) for w in iterator.batch_weights_]
        expected = [float(table.weight[i : i + 8].sum()) for i in (0, 8, 16)]
        assert weights == pytest.approx(expected)
        target, weight, denominator = parts[0][1]  # the batch that weighs 0
        assert float(torch.dot(target, weight) / denominator) == 0.0


def test_a_batch_of_zero_weight_trains_on_an_accelerator(accelerator):
    X, target = _table()
    weight = np.zeros(len(target))
    weight[::15] = 1.0  # 20 rows of 300 count: many batches of 8 weigh 0
    model = HyperNetworkRegressor(
        "kind",
        hidden_size=8,
        max_epochs=2,
        batch_size=8,
        early_stopping=False,
        accelerator=accelerator,
    )
    model.fit(X, target, sample_weight=weight)
    assert np.isfinite(model.history_["train_loss"]).all()


def test_training_and_validation_batches_are_both_split(accelerator, monkeypatch):
    """Each process trains and scores only its share of every batch (the
    held-out split is scored once per epoch: on one process of two it was
    a tenth of a profiled fit)."""
    monkeypatch.setattr(accelerator.state, "num_processes", 3, raising=False)
    monkeypatch.setattr(accelerator.state, "process_index", 1, raising=False)
    net = make_net(
        accelerator,
        module=torch.nn.Linear,
        module__in_features=1,
        module__out_features=1,
        criterion=torch.nn.MSELoss,
    )
    assert isinstance(net, DistributedNet)
    for iterator in ("iterator_train", "iterator_valid"):
        assert getattr(net, iterator) is ShardedBatches
        params = net.get_params_for(iterator)
        assert (params["rank"], params["n_shards"]) == (1, 3)


def test_refuses_what_it_cannot_train(accelerator, monkeypatch):
    X, target = _table(n_rows=60)
    model = HyperNetworkClassifier("kind", hidden_size=8, max_epochs=2)
    with pytest.raises(TypeError, match="accelerate.Accelerator"):
        model.set_params(accelerator="cuda").fit(X, target > 0)
    # Launched as two processes, an Accelerator that sees one would let
    # each train alone: refused, with the cure.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"Accelerator\(cpu=True\)"):
        model.set_params(accelerator=accelerator).fit(X, target > 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_one_model(tmp_path):
    """Two CPU processes (gloo) finish, hold identical weights, process 0's
    saved model predicts what it reported, and the model is as good as the
    same fit in one process."""
    # 3557 rows: 356 held out by early stopping, 3201 = 50 x 64 + 1 trained,
    # so the last batch gives one of the processes no rows.
    args = ["--rows=3557", "--epochs=4", "--batch-size=64", "--dropout=0"]
    accelerate_cli = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate_cli),
        "launch",
        "--multi_gpu",
        "--num_processes=2",
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
        f"--main_process_port={_free_port()}",
        str(EXAMPLE),
        *args,
        f"--out={tmp_path}",
        f"--save={tmp_path / 'model.skops'}",
    ]
    env = {**os.environ, "SKHYPER_SMOKE": "0"}
    finished = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["processes"] for r in ranks] == [2, 2]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["epochs"] == ranks[1]["epochs"]

    example = _example()
    (X, y), (X_test, y_test) = example.train_and_test(3557)
    model = skhyper.load(tmp_path / "model.skops")
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    assert auc == pytest.approx(ranks[0]["test_auc"], abs=1e-12)
    assert example.weights_digest(model) == ranks[0]["weights_sha256"]

    single = example.make_model(None, 4, 64, dropout=0.0).fit(X, y)
    single_auc = roc_auc_score(y_test, single.predict_proba(X_test)[:, 1])
    assert single.n_iter_ == ranks[0]["epochs"]
    assert example.rows_trained(single) == ranks[0]["rows_trained"]
    assert abs(auc - single_auc) < 0.005, (auc, single_auc)
    # Same steps up to the order of floating-point sums: the predictions
    # themselves agree closely, not just their ranking.
    np.testing.assert_allclose(
        model.predict_proba(X_test), single.predict_proba(X_test), atol=0.02
    )


def _run_on_two_processes(source: str, tmp_path: Path) -> None:
    """Run the script ``source`` on two gloo processes with ``torchrun``,
    with ``tmp_path`` as its argument (where each process reports)."""
    script = tmp_path / "script.py"
    script.write_text(source)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        str(script),
        str(tmp_path),
    ]
    finished = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-3000:]


MISMATCHED_TABLES = """
import sys
from pathlib import Path
import numpy as np, pandas as pd
from accelerate import Accelerator
from skhyper import HyperNetworkRegressor

accelerator = Accelerator(cpu=True)
# Each process reports in a file of its own: two processes printing to one
# pipe can interleave their lines.
report = Path(sys.argv[1]) / f"rank{accelerator.process_index}.txt"
lines = []
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=301), "kind": rng.choice(["p", "q"], 301)})
mine = X.iloc[: 300 + accelerator.process_index]  # each process a different table
try:
    HyperNetworkRegressor("kind", hidden_size=8, max_epochs=2,
                          accelerator=accelerator).fit(mine, mine["a"])
except ValueError as error:
    lines.append(f"process {accelerator.process_index}: {error}")

# The same table everywhere, random_state=None: each process draws its own
# seed, and all must still take process 0's. (The weights would be equal
# anyway, since every process takes process 0's; the validation losses are
# equal only if the early-stopping split, drawn from the seed, is.)
X = X.iloc[:300]
# (A fixed weight_decay: "auto" may keep its second fit, which has no
# validation split.)
model = HyperNetworkRegressor("kind", hidden_size=8, max_epochs=2,
                              weight_decay=0.1,
                              accelerator=accelerator).fit(X, X["a"])
weights = model.net_.module_.state_dict()
digest = sum(float(w.double().abs().sum()) for w in weights.values())
valid = model.history_["valid_loss"].tolist()
lines.append(f"process {accelerator.process_index} weights {digest!r} {valid!r}")

# A warm start makes the same checks as fit: the same table everywhere,
# and process 0's seed (which draws the early-stopping split).
warm = []
model.set_params(warm_start=True)
try:
    model.fit(mine, mine["a"])
except ValueError as error:
    warm.append(f"process {accelerator.process_index}: {error}")
seeds = []
split = model._early_stopping_split
model._early_stopping_split = lambda *a: seeds.append(a[-1]) or split(*a)
model.fit(X, X["a"])
warm.append(repr(seeds))
(report.parent / f"warm{accelerator.process_index}.txt").write_text("\\n".join(warm))

# Each process scores its share of the held-out rows; all must record the
# whole split's loss, that of the same fit in one process (no dropout: the
# processes' steps then differ from one process's only in rounding).
params = dict(hidden_size=8, max_epochs=3, weight_decay=0.1, dropout=0.0,
              random_state=0)
shared = HyperNetworkRegressor("kind", accelerator=accelerator, **params)
alone = HyperNetworkRegressor("kind", **params)
for model in (shared.fit(X, X["a"]), alone.fit(X, X["a"])):
    lines.append(repr(model.history_["valid_loss"].tolist()))
report.write_text("\\n".join(lines))
# Every process destroys the process group: left to the interpreter's exit,
# gloo's threads can abort the process (SIGABRT, "terminate called without
# an active exception"; pytorch/pytorch#190489).
accelerator.end_training()
"""


def test_two_processes_agree_on_table_and_seed(tmp_path):
    """Each process passing its own table would train on a mixture: every
    process raises the same ValueError instead (and none waits forever).
    With the same table and ``random_state=None`` they end with the same
    weights (all take process 0's seed). A warm start checks both too."""
    _run_on_two_processes(MISMATCHED_TABLES, tmp_path)
    reports = [(tmp_path / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]
    for rank, (error, *_) in enumerate(reports):
        assert error.startswith(f"process {rank}: With an accelerator every process")
        assert "rows per process [300, 301]" in error
    digests = [weights.split(" weights ")[1] for _, weights, *_ in reports]
    assert digests[0] == digests[1], reports
    (shared, alone), (shared_1, _) = (
        [ast.literal_eval(line) for line in report[2:]] for report in reports
    )
    assert shared == shared_1
    assert len(shared) == 3
    np.testing.assert_allclose(shared, alone, rtol=1e-5)
    warm = [(tmp_path / f"warm{r}.txt").read_text().splitlines() for r in (0, 1)]
    for rank, (error, _) in enumerate(warm):
        assert error.startswith(f"process {rank}: With an accelerator every process")
    assert warm[0][1] == warm[1][1], warm


AVERAGING = """
import sys
from pathlib import Path
import torch, torch.distributed as dist
from types import SimpleNamespace
from skhyper._distributed import average_gradients, broadcast_weights, share_rows

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(rank)  # each process builds different weights
module = torch.nn.ModuleDict(
    {"both": torch.nn.Linear(3, 2), "one": torch.nn.Linear(2, 1),
     "none": torch.nn.Linear(2, 1)}
)
broadcast_weights(module)
weights = {n: p.detach().clone() for n, p in module.named_parameters()}
# Both processes reach "both" (with different rows), only process 1 reaches
# "one", and neither reaches "none".
loss = module["both"](torch.full((4, 3), float(rank + 1))).pow(2).sum()
if rank == 1:
    loss = loss + module["one"](torch.ones(1, 2)).sum()
loss.backward()
own = {n: None if p.grad is None else p.grad.clone()
       for n, p in module.named_parameters()}
average_gradients(module, 2)
averaged = {n: None if p.grad is None else p.grad.clone()
            for n, p in module.named_parameters()}

# share_rows: each process computes some of 7 rows, all get all of them.
net = SimpleNamespace(
    accelerator=SimpleNamespace(num_processes=2, process_index=rank, device="cpu")
)
computed = []
def values(rows):
    computed.append((rows.start, rows.stop))
    return torch.arange(7.0)[rows] ** 2
shared = share_rows(net, 7, values)
torch.save({"weights": weights, "own": own, "averaged": averaged,
            "computed": computed, "shared": shared},
           Path(sys.argv[1]) / f"rank{rank}.pt")
dist.barrier()  # else torch 2.2's gloo could leave one process hanging here
dist.destroy_process_group()
"""


def test_gradients_are_averaged_over_the_processes(tmp_path):
    """Two gloo processes: process 0's weights everywhere, then every
    gradient becomes the mean of the processes' gradients (a process that
    did not reach a parameter counts as zero), and a parameter that no
    process reached keeps no gradient, as in a single-process step. Work
    per row (``share_rows``) is split between them and gathered in order."""
    _run_on_two_processes(AVERAGING, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for name, weight in ranks[0]["weights"].items():
        torch.testing.assert_close(ranks[1]["weights"][name], weight, rtol=0, atol=0)
    for name in ranks[0]["own"]:
        own = [r["own"][name] for r in ranks]
        if name.startswith("none"):
            assert own == [None, None]
            assert [r["averaged"][name] for r in ranks] == [None, None]
            continue
        if name.startswith("one"):
            assert own[0] is None and own[1] is not None
            own[0] = torch.zeros_like(own[1])
        assert not torch.equal(own[0], own[1])
        expected = (own[0] + own[1]) / 2
        for r in ranks:
            torch.testing.assert_close(r["averaged"][name], expected)
    assert [r["computed"] for r in ranks] == [[(0, 3)], [(3, 7)]]
    for r in ranks:
        torch.testing.assert_close(r["shared"], torch.arange(7.0) ** 2)


SHARED_MEMORY = """
import glob, pickle, sys
from pathlib import Path
import numpy as np, pandas as pd
import torch, torch.distributed as dist
from accelerate import Accelerator
import skhyper._shared_memory as shared_memory
from skhyper import HyperNetworkRegressor
from skhyper._distributed import average_gradients
from skhyper._shared_memory import SharedMemorySum

accelerator = Accelerator(cpu=True)  # sets up the gloo process group
rank = dist.get_rank()
report = {}

# Three sums in a row (both sets of slots, then the first again), each
# against an all-reduce of the same tensors.
total = SharedMemorySum.open(5, rank, 2)
report["left_behind"] = glob.glob("/dev/shm/skhyper-gradients-*")
sums = []
for step in range(3):
    mine = torch.arange(5.0) * (rank + 1.5) + step / 3
    expected = mine.clone()
    dist.all_reduce(expected)
    sums.append((total(mine), expected))
report["sums"] = sums

# average_gradients through it: the same bits as through the all-reduce.
torch.manual_seed(0)
module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
module(torch.randn(6, 3) + rank).pow(2).sum().backward()
own = [p.grad.clone() for p in module.parameters()]
average_gradients(module, 2)
reduced = [p.grad.clone() for p in module.parameters()]
for p, grad in zip(module.parameters(), own):
    p.grad = grad.clone()
size = sum(p.numel() for p in module.parameters()) + 4
average_gradients(module, 2, SharedMemorySum.open(size, rank, 2))
report["averaged"] = (reduced, [p.grad.clone() for p in module.parameters()])

# A process that cannot map the buffer (another machine): all fall back.
attach = shared_memory._attach
if rank == 1:
    shared_memory._attach = lambda *args: None
report["fallback"] = SharedMemorySum.open(5, rank, 2)
shared_memory._attach = attach
report["left_behind"] += glob.glob("/dev/shm/skhyper-gradients-*")

# A data-parallel fit on CPUs sums every step's gradients this way, and
# keeps no buffer once fitted.
calls = []
summed = SharedMemorySum.__call__
SharedMemorySum.__call__ = lambda self, t: calls.append(1) or summed(self, t)
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=300), "kind": rng.choice(["p", "q"], 300)})
model = HyperNetworkRegressor("kind", hidden_size=8, max_epochs=2, batch_size=64,
                              weight_decay=0.1, accelerator=accelerator)
model.fit(X, X["a"])
report["calls"] = len(calls)
report["steps"] = sum(
    "train_loss" in batch for epoch in model.net_.history for batch in epoch["batches"]
)
report["kept"] = model.net_._gradient_sum
report["pickles"] = len(pickle.dumps(model)) > 0
torch.save(report, Path(sys.argv[1]) / f"rank{rank}.pt")
accelerator.end_training()  # as at the end of MISMATCHED_TABLES
"""


def test_processes_on_one_machine_sum_through_shared_memory(tmp_path):
    """Two CPU processes sum gradients through one shared buffer: the same
    bits as gloo's all-reduce, in consecutive steps, with nothing left in
    /dev/shm; when one process cannot map the buffer, every process falls
    back to the all-reduce; a fit uses it for every training step."""
    _run_on_two_processes(SHARED_MEMORY, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for report in ranks:
        assert report["left_behind"] == []
        for got, expected in report["sums"]:
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
        for reduced, shared in zip(*report["averaged"], strict=True):
            torch.testing.assert_close(shared, reduced, rtol=0, atol=0)
        assert report["fallback"] is None
        assert report["calls"] == report["steps"] > 0
        assert report["kept"] is None and report["pickles"]
    assert not torch.equal(ranks[0]["sums"][0][0], ranks[0]["sums"][1][0])


def test_shared_memory_is_not_taken_from_another_machine(tmp_path):
    """A process that finds no file, a file of another size, or a file with
    other check values under the announced name is not sharing process
    0's memory: it maps nothing, and creates no file."""
    from skhyper._shared_memory import _CHECK_VALUES, _attach

    missing = tmp_path / "missing"
    assert _attach(str(missing), [1.0] * _CHECK_VALUES, 16) is None
    assert not missing.exists()
    other = tmp_path / "other"
    other.write_bytes(np.zeros(16, dtype=np.float32).tobytes())
    assert _attach(str(other), [1.0] * _CHECK_VALUES, 32) is None
    assert _attach(str(other), [1.0] * _CHECK_VALUES, 16) is None
    assert _attach(str(other), [0.0] * _CHECK_VALUES, 16) is not None


def test_no_shared_buffer_without_room_for_it(monkeypatch):
    """Where the shared-memory directory has no room for the buffer (a
    small /dev/shm), process 0 creates none, so every process falls back
    to the all-reduce instead of dying of SIGBUS at the first write."""
    import skhyper._shared_memory as shared_memory

    full = os.statvfs_result((4096, 4096, 100, 0, 0, 100, 0, 0, 0, 255))
    monkeypatch.setattr(shared_memory.os, "statvfs", lambda path: full)
    assert shared_memory._create(1_000) == (None, None)
    monkeypatch.undo()
    buffer, (path, check) = shared_memory._create(1_000)
    try:
        assert buffer[-len(check) :].tolist() == check
    finally:
        os.unlink(path)


def test_a_buffer_whose_pages_do_not_fit_is_not_created(monkeypatch, tmp_path):
    """When the pages cannot be allocated (``posix_fallocate`` fails with
    ENOSPC although statvfs showed room), no buffer and no file are left."""
    import errno

    import skhyper._shared_memory as shared_memory

    def no_space(descriptor, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shared_memory, "_shared_directory", lambda: str(tmp_path))
    monkeypatch.setattr(shared_memory.os, "posix_fallocate", no_space, raising=False)
    assert shared_memory._create(1_000) == (None, None)
    assert list(tmp_path.iterdir()) == []


def test_flat_gradient_length_is_that_of_average_gradients_buffer():
    """The shared buffer is sized by flat_gradient_length: it must be the
    length of the buffer average_gradients fills (values, then flags), also
    when a parameter is frozen."""
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    module[1].bias.requires_grad_(False)
    module(torch.randn(5, 3)).sum().backward()
    lengths = []
    average_gradients(module, 1, lambda flat: lengths.append(len(flat)) or flat)
    assert lengths == [flat_gradient_length(module)] == [12 + 4 + 8 + 3]
