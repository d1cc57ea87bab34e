"""Saving and loading fitted models with skops, and the plain-data form of a
fitted network that makes this safe.

Loading a pickle (or a joblib file) runs whatever code the file names, so a
pickle is only safe to load when you made it yourself. ``skops.io`` instead
stores a tree of typed nodes and, on load, refuses every type the caller has
not trusted. That only protects you if the trusted types do not unpickle
anything themselves: skorch's ``NeuralNet.__getstate__`` pickles its torch
module into a byte string, and ``__setstate__`` unpickles it. The estimators'
``__getstate__`` (in ``_base.py``) therefore replaces the skorch net with
:func:`net_state`: the module's constructor arguments, its ``state_dict`` as
NumPy arrays, and its training history as a JSON string. The
``__setstate__`` builds the net again with :func:`restore_net`. Pickle,
``copy.deepcopy`` and joblib go through the same hooks.

The optimizer's state (Adam's moment estimates and the groups' options) is
saved too, as plain arrays (:func:`optimizer_state`), so that ``partial_fit``
and ``fit`` with ``warm_start=True`` go on after a round trip exactly where
the saved model stopped (``_incremental.py``). What is not saved: the
training callbacks, which each ``fit`` builds afresh. A loaded model
predicts, transforms, refits and trains on exactly as the saved one.

The estimators' pandas parameters are saved as plain data as well:
``context_attributes`` by ``_attributes.attributes_to_plain``, pandas
values in ``categories`` (``X[c].cat.categories``, ``X[c].unique()``) by
:func:`categories_to_plain`, both with the conversions of ``_plain.py``, so
that :func:`load` needs no pandas or pyarrow type trusted and a categorical
dtype keeps its declared categories and order.
"""

from __future__ import annotations

import enum
import json
import zipfile
from collections.abc import Iterable
from os import PathLike
from typing import IO, Any

import numpy as np
import torch
from skorch.history import History
from skorch.utils import get_map_location

from ._categories import mid_sentence
from ._compat import import_skops_io
from ._net import WeightedLossNet
from ._optim import adamw_class
from ._plain import values_from_plain, values_to_plain
from ._runtime import torch_session

# Every type a skhyper model's skops file holds beyond those skops trusts by
# default (builtins, NumPy arrays and scalars, scikit-learn estimators such
# as Pipeline), by the names skops.io.get_untrusted_types reports.
# tests/test_persistence.py checks that fitted models need no other type and
# that each of these is needed by some model.
TRUSTED_TYPES = sorted(
    [
        # Only for a model fitted with context_attributes.
        "skhyper._attributes.AttributeTable",
        "skhyper._categories.CategoryEncoder",
        "skhyper._classifiers.ConcatClassifier",
        "skhyper._classifiers.HyperNetworkClassifier",
        "skhyper._encoding.TableEncoder",
        "skhyper._numeric.NumericEncoder",
        "skhyper._regressors.ConcatRegressor",
        "skhyper._regressors.HyperNetworkRegressor",
        # Only for a model built with device=torch.device(...) rather than a
        # string; skops rebuilds it as torch.device("cpu"), say.
        "torch.device",
    ]
)

# Types that scikit-learn's own transformers keep in their fitted state and
# skops does not trust by default: SimpleImputer's and KBinsDiscretizer's
# NumPy dtype (rebuilt from its name; it runs no code) and, in scikit-learn
# 1.6, the list of a ColumnTransformer's remainder columns (a UserList with
# three flags; later releases keep a plain list). load trusts them too, so
# that a Pipeline of scikit-learn transformers and a skhyper model, as the
# README builds, loads without extra_trusted.
SCIKIT_LEARN_STATE_TYPES = [
    "numpy.dtype",
    "sklearn.compose._column_transformer._RemainderColsList",
]

# Bumped when the plain-data form of the network changes.
NET_FORMAT = 1


def dump(estimator: Any, file: str | PathLike | IO[bytes]) -> None:
    """Save a fitted skhyper estimator (or a Pipeline holding one) with skops.

    The file holds no pickled code: the network is stored as NumPy arrays
    and the encoders as plain values, so :func:`load` can check every type
    in it before building anything.

    Parameters
    ----------
    estimator : estimator
        A skhyper estimator, fitted or not, or any scikit-learn object that
        holds one (e.g. a ``Pipeline``).
    file : str, path-like or binary file object
        Where to write; ``.skops`` is the usual suffix.

    See Also
    --------
    load : Read the file back, checking its types first.

    Examples
    --------
    >>> import numpy as np
    >>> from skhyper import HyperNetworkClassifier, dump, load
    >>> X = np.column_stack([np.arange(40) % 2, np.linspace(-1, 1, 40)])
    >>> y = (X[:, 1] > 0).astype(int)
    >>> clf = HyperNetworkClassifier(context_column=0, max_epochs=2,
    ...                              random_state=0).fit(X, y)
    >>> import io
    >>> buffer = io.BytesIO()
    >>> dump(clf, buffer)
    >>> loaded = load(io.BytesIO(buffer.getvalue()))
    >>> bool((loaded.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    skops_io = import_skops_io()  # first: without skops, say how to install it
    _check_attribute_column_names(estimator)
    _check_no_enum_values(estimator)
    skops_io.dump(estimator, file)


# Dict keys that skops can write: it stores a dict's keys as JSON object keys.
_JSON_KEY_TYPES = (str, int, float, bool, type(None))


def _check_attribute_column_names(obj) -> None:
    """Refuse, with the fix, a fitted attribute table whose categorical
    column is named by a tuple (a MultiIndex) or another non-JSON key.

    A fitted table keys part of its state by column name (its
    ``state_keys``), and skops would fail inside ``json`` with a TypeError
    that names neither the column nor the fix.
    """
    for estimator in _skhyper_estimators(obj):
        encoder = getattr(estimator, "encoder_", None)
        for table in getattr(encoder, "attribute_tables_", None) or []:
            names = table.state_keys if table is not None else []
            for name in names:
                if not isinstance(name, _JSON_KEY_TYPES):
                    raise ValueError(
                        f"skhyper.dump cannot save context_attributes whose "
                        f"column is named {name!r} ({type(name).__name__}): "
                        "skops stores column names as JSON keys. Name the "
                        "attribute columns with strings (for a MultiIndex: "
                        "table.columns = ['_'.join(map(str, c)) for c in "
                        "table.columns]) and refit, or save with pickle or "
                        "joblib if only you will load the file."
                    )


def _check_no_enum_values(obj) -> None:
    """Refuse, with the fix, a model whose context values are ``Enum``
    members (categorical features take only strings and numbers): skops
    writes them, but cannot build an ``Enum`` at load even when it is
    trusted (a TypeError from ``Enum.__new__``), so the file could never
    be loaded."""
    for estimator in _skhyper_estimators(obj):
        encoder = getattr(estimator, "encoder_", None)
        for coder in getattr(encoder, "context_encoders_", None) or []:
            values = getattr(coder, "categories_", ())
            member = next((v for v in values if isinstance(v, enum.Enum)), None)
            if member is not None:
                raise ValueError(
                    f"skhyper.dump cannot save {mid_sentence(coder.what)}: it holds "
                    f"{member!r}, an Enum member, which skops cannot load. Fit on "
                    f"its names or values instead (e.g. X[{coder.name!r}].map("
                    "lambda member: member.name)), or save with pickle or joblib "
                    "if only you will load the file."
                )


def _skhyper_estimators(obj) -> list:
    """The skhyper estimators in ``obj``: itself, the steps of a Pipeline
    (any nested estimator parameter) and a search's ``best_estimator_``."""
    # Imported here: _base imports this module.
    from ._base import _ContextEstimator

    candidates = []
    for root in (obj, getattr(obj, "best_estimator_", None)):
        candidates.append(root)
        # The nested estimators of each: a search's best Pipeline has its own.
        if hasattr(root, "get_params") and not isinstance(root, type):
            candidates += list(root.get_params(deep=True).values())
    return [c for c in candidates if isinstance(c, _ContextEstimator)]


def load(file: str | PathLike | IO[bytes], *, extra_trusted: Iterable[str] = ()) -> Any:
    """Load what :func:`dump` saved, trusting only known types.

    The trusted types are :data:`TRUSTED_TYPES`, those skops trusts by
    default, ``numpy.dtype`` (which scikit-learn's ``SimpleImputer`` and
    ``KBinsDiscretizer`` keep) and the list in which scikit-learn 1.6's
    ``ColumnTransformer`` keeps its remainder columns; a file holding any
    other type is refused before anything in it is built.

    Parameters
    ----------
    file : str, path-like or binary file object
        A file written by :func:`dump` (or by ``skops.io.dump``).
    extra_trusted : str or iterable of str, default=()
        Further fully qualified type names to trust, e.g. a transformer of
        your own in the same Pipeline. Name only types you have reviewed.

    Returns
    -------
    estimator : object
        The loaded estimator or Pipeline.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds any other type; nothing in it has been built.
    ValueError
        When the file is not one that :func:`dump` wrote, or was cut short.

    See Also
    --------
    dump : Write an estimator to such a file.

    Examples
    --------
    >>> import io
    >>> from skhyper import HyperNetworkRegressor, dump, load
    >>> buffer = io.BytesIO()
    >>> dump(HyperNetworkRegressor(context_column=0), buffer)
    >>> load(io.BytesIO(buffer.getvalue()))
    HyperNetworkRegressor(context_column=0)
    """
    if isinstance(extra_trusted, str):  # one name, not its characters
        extra_trusted = [extra_trusted]
    trusted = TRUSTED_TYPES + SCIKIT_LEARN_STATE_TYPES + list(extra_trusted)
    skops_io = import_skops_io()
    try:
        return skops_io.load(file, trusted=trusted)
    except skops_io.exceptions.UntrustedTypesFoundException as error:
        # skops' message names the types; say what to do about them.
        error.args = (f"{error.args[0]}\n\n{_UNTRUSTED_ADVICE}",)
        raise
    except zipfile.BadZipFile as error:  # a skops file is a zip archive
        raise ValueError(
            f"{file!r} is not a file that skhyper.dump (or skops.io.dump) "
            f"wrote, or it was cut short ({error}). Write it again with dump; "
            "a pickle or joblib file is read with pickle or joblib."
        ) from error


_UNTRUSTED_ADVICE = (
    "skhyper.load refused the file before building anything in it. If you "
    "wrote the file and trust the types named above (e.g. a transformer or an "
    "Enum of your own), pass their names: skhyper.load(file, "
    "extra_trusted=[...]). Context values of your own types can instead be "
    "converted to strings before fit, so that the file needs no such type."
)


# -- the categories parameter as plain data --------------------------------------

# Marks a ``categories`` dict that __getstate__ made plain, so that
# __setstate__ rebuilds only what it wrote (a user's dict is never a list).
_CATEGORIES_MARK = "skhyper.categories"


def categories_to_plain(categories):
    """The ``categories`` parameter with its pandas values as plain lists.

    skops stores no pandas object (a ``pd.Index`` fails at dump), and one it
    does store (an ``ArrowStringArray``) would need pandas and pyarrow types
    trusted at load. Each pandas value becomes its kind, dtype (a
    categorical one with its categories and order), name and values as a
    list, a Series with its index (``_plain.values_to_plain``);
    :func:`categories_from_plain` rebuilds it. Lists, tuples and NumPy
    arrays stay as they are unless they hold values such as ``pd.cut``'s
    intervals or dates (``_plain.scalar_to_plain``), as does a
    ``categories`` without such values.

    Parameters
    ----------
    categories : dict or None
        The estimator's ``categories`` parameter.

    Returns
    -------
    plain : dict or None
        ``categories`` itself, or a marked dict of builtins.
    """
    if not isinstance(categories, dict):
        return categories
    plain = [[key, *values_to_plain(values)] for key, values in categories.items()]
    if all(entry[1] is None for entry in plain):  # nothing made plain
        return categories
    return {_CATEGORIES_MARK: plain}


def categories_from_plain(plain):
    """The ``categories`` that :func:`categories_to_plain` made plain, with
    its pandas values rebuilt (anything else is returned as it is)."""
    if not (isinstance(plain, dict) and _CATEGORIES_MARK in plain):
        return plain
    # Entries saved before a Series' index was stored have no index item.
    return {key: values_from_plain(*entry) for key, *entry in plain[_CATEGORIES_MARK]}


# -- the fitted network as plain data -------------------------------------------


def net_state(net: WeightedLossNet) -> dict:
    """What :func:`restore_net` needs, as builtins and NumPy arrays only."""
    return {
        "format": NET_FORMAT,
        "module_params": net.get_params_for("module"),
        "state_dict": {
            name: tensor.detach().cpu().numpy()
            for name, tensor in net.module_.state_dict().items()
        },
        # JSON, not nested dicts: a long fit records thousands of batches,
        # and one string is one node in a skops file instead of thousands.
        "history": json.dumps(net.history.to_list(), default=_json_scalar),
        "device": str(net.device),
        # Adam's moment estimates, so that partial_fit and warm_start go on
        # where training stopped, also after a round trip.
        "optimizer": optimizer_state(net),
    }


def optimizer_state(net) -> dict | None:
    """The net's optimizer state as plain data: the groups' options as
    JSON, each parameter's state as NumPy arrays under its position."""
    saved = getattr(net, "saved_optimizer_state_", None)
    if saved is not None:
        # A restored net: its own optimizer_ is a fresh one that never
        # trained (and lacks the bias group); saving that would lose the
        # state on a second round trip, as Dask makes between passes.
        return saved
    optimizer = getattr(net, "optimizer_", None)
    if optimizer is None:
        return None
    state = optimizer.state_dict()
    return {
        "groups": json.dumps(state["param_groups"], default=_json_scalar),
        "state": [
            [int(position), {k: v.detach().cpu().numpy() for k, v in entry.items()}]
            for position, entry in state["state"].items()
        ],
    }


def optimizer_state_from_plain(plain: dict) -> dict:
    """The optimizer ``state_dict`` that :func:`optimizer_state` described."""
    # np.array copies: an array skops read from a file may be read-only.
    return {
        "param_groups": json.loads(plain["groups"]),
        "state": {
            int(position): {k: torch.from_numpy(np.array(v)) for k, v in entry.items()}
            for position, entry in plain["state"]
        },
    }


def restore_net(estimator, state: dict) -> WeightedLossNet:
    """The trained net that :func:`net_state` described, in eval mode, on
    the saved device (on the CPU, with a warning, when CUDA is absent)."""
    if state.get("format") != NET_FORMAT:
        raise ValueError(
            f"This {type(estimator).__name__} was saved with network format "
            f"{state.get('format')!r}; this skhyper reads format {NET_FORMAT}. "
            "Load it with the skhyper version that saved it and refit, or "
            "refit it with this one."
        )
    _check_matches_encoder(estimator, state["module_params"])
    net = WeightedLossNet(
        module=estimator._module_class,
        **{f"module__{key}": value for key, value in state["module_params"].items()},
        criterion=estimator._criterion(),
        criterion__reduction="none",
        optimizer=adamw_class(),
        # A string, as at fit; "cpu" with a DeviceWarning when the file
        # names CUDA and this machine has none.
        device=str(get_map_location(state["device"])),
        train_split=None,
        verbose=0,
        callbacks__print_log=None,
    )
    # The random initialisation is overwritten at once; the seed keeps it
    # from drawing on (and moving) the caller's global torch generator.
    # Not a training session: a load (a deepcopy, a pickle) does not wait
    # for a fit in another thread.
    device = str(net.device)
    with torch_session(estimator.n_threads, seed=0, device=device, training=False):
        net.initialize()
    # np.array copies: an array skops read from a file may be read-only.
    weights = {
        name: torch.from_numpy(np.array(array))
        for name, array in state["state_dict"].items()
    }
    net.module_.load_state_dict(weights)  # strict: names and shapes must match
    net.module_.eval()
    net.history = History(json.loads(state["history"]))
    # Loaded into a training net only when training continues
    # (_incremental.training_net); this net only predicts.
    net.saved_optimizer_state_ = state.get("optimizer")
    return net


def _check_matches_encoder(estimator, module_params: dict) -> None:
    """Refuse a file whose network and encoder disagree (an edited file):
    codes beyond the network's embedding tables would index out of range."""
    encoder = estimator.encoder_
    expected = {
        "context_sizes": [len(e.categories_) for e in encoder.context_encoders_],
        "categorical_sizes": [
            len(e.categories_) for e in encoder.categorical_encoders_
        ],
        "n_numeric": len(encoder.numeric_positions_)
        + encoder.numeric_encoder_.n_indicators,
    }
    for key, value in expected.items():
        saved = module_params.get(key)
        if saved != value:
            raise ValueError(
                f"The saved network's {key} is {saved!r} but the saved encoder "
                f"gives {value!r}: the file was edited or is corrupted. Refit "
                "the model and save it again."
            )


def _json_scalar(value):
    """NumPy scalars (skorch records some losses as np.float64/float32) as
    Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} in the training history is not JSON")
