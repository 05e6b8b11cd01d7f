#!/usr/bin/env bash
# First call on a GPU machine of the `device` tool (carry: [".device/wheels"]): install the carried wheels and
# link medsynth itself into /tmp/site, which stays while the machine is warm, then run the GPU-marked tests and
# record the machine. Output: $OUT/device.txt and $OUT/gpu-tests.log.
#
#   run(command="bash examples/gpu/device_setup.sh", carry=[".device/wheels"], timeout_s=420)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .device/wheels/*.whl
# medsynth itself as its installed layout of links into this tree: no build step, whatever setuptools is there
bash .ci/link-tree /tmp/site
export PYTHONPATH=/tmp/site
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    python3 -c "import torch, onnxruntime, medsynth; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '-'); print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers()); print('medsynth', medsynth.__version__)"
} | tee "$OUT/device.txt"
python3 -m pytest -q -p no:cacheprovider -m gpu -rs tests/training/test_training_cuda.py \
    tests/sdk/test_session_factory.py 2>&1 | tee "$OUT/gpu-tests.log"
