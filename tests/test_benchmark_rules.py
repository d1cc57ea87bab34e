"""The rule the tuning rounds choose a default by (``choose`` in
benchmarks/compare_context_defaults.py) counts tasks, not folds, as the
independent units, and the saved rounds' verdicts that docs/defaults.md
reports still follow from their rows under it."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import compare_context_defaults as compare  # noqa: E402

SEEDS = (0, 1)
FOLDS = 5


def _rows(task_gains: list[float], noise: float = 0.0) -> list[dict]:
    """Rows of a two-candidate round: ``"new"`` beats ``"old"`` by each
    task's gain, on every fold of both seeds (the seeds share their folds,
    so they repeat one another, as in the rounds)."""
    rng = np.random.default_rng(0)
    rows = []
    for t, gain in enumerate(task_gains):
        base = 0.8 + rng.normal(0, 0.02, FOLDS)
        wiggle = rng.normal(0, noise, FOLDS)
        for seed in SEEDS:
            for candidate, scores in (("old", base), ("new", base + gain + wiggle)):
                rows.append(
                    {
                        "parameter": "p",
                        "candidate": candidate,
                        "task": f"task_{t}",
                        "seed": seed,
                        "scores": list(scores),
                    }
                )
    return rows


@pytest.fixture
def round_p(monkeypatch):
    monkeypatch.setitem(
        compare.CHOICES, "p", {"candidates": ["old", "new"], "default": "old"}
    )


def test_tasks_that_disagree_keep_the_default_however_many_folds(round_p):
    # Six tasks gain 0.01 and four lose 0.01: 100 per-fold differences
    # whose standard error (0.001) the mean gain (0.002) clears, but over
    # the ten tasks the error is 0.0033.
    rows = _rows([0.01] * 6 + [-0.01] * 4)
    result = compare.choose(rows, "p")
    assert result["best"] == "new"
    assert result["gain"] == pytest.approx(0.002)
    assert result["standard_error"] == pytest.approx(0.0033, abs=1e-4)
    assert result["tasks_gaining"] == 6 and result["tasks"] == 10
    assert result["chosen"] == "old"


def test_a_gain_on_every_task_replaces_the_default(round_p):
    rows = _rows([0.002] * 10, noise=0.004)
    result = compare.choose(rows, "p")
    assert result["chosen"] == "new"
    assert result["tasks_gaining"] == 10


def test_a_best_default_reports_the_runner_up_margin(round_p):
    rows = _rows([-0.003] * 10, noise=0.001)
    result = compare.choose(rows, "p")
    assert result["best"] == "old" and result["rival"] == "new"
    assert result["chosen"] == "old"
    assert result["gain"] == pytest.approx(-0.003, abs=1e-3)
    assert "'new' against the default 'old': -0.00" in compare.report("p", result)


@pytest.mark.parametrize(
    ("saved", "parameter", "candidates", "default", "chosen"),
    [
        ("round_14_annealing.json", "path_end", ["stop", "anneal"], "stop", "anneal"),
        (
            "round_15_validation_fraction.json",
            "validation_fraction",
            [0.1, 0.2],
            0.1,
            0.1,
        ),
    ],
)
def test_saved_rounds_keep_their_verdicts_under_the_task_rule(
    monkeypatch, saved, parameter, candidates, default, chosen
):
    rows = json.loads((BENCHMARKS / "rounds" / saved).read_text())["rows"]
    monkeypatch.setitem(
        compare.CHOICES, parameter, {"candidates": candidates, "default": default}
    )
    result = compare.choose(rows, parameter)
    assert result["tasks"] == 26
    assert result["chosen"] == chosen
