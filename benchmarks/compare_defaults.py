"""Which weight decay and weight averaging should the networks have by
default? A grid on the quality benchmark's tasks, and a check on freshly
drawn synthetic data.

Run from the repository root::

    python benchmarks/compare_defaults.py           # the grid and the check
    python benchmarks/compare_defaults.py --smoke   # CI: 2 tuning tasks, 2 folds

1. **Selection.** Each network is cross-validated (stratified 5-fold, one
   repeat, ``random_state=0``) on the tasks of the *tuning half* of
   ``bench_quality.py`` (``quality_data.TASKS`` with ``half == "tuning"``)
   with every setting of ``GRID`` (``weight_decay``, ``weight_averaging``)
   and all other parameters at their defaults. Each network's default is
   the setting with the highest mean ROC AUC over those tasks: one setting
   for all tasks, never a per-task choice. The confirmation half is never
   loaded here: it is kept for ``bench_quality.py --half confirmation``.
2. **Check.** The selection saw the benchmark's own data, so on new draws
   of the tuning half's synthetic generators (seeds the benchmark does not
   use), which the selection never saw, the chosen setting is compared with
   no decay and no averaging, and with the chosen decay alone.

It prints markdown tables (ROC AUC / log loss, one row per network and
setting, one column per task) and writes every score to
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

WEIGHT_DECAYS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 30.0)
# Averaging is tried with the decays that did best without it (round 3).
GRID = [(wd, 0.0) for wd in WEIGHT_DECAYS] + [
    (wd, averaging) for wd in (3.0, 5.0, 7.0, 10.0) for averaging in (0.3, 0.5)
]
NETWORKS = {"hypernetwork": HyperNetworkClassifier, "concat": ConcatClassifier}
LABELS = {"hypernetwork": "HN", "concat": "concat"}
# New draws for the check: far from the seeds the benchmark's tasks use (0-15).
CHECK_SEED = 1000
RESULTS = Path(__file__).parent / "results" / "compare_defaults.json"


def load(task: Task, smoke: bool, seed: int | None):
    kwargs = dict(task.smoke_kwargs or {}) if smoke else {}
    if seed is not None:
        kwargs["seed"] = seed
    return task.load(**kwargs)


def score(
    task: Task, network: str, setting: tuple, folds: int, smoke: bool, seed
) -> dict:
    """Cross-validated mean AUC and log loss of one network on one task."""
    X, y = load(task, smoke, seed)
    weight_decay, weight_averaging = setting
    model = NETWORKS[network](
        task.context,
        weight_decay=weight_decay,
        weight_averaging=weight_averaging,
        random_state=0,
    )
    if smoke:  # 4 epochs, so that averaging 0.5 of them averages 2
        model.set_params(max_epochs=4)
    return cross_validated(model, X, y, folds)


def cross_validated(model, X, y, folds: int) -> dict:
    """Mean AUC (and its spread), mean log loss and median fit seconds of
    ``model`` over stratified ``folds``-fold CV with ``random_state=0``."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    result = cross_validate(model, X, y, cv=cv, scoring=scoring(y))
    return {
        "auc": float(result["test_roc_auc"].mean()),
        "auc_std": float(result["test_roc_auc"].std()),
        "log_loss": float(-result["test_neg_log_loss"].mean()),
        "fit_s": float(np.median(result["fit_time"])),
    }


def run(jobs: list, folds: int, smoke: bool, n_jobs: int) -> list[dict]:
    """Score every ``(stage, task, network, setting, seed)`` job."""
    scores = Parallel(n_jobs=n_jobs)(
        delayed(score)(task, network, setting, folds, smoke, seed)
        for _, task, network, setting, seed in jobs
    )
    return [
        {"stage": stage, "task": task.name, "network": network,
         "weight_decay": setting[0], "weight_averaging": setting[1],
         "seed": seed, **result}
        for (stage, task, network, setting, seed), result
        in zip(jobs, scores, strict=True)
    ]  # fmt: skip


def setting_of(row: dict) -> tuple[float, float]:
    return row["weight_decay"], row["weight_averaging"]


def choose(rows: list[dict], network: str) -> tuple[float, float]:
    """The setting (among those scored) with the highest mean AUC over the
    selection tasks."""
    scores: dict[tuple, list[float]] = {}
    for r in rows:
        if r["network"] == network:
            scores.setdefault(setting_of(r), []).append(r["auc"])
    return max(scores, key=lambda setting: np.mean(scores[setting]))


def table(rows: list[dict], tasks: list[Task], metric: str) -> str:
    """Markdown: one row per (network, setting), one column per task, and
    the mean over the tasks."""
    cell = {(r["network"], setting_of(r), r["task"]): r[metric] for r in rows}
    lines = [
        "| network | wd | avg | " + " | ".join(t.name for t in tasks) + " | mean |",
        "|---|---|---|" + "---|" * (len(tasks) + 1),
    ]
    for network, setting in sorted({(r["network"], setting_of(r)) for r in rows}):
        values = [cell[network, setting, t.name] for t in tasks]
        lines.append(
            f"| {LABELS[network]} | {setting[0]:g} | {setting[1]:g} | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | **{np.mean(values):.3f}** |"
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
    grid = [GRID[0], GRID[-1]] if args.smoke else GRID
    start = time.perf_counter()

    selection = run(
        [("selection", t, n, s, None) for t in tasks for n in NETWORKS for s in grid],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip
    chosen = {n: choose(selection, n) for n in NETWORKS}
    synthetic = [t for t in tasks if t.kind == "synthetic"]
    check = run(
        [("check", t, n, s, CHECK_SEED + i)
         for i, t in enumerate(synthetic) for n in NETWORKS
         for s in {(0.0, 0.0), (chosen[n][0], 0.0), chosen[n]}],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip

    print(f"{len(selection) + len(check)} cross-validations "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(
        "chosen (weight_decay, weight_averaging): "
        + ", ".join(f"{n} {wd:g}, {avg:g}" for n, (wd, avg) in chosen.items())
    )
    for stage, rows, stage_tasks in (
        ("Selection", selection, tasks),
        (f"Check (synthetic tasks, seeds from {CHECK_SEED})", check, synthetic),
    ):
        for metric in ("auc", "log_loss"):
            print(f"\n### {stage}: {metric}\n\n{table(rows, stage_tasks, metric)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"grid": GRID, "chosen": chosen, "rows": selection + check}, indent=1
        )
    )


if __name__ == "__main__":
    main()
