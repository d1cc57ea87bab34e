"""What every skhyper estimator shares: validation, encoding, the skorch fit
and the batched predict.

Subclasses say which torch module they train (``_module_class``), which of
their parameters go to it (``_module_params``) and how targets are encoded
and outputs decoded.
"""

from __future__ import annotations

import math
import os
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.helper import predefined_split

from ._attributes import attributes_from_plain, attributes_to_plain
from ._callbacks import (
    DecayPath,
    RaiseOnDivergence,
    StopOnConvergence,
    WeightAveraging,
)
from ._checkpoint import CheckpointRun, NoCheckpoint, open_checkpoint
from ._compat import Interval, StrOptions, _check_sample_weight, _fit_context
from ._data import TensorBatches, TensorTable
from ._distributed import (
    agree_on_fit,
    make_net,
    predict_rows,
    release_net,
    training_device,
)
from ._encoding import (
    HANDLE_UNKNOWN_OPTIONS,
    EncodedTable,
    as_table,
    warn_rare_contexts,
)
from ._explain import explain_rows
from ._incremental import (
    all_or_nothing,
    continue_fit,
    forget_stream,
    new_encoder,
    partial_fit,
)
from ._modules import ACTIVATIONS
from ._numeric import NUMERIC_ENCODINGS
from ._optim import adamw_class
from ._persistence import (
    categories_from_plain,
    categories_to_plain,
    net_state,
    restore_net,
)
from ._pooling import (
    add_rows,
    choose_shrinkage,
    context_rows,
    pooling_coefficients,
    set_shrinkage,
)
from ._runtime import check_device, draw_seed, raise_if_interrupted, torch_session
from ._stack import user_stacklevel

# With handle_unknown="learned", this fraction of training rows sees the
# unknown context each epoch, which trains its embedding.
UNKNOWN_RATE = 0.05

# early_stopping="auto" holds out a validation split from this many rows on
# (a tenth of them is then at least 20 rows); smaller fits stop when the
# training loss converges, as MLPClassifier does.
AUTO_EARLY_STOPPING_ROWS = 200

# Rows per forward pass when skorch computes the validation loss.
VALID_BATCH_SIZE = 8192

# batch_size="auto": the smallest batch, the steps per epoch it aims at,
# and the largest batch by device type (see auto_batch_size).
AUTO_BATCH_MIN = 128
AUTO_BATCH_STEPS = 32
AUTO_BATCH_MAX = {"cpu": 4096, "cuda": 16384}

# weight_decay="auto": the path of decays that early stopping walks,
# strongest first (see DecayPath); without a validation split, the first.
DECAY_PATH = (7.0, 2.0, 0.5, 0.1)
# Early stopping ends with a stage at this fraction of the learning rate,
# from the best weights (see DecayPath; round 14 of docs/defaults.md).
ANNEAL_LR_FACTOR = 0.1

# Fitted attributes that __getstate__ leaves out: __setstate__ computes them
# again from the restored net and encoder (pandas objects are not plain data).
_DERIVED_ON_LOAD = ("context_categories_", "context_embeddings_")


class _ContextEstimator(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta
):
    """Base class; not for direct use."""

    # Parameters added after files were first saved, with the value that
    # gives the network such a file holds (see __setstate__).
    _parameters_since_first_format: dict = {}

    _parameter_constraints: dict = {
        "context_column": [
            str,
            Interval(Integral, None, None, closed="neither"),
            list,
            tuple,
            None,
        ],
        "continuous_context": [
            str,
            Interval(Integral, None, None, closed="neither"),
            list,
            tuple,
            None,
        ],
        "continuous_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
        "context_attributes": [pd.DataFrame, dict, None],
        "categories": [dict, None],
        "warm_start": ["boolean"],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "embedding_size": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "weight_averaging": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "numeric_encoding": [StrOptions(set(NUMERIC_ENCODINGS))],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "handle_unknown": [StrOptions(set(HANDLE_UNKNOWN_OPTIONS))],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str, torch.device],
        # An accelerate.Accelerator, checked in fit (accelerate is optional).
        "accelerator": "no_validation",
        "checkpoint": [str, os.PathLike, None],
    }

    _module_class: type[torch.nn.Module]

    @abstractmethod
    def _module_params(self) -> dict:
        """Constructor arguments of the torch module taken from ``self``."""

    @abstractmethod
    def _encode_target(self, y, n_samples: int) -> np.ndarray:
        """Validate ``y``, store what is learned from it, return the array
        the loss expects."""

    @abstractmethod
    def _criterion(self) -> type[torch.nn.Module]:
        """The torch loss class."""

    @abstractmethod
    def _reference_loss(self) -> float | Callable[[TensorTable], float]:
        """Training loss of a model that has learned nothing, or a function
        of the training rows that gives it."""

    @abstractmethod
    def _n_outputs(self) -> int:
        """Width of the network's output layer."""

    def _scale_target(self, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """The target as the loss sees it, given the rows' weights."""
        return target

    def _apply_target_scale(self, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """The target in the scale fixed by the first ``partial_fit`` call
        (or by ``fit``), given the rows' weights."""
        return target

    @abstractmethod
    def _declare_targets(self, classes) -> None:
        """On the first ``partial_fit`` call: what the target can be."""

    @abstractmethod
    def _encode_known_target(self, y, n_samples: int) -> np.ndarray:
        """``y`` encoded against the targets already declared or fitted."""

    def _pooling_strength(self) -> float:
        """``context_pooling`` of architectures that generate per-context
        weights; 0 for the others."""
        return 0.0

    def _shrinkage_setting(self) -> float | str | None:
        """``context_shrinkage`` of architectures that generate per-context
        weights; None for the others."""
        return None

    def _row_weights(self, target: np.ndarray) -> np.ndarray | None:
        """Per-row loss weights implied by the target (e.g. class weights)."""
        return None

    def _stratify(self, target: np.ndarray) -> np.ndarray | None:
        """Labels to stratify the early-stopping split by, if any."""
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Missing numeric values are encoded with a learned indicator.
        tags.input_tags.allow_nan = True
        # Context and categorical columns may hold strings or pandas
        # categories; they are encoded, not rejected.
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Training features, including the context column.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row in the loss (the batch loss is
            the weighted mean of the rows' losses). ``context_shrinkage``
            counts each context's training-split rows in rows of average
            weight; the ``RareContextWarning`` counts every row of ``X``,
            whatever its weight. With early stopping, both the training
            and the validation split need rows of positive weight (else a
            ``ValueError``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_device(self.device)  # a ValueError now, not torch's later
        if self.warm_start and hasattr(self, "net_"):
            return continue_fit(self, X, y, sample_weight)
        # A fit that fails (or is interrupted) leaves a fitted estimator as
        # it was, not with new encoders beside the old network.
        with all_or_nothing(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight) -> _ContextEstimator:
        module_params = self._module_params()  # validates what constraints cannot
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target "
                "y is None."
            )
        table = as_table(X, type(self).__name__)
        # The converted table, not X: scikit-learn before 1.9 reads no
        # column names from a polars frame, which gave no feature_names_in_.
        validate_data(self, table, skip_check_array=True, reset=True)
        target = self._encode_target(y, n_samples=len(table))
        weight = self._combined_weights(table, target, sample_weight)
        target = self._scale_target(target, weight)

        forget_stream(self)
        self.encoder_ = new_encoder(self)
        encoded = self.encoder_.fit_transform(table, weight)
        self.context_categories_ = self.encoder_.categories_
        warn_rare_contexts(encoded.context, self.encoder_.context_encoders_)

        # With checkpoint, a resumed fit keeps the seed it was started with.
        run = open_checkpoint(
            self, encoded, target, weight, draw_seed(self.random_state)
        )
        device, seed, train, valid = self._training_splits(
            encoded, target, weight, run.seed
        )
        with torch_session(self.n_threads, seed, device):
            net = self._train(encoded, module_params, seed, train, valid, run)
            self._fit_shrinkage(net, train, valid)
        self.resumed_from_epoch_ = run.resumed_from_epoch
        return self._keep(release_net(net, self.device))

    def _training_splits(
        self, encoded: EncodedTable, target, weight: np.ndarray, seed: int
    ) -> tuple[str, int, TensorTable, TensorTable | None]:
        """``(device, seed, train, valid)`` for a fit or a warm start: the
        rows on the device that trains (an accelerator's, where there is
        one), the seed every process takes (process 0's, after checking that
        all were given the same table: each would otherwise split and
        shuffle on its own, and train on a mixture of tables), and the
        early-stopping split drawn with it. Sets ``batch_size_`` for the
        training split."""
        device = training_device(self.accelerator, self.device)
        data = TensorTable(
            encoded, target, weight, device, self._pooling(encoded, weight)
        )
        seed = agree_on_fit(self.accelerator, seed, data)
        train, valid = self._early_stopping_split(data, target, seed)
        self.batch_size_ = self._batch_size(len(train), device)
        return device, seed, train, valid

    def _pooling(self, encoded: EncodedTable, weight: np.ndarray):
        """Each row's partial-pooling coefficient, or None without pooling.
        Pooling shrinks each categorical context towards the shared layer
        by its row count; continuous values have no groups to count."""
        if self._pooling_strength() > 0 and encoded.context.shape[1] > 0:
            return pooling_coefficients(
                encoded.context, weight, self._pooling_strength()
            )
        return None

    def _fit_shrinkage(
        self, net: NeuralNet, train: TensorTable, valid, earlier=None
    ) -> None:
        """Count the training rows of each context (0 for one seen only in
        the validation split), plus the ``earlier`` counts of the fit a
        warm start goes on from, and shrink the fitted updates by
        ``context_shrinkage`` (``"auto"``: chosen on the validation split,
        none without one); see ``_pooling.py``. With a continuous context
        every row is a context of its own: none to count."""
        setting = self._shrinkage_setting()
        if setting is None:
            return
        module = net.module_
        if train.context.shape[1] == 0 or module.context_embedding.per_row:
            self._set_shrinkage(module, None, None, 0.0)
            return
        # Contexts seen only in the validation split are listed with 0 rows:
        # their embeddings never trained, so they take the mean update.
        seen = None if valid is None else valid.context
        ids, rows = context_rows(module, train.context, train.weight, seen)
        ids, rows = add_rows(earlier, ids, rows)
        if setting != "auto":
            prior_rows = float(setting)
        elif valid is None:
            prior_rows = 0.0
        else:
            prior_rows = choose_shrinkage(net, valid, ids, rows)
        self._set_shrinkage(module, ids, rows, prior_rows)

    def _set_shrinkage(self, module, ids, rows, prior_rows: float) -> None:
        set_shrinkage(module, ids, rows, prior_rows)
        self.context_shrinkage_ = float(prior_rows)
        # Plain arrays, so that pickle and skops keep them (the module's
        # pooling buffers are not in its state_dict) and load restores them.
        self._pooled_ids, self._pooled_rows = ids, rows

    def _keep(self, net: NeuralNet):
        """Make the trained ``net`` the fitted network (once training has
        succeeded), with the fitted attributes read from it."""
        # Eval mode for good: predict then never switches modes, so threads
        # can share the fitted network.
        net.module_.eval()
        net.module_.forget_kept_weights()
        self.net_ = net
        self.n_iter_ = len(net.history)
        stopper = dict(net.callbacks_).get("early_stopping")
        self.weight_decay_ = (
            stopper.best_decay_
            if stopper is not None
            else net.optimizer_.param_groups[-1]["weight_decay"]
        )
        self.context_embeddings_ = self._context_embeddings()
        self._n_features_out = net.module_.representation_size
        return self

    @property
    def history_(self) -> pd.DataFrame:
        """One row per epoch of the kept fit (see the class's Attributes).

        Built when read from ``net_.history``, skorch's record of the
        epochs: built after every ``partial_fit`` call, it cost each call
        time in proportion to the calls before it.
        """
        return _history_frame(self.net_.history)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over the rows of ``X``, continuing any earlier training.

        The first call sets what one chunk cannot teach: the categories of
        the context and categorical columns (a pandas ``Categorical``
        column's declared categories, or the ``categories`` parameter, else
        the values of the first chunk), the numeric encoding (from the first
        chunk, which should be a fair sample) and, for a classifier, the
        classes. Later chunks must have the same columns; a value that was
        not declared follows ``handle_unknown``. Training is one epoch over
        the chunk in ``batch_size`` steps, the optimizer's state carried
        from call to call (also through pickling or skops, as when Dask
        moves the model between workers); there is no early stopping.
        Parameters of the architecture and the encoding must stay those of
        the first call (a ``ValueError`` names any changed since); those of
        training (``lr``, ``dropout``, a numeric ``batch_size`` or
        ``weight_decay``) may change, and take effect on the next call
        (``batch_size="auto"`` keeps the first chunk's size,
        ``weight_decay="auto"`` the first decay of its path).
        ``class_weight="balanced"`` is refused (one chunk's class counts
        are not the table's). A call that raises leaves the model as it was.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            A chunk of training rows, including the context column(s).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values of the chunk.
        classes : array-like of shape (n_classes,), default=None
            Every class label of the whole target: required on the first
            call of a classifier (a chunk may lack some classes), optional
            (and then checked) later; not used by regressors.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row in the loss.

        Returns
        -------
        self : object
            The estimator, trained one more pass.
        """
        check_device(self.device)
        return partial_fit(self, X, y, classes, sample_weight)

    def _combined_weights(self, table, target, sample_weight) -> np.ndarray:
        weight = _check_sample_weight(
            sample_weight, table, dtype=np.float64, ensure_non_negative=True
        )
        implied = self._row_weights(target)
        if implied is not None:
            weight = weight * implied
        if not weight.sum() > 0:
            raise ValueError(
                "The sample weights (times any class weights) sum to zero; at "
                "least one row must have a positive weight."
            )
        return _within_float32(weight)

    def _uses_validation(self, n_samples: int) -> bool:
        """Whether this fit holds out a validation split (``early_stopping``)."""
        if self.early_stopping == "auto":
            return n_samples >= AUTO_EARLY_STOPPING_ROWS
        return bool(self.early_stopping)

    def _early_stopping_split(self, data: TensorTable, target, seed: int):
        """``(train, valid)``; ``valid`` is None without early stopping."""
        if not self._uses_validation(int((data.weight > 0).sum())):
            return data, None
        train_rows, valid_rows = _validation_split(
            len(data), self.validation_fraction, self._stratify(target), seed
        )
        train, valid = data.subset(train_rows), data.subset(valid_rows)
        self._check_split_weights(train, "training")
        self._check_split_weights(valid, "validation")
        unjudged = self._unjudged_classes(train, valid)
        if unjudged is None:
            return train, valid
        if self.early_stopping == "auto":
            return data, None  # trained as a table too small for a split
        warnings.warn(unjudged, UserWarning, stacklevel=user_stacklevel())
        return train, valid

    def _unjudged_classes(self, train: TensorTable, valid: TensorTable) -> str | None:
        """Why the validation split cannot judge the fit, or None when it
        can (a classifier's says which classes it lacks)."""
        return None

    def _check_split_weights(self, split: TensorTable, name: str) -> None:
        """Raise if the rows of an early-stopping split all have weight 0:
        its weighted mean loss would be 0 / 0, NaN in every epoch, and early
        stopping, the decay path and ``context_shrinkage="auto"`` would
        compare NaNs without a word."""
        if float(split.weight.sum()) > 0:
            return
        raise ValueError(
            f"The {name} split's sample weights (times any class weights) "
            f"sum to zero: its {len(split)} rows, drawn with "
            f"validation_fraction={self.validation_fraction}, all have weight "
            "0, so its loss is undefined. Drop the zero-weight rows before "
            "fit, pass a validation_fraction that leaves both splits rows "
            "of positive weight, or pass early_stopping=False."
        )

    def _train(
        self,
        encoded: EncodedTable,
        module_params: dict,
        seed: int,
        train,
        valid,
        run: NoCheckpoint | CheckpointRun,
    ) -> NeuralNet:
        """Fit the net. With ``weight_decay="auto"`` and a validation split,
        fit two: one along the decay path with early stopping, and one with
        the path's weakest decay until the training loss converges; keep
        the one with the lower validation loss (:meth:`_validation_loss`).
        ``run.fit`` trains each (with ``checkpoint``: saving every epoch, or
        going on from the saved state)."""
        if valid is None or self.weight_decay != "auto":
            budget = self._budget_callbacks(valid)
            net = self._build_net(encoded, module_params, seed, valid, budget)
            return run.fit(net, train)
        say = print if self.verbose else _silent
        say(f"Decay path {DECAY_PATH} with early stopping:")
        path = self._build_net(
            encoded, module_params, seed, valid, self._budget_callbacks(valid)
        )
        path = run.fit(path, train)
        raise_if_interrupted()  # Ctrl-C during the path: no second fit
        say(f"Weight decay {DECAY_PATH[-1]} until the training loss converges:")
        converged = [
            ("convergence", StopOnConvergence(self.tol, self.n_iter_no_change))
        ]
        weak = self._build_net(
            encoded, module_params, seed, None, converged, decay=DECAY_PATH[-1]
        )
        weak = run.fit(weak, train)
        losses = [self._validation_loss(net, valid) for net in (path, weak)]
        kept = int(np.argmin(losses))
        say(
            f"Kept the {('decay path', 'weak decay')[kept]} fit (validation "
            f"score: decay path {losses[0]:.4f}, weak decay {losses[1]:.4f}; "
            "lower is better)."
        )
        return (path, weak)[kept]

    def _validation_loss(self, net: NeuralNet, valid: TensorTable) -> float:
        """What the validation split says of a trained net: the monitored
        quantity, else the weighted mean loss."""
        monitor = self._monitor(valid)
        if monitor is not None:
            return monitor(net)
        outputs = predict_rows(net, valid)
        with torch.no_grad():
            return float(net.get_loss(outputs.float(), (valid.target, valid.weight)))

    def _build_net(
        self,
        encoded: EncodedTable,
        module_params: dict,
        seed: int,
        valid,
        budget: list,
        decay: float | None = None,
    ) -> NeuralNet:
        module_params = {
            "n_numeric": encoded.numeric.shape[1],
            "categorical_sizes": [
                len(e.categories_) for e in self.encoder_.categorical_encoders_
            ],
            "context_sizes": [
                len(e.categories_) for e in self.encoder_.context_encoders_
            ],
            "n_outputs": self._n_outputs(),
            "unknown_rate": UNKNOWN_RATE if self.handle_unknown == "learned" else 0.0,
            "bin_edges": getattr(self.encoder_.numeric_encoder_, "bin_edges_", None),
            **self._context_module_params(encoded),
            **module_params,
        }
        callbacks = [("divergence", RaiseOnDivergence(self._reference_loss()))]
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks += budget
        return make_net(
            self.accelerator,
            module=self._module_class,
            **{f"module__{key}": value for key, value in module_params.items()},
            criterion=self._criterion(),
            criterion__reduction="none",
            # AdamW in one fused kernel, without torch.optim's import of
            # torch._dynamo (see _optim.py).
            optimizer=adamw_class(),
            optimizer__weight_decay=self._decays()[0] if decay is None else decay,
            # Decay shrinks weights only: a bias bounded near zero could not
            # reach, e.g., the output bias log(p / (1 - p)) of a rare class.
            optimizer__param_groups=[("*bias", {"weight_decay": 0.0})],
            lr=self._scaled_lr(),
            max_epochs=self.max_epochs,
            batch_size=self.batch_size_,
            train_split=None if valid is None else predefined_split(valid),
            iterator_train=TensorBatches,
            iterator_train__shuffle=True,
            iterator_train__random_state=np.random.RandomState(seed),
            iterator_valid=TensorBatches,
            # Scoring needs no small batches: one pass per 8192 rows.
            iterator_valid__batch_size=VALID_BATCH_SIZE,
            device=self.device,
            verbose=self.verbose,
            callbacks=callbacks,
            # skorch formats its epoch table even when it prints nothing
            # (about 0.5 ms an epoch); leave its printer out when silent.
            **({} if self.verbose else {"callbacks__print_log": None}),
        )

    def _context_module_params(self, encoded: EncodedTable) -> dict:
        """The attribute matrices, and the continuous context's width and
        where its piecewise-linear bins lie, when the estimator has them
        (left out otherwise, so that a network without them is built as
        before)."""
        params = {}
        tables = self.encoder_.attribute_tables_
        if any(table is not None for table in tables):
            params["context_attributes"] = [
                None if table is None else table.matrix_ for table in tables
            ]
        if encoded.continuous is not None:
            params["continuous_size"] = encoded.continuous.shape[1]
            bins = self.encoder_.continuous_encoder_.bin_columns
            if bins is not None:
                params["continuous_bins"] = bins
        return params

    def _batch_size(self, n_train: int, device=None) -> int:
        """Rows per training step: ``batch_size`` or :func:`auto_batch_size`."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        # The device that trains: an accelerator's, where there is one.
        device = self.device if device is None else device
        return auto_batch_size(n_train, torch.device(device).type)

    def _scaled_lr(self) -> float:
        """``lr``, scaled by the square-root rule with ``batch_size="auto"``."""
        if self.batch_size != "auto":
            return self.lr
        return self.lr * math.sqrt(self.batch_size_ / AUTO_BATCH_MIN)

    def _continued_decay(self) -> float:
        """The decay that continued training (``partial_fit`` after its
        first call, a warm start) trains at: ``weight_decay`` where it is a
        number, so that ``set_params`` changes it as it changes ``lr``; with
        ``"auto"``, the decay the fitted model was trained with."""
        if self.weight_decay == "auto":
            return self.weight_decay_
        return float(self.weight_decay)

    def _decays(self) -> tuple[float, ...]:
        """The weight decays to try, strongest first: the path for "auto"."""
        if self.weight_decay == "auto":
            return DECAY_PATH
        return (float(self.weight_decay),)

    def _monitor(self, valid):
        """What early stopping minimises, if not the validation loss."""
        return None

    def _budget_callbacks(self, valid, decays: tuple | None = None) -> list:
        """What ends training: early stopping along the decay path (or
        ``decays``) with a validation split; else convergence of the
        training loss, or all ``max_epochs`` when the last of them are
        averaged."""
        if valid is not None:  # keeps its best epoch: nothing to average
            stopper = DecayPath(
                decays or self._decays(),
                self.n_iter_no_change,
                self.tol,
                self._monitor(valid),
                anneal=ANNEAL_LR_FACTOR,
            )
            return [("early_stopping", stopper)]
        n_averaged = self._n_averaged_epochs()
        if self.weight_averaging > 0 and n_averaged > 1:
            return [("weight_averaging", WeightAveraging(n_averaged))]
        return [("convergence", StopOnConvergence(self.tol, self.n_iter_no_change))]

    def _n_averaged_epochs(self) -> int:
        """How many final epochs ``weight_averaging`` averages (at least 1)."""
        # round() first: 0.55 * 100 is 55.00000000000001 in floating point.
        return max(1, math.ceil(round(self.weight_averaging * self.max_epochs, 9)))

    # -- predicting --------------------------------------------------------

    def _forward(
        self,
        X,
        representation: bool = False,
        then: Callable[[torch.Tensor], Any] | None = None,
    ) -> Any:
        """Network outputs (or the representation before the output layer)
        for ``X``, computed in large gradient-free batches; with ``then``,
        ``then(outputs)``, computed under the same thread count (outside
        it, torch's default count made a softmax of 1,000 rows cost
        milliseconds on a 2-core machine beside another busy process)."""
        check_is_fitted(self, "net_")
        table = as_table(X, type(self).__name__)
        try:
            validate_data(self, table, skip_check_array=True, reset=False)
        except ValueError as error:  # scikit-learn's message says what differs
            raise ValueError(
                f"{error}\nPass the same columns, in the same order, as at fit."
            ) from None
        data = TensorTable(self.encoder_.transform(table), device=self.net_.device)
        with torch_session(self.n_threads):
            outputs = self.net_.module_.predict_outputs(data.inputs, representation)
            return outputs if then is None else then(outputs)

    # -- looking inside ----------------------------------------------------

    def transform(self, X) -> np.ndarray:
        """The learned representation of ``X`` before the output layer.

        For the hypernetwork this is the output of the layers after the
        context-generated one, followed with ``linear_readout`` by the
        generated layer's own output (``2 * output_size`` columns); for
        concat, the output of the layers after the concatenation. Use the
        fitted estimator as a feature extractor in a ``Pipeline``; names
        come from ``get_feature_names_out``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out)
            One row per row of ``X``, in float64.
        """
        return self._forward(X, representation=True, then=as_float64_array)

    def explain(
        self, X, *, baseline="mean", n_steps: int = 64, target=None
    ) -> pd.DataFrame:
        """Each column's contribution to each row's prediction, per context.

        Integrated gradients (Sundararajan et al., ICML 2017) along the
        straight path from a baseline row to each row of ``X``, with the
        row's context held fixed: a contribution says what a feature does
        *in that context*, so the same value can count for much in one
        context and nothing in another. The path runs through the encoded
        inputs; a numeric column's contribution includes its
        piecewise-linear bins and its missing-value indicator, a
        categorical column's goes through its embedding. Context columns
        get no contribution.

        Each row's contributions add up to its output minus the baseline's
        output (completeness), so ``explain(X).sum(axis=1)`` is the output.
        With ReLU-type activations and a linear output (a regressor, or a
        classifier of two classes) the output is piecewise linear along
        the path: the integral is then taken on ``n_steps`` equal cells
        with the kink in each cell located from the output's values, which
        is exact when no cell holds two kinks (and always exact for a path
        without kinks). Otherwise it is an ``n_steps``-point Gauss-Legendre
        sum, which converges fast for smooth activations but slowly where
        the path crosses kinks: with three or more classes and ReLU-type
        activations (layers piecewise linear, log-odds not), expect to
        need many more steps for the same gap. Either way,
        ``attrs["max_completeness_gap"]`` of the result is the largest gap,
        over the rows, between the sum and the output that
        ``predict_proba``/``predict`` gives; raise ``n_steps`` if it is too
        large for you.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Rows to explain, with the columns of ``fit``.
        baseline : "mean" or DataFrame of one row, default="mean"
            The reference the contributions are measured from, in each
            row's own context. ``"mean"``: every numeric column at its
            training mean (its median under ``numeric_encoding="quantile"``),
            present, and every categorical column at the mean of its
            categories' embeddings. A one-row table (e.g. ``X.iloc[[0]]``)
            is used as it is, except that its context is ignored.
        n_steps : int, default=64
            Cells (or points) of the path integral.
        target : object, default=None
            What is explained. Classifier: the log-odds
            ``log(p / (1 - p))`` of the class ``target`` (default
            ``classes_[1]`` with two classes; required with more).
            Regressor: the predicted value of target column ``target``, in
            the target's units (default 0; required with several columns).

        Returns
        -------
        contributions : DataFrame
            Indexed like ``X``: one column per non-context column of ``X``,
            in its order and labelled as in ``X`` (by position, 0, 1, ...,
            for an array), then ``"baseline_output"``, the baseline's output
            in the row's context. ``attrs["output"]`` says what the output
            is.

        Examples
        --------
        >>> from skhyper import HyperNetworkClassifier
        >>> from skhyper.datasets import make_sensor_data
        >>> df = make_sensor_data(n_per_type=100)
        >>> X, y = df.drop(columns="anomaly"), df["anomaly"]
        >>> model = HyperNetworkClassifier("sensor_type", max_epochs=3,
        ...                                random_state=0).fit(X, y)
        >>> contributions = model.explain(X.head())
        >>> contributions.columns.tolist()
        ['sensor_a', 'sensor_b', 'sensor_c', 'baseline_output']
        >>> contributions.attrs["max_completeness_gap"] < 1e-3
        True
        """
        return explain_rows(self, X, baseline=baseline, n_steps=n_steps, target=target)

    def _context_embeddings(self) -> pd.DataFrame:
        """One row per context value (per column and value with several
        context columns); the "unknown" embeddings are left out."""
        frames = []
        embedding = self.net_.module_.context_embedding
        for encoder, column in zip(
            self.encoder_.context_encoders_, embedding.columns, strict=True
        ):
            weights = column.weight.detach().cpu().numpy()[: len(encoder.categories_)]
            frames.append(pd.DataFrame(weights, index=list(encoder.categories_)))
        if not frames:  # only continuous contexts: no values to embed
            return pd.DataFrame(index=pd.Index([], name="context"))
        if len(frames) == 1:
            frame = frames[0].rename_axis("context")
        else:
            names = [e.name for e in self.encoder_.context_encoders_]
            frame = pd.concat(frames, keys=names, names=["column", "context"])
        frame.columns = [f"embedding_{i}" for i in range(frame.shape[1])]
        return frame

    # -- persistence -------------------------------------------------------

    def __getstate__(self) -> dict:
        """The state pickle, joblib and skops save: plain values and NumPy
        arrays only. skorch would pickle the torch module into bytes, which
        a safe loader must not unpickle; the net is stored by
        :func:`~skhyper._persistence.net_state` instead, and the pandas
        attributes are left out and rebuilt from it on load."""
        state = dict(super().__getstate__())  # a copy: never edit __dict__
        # A launch-time resource, not part of the model (nor plain data).
        state["accelerator"] = None
        # A path as a string: skops trusts str, not pathlib's classes; a
        # flag brings the Path back on load.
        if isinstance(state.get("checkpoint"), os.PathLike):
            state["checkpoint"] = os.fspath(state["checkpoint"])
            state["_checkpoint_was_path"] = True
        state["context_attributes"] = attributes_to_plain(
            state.get("context_attributes")
        )
        state["categories"] = categories_to_plain(state.get("categories"))
        if "net_" in state:
            state["net_"] = net_state(state["net_"])
            for derived in _DERIVED_ON_LOAD:
                state.pop(derived, None)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        # A file from before a parameter existed holds the model it had.
        for name, value in self._parameters_since_first_format.items():
            state.setdefault(name, value)
        state["context_attributes"] = attributes_from_plain(
            state.get("context_attributes")
        )
        state["categories"] = categories_from_plain(state.get("categories"))
        if state.pop("_checkpoint_was_path", False):
            state["checkpoint"] = Path(state["checkpoint"])
        net = state.pop("net_", None)
        super().__setstate__(state)
        if isinstance(net, dict):  # saved by __getstate__ above
            self.net_ = restore_net(self, net)
            if getattr(self, "_pooled_ids", None) is not None:
                set_shrinkage(
                    self.net_.module_,
                    self._pooled_ids,
                    self._pooled_rows,
                    self.context_shrinkage_,
                )
            self.context_categories_ = self.encoder_.categories_
            self.context_embeddings_ = self._context_embeddings()
        elif net is not None:  # a pickle from before the plain-data form
            self.net_ = net


def _within_float32(weight: np.ndarray) -> np.ndarray:
    """``weight``, divided by its mean where float32 (the network's type)
    could not hold it or its sums.

    Only the weights' ratios matter: every loss is a weighted mean. Uniform
    weights of 1e38 overflowed and ones of 1e-46 became 0, so those fits
    diverged or failed; weights in a normal range are left as they are.
    """
    positive = weight[weight > 0]
    if positive.max() * len(weight) < 1e30 and positive.min() > 1e-30:
        return weight
    scaled = weight / weight.mean()
    lost = int(((weight > 0) & (scaled.astype(np.float32) == 0)).sum())
    if lost:
        warnings.warn(
            f"sample_weight (times any class weights) spans more than float32, "
            f"the network's type, can hold: {lost} row(s) of positive weight, "
            f"below about 1e-45 of the mean weight, count as weight 0. Clip "
            "the weights' range (e.g. np.clip(w, w.max() * 1e-30, None)) if "
            "those rows should count.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return scaled


def _validation_split(
    n_rows: int, fraction: float, labels: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows, stratified by ``labels`` (if any) as
    far as the labels allow.

    A stratified split needs two rows of every class and at least as many
    validation rows as classes; scikit-learn's error for either names a
    parameter the user never set (``test_size``) and classes by their
    codes. So the rows of a class seen once stay in training (the only
    place it can be learned), and when the validation rows cannot hold one
    row of each remaining class the split is drawn without stratification.
    Otherwise the split is the plain stratified one.
    """
    rows = np.arange(n_rows)
    if labels is None:
        return train_test_split(rows, test_size=fraction, random_state=seed)
    classes, counts = np.unique(labels, return_counts=True)
    once = np.isin(labels, classes[counts < 2])
    n_valid = math.ceil(fraction * n_rows)
    if n_rows - int(once.sum()) <= n_valid:  # hardly a class seen twice
        return train_test_split(rows, test_size=fraction, random_state=seed)
    stratify = labels[~once] if n_valid >= int((counts >= 2).sum()) else None
    if stratify is not None and not once.any():
        return train_test_split(
            rows, test_size=fraction, stratify=labels, random_state=seed
        )
    train, valid = train_test_split(
        rows[~once], test_size=n_valid, stratify=stratify, random_state=seed
    )
    return np.sort(np.concatenate([train, rows[once]])), valid


def auto_batch_size(n_train: int, device_type: str = "cpu") -> int:
    """``batch_size="auto"``: about ``AUTO_BATCH_STEPS`` steps per epoch, in
    a power of two between ``AUTO_BATCH_MIN`` and the device's
    ``AUTO_BATCH_MAX``.

    Small tables keep 128-row steps, where many updates per epoch matter
    more than the cost of each. On large ones a step's fixed cost (a few
    dozen kernel launches and Python calls) dominates small batches: at
    100k rows a 2048-row step trains about twice as many rows per second
    as a 128-row one on a CPU (benchmarks/bench_context_forms.py), and
    more on a GPU.
    """
    largest = AUTO_BATCH_MAX.get(device_type, AUTO_BATCH_MAX["cuda"])
    wanted = max(n_train / AUTO_BATCH_STEPS, 1.0)
    size = 2 ** round(math.log2(wanted))
    return int(min(max(size, AUTO_BATCH_MIN), largest))


def as_float64_array(outputs: torch.Tensor) -> np.ndarray:
    """Network outputs as a float64 NumPy array on the host."""
    return outputs.double().cpu().numpy()


def _silent(*args, **kwargs) -> None:
    """A sink for skorch messages when ``verbose=0``."""


def _history_frame(history) -> pd.DataFrame:
    """skorch's per-epoch record as a DataFrame indexed by epoch."""
    names = (
        "train_loss",
        "train_data_loss",
        "valid_loss",
        "valid_monitor",
        "weight_decay",
        "lr",
        "dur",
    )
    # Epochs may differ in what they record: a warm_start fit with a
    # validation split continues a fit that had none (weight_decay="auto"
    # can keep the weak-decay fit), so a column is NaN where it is missing.
    columns = [c for c in names if any(c in epoch for epoch in history)]
    frame = pd.DataFrame(
        {c: [epoch.get(c, np.nan) for epoch in history] for c in columns},
        index=pd.RangeIndex(1, len(history) + 1, name="epoch"),
    )
    return frame
