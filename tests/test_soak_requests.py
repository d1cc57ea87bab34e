"""benchmarks/soak.py's malformed requests: each gets the error the soak
expects of it, whatever the size of the batch it was drawn from (the soak
draws batches of one row to thousands, and counts a mismatch as an
unexpected error)."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import soak  # noqa: E402


@pytest.fixture(scope="module")
def served():
    X, _ = soak.make_table(200, seed=1)
    return soak.fit_model(smoke=True, seed=0, torch_threads=1), X


@pytest.mark.parametrize("n_rows", [1, 2, 7])
@pytest.mark.parametrize("kind", list(soak.MALFORMED))
def test_each_malformed_request_raises_what_the_soak_expects(served, kind, n_rows):
    model, X = served
    error_type, build = soak.MALFORMED[kind]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        request, pattern = build(X.iloc[:n_rows], rng)
        with pytest.raises(error_type) as raised:
            model.predict_proba(request)
        assert re.search(pattern, str(raised.value)), (pattern, str(raised.value))
