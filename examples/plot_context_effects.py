"""
How does each feature move the prediction, per context?
=======================================================

In the sensor data, what makes a reading an anomaly depends on the sensor
type: ``sensor_a > 2.5`` for temperature, ``sensor_b < -0.5`` for pressure,
``sensor_a + sensor_b + sensor_c > 0`` for humidity. A
:class:`~skhyper.HyperNetworkClassifier` is fitted on it, and
``explain`` splits each held-out row's log-odds of an anomaly into one
contribution per sensor, within the row's sensor type (integrated gradients
from the average reading). :func:`~skhyper.plot_context_effects` then draws
the contributions per sensor type: one panel per feature, and a heatmap of
their mean size.

Needs matplotlib (``pip install -e ".[plot]"``). Run from the repository
root; ``--out`` saves ``context_effects.png`` and
``context_effects_heatmap.png`` in that folder instead of showing them::

    python examples/plot_context_effects.py --out plots
    SKHYPER_SMOKE=1 python examples/plot_context_effects.py --out /tmp/plots
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from skhyper import HyperNetworkClassifier, plot_context_effects
from skhyper.datasets import make_sensor_data


def parse_args() -> argparse.Namespace:
    """``--out`` and ``--max-epochs``; ``--smoke`` (or ``SKHYPER_SMOKE=1``)
    means 2 epochs."""
    parser = argparse.ArgumentParser(description="Feature effects per context.")
    parser.add_argument(
        "--out", type=Path, default=None, help="save the pictures in this folder"
    )
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="2 epochs")
    args = parser.parse_args()
    if args.max_epochs is None:
        smoke = args.smoke or os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0")
        args.max_epochs = 2 if smoke else 200
    return args


ARGS = parse_args()
if ARGS.out is not None:
    plt.switch_backend("Agg")  # files only, no window
    ARGS.out.mkdir(parents=True, exist_ok=True)


def save(fig, name: str) -> None:
    """Write ``fig`` to ``--out`` when it was given (the gallery shows it)."""
    if ARGS.out is not None:
        fig.savefig(ARGS.out / name, dpi=110)


# %%
# Fit, and explain the held-out rows
# ----------------------------------
# The contributions of a row add up to its log-odds minus the baseline's
# (the average reading, in the row's own sensor type):
# ``max_completeness_gap`` says how closely.

frame = make_sensor_data()
X, y = frame.drop(columns="anomaly"), frame["anomaly"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
model = HyperNetworkClassifier(
    "sensor_type", max_epochs=ARGS.max_epochs, random_state=0
).fit(X_train, y_train)
explanation = model.explain(X_test)
print(explanation.attrs["output"])
print(f"largest completeness gap: {explanation.attrs['max_completeness_gap']:.1e}")

# %%
# Which sensor matters for which type
# -----------------------------------
# The mean absolute contribution of each sensor, by sensor type: each type
# should lean on the sensors its rule uses.

features = ["sensor_a", "sensor_b", "sensor_c"]
by_type = explanation[features].abs().groupby(X_test["sensor_type"]).mean()
print(by_type.round(2))

# %%
# The effect of each feature, side by side
# ----------------------------------------
# One panel per sensor: each point is a held-out row, at the sensor's
# reading (x) and its contribution to the log-odds (y), coloured by sensor
# type. The same reading pushes the prediction differently in each type.

fig = plot_context_effects(model, X_test, explanation=explanation)
save(fig, "context_effects.png")

# %%
# The same, as a heatmap of mean absolute contributions.

fig = plot_context_effects(model, X_test, kind="heatmap", explanation=explanation)
save(fig, "context_effects_heatmap.png")

if ARGS.out is not None:
    print(f"pictures in {ARGS.out}/")
else:
    plt.show()
