"""``predict_proba`` throughput of the hypernetwork at several commits, in
turns, to see where a change in speed came in.

Each commit's package is checked out into a temporary git worktree and
imported from there (``PYTHONPATH``) by a fresh process. The data and the
timing come from this checkout's ``benchmarks/bench_speed.py`` at every
commit: section 2's table (100,000 rows, 20 contexts) and a default
``HyperNetworkClassifier`` fitted for one epoch on 2,000 rows. Rounds
visit every commit once, in the order given, so that the machine's load
falls on all of them alike; the median over the rounds is reported::

    python benchmarks/predict_across_commits.py fa64c14 42db508 HEAD --rounds 3

``--worker`` is what each process runs (one commit, one figure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(rows: int, calls: int) -> float:
    """Median rows/s of ``calls`` predictions, after one warm-up call
    (bench_speed's timing)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_speed import make_context_data, median_seconds

    from skhyper import HyperNetworkClassifier

    X, y = make_context_data(rows, 20)
    model = HyperNetworkClassifier("context", max_epochs=1, random_state=0)
    model.fit(X[:2000], y[:2000])
    median, _ = median_seconds(lambda: model.predict_proba(X), calls)
    return rows / median


def at_commit(worktree: Path, rows: int, calls: int) -> float:
    """One measurement in a fresh process importing ``worktree``'s package."""
    env = {**os.environ, "PYTHONPATH": str(worktree)}
    command = [sys.executable, __file__, "--worker", f"--rows={rows}"]
    command.append(f"--calls={calls}")
    finished = subprocess.run(
        command, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{worktree}: {finished.stderr[-2000:]}")
    return float(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="*", default=["HEAD"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=9)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(measure(args.rows, args.calls))
        return
    if args.smoke:
        args.rounds, args.rows, args.calls = 1, 5_000, 2
    rates = {commit: [] for commit in args.commits}
    with tempfile.TemporaryDirectory() as scratch:
        worktrees = {}
        for k, commit in enumerate(args.commits):
            worktrees[commit] = Path(scratch) / f"commit{k}"
            git = ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach"]
            subprocess.run([*git, str(worktrees[commit]), commit], check=True)
        try:
            for _ in range(args.rounds):
                for commit, worktree in worktrees.items():
                    rates[commit].append(at_commit(worktree, args.rows, args.calls))
                    print(f"{commit}: {rates[commit][-1]:,.0f} rows/s", flush=True)
        finally:
            for worktree in worktrees.values():
                remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force"]
                subprocess.run([*remove, str(worktree)], check=False)
    print(f"\n| commit | predict rows/s, median of {args.rounds} | runs |")
    print("|---|---:|---|")
    for commit, values in rates.items():
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {commit} | {statistics.median(values):,.0f} | {runs} |")
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
