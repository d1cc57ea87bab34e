"""A candidate for round 13: grow the non-linear part only after the
varying-coefficient sub-model has stopped improving.

Run from the repository root::

    python benchmarks/compare_staged_start.py           # ~40 min on 2 cores
    python benchmarks/compare_staged_start.py --smoke   # seconds

Since round 11 the hypernetwork's output layer starts as the
varying-coefficient model: the readout of the fully connected (non-linear)
layers starts at zero, but trains from the first step. On unseen draws the
default trails contextualized-ml on the varying classification tasks
(``docs/benchmarks.md``), and a throwaway probe on two fresh draws of the
tuning half's three found a network whose non-linear readout stays at
zero scoring higher than the default. Two candidates:

- ``"direct"``: the package as it is (every weight trains from the start);
- ``"staged"``: a first stage trains with the non-linear readout held at
  zero (its gradient masked), under the path's first decay, until the
  validation monitor has not improved for ``n_iter_no_change`` epochs;
  then the best weights so far are restored and the whole network goes on
  along the decay path as before, so the non-linear part stays only if the
  validation split says it helps. This is the decay path's own rule
  (glmnet's warm-started path chosen on a validation split), with the
  sub-model as its first step.

The package builds only the first; this script patches the early-stopping
callback in the worker that fits. Tasks, folds, seeds and the rule are
``linear_readout``'s in ``compare_context_defaults.py`` (every family of
the context suite's tuning half and the default suite's tuning half,
seeds 0 and 1, 5 folds; a default changes only where the paired gain
exceeds its standard error). Options as for that script (``--reuse``,
``--output``, ``--n-jobs``). Its verdict, ``"direct"`` kept (round 13 of
``docs/defaults.md``), is why the package has no staged path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))
import compare_context_defaults as compare  # noqa: E402

import skhyper._base as base  # noqa: E402
from skhyper._callbacks import DecayPath  # noqa: E402

PARAMETER = "readout_growth"
# The default it is judged against: the package's training since round 11.
compare.judge_like_linear_readout(
    PARAMETER, ["direct", "staged"], "direct", "compare_staged_start.json"
)
_evaluate = compare.evaluate  # the suite's own, which this script wraps


class StagedPath(DecayPath):
    """:class:`DecayPath` with a first stage in which only the
    varying-coefficient sub-model trains (the non-linear readout's gradient
    is masked to zero)."""

    def on_train_begin(self, net, **kwargs) -> None:
        super().on_train_begin(net, **kwargs)
        module = net.module_
        self.growing_ = not getattr(module, "linear_readout", False)
        if self.growing_:
            return
        mask = torch.ones_like(module.output.weight)
        mask[:, : mask.shape[1] // 2] = 0.0  # [FC output, generated output]
        self._hook = module.output.weight.register_hook(
            lambda grad: grad if self.growing_ else grad * mask
        )

    def on_epoch_end(self, net, **kwargs) -> None:
        if self.growing_:
            return super().on_epoch_end(net, **kwargs)
        if self._improved(net):  # still in stage 0, under the first decay
            return
        self.misses_ += 1
        if self.misses_ >= self.patience:  # the sub-model has stopped: grow
            self.growing_, self.misses_ = True, 0
            net.module_.load_state_dict(self.best_weights_)

    def on_train_end(self, net, **kwargs) -> None:
        if getattr(self, "_hook", None) is not None:
            self._hook.remove()
            self._hook = None
        super().on_train_end(net, **kwargs)


def evaluate(parameter: str, candidate: str, task, seed: int, smoke: bool):
    """Per-fold scores at the defaults, with the candidate's training (set
    in the worker process that fits)."""
    path = StagedPath if candidate == "staged" else DecayPath
    with mock.patch.object(base, "DecayPath", path):
        return _evaluate("linear_readout", True, task, seed, smoke)


compare.evaluate = evaluate

if __name__ == "__main__":
    compare.main()
