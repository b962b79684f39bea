#!/usr/bin/env bash
# The GPU checks of issue 17, as one prepared script for a session that is lent a
# GPU machine (see the device tool's README): serving throughput and latency with
# batching off and on, then with channels-last and torch.compile, and the
# batch-versus-alone pixel check, on the full sd-turbo architecture with random
# weights (nothing can be downloaded there). Figures go to $OUT (or ./gpu-out).
#
# Before the call, here: download the wheels the device image lacks into .whl/
# (diffusers, tinydb, orjson, filelock, libpass, argon2-cffi, argon2-cffi-bindings,
# email-validator, dnspython, itsdangerous), as the device README shows, and carry
# .whl. Budget: about 8 minutes of the 15.
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
run() { echo "== $*" | tee -a "$OUT/serving.txt"; timeout 170 python3 benchmarks/bench_serving.py \
  --model sd-turbo-random --device cuda --users 1,8,32 --requests 8 "$@" 2>&1 \
  | grep -v Warning | tee -a "$OUT/serving.txt"; }
run
run --channels-last
run --compile
timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/batch-identity.txt"
# Batch versus alone on the GPU: the same seeds, the largest pixel difference.
import sys, tempfile, numpy as np
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_cpu_backends import build_sd_turbo
from aicreative.backends.diffusers_backend import DiffusersBackend
from aicreative.backends.base import GenerationRequest
from aicreative.config import Settings
with tempfile.TemporaryDirectory() as tmp:
    model = build_sd_turbo(Path(tmp))[0]
    backend = DiffusersBackend(Settings(data_dir=Path(tmp), model_id=str(model), device="cuda"))
    requests = [GenerationRequest(f"prompt {i}", seed=100 + i) for i in range(4)]
    together = backend.generate_batch(requests)
    alone = [backend.generate(r)[0] for r in requests]
    worst = max(int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())
                for a, b in zip(together, alone))
    print(f"largest pixel difference, batch of 4 vs alone, fp16 on GPU: {worst}/255")
PY
