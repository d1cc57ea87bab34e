"""Round 14: end the decay path with a stage at a lower learning rate.

Run from the repository root::

    python benchmarks/compare_annealing.py           # ~28 min on 2 cores
    python benchmarks/compare_annealing.py --smoke   # seconds
    python benchmarks/compare_annealing.py --draws 16 17 18 19   # ~15 min

Along the decay path the learning rate stays at its start, and training
stops once the last decay has not improved the validation monitor for
``n_iter_no_change`` epochs. A throwaway diagnostic on fresh draws of the
tuning half's three varying classification tasks scored the test fold
after every epoch: consecutive epochs differ by 0.004-0.006 ROC AUC,
which is the noise of the last steps' iterates, several times the gap to
contextualized-ml there. Lowering the step size when progress stalls is
the usual remedy for that noise (torch's and Keras' ``ReduceLROnPlateau``,
scikit-learn's ``learning_rate="adaptive"`` for ``MLPClassifier``'s SGD).
Two candidates:

- ``"stop"``: the training before round 14 (the path ends when its last
  decay stalls, keeping the best weights of the whole path);
- ``"anneal"``: where ``"stop"`` would end, go back to the best weights
  instead, under the decay they were found with, and train on at a tenth
  of the learning rate until the monitor stalls again; the best weights
  of the whole path (the annealed epochs included) are kept, so the stage
  stays only where the validation split says it helps.

Tasks, folds, seeds and the rule are ``linear_readout``'s in
``compare_context_defaults.py`` (every family of the context suite's
tuning half and the default suite's tuning half, seeds 0 and 1, 5 folds;
a default changes only where the paired gain exceeds its standard error).
Options as for that script (``--reuse``, ``--output``, ``--n-jobs``).

``--draws`` fits both ends instead on unseen draws of the ten
varying-coefficient tasks (``varying_draws.py``'s data and folds, the
hypernetwork only), and reports the paired difference, overall and by
problem: how the choice fares on data it was not made on.

Its verdict, ``"anneal"`` (round 14 of ``docs/defaults.md``), is the
package's training since: ``"anneal"`` is the package as it is, and
``"stop"`` rebuilds the earlier end of the path by setting
``skhyper._base.ANNEAL_LR_FACTOR`` to None in the worker that fits. (The
round itself ran before the package changed, with this script patching
the early-stopping callback instead; both give the same per-fold scores,
checked on ``interaction_clf_small`` with seed 0.)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402
import context_suite as suite  # noqa: E402
import varying_draws as draws  # noqa: E402

import skhyper._base as base  # noqa: E402

PARAMETER = "path_end"
compare.CHOICES = {
    PARAMETER: {
        **compare.CHOICES["linear_readout"],
        "candidates": ["stop", "anneal"],
        "default": "stop",  # the round was judged against the training until then
    }
}
compare.RESULTS = compare.RESULTS.with_name("compare_annealing.json")
_evaluate = compare.evaluate  # the suite's own, which this script wraps


def evaluate(parameter: str, candidate: str, task, seed: int, smoke: bool):
    """Per-fold scores at the defaults, with the candidate's end of the
    path (set in the worker process that fits)."""
    factor = base.ANNEAL_LR_FACTOR if candidate == "anneal" else None
    with mock.patch.object(base, "ANNEAL_LR_FACTOR", factor):
        return _evaluate("linear_readout", True, task, seed, smoke)


compare.evaluate = evaluate


def draw_scores(task, draw: int, candidate: str, smoke: bool) -> list[float]:
    """Per-fold scores of the hypernetwork with the candidate's end of the
    path on one unseen draw of ``task`` (``varying_draws.py``'s folds)."""
    task = draws.redrawn(task, draw)
    factor = base.ANNEAL_LR_FACTOR if candidate == "anneal" else None
    with (
        threadpool_limits(limits=1),
        warnings.catch_warnings(),
        mock.patch.object(base, "ANNEAL_LR_FACTOR", factor),
    ):
        warnings.simplefilter("ignore")
        data = task.load(**((task.smoke_kwargs or {}) if smoke else {}))
        cv = {"n_splits": 2 if smoke else draws.N_SPLITS, "n_repeats": 1}
        splits = suite.fold_splits(task, data.X, data.y, cv)
        return suite.run_model("hypernetwork", task, data, splits, smoke, {})["test"]


def compare_on_draws(numbers: list[int], n_jobs: int, smoke: bool) -> None:
    """Print ``"anneal"`` minus ``"stop"`` over unseen draws, paired by
    (task, draw), overall and by problem."""
    tasks = draws.varying_tasks(smoke)
    jobs = [
        (task, draw, candidate)
        for draw in numbers
        for task in tasks
        for candidate in ("stop", "anneal")
    ]
    start = time.perf_counter()
    scores = Parallel(n_jobs=n_jobs)(
        delayed(draw_scores)(task, draw, candidate, smoke)
        for task, draw, candidate in jobs
    )
    means: dict = {}
    for (task, draw, candidate), folds in zip(jobs, scores, strict=True):
        means.setdefault((task.problem, task.name, draw), {})[candidate] = np.mean(
            folds
        )
    print(f"Draws {numbers}: {time.perf_counter() - start:.0f} s\n")
    print("| task | draw | stop | anneal | anneal − stop |\n|---|---|---|---|---|")
    for (_, name, draw), pair in sorted(means.items(), key=lambda kv: kv[0][1:]):
        difference = pair["anneal"] - pair["stop"]
        print(
            f"| {name} | {draw} | {pair['stop']:.4f} | {pair['anneal']:.4f} "
            f"| {difference:+.4f} |"
        )
    print(
        "\n| problem | pairs | mean | SE | ahead | behind |\n|---|---|---|---|---|---|"
    )
    for problem in ("all", "classification", "regression"):
        gaps = np.array(
            [
                pair["anneal"] - pair["stop"]
                for (kind, _, _), pair in means.items()
                if problem in ("all", kind)
            ]
        )
        se = gaps.std(ddof=1) / np.sqrt(len(gaps)) if len(gaps) > 1 else float("nan")
        print(
            f"| {problem} | {len(gaps)} | {gaps.mean():+.4f} | {se:.4f} "
            f"| {(gaps > 0).sum()} | {(gaps < 0).sum()} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--draws", type=int, nargs="+")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    known, _ = parser.parse_known_args()
    if known.draws is None:
        compare.main()
    else:
        compare_on_draws(known.draws, known.n_jobs, known.smoke)


if __name__ == "__main__":
    main()
