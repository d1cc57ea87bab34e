"""Which weight decay should the networks have by default? A grid on the
quality benchmark's tasks, and a check on freshly drawn synthetic data.

Run from the repository root::

    python benchmarks/compare_defaults.py           # the grid and the check
    python benchmarks/compare_defaults.py --smoke   # CI: 2 tasks, 2 folds

1. **Selection.** Each network is cross-validated (stratified 5-fold, one
   repeat, ``random_state=0``) on the 12 tasks of ``bench_quality.py`` with
   every ``weight_decay`` of ``GRID`` and all other parameters at their
   defaults. Each network's default is the value with the highest mean ROC
   AUC over the 12 tasks: one number for all tasks, never a per-task choice.
2. **Check.** The selection saw the benchmark's own data, so the chosen
   values are compared with no weight decay on new draws of the synthetic
   generators (seeds the benchmark does not use), which the selection never
   saw.

It prints markdown tables (ROC AUC / log loss per task and setting) and
writes every score to ``benchmarks/results/compare_defaults.json``.
``docs/defaults.md`` quotes the tables and says what was chosen and why.
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

GRID = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 30.0)
NETWORKS = {"hypernetwork": HyperNetworkClassifier, "concat": ConcatClassifier}
LABELS = {"hypernetwork": "HN", "concat": "concat"}
# New draws for the check: far from the seeds the benchmark's tasks use (0-6).
CHECK_SEED = 1000
RESULTS = Path(__file__).parent / "results" / "compare_defaults.json"


def load(task: Task, smoke: bool, seed: int | None):
    kwargs = dict(task.smoke_kwargs or {}) if smoke else {}
    if seed is not None:
        kwargs["seed"] = seed
    return task.load(**kwargs)


def score(
    task: Task, network: str, weight_decay: float, folds: int, smoke: bool, seed
) -> dict:
    """Cross-validated mean AUC and log loss of one network on one task."""
    X, y = load(task, smoke, seed)
    model = NETWORKS[network](task.context, weight_decay=weight_decay, random_state=0)
    if smoke:
        model.set_params(max_epochs=2)
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    result = cross_validate(model, X, y, cv=cv, scoring=scoring(y))
    return {
        "auc": float(result["test_roc_auc"].mean()),
        "auc_std": float(result["test_roc_auc"].std()),
        "log_loss": float(-result["test_neg_log_loss"].mean()),
        "fit_s": float(np.median(result["fit_time"])),
    }


def run(jobs: list, folds: int, smoke: bool, n_jobs: int) -> list[dict]:
    """Score every ``(stage, task, network, weight_decay, seed)`` job."""
    scores = Parallel(n_jobs=n_jobs)(
        delayed(score)(task, network, wd, folds, smoke, seed)
        for _, task, network, wd, seed in jobs
    )
    return [
        {"stage": stage, "task": task.name, "network": network,
         "weight_decay": wd, "seed": seed, **result}
        for (stage, task, network, wd, seed), result in zip(jobs, scores, strict=True)
    ]  # fmt: skip


def choose(rows: list[dict], network: str) -> float:
    """The weight decay (among those scored) with the highest mean AUC over
    the selection tasks."""
    scores: dict[float, list[float]] = {}
    for r in rows:
        if r["network"] == network:
            scores.setdefault(r["weight_decay"], []).append(r["auc"])
    return max(scores, key=lambda wd: np.mean(scores[wd]))


def table(rows: list[dict], tasks: list[Task], metric: str) -> str:
    """Markdown: one row per task, one column per (network, weight_decay)."""
    columns = sorted({(r["network"], r["weight_decay"]) for r in rows})
    lines = [
        "| task | " + " | ".join(f"{LABELS[n]} wd={wd:g}" for n, wd in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    cell = {(r["task"], r["network"], r["weight_decay"]): r[metric] for r in rows}
    for task in tasks:
        values = [cell[task.name, n, wd] for n, wd in columns]
        lines.append(
            f"| {task.name} | " + " | ".join(f"{v:.3f}" for v in values) + " |"
        )
    means = [np.mean([cell[t.name, n, wd] for t in tasks]) for n, wd in columns]
    lines.append("| **mean** | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tasks = (
        [t for t in TASKS if t.smoke_kwargs is not None][:2] if args.smoke else TASKS
    )
    folds = 2 if args.smoke else 5
    grid = GRID[:2] if args.smoke else GRID
    start = time.perf_counter()

    selection = run(
        [("selection", t, n, wd, None) for t in tasks for n in NETWORKS for wd in grid],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip
    chosen = {n: choose(selection, n) for n in NETWORKS}
    synthetic = [t for t in tasks if t.kind == "synthetic"]
    check = run(
        [("check", t, n, wd, CHECK_SEED + i)
         for i, t in enumerate(synthetic) for n in NETWORKS for wd in {0.0, chosen[n]}],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip

    print(f"{len(selection) + len(check)} cross-validations "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(
        "chosen weight_decay: " + ", ".join(f"{n} {wd:g}" for n, wd in chosen.items())
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
