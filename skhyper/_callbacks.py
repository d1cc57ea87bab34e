"""skorch callbacks that the estimators add to every net."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

from skorch.callbacks import Callback

# A final training loss this many times the reference loss (that of a model
# that knows nothing) means training blew up rather than learned.
DIVERGENCE_FACTOR = 10.0


class TrainingDivergedError(FloatingPointError):
    """Training blew up; the fitted model would predict garbage or NaN.

    ``fit`` raises it when the training loss becomes NaN or infinite, or
    ends more than ten times above the loss of a model that knows nothing
    (uniform probabilities for a classifier) after more than one training
    step. The message gives the loss and
    the learning rate; lowering ``lr`` is the usual cure. It is a
    ``FloatingPointError``, so code that catches those catches it too.

    See Also
    --------
    HyperNetworkClassifier : Its ``lr`` parameter sets the learning rate.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skhyper import ConcatClassifier, TrainingDivergedError
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"reading": rng.normal(size=100),
    ...                   "sensor": rng.choice(["a", "b"], size=100)})
    >>> y = X["reading"] > 0
    >>> model = ConcatClassifier("sensor", lr=1e6, weight_decay=0,
    ...                          max_epochs=3, random_state=0)
    >>> try:
    ...     model.fit(X, y)
    ... except TrainingDivergedError as error:
    ...     print(str(error)[:45])
    Training diverged: the training loss ended at
    """


class RaiseOnDivergence(Callback):
    """Fail the fit when training diverges, with a message saying what to do.

    Parameters
    ----------
    reference_loss : float or callable
        Loss of an uninformed model (uniform probabilities for a
        classifier), or a function of the training data that gives it
        (a regressor that trains on in a kept target scale). Training has
        diverged when the last epoch's loss of the data (without the
        partial-pooling penalty) exceeds ``DIVERGENCE_FACTOR`` times this;
        a NaN or infinite loss stops the fit at once.

    Notes
    -----
    An epoch's loss is the mean, over its steps, of the loss *before* each
    step. So a fit of a single step (one epoch of one batch) records only
    the loss of the network it started from, which says nothing about
    training: on inputs that reach a few units (quantile encoding of two
    rows gives +-5.2) an untrained network's squared error can exceed ten
    times the reference. Such a fit is not judged by its final loss; a NaN
    or infinite loss still stops it.
    """

    def __init__(self, reference_loss: float | Callable[..., float]):
        self.reference_loss = reference_loss

    def on_train_begin(self, net, X=None, **kwargs) -> None:
        # partial_fit and warm starts append to the history: judge this
        # call's epochs only.
        self.first_epoch_ = len(net.history)
        reference = self.reference_loss
        self.reference_loss_ = reference(X) if callable(reference) else reference

    def on_epoch_end(self, net, **kwargs) -> None:
        loss = net.history[-1, "train_loss"]
        if not math.isfinite(loss):
            self._fail(net, f"became {loss}")

    def on_train_end(self, net, **kwargs) -> None:
        if self._training_steps(net) < 2:
            return  # the loss is the starting network's (see Notes)
        # The reference is a loss of the data, so the partial-pooling
        # penalty (which can briefly be large on tiny contexts) is left out.
        last = net.history[-1]
        # An epoch cut short (Ctrl-C mid-epoch) has no loss yet: nothing to judge.
        loss = last.get("train_data_loss", last.get("train_loss"))
        if loss is not None and loss > DIVERGENCE_FACTOR * self.reference_loss_:
            self._fail(
                net,
                f"ended at {loss:.4g}, more than {DIVERGENCE_FACTOR:g} times the "
                f"{self.reference_loss_:.3g} of an uninformed model",
            )

    def _training_steps(self, net) -> int:
        epochs = net.history[self.first_epoch_ :]
        return sum(epoch.get("train_batch_count", 0) for epoch in epochs)

    @staticmethod
    def _fail(net, what: str) -> None:
        raise TrainingDivergedError(
            f"Training diverged: the training loss {what} (epoch "
            f"{len(net.history)}). Lower the learning rate (lr={net.lr}) or "
            "check the inputs for extreme values."
        )


class WeightAveraging(Callback):
    """Finish training with the mean of the weights at the end of each of
    the last ``n_epochs`` epochs (stochastic weight averaging, Izmailov et
    al., UAI 2018).

    The iterates of a constant learning rate keep moving around a minimum;
    their mean sits nearer its centre than any one of them, so it varies less
    with the shuffling and usually predicts held-out rows better.

    Parameters
    ----------
    n_epochs : int
        Number of final epochs averaged; ``1`` keeps the last weights.
    """

    def __init__(self, n_epochs: int):
        self.n_epochs = n_epochs

    def on_train_begin(self, net, **kwargs) -> None:
        self.mean_, self.n_averaged_ = None, 0
        # The epochs are counted from here: a warm start's history begins
        # with those of the fit it goes on from. (A checkpoint restores its
        # epochs after this, into a history that began empty.)
        self.first_epoch_ = len(net.history)

    def on_epoch_end(self, net, **kwargs) -> None:
        trained = len(net.history) - self.first_epoch_
        if trained <= net.max_epochs - self.n_epochs:
            return
        weights = net.module_.state_dict()
        self.n_averaged_ += 1
        if self.mean_ is None:
            self.mean_ = {name: w.detach().clone() for name, w in weights.items()}
            return
        for name, mean in self.mean_.items():
            if mean.is_floating_point():
                mean.add_(weights[name].detach() - mean, alpha=1 / self.n_averaged_)

    def on_train_end(self, net, **kwargs) -> None:
        if self.mean_ is not None:
            net.module_.load_state_dict(self.mean_)
        self.mean_ = None  # no copy of the weights kept in the fitted net


class StopOnConvergence(Callback):
    """Stop when the training loss has stopped improving: scikit-learn's
    rule for ``MLPClassifier`` without early stopping.

    An epoch whose training loss is not at least ``tol`` below the best so
    far counts as a miss; ``patience`` misses in a row end the fit. So an
    easy fit stops after a few dozen epochs and a hard one runs on, up to
    ``max_epochs``.

    Parameters
    ----------
    tol : float
        Smallest decrease of the training loss that counts as improvement.
    patience : int
        Misses in a row that stop training.
    """

    def __init__(self, tol: float, patience: int):
        self.tol = tol
        self.patience = patience

    def on_train_begin(self, net, **kwargs) -> None:
        self.best_loss_, self.misses_ = math.inf, 0

    def on_epoch_end(self, net, **kwargs) -> None:
        loss = net.history[-1, "train_loss"]
        self.misses_ = self.misses_ + 1 if loss > self.best_loss_ - self.tol else 0
        self.best_loss_ = min(self.best_loss_, loss)
        if self.stopped:
            raise KeyboardInterrupt  # skorch's signal to end training cleanly

    @property
    def stopped(self) -> bool:
        """Whether the rule has ended training (a checkpoint asks)."""
        return self.misses_ >= self.patience


class DecayPath(Callback):
    """Early stopping along a path of weight decays, strongest first.

    Training starts with ``decays[0]``. When the validation loss has not
    improved by ``tol`` for ``patience`` epochs, training goes back to the
    best weights so far and continues with the next, weaker decay. With
    ``anneal``, a last stage follows the last decay: back to the best
    weights, under the decay they were found with, at ``anneal`` times the
    learning rate. When the last stage stalls training stops, and the best
    weights of the whole path are kept.

    This is the warm-started regularisation path of glmnet, chosen by a
    validation split: a small or noisy table keeps the strong decay that
    pools what the contexts share, while a sharp rule on plenty of data
    goes on to the weak decay it needs to grow large weights. The annealed
    stage is the usual remedy for the noise of the last steps' iterates
    (``ReduceLROnPlateau``; scikit-learn's ``learning_rate="adaptive"``):
    smaller steps settle near the point the larger ones jumped around, and
    the validation split keeps them only where they score better. With a
    single decay and no ``anneal`` this is plain early stopping with the
    best epoch restored.

    Each epoch's decay and learning rate are recorded in the history as
    ``weight_decay`` and ``lr``.

    Parameters
    ----------
    decays : sequence of float
        The path, strongest first.
    patience : int
        Epochs without improvement before moving on (or stopping).
    tol : float
        Smallest decrease of the validation loss that counts as improvement.
    monitor : callable or None
        ``monitor(net)`` gives the number to minimise instead of skorch's
        ``valid_loss`` (recorded as ``valid_monitor``).
    anneal : float or None
        The learning rate's factor in a last stage from the best weights;
        None for no such stage.
    """

    def __init__(self, decays, patience: int, tol: float, monitor=None, anneal=None):
        self.decays = decays
        self.patience = patience
        self.tol = tol
        self.monitor = monitor
        self.anneal = anneal

    @property
    def n_stages(self) -> int:
        """The decays, and the annealed stage if there is one."""
        return len(self.decays) + (self.anneal is not None)

    @property
    def stopped(self) -> bool:
        """Whether the last stage has run out of patience: training ended
        (a checkpoint asks)."""
        return self.stage_ + 1 == self.n_stages and self.misses_ >= self.patience

    def on_train_begin(self, net, **kwargs) -> None:
        self.stage_, self.misses_, self.best_loss_ = 0, 0, math.inf
        self.best_weights_, self.best_decay_ = None, self.decays[0]
        # The groups that decay (biases never do).
        self._decayed = [g for g in net.optimizer_.param_groups if g["weight_decay"]]
        self._set_decay(self.decays[0])

    def on_epoch_end(self, net, **kwargs) -> None:
        if self._improved(net):
            return
        self.misses_ += 1
        if self.best_weights_ is None and self.misses_ >= self.patience:
            # Every epoch's score was NaN (or inf): there is no best epoch to
            # go back to, and comparing NaNs would end the fit without a word.
            raise TrainingDivergedError(
                f"Early stopping found no finite validation score in "
                f"{len(net.history)} epochs: the validation rows' loss is not "
                "a number. Check y and sample_weight for extreme values, or "
                "pass early_stopping=False."
            )
        if self.stopped:
            raise KeyboardInterrupt  # skorch's signal to end training cleanly
        if self.misses_ < self.patience:
            return
        self.stage_, self.misses_ = self.stage_ + 1, 0
        net.module_.load_state_dict(self.best_weights_)
        self._set_decay(self._stage_decay())
        if self.stage_ == len(self.decays):  # the annealed stage
            for group in net.optimizer_.param_groups:
                group["lr"] *= self.anneal

    def _stage_decay(self) -> float:
        """The decay of the current stage: the path's, then the best's."""
        if self.stage_ < len(self.decays):
            return self.decays[self.stage_]
        return self.best_decay_

    def _improved(self, net) -> bool:
        """Record the epoch's decay and monitored loss; if the loss improved
        by ``tol``, keep the weights as the best so far and say so."""
        decay = self._stage_decay()
        net.history.record("weight_decay", decay)
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])
        if self.monitor is None:
            loss = net.history[-1, "valid_loss"]
        else:
            loss = self.monitor(net)
            net.history.record("valid_monitor", loss)
        if loss < self.best_loss_ - self.tol:
            self.best_loss_, self.misses_, self.best_decay_ = loss, 0, decay
            self.best_weights_ = copy.deepcopy(net.module_.state_dict())
            return True
        return False

    def on_train_end(self, net, **kwargs) -> None:
        if self.best_weights_ is not None:
            net.module_.load_state_dict(self.best_weights_)
        self.best_weights_, self._decayed = None, []  # nothing kept in the net

    def _set_decay(self, decay: float) -> None:
        for group in self._decayed:
            group["weight_decay"] = decay
