"""Which defaults should the context options have? Candidates on the
tuning half of the context suite (issue 15).

Run from the repository root::

    python benchmarks/compare_context_defaults.py           # ~15 min on 2 cores
    python benchmarks/compare_context_defaults.py --smoke   # CI: tiny tasks, 2 folds

Two choices, each scored on the family of tasks it concerns, of the
**tuning half** only (``context_data.CONTEXT_HALVES`` fixes the split by a
seeded draw; ``bench_quality.py --suite context --half confirmation``
reports the chosen defaults on the other half):

- ``continuous_encoding`` of the hypernetwork (``"standard"`` or
  ``"piecewise_linear"``), on the varying-coefficient tasks, with
  contextualized-ml's score beside it where it imports;
- ``context_pooling`` of the hypernetwork classifier (0, 30 and 300), on the
  rare-context tasks and their control, and on every task of the tuning half
  of the default quality suite (``quality_data.py``), since that default
  acts on all of them (round 5 chose 300 there, ``compare_defaults.py``).

Folds, seeds and models are those of each suite (``context_suite.py``; the
default suite's as in ``compare_defaults.py``): 5 folds,
``random_state=0``, one thread per fit, every other parameter at its
default. The rule for each choice is the highest mean score over its tasks;
a default changes only where a candidate's mean beats the current default's
by more than the standard error of their per-fold paired differences (a tie
keeps the default). Each task's scores and the choice are printed as
markdown and written to ``benchmarks/results/compare_context_defaults.json``;
``docs/defaults.md`` quotes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
import context_suite as suite  # noqa: E402
from compare_defaults import fold_results, load  # noqa: E402
from context_data import CONTEXT_TASKS, ContextTask  # noqa: E402
from quality_data import TASKS  # noqa: E402

from skhyper import HyperNetworkClassifier  # noqa: E402

# Each choice: the parameter, its candidates, the current default, and the
# family of tuning tasks it is scored on.
CHOICES = {
    "continuous_encoding": {
        "candidates": ["standard", "piecewise_linear"],
        "default": "standard",
        "family": "varying",
    },
    "context_pooling": {
        "candidates": [0.0, 30.0, 300.0],
        "default": 300.0,
        "family": "rare",
        "quality_suite": True,
    },
}
# --smoke: sizes for a rare-context task (none of the tuning half's has its own).
SMOKE_RARE = {"n_contexts": 30, "n_rows": 300}
RESULTS = Path(__file__).parent / "results" / "compare_context_defaults.json"


def fold_scores(task: ContextTask, params: dict | None, smoke: bool) -> list[float]:
    """Per-fold scores of the hypernetwork with ``params`` (or, with None,
    of contextualized-ml) on one task, with the suite's folds."""
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = task.load(**(smoke_sizes(task) if smoke else {}))
        cv = {"n_splits": 2 if smoke else suite.N_SPLITS, "n_repeats": 1}
        splits = suite.fold_splits(task, data.X, data.y, cv)
        name = "contextualized" if params is None else "hypernetwork"
        result = suite.run_model(name, task, data, splits, smoke, params or {})
    if "test" not in result:  # the suite records an error or a skip
        raise RuntimeError(f"{task.name}/{name}: {suite.status_line(result)}")
    return result["test"]


def smoke_sizes(task: ContextTask) -> dict:
    return task.smoke_kwargs or (SMOKE_RARE if task.rare_contexts else {})


def quality_fold_scores(task, params: dict, smoke: bool) -> list[float]:
    """Per-fold ROC AUC of the hypernetwork classifier with ``params`` on a
    task of the default suite, with ``compare_defaults.py``'s folds."""
    X, y = load(task, smoke, seed=None)
    model = HyperNetworkClassifier(task.context, random_state=0, **params)
    if smoke:
        model.set_params(max_epochs=suite.SMOKE_EPOCHS)
    folds = 2 if smoke else suite.N_SPLITS
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fold_results(model, X, y, folds)
    return [float(v) for v in result["test_roc_auc"]]


def evaluate(parameter: str, candidate, task, smoke: bool) -> list[float]:
    """Per-fold scores of one job (candidate None: contextualized-ml)."""
    if isinstance(task, ContextTask):
        params = None if candidate is None else {parameter: candidate}
        return fold_scores(task, params, smoke)
    return quality_fold_scores(task, {parameter: candidate}, smoke)


def tasks_of(family: str, smoke: bool) -> list[ContextTask]:
    """The family's tuning tasks; with ``smoke``, its first that has small
    sizes."""
    tasks = [t for t in CONTEXT_TASKS if t.family == family and t.half == "tuning"]
    if smoke:
        return [t for t in tasks if t.smoke_kwargs or t.rare_contexts][:1]
    return tasks


def jobs(smoke: bool) -> list[tuple]:
    """``(parameter, candidate, task)``; candidate None is contextualized-ml."""
    found = []
    for parameter, choice in CHOICES.items():
        tasks = tasks_of(choice["family"], smoke)
        if choice.get("quality_suite"):
            quality = [t for t in TASKS if t.half == "tuning"]
            if smoke:
                quality = [t for t in quality if t.smoke_kwargs is not None][:1]
            tasks = tasks + quality
        for candidate in choice["candidates"]:
            found += [(parameter, candidate, t) for t in tasks]
        if choice["family"] == "varying" and suite.contextualized_status() is None:
            found += [(parameter, None, t) for t in tasks]
    return found


def choose(rows: list[dict], parameter: str) -> dict:
    """The candidate with the highest mean; the default unless it beats the
    default by more than the standard error of the paired differences."""
    choice = CHOICES[parameter]
    by = {}
    for r in rows:
        if r["parameter"] == parameter and r["candidate"] is not None:
            by.setdefault(r["candidate"], []).extend(r["scores"])
    means = {c: float(np.mean(s)) for c, s in by.items()}
    best = max(means, key=means.get)
    gain = np.subtract(by[best], by[choice["default"]])
    error = float(np.std(gain, ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
    chosen = best if gain.mean() > error else choice["default"]
    return {
        "means": means,
        "best": best,
        "gain": float(gain.mean()),
        "standard_error": error,
        "chosen": chosen,
    }


def table(rows: list[dict], parameter: str) -> str:
    """Markdown: one row per task, one column per candidate (mean ± std)."""
    part = [r for r in rows if r["parameter"] == parameter]
    candidates = list(dict.fromkeys(r["candidate"] for r in part))
    label = {
        c: "contextualized-ml" if c is None else f"{parameter}={c!r}"
        for c in candidates
    }
    lines = [
        "| task | " + " | ".join(label[c] for c in candidates) + " |",
        "|---|" + "---|" * len(candidates),
    ]
    for task in dict.fromkeys(r["task"] for r in part):
        cells = []
        for c in candidates:
            s = next(
                r["scores"] for r in part if r["task"] == task and r["candidate"] == c
            )
            cells.append(f"{np.mean(s):.3f} ± {np.std(s):.3f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    means = [
        np.mean([np.mean(r["scores"]) for r in part if r["candidate"] == c])
        for c in candidates
    ]
    lines.append("| **mean** | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    todo = jobs(args.smoke)
    start = time.perf_counter()
    scores = Parallel(n_jobs=args.n_jobs)(
        delayed(evaluate)(p, c, task, args.smoke) for p, c, task in todo
    )
    rows = [
        {
            "parameter": p,
            "candidate": c,
            "task": t.name,
            "suite": "context" if isinstance(t, ContextTask) else "quality",
            "scores": s,
        }
        for (p, c, t), s in zip(todo, scores, strict=True)
    ]
    print(f"{len(rows)} cross-validations in {time.perf_counter() - start:.0f} s")
    chosen = {p: choose(rows, p) for p in CHOICES}
    for parameter, result in chosen.items():
        print(f"\n### {parameter}\n\n{table(rows, parameter)}\n")
        print(
            f"best {result['best']!r}: {result['gain']:+.4f} against the default "
            f"(standard error {result['standard_error']:.4f}); "
            f"chosen: {result['chosen']!r}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"choices": CHOICES, "chosen": chosen, "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
