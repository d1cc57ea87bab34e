#!/usr/bin/env bash
# The GPU checks, in one go, on a machine with CUDA:
#   1. the CUDA tests (they skip elsewhere), including the training step
#      under torch.cuda.set_sync_debug_mode("error");
#   2. the context-layer forms on the GPU (which form wins where);
#   3. the speed benchmark with the networks on the GPU, its throughput
#      section included (training and predict rows/s at 10k-1M rows).
# Usage: bash benchmarks/gpu_checks.sh OUTPUT_FOLDER
# Writes gpu.txt (the card), tests.txt, forms.txt, speed.txt and
# speed_cuda.json there.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash benchmarks/gpu_checks.sh OUTPUT_FOLDER}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    | tee "$out/gpu.txt"
python3 -c "import torch, sklearn, skorch; print('torch', torch.__version__, \
'cuda', torch.version.cuda, '| scikit-learn', sklearn.__version__, \
'| skorch', skorch.__version__)" | tee -a "$out/gpu.txt"

python3 -m pytest -q -p no:cacheprovider tests/test_reliability.py \
    tests/test_throughput.py -k cuda -rs 2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}

python3 benchmarks/bench_context_forms.py --device cuda \
    --output "$out/forms_cuda.json" 2>&1 | tee "$out/forms.txt"

python3 benchmarks/bench_speed.py --device cuda --repeats 3 \
    --output "$out/speed_cuda.json" 2>&1 | tee "$out/speed.txt"
speed=${PIPESTATUS[0]}

echo "tests exit $tests, speed exit $speed"
[ "$tests" -eq 0 ] && [ "$speed" -eq 0 ]
