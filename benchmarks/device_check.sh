#!/usr/bin/env bash
# The GPU check, as one run of at most 8 minutes on the lent GPU machine (it has torch + CUDA, no gradio):
#   the environment, the tests marked `cuda` (recorded CUDA graphs replay bit for bit what eager runs),
#   and the speed tables with and without CUDA graphs: BiGR-L-d24 at batch 1 and 64 (generate, inpaint
#   half), BiGR-L-d32-512 at batch 1 and 16 (generate); N=20, T=100, cfg 3, bf16.
#
#   benchmarks/device_check.sh              # tables and logs go to $OUT (default: a new temporary folder)
#   DRY_RUN=1 benchmarks/device_check.sh    # the same steps on a CPU with a tiny random model, in seconds
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
echo "writing to $OUT"

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    $PY - <<'PY'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda)
print("GPU:", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
try:
    import gradio  # noqa: F401
    print("gradio: present")
except ImportError:
    print("gradio: absent (the engine and benchmarks must not need it)")
PY
} 2>&1 | tee "$OUT/env.txt"

$PY -m pytest -q -p no:cacheprovider -m cuda tests/sampling/test_graphs.py 2>&1 | tee "$OUT/cuda_tests.txt"

bench() {  # name, time limit in seconds, benchmark arguments...
    local name=$1 limit=$2
    shift 2
    timeout "$limit" $PY benchmarks/sampling.py --precision bf16 --no-reference "$@" 2>&1 | tee "$OUT/$name.txt"
}
if [ -n "${DRY_RUN:-}" ]; then
    bench tiny 120 --preset tiny --device cpu --precision fp32 --graphs off --batch 1 4 --iterations 4 --steps 8 \
        --task generate inpaint --repeats 1
else
    bench bigr-l-d24 240 --preset BiGR-L-d24 --iterations 20 --steps 100 --cfg 3 --batch 1 64 \
        --task generate inpaint --repeats 2
    bench bigr-l-d32-512 150 --preset BiGR-L-d32-512 --iterations 20 --steps 100 --cfg 3 --batch 1 16 \
        --task generate --repeats 2
fi
echo "done: $(ls "$OUT")"
