"""Which form of the context-generated layer trains (or predicts) fastest,
by number of contexts and batch size.

``ContextLinear`` can compute ``x (W0 + A(c) B(c)) + b(c)`` for a batch in
four ways (``skhyper._modules.CONTEXT_FORMS``):

* ``grouped``: sort the rows by context, pad each context's rows into a
  block and multiply block by block (one batched matmul per factor);
* ``dense``: multiply every row by every context's ``A`` in one product,
  mask all but the row's own context, multiply by all ``B`` stacked;
* ``gathered``: gather each row's ``A(c)`` and ``B(c)`` and multiply row by
  row (``n x in x rank`` work);
* ``summed``: the same arithmetic as weighted sums of the factors' rows
  (``embedding_bag``), without copying them per row.

This times training steps (forward, backward, fused AdamW) of the default
``HyperNetworkModule`` (20 numeric features, hidden and output 128, rank 8)
with each form forced, for 3 to 10,000 contexts::

    python benchmarks/bench_context_forms.py            # ~5 minutes
    python benchmarks/bench_context_forms.py --smoke    # seconds (CI)
    python benchmarks/bench_context_forms.py --device cuda --batches 128 2048 16384

``--predict`` times prediction instead: ``predict_outputs`` of 20,480
rows in 1,024-row blocks, as an estimator's ``predict`` runs them, with each
form whose rows do not depend on each other (all but ``grouped``)::

    python benchmarks/bench_context_forms.py --predict  # ~1 minute

Each figure is the median rows/s of ``--repeats`` timed passes of
``--steps`` steps (or of one prediction) after a warm-up pass, one thread
on the CPU. The chosen form (``choose_form``) is marked with ``*``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from skhyper._modules import PREDICT_BLOCK_ROWS, HyperNetworkModule, choose_form

N_FEATURES = 20
RANK = 8
FORMS = ("grouped", "dense", "gathered", "summed")
# A grouped product's rounding depends on the other rows of its batch.
PREDICT_FORMS = ("dense", "gathered", "summed")


def make_module(n_contexts: int, form: str, device: str) -> HyperNetworkModule:
    module = HyperNetworkModule(N_FEATURES, [], [n_contexts], 2, generator_rank=RANK)
    module.context_layer.form = form
    return module.to(device).train()


def median_rate(
    work: Callable[[], None], rows: int, repeats: int, device: str
) -> float:
    """Median rows/s of ``repeats`` timed calls of ``work`` (``rows`` rows
    each), after a warm-up call; a GPU is synchronised around each."""

    def one_pass() -> float:
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device != "cpu":
            torch.cuda.synchronize()
        return rows / (time.perf_counter() - start)

    one_pass()  # warm-up
    return statistics.median(one_pass() for _ in range(repeats))


def rows_per_second(
    n_contexts: int, form: str, batch: int, steps: int, repeats: int, device: str
) -> float:
    module = make_module(n_contexts, form, device)
    optimizer = torch.optim.AdamW(module.parameters(), 1e-3, fused=True)
    generator = torch.Generator().manual_seed(0)
    numeric = torch.randn(steps, batch, N_FEATURES, generator=generator).to(device)
    context = torch.randint(n_contexts, (steps, batch, 1), generator=generator)
    context, target = context.to(device), (numeric[..., 0] > 0).long()
    empty = torch.empty(batch, 0, dtype=torch.long, device=device)

    def train() -> None:
        for step in range(steps):
            logits = module(numeric[step], empty, context[step])
            loss = torch.nn.functional.cross_entropy(logits, target[step])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return median_rate(train, steps * batch, repeats, device)


def predict_rows_per_second(
    n_contexts: int, form: str, rows: int, repeats: int, device: str
) -> float:
    module = make_module(n_contexts, form, device).eval()
    generator = torch.Generator().manual_seed(0)
    inputs = {
        "numeric": torch.randn(rows, N_FEATURES, generator=generator).to(device),
        "categorical": torch.empty(rows, 0, dtype=torch.long, device=device),
        "context": torch.randint(n_contexts, (rows, 1), generator=generator).to(device),
    }
    return median_rate(lambda: module.predict_outputs(inputs), rows, repeats, device)


def too_large(form: str, n_contexts: int) -> bool:
    """The dense form far beyond its limit would only measure a huge GEMM."""
    return form == "dense" and n_contexts * RANK > 8192


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--predict", action="store_true", help="time prediction, not training"
    )
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        help="rows per step (default 128 512 2048; on a GPU 'auto' goes up to 16384)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    contexts = (3, 20) if args.smoke else (3, 20, 64, 100, 1000, 10_000)
    batches = args.batches or ((128,) if args.smoke else (128, 512, 2048))
    forms = PREDICT_FORMS if args.predict else FORMS
    predict_blocks = 3 if args.smoke else 20  # 20,480 rows
    device_type = torch.device(args.device).type
    results = []
    what = "prediction" if args.predict else "training step"
    print(f"rows/s per {what}, {args.device}; * = chosen by choose_form")
    print(f"{'contexts':>8} {'batch':>6} " + " ".join(f"{f:>12}" for f in forms))
    for n_contexts in contexts:
        for batch in (PREDICT_BLOCK_ROWS,) if args.predict else batches:
            steps = 3 if args.smoke else max(4, 20_000 // batch)
            row = {"contexts": n_contexts, "batch": batch}
            cells = []
            for form in forms:
                if too_large(form, n_contexts):
                    cells.append(f"{'-':>12}")
                    continue
                if args.predict:
                    rows = predict_blocks * batch
                    speed = predict_rows_per_second(
                        n_contexts, form, rows, args.repeats, args.device
                    )
                else:
                    speed = rows_per_second(
                        n_contexts, form, batch, steps, args.repeats, args.device
                    )
                row[form] = speed
                chosen = choose_form(RANK, n_contexts + 1, device_type, args.predict)
                mark = "*" if form == chosen else " "
                cells.append(f"{speed:11,.0f}{mark}")
            results.append(row)
            print(f"{n_contexts:>8} {batch:>6} " + " ".join(cells), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
