#!/usr/bin/env bash
# Rebuild the bundled model `isic2017-128` from the ISIC 2017 training split, the way the shipped file was made:
# train the projected GAN (95 minutes on a 2-core CPU), export with parity checks, generate, evaluate against
# the held-out val split in the radiomic and the EfficientNet-Lite0 feature spaces and audit for copies of
# training images, export again with the measured metrics in the card, and run the utility benchmark.
#
#   bash examples/build_isic2017_128.sh            # DATA=../shared/data/isic2017 RUN=runs/isic128
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/isic2017}
RUN=${RUN:-runs/isic128}
N=${N:-500}   # synthetic images per class for the evaluation

medsynth train --config examples/isic2017-128.yaml --data "$DATA" --out "$RUN-stage1"
# stage 2: the same run continued with class guidance (a fixed linear class probe on the frozen features)
medsynth train --config examples/isic2017-128-guided.yaml --data "$DATA" \
    --init-from "$(ls "$RUN-stage1"/checkpoints/ckpt-*.safetensors | tail -1)" --out "$RUN"
medsynth export "$RUN" --out "$RUN/isic2017-128.onnx" --name isic2017-128 --modality XC --seed 0
medsynth generate --model "$RUN/isic2017-128.onnx" --class nevus --n "$N" --class melanoma --n "$N" \
    --class seborrheic_keratosis --n "$N" --seed 0 --out "$RUN/synthetic" --quiet
medsynth evaluate --real "$DATA/labels.csv" --real-split val --train "$DATA/labels.csv" --train-split train \
    --synthetic "$RUN/synthetic" --out "$RUN/eval" --seed 0
medsynth evaluate --real "$DATA/labels.csv" --real-split val --train "$DATA/labels.csv" --train-split train \
    --synthetic "$RUN/synthetic" --features efficientnet-lite0 --out "$RUN/eval-lite0" --seed 0
python examples/card_metrics.py "$RUN/eval/metrics.json" --out "$RUN/card_metrics.json"
medsynth export "$RUN" --out sdk/models/isic2017-128.onnx --name isic2017-128 --modality XC --seed 0 \
    --metrics "$RUN/card_metrics.json" \
    --description "Projected GAN (FastGAN-style G; D on frozen ImageNet EfficientNet-Lite0 features) 128x128 RGB on ISIC 2017 dermoscopy (nevus, melanoma, seborrheic keratosis), 95 minutes on a 2-core CPU (examples/build_isic2017_128.sh)"
python examples/sample_grids.py sdk/models/isic2017-128.onnx --out docs/images
sha256sum sdk/models/isic2017-128.onnx   # goes into sdk/registry.py's BUNDLED entry
medsynth utility --real "$DATA" --model sdk/models/isic2017-128.onnx --seeds 3 \
    --arms real,oversampled,balanced --out "$RUN/utility"
