"""Round 14: end the decay path with a stage at a lower learning rate.

Run from the repository root::

    python benchmarks/compare_annealing.py           # ~28 min on 2 cores
    python benchmarks/compare_annealing.py --smoke   # seconds

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

Its verdict, ``"anneal"`` (round 14 of ``docs/defaults.md``), is the
package's training since: ``"anneal"`` is the package as it is, and
``"stop"`` rebuilds the earlier end of the path by setting
``skhyper._base.ANNEAL_LR_FACTOR`` to None in the worker that fits. (The
round itself ran before the package changed, with this script patching
the early-stopping callback instead; both give the same per-fold scores,
checked on ``interaction_clf_small`` with seed 0.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402

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

if __name__ == "__main__":
    compare.main()
