"""The context suite of ``bench_quality.py`` (``--suite context``).

Run from the repository root::

    python benchmarks/bench_quality.py --suite context --half confirmation --jobs 2
    python benchmarks/bench_quality.py --suite context --smoke
    python benchmarks/bench_quality.py --suite context --only stores_120
    python benchmarks/bench_quality.py --suite context \\
        --render benchmarks/results/context.json

Three parts, on the tasks of ``context_data.py`` (each split into a tuning
and a confirmation half by its own fixed draw):

- **(a) varying coefficients**: ``HyperNetworkRegressor``/``Classifier`` and
  ``ConcatRegressor``/``Classifier`` with ``continuous_context=[...]`` (and
  ``context_column`` for the mixed tasks' region), scikit-learn's
  ``HistGradientBoosting*`` and LightGBM with the context columns as plain
  features (the region as a native categorical), and the Contextualized ML
  toolbox (``contextualized-ml``: ``ContextualizedRegressor`` /
  ``ContextualizedClassifier`` from ``contextualized.easy``) through a small
  adapter (``ContextualizedModel``) that hands it ``C`` = the standardised
  continuous context plus the one-hot region, ``X`` = the standardised
  features. R^2 (regression) or ROC AUC (classification) on the held-out
  folds of ``RepeatedKFold`` / ``RepeatedStratifiedKFold(n_splits=5)``.
- **(b) unseen contexts with attributes**: ``GroupShuffleSplit`` by context
  value (70% of the values seen, 30% unseen), repeated 3 times; within the
  seen values 80% of the rows train, 20% are the *seen* test rows; every row
  of an unseen value is an *unseen* test row. Models: the hypernetwork with
  ``context_attributes`` (the table), the hypernetwork with
  ``handle_unknown="learned"`` and no attributes (an unseen value gets the
  learned "unknown" embedding), the concat network with the attributes, and
  ``HistGradientBoostingClassifier`` on the features joined with the
  attributes (no context id).
- **(c) rare contexts**: the hypernetwork with ``context_pooling`` at 0
  (no pooling, the default since round 7 of ``docs/defaults.md``), at 300
  (the default before it) and at 1000, on folds stratified by the context
  (so that every context, even one of 2 rows, is in every training fold).

Every model is seeded (``random_state=0``) and runs on one thread.

contextualized-ml is optional. ``pip install contextualized-ml`` pulls
torchvision and, with it, a newer torch (a CUDA build) that replaces the
pinned CPU torch 2.13.0; a torchvision that does not match torch breaks
``import contextualized`` (through torchmetrics). It does not use
torchvision, so install its real dependencies, then the package alone::

    pip install -e ".[contextualized]"      # lightning, pytorch-lightning, igraph
    pip install --no-deps contextualized-ml

Where ``import contextualized.easy`` fails, the suite prints why and its
cells say *skipped*. Its settings are its defaults except
``train_batch_size=16`` (its default of 1 makes one fit of 2400 rows take
minutes here; 16 is its own default batch size for validation and
prediction); it picks its epochs by early stopping on a 20% validation split,
as by default.

The full run (no ``--smoke``, ``--only``, ``--model`` or ``--param``; ``--half``
``all`` or ``confirmation``) writes ``benchmarks/results/context.json`` and
the context section of ``docs/benchmarks.md`` (between the markers
``CONTEXT_START`` and ``CONTEXT_END``; the rest of the page belongs to the
default suite, which keeps this section when it rewrites the page). Other
runs write ``context.json`` and ``context.md`` to a temporary folder or
``--output-dir``. Right after the section, between ``NOTES_START`` and
``NOTES_END``, the page may hold notes written by hand (reruns, unseen
draws, later rounds, each with its command); a full run of either suite
keeps them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import shlex
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd
from context_data import CONTEXT_TASKS, ContextData, ContextTask, tuning_twin
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.compose import make_column_transformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import (
    GroupShuffleSplit,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    train_test_split,
)
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skhyper import (
    ConcatClassifier,
    ConcatRegressor,
    HyperNetworkClassifier,
    HyperNetworkRegressor,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
N_SPLITS = 5
GROUP_SPLITS = 3  # repeats of the 70/30 split by context value, per --repeats
UNSEEN_SHARE = 0.3
SEEN_TEST_SHARE = 0.2
POOLING = 300.0  # the pooling whose gain over none part (c) judges
STRONG_POOLING = 1000.0
# Part (c)'s two options, each judged against "hn_pooling_0" (neither on).
POOLING_OPTIONS = {
    "hn_pooling": f"Pooling {POOLING:g}",
    "hn_shrinkage": 'Shrinkage "auto"',
}
SMOKE_EPOCHS = 2
CONTEXTUALIZED_BATCH = 16
CONTEXT_START = "<!-- CONTEXT_START: written by bench_quality.py --suite context -->"
CONTEXT_END = "<!-- CONTEXT_END -->"
NOTES_START = "<!-- NOTES_START: written by hand, kept by both suites' full runs -->"
NOTES_END = "<!-- NOTES_END -->"

FAMILY_MODELS = {
    "varying": ("hypernetwork", "concat", "hist_gb", "lightgbm", "contextualized"),
    "attributes": (
        "hn_attributes",
        "hn_unknown",
        "concat_attributes",
        "hist_gb_attributes",
    ),
    "rare": ("hn_pooling", "hn_pooling_0", "hn_pooling_strong", "hn_shrinkage"),
}
MODELS = tuple(m for models in FAMILY_MODELS.values() for m in models)
MODEL_LABELS = {
    "hypernetwork": "HyperNetwork",
    "concat": "Concat",
    "hist_gb": "HistGB",
    "lightgbm": "LightGBM",
    "contextualized": "contextualized-ml",
    "hn_attributes": "HN + attributes",
    "hn_unknown": 'HN, "unknown" embedding',
    "concat_attributes": "Concat + attributes",
    "hist_gb_attributes": "HistGB + attributes",
    "hn_pooling": f"HN, pooling {POOLING:g}",
    "hn_pooling_0": "HN, neither",
    "hn_pooling_strong": f"HN, pooling {STRONG_POOLING:g}",
    "hn_shrinkage": 'HN, shrinkage "auto" (default)',
}
PACKAGES = (
    "skhyper",
    "torch",
    "scikit-learn",
    "lightgbm",
    "contextualized-ml",
    "lightning",
    "numpy",
    "pandas",
)


# -- contextualized-ml ---------------------------------------------------------


def contextualized_status() -> str | None:
    """None if ``contextualized.easy`` imports, else why not."""
    try:
        import contextualized.easy  # noqa: F401
    except Exception as error:  # any failure of the optional import
        return f"{type(error).__name__}: {error}"
    return None


class _InFolder:
    """Run inside ``path`` (Lightning writes its logs to the working folder)."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self.previous = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.previous)


class ContextualizedModel(BaseEstimator):
    """scikit-learn-style adapter around ``contextualized.easy``.

    ``fit(X, y)`` splits ``X`` into ``C`` (the standardised ``continuous``
    columns and the one-hot ``categorical`` ones) and the standardised
    features, then calls the toolbox's ``fit(C, X, Y)``. Regression targets
    are standardised for the fit and scaled back in ``predict``.
    """

    def __init__(
        self,
        problem: str = "regression",
        continuous: tuple = (),
        categorical: tuple = (),
        train_batch_size: int = CONTEXTUALIZED_BATCH,
        max_epochs: int | None = None,
    ):
        self.problem = problem
        self.continuous = continuous
        self.categorical = categorical
        self.train_batch_size = train_batch_size
        self.max_epochs = max_epochs

    def _arrays(self, X: pd.DataFrame, fit: bool = False):
        """``C`` and the features, as float arrays."""
        context = [*self.continuous, *self.categorical]
        if fit:
            self.context_encoder_ = make_column_transformer(
                (StandardScaler(), list(self.continuous)),
                (
                    OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
                    list(self.categorical),
                ),
            ).fit(X)
            self.feature_scaler_ = StandardScaler().fit(X.drop(columns=context))
        C = self.context_encoder_.transform(X)
        features = self.feature_scaler_.transform(X.drop(columns=context))
        return np.asarray(C, dtype=float), np.asarray(features, dtype=float)

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        """Fit the toolbox's regressor (or classifier) on ``C`` and ``X``."""
        import torch
        from contextualized.easy import (
            ContextualizedClassifier,
            ContextualizedRegressor,
        )

        quiet_lightning()  # after the import, which sets its own levels
        C, features = self._arrays(X, fit=True)
        if self.problem == "regression":
            self.y_mean_, self.y_std_ = float(np.mean(y)), float(np.std(y))
            target = (np.asarray(y, dtype=float) - self.y_mean_) / self.y_std_
            model = ContextualizedRegressor()
        else:
            self.classes_ = np.unique(y)
            target = (np.asarray(y) == self.classes_[1]).astype(float)
            model = ContextualizedClassifier()
        # Its validation split draws from numpy's global generator.
        np.random.seed(SEED)  # noqa: NPY002 - the toolbox reads the global one
        torch.manual_seed(SEED)
        torch.set_num_threads(1)
        extra = {} if self.max_epochs is None else {"max_epochs": self.max_epochs}
        # Its wrapper prints a line per keyword it passes on by hand
        # (checkpoint_path), and Lightning writes logs to the working folder.
        with (
            tempfile.TemporaryDirectory() as folder,
            _InFolder(folder),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            model.fit(
                C,
                features,
                target,
                train_batch_size=self.train_batch_size,
                checkpoint_path=folder,
                **extra,
            )
        self.model_ = model
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted value (regression) or the likelier class."""
        C, features = self._arrays(X)
        if self.problem == "regression":
            return self.model_.predict(C, features)[:, 0] * self.y_std_ + self.y_mean_
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(n, 2)``."""
        C, features = self._arrays(X)
        return self.model_.predict_proba(C, features)[:, 0, :]


def quiet_lightning() -> None:
    """Lightning logs a model summary and hints at every fit: silence them."""
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("lightning", "pytorch_lightning")):
            logging.getLogger(name).setLevel(logging.ERROR)


# -- models --------------------------------------------------------------------


def network(kind: str, task: ContextTask, smoke: bool, params: dict, **extra):
    """A hypernetwork or concat estimator for ``task``, seeded."""
    regression = task.problem == "regression"
    classes = {
        ("hypernetwork", True): HyperNetworkRegressor,
        ("hypernetwork", False): HyperNetworkClassifier,
        ("concat", True): ConcatRegressor,
        ("concat", False): ConcatClassifier,
    }
    estimator = classes[kind, regression]
    settings = {"max_epochs": SMOKE_EPOCHS} if smoke else {}
    settings.update(params)
    known = estimator().get_params()
    settings = {k: v for k, v in settings.items() if k in known}
    categorical = list(task.categorical) or None
    if len(task.categorical) == 1:
        categorical = task.categorical[0]
    if task.continuous:
        extra["continuous_context"] = list(task.continuous)
    model = estimator(context_column=categorical, random_state=SEED, **extra)
    return model.set_params(**settings)


def boosting(library: str, problem: str):
    """HistGB (native categoricals from the dtype) or LightGBM, one thread."""
    if library == "hist_gb":
        cls = (
            HistGradientBoostingRegressor
            if problem == "regression"
            else HistGradientBoostingClassifier
        )
        return cls(categorical_features="from_dtype", random_state=SEED)
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMRegressor if problem == "regression" else LGBMClassifier
    return cls(n_jobs=1, random_state=SEED, verbose=-1)


def make_model(name: str, task: ContextTask, data: ContextData, smoke, params):
    """The model ``name`` for ``task`` (attributes go to the models that
    use them)."""
    makers = {
        "hypernetwork": lambda: network("hypernetwork", task, smoke, params),
        "concat": lambda: network("concat", task, smoke, params),
        "hist_gb": lambda: boosting("hist_gb", task.problem),
        "lightgbm": lambda: boosting("lightgbm", task.problem),
        "contextualized": lambda: ContextualizedModel(
            task.problem,
            task.continuous,
            task.categorical,
            max_epochs=SMOKE_EPOCHS if smoke else None,
        ),
        "hn_attributes": lambda: network(
            "hypernetwork", task, smoke, params, context_attributes=data.attributes
        ),
        "hn_unknown": lambda: network(
            "hypernetwork", task, smoke, params, handle_unknown="learned"
        ),
        "concat_attributes": lambda: network(
            "concat", task, smoke, params, context_attributes=data.attributes
        ),
        "hist_gb_attributes": lambda: boosting("hist_gb", task.problem),
        "hn_pooling": lambda: network(
            "hypernetwork",
            task,
            smoke,
            params,
            context_pooling=POOLING,
            context_shrinkage=0.0,
        ),
        "hn_pooling_0": lambda: network(
            "hypernetwork",
            task,
            smoke,
            params,
            context_pooling=0.0,
            context_shrinkage=0.0,
        ),
        "hn_pooling_strong": lambda: network(
            "hypernetwork",
            task,
            smoke,
            params,
            context_pooling=STRONG_POOLING,
            context_shrinkage=0.0,
        ),
        "hn_shrinkage": lambda: network(
            "hypernetwork", task, smoke, params, context_shrinkage="auto"
        ),
    }
    return makers[name]()


def with_attributes(X: pd.DataFrame, task: ContextTask, attributes) -> pd.DataFrame:
    """The features joined with the attributes of each row's context, the
    context id itself dropped (for the boosting baseline of part b)."""
    context = task.categorical[0]
    joined = attributes.reindex(X[context].astype(str)).reset_index(drop=True)
    return pd.concat([X.drop(columns=context).reset_index(drop=True), joined], axis=1)


# -- scoring -------------------------------------------------------------------


def score(model, X: pd.DataFrame, y: np.ndarray, problem: str) -> float:
    """R^2 (regression) or ROC AUC (binary classification)."""
    if problem == "regression":
        return float(r2_score(y, model.predict(X)))
    return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))


def fold_splits(task: ContextTask, X, y, cv: dict) -> list:
    """Folds of part (a) (stratified on y for classification) or of part (c)
    (stratified on the context, so that every context trains in every fold)."""
    if task.family == "rare":
        folds = RepeatedStratifiedKFold(**cv, random_state=SEED)
        with warnings.catch_warnings():  # contexts of 2 rows: fewer than 5 folds
            warnings.simplefilter("ignore", UserWarning)
            return list(folds.split(X, X[task.categorical[0]].cat.codes))
    if task.problem == "regression":
        return list(RepeatedKFold(**cv, random_state=SEED).split(X))
    return list(RepeatedStratifiedKFold(**cv, random_state=SEED).split(X, y))


def group_splits(task: ContextTask, X, n_repeats: int) -> list:
    """(train, seen test, unseen test) row indices, per repeat: 30% of the
    context values unseen, 20% of the seen values' rows held out (stratified
    by value, so that every seen value trains)."""
    context = X[task.categorical[0]].astype(str).to_numpy()
    groups = GroupShuffleSplit(
        n_splits=n_repeats, test_size=UNSEEN_SHARE, random_state=SEED
    )
    splits = []
    for repeat, (seen, unseen) in enumerate(groups.split(X, groups=context)):
        train, seen_test = train_test_split(
            seen,
            test_size=SEEN_TEST_SHARE,
            stratify=context[seen],
            random_state=SEED + repeat,
        )
        splits.append((np.sort(train), np.sort(seen_test), unseen))
    return splits


def fit_and_score(model, X, y, train, tests: dict, problem: str) -> dict:
    """Fit on ``train``; the score on each named test set and the fit time."""
    start = time.perf_counter()
    model.fit(X.iloc[train], y[train])
    result = {"fit_time": time.perf_counter() - start}
    for name, rows in tests.items():
        result[name] = score(model, X.iloc[rows], y[rows], problem)
    return result


def split_scores(make, X, y, splits, problem: str) -> dict:
    """Per-split scores and fit times (lists under each key) of a fresh
    ``make()`` fitted on each split's training rows: ``(train, test)``, or
    ``(train, seen, unseen)``."""
    scores: dict[str, list] = {}
    for split in splits:
        tests = (
            {"test": split[1]}
            if len(split) == 2
            else {"seen": split[1], "unseen": split[2]}
        )
        fold = fit_and_score(make(), X, y, split[0], tests, problem)
        for key, value in fold.items():
            scores.setdefault(key, []).append(value)
    return scores


def run_model(name, task, data, splits, smoke, params) -> dict:
    """Per-split scores of one model (lists under each key), or the error."""
    X = data.X
    if name == "hist_gb_attributes":
        X = with_attributes(data.X, task, data.attributes)
    if name == "contextualized":
        reason = contextualized_status()
        if reason is not None:
            return {"skipped": reason}
    try:
        return split_scores(
            lambda: make_model(name, task, data, smoke, params),
            X,
            data.y,
            splits,
            task.problem,
        )
    except Exception as error:  # recorded in the report, not raised
        return {"error": f"{type(error).__name__}: {error}"}


def describe(task: ContextTask, data: ContextData) -> dict:
    """Size and shape of a task, for the JSON and the doc."""
    record = {
        "name": task.name,
        "family": task.family,
        "problem": task.problem,
        "half": task.half,
        "description": task.description,
        "categorical": list(task.categorical),
        "continuous": list(task.continuous),
        "rare_contexts": task.rare_contexts,
        "n_rows": len(data.X),
        "n_features": data.X.shape[1] - len(task.categorical) - len(task.continuous),
    }
    if task.family in ("attributes", "rare"):
        counts = data.X[task.categorical[0]].value_counts()
        record["n_contexts"] = int(len(counts))
        record["contexts_up_to_10_rows"] = int((counts <= 10).sum())
    return record


def evaluate_task(task, smoke, repeats, models, params) -> dict:
    """Load a task, make its splits, run its family's models on them."""
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's and the boosters' hints
        data = task.load(**((task.smoke_kwargs or {}) if smoke else {}))
        if task.family == "attributes":
            splits = group_splits(task, data.X, 1 if smoke else GROUP_SPLITS * repeats)
        else:
            cv = {"n_splits": 2 if smoke else N_SPLITS, "n_repeats": repeats}
            splits = fold_splits(task, data.X, data.y, cv)
        record = {**describe(task, data), "n_splits": len(splits), "models": {}}
        record["n_train"] = int(np.mean([len(split[0]) for split in splits]))
        record["n_test"] = int(np.mean([len(split[1]) for split in splits]))
        for name in FAMILY_MODELS[task.family]:
            if name not in models:
                continue
            start = time.perf_counter()
            result = run_model(name, task, data, splits, smoke, params)
            result["wall_s"] = time.perf_counter() - start
            record["models"][name] = result
            print(f"{task.name}: {name:<20} {status_line(result)}", flush=True)
    return record


def status_line(result: dict) -> str:
    """One line for the progress print."""
    if "skipped" in result:
        return f"skipped ({result['skipped']})"
    if "error" in result:
        return f"FAILED {result['error']}"
    parts = [
        f"{key} {np.mean(values):.3f}"
        for key, values in result.items()
        if key in ("test", "seen", "unseen")
    ]
    return "  ".join([*parts, f"fit {np.median(result['fit_time']):.2f}s"])


# -- targets -------------------------------------------------------------------


def mean_of(record: dict, model: str, key: str = "test") -> float | None:
    """Mean score of ``model`` on ``record`` (None if it failed or skipped)."""
    result = record["models"].get(model)
    if result is None or key not in result:
        return None
    return float(np.mean(result[key]))


def paired(record: dict, model: str, baseline: str | None) -> dict | None:
    """Hypernetwork minus ``baseline`` per fold: mean, p-value (corrected
    resampled t-test, as in the default suite) and verdict."""
    from bench_quality import paired_test, verdict

    if baseline is None or mean_of(record, model) is None:
        return None
    if mean_of(record, baseline) is None:
        return None
    n_test = record.get("n_test", record["n_rows"] // N_SPLITS)
    n_train = record.get("n_train", record["n_rows"] - n_test)
    a, b = record["models"][model]["test"], record["models"][baseline]["test"]
    mean, p = paired_test(a, b, n_train, n_test)
    return {"baseline": baseline, "delta": mean, "p": p, "verdict": verdict(mean, p)}


def better_boosting(record: dict) -> str | None:
    """HistGB or LightGBM, whichever has the higher mean score."""
    scores = {m: mean_of(record, m) for m in ("hist_gb", "lightgbm")}
    scores = {m: v for m, v in scores.items() if v is not None}
    return max(scores, key=scores.get) if scores else None


def varying_targets(records: list) -> dict:
    """Part (a): tasks where the hypernetwork's mean is at least that of
    contextualized-ml and of the better gradient boosting."""
    rows = []
    for r in records:
        hyper = mean_of(r, "hypernetwork")
        boost = [v for m in ("hist_gb", "lightgbm") if (v := mean_of(r, m)) is not None]
        ctx = mean_of(r, "contextualized")
        rows.append(
            {
                "task": r["name"],
                "hypernetwork": hyper,
                "best_boosting": max(boost) if boost else None,
                "contextualized": ctx,
                "beats_boosting": None
                if hyper is None or not boost
                else hyper >= max(boost),
                "beats_contextualized": None
                if hyper is None or ctx is None
                else hyper >= ctx,
                "vs_boosting": paired(r, "hypernetwork", better_boosting(r)),
                "vs_contextualized": paired(r, "hypernetwork", "contextualized"),
            }
        )
    return {"tasks": rows}


def attribute_targets(records: list) -> dict:
    """Part (b): unseen/seen AUC ratio of the hypernetwork with attributes
    (target 0.95) and its margin over the "unknown" embedding on unseen
    rows (target: above it in every repeat)."""
    rows = []
    for r in records:
        seen = mean_of(r, "hn_attributes", "seen")
        unseen = mean_of(r, "hn_attributes", "unseen")
        unknown = r["models"].get("hn_unknown", {}).get("unseen")
        own = r["models"].get("hn_attributes", {}).get("unseen")
        rows.append(
            {
                "task": r["name"],
                "seen": seen,
                "unseen": unseen,
                "ratio": None if seen is None or unseen is None else unseen / seen,
                "unknown_unseen": None if unknown is None else float(np.mean(unknown)),
                "above_unknown_every_repeat": None
                if unknown is None or own is None
                else bool(all(a > b for a, b in zip(own, unknown, strict=True))),
            }
        )
    return {"tasks": rows}


def pooling_targets(records: list) -> dict:
    """Part (c): AUC with each pooling option minus without, per task."""
    rows = []
    for r in records:
        none = mean_of(r, "hn_pooling_0")
        row = {
            "task": r["name"],
            "rare_contexts": r["rare_contexts"],
            "tuning_twin": tuning_twin(r["name"]),
        }
        for model in POOLING_OPTIONS:
            option = mean_of(r, model)
            row[model] = None if option is None or none is None else option - none
        rows.append(row)
    return {"tasks": rows}


def targets(records: list) -> dict:
    """The three parts' targets for one half."""
    part = {f: [r for r in records if r["family"] == f] for f in FAMILY_MODELS}
    return {
        "varying": varying_targets(part["varying"]),
        "attributes": attribute_targets(part["attributes"]),
        "rare": pooling_targets(part["rare"]),
    }


def metric_of(record: dict) -> str:
    """The score a task's tables show: R² or (ROC) AUC."""
    return "R²" if record["problem"] == "regression" else "AUC"


def fmt(value: float | None, digits: int = 3) -> str:
    """A number, or a dash when missing."""
    return "—" if value is None else f"{value:.{digits}f}"


def varying_lines(result: dict) -> list[str]:
    """Part (a)'s target as Markdown bullets."""
    rows = result["tasks"]
    if not rows:
        return ["- (a) No varying-coefficient task in this set."]
    lines = []
    for key, label in (
        ("beats_boosting", "the better gradient boosting (HistGB, LightGBM)"),
        ("beats_contextualized", "contextualized-ml"),
    ):
        known = [r for r in rows if r[key] is not None]
        if not known:
            lines.append(f"- (a) HyperNetwork vs {label}: no result to compare.")
            continue
        met = [r["task"] for r in known if r[key]]
        missed = [r["task"] for r in known if not r[key]]
        test = "vs_boosting" if key == "beats_boosting" else "vs_contextualized"
        losses = [r["task"] for r in known if (r[test] or {}).get("verdict") == "loss"]
        tail = f" Missed: {', '.join(missed)}" if missed else ""
        if missed:
            tail += (
                f"; significantly worse (p < 0.05) on {', '.join(losses)}."
                if losses
                else "; none of them significantly worse (p < 0.05)."
            )
        lines.append(
            f"- (a) HyperNetwork at least as good as {label}: **{len(met)} of "
            f"{len(known)}** tasks.{tail}"
        )
    return lines


def attribute_lines(result: dict) -> list[str]:
    """Part (b)'s targets as Markdown bullets."""
    lines = []
    for r in result["tasks"]:
        if r["ratio"] is None:
            lines.append(f"- (b) {r['task']}: HN + attributes has no result.")
            continue
        ratio_met = "met" if r["ratio"] >= 0.95 else "**not met**"
        above = {
            True: "above it in every repeat",
            False: "**not** above it in every repeat",
            None: "no result for it",
        }[r["above_unknown_every_repeat"]]
        lines.append(
            f"- (b) {r['task']}: unseen/seen AUC **{r['ratio']:.3f}** (target "
            f"0.95: {ratio_met}); unseen AUC {fmt(r['unseen'])} against the "
            f'"unknown" embedding\'s {fmt(r["unknown_unseen"])}: {above}.'
        )
    return lines or ["- (b) No attribute task in this set."]


def pooling_lines(result: dict) -> list[str]:
    """Part (c)'s targets as Markdown bullets, for each pooling option; where
    some tasks share their data with a tuning-half twin, again without
    them."""
    tasks = result["tasks"]
    lines = _pooling_verdicts(tasks)
    twinned = [r for r in tasks if r.get("tuning_twin")]
    if twinned:
        pairs = ", ".join(f"{r['task']} ({r['tuning_twin']})" for r in twinned)
        lines.append(
            f"- (c) {len(twinned)} of these tasks share their rows, contexts "
            "and rules with a task of the tuning half, their classification "
            f"or regression twin: {pairs}. Without them:"
        )
        clean = [r for r in tasks if not r.get("tuning_twin")]
        lines += ["  " + line for line in _pooling_verdicts(clean)]
    return lines


def _pooling_verdicts(tasks: list) -> list[str]:
    """Both targets of part (c) for each pooling option, on ``tasks``."""
    lines = []
    for model, label in POOLING_OPTIONS.items():
        rows = [r for r in tasks if r.get(model) is not None]
        if not rows:
            lines.append(f"- (c) {label}: no rare-context task with it and without.")
            continue
        worst = min(rows, key=lambda r: r[model])
        never = "met" if worst[model] >= -0.005 else "**not met**"
        rare = [r for r in rows if r["rare_contexts"]]
        gains = [r["task"] for r in rare if r[model] > 0]
        lines += [
            f"- (c) {label} never loses more than 0.005 AUC or R²: {never} (worst: "
            f"{worst[model]:+.3f} on {worst['task']}).",
            f"- (c) {label} gains on the tasks with many rare contexts: "
            f"**{len(gains)} of {len(rare)}**"
            + (f" ({', '.join(gains)})." if gains else "."),
        ]
    return lines


# -- tables --------------------------------------------------------------------


def cell(result: dict | None, key: str = "test") -> str:
    """``mean ± std`` of one model's scores, or why there is none."""
    if result is None:
        return "—"
    if "skipped" in result:
        return "skipped (not installed)"
    if "error" in result:
        return "failed"
    values = np.asarray(result[key])
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {std:.3f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (a sentence when there is no row)."""
    if not rows:
        return "(No task of this part in this half.)"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def varying_table(records: list) -> str:
    """Part (a): R^2 or AUC per task and model; fit seconds after it."""
    models = FAMILY_MODELS["varying"]
    header = ["task", "metric", "rows", "context", *(MODEL_LABELS[m] for m in models)]
    rows = []
    for r in records:
        context = ", ".join([*r["categorical"], *r["continuous"]])
        metric = metric_of(r)
        cells = [cell(r["models"].get(m)) for m in models]
        rows.append([r["name"], metric, str(r["n_rows"]), context, *cells])
    return table(header, rows)


def verdict_table(records: list) -> str:
    """Part (a): hypernetwork minus the better boosting and minus
    contextualized-ml, per task, with the corrected t-test's verdict."""
    from bench_quality import format_p

    def text(result):
        if result is None:
            return "—"
        name = MODEL_LABELS[result["baseline"]]
        delta = f"{result['delta']:+.3f} {result['verdict']} ({format_p(result['p'])})"
        return delta if name == "contextualized-ml" else f"{delta} vs {name}"

    rows = [
        [t["task"], text(t["vs_boosting"]), text(t["vs_contextualized"])]
        for t in varying_targets(records)["tasks"]
    ]
    return table(["task", "vs better boosting", "vs contextualized-ml"], rows)


def fit_table(records: list, family: str) -> str:
    """Median fit seconds per task and model."""
    models = FAMILY_MODELS[family]
    rows = []
    for r in records:
        cells = []
        for m in models:
            result = r["models"].get(m) or {}
            times = result.get("fit_time")
            cells.append("—" if times is None else f"{np.median(times):.2f}")
        rows.append([r["name"], *cells])
    return table(["task", *(MODEL_LABELS[m] for m in models)], rows)


def attribute_table(records: list) -> str:
    """Part (b): AUC on seen and unseen contexts, and the ratio, per model."""
    rows = []
    for r in records:
        for m in FAMILY_MODELS["attributes"]:
            result = r["models"].get(m)
            seen = mean_of(r, m, "seen")
            unseen = mean_of(r, m, "unseen")
            ratio = None if seen is None or unseen is None else unseen / seen
            rows.append(
                [
                    r["name"],
                    str(r["n_contexts"]),
                    MODEL_LABELS[m],
                    cell(result, "seen"),
                    cell(result, "unseen"),
                    fmt(ratio),
                ]
            )
    header = ["task", "contexts", "model", "AUC seen", "AUC unseen", "unseen/seen"]
    return table(header, rows)


def pooling_table(records: list) -> str:
    """Part (c): AUC or R² per pooling setting and each option's gain over
    none."""
    models = FAMILY_MODELS["rare"]
    header = [
        "task",
        "metric",
        "contexts",
        "contexts ≤ 10 rows",
        *(MODEL_LABELS[m] for m in models),
        *(f"{label} − none" for label in POOLING_OPTIONS.values()),
    ]
    rows = []
    for r in records:
        none = mean_of(r, "hn_pooling_0")
        deltas = []
        for model in POOLING_OPTIONS:
            option = mean_of(r, model)
            delta = None if option is None or none is None else option - none
            deltas.append("—" if delta is None else f"{delta:+.3f}")
        name = r["name"] + ("" if r["rare_contexts"] else " (control)")
        cells = [cell(r["models"].get(m)) for m in models]
        rows.append(
            [
                name,
                metric_of(r),
                str(r["n_contexts"]),
                str(r["contexts_up_to_10_rows"]),
                *cells,
                *deltas,
            ]
        )
    return table(header, rows)


HALF_TEMPLATE = Template(
    """\
### $title half

#### Targets

$targets

#### (a) Varying coefficients: R² or ROC AUC

Mean ± standard deviation over the held-out folds ($folds).

$varying

HyperNetwork minus each baseline per fold, mean and the verdict of the
corrected resampled t-test (*win*/*loss* when p < 0.05, else *tie*):

$varying_verdicts

Fit seconds (median over folds):

$varying_fit

#### (b) Unseen contexts with attributes: ROC AUC

Mean ± standard deviation over $group_repeats random 70/30 splits of the
context values; *seen*: held-out rows (20%) of the 70% of values trained on;
*unseen*: every row of the other 30%.

$attributes

Fit seconds (median over splits):

$attributes_fit

#### (c) Rare contexts: ROC AUC or R² with and without pooling

Mean ± standard deviation over the held-out folds ($folds), stratified by
context.

$pooling

Fit seconds (median over folds):

$pooling_fit
"""
)

SECTION_TEMPLATE = Template(
    """\
$start
## Context suite: continuous contexts, attributes, rare contexts

Three questions of issue 15, on tasks of their own
(`benchmarks/context_data.py`, split into a tuning and a confirmation half
by a seeded draw fixed before any model ran on them; the confirmation half
comes first): (a) does a continuous context generate good weights, against
the Contextualized ML toolbox (`contextualized-ml`) and gradient boosting;
(b) are unseen context values with known attributes predicted as well as
seen ones; (c) does partial pooling (the training penalty
`context_pooling`, or `context_shrinkage` after training) help many rare
contexts without hurting elsewhere. All models with default settings;
how the defaults of the context options were chosen on the tuning half
(rounds 6 to 10), and the option `continuous_encoding="piecewise_linear"`
on this confirmation half, are in
[defaults.md](defaults.md#context-options-round-6).

Produced by

```bash
$command
```

on $date, $cores cores ($cpu; load average $load at the start), skhyper
commit $commit. Wall time: $wall.$jobs_note $contextualized_note

$halves
### Method (context suite)

- **(a)** Every model sees the same `RepeatedKFold` (regression) or
  `RepeatedStratifiedKFold` (classification) folds, `n_splits=5`,
  `random_state=0`. *HyperNetwork*/*Concat*: `HyperNetworkRegressor` /
  `ConcatRegressor` (or the classifiers) with `continuous_context` set to
  the continuous context columns and, for the mixed tasks,
  `context_column="region"`. *HistGB* and *LightGBM* (`n_jobs=1`): the
  context columns as plain features, the region as a native categorical.
  *contextualized-ml*: `ContextualizedRegressor` / `ContextualizedClassifier`
  from `contextualized.easy` through a scikit-learn-style adapter in
  `benchmarks/context_suite.py`: `C` = the standardised continuous context
  and the one-hot region, `X` = the standardised features, regression
  targets standardised; its defaults (early stopping on a 20% validation
  split) except `train_batch_size=$ctx_batch` (its default of 1 makes a
  fit of 2400 rows take minutes here). It is an optional install:
  `pip install -e ".[contextualized]"` then
  `pip install --no-deps contextualized-ml` (a plain `pip install
  contextualized-ml` pulls torchvision and a newer, CUDA, torch; a
  torchvision that does not match torch breaks its import through
  torchmetrics, and it does not use torchvision). Where it does not import
  its cells say *skipped*.
- **(b)** `GroupShuffleSplit(test_size=0.3, random_state=0)` on the context
  value; within the seen values a split stratified by value holds out 20% of
  the rows. *HN + attributes*: `HyperNetworkClassifier(context_column=...,
  context_attributes=table)`; *HN, "unknown" embedding*: the same with
  `handle_unknown="learned"` and no table; *Concat + attributes*:
  `ConcatClassifier` with the table; *HistGB + attributes*:
  `HistGradientBoostingClassifier` on the features joined with the
  attributes of each row's value (no value id).
- **(c)** `HyperNetworkClassifier` (`HyperNetworkRegressor` on the
  regression twins, `*_reg`) with `context_pooling` at $pooling_on,
  at 0 and at $strong (each with `context_shrinkage=0`), and with
  `context_shrinkage="auto"` (the classifier's default since round 10, the
  regressor's since round 12; pooling 0), on
  `RepeatedStratifiedKFold(n_splits=5)` folds stratified by the context,
  so that every context (even one of 2 rows) is in every training fold.
- **Targets** (issue 15): (a) HyperNetwork's mean R² / AUC at least that of
  contextualized-ml and of the better gradient boosting, per task; (b) AUC
  on unseen values at least 95% of that on seen values, and above the
  "unknown" embedding's (here: in every repeat); (c) each pooling option
  (`context_pooling=$pooling_on`, `context_shrinkage="auto"`) loses at most
  0.005 AUC (R² on the regression twins) against neither on every task
  and gains on the tasks with many rare contexts. Standard deviations
  over overlapping folds understate the uncertainty of a mean.
- **Times** are one thread per fit on a machine shared with other work
  (see the load average above); compare them within a run only.

### Tasks (context suite)

$tasks
$end"""
)


def half_section(half: str, records: list, meta: dict) -> str:
    """One half's targets and tables."""
    part = {f: [r for r in records if r["family"] == f] for f in FAMILY_MODELS}
    result = targets(records)
    lines = [
        *varying_lines(result["varying"]),
        *attribute_lines(result["attributes"]),
        *pooling_lines(result["rare"]),
    ]
    cv = meta["cv"]
    return HALF_TEMPLATE.substitute(
        title=half.capitalize(),
        targets="\n".join(lines),
        folds=f"{cv['n_splits']} folds x {cv['n_repeats']} repeat(s)",
        varying=varying_table(part["varying"]),
        varying_verdicts=verdict_table(part["varying"]),
        varying_fit=fit_table(part["varying"], "varying"),
        attributes_fit=fit_table(part["attributes"], "attributes"),
        pooling_fit=fit_table(part["rare"], "rare"),
        group_repeats=cv["group_repeats"],
        attributes=attribute_table(part["attributes"]),
        pooling=pooling_table(part["rare"]),
    )


def task_lines(records: list) -> str:
    """A bullet per task."""
    lines = []
    for r in records:
        context = ", ".join(f"`{c}`" for c in [*r["categorical"], *r["continuous"]])
        lines.append(
            f"- **{r['name']}** ({r['half']}; {r['family']}, {r['problem']}; "
            f"{r['n_rows']} rows, context {context}): {r['description']}"
        )
    return "\n".join(lines)


def by_half(records: list) -> dict[str, list]:
    """Records grouped by half, confirmation first."""
    groups: dict[str, list] = {}
    for half in ("confirmation", "tuning"):
        group = [r for r in records if r["half"] == half]
        if group:
            groups[half] = group
    return groups


def render_section(report: dict) -> str:
    """The context section of ``docs/benchmarks.md``, between its markers."""
    meta, records = report["meta"], report["tasks"]
    machine = meta["machine"]
    jobs = meta.get("jobs", 1)
    reason = meta["contextualized"]
    return SECTION_TEMPLATE.substitute(
        start=CONTEXT_START,
        end=CONTEXT_END,
        command=meta["command"],
        date=meta["date"],
        cores=machine["cores"],
        cpu=machine["cpu"],
        load=", ".join(str(x) for x in machine["load_average_at_start"]),
        commit=meta["commit"],
        wall=f"{meta['wall_s'] / 60:.1f} min ({meta['wall_s']:.0f} s)",
        jobs_note=f" {jobs} tasks at a time, one thread each." if jobs > 1 else "",
        contextualized_note=(
            f"contextualized-ml {meta['versions'].get('contextualized-ml')}."
            if reason is None
            else f"contextualized-ml did not import ({reason}): skipped."
        ),
        halves="\n".join(
            half_section(h, group, meta) for h, group in by_half(records).items()
        ),
        ctx_batch=CONTEXTUALIZED_BATCH,
        strong=f"{STRONG_POOLING:g}",
        pooling_on=f"{POOLING:g}",
        tasks=task_lines(records),
    )


def splice(page: str, section: str) -> str:
    """``page`` with its context section replaced by ``section`` (appended
    if it has none)."""
    start, end = page.find(CONTEXT_START), page.find(CONTEXT_END)
    if start < 0 or end < 0:
        return page.rstrip("\n") + "\n\n" + section + "\n"
    return page[:start] + section + page[end + len(CONTEXT_END) :]


def section_of(page: str) -> str | None:
    """The context section of ``page`` (markers included), if it has one,
    with the hand-written notes that follow it (see ``NOTES_START``)."""
    start, end = page.find(CONTEXT_START), page.find(CONTEXT_END)
    if start < 0 or end < 0:
        return None
    end += len(CONTEXT_END)
    notes_start, notes_end = page.find(NOTES_START, end), page.find(NOTES_END, end)
    if notes_start >= 0 and notes_end >= 0 and not page[end:notes_start].strip():
        end = notes_end + len(NOTES_END)
    return page[start:end]


# -- running -------------------------------------------------------------------


def selected(args) -> list[ContextTask]:
    """The context tasks of this run."""
    tasks = list(CONTEXT_TASKS)
    if args.only:
        tasks = [t for t in tasks if t.name in args.only]
    elif args.smoke:
        tasks = [t for t in tasks if t.smoke_kwargs is not None]
    if args.half != "all":
        tasks = [t for t in tasks if t.half == args.half]
    return tasks


def versions() -> dict:
    """Installed versions of the packages the suite depends on."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def run(args, argv: list[str], machine: dict, commit: str) -> dict:
    """Evaluate the selected context tasks; the report."""
    tasks = selected(args)
    if not tasks:
        raise SystemExit("No context task selected (check --only, --half, --smoke).")
    models = tuple(args.model or MODELS)
    params = dict(args.param or [])
    reason = contextualized_status()
    if reason is not None and "contextualized" in models:
        print(f"contextualized-ml is skipped: {reason}")
    meta = {
        "suite": "context",
        "command": shlex.join(["python", "benchmarks/bench_quality.py", *argv]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "smoke": args.smoke,
        "half": args.half,
        "models": list(models),
        "params": params,
        "jobs": args.jobs,
        "cv": {
            "n_splits": 2 if args.smoke else N_SPLITS,
            "n_repeats": args.repeats,
            "group_repeats": 1 if args.smoke else GROUP_SPLITS * args.repeats,
            "random_state": SEED,
        },
        "machine": machine,
        "versions": versions(),
        "commit": commit,
        "contextualized": reason,
    }
    start = time.perf_counter()
    records = Parallel(n_jobs=args.jobs)(
        delayed(evaluate_task)(t, args.smoke, args.repeats, models, params)
        for t in tasks
    )
    meta["wall_s"] = time.perf_counter() - start
    return {"meta": meta, "tasks": records}


def is_full_run(args) -> bool:
    """A run whose results the docs show."""
    return not (args.smoke or args.only or args.model or args.param) and (
        args.half in ("all", "confirmation")
    )


def write_outputs(args, report: dict, full: bool) -> None:
    """context.json, and the doc's section (in the page for a full run)."""
    section = render_section(report)
    if args.output_dir is None and full:
        json_path = ROOT / "benchmarks" / "results" / "context.json"
        doc_path = ROOT / "docs" / "benchmarks.md"
        page = doc_path.read_text() if doc_path.exists() else "# Quality benchmark\n"
        text = splice(page, section)
    else:
        folder = Path(args.output_dir or tempfile.mkdtemp(prefix="skhyper-context-"))
        json_path, doc_path, text = (
            folder / "context.json",
            folder / "context.md",
            section,
        )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    doc_path.write_text(text + ("" if text.endswith("\n") else "\n"))
    print(f"wrote {json_path}\nwrote {doc_path}")


def failures(report: dict) -> list[str]:
    """``task/model`` for every model that raised (a skip is no failure)."""
    return [
        f"{r['name']}/{m}"
        for r in report["tasks"]
        for m, v in r["models"].items()
        if "error" in v
    ]


def main(args, argv: list[str], machine: dict, commit: str, made_by_full) -> int:
    """Run (or re-render) the context suite; 1 if a model failed."""
    if args.render:
        report = json.loads(Path(args.render).read_text())
        full = made_by_full(report["meta"])
    else:
        report = run(args, argv, machine, commit)
        full = is_full_run(args)
    for half, group in by_half(report["tasks"]).items():
        print(f"\n=== {half} half ===")
        result = targets(group)
        lines = [
            *varying_lines(result["varying"]),
            *attribute_lines(result["attributes"]),
            *pooling_lines(result["rare"]),
        ]
        print("\n".join(lines))
    print(f"\nwall time {report['meta']['wall_s']:.0f} s")
    write_outputs(args, report, full)
    failed = failures(report)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0
