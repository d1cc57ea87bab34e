"""Round 11: where should the hypernetwork's output layer start? Two
starts of ``linear_readout=True`` on the tuning halves.

Run from the repository root::

    python benchmarks/compare_readout_start.py            # ~35 min on 2 cores
    python benchmarks/compare_readout_start.py --smoke    # CI: tiny tasks, 2 folds

- ``"zero"``: round 9's start. The output layer's weights for the
  generated layer's output (the readout) start at zero and those for the
  fully connected layers' output are drawn, so an untrained network is
  the reference combiner's.
- ``"linear"``: the package's start since round 11. The drawn weights
  read the generated layer's output and the fully connected layers' start
  at zero, so an untrained network is the varying-coefficient model and
  the non-linear part grows as far as training finds it useful.

The package builds only the second; this script rebuilds the first by
moving the drawn weights back to the fully connected layers' inputs after
the module is built (the same random draws, so the rest of the network is
the same). Tasks, folds, seeds and the rule are ``linear_readout``'s in
``compare_context_defaults.py`` (round 9): every family of the context
suite's tuning half and the default suite's tuning half, seeds 0 and 1, 5
folds; a default changes only where the paired gain exceeds its standard
error. Options as for that script (``--reuse``, ``--output``, ``--n-jobs``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402

from skhyper._modules import HyperNetworkModule  # noqa: E402

PARAMETER = "readout_start"
# The default it is judged against: round 9's start.
compare.judge_like_linear_readout(
    PARAMETER, ["zero", "linear"], "zero", "compare_readout_start.json"
)
_build = HyperNetworkModule.__init__
_evaluate = compare.evaluate  # the suite's own, which this script wraps


def _round_9_start(module: HyperNetworkModule, *args, **kwargs) -> None:
    """Build ``module``, then give the drawn output weights to the fully
    connected layers' output and zeros to the readout, as round 9 did."""
    _build(module, *args, **kwargs)
    if module.linear_readout:
        with torch.no_grad():
            weight = module.output.weight
            n_fc = weight.shape[1] // 2  # [FC output, generated output]
            weight[:, :n_fc] = weight[:, n_fc:].clone()
            weight[:, n_fc:] = 0.0


def evaluate(parameter: str, candidate: str, task, seed: int, smoke: bool):
    """Per-fold scores with ``linear_readout=True`` and the given start
    (set in the worker process that fits)."""
    start = _round_9_start if candidate == "zero" else _build
    with mock.patch.object(HyperNetworkModule, "__init__", start):
        return _evaluate("linear_readout", True, task, seed, smoke)


compare.evaluate = evaluate

if __name__ == "__main__":
    compare.main()
