#!/usr/bin/env bash
# The GPU checks, in one go, on a machine with CUDA:
#   1. the CUDA tests (they skip elsewhere);
#   2. the speed benchmark with the networks on the GPU.
# Usage: bash benchmarks/gpu_checks.sh OUTPUT_FOLDER
# Writes gpu.txt (the card), tests.txt, speed.txt and speed_cuda.json there.
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

python3 -m pytest -q -p no:cacheprovider tests/test_reliability.py -k cuda -rs \
    2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}

python3 benchmarks/bench_speed.py --device cuda --repeats 3 \
    --output "$out/speed_cuda.json" 2>&1 | tee "$out/speed.txt"
speed=${PIPESTATUS[0]}

echo "tests exit $tests, speed exit $speed"
[ "$tests" -eq 0 ] && [ "$speed" -eq 0 ]
