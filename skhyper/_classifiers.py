"""The scikit-learn classifiers: a hypernetwork and its concat baseline."""

from __future__ import annotations

from numbers import Number, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._architectures import (
    CONCAT_DESCRIPTION,
    CONCAT_PARAMETERS_DOC,
    HYPERNETWORK_DESCRIPTION,
    HYPERNETWORK_PARAMETERS_DOC,
    ConcatArchitecture,
    HyperNetworkArchitecture,
    fill_docstring,
)
from ._base import _ContextEstimator
from ._categories import preview
from ._compat import StrOptions
from ._distributed import predict_rows
from ._metrics import log_loss, roc_auc

# Weight of the validation log loss in what classifiers' early stopping
# minimises (1 - ROC AUC + this x log loss): enough to break ties in the AUC,
# too little to outweigh a real difference in ranking.
LOSS_TIE_BREAK = 0.01

CLASSIFIER_PARAMETERS_DOC = """\
class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss, multiplied with ``sample_weight``.
        ``"balanced"`` uses ``n_samples / (n_classes * count(class))``; a
        dict maps the original labels to weights (missing labels get 1)."""

CLASSIFIER_ATTRIBUTES_DOC = """\
classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns."""


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    """Softmax in float64, so that each row sums to 1 closely."""
    return torch.softmax(logits.double(), dim=1).cpu().numpy()


def _log_probabilities(logits: torch.Tensor) -> np.ndarray:
    """Log-softmax in float64: finite where a probability underflows to 0."""
    return torch.log_softmax(logits.double(), dim=1).cpu().numpy()


def _most_probable(logits: torch.Tensor) -> np.ndarray:
    """Index of each row's largest logit."""
    return logits.argmax(dim=1).cpu().numpy()


class _ContextClassifier(ClassifierMixin, _ContextEstimator):
    """Target handling shared by the classifiers."""

    _parameter_constraints = {
        **_ContextEstimator._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _encode_target(self, y, n_samples: int) -> np.ndarray:
        y = self._checked_labels(y, n_samples)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self._check_two_classes()
        return codes.astype(np.int64)

    def _declare_targets(self, classes) -> None:
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: a "
                "chunk may lack some of them. Pass every class label, e.g. "
                "classes=np.unique(y_all)."
            )
        self.classes_ = self._checked_classes(classes)
        self._check_two_classes()

    def _check_same_classes(self, classes) -> None:
        """A later ``partial_fit`` call's ``classes``: those of the first."""
        given = self._checked_classes(classes)
        if not np.array_equal(given, self.classes_):
            raise ValueError(
                f"classes={given.tolist()!r} differs from the classes of the "
                f"first call to partial_fit, {self.classes_.tolist()!r}; pass "
                "the same classes (or none) on later calls."
            )

    @staticmethod
    def _checked_classes(classes) -> np.ndarray:
        """``partial_fit``'s ``classes``, sorted: every label, each of one
        kind, none missing, at least two."""
        values = np.asarray(classes, dtype=object)
        if values.ndim != 1:
            raise ValueError(
                "classes must be a 1-D list of class labels; got an array of "
                f"shape {values.shape}."
            )
        missing = [v for v in values if pd.api.types.is_scalar(v) and pd.isna(v)]
        if missing:
            raise ValueError(
                f"classes={values.tolist()!r} holds the missing value(s) "
                f"{preview(missing)}; a class label must be a value. List only "
                "the labels of the target (drop or fill the target's missing "
                "values first)."
            )
        _check_one_kind_of_label(
            values,
            f"classes={values.tolist()!r}",
            "use one kind, as the target holds, e.g. all strings.",
        )
        if len(set(values.tolist())) < 2:
            raise ValueError(
                f"classes={values.tolist()!r} lists fewer than 2 labels; a "
                "classifier needs every label of the whole target, at least 2."
            )
        return np.unique(np.asarray(classes))

    def _encode_known_target(self, y, n_samples: int) -> np.ndarray:
        y = self._checked_labels(y, n_samples)
        try:
            codes = np.searchsorted(self.classes_, y)
        except TypeError:  # labels of another kind (str, int): none is known
            codes = np.full(len(y), len(self.classes_))
        known = codes < len(self.classes_)
        known[known] = self.classes_[codes[known]] == y[known]
        if not known.all():
            raise ValueError(
                f"y holds label(s) {sorted(set(y[~known].tolist()), key=str)!r} "
                f"that are not among the classes {self.classes_.tolist()!r} of "
                "the first fit or partial_fit call, which fixes them. For "
                "partial_fit, pass every label in classes on the first call; "
                "to train on new classes after a fit, refit from scratch with "
                "warm_start=False."
            )
        return codes.astype(np.int64)

    def _check_two_classes(self) -> None:
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only 1 class ({self.classes_.tolist()[0]!r}); a "
                "classifier needs at least 2 classes to train."
            )

    def _checked_labels(self, y, n_samples: int) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} rows but y has {len(y)} values; they must "
                "have the same length."
            )
        missing = pd.isna(y)
        if missing.any():
            raise ValueError(
                f"y contains NaN/missing values ({int(missing.sum())}, the first "
                f"at row {int(np.flatnonzero(missing)[0])}); drop those rows or "
                "fill them with a class label."
            )
        _check_one_kind_of_label(y)
        check_classification_targets(y)
        return y

    def _row_weights(self, target: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, dict):
            _check_class_weight_values(self.class_weight)
            classes = set(self.classes_.tolist())
            unknown = set(self.class_weight) - classes
            # As scikit-learn: labels absent from y are ignored when every
            # class of y has its weight (a fold of cross-validation without a
            # rare class); beside an unweighted class they look like a typo.
            if unknown and not classes <= set(self.class_weight):
                raise ValueError(
                    f"class_weight names label(s) {sorted(unknown, key=str)!r} "
                    "that are not in y, and leaves out class(es) "
                    f"{sorted(classes - set(self.class_weight), key=str)!r} of y; "
                    f"the classes are {self.classes_.tolist()!r}."
                )
        return compute_sample_weight(self.class_weight, self.classes_[target])

    def _stratify(self, target: np.ndarray) -> np.ndarray:
        return target

    def _criterion(self):
        return torch.nn.CrossEntropyLoss

    def _unjudged_classes(self, train, valid) -> str | None:
        """A validation split with rows of one class only, where the
        training rows have more (a rare class's few rows all went to
        training), cannot judge the fit: its monitor, the log loss of that
        one class, is lowest for a network that predicts it everywhere, so
        early stopping and the decay path would keep the epochs that ignore
        the rarer classes. With several classes left, their log loss still
        rewards telling them apart."""
        trained = _weighted_classes(train)
        judged = _weighted_classes(valid)
        if len(judged) >= 2 or judged >= trained:
            return None
        lacking = [self.classes_[code] for code in sorted(trained - judged)]
        return (
            f"The validation split (validation_fraction={self.validation_fraction}) "
            f"holds no row of class(es) {preview(lacking)}, only of "
            f"{preview([self.classes_[code] for code in judged])}: early stopping "
            "then keeps the epochs that predict that class everywhere. Pass "
            'early_stopping="auto" (which trains on every row then) or False, '
            "or a validation_fraction that leaves each class validation rows."
        )

    def _monitor(self, valid):
        """One minus the validation ROC AUC (one-vs-rest for several
        classes), plus ``LOSS_TIE_BREAK`` times the validation log loss.

        The AUC is a ranking quality, which keeps improving on a sharp rule
        while an overconfident fit's log loss already worsens; the small
        log-loss term only decides between fits that rank alike (e.g. once
        the AUC is 1).
        """
        target = valid.target.cpu().numpy()
        weight = valid.weight.cpu().numpy()
        # The AUC is undefined unless every class has validation rows of
        # positive weight (class_weight or sample_weight may zero a class):
        # use the loss then.
        if len(_weighted_classes(valid)) < len(self.classes_):
            return None

        def score(net) -> float:
            outputs = predict_rows(net, valid)
            proba = _probabilities(outputs)
            auc = roc_auc(target, proba, weight)
            loss = log_loss(outputs, valid.target, valid.weight)
            return 1 - auc + LOSS_TIE_BREAK * loss

        return score

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _reference_loss(self) -> float:
        return float(np.log(len(self.classes_)))  # uniform probabilities

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities for ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        return self._forward(X, then=_probabilities)

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of the class probabilities for ``X``.

        Computed from the network's outputs directly (a log-softmax), so a
        confident row gets a finite log-probability where
        ``np.log(predict_proba(X))`` would be ``-inf``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._forward(X, then=_log_probabilities)

    def predict(self, X) -> np.ndarray:
        """Most probable class label for each row of ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels taken from ``classes_``.
        """
        most_probable = self._forward(X, then=_most_probable)  # checks fitted
        return self.classes_[most_probable]


def _check_one_kind_of_label(
    labels: np.ndarray,
    named: str = "y",
    fix: str = "use one kind, e.g. y.astype(str).",
) -> None:
    """Labels must be all strings or all numbers: mixed, NumPy cannot sort
    them (a raw ``TypeError``) or scikit-learn calls them "unknown"."""
    if labels.dtype != object:
        return
    kinds = {_label_kind(label) for label in labels}
    if len(kinds) > 1:
        raise ValueError(
            f"{named} mixes labels of different kinds "
            f"({', '.join(sorted(kinds))}); {fix}"
        )


def _label_kind(label) -> str:
    if isinstance(label, (str, bytes)):
        return "strings"
    if isinstance(label, (bool, np.bool_)):
        return "booleans"
    if isinstance(label, Number):
        return "numbers"
    return type(label).__name__


def _check_class_weight_values(class_weight: dict) -> None:
    """A class weight multiplies the loss of its rows: a negative, NaN or
    infinite one would train on a wrong sign or diverge."""
    bad = {
        label: weight
        for label, weight in class_weight.items()
        if not (isinstance(weight, Real) and np.isfinite(weight) and weight >= 0)
    }
    if bad:
        raise ValueError(
            f"class_weight must map each label to a finite, non-negative number; "
            f"got {bad!r}."
        )


class HyperNetworkClassifier(HyperNetworkArchitecture, _ContextClassifier):
    """Classifier in which the context column generates a layer's weights.

    {description}

    Parameters
    ----------
    {shared_parameters}
    {architecture_parameters}
    {task_parameters}

    Attributes
    ----------
    {task_attributes}
    {shared_attributes}

    See Also
    --------
    ConcatClassifier : The baseline that concatenates the context embedding
        with the features instead.
    HyperNetworkRegressor : The same model for continuous targets.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skhyper import HyperNetworkClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"reading": rng.normal(size=300),
    ...                   "sensor": rng.choice(["a", "b"], size=300)}})
    >>> y = np.where(X["sensor"] == "a", X["reading"] > 0, X["reading"] < 0)
    >>> clf = HyperNetworkClassifier(context_column="sensor", max_epochs=20,
    ...                              random_state=0).fit(X, y)
    >>> clf.predict_proba(X.head(2)).shape
    (2, 2)
    """

    _parameter_constraints = {
        **_ContextClassifier._parameter_constraints,
        **HyperNetworkArchitecture._architecture_constraints,
    }

    def __init__(
        self,
        context_column=None,
        *,
        continuous_context=None,
        continuous_encoding="piecewise_linear",
        context_attributes=None,
        categories=None,
        hidden_size=128,
        hyper_hidden_size=64,
        output_size=128,
        num_fc_layers=1,
        generator_rank=8,
        linear_readout=True,
        context_pooling=0.0,
        context_shrinkage="auto",
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=200,
        lr=1e-3,
        weight_decay="auto",
        weight_averaging=0.0,
        batch_size="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        numeric_encoding="standard",
        n_bins=16,
        class_weight=None,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
        warm_start=False,
        checkpoint=None,
        accelerator=None,
    ):
        self.context_column = context_column
        self.continuous_context = continuous_context
        self.continuous_encoding = continuous_encoding
        self.context_attributes = context_attributes
        self.categories = categories
        self.hidden_size = hidden_size
        self.hyper_hidden_size = hyper_hidden_size
        self.output_size = output_size
        self.num_fc_layers = num_fc_layers
        self.generator_rank = generator_rank
        self.linear_readout = linear_readout
        self.context_pooling = context_pooling
        self.context_shrinkage = context_shrinkage
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.class_weight = class_weight
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.accelerator = accelerator


class ConcatClassifier(ConcatArchitecture, _ContextClassifier):
    """Baseline classifier that concatenates the context embedding with the features.

    {description}

    Parameters
    ----------
    {shared_parameters}
    {architecture_parameters}
    {task_parameters}

    Attributes
    ----------
    {task_attributes}
    {shared_attributes}

    See Also
    --------
    HyperNetworkClassifier : The context generates a layer's weights instead.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skhyper import ConcatClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"reading": rng.normal(size=300),
    ...                   "sensor": rng.choice(["a", "b"], size=300)}})
    >>> y = np.where(X["sensor"] == "a", X["reading"] > 0, X["reading"] < 0)
    >>> clf = ConcatClassifier(context_column="sensor", max_epochs=20,
    ...                        random_state=0).fit(X, y)
    >>> clf.predict(X.head(2)).shape
    (2,)
    """

    _parameter_constraints = {
        **_ContextClassifier._parameter_constraints,
        **ConcatArchitecture._architecture_constraints,
    }

    def __init__(
        self,
        context_column=None,
        *,
        continuous_context=None,
        continuous_encoding="piecewise_linear",
        context_attributes=None,
        categories=None,
        hidden_size=128,
        hidden_layer_sizes=(128, 64),
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=200,
        lr=1e-3,
        weight_decay="auto",
        weight_averaging=0.0,
        batch_size="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        numeric_encoding="standard",
        n_bins=16,
        class_weight=None,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
        warm_start=False,
        checkpoint=None,
        accelerator=None,
    ):
        self.context_column = context_column
        self.continuous_context = continuous_context
        self.continuous_encoding = continuous_encoding
        self.context_attributes = context_attributes
        self.categories = categories
        self.hidden_size = hidden_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.weight_averaging = weight_averaging
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.class_weight = class_weight
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.accelerator = accelerator


for _estimator, _description, _architecture in (
    (HyperNetworkClassifier, HYPERNETWORK_DESCRIPTION, HYPERNETWORK_PARAMETERS_DOC),
    (ConcatClassifier, CONCAT_DESCRIPTION, CONCAT_PARAMETERS_DOC),
):
    fill_docstring(
        _estimator,
        description=_description,
        architecture_parameters=_architecture,
        task_parameters=CLASSIFIER_PARAMETERS_DOC,
        task_attributes=CLASSIFIER_ATTRIBUTES_DOC,
    )


def _weighted_classes(split) -> set:
    """The class codes that ``split`` holds rows of positive weight of."""
    target = split.target.cpu().numpy()
    return set(np.unique(target[split.weight.cpu().numpy() > 0]).tolist())
