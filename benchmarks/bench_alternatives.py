"""What would make the hypernetwork faster? Fit time of a few settings on the
sensor data, and the predict forward pass in float32 vs float64.

Run from the repository root::

    python benchmarks/bench_alternatives.py

Each figure is the median of 3 runs after a warm-up run, in one process.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import make_context_data, median_seconds  # noqa: E402

from skhyper import ConcatClassifier, HyperNetworkClassifier  # noqa: E402
from skhyper._data import TensorTable  # noqa: E402
from skhyper.datasets import make_sensor_data  # noqa: E402

PREDICT_ROWS = 100_000
BATCH = 8192


def median_of_3(run) -> float:
    return median_seconds(run, repeats=3)[0]


def fit_times() -> None:
    frame = make_sensor_data()
    X, y = frame.drop(columns="anomaly"), frame["anomaly"]
    settings = {
        "ConcatClassifier (defaults)": ConcatClassifier("sensor_type"),
        "HyperNetworkClassifier (defaults)": HyperNetworkClassifier("sensor_type"),
        "  batch_size=256": HyperNetworkClassifier("sensor_type", batch_size=256),
        "  hidden_size=output_size=64": HyperNetworkClassifier(
            "sensor_type", hidden_size=64, output_size=64
        ),
        "  dropout=0": HyperNetworkClassifier("sensor_type", dropout=0.0),
    }
    for name, model in settings.items():
        model.set_params(random_state=0)
        print(f"{name:40s} fit {median_of_3(lambda m=model: m.fit(X, y)):.3f} s")


def forward_times() -> None:
    X, y = make_context_data(PREDICT_ROWS, 20)
    model = HyperNetworkClassifier("context", max_epochs=1, random_state=0)
    model.fit(X[:2000], y[:2000])
    inputs = TensorTable(model.encoder_.transform(X)).inputs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def forward(dtype):
        network = copy.deepcopy(model.net_.module_).to(dtype).eval()
        generated = network.predicting_weights()
        typed = {k: v.to(dtype) if k == "numeric" else v for k, v in inputs.items()}
        with torch.inference_mode():
            for i in range(0, PREDICT_ROWS, BATCH):
                batch = {k: v[i : i + BATCH] for k, v in typed.items()}
                network(**batch, generated=generated)

    for dtype in (torch.float32, torch.float64):
        seconds = median_of_3(lambda d=dtype: forward(d))
        print(
            f"hypernetwork forward, {PREDICT_ROWS:,} rows, {dtype}: "
            f"{seconds:.3f} s = {PREDICT_ROWS / seconds:,.0f} rows/s"
        )
    torch.set_num_threads(threads)


if __name__ == "__main__":
    fit_times()
    forward_times()
