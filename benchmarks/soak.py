"""Serving under load: a saved model answering mixed requests from threads and
from processes for a fixed time.

Run from the repository root::

    python benchmarks/soak.py                   # 60 s per mode, a few minutes
    python benchmarks/soak.py --smoke           # a couple of seconds (CI)
    python benchmarks/soak.py --output soak.json --duration 30

A ``HyperNetworkClassifier`` is fitted on a synthetic table (8 sites as the
context, 5 numeric features, a categorical ``grade``), saved to a temporary
directory and loaded again by every worker, as a server would:

* **threads**: one loaded model shared by ``--threads`` threads (a web
  server's thread pool);
* **processes**: ``--processes`` spawned processes, each loading the model
  itself and running its own request loop.

Each worker sends ``predict_proba`` requests of 1 to 10,000 rows (30% single
rows, the rest log-uniform), drawn with a seeded generator from a pool of
valid rows. About 2% of the requests are malformed in one of several ways
(a missing column, an unseen context, a string among numbers, +inf, a sparse
matrix, ...); each must raise the library's own ``ValueError``/``TypeError``,
matched by type and by the text naming the column or value. Every valid
answer must be finite, have rows summing to 1 and equal, bit for bit, the
probabilities the freshly fitted model gave for the same pool rows before it
was saved. Anything else (another exception, a malformed request that does
not raise, a wrong answer, a worker that dies) is an *unexpected error*.

The report (printed, and as JSON with ``--output``) gives per mode the
requests, rows/s, requests/s, single-row latency percentiles, latency by
batch size, expected errors by kind, unexpected errors with their messages,
and the resident memory (RSS) of each serving process after loading and a
concurrent warm-up, at the end, and at its peak. The exit status is 1 when
there was any unexpected error or any process's RSS grew by 5% or more.

Torch threads: every model predicts with ``n_threads=1`` (the estimators'
default, ``--torch-threads`` to change). The concurrency comes from the
requests: 8 serving threads on a 2-core machine already oversubscribe the
cores, and more intra-op threads per request would only add contention.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import multiprocessing
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

import skhyper
from skhyper import HyperNetworkClassifier

try:  # RSS from psutil where installed (the benchmarks extra), else /proc
    import psutil
except ImportError:  # pragma: no cover - depends on the environment
    psutil = None

SITES = [f"site_{i}" for i in range(8)]
GRADES = ["low", "mid", "high"]
NUMERIC = [f"x{i}" for i in range(5)]
COLUMNS = [*NUMERIC, "grade", "site"]
CONTEXT = "site"

POOL_ROWS = 20_000
MAX_BATCH = 10_000
SINGLE_ROW_SHARE = 0.3
MALFORMED_SHARE = 0.02
BUCKETS = ((1, 1), (2, 10), (11, 100), (101, 1_000), (1_001, 10_000))
MAX_GROWTH_PERCENT = 5.0
# Unexpected errors whose message is kept in full; the rest are only counted.
KEPT_MESSAGES = 20
RSS_SAMPLE_SECONDS = 0.5


# -- the model ------------------------------------------------------------


def make_table(n_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Five numeric columns, a categorical ``grade`` and the context
    ``site``; how ``x1`` and the grade count differs by site."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({name: rng.normal(size=n_rows) for name in NUMERIC})
    X["grade"] = rng.choice(GRADES, size=n_rows)
    X["site"] = rng.choice(SITES, size=n_rows)
    site = X["site"].str.removeprefix("site_").astype(int).to_numpy()
    slope = (site % 3 - 1).astype(float)
    score = X["x0"] + slope * X["x1"] + (X["grade"] == "high") * (site % 2 - 0.5)
    noise = rng.normal(scale=0.3, size=n_rows)
    return X[COLUMNS], (score + noise > 0).to_numpy().astype(int)


def fit_model(smoke: bool, seed: int, torch_threads: int) -> HyperNetworkClassifier:
    """Defaults but for a short training (and a tiny network in smoke mode)."""
    if smoke:
        X, y = make_table(600, seed)
        # Not hidden_size=8: there a row's result depends on its place in
        # the prediction block at the 1e-8 level (a 21-input projection to 8
        # units; docs/reliability.md), and the reference check is bitwise.
        params = {"max_epochs": 2, "hidden_size": 16}
    else:
        X, y = make_table(8_000, seed)
        params = {"max_epochs": 20}
    model = HyperNetworkClassifier(
        context_column=CONTEXT,
        handle_unknown="error",
        n_threads=torch_threads,
        random_state=seed,
        **params,
    )
    return model.fit(X, y)


def save_model(model, path: Path, fmt: str) -> None:
    """skops (``skhyper.dump``: no pickled code in the file) or pickle."""
    if fmt == "skops":
        skhyper.dump(model, path)
    else:
        path.write_bytes(pickle.dumps(model))


def load_model(path: Path, fmt: str):
    if fmt == "skops":
        return skhyper.load(path)
    return pickle.loads(path.read_bytes())


# -- requests -------------------------------------------------------------


def draw_batch_size(rng: np.random.Generator) -> int:
    """30% single rows, the rest log-uniform between 1 and ``MAX_BATCH``."""
    if rng.random() < SINGLE_ROW_SHARE:
        return 1
    return int(
        min(MAX_BATCH, math.floor(math.exp(rng.uniform(0, math.log(MAX_BATCH + 1)))))
    )


def bucket_of(n_rows: int) -> str:
    for low, high in BUCKETS:
        if low <= n_rows <= high:
            return f"{low}-{high}" if low < high else str(low)
    raise ValueError(f"no bucket for {n_rows} rows")


def _set_cell(frame: pd.DataFrame, column: str, value, rng) -> pd.DataFrame:
    """A copy of ``frame`` with ``value`` in ``column`` at a random row."""
    frame = frame.copy()
    if isinstance(value, str) and column in NUMERIC:
        frame[column] = frame[column].astype(object)
    row = int(rng.integers(len(frame)))
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame


def _missing_column(batch, rng):
    column = str(rng.choice(NUMERIC))
    return batch.drop(columns=column), rf"now missing:\s*- {column}\b"


def _extra_column(batch, rng):
    return batch.assign(extra=1.0), r"unseen at fit time:\s*- extra\b"


def _unseen_context(batch, rng):
    return (
        _set_cell(batch, CONTEXT, "site_new", rng),
        r"context column 'site' holds value\(s\) not seen during fit: 'site_new'",
    )


def _missing_context(batch, rng):
    return (
        _set_cell(batch, CONTEXT, None, rng),
        r"context column 'site' has 1 missing value",
    )


def _unseen_category(batch, rng):
    return (
        _set_cell(batch, "grade", "unheard", rng),
        r"categorical column 'grade' holds value\(s\) not seen during fit: 'unheard'",
    )


def _string_in_numeric(batch, rng):
    column = str(rng.choice(NUMERIC))
    request = _set_cell(batch, column, "oops", rng)
    values = request[column]
    if values[values != "oops"].isna().all():
        # Nothing but the string left in the column (a one-row request): the
        # column as a whole holds strings, which has a message of its own.
        return request, rf"Column '{column}' was numeric at fit but holds strings now"
    return request, rf"Column '{column}' must be numeric but holds the string 'oops'"


def _infinity(batch, rng):
    column = str(rng.choice(NUMERIC))
    value = np.inf if rng.random() < 0.5 else -np.inf
    return (
        _set_cell(batch, column, value, rng),
        rf"contains infinity in column '{column}' \(1 infinite\)",
    )


def _wrong_column_count(batch, rng):
    return (
        batch.to_numpy()[:, :-1],
        rf"X has {len(COLUMNS) - 1} features, but HyperNetworkClassifier is "
        rf"expecting {len(COLUMNS)} features",
    )


def _empty_frame(batch, rng):
    return batch.iloc[:0], r"Found array with 0 sample\(s\)"


def _ragged_rows(batch, rng):
    rows = batch.to_numpy().tolist()
    rows.append(rows[0][:-1])
    return rows, r"X is a list of rows of different lengths"


def _sparse(batch, rng):
    return (
        sparse.csr_matrix(batch[NUMERIC].to_numpy()),
        r"HyperNetworkClassifier does not accept sparse input",
    )


def _one_dimensional(batch, rng):
    return batch.iloc[0].to_numpy(), r"Expected 2D array, got 1D array instead"


# kind: (exception type, builder returning the request and the regex its
# message must match)
MALFORMED = {
    "missing_column": (ValueError, _missing_column),
    "extra_column": (ValueError, _extra_column),
    "unseen_context": (ValueError, _unseen_context),
    "missing_context": (ValueError, _missing_context),
    "unseen_category": (ValueError, _unseen_category),
    "string_in_numeric": (ValueError, _string_in_numeric),
    "infinity": (ValueError, _infinity),
    "wrong_column_count": (ValueError, _wrong_column_count),
    "empty_frame": (ValueError, _empty_frame),
    "ragged_rows": (ValueError, _ragged_rows),
    "sparse": (TypeError, _sparse),
    "one_dimensional": (ValueError, _one_dimensional),
}


# -- serving --------------------------------------------------------------


@dataclass
class Stats:
    """What one serving loop saw."""

    requests: int = 0
    valid_rows: int = 0
    latencies: dict = field(default_factory=dict)  # bucket -> seconds
    expected: Counter = field(default_factory=Counter)
    unexpected: int = 0
    messages: list = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.unexpected += 1
        if len(self.messages) < KEPT_MESSAGES:
            self.messages.append(message)

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.valid_rows += other.valid_rows
        for bucket, values in other.latencies.items():
            self.latencies.setdefault(bucket, []).extend(values)
        self.expected.update(other.expected)
        self.unexpected += other.unexpected
        room = KEPT_MESSAGES - len(self.messages)
        self.messages.extend(other.messages[: max(room, 0)])


def valid_request(model, pool, reference, rng, stats: Stats, n_rows=None) -> None:
    rows = rng.integers(len(pool), size=n_rows or draw_batch_size(rng))
    batch = pool.iloc[rows]
    start = time.perf_counter()
    try:
        proba = model.predict_proba(batch)
    except Exception as error:  # noqa: BLE001 - every failure is reported
        stats.fail(f"valid request of {len(rows)} rows raised {_describe(error)}")
        return
    elapsed = time.perf_counter() - start
    problem = _check_answer(proba, reference[rows])
    if problem:
        stats.fail(f"valid request of {len(rows)} rows: {problem}")
        return
    stats.valid_rows += len(rows)
    stats.latencies.setdefault(bucket_of(len(rows)), []).append(elapsed)


def _check_answer(proba, expected: np.ndarray) -> str | None:
    if not isinstance(proba, np.ndarray) or proba.shape != expected.shape:
        return f"answer of shape {getattr(proba, 'shape', None)}, not {expected.shape}"
    if not np.isfinite(proba).all():
        return "answer is not finite"
    if not np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9):
        return "answer rows do not sum to 1"
    if not np.array_equal(proba, expected):
        gap = float(np.abs(proba - expected).max())
        return f"answer differs from the reference by up to {gap:.3g}"
    return None


def malformed_request(model, pool, rng, stats: Stats) -> None:
    kind = str(rng.choice(list(MALFORMED)))
    error_type, build = MALFORMED[kind]
    rows = rng.integers(len(pool), size=draw_batch_size(rng))
    request, pattern = build(pool.iloc[rows], rng)
    try:
        model.predict_proba(request)
    except error_type as error:
        if re.search(pattern, str(error)):
            stats.expected[kind] += 1
            return
        stats.fail(f"malformed {kind}: message does not match {pattern!r}: {error}")
        return
    except Exception as error:  # noqa: BLE001 - every failure is reported
        stats.fail(
            f"malformed {kind}: raised {_describe(error)}, not {error_type.__name__}"
        )
        return
    stats.fail(f"malformed {kind} ({len(rows)} rows) did not raise")


def _describe(error: BaseException) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1]
    return (
        f"{type(error).__name__}: {error} "
        f"(at {Path(where.filename).name}:{where.lineno})"
    )


def serve(model, pool, reference, rng, deadline: float, stats: Stats) -> None:
    """Send requests until ``deadline`` (a ``time.perf_counter`` value)."""
    while time.perf_counter() < deadline:
        stats.requests += 1
        try:
            if rng.random() < MALFORMED_SHARE:
                malformed_request(model, pool, rng, stats)
            else:
                valid_request(model, pool, reference, rng, stats)
        except Exception as error:  # noqa: BLE001 - a bug of this script
            stats.fail(f"the request could not be built: {_describe(error)}")


def warm_up(model, pool, reference, rng, deadline: float, stats: Stats) -> None:
    """A request of the largest size first, so that the allocator has seen
    the peak demand before the start RSS is taken, then ordinary requests."""
    stats.requests += 1
    valid_request(model, pool, reference, rng, stats, n_rows=MAX_BATCH)
    serve(model, pool, reference, rng, deadline, stats)


def quiet_array_warning() -> None:
    """Arrays sent to a model fitted on a DataFrame warn about the missing
    feature names before failing on the column count; only that is muted."""
    warnings.filterwarnings(
        "ignore", message="X does not have valid feature names", category=UserWarning
    )


# -- memory ---------------------------------------------------------------


def rss_bytes() -> int:
    if psutil is not None:
        return psutil.Process().memory_info().rss
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssRecorder:
    """Samples this process's RSS in the background while in use: ``peak``
    is the largest sample, ``samples`` the (seconds, bytes) series."""

    def __init__(self):
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _record(self) -> None:
        self.samples.append((time.perf_counter() - self._start, rss_bytes()))

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self._record()

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)

    def __enter__(self) -> RssRecorder:
        self._start = time.perf_counter()
        self._record()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._record()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
            "fordblks keepcost"
        ).split()
    ]


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        libc.malloc_trim  # noqa: B018 - both must exist
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None
    return libc


GLIBC = _glibc()


def memory_now() -> dict:
    """Memory with no request in flight, after a garbage collection.

    ``rss``: resident memory as the OS sees it. It swings by tens of MB
    with how many large requests happened to overlap, because freed memory
    stays in glibc's per-thread arenas (and after a large block is freed,
    glibc raises its mmap threshold, so later large blocks come from the
    arenas too). ``rss_trimmed``: the RSS after ``malloc_trim`` has handed
    whole free pages back; still noisy, as partly used pages stay.
    ``heap``: the bytes malloc has handed out and not got back (glibc's
    ``mallinfo2``), where tensors, NumPy arrays and larger Python objects
    live; and ``python_blocks``: Python's small objects. These two follow
    what the process really holds, so a leak shows in them and the
    allocator's reserve does not. Without glibc they are None and the RSS
    decides.
    """
    gc.collect()  # cycles waiting for the collector are not growth
    now = {"rss": rss_bytes(), "python_blocks": sys.getallocatedblocks()}
    if GLIBC is None:
        return {**now, "rss_trimmed": None, "heap": None}
    info = GLIBC.mallinfo2()
    now["heap"] = info.uordblks + info.hblkhd
    GLIBC.malloc_trim(0)
    now["rss_trimmed"] = rss_bytes()
    return now


# -- the two modes --------------------------------------------------------


def run_workers(model, pool, reference, seeds, duration, warmup) -> tuple:
    """Threads sharing ``model``: a concurrent warm-up, then the timed run.
    Returns the timed stats, the warm-up's stats and the RSS record."""
    quiet_array_warning()

    def concurrently(loop, seconds: float, stream: int) -> list[Stats]:
        results = [Stats() for _ in seeds]
        deadline = time.perf_counter() + seconds
        threads = [
            threading.Thread(
                target=loop,
                args=(model, pool, reference, np.random.default_rng([*seed, stream])),
                kwargs={"deadline": deadline, "stats": stats},
            )
            for seed, stats in zip(seeds, results, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    warm = concurrently(warm_up, warmup, stream=1)
    memory = {"start": memory_now()}
    with RssRecorder() as recorder:
        timed = concurrently(serve, duration, stream=0)
    memory.update(end=memory_now(), peak=recorder.peak, samples=recorder.samples)
    return _merged(timed), _merged(warm), memory


def _merged(parts: list[Stats]) -> Stats:
    total = Stats()
    for part in parts:
        total.merge(part)
    return total


def timed_load(path, fmt, torch_threads: int) -> tuple:
    """The saved model, ready to serve, and the seconds its loading took."""
    start = time.perf_counter()
    model = load_model(path, fmt)
    model.set_params(n_threads=torch_threads)
    return model, time.perf_counter() - start


def thread_mode(path, fmt, pool, reference, args) -> dict:
    model, load_s = timed_load(path, fmt, args.torch_threads)
    seeds = [[args.seed, 0, i] for i in range(args.threads)]
    started = time.perf_counter()
    timed, warm, memory = run_workers(
        model, pool, reference, seeds, args.duration, args.warmup
    )
    memory["load_s"] = load_s
    return summarise(
        "threads", timed, warm, [memory], time.perf_counter() - started, args
    )


def process_worker(path, fmt, pool, reference, seed, args, barrier, queue) -> None:
    """One serving process: load, warm up, wait for the others, serve."""
    try:
        model, load_s = timed_load(path, fmt, args.torch_threads)
        quiet_array_warning()
        warm = Stats()
        warm_up(
            model,
            pool,
            reference,
            np.random.default_rng([*seed, 1]),
            time.perf_counter() + args.warmup,
            warm,
        )
        memory = {"start": memory_now(), "load_s": load_s}
        barrier.wait(timeout=600)
        timed = Stats()
        with RssRecorder() as recorder:
            serve(
                model,
                pool,
                reference,
                np.random.default_rng(seed),
                time.perf_counter() + args.duration,
                timed,
            )
        memory.update(end=memory_now(), peak=recorder.peak, samples=recorder.samples)
        queue.put({"timed": timed, "warm": warm, "memory": memory})
    except BaseException as error:  # noqa: BLE001 - report it to the parent
        barrier.abort()  # the others stop waiting for this one
        queue.put({"crash": _describe(error)})
        raise


def process_mode(path, fmt, pool, reference, args) -> dict:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.processes)
    queue = context.Queue()
    workers = [
        context.Process(
            target=process_worker,
            args=(path, fmt, pool, reference, [args.seed, 1, i], args, barrier, queue),
        )
        for i in range(args.processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [_result_of(queue, workers, args) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    timed, warm, memories = Stats(), Stats(), []
    for result in results:
        if "crash" in result:
            timed.fail(f"a serving process failed: {result['crash']}")
            continue
        timed.merge(result["timed"])
        warm.merge(result["warm"])
        memories.append(result["memory"])
    return summarise(
        "processes", timed, warm, memories, time.perf_counter() - started, args
    )


def _result_of(queue, workers, args) -> dict:
    """The next worker's result; a worker that died without one is a crash."""
    limit = time.perf_counter() + args.duration + args.warmup + 300
    while time.perf_counter() < limit:
        try:
            return queue.get(timeout=5)
        except Exception:  # noqa: BLE001 - queue.Empty: check the workers
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                return {"crash": f"exit code {dead[0].exitcode}, no report"}
    return {"crash": "no report before the time limit"}


# -- the report -----------------------------------------------------------


def summarise(mode, timed: Stats, warm: Stats, memories, wall, args) -> dict:
    single = np.array(timed.latencies.get("1", []))
    memory = [_memory_summary(m) for m in memories]
    return {
        "mode": mode,
        "workers": args.threads if mode == "threads" else args.processes,
        "duration_s": args.duration,
        "wall_s": wall,
        "requests": timed.requests,
        "requests_per_s": timed.requests / args.duration,
        "rows_per_s": timed.valid_rows / args.duration,
        "single_row_ms": _percentiles(single),
        "by_batch_size": {
            bucket: {"requests": len(values), **_percentiles(np.array(values))}
            for bucket, values in sorted(
                timed.latencies.items(), key=lambda item: int(item[0].split("-")[0])
            )
        },
        "expected_errors": dict(sorted(timed.expected.items())),
        "unexpected_errors": timed.unexpected + warm.unexpected,
        "unexpected_messages": (warm.messages + timed.messages)[:KEPT_MESSAGES],
        "warmup_requests": warm.requests,
        "memory": memory,
        "load_average_after": os.getloadavg(),
    }


def _memory_summary(record: dict) -> dict:
    """MB at the start and end of the timed run, growth in %, and the
    figure the verdict uses: the heap's growth, or the RSS's without glibc."""
    start, end = record["start"], record["end"]
    summary = {"peak_rss_mb": record["peak"] / 2**20, "load_s": record["load_s"]}
    for name in ("rss", "rss_trimmed", "heap"):
        if start[name] is None:
            continue
        summary[f"{name}_start_mb"] = start[name] / 2**20
        summary[f"{name}_end_mb"] = end[name] / 2**20
        summary[f"{name}_growth_percent"] = _growth(start[name], end[name])
    summary["python_blocks_start"] = start["python_blocks"]
    summary["python_blocks_end"] = end["python_blocks"]
    blocks = _growth(start["python_blocks"], end["python_blocks"])
    summary["python_blocks_growth_percent"] = blocks
    summary["growth_percent"] = max(
        summary.get("heap_growth_percent", summary["rss_growth_percent"]), blocks
    )
    summary["timeline_rss_mb"] = _timeline(record["samples"])
    return summary


def _growth(start: int, end: int) -> float:
    return 100 * (end - start) / start


def _timeline(samples, points: int = 7) -> list[list[float]]:
    """About ``points`` evenly spaced (seconds, MB) samples of the RSS."""
    step = max(1, (len(samples) - 1) // (points - 1))
    picked = samples[::step]
    if picked[-1] != samples[-1]:
        picked.append(samples[-1])
    return [[round(t, 1), round(rss / 2**20, 1)] for t, rss in picked]


def _percentiles(seconds: np.ndarray) -> dict:
    if len(seconds) == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ms = 1000 * seconds
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(ms.max())}


def failures(report: dict) -> list[str]:
    found = []
    if report["baseline"]["unexpected_errors"]:
        found.append(f"baseline: {report['baseline']['unexpected_errors']} unexpected")
    for mode in report["modes"]:
        if mode["unexpected_errors"]:
            found.append(
                f"{mode['mode']}: {mode['unexpected_errors']} unexpected errors"
            )
        for i, memory in enumerate(mode["memory"]):
            if memory["growth_percent"] >= MAX_GROWTH_PERCENT:
                found.append(
                    f"{mode['mode']}: the memory of process {i} grew by "
                    f"{memory['growth_percent']:.1f}%"
                )
    return found


def print_baseline(baseline: dict) -> None:
    ms = baseline["single_row_ms"]
    print(
        f"\n== baseline: {baseline['requests']} single rows, one at a time ==\n"
        f"latency (ms) p50 {ms['p50']:.2f}, p90 {ms['p90']:.2f}, p99 "
        f"{ms['p99']:.2f}, max {ms['max']:.2f}; unexpected errors "
        f"{baseline['unexpected_errors']}"
    )
    for message in baseline["unexpected_messages"]:
        print(f"  - {message}")


def print_mode(mode: dict) -> None:
    print(
        f"\n== {mode['mode']} ({mode['workers']} workers, {mode['duration_s']:g} s;"
        f" {mode['warmup_requests']} warm-up requests before) =="
    )
    print(
        f"requests {mode['requests']:,}  ({mode['requests_per_s']:,.1f}/s), "
        f"valid rows {mode['rows_per_s']:,.0f}/s"
    )
    print("latency (ms)      requests      p50      p90      p99      max")
    rows = {"single row": {"requests": None, **mode["single_row_ms"]}}
    rows.update({f"{k} rows": v for k, v in mode["by_batch_size"].items()})
    for name, row in rows.items():
        count = "" if row["requests"] is None else f"{row['requests']:,}"
        cells = "".join(
            f" {row[p]:8.2f}" if row[p] is not None else "        -"
            for p in ("p50", "p90", "p99", "max")
        )
        print(f"{name:16s} {count:>9s}{cells}")
    expected = ", ".join(f"{k} {v}" for k, v in mode["expected_errors"].items())
    print(f"expected errors: {sum(mode['expected_errors'].values())} ({expected})")
    print(f"unexpected errors: {mode['unexpected_errors']}")
    for message in mode["unexpected_messages"]:
        print(f"  - {message}")
    for i, memory in enumerate(mode["memory"]):
        print_memory(i, memory)


def print_memory(i: int, memory: dict) -> None:
    print(f"process {i} (model loaded in {memory['load_s']:.2f} s), MB:")
    names = {"rss": "RSS", "rss_trimmed": "RSS after malloc_trim", "heap": "heap"}
    for name, label in names.items():
        if f"{name}_start_mb" in memory:
            print(
                f"  {label:22s} start {memory[f'{name}_start_mb']:7.1f}, end "
                f"{memory[f'{name}_end_mb']:7.1f} "
                f"({memory[f'{name}_growth_percent']:+.2f}%)"
            )
    print(
        f"  {'Python small objects':22s} start {memory['python_blocks_start']:,}, "
        f"end {memory['python_blocks_end']:,} "
        f"({memory['python_blocks_growth_percent']:+.2f}%)"
    )
    timeline = ", ".join(f"{t:g} s {mb:.0f}" for t, mb in memory["timeline_rss_mb"])
    print(f"  RSS during the run: {timeline}; peak {memory['peak_rss_mb']:.1f}")


def single_row_baseline(path, fmt, pool, reference, args) -> dict:
    """Single-row latency with nothing else running: one thread, one request
    at a time, every answer checked."""
    model, _ = timed_load(path, fmt, args.torch_threads)
    stats = Stats()
    rng = np.random.default_rng([args.seed, 2])
    for _ in range(args.baseline_requests):
        stats.requests += 1
        valid_request(model, pool, reference, rng, stats, n_rows=1)
    return {
        "requests": stats.requests,
        "single_row_ms": _percentiles(np.array(stats.latencies.get("1", []))),
        "unexpected_errors": stats.unexpected,
        "unexpected_messages": stats.messages,
    }


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="s per mode")
    parser.add_argument("--warmup", type=float, default=None, help="s before")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument(
        "--baseline-requests", type=int, default=None, help="single rows, alone"
    )
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--format", choices=["skops", "pickle"], default="skops")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["threads", "processes"],
        default=["threads", "processes"],
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    smoke = {"duration": 2.0, "warmup": 1.0, "processes": 2, "baseline_requests": 50}
    full = {"duration": 60.0, "warmup": 5.0, "processes": 4, "baseline_requests": 500}
    for name, value in (smoke if args.smoke else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    print(
        f"fitting ({'smoke' if args.smoke else 'full'}); {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    model = fit_model(args.smoke, args.seed, args.torch_threads)
    pool, _ = make_table(POOL_ROWS, args.seed + 1)
    reference = model.predict_proba(pool)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "commit": commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "modes": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model.{args.format}"
        save_model(model, path, args.format)
        report["model_file_kb"] = path.stat().st_size / 1024
        del model
        report["baseline"] = single_row_baseline(
            path, args.format, pool, reference, args
        )
        print_baseline(report["baseline"])
        for mode in args.modes:
            run = thread_mode if mode == "threads" else process_mode
            report["modes"].append(run(path, args.format, pool, reference, args))
            print_mode(report["modes"][-1])
    report["failures"] = failures(report)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2, default=float))
    print(
        "\nFAILED: " + "; ".join(report["failures"]) if report["failures"] else "\nOK"
    )
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
