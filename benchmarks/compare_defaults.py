"""Which defaults should the hypernetwork have? Candidate settings compared on
the quality benchmark's tasks.

Run from the repository root::

    python benchmarks/compare_defaults.py               # all candidates
    python benchmarks/compare_defaults.py --smoke       # CI: 2 tasks, 2 folds

Each candidate is a set of parameters given to *both* networks (so the
concat baseline gets the same training recipe). Every (task, candidate,
model) is scored on the same stratified 5-fold split; the table shows mean
ROC AUC and log loss over the folds. ``docs/benchmarks.md`` records what was
chosen from this and why.
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
from quality_data import TASKS  # noqa: E402

from skhyper import ConcatClassifier, HyperNetworkClassifier  # noqa: E402

CANDIDATES = {
    "reference (0.1.0 defaults)": {},
    "generator_rank=8": {"generator_rank": 8},
    "weight_decay=0.05": {"weight_decay": 0.05},
    "early_stopping": {"early_stopping": True, "max_epochs": 100},
    "rank 8 + early_stopping": {
        "generator_rank": 8,
        "early_stopping": True,
        "max_epochs": 100,
    },
    "rank 8 + weight_decay=0.05 + early_stopping": {
        "generator_rank": 8,
        "weight_decay": 0.05,
        "early_stopping": True,
        "max_epochs": 100,
    },
}
RESULTS = Path(__file__).parent / "results" / "compare_defaults.json"


def score(task, candidate: dict, model_name: str, folds: int, smoke: bool) -> dict:
    X, y = task.load(**(task.smoke_kwargs or {})) if smoke else task.load()
    params = {k: v for k, v in candidate.items() if k != "generator_rank"}
    if model_name == "hypernetwork":
        model = HyperNetworkClassifier(task.context, random_state=0, **candidate)
    else:
        model = ConcatClassifier(task.context, random_state=0, **params)
    if smoke:
        model.set_params(max_epochs=2)
    auc = "roc_auc" if len(np.unique(y)) == 2 else "roc_auc_ovr"
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    result = cross_validate(
        model, X, y, cv=cv, scoring={"auc": auc, "nll": "neg_log_loss"}
    )
    return {
        "auc": float(result["test_auc"].mean()),
        "log_loss": float(-result["test_nll"].mean()),
        "fit_s": float(np.median(result["fit_time"])),
    }


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
    # generator_rank does not apply to concat: its runs are shared.
    concat_runs = {}
    for name, candidate in CANDIDATES.items():
        key = json.dumps({k: v for k, v in candidate.items() if k != "generator_rank"})
        concat_runs.setdefault(key, name)
    jobs = [
        (task, name, model)
        for task in tasks
        for name in CANDIDATES
        for model in ("hypernetwork", "concat")
        if model == "hypernetwork" or name in concat_runs.values()
    ]
    start = time.perf_counter()
    scores = Parallel(n_jobs=args.n_jobs)(
        delayed(score)(task, CANDIDATES[name], model, folds, args.smoke)
        for task, name, model in jobs
    )
    rows = [
        {"task": task.name, "candidate": name, "model": model, **result}
        for (task, name, model), result in zip(jobs, scores, strict=True)
    ]
    print(f"{len(rows)} cross-validations in {time.perf_counter() - start:.0f} s\n")
    for task in tasks:
        print(task.name)
        for row in (r for r in rows if r["task"] == task.name):
            print(
                f"  {row['candidate']:44s} {row['model']:13s} AUC {row['auc']:.3f}"
                f"  log loss {row['log_loss']:.3f}  fit {row['fit_s']:.2f} s"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
