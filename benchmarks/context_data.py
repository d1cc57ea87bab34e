"""Tasks of the context suite (``bench_quality.py --suite context``).

Three families, each a set of seeded generators (everything is drawn from
``numpy.random.default_rng(seed)``, so the same call returns the same data):

- **varying** (varying-coefficient tasks): a continuous context ``c`` (one
  or two numeric columns: a day of the year, a temperature, an age and a
  dose, an hour) and features ``x0..x3``, with ``y = b0(c) + x . beta(c) +
  noise`` where ``beta(c)`` changes smoothly (a sine wave over the year), in
  steps (three temperature regimes) or through the interaction of two
  context columns. Each comes as a regression (``y`` as is, Gaussian noise)
  and as a classification (``y ~ Bernoulli(sigmoid(...))``). The *mixed*
  tasks add a categorical context (a region) whose level and daily cycle
  differ: ``beta(region, hour)``.
- **attributes**: many context values (stores, hospitals, sensors), each
  described by a few attributes (numeric, and a categorical region) that
  determine its rule: ``w_c = f(attributes_c) + small per-context noise``.
  The loader also returns the attribute table, indexed by the context value,
  so that a model can be asked about context values it has never seen.
- **rare**: hundreds of context values with long-tailed row counts (many
  with 2-10 rows) whose rules are shared by clusters of contexts, plus
  well-populated controls where pooling has nothing to gain.

Every loader returns a ``ContextData``: ``X`` (a DataFrame; categorical
context columns in the ``category`` dtype, everything else numeric), ``y``
(float for regression, 0/1 int for classification) and ``attributes`` (the
attribute table, or None).

The tasks are split into a *tuning* and a *confirmation* half by their own
seeded draw (``CONTEXT_SPLIT_SEED``), stratified by family and fixed before
any model ran on them. It is separate from the draw of ``quality_data.py``
(whose tasks stay where they are) and must not be redrawn either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
from quality_data import draw_halves

FEATURES = 4


class ContextData(NamedTuple):
    """What a context task's loader returns."""

    X: pd.DataFrame
    y: np.ndarray
    attributes: pd.DataFrame | None = None
    # The noiseless score ``y`` was drawn from (the varying tasks'): the
    # best any model can predict, a ceiling to read the others against.
    truth: np.ndarray | None = None
    # The varying tasks' true design: columns of which ``truth`` is a linear
    # combination (the generator's basis of the context times 1 and each
    # feature), so that a linear model told the form is a second ceiling.
    form: np.ndarray | None = None


@dataclass(frozen=True)
class ContextTask:
    """A task of the context suite: how to load it and what it is.

    ``family`` is ``"varying"``, ``"attributes"`` or ``"rare"``; ``problem``
    is ``"regression"`` or ``"classification"``. ``categorical`` and
    ``continuous`` name the context columns of each kind (the rest of ``X``
    are features). ``rare_contexts`` marks the rare-family tasks where many
    contexts have few rows (pooling should gain there); ``half`` comes from
    ``CONTEXT_HALVES``.
    """

    name: str
    load: Callable[..., ContextData]
    family: str
    problem: str
    description: str
    categorical: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    smoke_kwargs: dict | None = field(default=None)  # None: not in --smoke
    rare_contexts: bool = False
    half: str = ""


# -- helpers -----------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _features(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``x0..x3``, independent standard normal."""
    x = rng.normal(size=(n_rows, FEATURES))
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)])


def _outcome(
    linear: np.ndarray, problem: str, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise on ``linear`` (regression) or a Bernoulli draw of its
    sigmoid (classification)."""
    if problem == "regression":
        return linear + rng.normal(0.0, noise, len(linear))
    return (rng.random(len(linear)) < _sigmoid(linear)).astype(int)


def _form(basis: np.ndarray, X: pd.DataFrame) -> np.ndarray:
    """Each column of the context ``basis`` times 1 and times each feature:
    the design a varying-coefficient model ``b0(c) + x . beta(c)`` with
    ``b0, beta`` in the span of ``basis`` is linear in."""
    features = np.column_stack([np.ones(len(X)), X.to_numpy()])
    return np.einsum("ni,nj->nij", basis, features).reshape(len(X), -1)


def _labels(prefix: str, n: int) -> np.ndarray:
    """``prefix000``, ``prefix001``, ... (zero-padded so they sort)."""
    width = len(str(n - 1))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)])


def _zipf_sizes(
    n_contexts: int, n_rows: int, min_rows: int, exponent: float, rng
) -> np.ndarray:
    """Row counts: ``min_rows`` each plus a multinomial share of the rest
    with probabilities ``1 / rank ** exponent`` (a long tail of small ones)."""
    weights = 1.0 / np.arange(1, n_contexts + 1) ** exponent
    extra = rng.multinomial(n_rows - n_contexts * min_rows, weights / weights.sum())
    return rng.permutation(min_rows + extra)


# -- (a) varying coefficients --------------------------------------------------


def make_seasonal(
    n_rows: int = 2000,
    problem: str = "regression",
    noise: float = 0.5,
    seed: int = 100,
) -> ContextData:
    """Coefficients that follow the year: ``day ~ U(0, 365)``.

    ``beta_j(day) = a_j sin(2 pi day / 365 + phi_j) + m_j`` with amplitudes
    ``a_j ~ U(1, 2)``, phases ``phi_j ~ U(0, 2 pi)`` and means ``m_j ~
    N(0, 0.5)``; the intercept is ``0.5 cos(2 pi day / 365)``.
    """
    rng = np.random.default_rng(seed)
    X = _features(n_rows, rng)
    day = rng.uniform(0.0, 365.0, n_rows)
    angle = 2.0 * np.pi * day / 365.0
    amplitude = rng.uniform(1.0, 2.0, FEATURES)
    phase = rng.uniform(0.0, 2.0 * np.pi, FEATURES)
    mean = rng.normal(0.0, 0.5, FEATURES)
    beta = amplitude * np.sin(angle[:, None] + phase) + mean
    linear = 0.5 * np.cos(angle) + np.einsum("nd,nd->n", X.to_numpy(), beta)
    form = _form(np.column_stack([np.ones(n_rows), np.sin(angle), np.cos(angle)]), X)
    X["day"] = day
    return ContextData(
        X, _outcome(linear, problem, noise, rng), truth=linear, form=form
    )


def make_piecewise(
    n_rows: int = 2000,
    problem: str = "regression",
    noise: float = 0.5,
    seed: int = 101,
) -> ContextData:
    """Coefficients that jump between three temperature regimes.

    ``temperature ~ U(-10, 35)``; below 5, from 5 to 20 and above 20 the
    coefficients are three independent draws (norm 2.5 each) and the
    intercept three draws of ``N(0, 0.5)``: a step function of the context
    that smooth models must approximate.
    """
    rng = np.random.default_rng(seed)
    X = _features(n_rows, rng)
    temperature = rng.uniform(-10.0, 35.0, n_rows)
    regime = np.digitize(temperature, [5.0, 20.0])
    beta = rng.normal(size=(3, FEATURES))
    beta *= 2.5 / np.linalg.norm(beta, axis=1, keepdims=True)
    intercept = rng.normal(0.0, 0.5, 3)
    linear = intercept[regime] + np.einsum("nd,nd->n", X.to_numpy(), beta[regime])
    form = _form(np.eye(3)[regime], X)
    X["temperature"] = temperature
    return ContextData(
        X, _outcome(linear, problem, noise, rng), truth=linear, form=form
    )


def make_interaction(
    n_rows: int = 2000,
    problem: str = "regression",
    noise: float = 0.5,
    seed: int = 102,
) -> ContextData:
    """Coefficients driven by two context columns and their product.

    ``age ~ U(20, 80)``, ``dose ~ U(0, 10)``, scaled to ``a, d`` in
    ``[-1, 1]``; ``beta(a, d) = B0 + B1 a + B2 d + B3 a d`` with ``B``
    entries ``~ N(0, 1)``, so the effect of the dose on the slopes depends on
    the age (neither context column alone tells the rule).
    """
    rng = np.random.default_rng(seed)
    X = _features(n_rows, rng)
    age = rng.uniform(20.0, 80.0, n_rows)
    dose = rng.uniform(0.0, 10.0, n_rows)
    a, d = (age - 50.0) / 30.0, (dose - 5.0) / 5.0
    basis = np.column_stack([np.ones(n_rows), a, d, 2.0 * a * d])
    coefficients = rng.normal(size=(4, FEATURES))
    beta = basis @ coefficients
    linear = 0.5 * a * d + np.einsum("nd,nd->n", X.to_numpy(), beta)
    form = _form(basis, X)
    X["age"] = age
    X["dose"] = dose
    return ContextData(
        X, _outcome(linear, problem, noise, rng), truth=linear, form=form
    )


def make_mixed(
    n_rows: int = 2000,
    problem: str = "regression",
    n_regions: int = 5,
    noise: float = 0.5,
    seed: int = 103,
) -> ContextData:
    """A categorical and a continuous context: a region and the hour of day.

    ``hour ~ U(0, 24)``; each region has its own mean coefficients ``M_r``
    (norm 2) and its own daily cycle: ``beta(r, hour) = M_r + A_r cos(2 pi
    hour / 24 + phi_r)`` with ``A_r`` entries ``~ N(0, 1)`` and ``phi_r ~
    U(0, 2 pi)``, so neither the region nor the hour alone gives the rule.
    """
    rng = np.random.default_rng(seed)
    X = _features(n_rows, rng)
    region = rng.integers(n_regions, size=n_rows)
    hour = rng.uniform(0.0, 24.0, n_rows)
    mean = rng.normal(size=(n_regions, FEATURES))
    mean *= 2.0 / np.linalg.norm(mean, axis=1, keepdims=True)
    amplitude = rng.normal(size=(n_regions, FEATURES))
    phase = rng.uniform(0.0, 2.0 * np.pi, n_regions)
    angle = 2.0 * np.pi * hour / 24.0
    cycle = np.cos(angle + phase[region])
    beta = mean[region] + amplitude[region] * cycle[:, None]
    linear = 0.5 * cycle + np.einsum("nd,nd->n", X.to_numpy(), beta)
    daily = np.column_stack([np.ones(n_rows), np.cos(angle), np.sin(angle)])
    by_region = np.eye(n_regions)[region][:, :, None] * daily[:, None, :]
    form = _form(by_region.reshape(n_rows, -1), X)
    labels = _labels("r", n_regions)
    X["region"] = pd.Categorical(labels[region], categories=labels)
    X["hour"] = hour
    return ContextData(
        X, _outcome(linear, problem, noise, rng), truth=linear, form=form
    )


# -- (b) contexts described by attributes --------------------------------------


def make_attribute_rules(
    n_contexts: int = 120,
    rows: tuple[int, int] = (20, 60),
    prefix: str = "store",
    nonlinear: bool = False,
    own_noise: float = 0.3,
    seed: int = 200,
) -> ContextData:
    """Context values whose rule follows from their attributes.

    Each context value (``store000``...) has attributes ``size`` (lognormal),
    ``age`` (``U(0, 30)``), ``urban`` (0/1) and ``region`` (a category of 3).
    With ``z`` the standardised ``log size``, ``age`` and ``urban``, its
    logistic rule is ``w_c = M z_c + R[region_c] + own_noise * N(0, I)`` and
    ``b_c = m . z_c``, with ``M``, ``m`` and ``R`` drawn once; with
    ``nonlinear`` the slopes are ``2 tanh(M z_c)`` plus an ``age x urban``
    term instead. Each value has ``rows`` (low, high) rows, uniformly drawn.
    Returns the attribute table (indexed by the context value) as well.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(prefix, n_contexts)
    size = np.exp(rng.normal(3.0, 1.0, n_contexts))
    age = rng.uniform(0.0, 30.0, n_contexts)
    urban = (rng.random(n_contexts) < 0.5).astype(float)
    region = rng.integers(3, size=n_contexts)
    z = np.column_stack([np.log(size), age, urban])
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    mixing = rng.normal(0.0, 1.2, size=(FEATURES, 3))
    slopes = z @ mixing.T
    if nonlinear:
        slopes = 2.0 * np.tanh(slopes) + np.outer(z[:, 1] * z[:, 2], rng.normal(size=4))
    regional = rng.normal(0.0, 0.7, size=(3, FEATURES))
    w = slopes + regional[region] + own_noise * rng.normal(size=(n_contexts, FEATURES))
    b = z @ rng.normal(0.0, 0.5, 3)
    codes = rng.permutation(
        np.repeat(np.arange(n_contexts), rng.integers(*rows, n_contexts))
    )
    X = _features(len(codes), rng)
    linear = b[codes] + np.einsum("nd,nd->n", X.to_numpy(), w[codes])
    X[prefix] = pd.Categorical(labels[codes], categories=labels)
    region_labels = np.array(["north", "south", "west"])
    attributes = pd.DataFrame(
        {
            "size": size,
            "age": age,
            "urban": urban,
            "region": pd.Categorical(region_labels[region]),
        },
        index=pd.Index(labels, name=prefix),
    )
    return ContextData(X, _outcome(linear, "classification", 0.0, rng), attributes)


# -- (c) many rare contexts ------------------------------------------------------

# The noise of the rare-context regressions, fixed before any model ran on
# them: a rule's score has a standard deviation of about 3, so a context of a
# few rows sees its rule through noise of two thirds of that, about as blurred
# as the classification tasks' Bernoulli draws leave it.
RARE_REGRESSION_NOISE = 2.0


def make_clustered_rare(
    n_contexts: int = 300,
    n_rows: int = 4000,
    n_clusters: int = 5,
    min_rows: int = 2,
    exponent: float = 1.1,
    deviation: float = 0.5,
    seed: int = 300,
    problem: str = "classification",
    noise: float = RARE_REGRESSION_NOISE,
) -> ContextData:
    """Many contexts with long-tailed row counts and rules shared by clusters.

    Row counts as in ``make_rare_contexts`` of ``quality_data.py``:
    ``min_rows`` each plus a Zipf-like share (``1 / rank ** exponent``) of the
    rest, so that with the defaults most contexts have 2-10 rows and a few
    have hundreds. Each context belongs to one of ``n_clusters`` clusters
    (drawn uniformly) whose logistic rule (norm 3, intercept ``N(0, 0.5)``)
    it follows up to its own deviation (``deviation * N(0, I)`` on the
    slopes). With ``n_clusters == n_contexts`` every rule is its own. As a
    regression (``problem="regression"``) the same linear score plus
    Gaussian noise of standard deviation ``noise`` is the target; the rows,
    contexts and rules are those of the classification with the same seed.
    """
    rng = np.random.default_rng(seed)
    sizes = _zipf_sizes(n_contexts, n_rows, min_rows, exponent, rng)
    codes = rng.permutation(np.repeat(np.arange(n_contexts), sizes))
    cluster = rng.integers(n_clusters, size=n_contexts)
    rules = rng.normal(size=(n_clusters, FEATURES))
    rules *= 3.0 / np.linalg.norm(rules, axis=1, keepdims=True)
    w = rules[cluster] + deviation * rng.normal(size=(n_contexts, FEATURES))
    b = rng.normal(0.0, 0.5, n_clusters)[cluster]
    X = _features(len(codes), rng)
    linear = b[codes] + np.einsum("nd,nd->n", X.to_numpy(), w[codes])
    labels = _labels("c", n_contexts)
    X["context"] = pd.Categorical(labels[codes], categories=labels)
    return ContextData(X, _outcome(linear, problem, noise, rng), truth=linear)


# -- the task list ---------------------------------------------------------------


def _varying(name, maker, problem, n_rows, continuous, text, categorical=()):
    """A varying-coefficient task (regression or classification); three of
    them (one, two and a mixed context) are in ``--smoke``, with 200 rows."""
    smoke = name in ("seasonal_reg", "interaction_reg", "mixed_clf")
    return ContextTask(
        name,
        partial(maker, n_rows=n_rows, problem=problem),
        "varying",
        problem,
        f"{n_rows} rows, 4 features; {text}",
        categorical=categorical,
        continuous=continuous,
        smoke_kwargs={"n_rows": 200} if smoke else None,
    )


SEASONAL = "the coefficients follow a sine wave over the day of the year."
PIECEWISE = "the coefficients jump between three temperature regimes."
INTERACTION = "the coefficients depend on age, dose and age x dose."
MIXED = "the coefficients depend on the region (5) and a per-region daily cycle."

_CONTEXT_TASKS = [
    _varying("seasonal_reg", make_seasonal, "regression", 2000, ("day",), SEASONAL),
    _varying("seasonal_clf", make_seasonal, "classification", 3000, ("day",), SEASONAL),
    _varying(
        "seasonal_reg_small", make_seasonal, "regression", 500, ("day",), SEASONAL
    ),
    _varying(
        "piecewise_reg", make_piecewise, "regression", 2000, ("temperature",), PIECEWISE
    ),
    _varying(
        "piecewise_clf",
        make_piecewise,
        "classification",
        3000,
        ("temperature",),
        PIECEWISE,
    ),
    _varying(
        "interaction_reg",
        make_interaction,
        "regression",
        2000,
        ("age", "dose"),
        INTERACTION,
    ),
    _varying(
        "interaction_clf",
        make_interaction,
        "classification",
        3000,
        ("age", "dose"),
        INTERACTION,
    ),
    _varying(
        "interaction_clf_small",
        make_interaction,
        "classification",
        800,
        ("age", "dose"),
        INTERACTION,
    ),
    _varying(
        "mixed_reg", make_mixed, "regression", 2000, ("hour",), MIXED, ("region",)
    ),
    _varying(
        "mixed_clf", make_mixed, "classification", 3000, ("hour",), MIXED, ("region",)
    ),
    ContextTask(
        "stores_120",
        make_attribute_rules,
        "attributes",
        "classification",
        "120 stores with 20-59 rows each, 4 features; the slopes are linear in "
        "the store's size, age and urban flag plus a regional shift, with "
        "per-store noise 0.3.",
        categorical=("store",),
        smoke_kwargs={"n_contexts": 20},
    ),
    ContextTask(
        "hospitals_200",
        partial(
            make_attribute_rules,
            n_contexts=200,
            rows=(10, 40),
            prefix="hospital",
            nonlinear=True,
            seed=201,
        ),
        "attributes",
        "classification",
        "200 hospitals with 10-39 rows each, 4 features; the slopes are a "
        "non-linear (tanh, age x urban) function of the attributes plus a "
        "regional shift, per-hospital noise 0.3.",
        categorical=("hospital",),
    ),
    ContextTask(
        "sensors_60",
        partial(
            make_attribute_rules,
            n_contexts=60,
            rows=(40, 90),
            prefix="sensor",
            seed=202,
        ),
        "attributes",
        "classification",
        "60 sensors with 40-89 rows each, 4 features; linear in the "
        "attributes, per-sensor noise 0.3.",
        categorical=("sensor",),
    ),
    ContextTask(
        "stores_noisy_150",
        partial(make_attribute_rules, n_contexts=150, own_noise=0.8, seed=203),
        "attributes",
        "classification",
        "150 stores with 20-59 rows each; linear in the attributes but with "
        "per-store noise 0.8 (the attributes explain less of each rule).",
        categorical=("store",),
    ),
    ContextTask(
        "rare_300_clusters",
        make_clustered_rare,
        "rare",
        "classification",
        "300 contexts, 4000 rows of long-tailed sizes (at least 2 rows), 5 "
        "clusters of shared rules, per-context deviation 0.5.",
        categorical=("context",),
        smoke_kwargs={"n_contexts": 40, "n_rows": 300},
        rare_contexts=True,
    ),
    ContextTask(
        "rare_500_clusters",
        partial(make_clustered_rare, n_contexts=500, n_rows=5000, seed=301),
        "rare",
        "classification",
        "500 contexts, 5000 rows of long-tailed sizes, 5 clusters of shared "
        "rules, deviation 0.5.",
        categorical=("context",),
        rare_contexts=True,
    ),
    ContextTask(
        "rare_200_shared",
        partial(
            make_clustered_rare, n_contexts=200, n_rows=2500, n_clusters=1, seed=302
        ),
        "rare",
        "classification",
        "200 contexts, 2500 rows of long-tailed sizes, one shared rule plus a "
        "per-context deviation 0.5.",
        categorical=("context",),
        rare_contexts=True,
    ),
    ContextTask(
        "rare_150_independent",
        partial(
            make_clustered_rare, n_contexts=150, n_rows=3000, n_clusters=150, seed=303
        ),
        "rare",
        "classification",
        "150 contexts, 3000 rows of long-tailed sizes, an independent rule per "
        "context (nothing to pool).",
        categorical=("context",),
        rare_contexts=True,
    ),
    ContextTask(
        "dense_20_clusters",
        partial(
            make_clustered_rare,
            n_contexts=20,
            n_rows=3000,
            min_rows=150,
            n_clusters=4,
            seed=304,
        ),
        "rare",
        "classification",
        "Control: 20 contexts x 150 rows, 4 clusters of rules, deviation "
        "0.5; no rare context.",
        categorical=("context",),
    ),
    ContextTask(
        "dense_8_independent",
        partial(
            make_clustered_rare,
            n_contexts=8,
            n_rows=2400,
            min_rows=300,
            n_clusters=8,
            seed=305,
        ),
        "rare",
        "classification",
        "Control: 8 contexts x 300 rows, an independent rule each; no rare context.",
        categorical=("context",),
    ),
]

# The halves of the context suite, drawn once with this seed (stratified by
# family, the rare family's two controls apart from its rare-context tasks so
# that each half gets both kinds) before any model was run on these tasks.
# Like the draw of ``quality_data`` it must not be redrawn; a task added
# later needs a draw of its own.
CONTEXT_SPLIT_SEED = 20261
CONTEXT_SPLIT_GROUPS = {
    "varying": (
        "seasonal_reg",
        "seasonal_clf",
        "seasonal_reg_small",
        "piecewise_reg",
        "piecewise_clf",
        "interaction_reg",
        "interaction_clf",
        "interaction_clf_small",
        "mixed_reg",
        "mixed_clf",
    ),
    "attributes": ("stores_120", "hospitals_200", "sensors_60", "stores_noisy_150"),
    "rare": (
        "rare_300_clusters",
        "rare_500_clusters",
        "rare_200_shared",
        "rare_150_independent",
    ),
    "rare_control": ("dense_20_clusters", "dense_8_independent"),
}
CONTEXT_HALVES = draw_halves(CONTEXT_SPLIT_GROUPS, CONTEXT_SPLIT_SEED)


def _as_regression(task: ContextTask) -> ContextTask:
    """A rare-family task's regression twin: the same rows, contexts and
    rules, with the linear score plus noise as the target."""
    return replace(
        task,
        name=f"{task.name}_reg",
        load=partial(task.load, problem="regression"),
        problem="regression",
        description=f"{task.description} Regression: the score plus "
        f"N(0, {RARE_REGRESSION_NOISE:g}^2) noise.",
        smoke_kwargs=None,
    )


# Added after the draw above, so that HyperNetworkRegressor's context options
# have tasks with categorical contexts to be chosen on (every task above with
# one is a classification, except the confirmation half's mixed_reg). They
# have their own draw, stratified like the classifications, and it must not
# be redrawn either.
REGRESSION_SPLIT_SEED = 20262
REGRESSION_SPLIT_GROUPS = {
    "rare": (
        "rare_300_clusters_reg",
        "rare_200_shared_reg",
        "rare_150_independent_reg",
    ),
    "rare_control": ("dense_20_clusters_reg", "dense_8_independent_reg"),
}
_twins = {n for names in REGRESSION_SPLIT_GROUPS.values() for n in names}
_CONTEXT_TASKS += [
    _as_regression(t) for t in _CONTEXT_TASKS if f"{t.name}_reg" in _twins
]
CONTEXT_HALVES |= draw_halves(REGRESSION_SPLIT_GROUPS, REGRESSION_SPLIT_SEED)
if set(CONTEXT_HALVES) != {t.name for t in _CONTEXT_TASKS}:  # pragma: no cover
    raise RuntimeError("Every context task must be in one CONTEXT_SPLIT_GROUPS.")
CONTEXT_TASKS = [replace(t, half=CONTEXT_HALVES[t.name]) for t in _CONTEXT_TASKS]
CONTEXT_TASKS_BY_NAME = {t.name: t for t in CONTEXT_TASKS}


def tuning_twin(name: str) -> str | None:
    """The task of the tuning half that shares ``name``'s rows, contexts and
    rules, or None: a rare-context task and its regression twin differ only
    in the target, and the twins' halves were drawn apart (by
    ``REGRESSION_SPLIT_SEED``), so three pairs straddle the halves. A
    confirmation-half task with such a twin was not tuned on, but its data
    was."""
    twin = name[: -len("_reg")] if name.endswith("_reg") else f"{name}_reg"
    task = CONTEXT_TASKS_BY_NAME.get(twin)
    return twin if task is not None and task.half == "tuning" else None
