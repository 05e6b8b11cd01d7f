#!/usr/bin/env bash
# Rebuild the bundled model `isic2017-128` from the ISIC 2017 training split, the way the shipped file was made:
# train the projected GAN (95 minutes on a 2-core CPU, then 75 with class guidance), bundle it with
# examples/bundle_model.sh (export, evaluate, export with the metrics into the package), and run the utility
# benchmark.
#
#   bash examples/build_isic2017_128.sh            # DATA=../shared/data/isic2017 RUN=runs/isic128
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/isic2017}
RUN=${RUN:-runs/isic128}

medsynth train --config examples/isic2017-128.yaml --data "$DATA" --out "$RUN-stage1"
# stage 2: the same run continued with class guidance (a fixed linear class probe on the frozen features)
medsynth train --config examples/isic2017-128-guided.yaml --data "$DATA" \
    --init-from "$(ls "$RUN-stage1"/checkpoints/ckpt-*.safetensors | tail -1)" --out "$RUN"
DATA="$DATA" bash examples/bundle_model.sh "$RUN" isic2017-128 \
    "Projected GAN (FastGAN-style G; D on frozen ImageNet EfficientNet-Lite0 features) 128x128 RGB on ISIC 2017 dermoscopy (nevus, melanoma, seborrheic keratosis), 95 minutes on a 2-core CPU (examples/build_isic2017_128.sh)"
medsynth utility --real "$DATA" --model sdk/models/isic2017-128.onnx --seeds 3 \
    --arms real,oversampled,balanced --out "$RUN/utility"
