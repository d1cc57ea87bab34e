"""
Sensor anomalies: a hypernetwork against concat, honestly evaluated
===================================================================

This is the data of Ludwig's hypernetwork combiner page: three sensor types
share the readings ``sensor_a``, ``sensor_b`` and ``sensor_c``, but what
counts as an anomaly depends on the type. The ``sensor_type`` column is the
context. :class:`~skhyper.HyperNetworkClassifier` lets it generate a layer's
weights; :class:`~skhyper.ConcatClassifier` concatenates its embedding with
the readings instead.

Run it from the repository root::

    python examples/sensor_anomaly.py                   # full run, minutes
    python examples/sensor_anomaly.py --smoke           # 2 folds, 2 epochs
    SKHYPER_SMOKE=1 python examples/sensor_anomaly.py   # the same smoke run
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedKFold, cross_validate

from skhyper import ConcatClassifier, HyperNetworkClassifier
from skhyper.datasets import make_sensor_data

CONTEXT = "sensor_type"
TARGET = "anomaly"
SEED = 0


def smoke_mode() -> bool:
    """``--smoke`` on the command line or ``SKHYPER_SMOKE=1``: a quick run."""
    parser = argparse.ArgumentParser(description="Sensor anomalies, evaluated.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2 folds and 2 epochs: a quick check that the example runs",
    )
    from_environment = os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0")
    return parser.parse_args().smoke or from_environment


SMOKE = smoke_mode()

# %%
# The data
# --------
# Only 1.8% of the rows are anomalies, so always answering "no anomaly"
# scores 0.982 accuracy. Accuracy therefore cannot tell the models apart.
# The reference page's "expected" accuracies (0.7812 and 0.9234) are below
# that, and its sample is drawn from the training data, so they cannot be
# reproduced.

data = make_sensor_data()
X, y = data.drop(columns=TARGET), data[TARGET]
n_anomalies = int(y.sum())
prevalence = n_anomalies / len(y)
print("Sensor anomaly data (skhyper.datasets.make_sensor_data, seed 42)")
print(f"  rows: {len(y)}   anomalies: {n_anomalies}   prevalence: {prevalence:.3f}")
print(f"  majority-class accuracy: {1 - prevalence:.3f}")
print(
    "  The reference page's 'expected' accuracies (0.7812 / 0.9234) are below"
    " that\n  and come from an in-sample sample, so they cannot be reproduced."
)

# %%
# The models
# ----------
# "concat" and "hypernetwork" use the reference page's recipe: sizes
# 128/64/128, learning rate 0.001, 30 epochs, no weight decay, no weight
# averaging, no pooling. Each "defaults" row below them is the same network
# with skhyper's defaults, which choose the training budget and the weight
# decay on a validation split. "+ balanced" is the hypernetwork's defaults
# with ``class_weight="balanced"``, which weights the rare class up in the
# loss; "full rank" generates the whole weight matrix, as Ludwig's combiner
# does, instead of skhyper's default rank-8 update (page recipe otherwise).


def make_models(smoke: bool) -> list[tuple[str, object]]:
    """The estimators to compare, with their row labels."""
    page = {
        "max_epochs": 30,
        "early_stopping": False,
        "weight_decay": 0.0,
        "weight_averaging": 0.0,
    }
    defaults = {"context_column": CONTEXT, "random_state": SEED}
    if smoke:
        defaults["max_epochs"] = page["max_epochs"] = 2  # page's wins in merges
    hyper = {"hidden_size": 128, "hyper_hidden_size": 64, "output_size": 128}
    # The page pools nothing; its settings override the defaults' max_epochs.
    hyper_page = {**defaults, **hyper, **page, "context_pooling": 0.0}
    concat_page = {**defaults, "hidden_layer_sizes": (128, 64), **page}
    return [
        ("majority class", DummyClassifier(strategy="most_frequent")),
        ("concat", ConcatClassifier(**concat_page)),
        ("  defaults", ConcatClassifier(**defaults)),
        ("hypernetwork", HyperNetworkClassifier(**hyper_page)),
        ("  defaults", HyperNetworkClassifier(**defaults)),
        (
            "  + balanced",
            HyperNetworkClassifier(class_weight="balanced", **defaults),
        ),
        (
            "  full rank",
            HyperNetworkClassifier(generator_rank=None, **hyper_page),
        ),
    ]


# %%
# Cross-validation
# ----------------
# Each model is scored by ROC AUC, average precision, balanced accuracy and
# accuracy (shown, never trusted), as mean ± standard deviation over
# stratified folds, next to a majority-class baseline. With about 7
# anomalies per fold the spread between folds is large, so small
# differences between the models are not meaningful.

# (column title, cross_validate scorer)
METRICS = (
    ("ROC AUC", "roc_auc"),
    ("avg precision", "average_precision"),
    ("balanced acc", "balanced_accuracy"),
    ("accuracy", "accuracy"),
)
NAME_WIDTH = 14
CELL_WIDTH = 15


def format_header() -> str:
    """The table's column titles."""
    titles = "".join(f"{title:>{CELL_WIDTH}}" for title, _ in METRICS)
    return f"{'model':<{NAME_WIDTH}}{titles}{'fit s':>8}"


def format_row(name: str, scores: dict) -> str:
    """One table row: mean ± std for each metric, median fit seconds."""
    cells = [
        f"{scores[f'test_{scorer}'].mean():.3f} ± {scores[f'test_{scorer}'].std():.3f}"
        for _, scorer in METRICS
    ]
    fit_seconds = f"{np.median(scores['fit_time']):.2f}"
    return (
        f"{name:<{NAME_WIDTH}}"
        + "".join(f"{cell:>{CELL_WIDTH}}" for cell in cells)
        + f"{fit_seconds:>8}"
    )


n_folds = 2 if SMOKE else 5
cv = StratifiedKFold(n_folds, shuffle=True, random_state=0)
scorers = [scorer for _, scorer in METRICS]
print(
    f"\nStratified {n_folds}-fold cross-validation"
    " (mean ± std over folds; fit s: median per fold)"
)
if SMOKE:  # the gallery of CI shows this run: say what its numbers are
    print("SMOKE RUN (2 folds, 2 epochs): not the scores of the full run")
print()
header = format_header()
print(header)
print("-" * len(header))
for name, model in make_models(SMOKE):
    scores = cross_validate(model, X, y, cv=cv, scoring=scorers, n_jobs=1)
    print(format_row(name, scores), flush=True)

# %%
# Reading the table
# -----------------
# The full run's table, and what it says about the defaults, is in the
# README ("The reference example, honestly"). The ranking metrics, not
# accuracy, separate the models: on this data the page's recipe is at least
# as good as the defaults, whose validation split of a training fold holds
# only about three anomalies to choose between two decays.
