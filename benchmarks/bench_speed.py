"""Speed benchmark: fit time, predict throughput, scaling, overhead, throughput.

Run from the repository root::

    python benchmarks/bench_speed.py            # full run, several minutes
    python benchmarks/bench_speed.py --smoke    # tiny sizes, a few seconds (CI)
    python benchmarks/bench_speed.py --device cuda   # the networks on a GPU
    python benchmarks/bench_speed.py --sections overhead   # one section only
    python benchmarks/bench_speed.py --sections throughput # side by side, minutes
    python benchmarks/bench_speed.py --sections onnx       # onnxruntime vs torch
    python benchmarks/bench_speed.py --sections stream     # partial_fit calls

Every figure is the median of at least ``--repeats`` (default 5) runs in this
one process, so ratios between rows are comparable even on a noisy machine.
The table is printed and the raw numbers go to
``benchmarks/results/speed.json`` (or ``--output``).

Sections:

1. fit time on the reference sensor data (1800 rows, defaults, and round
   4's defaults of 30 fixed epochs for comparison), with scikit-learn's
   MLPClassifier and HistGradientBoostingClassifier for reference;
2. predict throughput on 100k rows;
3. time per epoch and peak memory (each measured in a fresh subprocess) as
   the rows and the number of contexts grow;
4. overhead of an epoch through the estimator over the same module trained
   by a bare torch loop on the same tensors;
5. throughput side by side at 10k, 100k and 1M rows (20 features, 20
   contexts): training rows/s per epoch of HyperNetworkClassifier,
   ConcatClassifier and MLPClassifier((128, 64)), rows/s of one whole fit
   of HistGradientBoostingClassifier and LightGBM, and predict_proba rows/s
   of all five, every model on one thread, so that docs can quote ratios
   from one run. Needs ``lightgbm``;
6. the first and second one-epoch fit on the sensor data in fresh
   processes: what a new joblib, Dask or Ray worker pays once;
7. the model of section 2 exported with ``skhyper.to_onnx``: predict
   rows/s of onnxruntime (one thread) against ``predict_proba`` (one
   thread, timed in turns) at 1k and 100k rows, with and without building
   the input dict (``onnx_inputs``), the largest difference between the
   two, and the two forms of the exported generated layer (rows grouped by
   context, and factors gathered per row) at 20 and 250 contexts. Needs
   ``onnx`` and ``onnxruntime``;
8. a stream of ``partial_fit`` calls on 64-row chunks (5,000 calls; one
   thread): the median time of a call among the first and among the last
   200, whose ratio shows whether a call's cost grows with the calls before
   it (a long Dask or out-of-core stream makes thousands).

``--device`` sets the networks' ``device`` (the scikit-learn reference models
of sections 1 and 5 always run on the CPU); on a GPU, section 3 also records
the peak GPU memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skorch
import torch
from bench_quality import cpu_model
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

import skhyper
from skhyper import ConcatClassifier, HyperNetworkClassifier
from skhyper._data import TensorTable
from skhyper.datasets import make_sensor_data

RESULTS = Path(__file__).parent / "results" / "speed.json"


# -- data -----------------------------------------------------------------


def make_context_data(n_rows: int, n_contexts: int, n_features: int = 10, seed=0):
    """Rows whose label is a context-specific linear rule of the features."""
    rng = np.random.default_rng(seed)
    context = rng.integers(n_contexts, size=n_rows)
    features = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    directions = rng.normal(size=(n_contexts, n_features))
    score = np.einsum("rf,rf->r", features, directions[context])
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(n_features)])
    frame["context"] = pd.Categorical(np.char.add("c", context.astype(str)))
    return frame, (score > 0).astype(int)


def sensor_xy():
    frame = make_sensor_data()
    return frame.drop(columns="anomaly"), frame["anomaly"]


# -- measuring ------------------------------------------------------------


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, list]:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def on_gpu(device: str) -> bool:
    return torch.device(device).type == "cuda"


def epoch_seconds(estimator) -> list[float]:
    """Per-epoch durations that skorch recorded during the last fit."""
    return [float(d) for d in estimator.net_.history[:, "dur"]]


# -- 1. fit time on the sensor data -----------------------------------------


# Round 4's defaults (docs/defaults.md): 30 epochs, strong decay, averaging;
# kept here so that one run compares the old fit time with today's.
ROUND_4 = {
    "max_epochs": 30,
    "early_stopping": False,
    "weight_decay": 7.0,
    "weight_averaging": 0.3,
}


def reference_models(smoke: bool, device: str) -> dict:
    numeric = ["sensor_a", "sensor_b", "sensor_c"]
    one_hot = make_column_transformer(
        (StandardScaler(), numeric), (OneHotEncoder(), ["sensor_type"])
    )
    ordinal = make_column_transformer(
        (OrdinalEncoder(), ["sensor_type"]), remainder="passthrough"
    )
    network = dict(context_column="sensor_type", random_state=0, device=device)
    round_4 = dict(ROUND_4)
    if smoke:
        network["max_epochs"] = round_4["max_epochs"] = 2
    return {
        "HyperNetworkClassifier": HyperNetworkClassifier(**network),
        "HyperNetworkClassifier, round 4 defaults": HyperNetworkClassifier(
            **{**network, **round_4}
        ),
        "HyperNetworkClassifier(generator_rank=None)": HyperNetworkClassifier(
            generator_rank=None, **network
        ),
        "ConcatClassifier": ConcatClassifier(**network),
        "ConcatClassifier, round 4 defaults": ConcatClassifier(
            **{**network, **round_4, "weight_decay": 5.0, "weight_averaging": 0.0}
        ),
        "MLPClassifier((128, 64))": make_pipeline(
            one_hot,
            MLPClassifier((128, 64), max_iter=2 if smoke else 200, random_state=0),
        ),
        "HistGradientBoostingClassifier": make_pipeline(
            ordinal,  # the context comes first, as a native categorical
            HistGradientBoostingClassifier(categorical_features=[0], random_state=0),
        ),
    }


def bench_fit(repeats: int, smoke: bool, device: str) -> dict:
    X, y = sensor_xy()
    results = {}
    with warnings.catch_warnings():
        # MLPClassifier may warn that its iterations did not converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model in reference_models(smoke, device).items():
            median, times = median_seconds(lambda m=model: m.fit(X, y), repeats)
            results[name] = {"median_s": median, "runs_s": times}
            epochs = getattr(model, "n_iter_", None)
            if epochs is not None:
                results[name]["epochs"] = int(epochs)
            if hasattr(model, "history_"):  # the kept fit's epochs
                results[name]["epoch_ms"] = 1e3 * float(model.history_["dur"].median())
    return results


# -- 2. predict throughput ------------------------------------------------------


def bench_predict(repeats: int, n_rows: int, device: str) -> dict:
    X, y = make_context_data(n_rows, 20)
    results = {}
    for cls in (HyperNetworkClassifier, ConcatClassifier):
        estimator = cls(
            context_column="context", max_epochs=1, random_state=0, device=device
        )
        estimator.fit(X[:2000], y[:2000])
        faults = minor_page_faults()
        median, times = median_seconds(lambda e=estimator: e.predict_proba(X), repeats)
        results[type(estimator).__name__] = {
            "rows": n_rows,
            "median_s": median,
            "rows_per_s": n_rows / median,
            "runs_s": times,
            # Memory the allocator took from the system again during the
            # calls (pages first touched): what made the hypernetwork's
            # predict vary between runs (docs/performance.md).
            "minor_page_faults_per_call": (minor_page_faults() - faults)
            // (repeats + 1),
        }
    return results


def minor_page_faults() -> int:
    """This process's minor page faults so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# -- 3. scaling -------------------------------------------------------------------


def fit_for_scaling(n_rows: int, n_contexts: int, epochs: int, device: str) -> dict:
    """Fit in this process; return per-epoch times and the peak RSS (and,
    on a GPU, the peak GPU memory)."""
    X, y = make_context_data(n_rows, n_contexts)
    estimator = HyperNetworkClassifier(
        context_column="context", max_epochs=epochs, random_state=0, device=device
    ).fit(X, y)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measured = {"epoch_s": epoch_seconds(estimator), "peak_rss_mb": peak_kib / 1024}
    if on_gpu(device):
        measured["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return measured


def bench_scaling(
    configs: list[tuple[int, int]], epochs: int, device: str
) -> list[dict]:
    """Each configuration in a fresh subprocess, so its peak RSS is its own."""
    results = []
    for n_rows, n_contexts in configs:
        out = subprocess.run(
            [sys.executable, __file__, "--scaling-worker", str(n_rows)]
            + [str(n_contexts), str(epochs), "--device", device],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(
            {
                "rows": n_rows,
                "contexts": n_contexts,
                "epoch_median_s": statistics.median(measured["epoch_s"]),
                **measured,
            }
        )
    return results


# -- 4. overhead over a bare torch loop ---------------------------------------------


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a wall-clock time includes it."""
    if on_gpu(device):
        torch.cuda.synchronize()


def bare_torch_epochs(estimator, X, y, epochs: int) -> list[float]:
    """Train a fresh copy of the estimator's module with a plain loop, with
    the data on the estimator's device, as the estimator keeps it."""
    device = estimator.device
    table = TensorTable(estimator.encoder_.transform(X), device=device)
    target = torch.as_tensor(np.searchsorted(estimator.classes_, y), device=device)
    module = type(estimator.net_.module_)(**estimator.net_.get_params_for("module"))
    module.to(device)
    # The estimator's own optimizer settings (class, lr, decay, the bias
    # group, fused), built by its skorch net for the fresh module.
    net = estimator.net_
    args, kwargs = net.get_params_for_optimizer("optimizer", module.named_parameters())
    optimizer = net.optimizer(*args, **kwargs)
    generator = torch.Generator().manual_seed(0)
    durations = []
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        module.train()
        for _ in range(epochs):
            start = time.perf_counter()
            order = torch.randperm(len(target), generator=generator).to(device)
            for i in range(0, len(order), estimator.batch_size_):
                rows = order[i : i + estimator.batch_size_]
                optimizer.zero_grad()
                inputs, _ = table.rows(rows)
                logits = module(**inputs)
                loss = torch.nn.functional.cross_entropy(logits, target[rows])
                loss.backward()
                optimizer.step()
            synchronize(device)
            durations.append(time.perf_counter() - start)
    return durations


def bench_overhead(n_rows: int, epochs: int, device: str) -> dict:
    X, y = make_context_data(n_rows, 20)
    results = {}
    for cls in (HyperNetworkClassifier, ConcatClassifier):
        threads_before = torch.get_num_threads()
        estimator = cls(
            context_column="context", max_epochs=epochs, random_state=0, device=device
        )
        estimator_epochs = epoch_seconds(estimator.fit(X, y))
        bare_epochs = bare_torch_epochs(estimator, X, y, epochs)
        torch.set_num_threads(threads_before)
        estimator_s = statistics.median(estimator_epochs)
        bare_s = statistics.median(bare_epochs)
        results[cls.__name__] = {
            "rows": n_rows,
            "estimator_epoch_s": estimator_s,
            "bare_torch_epoch_s": bare_s,
            "ratio": estimator_s / bare_s,
        }
    return results


# -- 5. throughput side by side ------------------------------------------------

# The setting: 20 numeric features, 20 contexts.
THROUGHPUT_FEATURES = 20
THROUGHPUT_CONTEXTS = 20

# How a model's training rows/s is measured: per epoch (one pass over the
# data) where the model has epochs, else over one whole fit.
PER_EPOCH = "per epoch"
WHOLE_FIT = "whole fit"

# From this many rows up, one fit per model: a 1M-row fit is slow.
SINGLE_FIT_ROWS = 1_000_000


def lgbm_classifier() -> object:
    """``LGBMClassifier`` with its defaults, one thread; imported here so
    that the other sections run without ``lightgbm``."""
    try:
        from lightgbm import LGBMClassifier
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "The throughput section needs the 'lightgbm' package: pip install lightgbm"
        ) from error
    return LGBMClassifier(n_jobs=1, random_state=0, verbose=-1)


THROUGHPUT_MODELS = (
    "MLPClassifier((128, 64))",
    "HistGradientBoostingClassifier",
    "LGBMClassifier",
    "ConcatClassifier",
    "HyperNetworkClassifier",
)


def throughput_models(epochs: int, device: str, names: list[str] | None = None) -> dict:
    """The five models (or those in ``names``), each with how its training
    rows/s is measured.

    The networks keep their defaults (batch size included: the defaults are
    what is measured) except for a fixed number of epochs without early
    stopping and a fixed decay, so that every epoch is a plain training pass.
    MLPClassifier gets the same number of epochs (``max_iter``: three
    epochs took 0.17 s at 10k rows on one thread here, so about 20 s at 1M,
    no need to cut them there). The trees keep their defaults
    (HistGradientBoostingClassifier stops early above 10k rows, so the
    iterations of every fit are recorded).
    """
    numeric = [f"x{i}" for i in range(THROUGHPUT_FEATURES)]
    network = dict(
        context_column="context",
        max_epochs=epochs,
        early_stopping=False,
        weight_decay=0.1,
        random_state=0,
        device=device,
    )
    one_hot = make_column_transformer(
        (StandardScaler(), numeric), (OneHotEncoder(), ["context"])
    )
    ordinal = make_column_transformer(
        (OrdinalEncoder(), ["context"]), remainder="passthrough"
    )
    mlp = MLPClassifier((128, 64), max_iter=epochs, random_state=0)
    # The context comes first, as a native categorical.
    hgb = HistGradientBoostingClassifier(categorical_features=[0], random_state=0)
    builders = {
        "MLPClassifier((128, 64))": lambda: make_pipeline(one_hot, mlp),
        "HistGradientBoostingClassifier": lambda: make_pipeline(ordinal, hgb),
        # The context column is a pandas category: LightGBM's native categorical.
        "LGBMClassifier": lgbm_classifier,
        "ConcatClassifier": lambda: ConcatClassifier(**network),
        "HyperNetworkClassifier": lambda: HyperNetworkClassifier(**network),
    }
    units = dict.fromkeys(THROUGHPUT_MODELS, PER_EPOCH)
    units["HistGradientBoostingClassifier"] = units["LGBMClassifier"] = WHOLE_FIT
    # Built only when chosen: LGBMClassifier needs lightgbm.
    return {name: (builders[name](), units[name]) for name in names or builders}


def is_network(model) -> bool:
    return isinstance(model, HyperNetworkClassifier | ConcatClassifier)


def one_thread(model) -> contextlib.AbstractContextManager:
    """Hold ``model`` to one thread while it fits or predicts.

    HistGradientBoostingClassifier uses OpenMP threads (as do LightGBM and
    the BLAS under MLPClassifier): ``threadpool_limits(1)`` holds them to
    one. The networks hold themselves to one with their default
    ``n_threads=1`` (``torch.set_num_threads``) and run outside the limit:
    inside it torch reads one OpenMP thread, so the estimator leaves torch's
    setting alone, and MKL keeps its own default; torch training was then
    10-100 times slower here, erratically (epochs of 0.02 s took 0.1-2 s).
    """
    return contextlib.nullcontext() if is_network(model) else threadpool_limits(1)


def passes(model) -> int:
    """Iterations of the fitted model: epochs, or boosting rounds."""
    final = model[-1] if hasattr(model, "steps") else model
    return int(final.n_iter_)


def fit_throughput(model, X, y, synchronize_device: str) -> dict:
    """Fit ``model`` once; training rows/s per epoch (skorch's per-epoch
    durations for the networks, the fit time over the iterations for
    MLPClassifier) or over the whole fit (the trees)."""
    n_rows = len(X)
    start = time.perf_counter()
    model.fit(X, y)
    synchronize(synchronize_device)
    fit_s = time.perf_counter() - start
    run = {"fit_s": fit_s, "passes": passes(model)}
    if is_network(model):
        run["epoch_s"] = [float(d) for d in model.history_["dur"]]
        run["rows_per_s"] = n_rows / statistics.median(run["epoch_s"])
    elif hasattr(model, "steps") and isinstance(model[-1], MLPClassifier):
        # The whole pipeline's fit time, so this includes the preprocessing
        # (scaling and one-hot encoding, once per fit) spread over the epochs.
        run["rows_per_s"] = n_rows * run["passes"] / fit_s
    else:
        run["rows_per_s"] = n_rows / fit_s
    return run


def warm_up(models: dict, X, y) -> None:
    """One small fit and predict per model, so that first-call costs (lazy
    imports, thread pools, torch's kernels) stay out of the timed runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model, _ in models.values():
            with one_thread(model):
                clone(model).fit(X, y).predict_proba(X)


def throughput_at(
    n_rows: int, models: dict, fit_repeats: int, predict_repeats: int, device: str
) -> dict:
    """Every model at one size: ``fit_repeats`` fits (the last one kept for
    predict_proba), median training rows/s, median predict rows/s."""
    X, y = make_context_data(n_rows, THROUGHPUT_CONTEXTS, THROUGHPUT_FEATURES)
    results = {}
    for name, (model, unit) in models.items():
        with one_thread(model), warnings.catch_warnings():
            # MLPClassifier warns that a few epochs did not converge.
            warnings.simplefilter("ignore", ConvergenceWarning)
            runs = [fit_throughput(model, X, y, device) for _ in range(fit_repeats)]

        def predict(m=model):  # the last fit's model
            m.predict_proba(X)
            synchronize(device)

        with one_thread(model):
            predict_s, predict_runs = median_seconds(predict, predict_repeats)
        results[name] = {
            "rows": n_rows,
            "train_unit": unit,
            "train_rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
            "fit_runs": runs,
            "predict_median_s": predict_s,
            "predict_rows_per_s": n_rows / predict_s,
            "predict_runs_s": predict_runs,
        }
    return results


def bench_throughput(
    sizes: list[int],
    epochs: int,
    repeats: int,
    device: str,
    names: list[str] | None = None,
) -> dict:
    """All sizes, all models (or those in ``names``), in this one process and
    on one thread each (:func:`one_thread`), so that the ratios compare
    single-threaded work. From ``SINGLE_FIT_ROWS`` up, one fit per model;
    predict_proba always gets ``repeats`` runs."""
    results = {"features": THROUGHPUT_FEATURES, "contexts": THROUGHPUT_CONTEXTS}
    small = make_context_data(1_000, THROUGHPUT_CONTEXTS, THROUGHPUT_FEATURES)
    warm_up(throughput_models(1, device, names), *small)
    for n_rows in sizes:
        results[str(n_rows)] = throughput_at(
            n_rows,
            throughput_models(epochs, device, names),
            fit_repeats=1 if n_rows >= SINGLE_FIT_ROWS else min(repeats, 3),
            predict_repeats=repeats,
            device=device,
        )
    return results


# -- 6. the first fit in a fresh process ---------------------------------------


def first_and_second_fit() -> dict:
    """In this (fresh) process: the first and the second one-epoch fit on the
    sensor data, and whether torch._dynamo got imported."""
    X, y = sensor_xy()
    times = []
    for _ in range(2):
        estimator = HyperNetworkClassifier(
            context_column="sensor_type", max_epochs=1, random_state=0
        )
        start = time.perf_counter()
        estimator.fit(X, y)
        times.append(time.perf_counter() - start)
    return {
        "first_s": times[0],
        "second_s": times[1],
        "dynamo_imported": "torch._dynamo" in sys.modules,
    }


def bench_first_fit(repeats: int) -> dict:
    """``repeats`` fresh processes, each timing its first and second fit."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, __file__, "--first-fit-worker"],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    extra = [r["first_s"] - r["second_s"] for r in runs]
    return {"extra_s_median": statistics.median(extra), "runs": runs}


# -- 7. onnxruntime against predict_proba ----------------------------------------


def onnx_session(model):
    """An onnxruntime session on one thread; imported here so that the
    other sections run without ``onnxruntime``."""
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            'The onnx section needs onnx and onnxruntime: pip install "skhyper[onnx]"'
        ) from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def interleaved_seconds(runs: dict, repeats: int) -> dict:
    """Median wall time of each of ``runs`` (name -> callable), timed in
    turns, one call of each per round after a warm-up round, so that a
    change in the machine's load (it is shared) hits them alike."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def onnx_against_torch(estimator, X, repeats: int) -> dict:
    """Rows/s of predict_proba and of onnxruntime on the same rows."""
    model = skhyper.to_onnx(estimator, X)
    session = onnx_session(model)
    feed = skhyper.onnx_inputs(model, X)
    seconds = interleaved_seconds(
        {
            "torch": lambda: estimator.predict_proba(X),
            "run": lambda: session.run(None, feed),
            "feed_and_run": lambda: session.run(None, skhyper.onnx_inputs(model, X)),
        },
        repeats,
    )
    proba = session.run(None, feed)[1]
    return {
        "rows": len(X),
        "predict_proba_rows_per_s": len(X) / seconds["torch"],
        "onnxruntime_rows_per_s": len(X) / seconds["run"],
        "onnx_inputs_and_onnxruntime_rows_per_s": len(X) / seconds["feed_and_run"],
        "max_abs_difference": float(np.abs(proba - estimator.predict_proba(X)).max()),
    }


def onnx_forms(n_rows: int, repeats: int) -> dict:
    """onnxruntime rows/s of the grouped and the gathered form of the
    exported generated layer (``skhyper._onnx_graph.CONTEXT_FORM`` set to
    force each), at 20 and 250 contexts, on ``n_rows`` and on 1,000 rows."""
    from skhyper import _onnx_graph

    results = {}
    for n_contexts in (20, 250):
        X, y = make_context_data(max(n_rows, 2000), n_contexts)
        estimator = HyperNetworkClassifier(
            context_column="context",
            max_epochs=1,
            random_state=0,
            handle_unknown="learned",  # contexts missing from the 2000 rows
        ).fit(X[:2000], y[:2000])
        sessions = {}
        for form in ("grouped", "gathered"):
            _onnx_graph.CONTEXT_FORM = form
            try:
                model = skhyper.to_onnx(estimator)
            finally:
                _onnx_graph.CONTEXT_FORM = "auto"
            sessions[form] = onnx_session(model)
        for rows in sorted({1_000, n_rows}):
            feed = skhyper.onnx_inputs(model, X[:rows])
            seconds = interleaved_seconds(
                {
                    form: lambda s=session, f=feed: s.run(None, f)
                    for form, session in sessions.items()
                },
                repeats,
            )
            for form, median in seconds.items():
                results[f"{n_contexts} contexts, {form}, {rows:,} rows"] = rows / median
    results["grouped_max_contexts"] = _onnx_graph.GROUPED_MAX_CONTEXTS
    return results


def bench_onnx(sizes: list[int], repeats: int) -> dict:
    X, y = make_context_data(max(sizes), 20)
    results = {"contexts": 20, "features": X.shape[1] - 1}
    for cls in (HyperNetworkClassifier, ConcatClassifier):
        estimator = cls(context_column="context", max_epochs=1, random_state=0)
        estimator.fit(X[:2000], y[:2000])
        results[cls.__name__] = {
            str(n): onnx_against_torch(estimator, X[:n], repeats) for n in sizes
        }
    results["forms"] = onnx_forms(max(sizes), repeats)
    return results


# -- 8. a stream of partial_fit calls --------------------------------------------


def bench_stream(n_calls: int, window: int) -> dict:
    """Seconds per ``partial_fit`` call over a stream of small chunks, at
    its start and at its end (the model is the same throughout)."""
    X, y = make_context_data(64 * 8, 4, n_features=2)
    chunks = [(X[i : i + 64], y[i : i + 64]) for i in range(0, len(X), 64)]
    model = HyperNetworkClassifier(context_column="context", random_state=0)
    seconds = []
    for call in range(n_calls):
        chunk, labels = chunks[call % len(chunks)]
        start = time.perf_counter()
        model.partial_fit(chunk, labels, classes=[0, 1])
        seconds.append(time.perf_counter() - start)
    first = statistics.median(seconds[:window])
    last = statistics.median(seconds[-window:])
    return {
        "calls": n_calls,
        "rows_per_call": 64,
        "window": window,
        "first_call_ms": first * 1e3,
        "last_calls_ms": last * 1e3,
        "ratio": last / first,
    }


# -- report -------------------------------------------------------------------


def machine(device: str) -> dict:
    return {
        "device": device,
        "gpu": torch.cuda.get_device_name() if on_gpu(device) else None,
        "cpu": cpu_model(),
        # The vector instructions torch's CPU kernels dispatch to (AVX2,
        # AVX512, ...): figures from machines that differ here differ.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "torch_default_threads": torch.get_num_threads(),
        "estimator_threads": HyperNetworkClassifier().n_threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "skhyper": skhyper.__version__,
    }


def print_fit(report: dict) -> None:
    print(f"\n1. fit on the sensor data (median of {report['repeats']} runs)")
    base = report["fit"]["ConcatClassifier"]["median_s"]
    for name, r in report["fit"].items():
        ratio = r["median_s"] / base
        epochs = f"   {r['epochs']} epochs" if "epochs" in r else ""
        if "epoch_ms" in r:
            epochs += f", median epoch {r['epoch_ms']:.1f} ms"
        print(f"  {name:42s} {r['median_s']:7.3f} s   {ratio:5.2f}x concat{epochs}")


def print_predict(report: dict) -> None:
    print(f"\n2. predict_proba throughput (median of {report['repeats']} runs)")
    for name, r in report["predict"].items():
        faults = r.get("minor_page_faults_per_call")
        faults = "" if faults is None else f", {faults:,} page faults per call"
        rate = f"{r['rows_per_s']:12,.0f} rows/s"
        print(f"  {name:42s} {rate}  ({r['rows']:,} rows{faults})")


def print_scaling(report: dict) -> None:
    print("\n3. HyperNetworkClassifier scaling (median epoch, peak RSS)")
    for r in report["scaling"]:
        gpu = f"  {r['peak_gpu_mb']:7.0f} MB GPU" if "peak_gpu_mb" in r else ""
        print(
            f"  {r['rows']:>9,} rows {r['contexts']:>5} contexts  "
            f"{r['epoch_median_s']:8.3f} s/epoch  {r['peak_rss_mb']:7.0f} MB{gpu}"
        )


def print_overhead(report: dict) -> None:
    print("\n4. estimator epoch vs bare torch loop (median epoch)")
    for name, r in report["overhead"].items():
        print(
            f"  {name:42s} {r['estimator_epoch_s']:.3f} s vs "
            f"{r['bare_torch_epoch_s']:.3f} s  = {r['ratio']:.2f}x"
        )


def print_throughput(report: dict) -> None:
    t = report["throughput"]
    print(
        f"\n5. throughput, {t['features']} features, {t['contexts']} contexts, "
        "one thread each (training: median of the fits' rows/s; predict_proba: "
        "median of runs)"
    )
    for size, models in t.items():
        if not size.isdigit():
            continue
        hyper = models["HyperNetworkClassifier"]
        print(
            f"  {int(size):,} rows".ljust(36) + f"{'training rows/s':>24s}"
            f"  {'vs hyper':>8s}  {'predict rows/s':>14s}  {'vs hyper':>8s}"
            "  iterations per fit"
        )
        for name, r in models.items():
            train = r["train_rows_per_s"]
            predict = r["predict_rows_per_s"]
            iterations = ", ".join(str(run["passes"]) for run in r["fit_runs"])
            print(
                f"    {name:32s} {train:12,.0f} {r['train_unit']:>10s}  "
                f"{train / hyper['train_rows_per_s']:7.2f}x  {predict:14,.0f}  "
                f"{predict / hyper['predict_rows_per_s']:7.2f}x  {iterations}"
            )
    print(
        "    per epoch: one pass over the data (MLPClassifier: its fit time, "
        "preprocessing included, over its epochs); whole fit: rows / fit time"
    )


def print_first_fit(report: dict) -> None:
    r = report["first_fit"]
    print(f"\n6. first fit in a fresh process ({len(r['runs'])} processes)")
    for run in r["runs"]:
        print(
            f"  first {run['first_s']:.3f} s, second {run['second_s']:.3f} s, "
            f"torch._dynamo imported: {run['dynamo_imported']}"
        )
    print(f"  median extra cost of the first fit: {r['extra_s_median']:.3f} s")


def print_onnx(report: dict) -> None:
    r = report["onnx"]
    print(
        f"\n7. onnxruntime vs predict_proba, {r['features']} features, "
        f"{r['contexts']} contexts, one thread each (rows/s, median of runs)"
    )
    print(
        f"  {'':32s} {'rows':>9s} {'predict_proba':>14s} {'onnxruntime':>12s} "
        f"{'ratio':>6s} {'+onnx_inputs':>13s} {'max |diff|':>11s}"
    )
    for name in ("HyperNetworkClassifier", "ConcatClassifier"):
        for run in r[name].values():
            torch_rate = run["predict_proba_rows_per_s"]
            onnx_rate = run["onnxruntime_rows_per_s"]
            print(
                f"  {name:32s} {run['rows']:>9,} {torch_rate:>14,.0f} "
                f"{onnx_rate:>12,.0f} {onnx_rate / torch_rate:>5.2f}x "
                f"{run['onnx_inputs_and_onnxruntime_rows_per_s']:>13,.0f} "
                f"{run['max_abs_difference']:>11.1e}"
            )
    forms = r["forms"]
    limit = forms["grouped_max_contexts"]
    print(f"  exported generated layer (grouped up to {limit} combinations):")
    for name, rate in forms.items():
        if name != "grouped_max_contexts":
            print(f"    {name:40s} {rate:12,.0f} rows/s")


def print_stream(report: dict) -> None:
    r = report["stream"]
    print(
        f"\n8. partial_fit over {r['calls']:,} calls of {r['rows_per_call']} rows "
        f"(median of each end's {r['window']} calls)"
    )
    print(
        f"  first calls {r['first_call_ms']:.2f} ms, last calls "
        f"{r['last_calls_ms']:.2f} ms  = {r['ratio']:.2f}x"
    )


SECTION_PRINTERS = {
    "fit": print_fit,
    "predict": print_predict,
    "scaling": print_scaling,
    "overhead": print_overhead,
    "throughput": print_throughput,
    "first_fit": print_first_fit,
    "onnx": print_onnx,
    "stream": print_stream,
}


def print_report(report: dict) -> None:
    m = report["machine"]
    if m.get("gpu"):
        print(f"networks on {m['device']}: {m['gpu']}")
    print(
        f"machine: {m.get('cpu', 'CPU not recorded')} "
        f"({m.get('cpu_capability', '?')}), {m['cpu_count']} cores, "
        "torch default threads "
        f"{m['torch_default_threads']}, estimators use {m['estimator_threads']}; "
        f"torch {m['torch']}, skorch {m['skorch']}, scikit-learn {m['scikit-learn']}"
    )
    for section, print_section in SECTION_PRINTERS.items():
        if section in report:
            print_section(report)


def run(args) -> dict:
    if args.smoke:
        scaling = [(2_000, 20), (4_000, 20), (4_000, 100)]
        sizes = {"predict_rows": 5_000, "overhead_rows": 2_000, "epochs": 2}
        throughput = {"sizes": [2_000, 5_000], "epochs": 2}
        onnx_sizes = [1_000, 5_000]
        stream = {"n_calls": 40, "window": 10}
    else:
        scaling = [
            (10_000, 20),
            (100_000, 20),
            (1_000_000, 20),
            (100_000, 10),
            (100_000, 100),
            (100_000, 1_000),
        ]
        sizes = {"predict_rows": 100_000, "overhead_rows": 20_000, "epochs": 5}
        throughput = {"sizes": [10_000, 100_000, 1_000_000], "epochs": 3}
        onnx_sizes = [1_000, 100_000]
        stream = {"n_calls": 5_000, "window": 200}
    sections = {
        "fit": lambda: bench_fit(args.repeats, args.smoke, args.device),
        "predict": lambda: bench_predict(
            args.repeats, sizes["predict_rows"], args.device
        ),
        "scaling": lambda: bench_scaling(scaling, sizes["epochs"], args.device),
        "overhead": lambda: bench_overhead(
            sizes["overhead_rows"], sizes["epochs"], args.device
        ),
        "throughput": lambda: bench_throughput(
            throughput["sizes"],
            throughput["epochs"],
            args.repeats,
            args.device,
            args.models,
        ),
        "first_fit": lambda: bench_first_fit(args.repeats),
        "onnx": lambda: bench_onnx(onnx_sizes, args.repeats),
        "stream": lambda: bench_stream(**stream),
    }
    report = {
        "command": " ".join(["python", "benchmarks/bench_speed.py", *sys.argv[1:]]),
        "machine": machine(args.device),
        "repeats": args.repeats,
    }
    for name in args.sections:
        report[name] = sections[name]()
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--device", default="cpu", help="the networks' torch device, e.g. cuda"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=list(SECTION_PRINTERS),
        default=list(SECTION_PRINTERS),
        help="which sections to run (default: all)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=THROUGHPUT_MODELS,
        help="the throughput section's models (default: all five; must "
        "include HyperNetworkClassifier, the one the ratios are to)",
    )
    parser.add_argument("--scaling-worker", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--first-fit-worker", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.models and "HyperNetworkClassifier" not in args.models:
        parser.error("--models must include HyperNetworkClassifier")
    if args.first_fit_worker:
        print(json.dumps(first_and_second_fit()))
        return
    if args.scaling_worker:
        print(json.dumps(fit_for_scaling(*args.scaling_worker, args.device)))
        return
    if args.smoke:
        args.repeats = min(args.repeats, 2)
    report = run(args)
    print_report(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nraw numbers: {args.output}")


if __name__ == "__main__":
    main()
