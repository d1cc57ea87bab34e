"""
What did the hypernetwork learn per context?
============================================

Fits a :class:`~skhyper.HyperNetworkClassifier` on the reference sensor data
(with early stopping and a fixed weight decay, so that there is a
validation curve) and draws three
pictures: the weight matrix each sensor type generates, the learned context
embeddings in 2-D, and the training and validation loss per epoch.

Needs matplotlib (``pip install -e ".[plot]"``). Run from the repository
root; ``--out`` saves the pictures as ``context_weights.png``,
``context_embeddings.png`` and ``learning_curves.png`` in that folder
instead of showing them::

    python examples/plot_context_weights.py --out plots
    python examples/plot_context_weights.py --max-epochs 2 --out /tmp/plots
    SKHYPER_SMOKE=1 python examples/plot_context_weights.py --out /tmp/plots
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skhyper import HyperNetworkClassifier
from skhyper.datasets import make_sensor_data


def parse_args() -> argparse.Namespace:
    """``--out`` and ``--max-epochs``; ``--smoke`` (or ``SKHYPER_SMOKE=1``)
    means 2 epochs."""
    parser = argparse.ArgumentParser(description="Pictures of what was learned.")
    parser.add_argument(
        "--out", type=Path, default=None, help="save the pictures in this folder"
    )
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="2 epochs")
    args = parser.parse_args()
    if args.max_epochs is None:
        smoke = args.smoke or os.environ.get("SKHYPER_SMOKE", "0") not in ("", "0")
        args.max_epochs = 2 if smoke else 100
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
# Fit
# ---
# Small matrices (``hidden_size=32``, ``output_size=32``) are easier to
# look at than the default 128 x 128.

frame = make_sensor_data()
X, y = frame.drop(columns="anomaly"), frame["anomaly"]
model = HyperNetworkClassifier(
    context_column="sensor_type",
    hidden_size=32,
    output_size=32,
    max_epochs=ARGS.max_epochs,
    early_stopping=True,
    # Fixed: "auto" may keep a second fit trained without the validation
    # split, whose history has no validation curve to draw.
    weight_decay=0.5,
    n_iter_no_change=20,
    random_state=0,
).fit(X, y)
print(f"{model.n_iter_} epochs")

# %%
# The generated weights
# ---------------------
# Top row: the matrix ``W(c)`` that each sensor type generates. Bottom row:
# how each differs from their mean, which is the context-specific part.

contexts = list(model.context_categories_)
weights = np.stack([model.generated_weights(c)[0] for c in contexts])
deviations = weights - weights.mean(axis=0)
fig, axes = plt.subplots(
    2, len(contexts), figsize=(4 * len(contexts), 7), layout="constrained"
)
for row, (matrices, title) in enumerate(
    [(weights, "generated W(c)"), (deviations, "W(c) - mean over contexts")]
):
    limit = np.abs(matrices).max()
    for ax, context, matrix in zip(axes[row], contexts, matrices, strict=True):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{context}: {title}", fontsize=9)
        ax.set_xlabel("output unit")
    axes[row][0].set_ylabel("projected input unit")
    fig.colorbar(image, ax=axes[row].tolist(), shrink=0.8)
save(fig, "context_weights.png")

# %%
# The context embeddings
# ----------------------
# The two main directions of the embeddings (PCA by SVD).

embeddings = model.context_embeddings_
centred = embeddings.to_numpy() - embeddings.to_numpy().mean(axis=0)
_, _, directions = np.linalg.svd(centred, full_matrices=False)
points = centred @ directions[:2].T
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(points[:, 0], points[:, 1], s=80)
for (x, y_), label in zip(points, embeddings.index, strict=True):
    ax.annotate(str(label), (x, y_), textcoords="offset points", xytext=(6, 6))
ax.margins(0.25)  # room for the labels
ax.set_title("context embeddings (first two principal axes)")
ax.set_xlabel("axis 1")
ax.set_ylabel("axis 2")
fig.tight_layout()
save(fig, "context_embeddings.png")

# %%
# Learning curves
# ---------------
# ``history_`` has one row per epoch: the training and validation loss, and
# the score early stopping minimised (``valid_monitor``: 1 - ROC AUC plus a
# hundredth of the log loss). The dotted line marks the lowest of that
# score: the epoch whose weights early stopping kept, unless a later epoch
# came within ``tol`` of it.

history = model.history_
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(history.index, history["train_loss"], label="training loss")
if "valid_loss" in history:
    ax.plot(history.index, history["valid_loss"], label="validation loss")
    best = history[
        "valid_monitor" if "valid_monitor" in history else "valid_loss"
    ].idxmin()
    ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy")
ax.set_yscale("log")
ax.legend()
fig.tight_layout()
save(fig, "learning_curves.png")

if ARGS.out is not None:
    print(f"pictures in {ARGS.out}/")
else:
    plt.show()
