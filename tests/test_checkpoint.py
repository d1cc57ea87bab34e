"""Resumable fits (``checkpoint``): a fit killed with SIGKILL resumes from
its last completed epoch and ends bit-identical to an uninterrupted fit; a
checkpoint of another fit is never resumed; a damaged file is a clear
error; without ``checkpoint`` nothing is written."""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import ESTIMATORS, SMALL, TINY, outputs, target

from skhyper import HyperNetworkClassifier, HyperNetworkRegressor, dump, load
from skhyper._checkpoint import CheckpointRun, checkpoint_progress
from skhyper.datasets import make_sensor_data

# An epoch of the "killed_while_annealing" fit inside its annealed stage.
ANNEALING_KILL_EPOCH = 21

# How a killed fit is set up: the estimator, its parameters, and when the
# parent kills it (the fit and how many of its epochs must be saved).
# 450 rows: enough for a validation split (from 200 rows on), small enough
# for epochs of a few dozen milliseconds.
SCENARIOS = {
    # weight_decay="auto": the decay path (fit 1), then the weak decay
    # (fit 2); killed in each.
    "auto_killed_in_fit_1": (
        "HyperNetworkClassifier",
        {"weight_decay": "auto", "max_epochs": 40},
        (1, 2),
    ),
    "auto_killed_in_fit_2": (
        "HyperNetworkClassifier",
        {"weight_decay": "auto", "max_epochs": 40},
        (2, 2),
    ),
    # Early stopping on the validation split with one decay.
    "early_stopping": (
        "HyperNetworkClassifier",
        {"weight_decay": 0.5, "early_stopping": True, "max_epochs": 30},
        (1, 2),
    ),
    # The same, killed inside the annealed stage that ends early stopping
    # (see test_the_annealing_scenario_is_killed_while_annealing).
    "killed_while_annealing": (
        "HyperNetworkClassifier",
        {"weight_decay": 0.5, "early_stopping": True, "max_epochs": 30},
        (1, ANNEALING_KILL_EPOCH),
    ),
    # No validation split: stops when the training loss converges.
    "convergence": (
        "HyperNetworkClassifier",
        {"weight_decay": 0.5, "early_stopping": False, "max_epochs": 30},
        (1, 2),
    ),
    # Weight averaging over the last 15 of 30 epochs, killed inside them.
    "weight_averaging": (
        "HyperNetworkRegressor",
        {
            "weight_decay": 0.5,
            "early_stopping": False,
            "weight_averaging": 0.5,
            "max_epochs": 30,
        },
        (1, 17),
    ),
}

ESTIMATOR_CLASSES = {
    "HyperNetworkClassifier": HyperNetworkClassifier,
    "HyperNetworkRegressor": HyperNetworkRegressor,
}


def sensor_data(regression: bool = False):
    df = make_sensor_data(n_per_type=150, seed=3)
    X = df.drop(columns="anomaly")
    y = df["anomaly"]
    if regression:  # a continuous target from the same readings
        y = X["sensor_a"] * np.where(X["sensor_type"] == "temperature", 1.0, -1.0)
    return X, y


def scenario_model(name: str, checkpoint=None, verbose: int = 0):
    """The estimator of a scenario, unfitted, and its training data."""
    class_name, params, _ = SCENARIOS[name]
    cls = ESTIMATOR_CLASSES[class_name]
    model = cls(
        "sensor_type",
        **SMALL[cls],
        **params,
        n_iter_no_change=10,
        random_state=0,
        checkpoint=checkpoint,
        verbose=verbose,
    )
    return model, sensor_data(regression=cls is HyperNetworkRegressor)


def reference_fit(name: str):
    """The scenario's fit, never interrupted and without a checkpoint;
    scenarios with the same estimator and parameters share it."""
    first = next(n for n, s in SCENARIOS.items() if s[:2] == SCENARIOS[name][:2])
    return _reference_fit(first)


@functools.cache
def _reference_fit(name: str):
    model, (X, y) = scenario_model(name)
    return model.fit(X, y)


def fit_scenario(name: str, checkpoint: str) -> None:
    """What the child process runs: the scenario's fit, with a checkpoint.

    Once a save reaches the point to stop at, the child waits there for the
    parent's signal (up to 60 s), so that a loaded machine, which may leave
    the polling parent unscheduled for a second, cannot let the fit run on
    and finish first. The wait changes when the fit proceeds, not what it
    computes; a signal ends it as it would end an epoch.
    """
    fit, epochs = SCENARIOS[name][2]
    save = CheckpointRun.save

    def save_then_wait_at_the_point(run, net, index, done):
        save(run, net, index, done)
        if reached(checkpoint_progress(Path(checkpoint)), fit, epochs):
            time.sleep(60)

    CheckpointRun.save = save_then_wait_at_the_point  # in this child only
    model, (X, y) = scenario_model(name, checkpoint)
    model.fit(X, y)


def saved_epochs(progress: list[dict]) -> int:
    return sum(entry["epochs"] for entry in progress)


def reached(progress: list[dict], fit: int, epochs: int) -> bool:
    """Whether fit ``fit`` has saved at least ``epochs`` epochs and is still
    training."""
    if len(progress) < fit:
        return False
    entry = progress[fit - 1]
    return entry["epochs"] >= epochs and not entry["done"]


def kill_fit_midway(
    name: str, directory: Path, sig: int = signal.SIGKILL
) -> list[dict]:
    """Run the scenario's fit in a child process, send it ``sig`` (SIGKILL)
    once the checkpoint shows the scenario's point, and return what it had
    saved.

    The child is forked, so it starts without importing torch again (which
    takes seconds); it is a process of its own all the same, and SIGKILL
    gives it no chance to clean up or save anything more.
    """
    fit, epochs = SCENARIOS[name][2]
    child = multiprocessing.get_context("fork").Process(
        target=fit_scenario, args=(name, str(directory))
    )
    child.start()
    try:
        seen, deadline = None, time.monotonic() + 120
        while child.is_alive() and time.monotonic() < deadline:
            changed = _modified(directory, seen)
            if changed is not None:
                seen = changed
                if reached(checkpoint_progress(directory), fit, epochs):
                    os.kill(child.pid, sig)
                    child.join(60)  # after SIGINT the fit raises and ends
                    break
            time.sleep(0.003)
    finally:
        if child.is_alive():  # not killed above: never leave it running
            child.kill()
        child.join()
    # SIGINT is Python's KeyboardInterrupt: fit raises it once skorch's
    # loop has returned, and the child ends with exit code 1. The
    # checkpoint stays.
    expected = (1,) if sig == signal.SIGINT else (-sig,)
    assert child.exitcode in expected, (
        f"the fit was not stopped mid-way (exit code {child.exitcode}): it "
        "ended before the checkpoint showed the point to stop it at"
    )
    return checkpoint_progress(directory)


def _modified(directory: Path, seen):
    """The checkpoint files' modification times if they changed since
    ``seen`` (reading a file at every poll would slow the child down)."""
    times = []
    for name in ("fit1.npz", "fit2.npz"):
        try:
            times.append((directory / name).stat().st_mtime_ns)
        except FileNotFoundError:
            times.append(None)
    if times[0] is None or times == seen:
        return None
    return times


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_killed_fit_resumes_and_ends_as_an_uninterrupted_one(name, tmp_path, capsys):
    """The issue's test: SIGKILL a fit mid-way, fit again with the same
    arguments, and get the uninterrupted fit bit for bit, having trained
    only the epochs after the last saved one."""
    directory = tmp_path / "checkpoint"
    killed_at = kill_fit_midway(name, directory)
    fit, epochs = SCENARIOS[name][2]
    assert reached(killed_at, fit, epochs)

    resumed, (X, y) = scenario_model(name, directory, verbose=1)
    capsys.readouterr()
    resumed.fit(X, y)
    printed = capsys.readouterr().out
    reference = reference_fit(name)

    # Resumed from the last completed epoch: those epochs were not trained
    # again, and the first epoch trained is the next one.
    assert resumed.resumed_from_epoch_ == saved_epochs(killed_at)
    assert reference.resumed_from_epoch_ == 0
    next_epoch = killed_at[-1]["epochs"] + 1
    after = printed.split(f"resuming after epoch {next_epoch - 1}.", 1)[1]
    first_trained = re.search(r"^\s*(\d+)\s", after, flags=re.MULTILINE)
    assert int(first_trained.group(1)) == next_epoch

    # Bit-identical to the fit that was never interrupted.
    assert np.array_equal(outputs(resumed, X), outputs(reference, X))
    assert resumed.n_iter_ == reference.n_iter_
    assert resumed.weight_decay_ == reference.weight_decay_
    without_time = [c for c in reference.history_.columns if c != "dur"]
    assert resumed.history_[without_time].equals(reference.history_[without_time])
    assert all(entry["done"] for entry in checkpoint_progress(directory))


def test_the_annealing_scenario_is_killed_while_annealing():
    """The scenario means what its name says: its fit is in the annealed
    stage (a tenth of the learning rate) when killed, and goes on after."""
    reference = reference_fit("killed_while_annealing")
    lr = reference.history_["lr"]
    assert lr.loc[ANNEALING_KILL_EPOCH] == pytest.approx(lr.loc[1] / 10)
    assert lr.loc[ANNEALING_KILL_EPOCH - 1] == pytest.approx(lr.loc[1] / 10)
    assert reference.n_iter_ > ANNEALING_KILL_EPOCH


def test_ctrl_c_leaves_the_fit_resumable(tmp_path):
    """``fit`` raises on a KeyboardInterrupt; the checkpoint must not call
    that fit finished, or the next fit would give back the cut-short
    model."""
    directory = tmp_path / "checkpoint"
    stopped_at = kill_fit_midway("convergence", directory, signal.SIGINT)
    assert not stopped_at[-1]["done"]
    resumed, (X, y) = scenario_model("convergence", directory)
    resumed.fit(X, y)
    assert resumed.resumed_from_epoch_ == saved_epochs(stopped_at)
    reference = reference_fit("convergence")
    assert np.array_equal(outputs(resumed, X), outputs(reference, X))


def tiny_fit(cls, checkpoint, **params):
    df = make_sensor_data(n_per_type=40, seed=1)
    X, y = df.drop(columns="anomaly"), target(cls, df["anomaly"].to_numpy())
    model = cls(
        "sensor_type",
        **TINY[cls],
        max_epochs=4,
        random_state=0,
        checkpoint=checkpoint,
        **params,
    )
    return model.fit(X, y), X, y


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_a_finished_checkpoint_gives_the_model_back_without_training(cls, tmp_path):
    first, X, _ = tiny_fit(cls, tmp_path)
    assert first.resumed_from_epoch_ == 0
    assert [entry["epochs"] for entry in checkpoint_progress(tmp_path)] == [4]
    again, _, _ = tiny_fit(cls, tmp_path)
    assert again.resumed_from_epoch_ == 4  # nothing trained
    assert np.array_equal(outputs(again, X), outputs(first, X))
    assert again.history_.equals(first.history_)  # durations included: not rerun


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"lr": 2e-3}, r"other parameters: lr \(0.001 there, 0.002 here\)"),
        (
            {"class_weight": "balanced"},
            r"other parameters: class_weight \(None there, 'balanced'",
        ),
        ({"flip": True}, r"other training data .*or a version of skhyper"),
    ],
)
def test_a_checkpoint_of_another_fit_is_not_resumed(change, says, tmp_path):
    cls = HyperNetworkClassifier
    tiny_fit(cls, tmp_path)
    df = make_sensor_data(n_per_type=40, seed=1)
    X, y = df.drop(columns="anomaly"), df["anomaly"].to_numpy()
    params = {k: v for k, v in change.items() if k != "flip"}
    if change.get("flip"):
        y = y.copy()
        y[:3] = ~y[:3]
    other = cls("sensor_type", **TINY[cls], max_epochs=4, random_state=0, **params)
    fresh = other.fit(X, y).predict_proba(X)

    other.set_params(checkpoint=tmp_path)
    with pytest.warns(UserWarning, match=f"of another fit: {says}") as caught:
        other.fit(X, y)
    assert caught[0].filename == __file__  # the user's line
    assert other.resumed_from_epoch_ == 0
    assert np.array_equal(other.predict_proba(X), fresh)
    # Its own checkpoint replaced the old one: the next fit resumes it.
    other.fit(X, y)
    assert other.resumed_from_epoch_ == 4
    assert np.array_equal(other.predict_proba(X), fresh)


def test_verbose_and_n_threads_do_not_make_another_fit(tmp_path):
    cls = HyperNetworkClassifier
    first, X, _ = tiny_fit(cls, tmp_path)
    again, _, _ = tiny_fit(cls, tmp_path, n_threads=2, verbose=1)
    assert again.resumed_from_epoch_ == 4


def test_a_damaged_checkpoint_file_is_a_clear_error(tmp_path):
    cls = HyperNetworkClassifier
    tiny_fit(cls, tmp_path)
    path = tmp_path / "fit1.npz"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="fit1.npz cannot be read .*Delete it"):
        tiny_fit(cls, tmp_path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="fit1.npz cannot be read"):
        tiny_fit(cls, tmp_path)
    path.unlink()  # as the message says: then the fit starts afresh
    assert tiny_fit(cls, tmp_path)[0].resumed_from_epoch_ == 0


def test_a_save_cut_short_leaves_the_last_epoch_whole(tmp_path):
    """A kill during a save leaves only a temporary file beside the last
    complete one; the next fit removes it and resumes as usual."""
    cls = HyperNetworkRegressor
    first, X, _ = tiny_fit(cls, tmp_path)
    leftover = tmp_path / ".fit1.npz.k3j2l1.tmp"
    leftover.write_bytes(b"half a file")
    again, _, _ = tiny_fit(cls, tmp_path)
    assert not leftover.exists()
    assert again.resumed_from_epoch_ == 4
    assert np.array_equal(again.predict(X), first.predict(X))


def test_without_checkpoint_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, X, _ = tiny_fit(HyperNetworkClassifier, None)
    assert model.resumed_from_epoch_ == 0
    assert list(tmp_path.iterdir()) == []


def test_a_path_checkpoint_saves_with_skops(tmp_path):
    """skops trusts a string, not a pathlib path: the file holds the path
    as a string, and the loaded parameter is the path again."""
    model, X, _ = tiny_fit(HyperNetworkClassifier, tmp_path / "run")
    buffer = io.BytesIO()
    dump(model, buffer)
    loaded = load(io.BytesIO(buffer.getvalue()))
    assert loaded.checkpoint == tmp_path / "run"
    assert isinstance(loaded.checkpoint, type(tmp_path))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_directory_is_created_and_must_not_be_a_file(tmp_path):
    nested = tmp_path / "a" / "b"
    tiny_fit(HyperNetworkClassifier, str(nested))
    assert sorted(os.listdir(nested)) == ["fit1.npz"]
    with pytest.raises(ValueError, match="is a file; pass a directory"):
        tiny_fit(HyperNetworkClassifier, nested / "fit1.npz")


def test_object_array_categories_resume_from_the_checkpoint(tmp_path):
    """An object array of declared categories (what Series.unique() gives
    for an object column) is hashed by value: the checkpoint is written and
    a second fit resumes it (it used to fail in NumPy's byte view)."""
    types = make_sensor_data(n_per_type=40, seed=1)["sensor_type"]
    declared = np.array(sorted(types.unique()), dtype=object)
    params = {"categories": {"sensor_type": declared}}
    first, X, _ = tiny_fit(HyperNetworkClassifier, tmp_path, **params)
    again, _, _ = tiny_fit(HyperNetworkClassifier, tmp_path, **params)
    assert again.resumed_from_epoch_ == 4
    assert np.array_equal(outputs(again, X), outputs(first, X))


def test_the_fingerprint_hashes_object_and_pandas_values_by_value():
    from skhyper._checkpoint import _digest, _plain

    def digest(values):
        return _digest([np.array(values, dtype=object)])

    assert digest(["a", "b"]) == digest(["a", "b"])  # the same in every call
    assert digest(["a", "b"]) != digest(["a", "c"])
    assert digest([1, 2]) != digest(["1", "2"])  # the type counts
    assert digest([1, 2]) != digest([1.0, 2.0])
    long = [f"s{i}" for i in range(1000)]
    changed = long[:500] + ["other"] + long[501:]  # where repr shows "..."
    for kind in (pd.Index, lambda v: pd.array(v, dtype="string")):
        assert _plain(kind(long)) == _plain(kind(list(long)))
        assert _plain(kind(long)) != _plain(kind(changed))


def test_an_empty_checkpoint_path_is_an_error(tmp_path, monkeypatch):
    """checkpoint="" (an unset environment variable, say) would mean the
    working directory, whose fit*.npz files a fit rewrites and deletes."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint='' is an empty path.*=None"):
        tiny_fit(HyperNetworkClassifier, "")
    assert list(tmp_path.iterdir()) == []


def _not_trained(*args, **kwargs):
    raise AssertionError("the fit trained before checking the directory")


@pytest.mark.parametrize("where", ["directory", "subdirectory"])
def test_an_unwritable_directory_is_an_error_before_training(
    where, tmp_path, monkeypatch
):
    """The directory is tried with a file, as a save writes one; the fit
    fails before training, naming the path and the system's reason."""
    locked = tmp_path / "locked"
    locked.mkdir()
    denied = PermissionError(13, "Permission denied")
    real_mkstemp, real_mkdir = tempfile.mkstemp, Path.mkdir

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == locked:
            raise denied
        return real_mkstemp(*args, dir=dir, **kwargs)

    def mkdir(self, *args, **kwargs):
        if self.parent == locked:
            raise denied
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(CheckpointRun, "fit", _not_trained)
    checkpoint = locked if where == "directory" else locked / "run"
    says = "is not writable" if where == "directory" else "cannot be created"
    with pytest.raises(ValueError) as raised:
        tiny_fit(HyperNetworkClassifier, checkpoint)
    message = str(raised.value)
    assert message.startswith(f"checkpoint={str(checkpoint)!r} {says}")
    assert "(Permission denied); pass a writable directory" in message


@pytest.fixture
def read_only_directory(tmp_path):
    """A directory that the file system refuses to write into: by its
    mode for a user, or immutable (chattr +i) for root, who ignores
    modes; skipped where neither is possible."""
    directory = tmp_path / "read_only"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield directory
        finally:
            directory.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("root ignores file modes, and chattr is missing")
    done = subprocess.run([chattr, "+i", directory], capture_output=True)
    if done.returncode:
        pytest.skip(f"chattr +i failed: {done.stderr.decode().strip()}")
    try:
        yield directory
    finally:  # else pytest cannot remove it
        subprocess.run([chattr, "-i", directory], check=True)


def test_a_read_only_directory_is_an_error_before_training(
    read_only_directory, monkeypatch
):
    monkeypatch.setattr(CheckpointRun, "fit", _not_trained)
    with pytest.raises(ValueError, match=r"read_only' is not writable \(.+\); pass a"):
        tiny_fit(HyperNetworkClassifier, read_only_directory)
    with pytest.raises(ValueError, match=r"run' cannot be created \(.+\); pass a"):
        tiny_fit(HyperNetworkClassifier, read_only_directory / "run")
    assert list(read_only_directory.iterdir()) == []
