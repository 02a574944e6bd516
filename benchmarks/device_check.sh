#!/usr/bin/env bash
# The checks that need a GPU, as one run on a machine with CUDA (the session's device machine):
# the term tables (float64 against torch, float16/bfloat16 against float64, autocast), the derivative
# terms and every other CUDA test, then the harness's quick run on CUDA in float32 and under autocast.
# Run from the repository root; $OUT (if set) receives the logs and the report.
# lark is not on that machine's image: carry its wheel in .whl/ (pip download --no-deps -d .whl lark==1.3.1).
set -uo pipefail
OUT="${OUT:-/tmp/losslang-device}"
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider -m "not slow and not fuzz" -k cuda \
    tests/test_terms_precision.py tests/test_terms_reference.py tests/test_terms_derivatives.py tests/test_module.py 2>&1 | tee "$OUT/tests.log" | tail -25
python3 -m benchmarks.run --quick --devices cuda --dtypes float32,float16,bfloat16 \
    --out "$OUT/REPORT-cuda-quick.md" --json "$OUT/cuda-quick.json" 2>&1 | tail -40
