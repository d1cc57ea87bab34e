"""Does ``torch.compile`` pay for the default hypernetwork on this machine?

Times training steps (forward, backward, FusedAdamW) of the default
``HyperNetworkModule`` (20 numeric features, 20 contexts, rank 8) eagerly
and compiled, for the context-layer forms, and the compilation itself (the
first steps of the compiled module)::

    python benchmarks/bench_compile.py            # a few minutes
    python benchmarks/bench_compile.py --smoke    # tiny

It prints the compile time, eager and compiled rows/s and how many seconds
of training the compile time is worth; docs/performance.md quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from skhyper._modules import HyperNetworkModule
from skhyper._optim import FusedAdamW

N_FEATURES, N_CONTEXTS, RANK = 20, 20, 8


def train_steps(module, batches, optimizer) -> float:
    start = time.perf_counter()
    for numeric, empty, context, target in batches:
        logits = module(numeric, empty, context)
        loss = torch.nn.functional.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def measure(form: str, compiled: bool, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    module = HyperNetworkModule(
        N_FEATURES, [], [N_CONTEXTS], 2, generator_rank=RANK
    ).train()
    module.context_layer.form = form
    optimizer = FusedAdamW(module.parameters())
    numeric = torch.randn(steps, batch, N_FEATURES)
    batches = [
        (
            numeric[i],
            torch.empty(batch, 0, dtype=torch.long),
            torch.randint(N_CONTEXTS, (batch, 1)),
            (numeric[i, :, 0] > 0).long(),
        )
        for i in range(steps)
    ]
    step_module = torch.compile(module) if compiled else module
    first = train_steps(step_module, batches[:2], optimizer)  # compiles
    timed = [train_steps(step_module, batches, optimizer) for _ in range(3)]
    seconds = statistics.median(timed)
    return {"first_two_steps_s": first, "rows_per_s": steps * batch / seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    batch, steps = (256, 3) if args.smoke else (2048, 30)
    print(f"batch {batch}, {N_CONTEXTS} contexts, one thread")
    for form in ("dense", "grouped"):
        eager = measure(form, False, batch, steps)
        try:
            compiled = measure(form, True, batch, steps)
        except Exception as error:  # noqa: BLE001 - report, do not hide
            print(f"  {form:8s} torch.compile failed: {type(error).__name__}")
            continue
        gain = 1 / eager["rows_per_s"] - 1 / compiled["rows_per_s"]
        pays_after = compiled["first_two_steps_s"] / gain if gain > 0 else float("inf")
        print(
            f"  {form:8s} eager {eager['rows_per_s']:9,.0f} rows/s, compiled "
            f"{compiled['rows_per_s']:9,.0f} rows/s, compile "
            f"{compiled['first_two_steps_s']:6.1f} s; pays after "
            f"{pays_after:,.0f} rows"
        )


if __name__ == "__main__":
    main()
