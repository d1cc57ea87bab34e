"""Process-wide torch settings that a fit or predict must borrow and give back.

Torch keeps its thread count and its random number generator in global state.
An estimator must not leave either changed, so every fit and predict runs
inside :func:`torch_session`, which sets both for the duration of the call and
restores them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state

_thread_lock = threading.Lock()
# Held by a training session (a fit) while it draws from torch's global
# generator; reentrant, as a session may open inside another in the same
# thread.
_training_lock = threading.RLock()
_active_sessions = 0
_saved_num_threads: int | None = None


def _new_locks_after_fork() -> None:
    """A forked child has only the forking thread: a lock that another of
    the parent's threads held (a fit running beside the fork) would never
    be released there. The child starts with free locks and no session."""
    global _thread_lock, _training_lock, _active_sessions, _saved_num_threads
    _thread_lock = threading.Lock()
    _training_lock = threading.RLock()
    _active_sessions = 0
    _saved_num_threads = None


os.register_at_fork(after_in_child=_new_locks_after_fork)


@contextlib.contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Use ``n_threads`` intra-op threads, restoring the old count on exit.

    ``torch.set_num_threads`` is process-wide, so concurrent calls (e.g.
    ``predict`` from several Python threads) share one saved value: the first
    session to enter saves it and the last one to leave restores it.
    """
    global _active_sessions, _saved_num_threads
    if n_threads is None:
        yield
        return
    with _thread_lock:
        if _active_sessions == 0:
            _saved_num_threads = torch.get_num_threads()
        _active_sessions += 1
        # Always set, even when torch already reports n_threads: inside
        # threadpoolctl's threadpool_limits(1) torch reports 1 thread while
        # its math library kept its own pool, and training ran 10-100x
        # slower until torch.set_num_threads was called (measured).
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _thread_lock:
            _active_sessions -= 1
            if _active_sessions == 0 and torch.get_num_threads() != _saved_num_threads:
                torch.set_num_threads(_saved_num_threads)


def check_device(device) -> None:
    """Raise a ValueError, before any work, if torch cannot use ``device``.

    Torch's own errors come late and say little about the fix: an
    AssertionError ("Torch not compiled with CUDA enabled") for
    ``device="cuda"`` on a CPU-only build, a RuntimeError listing torch's
    device types for a name like ``"gpu"``. A model trained on a GPU and
    loaded on a CPU machine keeps ``device="cuda"`` (its network is moved
    to the CPU on load), so ``partial_fit`` and ``warm_start`` hit them too.

    Parameters
    ----------
    device : str or torch.device
        The estimator's ``device`` parameter.

    Raises
    ------
    ValueError
        If ``device`` is not a torch device name, or names one that this
        machine or this build of torch does not have.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; pass device='cpu', "
            "'cuda' or 'cuda:0' (say), or set_params(device='cpu') on a "
            "loaded model."
        ) from None
    if parsed.type == "cpu":
        return
    problem = _device_problem(parsed)
    if problem is not None:
        raise ValueError(
            f"device={device!r} is unavailable: {problem}. Train on the CPU "
            "with device='cpu' (on a loaded model trained elsewhere: "
            "model.set_params(device='cpu'))."
        )


def _device_problem(device: torch.device) -> str | None:
    """Why torch cannot put a tensor on ``device``, or None if it can."""
    if device.type == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None:
            return "this build of torch has no CUDA support"
        return "torch finds no CUDA device on this machine"
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "torch finds no MPS (Apple GPU) device on this machine"
    try:  # other types (xpu, ...): only a tensor there tells
        torch.empty(0, device=device)
    except (AssertionError, RuntimeError, ImportError, NotImplementedError) as error:
        # The first sentence: torch appends a long list of backends.
        return str(error).split("\n")[0].split(". ")[0].rstrip(".")
    return None


def draw_seed(random_state) -> int:
    """Turn a scikit-learn ``random_state`` into a torch seed.

    ``None`` draws from NumPy's global generator, as scikit-learn does, so
    unseeded fits differ while seeded fits repeat exactly.
    """
    rng = check_random_state(random_state)
    return int(rng.randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def torch_session(
    n_threads: int | None,
    seed: int | None = None,
    device: str = "cpu",
    training: bool = True,
) -> Iterator[None]:
    """Run torch code with a thread count and, with a ``seed``, a private
    random stream.

    With a ``seed``, the global torch RNG is forked (and restored on exit)
    and seeded, because torch layers initialise and apply dropout from the
    global generator. (Data shuffling draws from a NumPy generator seeded
    from the same value; see ``TensorBatches``.) That generator is one per
    process, so training sessions in threads of one process (joblib's
    threading backend, Dask's threaded scheduler) take turns: overlapping,
    each fit would draw from the others' streams, and their restores of
    the generator would interleave. ``training=False`` is for a session
    whose draws are thrown away (rebuilding a loaded net), which must not
    wait for a fit in another thread. A training session must not wait,
    itself, for a training session in another thread.
    """
    if seed is None:
        with _torch_threads(n_threads):
            yield
        return
    fork_devices = []
    if str(device).startswith("cuda") and torch.cuda.is_available():
        fork_devices = [torch.device(device).index or 0]
    # The lock first: a session waiting for it has not yet set the thread
    # count that the running fit uses.
    turn = _training_lock if training else contextlib.nullcontext()
    noting = _noting_interrupts() if training else contextlib.nullcontext()
    with turn, noting, _torch_threads(n_threads), torch.random.fork_rng(fork_devices):
        torch.manual_seed(seed)
        yield


# Whether the user pressed Ctrl-C (SIGINT) during the current training
# session. skorch ends its training loop on any KeyboardInterrupt and
# returns, as the package's own stopping rules need; so a fit would go on
# with its next net and return a half-trained model without a word. The
# session notes the signal and raises once the loop has returned.
_interrupted = False


@contextlib.contextmanager
def _noting_interrupts() -> Iterator[None]:
    """Note a SIGINT during a training session and raise KeyboardInterrupt
    when the session ends: only in the main thread, where Python delivers
    signals, and over Python's own handler (one of asyncio's or the user's
    may not mean "stop")."""
    global _interrupted
    previous = signal.getsignal(signal.SIGINT)
    if (
        threading.current_thread() is not threading.main_thread()
        or previous is not signal.default_int_handler
    ):
        yield
        return

    def note(signum, frame):
        global _interrupted
        _interrupted = True
        previous(signum, frame)  # raises KeyboardInterrupt

    _interrupted = False
    signal.signal(signal.SIGINT, note)
    try:
        yield
        raise_if_interrupted()
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted = False  # no later session may see this one's


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if the user pressed Ctrl-C in this training
    session (the next net of a fit must not start)."""
    global _interrupted
    if _interrupted and threading.current_thread() is threading.main_thread():
        _interrupted = False
        raise KeyboardInterrupt(
            "Training interrupted (Ctrl-C): the estimator is left as it was "
            "before this call; with checkpoint set, fit again to resume."
        )
