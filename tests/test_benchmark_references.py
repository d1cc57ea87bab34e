"""The linear references of benchmarks/varying_draws.py: each varying task's
true design spans its noiseless score, the spline model recovers a smooth
varying coefficient, and the report puts both below the oracle."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import varying_draws  # noqa: E402
from context_data import CONTEXT_TASKS  # noqa: E402
from varying_reference import SplineVaryingCoefficients  # noqa: E402

VARYING = [task for task in CONTEXT_TASKS if task.family == "varying"]


@pytest.mark.parametrize("task", VARYING, ids=lambda task: task.name)
def test_each_varying_task_scores_are_linear_in_its_true_design(task):
    data = task.load(n_rows=300)
    coefficients, *_ = np.linalg.lstsq(data.form, data.truth, rcond=None)
    np.testing.assert_allclose(data.form @ coefficients, data.truth, atol=1e-9)
    # The features alone (no context) do not span it: the form is needed.
    plain = data.form[:, : 1 + 4]
    coefficients, *_ = np.linalg.lstsq(plain, data.truth, rcond=None)
    assert np.abs(plain @ coefficients - data.truth).max() > 0.1


def _varying_slope(n_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``y = sin(c) x0 + region shift`` with a continuous ``c`` and a
    categorical region."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.0, 2.0 * np.pi, n_rows)
    x0 = rng.normal(size=n_rows)
    region = rng.integers(2, size=n_rows)
    X = pd.DataFrame(
        {"x0": x0, "c": c, "region": pd.Categorical(np.array(["a", "b"])[region])}
    )
    return X, np.sin(c) * x0 + region


def test_spline_model_recovers_a_smooth_varying_coefficient():
    X, y = _varying_slope(1500, seed=0)
    X_test, y_test = _varying_slope(500, seed=1)
    model = SplineVaryingCoefficients("regression", ("c",), ("region",)).fit(X, y)
    residual = model.predict(X_test) - y_test
    assert np.mean(residual**2) < 0.01 * np.var(y_test)
    # Without the context's spline the slope is a constant: far worse.
    constant = SplineVaryingCoefficients("regression", (), ("region",))
    residual = constant.fit(X.drop(columns="c"), y).predict(X_test.drop(columns="c"))
    assert np.mean((residual - y_test) ** 2) > 0.3 * np.var(y_test)


def test_spline_model_classifies_with_probabilities():
    X, y = _varying_slope(600, seed=2)
    labels = (y > np.median(y)).astype(int)
    model = SplineVaryingCoefficients("classification", ("c",), ("region",))
    proba = model.fit(X, labels).predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean((proba[:, 1] > 0.5) == labels) > 0.8


def test_report_puts_the_references_below_the_oracle(tmp_path):
    code = varying_draws.main(
        [
            "--smoke",
            "--jobs",
            "1",
            "--models",
            "spline",
            "known_form",
            "oracle",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    text = (tmp_path / "varying_draws.md").read_text()
    header = next(line for line in text.splitlines() if "minus the oracle" in line)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[2:] == list(varying_draws.CEILING_MODELS)
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[3:-1]]
        for line in text.splitlines()
        if line.startswith("| all ")
    }
    assert set(rows) >= {"all classification", "all regression"}
    for cells in rows.values():
        spline, known = float(cells[2]), float(cells[3])
        assert spline < 0 and known < 0  # no model beats the noiseless score
        assert cells[0] == "—"  # the hypernetwork was not fitted


ROUNDS = Path(__file__).parents[1] / "benchmarks" / "rounds"
SAVED_27_34 = [
    "varying_draws_27_30.json",
    "varying_draws_27_30_references.json",
    "varying_draws_31_34.json",
    "varying_draws_31_34_references.json",
]
SAVED_35_38 = ["varying_draws_35_38.json"]


def rendered_blocks(names: list[str]) -> list[str]:
    """The blocks (tables and headers) that ``--render`` prints for the kept
    rows of ``names``."""
    runs = [json.loads((ROUNDS / name).read_text()) for name in names]
    return varying_draws.report(
        [row for run in runs for row in run["rows"]], runs
    ).split("\n\n")


def table_with(blocks: list[str], header: str) -> list[str]:
    return next(block for block in blocks if header in block).strip().splitlines()


def assert_quoted(lines: list[str]) -> None:
    page = (Path(__file__).parents[1] / "docs" / "benchmarks.md").read_text()
    missing = [line for line in lines if line not in page]
    assert not missing, f"docs/benchmarks.md lacks the rendered lines {missing}"


def test_reference_tables_in_the_docs_come_from_the_saved_rows():
    blocks = rendered_blocks(SAVED_27_34)
    ceiling = table_with(blocks, "minus the oracle")
    spline_rows = [
        line
        for line in table_with(blocks, "HyperNetwork minus")
        if line.startswith("| spline VC, ")
    ]
    assert len(ceiling + spline_rows) == 2 + 12 + 2
    assert_quoted(ceiling + spline_rows)


def test_draws_35_38_tables_in_the_docs_come_from_the_saved_rows():
    alone = table_with(rendered_blocks(SAVED_35_38), "HyperNetwork minus")
    pooled = rendered_blocks(SAVED_27_34 + SAVED_35_38)
    quoted = (
        alone
        + table_with(pooled, "minus the oracle")
        + table_with(pooled, "HyperNetwork minus")
    )
    assert len(quoted) == (2 + 6) + (2 + 12) + (2 + 6)
    assert any("| 120 |" in line for line in quoted)  # all of draws 27-38
    assert_quoted(quoted)
