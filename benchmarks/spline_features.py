"""Why does the hypernetwork trail concat on ``contraception``, and do
spline features of the numeric columns help?

Run from the repository root::

    python benchmarks/spline_features.py           # tuning half + diagnosis
    python benchmarks/spline_features.py --smoke   # CI: 2 tasks, 2 folds

1. **Diagnosis** (``contraception`` only). Each network with and without its
   context (the district replaced by one constant value), next to logistic
   regressions that are linear in the features, that add ``age**2`` and a
   one-hot number of children (the textbook non-linear effects), and that
   add a one-hot district on top. If a network without the context scores
   like the linear regression, it has not learned the features' non-linear
   effects.
2. **Spline features** (the tuning half of ``bench_quality.py``; in round 4
   these were its 12 tasks, see ``docs/defaults.md``). Both networks
   with their defaults, alone and after ``SplineTransformer()`` on every
   numeric column with at least ``MIN_SPLINE_VALUES`` distinct values (the
   other columns, e.g. 0/1 flags, pass through unchanged).

Every model is cross-validated like ``compare_defaults.py`` (stratified
5-fold, one repeat, ``random_state=0``), so the rows without splines equal
that script's rows for the default settings. ``contraception`` is in the
confirmation half now: the diagnosis explains a known gap and chooses
nothing. It prints markdown tables and
writes every score to ``benchmarks/results/spline_features.json``;
``docs/defaults.md`` quotes them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    SplineTransformer,
    StandardScaler,
)

sys.path.insert(0, str(Path(__file__).parent))
from compare_defaults import (  # noqa: E402
    cross_validated,
    load,
    parse_args,
    tasks_and_folds,
)
from quality_data import TASKS, Task  # noqa: E402

from skhyper import ConcatClassifier, HyperNetworkClassifier  # noqa: E402

NETWORKS = {"HN": HyperNetworkClassifier, "concat": ConcatClassifier}
# Columns with fewer distinct values (flags, small counts) are left as they are.
MIN_SPLINE_VALUES = 10
RESULTS = Path(__file__).parent / "results" / "spline_features.json"


def many_valued_columns(context: str):
    """Column selector: the numeric non-context columns with at least
    ``MIN_SPLINE_VALUES`` distinct values (chosen on the training fold)."""

    def select(X: pd.DataFrame) -> list[str]:
        return [
            column
            for column in X.columns
            if column != context
            and pd.api.types.is_numeric_dtype(X[column])
            and X[column].nunique() >= MIN_SPLINE_VALUES
        ]

    return select


def with_splines(context: str, model):
    """``model`` after spline features of the many-valued numeric columns."""
    splines = make_column_transformer(
        (SplineTransformer(), many_valued_columns(context)),
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(splines, model)


def network(name: str, context: str, smoke: bool):
    model = NETWORKS[name](context, random_state=0)
    return model.set_params(max_epochs=2) if smoke else model


def without_context(context: str, model):
    """``model`` with every row's context replaced by one constant value."""

    def constant_context(X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**{context: pd.Categorical(["all"] * len(X))})

    return make_pipeline(FunctionTransformer(constant_context), model)


def contraception_regression(district: bool, nonlinear: bool):
    """Logistic regression on contraception's features: linear in them, or
    with ``age**2`` and a one-hot number of children; with or without a
    one-hot district."""
    parts = [(StandardScaler(), ["age"]), ("passthrough", ["urban"])]
    if nonlinear:
        square = FunctionTransformer(np.square)
        parts += [
            (make_pipeline(StandardScaler(), square), ["age"]),
            (OneHotEncoder(), ["living_children"]),
        ]
    else:
        parts.append((StandardScaler(), ["living_children"]))
    if district:
        parts.append((OneHotEncoder(), ["district"]))
    features = make_column_transformer(*parts, remainder="drop")
    return make_pipeline(features, LogisticRegression(max_iter=2000))


def diagnosis_models(context: str, smoke: bool) -> dict:
    """The models compared on contraception, by row label."""
    models = {}
    for name in NETWORKS:
        models[f"{name}, with district"] = network(name, context, smoke)
        models[f"{name}, no district"] = without_context(
            context, network(name, context, smoke)
        )
    for district in (False, True):
        for nonlinear in (False, True):
            label = "LogReg: " + ("age, age^2, children one-hot" if nonlinear
                                  else "linear in age, children")  # fmt: skip
            label += ", urban" + (", district one-hot" if district else "")
            models[label] = contraception_regression(district, nonlinear)
    return models


def spline_models(context: str, smoke: bool) -> dict:
    models = {}
    for name in NETWORKS:
        models[name] = network(name, context, smoke)
        models[f"{name} + splines"] = with_splines(
            context, network(name, context, smoke)
        )
    return models


def score(task: Task, model, folds: int, smoke: bool) -> dict:
    """Cross-validated scores of ``model`` on ``task``, as compare_defaults
    computes them."""
    X, y = load(task, smoke, seed=None)
    return cross_validated(model, X, y, folds)


def run(jobs: list, folds: int, smoke: bool, n_jobs: int) -> list[dict]:
    """Score every ``(stage, task, label, model)`` job."""
    scores = Parallel(n_jobs=n_jobs)(
        delayed(score)(task, model, folds, smoke) for _, task, _, model in jobs
    )
    return [
        {"stage": stage, "task": task.name, "model": label, **result}
        for (stage, task, label, _), result in zip(jobs, scores, strict=True)
    ]


def spline_table(rows: list[dict], tasks: list[Task], metric: str) -> str:
    """Markdown: one row per model, one column per task, and the mean."""
    cell = {(r["model"], r["task"]): r[metric] for r in rows}
    labels = list(dict.fromkeys(r["model"] for r in rows))
    lines = [
        "| model | " + " | ".join(t.name for t in tasks) + " | mean |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for label in labels:
        values = [cell[label, t.name] for t in tasks]
        lines.append(
            f"| {label} | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | **{np.mean(values):.3f}** |"
        )
    return "\n".join(lines)


def diagnosis_table(rows: list[dict]) -> str:
    lines = ["| model | ROC AUC | log loss |", "|---|---|---|"]
    lines += [f"| {r['model']} | {r['auc']:.3f} | {r['log_loss']:.3f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv, __doc__.splitlines()[0], RESULTS)
    tasks, folds = tasks_and_folds(args.smoke)
    contraception = next(t for t in TASKS if t.name == "contraception")
    start = time.perf_counter()

    diagnosis = run(
        [("diagnosis", contraception, label, model) for label, model
         in diagnosis_models(contraception.context, args.smoke).items()],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip
    splines = run(
        [("splines", t, label, model) for t in tasks for label, model
         in spline_models(t.context, args.smoke).items()],
        folds, args.smoke, args.n_jobs,
    )  # fmt: skip

    print(f"{len(diagnosis) + len(splines)} cross-validations "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(f"\n### Diagnosis: contraception\n\n{diagnosis_table(diagnosis)}")
    for metric in ("auc", "log_loss"):
        table = spline_table(splines, tasks, metric)
        print(f"\n### Spline features: {metric}\n\n{table}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rows": diagnosis + splines}, indent=1))


if __name__ == "__main__":
    main()
