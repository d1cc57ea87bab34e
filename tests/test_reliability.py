"""Reliability: divergent training, persistence and determinism across
processes, and concurrent prediction.

The cross-process tests share one child Python process (module fixture
``child``): the test process fits both estimators, saves them with pickle and
joblib and saves their probabilities; the child loads the saved models,
predicts, and fits the same estimators again from scratch. Starting a process
costs the torch import (a few seconds), so all of that happens in one go.
"""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from _helpers import CLASSIFIERS, SMALL

from skhyper import HyperNetworkClassifier
from skhyper._testing import assert_valid_proba, make_context_frame
from skhyper.datasets import make_sensor_data

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_clf(cls, **params):
    params = {
        "max_epochs": 4,
        "random_state": 3,
        "batch_size": 32,
        **SMALL[cls],
        **params,
    }
    return cls(context_column="ctx", **params)


def make_frame(n=150, seed=0):
    return make_context_frame(n, seed)


# -- divergent training --------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("lr", [1e4, 1e8])
def test_divergent_training_raises_or_warns_never_nan(cls, lr):
    # lr=1e4 blows the training loss up to ~1e18-1e30 (still finite);
    # lr=1e8 makes the HyperNetworkClassifier's loss and outputs NaN.
    X, y = make_frame()
    clf = make_clf(cls, lr=lr, max_epochs=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            clf.fit(X, y)
        except (ValueError, FloatingPointError, RuntimeError) as error:
            assert re.search("diverg", str(error), re.IGNORECASE), str(error)
            return
    divergence_warnings = [w for w in caught if "diverg" in str(w.message).lower()]
    assert divergence_warnings, "fit returned without an error or a warning"
    assert_valid_proba(clf.predict_proba(X), len(X))


# -- persistence and determinism across processes ------------------------------

CHILD = r"""
import json, pickle, sys
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import clone

folder = Path(sys.argv[1])
X, y = pickle.loads((folder / "data.pkl").read_bytes())
report = {"threads_default": torch.get_num_threads()}
for name in sys.argv[2:]:
    with open(folder / f"{name}.pkl", "rb") as f:
        from_pickle = pickle.load(f)
    from_joblib = joblib.load(folder / f"{name}.joblib")
    np.save(folder / f"{name}.child_pickle.npy", from_pickle.predict_proba(X))
    np.save(folder / f"{name}.child_joblib.npy", from_joblib.predict_proba(X))

    # A fresh fit with the same parameters, in this fresh process.
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    refit = clone(from_pickle).fit(X, y)
    report[name] = {
        "threads_unchanged": torch.get_num_threads() == threads,
        "rng_unchanged": bool(torch.equal(torch.random.get_rng_state(), rng)),
    }
    np.save(folder / f"{name}.child_refit.npy", refit.predict_proba(X))
(folder / "report.json").write_text(json.dumps(report))
"""


def run_child(script, *args, env=None):
    completed = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Fit, save and predict here; load, predict and refit in a child."""
    folder = tmp_path_factory.mktemp("cross_process")
    X, y = make_frame()
    (folder / "data.pkl").write_bytes(pickle.dumps((X, y)))
    names = []
    for cls in CLASSIFIERS:
        name = cls.__name__
        names.append(name)
        clf = make_clf(cls).fit(X, y)
        np.save(folder / f"{name}.parent.npy", clf.predict_proba(X))
        with open(folder / f"{name}.pkl", "wb") as f:
            pickle.dump(clf, f)
        joblib.dump(clf, folder / f"{name}.joblib")
    run_child(CHILD, folder, *names)
    report = json.loads((folder / "report.json").read_text())

    def load(name, kind):
        return np.load(folder / f"{name}.{kind}.npy")

    return load, report


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("kind", ["child_pickle", "child_joblib"])
def test_saved_model_predicts_bit_identically_in_another_process(child, cls, kind):
    load, _ = child
    parent = load(cls.__name__, "parent")
    assert_valid_proba(parent, 150)
    assert np.array_equal(load(cls.__name__, kind), parent)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_same_random_state_is_bit_identical_across_processes(child, cls):
    load, _ = child
    assert np.array_equal(
        load(cls.__name__, "child_refit"), load(cls.__name__, "parent")
    )


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_fit_in_a_fresh_process_leaves_torch_state_alone(child, cls):
    # In a fresh process torch uses its default thread count (not the
    # estimator's n_threads=1), so a missing restore would show.
    _, report = child
    assert report[cls.__name__] == {"threads_unchanged": True, "rng_unchanged": True}


CPU_LOADER = r"""
import pickle, sys
from pathlib import Path

import numpy as np
import torch

assert not torch.cuda.is_available()
folder = Path(sys.argv[1])
X = pickle.loads((folder / "X.pkl").read_bytes())
clf = pickle.loads((folder / "model.pkl").read_bytes())
assert str(clf.net_.device) == "cpu", clf.net_.device
np.save(folder / "cpu.npy", clf.predict_proba(X))
"""


needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)


@needs_cuda
@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_cuda_fit_and_every_predicting_method(cls):
    X, y = make_frame(n=300)
    # The defaults (weight averaging on for the hypernetwork), then early
    # stopping with sample weights: each training path runs on the GPU.
    for params, fit_params in (
        ({}, {}),
        ({"early_stopping": True}, {"sample_weight": np.linspace(0.5, 1.5, len(X))}),
    ):
        clf = make_clf(cls, device="cuda", **params).fit(X, y, **fit_params)
        module = clf.net_.module_
        assert {p.device.type for p in module.parameters()} == {"cuda"}
        assert_valid_proba(clf.predict_proba(X), len(X))
        assert set(clf.predict(X)) <= set(clf.classes_)
        assert 0 <= clf.score(X, y) <= 1
        assert np.isfinite(clf.transform(X)).all()
        assert np.isfinite(clf.context_embeddings_.to_numpy()).all()
        if hasattr(clf, "generated_weights"):
            weight, bias = clf.generated_weights("a")
            assert np.isfinite(weight).all() and np.isfinite(bias).all()


@needs_cuda
@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_cuda_model_loads_and_predicts_on_cpu_only_machine(cls, tmp_path):
    X, y = make_frame()
    clf = make_clf(cls, device="cuda").fit(X, y)
    on_gpu = clf.predict_proba(X)
    (tmp_path / "X.pkl").write_bytes(pickle.dumps(X))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(clf))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    run_child(CPU_LOADER, tmp_path, env=env)
    on_cpu = np.load(tmp_path / "cpu.npy")
    assert_valid_proba(on_cpu, len(X))
    np.testing.assert_allclose(on_cpu, on_gpu, atol=1e-5)


# -- concurrent prediction -----------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_predict_proba_from_four_threads_at_once(cls):
    X, y = make_frame(n=2000)
    clf = make_clf(cls, max_epochs=2, batch_size=256).fit(X, y)
    parts = [X.iloc[i::4] for i in range(4)]
    whole = clf.predict_proba(X)
    expected = [clf.predict_proba(part) for part in parts]
    threads_before = torch.get_num_threads()
    barrier = threading.Barrier(4)

    def predict(i):
        barrier.wait()  # start all four together
        # Two threads predict the whole table and two a quarter each, so
        # calls of different sizes overlap.
        if i < 2:
            return clf.predict_proba(X)
        return clf.predict_proba(parts[i])

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            barrier.reset()
            results = list(pool.map(predict, range(4)))
            assert np.array_equal(results[0], whole)
            assert np.array_equal(results[1], whole)
            assert np.array_equal(results[2], expected[2])
            assert np.array_equal(results[3], expected[3])
    assert torch.get_num_threads() == threads_before


# -- batch independence with narrow layers (found by benchmarks/soak.py) -------


@pytest.mark.parametrize(
    "cls, params",
    [
        (CLASSIFIERS[0], {"output_size": 13}),
        (CLASSIFIERS[1], {"hidden_layer_sizes": (13,)}),
    ],
    ids=["hypernetwork-output_size-13", "concat-hidden_layer_sizes-13"],
)
def test_a_rows_prediction_in_a_narrow_network_is_independent_to_float32_rounding(
    cls, params
):
    # Predictions run in fixed 1,024-row blocks so that a row's result does
    # not depend on the other rows. With the default layer sizes that holds
    # bitwise on the CPUs tested (tests/test_throughput.py). With a narrow
    # layer (here 13 inputs to the 2-class output layer; a projection of
    # 21 inputs to hidden_size=8 does the same), torch's float32 matrix
    # product on the CPU rounds a row differently depending on its position
    # within the block (found by benchmarks/soak.py; probes show the same
    # for plain torch.mm and torch.bmm at several narrow shapes), so only
    # float32 rounding is promised there: the differences stay at the 1e-8
    # level, and the labels are the same.
    X, y = make_frame(n=300)
    clf = make_clf(cls, max_epochs=2, **params).fit(X, y)
    X_new, _ = make_frame(n=1100, seed=1)
    whole = clf.predict_proba(X_new)
    shifted = clf.predict_proba(X_new.iloc[1:])
    np.testing.assert_allclose(shifted, whole[1:], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(clf.predict(X_new.iloc[1:]), clf.predict(X_new)[1:])
    for i in [1, 2, 7, 500, 1023]:
        alone = clf.predict_proba(X_new.iloc[[i]])[0]
        np.testing.assert_allclose(alone, whole[i], rtol=1e-6, atol=1e-7)


def test_ctrl_c_stops_the_fit_and_leaves_the_model_as_it_was(monkeypatch):
    """skorch ends its loop on a KeyboardInterrupt and returns: a fit went
    on with its second net (weight_decay="auto") and returned a half-trained
    model without a word. Now fit raises once the loop has returned, trains
    no further net, and a model fitted before is left as it was."""
    data = make_sensor_data(n_per_type=300, seed=0)
    X, y = data.drop(columns="anomaly"), data["anomaly"]
    model = HyperNetworkClassifier("sensor_type", max_epochs=2, random_state=0)
    before = model.fit(X, y).predict_proba(X)
    built = []
    build = HyperNetworkClassifier._build_net
    monkeypatch.setattr(
        HyperNetworkClassifier,
        "_build_net",
        lambda self, *a, **k: built.append(1) or build(self, *a, **k),
    )
    model.set_params(max_epochs=5000, n_iter_no_change=5000)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
    finally:
        timer.cancel()
    assert len(built) <= 1  # the decay path's net, not the weak fit's
    assert np.array_equal(model.predict_proba(X), before)
    assert model.n_iter_ == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_over_a_handler_of_the_users_own_is_left_to_it():
    """A SIGINT handler that does not raise (asyncio's, or the user's) does
    not mean "stop": the fit trains to the end and returns (it trained on,
    then raised and was thrown away)."""
    data = make_sensor_data(n_per_type=100, seed=0)
    X, y = data.drop(columns="anomaly"), data["anomaly"]
    noted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(1))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        model = HyperNetworkClassifier(
            "sensor_type",
            max_epochs=300,
            early_stopping=False,
            n_iter_no_change=999,
            weight_decay=0.5,
            random_state=0,
        ).fit(X, y)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert noted == [1]
    assert model.n_iter_ == 300


def test_an_interrupt_is_not_seen_by_a_later_fit_in_another_thread():
    from skhyper import _runtime

    data = make_sensor_data(n_per_type=40, seed=0)
    X, y = data.drop(columns="anomaly"), data["anomaly"]
    _runtime._interrupted = True  # as if left by an interrupted session
    errors = []

    def fit():
        try:
            HyperNetworkClassifier("sensor_type", max_epochs=2).fit(X, y)
        except BaseException as error:  # noqa: BLE001 (what the thread saw)
            errors.append(error)

    thread = threading.Thread(target=fit)
    thread.start()
    thread.join()
    _runtime._interrupted = False
    assert errors == []
