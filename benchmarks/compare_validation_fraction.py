"""Round 15 (not adopted): hold out a fifth of the training rows for
validation instead of a tenth.

Run from the repository root::

    python benchmarks/compare_validation_fraction.py           # ~28 min on 2 cores
    python benchmarks/compare_validation_fraction.py --smoke   # seconds

With a validation split the estimators decide four things on it: the
epoch that early stopping keeps, the decay path's stage, which of
``weight_decay="auto"``'s two fits is kept, and the hypernetworks'
``context_shrinkage="auto"`` (the classifier's since round 10, the
regressor's since round 12). A tenth of the training rows
(``validation_fraction=0.1``, scikit-learn's default for ``MLPClassifier``)
is 64 rows on an 800-row table; a ROC AUC on 64 rows varies by several
hundredths between splits, so those choices are partly a draw. A throwaway
probe on fresh draws of the tuning half's three varying classification
tasks found a fifth (0.2, the default of contextualized-ml's early
stopping) ahead on most of them, where two other probes (the validation
log loss as the classifier's monitor, and batches of 32) found nothing.
This script is the round that judges it: ``0.1`` (the
default) against ``0.2``, with the tasks, folds, seeds and rule of
``linear_readout`` in ``compare_context_defaults.py`` (every family of the
context suite's tuning half and the default suite's tuning half, seeds 0
and 1, 5 folds; a default changes only where the paired gain exceeds its
standard error). Options as for that script (``--reuse``, ``--output``,
``--n-jobs``).

Its verdict (round 15 of ``docs/defaults.md``): keep ``0.1``. A fifth
loses on the sharp rules, which need every training row, and gains
nothing on the varying family.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402

compare.judge_like_linear_readout(
    "validation_fraction", [0.1, 0.2], 0.1, "compare_validation_fraction.json"
)

if __name__ == "__main__":
    compare.main()
