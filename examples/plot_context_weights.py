"""What did the hypernetwork learn per context? Three pictures.

Fits a :class:`~skhyper.HyperNetworkClassifier` on the reference sensor data
(with early stopping, so that there is a validation curve) and saves

* ``context_weights.png``: the weight matrix each sensor type generates, side
  by side, and the differences from their mean;
* ``context_embeddings.png``: the learned context embeddings in 2-D;
* ``learning_curves.png``: training and validation loss per epoch, from
  ``history_``.

Needs matplotlib (``pip install -e ".[plot]"``). Run from the repository
root::

    python examples/plot_context_weights.py --out plots
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skhyper import HyperNetworkClassifier  # noqa: E402
from skhyper.datasets import make_sensor_data  # noqa: E402


def fit_model(max_epochs: int) -> HyperNetworkClassifier:
    frame = make_sensor_data()
    X, y = frame.drop(columns="anomaly"), frame["anomaly"]
    model = HyperNetworkClassifier(
        context_column="sensor_type",
        hidden_size=32,  # small matrices are easier to look at
        output_size=32,
        max_epochs=max_epochs,
        early_stopping=True,
        n_iter_no_change=20,
        random_state=0,
    )
    return model.fit(X, y)


def plot_weights(model, path: Path) -> None:
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_embeddings(model, path: Path) -> None:
    embeddings = model.context_embeddings_
    centred = embeddings.to_numpy() - embeddings.to_numpy().mean(axis=0)
    # The two main directions of the embeddings (PCA by SVD).
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    points = centred @ directions[:2].T
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(points[:, 0], points[:, 1], s=80)
    for (x, y), label in zip(points, embeddings.index, strict=True):
        ax.annotate(str(label), (x, y), textcoords="offset points", xytext=(6, 6))
    ax.margins(0.25)  # room for the labels
    ax.set_title("context embeddings (first two principal axes)")
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(model, path: Path) -> None:
    history = model.history_
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history.index, history["train_loss"], label="training loss")
    ax.plot(history.index, history["valid_loss"], label="validation loss")
    best = history["valid_loss"].idxmin()
    ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("plots"))
    parser.add_argument("--max-epochs", type=int, default=100)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    model = fit_model(args.max_epochs)
    plot_weights(model, args.out / "context_weights.png")
    plot_embeddings(model, args.out / "context_embeddings.png")
    plot_learning_curves(model, args.out / "learning_curves.png")
    print(f"{model.n_iter_} epochs; pictures in {args.out}/")


if __name__ == "__main__":
    main()
