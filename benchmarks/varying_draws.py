"""Fresh draws of the varying-coefficient tasks: is the gap to
contextualized-ml real?

Run from the repository root (with contextualized-ml installed as
``context_suite.py`` says; without it its column says *skipped*)::

    python benchmarks/varying_draws.py --draws 1 2 3 --jobs 2
    python benchmarks/varying_draws.py --smoke     # CI: 2 tasks, 2 folds
    python benchmarks/varying_draws.py --render A.json B.json  # runs together
    python benchmarks/varying_draws.py --draws 4 --models spline known_form

Part (a) of the context suite scores each varying-coefficient task on one
draw of its data, and there the hypernetwork's gaps to contextualized-ml
(0.001-0.006, either sign) are no larger than what a different draw of
the same task moves a score by. This script generates every task of that
family (both halves: ten tasks) again from new seeds (the task's own seed
plus ``1000 * draw``), with the same rows, rules and noise, and scores the
hypernetwork (defaults), contextualized-ml and the two gradient boosting
libraries by the suite's own 5-fold cross-validation (``context_suite``).
No default was chosen on these draws. The *oracle* scores the same test
rows by the noiseless score ``y`` was drawn from (``ContextData.truth``):
the best any model can do there, so that each model's distance below it
shows how much of the possible gain a difference between models is. Two
linear references (``varying_reference.py``) say what a classical model
reaches: *spline VC*, the textbook spline varying-coefficient model from
scikit-learn parts, which knows the tasks' family but not their form, and
*known form*, a penalised linear model on each task's true design, whose
distance below the oracle is what estimation alone leaves.

Each (task, draw) is an independent data set, so the unit of comparison
is its 5-fold mean: the report gives the mean of the hypernetwork's
paired differences over all of them, its standard error, a paired t-test
over them and how many are ahead or behind. It prints markdown and writes
``varying_draws.json`` and ``varying_draws.md`` to ``--output-dir``
(default ``benchmarks/results``); ``docs/benchmarks.md`` quotes them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.metrics import r2_score, roc_auc_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
import context_suite as suite  # noqa: E402
from bench_quality import git_commit  # noqa: E402
from context_data import CONTEXT_TASKS, CONTEXT_TASKS_BY_NAME, ContextTask  # noqa: E402
from context_suite import fmt  # noqa: E402
from varying_reference import known_form_scores, spline_scores  # noqa: E402

MODELS = (
    "hypernetwork",
    "contextualized",
    "hist_gb",
    "lightgbm",
    "spline",
    "known_form",
    "oracle",
)
SEED_STEP = 1000
N_SPLITS = 5
SMOKE_TASKS = ("seasonal_reg", "mixed_clf")


def redrawn(task: ContextTask, draw: int) -> ContextTask:
    """``task`` with its data generated from the seed ``seed + 1000 * draw``."""
    maker = task.load
    seed = inspect.signature(maker).parameters["seed"].default
    return replace(task, load=partial(maker, seed=seed + SEED_STEP * draw))


def varying_tasks(smoke: bool) -> list[ContextTask]:
    """Every varying-coefficient task of the context suite, both halves."""
    tasks = [t for t in CONTEXT_TASKS if t.family == "varying"]
    if smoke:
        tasks = [t for t in tasks if t.name in SMOKE_TASKS]
    return tasks


def run_job(task: ContextTask, draw: int, model: str, smoke: bool) -> dict:
    """Per-fold scores of ``model`` on one draw of ``task``."""
    task = redrawn(task, draw)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's and the boosters' hints
        data = task.load(**((task.smoke_kwargs or {}) if smoke else {}))
        cv = {"n_splits": 2 if smoke else N_SPLITS, "n_repeats": 1}
        splits = suite.fold_splits(task, data.X, data.y, cv)
        start = time.perf_counter()
        if model == "oracle":
            result = oracle_scores(task, data, splits)
        elif model == "spline":
            result = spline_scores(task, data, splits)
        elif model == "known_form":
            result = known_form_scores(task, data, splits)
        else:
            result = suite.run_model(model, task, data, splits, smoke, {})
    result["wall_s"] = time.perf_counter() - start
    return {"task": task.name, "draw": draw, "model": model, **result}


def oracle_scores(task: ContextTask, data, splits) -> dict:
    """Per-fold scores of the noiseless score ``y`` was drawn from: the
    best ROC AUC or R² any model can reach on those test rows."""
    metric = roc_auc_score if task.problem == "classification" else r2_score
    return {
        "test": [float(metric(data.y[test], data.truth[test])) for _, test in splits]
    }


def mean_scores(rows: list[dict]) -> dict:
    """``{(task, draw): {model: 5-fold mean}}`` of the models that ran."""
    means: dict = {}
    for row in rows:
        if "test" in row:
            key = (row["task"], row["draw"])
            means.setdefault(key, {})[row["model"]] = float(np.mean(row["test"]))
    return means


def score_of(scores: dict, model) -> float | None:
    """One (task, draw)'s score of ``model``: a model name or a function of
    the scores (None where missing)."""
    return model(scores) if callable(model) else scores.get(model)


def gap(scores: dict, baseline) -> float | None:
    """The hypernetwork's score minus ``baseline``'s in one (task, draw);
    ``baseline`` is a model name or a function of the scores. None where
    either is missing."""
    other = score_of(scores, baseline)
    if "hypernetwork" not in scores or other is None:
        return None
    return scores["hypernetwork"] - other


def comparison(means: dict, baseline) -> dict | None:
    """The hypernetwork minus ``baseline`` over the (task, draw) pairs."""
    gaps = [gap(scores, baseline) for scores in means.values()]
    gaps = [value for value in gaps if value is not None]
    if len(gaps) < 2:
        return None
    gaps = np.asarray(gaps)
    return {
        "n": len(gaps),
        "mean": float(gaps.mean()),
        "se": float(gaps.std(ddof=1) / np.sqrt(len(gaps))),
        "p": float(stats.ttest_1samp(gaps, 0.0).pvalue),
        "ahead": int((gaps > 0).sum()),
        "behind": int((gaps < 0).sum()),
    }


def better_boosting(scores: dict) -> float | None:
    """The better of the two gradient boosting scores."""
    found = [scores[m] for m in ("hist_gb", "lightgbm") if m in scores]
    return max(found) if found else None


def grouped(means: dict, key) -> dict[str, dict]:
    """``means`` split by ``key(task_name)``, in (task, draw) order."""
    split: dict[str, dict] = {}
    for (task, draw), scores in sorted(means.items()):
        split.setdefault(key(task), {})[(task, draw)] = scores
    return split


def by_problem(means: dict) -> dict[str, dict]:
    """``means`` split by the tasks' problem (classification, regression)."""
    return grouped(means, lambda task: CONTEXT_TASKS_BY_NAME[task].problem)


def per_task_lines(means: dict) -> list[str]:
    """Per task: the mean gap to contextualized-ml over its draws, and in
    how many draws the hypernetwork is behind."""
    gaps: dict[str, list[float]] = {}
    for (task, _), scores in means.items():
        value = gap(scores, "contextualized")
        if value is not None:
            gaps.setdefault(task, []).append(value)
    lines = ["| task | draws | HN − contextualized-ml, mean | behind in |"]
    lines.append("|---|---|---|---|")
    for task, values in sorted(gaps.items()):
        behind = sum(value < 0 for value in values)
        lines.append(
            f"| {task} | {len(values)} | {np.mean(values):+.4f} | "
            f"{behind} of {len(values)} |"
        )
    return lines


CEILING_MODELS = {
    "HyperNetwork": "hypernetwork",
    "contextualized-ml": "contextualized",
    "spline VC": "spline",
    "known form": "known_form",
    "better boosting": better_boosting,
}


def shortfall_line(name: str, subset: dict) -> str | None:
    """One row of the ceiling table: each model's mean score minus the
    oracle's over the pairs of ``subset`` that scored the oracle."""
    rows = [scores for scores in subset.values() if "oracle" in scores]
    if not rows:
        return None
    cells = []
    for model in CEILING_MODELS.values():
        found = [
            score_of(s, model) - s["oracle"]
            for s in rows
            if score_of(s, model) is not None
        ]
        cells.append(f"{np.mean(found):+.4f}" if found else "—")
    return f"| {name} | {len(rows)} | {' | '.join(cells)} |"


def ceiling_lines(means: dict) -> list[str]:
    """Per problem, then per task: how far each model's mean score is below
    the oracle's (none where no run scored the oracle)."""
    groups = {f"all {problem}": subset for problem, subset in by_problem(means).items()}
    groups.update(grouped(means, lambda task: task))
    lines = [shortfall_line(name, subset) for name, subset in groups.items()]
    lines = [line for line in lines if line is not None]
    if not lines:
        return []
    header = f"| minus the oracle | pairs | {' | '.join(CEILING_MODELS)} |"
    return ["", header, "|---" * (len(CEILING_MODELS) + 2) + "|", *lines]


def provenance(runs: list[dict]) -> str:
    """Which draws each run fitted, at which commit, in how long."""
    return "; ".join(
        f"draws {', '.join(map(str, run['draws']))}: commit "
        f"{run['meta']['commit']}, {run['meta']['wall_s']:.0f} s on "
        f"{run['meta']['jobs']} processes"
        for run in runs
    )


def report(rows: list[dict], runs: list[dict]) -> str:
    """The markdown tables: each (task, draw), then the paired summary."""
    means = mean_scores(rows)
    header = (
        "| task | draw | HyperNetwork | contextualized-ml | better boosting "
        "| spline VC | oracle | HN − contextualized-ml |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for (task, draw), scores in sorted(means.items()):
        to_contextualized = gap(scores, "contextualized")
        lines.append(
            f"| {task} | {draw} | {fmt(scores.get('hypernetwork'))} | "
            f"{fmt(scores.get('contextualized'))} | "
            f"{fmt(better_boosting(scores))} | {fmt(scores.get('spline'))} | "
            f"{fmt(scores.get('oracle'))} | "
            f"{'—' if to_contextualized is None else f'{to_contextualized:+.4f}'} |"
        )
    lines += ["", *per_task_lines(means), *ceiling_lines(means)]
    lines += ["", "| HyperNetwork minus | pairs | mean | SE | p | ahead | behind |"]
    lines.append("|---|---|---|---|---|---|---|")
    for name, baseline, pairs in (
        ("contextualized-ml", "contextualized", means),
        *(
            (f"contextualized-ml, {problem}", "contextualized", subset)
            for problem, subset in by_problem(means).items()
        ),
        ("better boosting", better_boosting, means),
        *(
            (f"spline VC, {problem}", "spline", subset)
            for problem, subset in by_problem(means).items()
        ),
    ):
        result = comparison(pairs, baseline)
        if result is None:
            lines.append(f"| {name} | 0 | skipped | | | | |")
            continue
        lines.append(
            f"| {name} | {result['n']} | {result['mean']:+.4f} | "
            f"{result['se']:.4f} | {result['p']:.2f} | {result['ahead']} | "
            f"{result['behind']} |"
        )
    skipped = sorted({r["skipped"] for r in rows if "skipped" in r})
    notes = [f"Skipped: {reason}" for reason in skipped]
    notes += [
        f"Error: {r['task']} draw {r['draw']} {r['model']}: {r['error']}"
        for r in rows
        if "error" in r
    ]
    made = provenance(runs).capitalize() + "."
    return "\n".join([made, "", *lines, *([""] + notes if notes else [])]) + "\n"


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="2 tasks, 2 folds")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="fit only these (runs of the rest can be rendered with them)",
    )
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        help="fit nothing: report the runs in these JSON files together",
    )
    return parser.parse_args(argv)


def render(paths: list[Path]) -> int:
    """Print the report of earlier runs' rows, taken together."""
    runs = [json.loads(path.read_text()) for path in paths]
    rows = [row for run in runs for row in run["rows"]]
    print(report(rows, runs))
    return 0


def main(argv=None) -> int:
    args = parse(argv)
    if args.render:
        return render(args.render)
    draws = args.draws[:1] if args.smoke else args.draws
    jobs = [
        (task, draw, model, args.smoke)
        for draw in draws
        for task in varying_tasks(args.smoke)
        for model in args.models
    ]
    start = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(delayed(run_job)(*job) for job in jobs)
    meta = {
        "commit": git_commit(),
        "models": args.models,
        "wall_s": time.perf_counter() - start,
        "jobs": args.jobs,
        "smoke": args.smoke,
    }
    text = report(rows, [{"draws": draws, "meta": meta}])
    print(text)
    folder = args.output_dir
    if folder is None:
        folder = Path(__file__).parent / "results" / ("smoke" if args.smoke else "")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "varying_draws.json").write_text(
        json.dumps({"meta": meta, "draws": draws, "rows": rows}, indent=1)
    )
    (folder / "varying_draws.md").write_text(text)
    failed = [row for row in rows if "error" in row]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
