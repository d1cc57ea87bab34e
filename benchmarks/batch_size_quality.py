"""Does batch_size="auto" cost quality on tables large enough to change it?

The quality benchmark's tasks all have fewer than ~5,800 training rows, where
``batch_size="auto"`` keeps 128-row steps, so it cannot see the rule. This
script scales four of its task families (two from each half) and the speed
benchmark's context-rule data up to sizes where "auto" picks 256-1024 rows,
and fits the default ``HyperNetworkClassifier`` with ``batch_size="auto"``
and with ``batch_size=128`` (the old default) on the same 75/25 split::

    python benchmarks/batch_size_quality.py           # ~15 minutes
    python benchmarks/batch_size_quality.py --smoke   # seconds (CI)

The rule was set from the throughput measurements and the square-root rule
before this script ran; nothing here was tuned on these tasks. It prints
held-out ROC AUC, fit time and epochs, and writes
``benchmarks/results/batch_size.json`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))
import quality_data  # noqa: E402
from bench_speed import make_context_data  # noqa: E402

from skhyper import HyperNetworkClassifier  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "batch_size.json"


def tasks(n_rows: int) -> dict:
    """Task families of the quality benchmark at about ``n_rows`` rows."""
    return {
        "linear_rules": lambda: quality_data.make_linear_rules(
            rows_per_context=n_rows // 8
        ),
        "threshold_rules": lambda: quality_data.make_threshold_rules(
            rows_per_context=n_rows // 6
        ),
        "interaction_flip": lambda: quality_data.make_interaction_flip(
            rows_per_context=n_rows // 4
        ),
        "rare_contexts": lambda: quality_data.make_rare_contexts(n_rows=n_rows),
        "context_rules_20": lambda: make_context_data(n_rows, 20, n_features=20),
    }


def score(batch_size, X, y, max_epochs: int) -> dict:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    model = HyperNetworkClassifier(
        context_column="context",
        batch_size=batch_size,
        max_epochs=max_epochs,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    return {
        "auc": float(auc),
        "fit_s": seconds,
        "batch_size_": model.batch_size_,
        "epochs": model.n_iter_,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = (10_000,) if args.smoke else (12_000, 36_000)
    max_epochs = 2 if args.smoke else 200
    records = []
    print(f"{'task':18s} {'rows':>7s} {'batch':>6s} {'AUC':>7s} {'fit s':>7s} epochs")
    for n_rows in sizes:
        for name, make in tasks(n_rows).items():
            X, y = make()
            for batch_size in ("auto", 128):
                result = score(batch_size, X, np.asarray(y), max_epochs)
                records.append(
                    {"task": name, "rows": len(X), "batch_size": batch_size, **result}
                )
                print(
                    f"{name:18s} {len(X):7d} {result['batch_size_']:6d} "
                    f"{result['auc']:7.4f} {result['fit_s']:7.1f} {result['epochs']}",
                    flush=True,
                )
    for n_rows in sizes:
        rows = [r for r in records if abs(r["rows"] - n_rows) < n_rows * 0.1]
        auto = [r["auc"] for r in rows if r["batch_size"] == "auto"]
        fixed = [r["auc"] for r in rows if r["batch_size"] == 128]
        time_ratio = statistics.median(
            a["fit_s"] / f["fit_s"] for a, f in zip(rows[::2], rows[1::2], strict=True)
        )
        print(
            f"~{n_rows:,} rows: mean AUC auto {np.mean(auto):.4f}, 128 "
            f"{np.mean(fixed):.4f}; median fit time auto / 128 = {time_ratio:.2f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
