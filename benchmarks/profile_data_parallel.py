"""Where the time of a data-parallel fit goes: a pyinstrument profile of
``fit`` in every process.

Fits the table and model of ``examples/distributed_training.py`` (2 epochs)
under pyinstrument's wall-clock profiler, so that waiting at the gradient
sum's barrier shows, and writes ``DIR/rank<r>.txt`` for each process::

    python benchmarks/profile_data_parallel.py --rows 1000000 --out one
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no \\
        benchmarks/profile_data_parallel.py --rows 1000000 --out two

``docs/scaling.md`` quotes such profiles. Needs ``pyinstrument``
(``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed_training.py"


def load_example():
    """The example script as a module: its table and model builders."""
    spec = importlib.util.spec_from_file_location("distributed_training", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    from accelerate import Accelerator
    from pyinstrument import Profiler

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)

    example = load_example()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    (X, y), _ = example.train_and_test(args.rows)
    model = example.make_model(accelerator, args.epochs, batch_size)
    accelerator.wait_for_everyone()
    profiler = Profiler(interval=0.002)
    start = time.perf_counter()
    with profiler:
        model.fit(X, y)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"rank{accelerator.process_index}.txt"
    path.write_text(f"fit {seconds:.2f} s\n" + profiler.output_text(unicode=False))
    rank = accelerator.process_index
    print(f"process {rank}: fit {seconds:.2f} s, profile in {path}")
    accelerator.end_training()  # destroys the process group before exit


if __name__ == "__main__":
    main()
