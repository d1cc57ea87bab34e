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
problem: how the choice fares on data it was not made on. It also
reports what the stage costs: per problem, the median over the pairs of
``"anneal"``'s fit time over ``"stop"``'s (each the median over the
folds; both ends run in the same processes of one run, so the ratio,
not the seconds, is what to compare across machines).

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
from pathlib import Path
from unittest import mock

import numpy as np
from joblib import Parallel, delayed

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402
import varying_draws as draws  # noqa: E402

import skhyper._base as base  # noqa: E402

PARAMETER = "path_end"
# The default it is judged against: the training until this round.
compare.judge_like_linear_readout(
    PARAMETER, ["stop", "anneal"], "stop", "compare_annealing.json"
)
_evaluate = compare.evaluate  # the suite's own, which this script wraps


def path_end(candidate: str):
    """The candidate's end of the path, for the fits in this process: the
    package's annealed stage, or none (``ANNEAL_LR_FACTOR`` None)."""
    factor = base.ANNEAL_LR_FACTOR if candidate == "anneal" else None
    return mock.patch.object(base, "ANNEAL_LR_FACTOR", factor)


def evaluate(parameter: str, candidate: str, task, seed: int, smoke: bool):
    """Per-fold scores at the defaults, with the candidate's end of the
    path (set in the worker process that fits)."""
    with path_end(candidate):
        return _evaluate("linear_readout", True, task, seed, smoke)


compare.evaluate = evaluate


def draw_folds(task, draw: int, candidate: str, smoke: bool) -> dict:
    """Per-fold scores and fit seconds of the hypernetwork with the
    candidate's end of the path on one unseen draw of ``task``
    (``varying_draws.py``'s job)."""
    with path_end(candidate):
        return draws.run_job(task, draw, "hypernetwork", smoke)


def compare_on_draws(numbers: list[int], n_jobs: int, smoke: bool) -> None:
    """Print ``"anneal"`` minus ``"stop"`` over unseen draws, paired by
    (task, draw), overall and by problem (``varying_draws.py``'s
    comparison, with ``"anneal"`` in the hypernetwork's place)."""
    jobs = [
        (task, draw, candidate)
        for draw in numbers
        for task in draws.varying_tasks(smoke)
        for candidate in ("stop", "anneal")
    ]
    start = time.perf_counter()
    results = Parallel(n_jobs=n_jobs)(delayed(draw_folds)(*job, smoke) for job in jobs)
    means: dict = {}
    fit_seconds: dict = {}
    for (task, draw, candidate), folds in zip(jobs, results, strict=True):
        model = "hypernetwork" if candidate == "anneal" else candidate
        means.setdefault((task.name, draw), {})[model] = float(np.mean(folds["test"]))
        seconds = float(np.median(folds["fit_time"]))
        fit_seconds.setdefault((task.name, draw), {})[candidate] = seconds
    print(f"Draws {numbers}: {time.perf_counter() - start:.0f} s\n")
    print("| task | draw | stop | anneal | anneal − stop |\n|---|---|---|---|---|")
    for (name, draw), pair in sorted(means.items()):
        print(
            f"| {name} | {draw} | {pair['stop']:.4f} | {pair['hypernetwork']:.4f} "
            f"| {draws.gap(pair, 'stop'):+.4f} |"
        )
    print(
        "\n| problem | pairs | mean | SE | ahead | behind |\n|---|---|---|---|---|---|"
    )
    for problem, pairs in [("all", means), *draws.by_problem(means).items()]:
        result = draws.comparison(pairs, "stop")
        if result is None:  # a single pair (--smoke): no standard error
            continue
        print(
            f"| {problem} | {result['n']} | {result['mean']:+.4f} | "
            f"{result['se']:.4f} | {result['ahead']} | {result['behind']} |"
        )
    print_fit_cost(means, fit_seconds)


def print_fit_cost(means: dict, fit_seconds: dict) -> None:
    """The stage's cost: per problem, the median over (task, draw) pairs of
    ``"anneal"``'s median fit seconds over ``"stop"``'s, and its range."""
    print(
        "\n| problem | pairs | fit time, anneal / stop: median | min | max |"
        "\n|---|---|---|---|---|"
    )
    for problem, pairs in [("all", means), *draws.by_problem(means).items()]:
        ratios = [
            fit_seconds[key]["anneal"] / fit_seconds[key]["stop"] for key in pairs
        ]
        print(
            f"| {problem} | {len(ratios)} | {np.median(ratios):.2f} | "
            f"{min(ratios):.2f} | {max(ratios):.2f} |"
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
