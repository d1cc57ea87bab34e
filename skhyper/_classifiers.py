"""The scikit-learn classifiers: a hypernetwork and its concat baseline."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import _ContextEstimator
from ._modules import ConcatModule, HyperNetworkModule

_SHARED_PARAMETERS_DOC = """
    context_column : str, int or None, default=None
        The column whose value changes what the other features mean. A column
        name for a DataFrame, an integer position for an array (as in
        ``ColumnTransformer``). With ``None``, a DataFrame's single
        non-numeric column is used; anything else raises a ``ValueError``.
        The context may hold strings, integers, or pandas ``category`` /
        ``string`` / ``object`` values; they are encoded at fit. Missing
        context values (None/NaN) are an error: fill them with an explicit
        category first. All other columns must be numeric (bool included);
        they are standardised with the training mean and standard deviation.
    hidden_size : int, default=128
        Size of the linear projection (followed by the activation) of the
        numeric features.
    embedding_size : int, default=16
        Size of the learned context embedding.
    dropout : float, default=0.1
        Dropout rate of the fully connected layers.
    activation : {"relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu", \
"silu"}, default="relu"
        Activation function used throughout the network.
    max_epochs : int, default=30
        Number of passes over the training data.
    lr : float, default=1e-3
        Learning rate of the Adam optimizer.
    batch_size : int, default=128
        Rows per training step.
    handle_unknown : {"error", "learned"}, default="error"
        What to do with a context value at predict that was not seen at fit.
        ``"error"`` raises a ``ValueError`` naming the values. ``"learned"``
        predicts them with an extra "unknown context" embedding; to train it,
        5% of the training rows have their context replaced by "unknown" in
        each epoch, which costs those rows their context information.
    n_threads : int or None, default=1
        Torch intra-op threads used inside ``fit`` and ``predict``; the
        previous setting is restored afterwards. One thread is fastest for
        networks of this size (torch's default thread count made a training
        step about 100 times slower on a 2-core machine). ``None`` leaves
        torch's setting alone.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and shuffling. An int makes fits
        bit-identical; torch's global random state is left unchanged.
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table.
    device : str or torch.device, default="cpu"
        Torch device to train and predict on, e.g. ``"cuda"``."""

_SHARED_ATTRIBUTES_DOC = """
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns.
    context_categories_ : ndarray of shape (n_contexts,)
        The context values seen during fit, in the order of their codes.
    n_features_in_ : int
        Number of features seen during fit, context included.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit. Defined only when ``X`` has
        feature names that are all strings.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module and
        ``net_.history`` the per-epoch training record.
    n_iter_ : int
        Number of epochs run."""


class _ContextClassifier(ClassifierMixin, _ContextEstimator):
    """Target handling shared by the classifiers."""

    def _encode_target(self, y, n_samples: int) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} rows but y has {len(y)} values; they must "
                "have the same length."
            )
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only 1 class ({self.classes_[0]!r}); a classifier needs "
                "at least 2 classes to train."
            )
        return codes.astype(np.int64)

    def _criterion(self):
        return torch.nn.CrossEntropyLoss

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
        logits = self._forward(X)
        return torch.softmax(logits.double(), dim=1).cpu().numpy()

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
        logits = self._forward(X)
        return self.classes_[logits.argmax(dim=1).cpu().numpy()]


class HyperNetworkClassifier(_ContextClassifier):
    """Classifier in which the context column generates a layer's weights.

    The numeric (non-context) features are standardised and projected to
    ``hidden_size``. The context value is embedded, and a small generator MLP
    (embedding -> ``hyper_hidden_size`` -> activation -> output) produces the
    weight matrix and bias of a ``hidden_size -> output_size`` layer for that
    context. ``num_fc_layers`` fully connected layers of ``output_size`` and
    the output layer follow. Everything is learned end to end.

    Each distinct context in a batch gets its weights generated once, and
    its rows go through them in one grouped matrix product, so no per-row
    weight matrix is ever built.

    **Initialisation.** The generated layer is ``W(c) = W0 + dW(c)`` (and
    likewise for the bias): ``W0`` is initialised like ``torch.nn.Linear``
    and the generator's last layer starts at zero, so at the start every
    context gets an ordinary, well-scaled layer and the context-specific
    part ``dW(c)`` grows only as the data supports it. A generator whose raw
    output is the weight matrix, initialised the usual way, gives weights
    of the wrong scale and unstable training (Chang et al., ICLR 2020); the
    residual form fixes the scale without depending on the embedding's
    (Ortiz et al., ICLR 2024).

    Parameters
    ----------
    {shared_parameters}
    hyper_hidden_size : int, default=64
        Hidden size of the weight generator.
    output_size : int, default=128
        Output size of the generated layer and of the fully connected layers
        after it.
    num_fc_layers : int, default=1
        Number of ``output_size -> output_size`` fully connected layers after
        the generated layer.
    generator_rank : int or None, default=None
        ``None`` generates the weight update entry by entry, as the reference
        combiner does: the generator's output layer then has
        ``hyper_hidden_size * (hidden_size + 1) * output_size`` parameters
        (about 1.06 million with the defaults) and dominates training time.
        An integer ``r`` generates it as the product of an
        ``(hidden_size, r)`` and an ``(r, output_size)`` factor instead, with
        ``hyper_hidden_size * (r * (hidden_size + output_size) + output_size)``
        parameters; see ``docs/performance.md`` for the speed it buys.

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    ConcatClassifier : The baseline that concatenates the context embedding
        with the features instead.

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
        "hyper_hidden_size": [Interval(Integral, 1, None, closed="left")],
        "output_size": [Interval(Integral, 1, None, closed="left")],
        "num_fc_layers": [Interval(Integral, 0, None, closed="left")],
        "generator_rank": [Interval(Integral, 1, None, closed="left"), None],
    }
    _module_class = HyperNetworkModule

    def __init__(
        self,
        context_column=None,
        *,
        hidden_size=128,
        hyper_hidden_size=64,
        output_size=128,
        num_fc_layers=1,
        generator_rank=None,
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=30,
        lr=1e-3,
        batch_size=128,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.context_column = context_column
        self.hidden_size = hidden_size
        self.hyper_hidden_size = hyper_hidden_size
        self.output_size = output_size
        self.num_fc_layers = num_fc_layers
        self.generator_rank = generator_rank
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _module_params(self) -> dict:
        return {
            "hidden_size": self.hidden_size,
            "hyper_hidden_size": self.hyper_hidden_size,
            "output_size": self.output_size,
            "num_fc_layers": self.num_fc_layers,
            "generator_rank": self.generator_rank,
            "embedding_size": self.embedding_size,
            "dropout": self.dropout,
            "activation": self.activation,
        }


class ConcatClassifier(_ContextClassifier):
    """Baseline classifier: the context embedding is concatenated with the
    features.

    The numeric (non-context) features are standardised and projected to
    ``hidden_size``; the context value is embedded; the two are concatenated
    and go through fully connected layers of ``hidden_layer_sizes`` (with
    activation and dropout) and the output layer. Data handling and training
    are exactly those of :class:`HyperNetworkClassifier`, so the two compare
    fairly.

    Parameters
    ----------
    {shared_parameters}
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Sizes of the fully connected layers after the concatenation.

    Attributes
    ----------
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
        "hidden_layer_sizes": ["array-like"],
    }
    _module_class = ConcatModule

    def __init__(
        self,
        context_column=None,
        *,
        hidden_size=128,
        hidden_layer_sizes=(128, 64),
        embedding_size=16,
        dropout=0.1,
        activation="relu",
        max_epochs=30,
        lr=1e-3,
        batch_size=128,
        handle_unknown="error",
        n_threads=1,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.context_column = context_column
        self.hidden_size = hidden_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embedding_size = embedding_size
        self.dropout = dropout
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.handle_unknown = handle_unknown
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _module_params(self) -> dict:
        sizes = list(self.hidden_layer_sizes)
        if not sizes or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a non-empty sequence of positive "
                f"integers; got {self.hidden_layer_sizes!r}."
            )
        return {
            "hidden_size": self.hidden_size,
            "hidden_layer_sizes": tuple(int(s) for s in sizes),
            "embedding_size": self.embedding_size,
            "dropout": self.dropout,
            "activation": self.activation,
        }


for _estimator in (HyperNetworkClassifier, ConcatClassifier):
    _estimator.__doc__ = _estimator.__doc__.format(
        shared_parameters=_SHARED_PARAMETERS_DOC.strip("\n").lstrip(),
        shared_attributes=_SHARED_ATTRIBUTES_DOC.strip("\n").lstrip(),
    )
