#!/usr/bin/env bash
# Data-parallel bench on a GPU machine (NCCL): world_size 1 vs 2 for the MLP and CNN on mnist-5k, then
# the two-rank gloo tests once, as a sanity check that a CUDA build leaves the CPU path intact.
# Needs ≥ 2 GPUs for world 2 on NCCL (one process per GPU); with one GPU it says so and runs CPU only.
#   bash bench/distributed_gpu.sh            (from the repository root, after `make install`)
set -euo pipefail
PY=${PY:-.venv/bin/python}
export DEEPFEAT_DATA_DIR=${DEEPFEAT_DATA_DIR:-$(mktemp -d)}
"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "gpus", torch.cuda.device_count(),
      "nccl", torch.distributed.is_nccl_available())
PYEOF
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -ge 2 ]; then
  timeout 300 "$PY" bench/distributed.py --device gpu --epochs 3 --batch 256
else
  echo "fewer than 2 GPUs: NCCL world 2 needs one GPU per rank; running the CPU (gloo) bench instead"
  timeout 300 "$PY" bench/distributed.py --device cpu --epochs 3 --batch 256 --threads "$(nproc)"
fi
