"""Which training defaults should the networks have? A grid of candidate
settings on the quality benchmark's tuning half (round 5).

Run from the repository root::

    python benchmarks/compare_defaults.py           # the grid, ~30 min on 2 cores
    python benchmarks/compare_defaults.py --smoke   # CI: 2 tasks, 2 folds

Each network is cross-validated (stratified 5-fold, ``random_state=0``) on
the tasks of the benchmark's **tuning half** (``quality_data.py`` fixes the
split by a seeded draw) with every setting of ``GRID`` and all other
parameters at their defaults. Each network's default is the setting with
the highest mean ROC AUC over those tasks: one setting for all tasks, never
a per-task choice. The confirmation half is never seen here;
``bench_quality.py`` reports the chosen defaults on it.

It prints markdown tables (ROC AUC, log loss and median fit seconds, one
row per network and setting, one column per task) and writes every score to
``benchmarks/results/compare_defaults.json``. ``docs/defaults.md`` quotes
the tables and says what was chosen and why.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold, cross_validate

sys.path.insert(0, str(Path(__file__).parent))
from bench_quality import scoring  # noqa: E402
from quality_data import TASKS, Task  # noqa: E402

from skhyper import ConcatClassifier, HyperNetworkClassifier  # noqa: E402

# Round 4's defaults: a fixed budget of 30 epochs, strong decay, averaging.
ROUND_4 = {
    "max_epochs": 30,
    "early_stopping": False,
    "weight_averaging": 0.3,
    "weight_decay": 7.0,
    "context_pooling": 0.0,
}
# Round 5 candidates (see docs/defaults.md for how they came about).
GRID = {
    "hypernetwork": {
        "round 4": ROUND_4,
        # Pooling was off by default when this grid ran; it is named here so
        # that a rerun scores the same settings.
        "auto": {"weight_decay": "auto", "context_pooling": 0.0},
        "auto, pooling 300": {"weight_decay": "auto", "context_pooling": 300.0},
        "auto, piecewise linear": {
            "weight_decay": "auto",
            "context_pooling": 0.0,
            "numeric_encoding": "piecewise_linear",
        },
        "auto, quantile": {
            "weight_decay": "auto",
            "context_pooling": 0.0,
            "numeric_encoding": "quantile",
        },
    },
    "concat": {
        "round 4": {
            **{k: v for k, v in ROUND_4.items() if k != "context_pooling"},
            "weight_decay": 5.0,
            "weight_averaging": 0.0,
        },
        "auto": {"weight_decay": "auto"},
        "auto, piecewise linear": {
            "weight_decay": "auto",
            "numeric_encoding": "piecewise_linear",
        },
    },
}
NETWORKS = {"hypernetwork": HyperNetworkClassifier, "concat": ConcatClassifier}
LABELS = {"hypernetwork": "HN", "concat": "concat"}
RESULTS = Path(__file__).parent / "results" / "compare_defaults.json"


def load(task: Task, smoke: bool, seed: int | None):
    kwargs = dict(task.smoke_kwargs or {}) if smoke else {}
    if seed is not None:
        kwargs["seed"] = seed
    return task.load(**kwargs)


def score(task: Task, network: str, setting: str, folds: int, smoke: bool) -> dict:
    """Cross-validated mean AUC and log loss of one network on one task."""
    X, y = load(task, smoke, seed=None)
    model = NETWORKS[network](task.context, random_state=0)
    model.set_params(**GRID[network][setting])
    if smoke:
        model.set_params(max_epochs=4)
    return cross_validated(model, X, y, folds)


def fold_results(model, X, y, folds: int) -> dict:
    """scikit-learn's ``cross_validate`` record (ROC AUC, log loss, times
    per fold) of ``model`` over stratified ``folds``-fold CV with
    ``random_state=0``: the folds on which the defaults are chosen."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return cross_validate(model, X, y, cv=cv, scoring=scoring(y))


def cross_validated(model, X, y, folds: int) -> dict:
    """Mean AUC (and its spread), mean log loss and median fit seconds of
    ``model`` over :func:`fold_results`' folds."""
    result = fold_results(model, X, y, folds)
    return {
        "auc": float(result["test_roc_auc"].mean()),
        "auc_std": float(result["test_roc_auc"].std()),
        "log_loss": float(-result["test_neg_log_loss"].mean()),
        "fit_s": float(np.median(result["fit_time"])),
    }


def run(jobs: list, folds: int, smoke: bool, n_jobs: int) -> list[dict]:
    """Score every ``(task, network, setting)`` job."""
    scores = Parallel(n_jobs=n_jobs)(
        delayed(score)(task, network, setting, folds, smoke)
        for task, network, setting in jobs
    )
    return [
        {"task": task.name, "network": network, "setting": setting, **result}
        for (task, network, setting), result in zip(jobs, scores, strict=True)
    ]


def choose(rows: list[dict], network: str) -> str:
    """The setting (among those scored) with the highest mean AUC over the
    tuning tasks."""
    scores: dict[str, list[float]] = {}
    for r in rows:
        if r["network"] == network:
            scores.setdefault(r["setting"], []).append(r["auc"])
    return max(scores, key=lambda setting: np.mean(scores[setting]))


def table(rows: list[dict], tasks: list[Task], metric: str) -> str:
    """Markdown: one row per (network, setting), one column per task, and
    the mean (median for fit seconds) over the tasks."""
    cell = {(r["network"], r["setting"], r["task"]): r[metric] for r in rows}
    summary = np.median if metric == "fit_s" else np.mean
    lines = [
        "| network | setting | " + " | ".join(t.name for t in tasks) + " | all |",
        "|---|---|" + "---|" * (len(tasks) + 1),
    ]
    pairs = dict.fromkeys((r["network"], r["setting"]) for r in rows)
    for network, setting in pairs:
        values = [cell[network, setting, t.name] for t in tasks]
        digits = 2 if metric == "fit_s" else 3
        lines.append(
            f"| {LABELS[network]} | {setting} | "
            + " | ".join(f"{v:.{digits}f}" for v in values)
            + f" | **{summary(values):.{digits}f}** |"
        )
    return "\n".join(lines)


def parse_args(argv, description: str, output: Path) -> argparse.Namespace:
    """``--smoke``, ``--n-jobs`` and ``--output`` (default ``output``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=output)
    return parser.parse_args(argv)


def tasks_and_folds(smoke: bool, half: str = "tuning") -> tuple[list[Task], int]:
    """The tasks of ``half`` (defaults are chosen on the tuning half only) and
    5 folds; in smoke mode that half's first 2 small tasks and 2 folds."""
    tasks = [t for t in TASKS if t.half == half]
    if smoke:
        return [t for t in tasks if t.smoke_kwargs is not None][:2], 2
    return tasks, 5


def main(argv=None) -> None:
    args = parse_args(argv, __doc__.splitlines()[0], RESULTS)
    tasks, folds = tasks_and_folds(args.smoke)
    grid = {
        network: list(settings)[:: len(settings) - 1] if args.smoke else settings
        for network, settings in GRID.items()
    }
    start = time.perf_counter()
    rows = run(
        [(t, n, s) for n, settings in grid.items() for s in settings for t in tasks],
        folds,
        args.smoke,
        args.n_jobs,
    )
    chosen = {n: choose(rows, n) for n in NETWORKS}
    print(f"{len(rows)} cross-validations in {time.perf_counter() - start:.0f} s")
    print("chosen: " + ", ".join(f"{n}: {s}" for n, s in chosen.items()))
    for metric in ("auc", "log_loss", "fit_s"):
        print(f"\n### Tuning half: {metric}\n\n{table(rows, tasks, metric)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"grid": GRID, "chosen": chosen, "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
