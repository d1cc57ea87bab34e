"""
One fit on several processes with Accelerate
=============================================

Data-parallel training of a single ``HyperNetworkClassifier`` fit: every
process runs this script, builds the same table and calls ``fit``; each
trains on its share of every batch and one all-reduce per step averages
the gradients, so all processes take the steps of a one-process fit and end
with the same model.

Two processes on a CPU (gloo)::

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no \\
        examples/distributed_training.py

(``--multi_gpu`` is what makes ``accelerate launch`` start several
processes; on a machine without GPUs the script's ``Accelerator(cpu=True)``
then joins them over gloo. ``--cpu --num_processes 2`` starts only one
process unless MPI is set up.) ``torchrun --nproc_per_node 2
examples/distributed_training.py`` does the same, and plain ``python
examples/distributed_training.py`` trains in one process. Several GPUs::

    accelerate launch --multi_gpu --num_processes 4 examples/distributed_training.py

``SKHYPER_SMOKE=1`` (or ``--smoke``) trains a small table for two epochs.
With ``--out DIR`` every process writes ``DIR/rank<r>.json`` with its fit
time, throughput, test AUC and a digest of its weights
(``benchmarks/bench_data_parallel.py`` and ``tests/test_accelerate.py`` read
them); ``--save FILE`` makes process 0 save the fitted model with
``skhyper.dump``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from skhyper import HyperNetworkClassifier, dump


def make_table(n_rows: int, seed: int = 0, n_contexts: int = 20, n_features: int = 8):
    """A classification table whose coefficients vary with a context of
    ``n_contexts`` values: ``(X, y)``, the context in column ``"context"``.

    The coefficients of each context are drawn from ``seed`` alone, so
    tables of every size and row seed share one rule: draw the training
    table and the test table with different ``seed + 1000 * k`` row seeds
    through :func:`train_and_test`.
    """
    rules = np.random.default_rng(12345)
    shared = rules.normal(size=n_features)
    own = rules.normal(size=(n_contexts, n_features))
    rng = np.random.default_rng(seed)
    context = rng.integers(n_contexts, size=n_rows)
    features = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    coefficients = 0.5 * shared + own[context]
    logit = np.einsum("ij,ij->i", features, coefficients) + np.sin(2 * features[:, 0])
    y = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    X = pd.DataFrame(features, columns=[f"x{i}" for i in range(n_features)])
    names = np.array([f"c{i:02d}" for i in range(n_contexts)])
    X["context"] = pd.Categorical(names[context], categories=names)
    return X, y.astype(np.int64)


def train_and_test(n_rows: int, n_test: int = 20_000):
    """The training table and a held-out test table of the same rule."""
    return make_table(n_rows, seed=1), make_table(n_test, seed=1001)


def make_model(accelerator, max_epochs: int, batch_size="auto", dropout=0.1):
    """The estimator every process fits (the same parameters everywhere)."""
    return HyperNetworkClassifier(
        "context",
        max_epochs=max_epochs,
        batch_size=batch_size,
        dropout=dropout,
        random_state=0,
        accelerator=accelerator,
    )


def weights_digest(model) -> str:
    """SHA-256 of the fitted weights: equal on every process when they
    ended with the same model."""
    digest = hashlib.sha256()
    for name, tensor in model.net_.module_.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def rows_trained(model) -> int:
    """Training rows of all epochs (whole batches, summed over the
    processes), from the fit's per-batch record."""
    return int(
        sum(
            batch["train_batch_size"]
            for epoch in model.net_.history
            for batch in epoch["batches"]
            if "train_batch_size" in batch
        )
    )


def main() -> None:
    from accelerate import Accelerator

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--out", type=Path, help="folder for rank<r>.json")
    parser.add_argument("--save", type=Path, help="process 0 saves the model")
    args = parser.parse_args()
    if args.smoke or os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0"):
        args.rows, args.epochs = min(args.rows, 5_000), 2
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)

    # Without GPUs, cpu=True: otherwise Accelerate would not join the
    # processes and each would train alone (skhyper refuses that).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    (X, y), (X_test, y_test) = train_and_test(args.rows)
    model = make_model(accelerator, args.epochs, batch_size, args.dropout)

    accelerator.wait_for_everyone()  # time the fit, not the start-up
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start

    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    trained = rows_trained(model)
    result = {
        "rank": accelerator.process_index,
        "processes": accelerator.num_processes,
        "rows": len(X),
        "rows_trained": trained,
        "epochs": int(model.n_iter_),
        "fit_seconds": seconds,
        "rows_per_second": trained / seconds,
        "batch_size": int(model.batch_size_),
        "test_auc": float(auc),
        "weights_sha256": weights_digest(model),
    }
    accelerator.print(
        f"{accelerator.num_processes} process(es), {len(X):,} rows: "
        f"{model.n_iter_} epochs in {seconds:.1f} s "
        f"({result['rows_per_second']:,.0f} rows/s), test AUC {auc:.4f}"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"rank{accelerator.process_index}.json"
        path.write_text(json.dumps(result, indent=2))
    if args.save is not None and accelerator.is_main_process:
        dump(model, args.save)
    # On every process, once nothing collective is left: destroys the
    # process group, which gloo's threads need before the interpreter exits.
    accelerator.end_training()


if __name__ == "__main__":
    main()
