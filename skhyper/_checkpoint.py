"""Resumable fits: ``checkpoint=directory`` saves, after every completed
epoch, what a new ``fit`` needs to go on from there.

A call to ``fit`` trains one net, or two with ``weight_decay="auto"`` and a
validation split (the decay path, then the weak decay). Each of them has a
file in the directory, ``fit1.npz`` and ``fit2.npz``, rewritten at the end of
every epoch and once more when that net has finished training. A file holds
the module's weights, the optimizer's state (Adam's moments and the groups'
current decay), the history, the state of the stopping callbacks
(:class:`~skhyper._callbacks.DecayPath`'s stage, misses, best loss, best
weights and best decay; :class:`~skhyper._callbacks.StopOnConvergence`'s
counters; :class:`~skhyper._callbacks.WeightAveraging`'s running mean), the
random states (torch's generator, which draws dropout masks and initial
weights, and the NumPy generator that shuffles the batches), the fit's seed
and a fingerprint of the fit: the estimator's class, its parameters and a
hash of the encoded training data, target and weights.

A later ``fit`` with the same parameters and data and the same directory
restores the nets from these files: a finished net is taken as it is, an
unfinished one trains on from its last completed epoch. On a CPU with an
integer ``random_state`` the result is bit-identical to a fit that was never
interrupted (the tests check it). A checkpoint of another fit (other
parameters, other data) is never resumed: ``fit`` warns, says what differs,
and starts afresh, replacing it. A file that cannot be read is an error,
and so are an empty path and a directory that cannot be created or
written (tried with a file before training).

The files are NumPy ``.npz`` archives of plain arrays and one JSON document
(read with ``allow_pickle=False``), so opening a checkpoint runs no code. A
file is written to a temporary name in the same directory, flushed to disk
and renamed over the old one (``os.replace``), so a fit killed while saving
leaves the previous epoch's file whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ._callbacks import DecayPath, StopOnConvergence, WeightAveraging
from ._persistence import _json_scalar
from ._stack import user_stacklevel

# Bumped when what a checkpoint file holds changes; a file of another format
# is not resumed.
CHECKPOINT_FORMAT = 1

# The file of the n-th net of a fit: one net, or two with
# weight_decay="auto" and a validation split.
FIT_FILE = "fit{}.npz"
N_FITS = 2

# Parameters that do not change what is trained, so a fit resumes across
# them: where the checkpoint lives, what is printed, and the thread count
# (which can change float rounding, so a fit resumed with another
# n_threads is valid but not bit-identical to an uninterrupted one).
NOT_FINGERPRINTED = ("checkpoint", "verbose", "n_threads")

# What each stopping callback carries from one epoch to the next.
CALLBACK_STATE = {
    DecayPath: ("stage_", "misses_", "best_loss_", "best_decay_", "best_weights_"),
    StopOnConvergence: ("best_loss_", "misses_"),
    WeightAveraging: ("mean_", "n_averaged_"),
}

# The callbacks that end training early; each says whether it has.
STOPPING_RULES = (DecayPath, StopOnConvergence)

_META = "meta"
_INDEX = "arrays"
_BLOB = "data"
_REQUIRED_META = (
    "format",
    "fingerprint",
    "seed",
    "fit",
    "epochs",
    "done",
    "history",
    "optimizer_groups",
    "callbacks",
    "numpy_rng",
)


# -- the two ways a fit runs ------------------------------------------------


class NoCheckpoint:
    """A fit without ``checkpoint``: each net trains from scratch and nothing
    is written."""

    resumed_from_epoch = 0

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, net, train):
        """Train ``net`` on ``train``."""
        return net.fit(train, None)


class CheckpointRun:
    """A fit with ``checkpoint``: the n-th call to :meth:`fit` trains (or
    restores) the fit's n-th net and saves it after each epoch.

    Parameters
    ----------
    directory : Path
    fingerprint : dict
        What identifies the fit (see :func:`fit_fingerprint`).
    seed : int
        The fit's seed: the saved one when resuming.
    saved : list of SavedFit
        The nets saved so far, in order; a finished net before an
        unfinished one.
    say : callable
        Prints progress messages (``print`` when ``verbose``).
    """

    def __init__(self, directory: Path, fingerprint: dict, seed: int, saved, say):
        self.directory = directory
        self.fingerprint = fingerprint
        self.seed = seed
        self.saved = saved
        self.say = say
        self.resumed_from_epoch = 0
        self._n_fits = 0

    def fit(self, net, train):
        """Train ``net`` on ``train``, or go on from its saved state; a net
        saved as finished is restored without training."""
        index = self._n_fits = self._n_fits + 1
        saved = self.saved[index - 1] if index <= len(self.saved) else None
        saver = SaveEachEpoch(self, index, saved)
        net.set_params(callbacks=[*net.callbacks, ("checkpoint", saver)])
        try:
            return self._train_or_restore(net, train, index, saved)
        finally:  # the fitted net keeps no checkpoint data
            saver.run = saver.saved = None

    def _train_or_restore(self, net, train, index: int, saved):
        if saved is None:
            # A file of this net or a later one was left by a run that went
            # on after an interrupted net (Ctrl-C): it began from other
            # random states, so it must not be resumed.
            _remove_fit_files(self.directory, start=index)
            return net.fit(train, None)
        self.resumed_from_epoch += saved.epochs
        if saved.done:
            self.say(f"Fit {index}: finished in {self.directory}, not trained again.")
            net.initialize()
            restore_training_state(net, saved)
            return net
        self.say(f"Fit {index}: resuming after epoch {saved.epochs}.")
        # The saved state is loaded when training begins, after the
        # callbacks have set themselves up (SaveEachEpoch.on_train_begin).
        return net.fit(train, None, epochs=net.max_epochs - saved.epochs)

    def save(self, net, index: int, done: bool) -> None:
        """Write the n-th net's state, replacing its file atomically."""
        meta, arrays = training_state(net)
        meta.update(
            format=CHECKPOINT_FORMAT,
            fingerprint=self.fingerprint,
            seed=self.seed,
            fit=index,
            done=done,
        )
        write_atomically(self.directory / FIT_FILE.format(index), meta, arrays)


class SaveEachEpoch(Callback):
    """Saves the net after each epoch and when it has finished; with a saved
    state, loads it when training begins.

    It must come after the stopping callbacks, so that what it saves at the
    end of an epoch includes their update (a decay stage that changed, best
    weights restored) and what it loads replaces their fresh start.
    """

    def __init__(self, run: CheckpointRun, index: int, saved=None):
        self.run = run
        self.index = index
        self.saved = saved

    def on_train_begin(self, net, **kwargs) -> None:
        self.saved_epochs_ = 0
        if self.saved is not None:
            restore_training_state(net, self.saved)
            self.saved_epochs_ = self.saved.epochs

    def on_epoch_end(self, net, **kwargs) -> None:
        self.run.save(net, self.index, done=False)
        self.saved_epochs_ = len(net.history)

    def on_train_end(self, net, **kwargs) -> None:
        # skorch ends training on any KeyboardInterrupt: the stopping rules'
        # and a user's Ctrl-C alike. Only the first finishes this net; after
        # the second the last epoch's save stays, to be resumed.
        if self._finished(net):
            self.run.save(net, self.index, done=True)

    def _finished(self, net) -> bool:
        """Whether every epoch ran, or a stopping rule ended training."""
        if self.saved_epochs_ == len(net.history) == net.max_epochs:
            return True
        rules = (c for _, c in net.callbacks_ if isinstance(c, STOPPING_RULES))
        return any(rule.stopped for rule in rules)


def open_checkpoint(estimator, encoded, target, weight, seed: int):
    """How this ``fit`` runs: :class:`NoCheckpoint` without a ``checkpoint``
    directory, else a :class:`CheckpointRun` that resumes what the directory
    holds of this very fit (same class, parameters and data), and otherwise
    starts afresh, with a warning when it replaces another fit's files."""
    if estimator.checkpoint is None:
        return NoCheckpoint(seed)
    if getattr(estimator, "accelerator", None) is not None:
        raise ValueError(
            "checkpoint does not work with accelerator yet: every process "
            "would write the same files. Pass checkpoint=None for a "
            "data-parallel fit."
        )
    directory = _checkpoint_directory(estimator.checkpoint)
    _make_directory(directory)
    # Before training: a directory that cannot take the files would
    # otherwise fail only at the end of the first epoch.
    _check_writable(directory)
    _remove_temporary_files(directory)
    fingerprint = fit_fingerprint(estimator, encoded, target, weight)
    saved = read_saved_fits(directory)
    stale = [s for s in saved if s.meta["fingerprint"] != fingerprint]
    if stale:
        warnings.warn(
            f"The checkpoint in {directory} is of another fit: "
            f"{_differences(stale[0].meta['fingerprint'], fingerprint)}. This "
            "fit starts afresh, and its checkpoint replaces the old one.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        _remove_fit_files(directory)
        saved = []
    if saved:  # the interrupted fit's seed: it drew the split and the shuffles
        seed = int(saved[0].meta["seed"])
    say = print if estimator.verbose else _silent
    return CheckpointRun(directory, fingerprint, seed, saved, say)


def checkpoint_progress(directory) -> list[dict]:
    """What a checkpoint directory holds: for each saved net, in order,
    ``{"fit": n, "epochs": completed epochs, "done": finished}``."""
    return [
        {key: s.meta[key] for key in ("fit", "epochs", "done")}
        for s in read_saved_fits(Path(directory))
    ]


# -- the state of a training net --------------------------------------------


def training_state(net) -> tuple[dict, dict[str, np.ndarray]]:
    """Everything that training carries from one epoch to the next, as a
    JSON-able dict and a dict of NumPy arrays."""
    arrays = _prefixed("module", net.module_.state_dict())
    optimizer = net.optimizer_.state_dict()
    for position, entry in optimizer["state"].items():
        arrays.update(_prefixed(f"optimizer/{position}", entry))
    callbacks = {}
    for name, callback in net.callbacks_:
        state, callback_arrays = _callback_state(name, callback)
        if state is not None:
            callbacks[name] = state
            arrays.update(callback_arrays)
    arrays.update(_torch_rng_arrays(net.device))
    kind, keys, position, has_gauss, cached = _shuffler(net).get_state()
    arrays["rng/numpy"] = keys
    meta = {
        "epochs": len(net.history),
        "history": net.history.to_list(),
        "optimizer_groups": optimizer["param_groups"],
        "callbacks": callbacks,
        "numpy_rng": [kind, int(position), int(has_gauss), float(cached)],
    }
    return meta, arrays


def restore_training_state(net, saved) -> None:
    """Put what :func:`training_state` saved back into an initialised net
    of the same fit."""
    try:
        _restore(net, saved)
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise ValueError(
            f"The checkpoint file {saved.path} matches this fit's parameters "
            f"and data but does not fit its network ({type(error).__name__}: "
            f"{error}); it was edited or written by another skhyper. Delete it "
            "to start this fit afresh."
        ) from error


def _restore(net, saved) -> None:
    device = net.device
    net.module_.load_state_dict(saved.tensors("module", device))
    positions = {
        key.split("/")[1] for key in saved.arrays if key.startswith("optimizer/")
    }
    net.optimizer_.load_state_dict(
        {
            "state": {
                int(p): saved.tensors(f"optimizer/{p}", device) for p in positions
            },
            "param_groups": saved.meta["optimizer_groups"],
        }
    )
    net.history = History(saved.meta["history"])
    for name, callback in net.callbacks_:
        if name in saved.meta["callbacks"]:
            _restore_callback(net, name, callback, saved)
    torch.set_rng_state(torch.from_numpy(saved.arrays["rng/torch"].copy()))
    if "rng/cuda" in saved.arrays:
        state = torch.from_numpy(saved.arrays["rng/cuda"].copy())
        torch.cuda.set_rng_state(state, torch.device(device))
    kind, position, has_gauss, cached = saved.meta["numpy_rng"]
    _shuffler(net).set_state(
        (kind, saved.arrays["rng/numpy"], position, has_gauss, cached)
    )


def _shuffler(net) -> np.random.RandomState:
    """The generator that draws each epoch's order of the training rows
    (``_build_net`` gives the batch iterator one, kept across epochs)."""
    return net.iterator_train__random_state


def _torch_rng_arrays(device) -> dict[str, np.ndarray]:
    arrays = {"rng/torch": torch.get_rng_state().numpy()}
    if torch.device(device).type == "cuda":
        arrays["rng/cuda"] = torch.cuda.get_rng_state(torch.device(device)).numpy()
    return arrays


def _callback_state(name: str, callback) -> tuple[dict | None, dict]:
    """A stopping callback's state: scalars for JSON, weight dicts as
    arrays under ``callbacks/<name>/<attribute>/``."""
    attributes = next(
        (names for kind, names in CALLBACK_STATE.items() if isinstance(callback, kind)),
        None,
    )
    if attributes is None:
        return None, {}
    state, arrays = {}, {}
    for attribute in attributes:
        value = getattr(callback, attribute)
        if isinstance(value, dict):  # a module's state_dict
            arrays.update(_prefixed(f"callbacks/{name}/{attribute}", value))
            state[attribute] = {"weights": True}
        else:
            state[attribute] = value
    return state, arrays


def _restore_callback(net, name: str, callback, saved) -> None:
    for attribute, value in saved.meta["callbacks"][name].items():
        if isinstance(value, dict):
            value = saved.tensors(f"callbacks/{name}/{attribute}", net.device)
        setattr(callback, attribute, value)
    if isinstance(callback, DecayPath):
        # torch.optim's load_state_dict replaces the parameter groups, so
        # the path must find the decayed ones again (biases never decay).
        callback._decayed = [
            g for g in net.optimizer_.param_groups if g["weight_decay"]
        ]


def _prefixed(prefix: str, tensors: dict) -> dict[str, np.ndarray]:
    return {
        f"{prefix}/{name}": torch.as_tensor(value).detach().cpu().numpy()
        for name, value in tensors.items()
    }


# -- files ------------------------------------------------------------------


class SavedFit:
    """One net's saved state, as read from its file."""

    def __init__(self, path: Path, meta: dict, arrays: dict[str, np.ndarray]):
        self.path = path
        self.meta = meta
        self.arrays = arrays

    @property
    def epochs(self) -> int:
        return int(self.meta["epochs"])

    @property
    def done(self) -> bool:
        return bool(self.meta["done"])

    def tensors(self, prefix: str, device) -> dict[str, torch.Tensor]:
        """The arrays saved under ``prefix/`` as tensors on ``device``, by
        the rest of their names."""
        start = len(prefix) + 1
        # np.array copies: torch wants a writable array.
        return {
            key[start:]: torch.from_numpy(np.array(value)).to(device)
            for key, value in self.arrays.items()
            if key.startswith(prefix + "/")
        }


def read_saved_fits(directory: Path) -> list[SavedFit]:
    """The saved nets of the directory in order, up to the first that is
    missing or unfinished (a later file is left over from an older fit)."""
    saved = []
    for index in range(1, N_FITS + 1):
        path = directory / FIT_FILE.format(index)
        if not path.exists():
            break
        saved.append(read_saved_fit(path))
        if not saved[-1].done:
            break
    return saved


def read_saved_fit(path: Path) -> SavedFit:
    """Read one file, or say clearly that it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            blobs = {key: archive[key] for key in archive.files}
        meta = json.loads(blobs.pop(_META).tobytes().decode("utf-8"))
        missing = [key for key in (*_REQUIRED_META, _INDEX) if key not in meta]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        arrays = _unpack(meta.pop(_INDEX), blobs)
    except Exception as error:  # any way of failing to parse: the file is bad
        raise ValueError(
            f"The checkpoint file {path} cannot be read ({type(error).__name__}: "
            f"{error}). skhyper writes it to a temporary file and renames it, "
            "so it was damaged or changed afterwards. Delete it (or the "
            f"directory {path.parent}) to start this fit afresh."
        ) from error
    return SavedFit(path, meta, arrays)


def write_atomically(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (as JSON) and ``arrays`` to ``path`` so that ``path``
    always holds either the old file or the whole new one."""
    index, blobs = _pack(arrays)
    document = json.dumps({**meta, _INDEX: index}, default=_json_scalar)
    payload = {_META: np.frombuffer(document.encode("utf-8"), dtype=np.uint8)}
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **payload, **blobs)
            file.flush()
            # On disk before the rename: after a crash of the machine (not
            # only of the process) the new name then never points at an
            # empty file.
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _pack(arrays: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """The arrays as one flat array per dtype and an index of where each
    lies: a zip entry per tensor made saving several times slower."""
    index, parts, sizes = {}, {}, {}
    for name, array in arrays.items():
        kind = array.dtype.name
        offset = sizes.get(kind, 0)
        index[name] = [kind, list(array.shape), offset]
        parts.setdefault(kind, []).append(array.reshape(-1))
        sizes[kind] = offset + array.size
    blobs = {f"{_BLOB}{kind}": np.concatenate(part) for kind, part in parts.items()}
    return index, blobs


def _unpack(index: dict, blobs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, (kind, shape, offset) in index.items():
        size = math.prod(shape)
        flat = blobs[f"{_BLOB}{kind}"][offset : offset + size]
        if len(flat) != size:
            raise ValueError(f"array {name!r} runs past the end of the file")
        arrays[name] = flat.reshape(shape)
    return arrays


def _checkpoint_directory(checkpoint) -> Path:
    """The ``checkpoint`` parameter as a directory path."""
    # Path("") is the working directory: an empty string (an unset
    # environment variable, say) would write and delete fit*.npz there.
    if os.fspath(checkpoint) == "":
        raise ValueError(
            "checkpoint='' is an empty path; pass a directory path (it is "
            "created if missing), or checkpoint=None for no checkpoint."
        )
    return Path(checkpoint)


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(
            f"checkpoint={str(directory)!r} is a file; pass a directory (it is "
            "created if missing)."
        ) from error
    except OSError as error:  # no permission, a read-only file system, ...
        raise ValueError(
            f"checkpoint={str(directory)!r} cannot be created ({_reason(error)}); "
            "pass a writable directory, or checkpoint=None for no checkpoint."
        ) from error


def _check_writable(directory: Path) -> None:
    """Create and remove a file in ``directory``, the way each save does.

    Permission bits do not tell (root ignores them, ``chattr +i`` and
    read-only mounts are not in them), so only trying tells. The file's
    name matches what ``_remove_temporary_files`` removes, should the
    process die in between.
    """
    try:
        handle, probe = tempfile.mkstemp(
            dir=directory, prefix=".fit0.npz.", suffix=".tmp"
        )
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(
            f"checkpoint={str(directory)!r} is not writable ({_reason(error)}); "
            "pass a writable directory, or checkpoint=None for no checkpoint."
        ) from error


def _reason(error: OSError) -> str:
    """What the operating system said, without the path (the message
    names it already)."""
    return error.strerror or f"{type(error).__name__}: {error}"


def _remove_temporary_files(directory: Path) -> None:
    """Files of saves that a killed fit never finished."""
    for leftover in directory.glob(".fit*.npz.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _remove_fit_files(directory: Path, start: int = 1) -> None:
    for index in range(start, N_FITS + 1):
        with contextlib.suppress(FileNotFoundError):
            (directory / FIT_FILE.format(index)).unlink()


# -- which fit a checkpoint belongs to ----------------------------------------


def fit_fingerprint(estimator, encoded, target, weight) -> dict:
    """What makes two fits the same fit: the estimator's class, its
    parameters (but those in ``NOT_FINGERPRINTED``) and a SHA-256 hash of
    the encoded training arrays, the target and the rows' weights, as JSON
    values."""
    parameters = {
        name: _plain(value)
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in NOT_FINGERPRINTED
    }
    arrays = (
        encoded.numeric,
        encoded.categorical,
        encoded.context,
        encoded.continuous,
        target,
        weight,
    )
    fingerprint = {
        "format": CHECKPOINT_FORMAT,
        "estimator": type(estimator).__name__,
        "parameters": parameters,
        "data": _digest(arrays),
    }
    return json.loads(json.dumps(fingerprint))  # as it reads back from a file


def _plain(value):
    """A parameter's value as JSON data that changes when the value does."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        value = float(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {
            repr(key): _plain(item) for key, item in sorted(value.items(), key=repr)
        }
    if isinstance(value, pd.DataFrame):
        hashes = pd.util.hash_pandas_object(value, index=True).to_numpy()
        columns = [repr(c) for c in value.columns]
        dtypes = [str(d) for d in value.dtypes]
        return {"frame": _digest([hashes]), "columns": columns, "dtypes": dtypes}
    if isinstance(value, np.ndarray):
        return {"array": _digest([value])}
    if isinstance(value, (pd.Index, pd.Series, pd.api.extensions.ExtensionArray)):
        # Declared categories (X[c].cat.categories, X[c].unique()): by
        # value, as repr would shorten a long one to its ends.
        values = np.asarray(value, dtype=object)
        return {"pandas": _digest([values]), "dtype": str(value.dtype)}
    if isinstance(value, np.random.RandomState):
        # Its seed is drawn once; a resumed fit takes the saved one.
        return "RandomState"
    return repr(value)  # torch.device and the like


def _digest(arrays) -> str:
    """A SHA-256 hash of the arrays' dtypes, shapes and values, the same in
    every process (object arrays included)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"None;")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        if array.dtype.hasobject:
            digest.update(_object_bytes(array))
        elif array.size:
            digest.update(array.view(np.uint8).reshape(-1))
    return digest.hexdigest()


def _object_bytes(array: np.ndarray) -> bytes:
    """The values of an object array as bytes: each one's type and repr.

    An object array holds references, whose bytes are memory addresses
    (NumPy refuses to view them as bytes). The type is part of the hash so
    that ``1`` and ``"1"``, or ``1`` and ``1.0``, differ as categories do.
    """
    items = (
        f"{type(item).__module__}.{type(item).__qualname__}:{item!r}"
        for item in array.reshape(-1)
    )
    return "\x1f".join(items).encode("utf-8", "surrogatepass")


def _differences(saved: dict, current: dict) -> str:
    """What differs between two fingerprints, in words."""
    if saved.get("format") != current["format"]:
        return f"it was written in checkpoint format {saved.get('format')!r}"
    if saved.get("estimator") != current["estimator"]:
        return f"it is of a {saved.get('estimator')}"
    old, new = saved.get("parameters", {}), current["parameters"]
    changed = [
        f"{name} ({_shown(old.get(name))} there, {_shown(new.get(name))} here)"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]
    if changed:
        return "other parameters: " + ", ".join(changed)
    # The encoded inputs are compared, so an upgrade that encodes the same
    # table otherwise (e.g. continuous contexts' bins) differs here too.
    return (
        "other training data (X, y or sample_weight), or a version of skhyper "
        "that encodes them otherwise"
    )


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _silent(*args, **kwargs) -> None:
    """Where progress messages go when ``verbose=0``."""
